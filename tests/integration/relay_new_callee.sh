#!/bin/bash
#
# relay_new_callee.sh (issue 13): a session offered as ringing takes a new
# callee after early media. The first callee's early answer (to_tag tt-1,
# port 5000) carries media both ways; then the final answer comes from
# another callee (to_tag tt-2, port 5100): the B side is replaced (leg B
# unlatched, learns 5100), the counters continue, media flows between
# the caller and the new callee both ways and nothing more goes to the
# old callee. Once answered, a third to_tag is refused and changes
# nothing; so is a new to_tag for a session not offered as ringing.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=newcallee-1
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

answer() {	# TO-TAG PORT [EARLY]
	echo "{\"cmd\":\"answer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft\",\"to_tag\":\"$1\"${3:+,\"early\":true},\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":$2}]}"
}
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft\",\"ringing\":true,\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}" "offer (ringing)"
B=$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")
tl_rpc_ok "$(answer tt-1 5000 early)" "early answer from the first callee"
A=$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
tl_assert_json "$TL_REPLY" '.ringing == true and .to_tag == "tt-1" and .state == "answered"' "early answer: still ringing"

# Early media both ways with the first callee.
tl_sink s1 "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_RELAY_B_IP:$B" -e 20 -t 10
tl_sink s2 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -f "$TL_RELAY_A_IP:$A" -e 20 -t 10
tl_gen g1 "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -c 20 -r 200
tl_gen g2 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A" -c 20 -r 200
tl_expect_ok g1 10 "first callee's early media"
tl_expect_ok g2 10 "caller's media"
tl_expect_ok s1 15 "caller -> first callee"
tl_expect_ok s2 15 "first callee -> caller"

# The final answer comes from another callee.
tl_rpc_ok "$(answer tt-2 5100)" "final answer from a new callee"
tl_assert_json "$TL_REPLY" ".media[0].rtp_port == $A" "the caller keeps its relay port"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after the new callee"
tl_assert_json "$TL_REPLY" ".ringing == false and .to_tag == \"tt-2\" and .streams[0].legs[1].latched == null and
	.streams[0].legs[1].sdp == \"$TL_CALLEE_IP:5100\" and .streams[0].legs[1].stats.packets == 20 and
	.streams[0].legs[0].stats.packets == 20" "B side replaced: unlatched, new SDP, counters kept"

tl_spawn old "$TL_NS_CALLEE" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5000))
s.settimeout(0.2)
end = time.time() + 3
n = 0
while time.time() < end:
    try:
        s.recv(2048); n += 1
    except socket.timeout:
        pass
print(n, flush=True)
' "$TL_CALLEE_IP"
tl_sink s3 "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5100" -f "$TL_RELAY_B_IP:$B" -e 40 -t 10
tl_sink s4 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -f "$TL_RELAY_A_IP:$A" -e 40 -t 10
tl_gen g3 "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5100" -d "$TL_RELAY_B_IP:$B" -c 40 -r 200
tl_gen g4 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A" -c 40 -r 200
tl_expect_ok g3 10 "new callee's media"
tl_expect_ok g4 10 "caller's media"
tl_expect_ok s3 15 "caller -> new callee"
tl_expect_ok s4 15 "new callee -> caller"
tl_reap old 10
[ "$(cat "$TL_TMP/old.out")" = 0 ] || tl_fail "$(cat "$TL_TMP/old.out") packets still went to the old callee"

# Answered: another to_tag is refused; the session is unchanged.
tl_rpc_err "$(answer tt-3 5200)" invalid_value "a third callee after the final answer"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after the refused answer"
tl_assert_json "$TL_REPLY" ".to_tag == \"tt-2\" and .streams[0].legs[1].latched == \"$TL_CALLEE_IP:5100\" and
	.streams[0].legs[1].stats.packets == 60" "still the second callee"

# A session not offered as ringing keeps its first callee (as before).
CALL=plain-1
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4002}]}" "offer (not ringing)"
tl_rpc_ok "$(answer tt-1 5002 early)" "early answer"
tl_rpc_err "$(answer tt-2 5102)" invalid_value "a new callee for a session not offered as ringing"
tl_relayd_stop
tl_pass
