#!/bin/bash
# run-also: asan
#
# Early media and failover (issue 13). gw1 sends 183 with SDP (early
# media), then 503:
# - by default (failover_after_early off, carrier practice) the caller
#   who heard the early media gets the 503; gw2 is never tried;
# - 183 with SDP then 200 without SDP: the 183's answer stands, the call
#   connects, RTP flows both ways, the caller's BYE ends it, CDR;
# - with the route's failover_after_early on, gw2 answers (another
#   to-tag, another media port): the relay takes gw2 as the new B side,
#   RTP flows between the caller and gw2 both ways, and nothing more
#   goes to gw1's media address; the counters cover both gateways.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
GW2_RTP=$((SIP_CALLEE_RTP + 2))

# session_where JQ: the relay's only session satisfies JQ; SIP_CALL_ID.
session_where() {
	local l
	l=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json list) || return 1
	SIP_CALL_ID=$(jq -r ".calls[] | select($1) | .call_id" <<<"$l")
	[ -n "$SIP_CALL_ID" ]
}

# media NAME COUNT CALLEE-RTP: RTP both ways between the caller and a
# gateway media port through the relay's ports; both sinks must get all.
media() {
	local n=$1 count=$2 callee=$3
	tl_sink "${n}_callee" - -b "127.0.0.1:$callee" -f "127.0.0.1:$SIP_B_PORT" -e "$count" -t 10
	tl_sink "${n}_caller" - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e "$count" -t 10
	tl_gen "${n}_gen_callee" - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$callee" -c "$count" -r 100
	tl_gen "${n}_gen_caller" - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c "$count" -r 100
	tl_expect_ok "${n}_gen_callee" 10 "rtpgen callee ($n)"
	tl_expect_ok "${n}_gen_caller" 10 "rtpgen caller ($n)"
	tl_expect_ok "${n}_callee" 15 "caller -> callee RTP through the relay ($n)"
	tl_expect_ok "${n}_caller" 15 "callee -> caller RTP through the relay ($n)"
}

tl_log "183 with SDP, then 503: no failover after early media (default)"
sip_uas gw1 uas_183_503.xml "$SIP_GW1_PORT"
sip_blackhole gw2watch "$SIP_GW2_PORT"
sip_uac caller uac_503_early.xml 127.0.0.2
sip_expect caller 20 "the caller gets gw1's 503 after its early media"
sip_expect gw1 10 "gw1's call (183, 503, ACK)"
grep -q "183 Session Progress" "$TL_TMP/caller.msgs" || tl_fail "the caller never heard the 183"
grep -q "no failover (failover_after_early is off)" "$TL_TMP/controller.log" || tl_fail "no 'no failover' line in the log"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 503 and .attempts == [{"gateway":"gw1","carrier":"c1","code":503}]' \
	"CDR: 503 from gw1, no second attempt"
[ -s "$TL_TMP/gw2watch.out" ] && tl_fail "gw2 was tried after early media"
tl_kill_pid "${TL_PID[gw2watch]}" 1

tl_log "183 with SDP, then 200 without SDP: the 183's answer stands"
tl_wait_for 5 "gw1's port to close" bash -c "! ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q ."
sip_uas gw1b uas_183_200.xml "$SIP_GW1_PORT"
sip_held uac_call.xml	# on the line until the media check is done
sip_uac caller2 "$SIP_HELD" 127.0.0.2
tl_wait_for 10 "the final answer at the relay" session_where '.ringing == false and .state == "answered"'
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
media nosdp 40 "$SIP_CALLEE_RTP"
sip_hangup caller2
sip_expect caller2 20 "the caller's call (183, 200 with the 183's SDP, ACK, BYE)"
sip_expect gw1b 10 "gw1's call (183, 200 without SDP, ACK, BYE)"
grep -A 30 "SIP/2.0 200 OK" "$TL_TMP/caller2.msgs" | grep -q "m=audio $SIP_A_PORT " ||
	tl_fail "the caller's 200 does not carry the relay's port $SIP_A_PORT"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "gw1" and .hangup_by == "caller" and
	.reason == "bye" and .media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' \
	"CDR: connected on the 183's answer, media both ways"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "183 with SDP and RTP, then 503; failover_after_early: gw2 answers"
sip_controller_stop
sip_controller_start '.routes[0].failover_after_early = true'
tl_wait_for 5 "gw1's port to close" bash -c "! ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q ."
sip_uas gw1c uas_183_503.xml "$SIP_GW1_PORT"
sip_uas gw2 uas_answer.xml "$SIP_GW2_PORT" -set mport "$GW2_RTP"
sip_held uac_call.xml
sip_uac caller3 "$SIP_HELD" 127.0.0.2
tl_wait_for 5 "gw1's early answer at the relay" session_where '.ringing == true and .state == "answered"'
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
q=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$SIP_CALL_ID") || tl_fail "query"
tag1=$(jq -r .to_tag <<<"$q")
media early 20 "$SIP_CALLEE_RTP"
tl_log "early media through gw1 ok; waiting for the 503 and gw2"
tl_wait_for 10 "gw2's final answer at the relay" session_where ".ringing == false and .to_tag != \"$tag1\""
a_port=$SIP_A_PORT b_port=$SIP_B_PORT
sip_session_ports "$SIP_CALL_ID" || tl_fail "the session's ports after the switch"
[ "$SIP_A_PORT:$SIP_B_PORT" = "$a_port:$b_port" ] || tl_fail "the relay's ports changed: $a_port:$b_port -> $SIP_A_PORT:$SIP_B_PORT"
# gw1's media address must get nothing more.
tl_spawn gw1media - python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.2)
end = time.time() + 4
n = 0
while time.time() < end:
    try:
        s.recv(2048); n += 1
    except socket.timeout:
        pass
print(n, flush=True)
' "$SIP_CALLEE_RTP"
tl_wait_for 5 "gw1's media port watched" bash -c "ss -ulnH 'sport = :$SIP_CALLEE_RTP' | grep -q ."
media gw2 40 "$GW2_RTP"
tl_reap gw1media 10
[ "$(cat "$TL_TMP/gw1media.out")" = 0 ] || tl_fail "$(cat "$TL_TMP/gw1media.out") packets went to gw1's media address after the switch"
sip_hangup caller3
sip_expect caller3 30 "the caller's call through gw2"
sip_expect gw1c 10 "gw1's call (183, 503, ACK)"
sip_expect gw2 10 "gw2's call"
grep -q "callee '.*' replaces '$tag1'" "$TL_TMP/relayd.log" || tl_fail "relayd did not log the new B side"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "gw2" and
	.attempts == [{"gateway":"gw1","carrier":"c1","code":503},{"gateway":"gw2","carrier":"c1","code":200}] and
	.media.caller_to_callee.packets >= 60 and .media.callee_to_caller.packets >= 60' \
	"CDR: gw1 503 after early media, gw2 answered; counters cover both"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
