#!/bin/bash
#
# relay_latch_race.sh: a stranger who sends to leg A before the caller
# does not get the leg (media hijack by latch race).
#
# Leg A's ports are bound at offer, but the caller learns them only from
# the answer: during ringing, whoever sends there is guessing. The
# attacker, in its own namespace, sends to leg A's RTP port
#   1. while the call rings (before the answer): dropped, never a candidate;
#   2. after the answer, before the caller's first packet: held as a
#      candidate of rank "other", sent nothing;
#   3. during the call, from another port: dropped.
# The caller then sends from its SDP address (an exact match): leg A is
# fixed on it at once, replacing the attacker. The attacker receives
# nothing at all; caller and callee get exactly each other's RTP and RTCP.
# On first-packet latching (the parent commit) step 1 latched leg A to the
# attacker: the callee's media went to it and the caller was dropped.
#
# run-also: build
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=race-1
N=100		# RTP per direction during the call
EVERY=10	# one RTCP per EVERY RTP
PRE=20		# attacker packets in steps 1 and 2
INJ=50		# attacker packets during the call

tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

query() {
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
}
# leg A has seen (packets + drops) >= $1
leg_a_saw() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e ".streams[0].legs[0].stats | .packets + .drops >= $1" <<<"$TL_REPLY"
}

OFFER="{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}"
ANSWER="{\"cmd\":\"answer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\",\"to_tag\":\"tt-$CALL\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":5000}]}"
tl_rpc_ok "$OFFER" "offer"
B=$(jq '.media[0].rtp_port' <<<"$TL_REPLY")
# The test knows leg A's port before the answer (an attacker guesses it).
query
A=$(jq -r '.streams[0].legs[0].local | sub(".*:"; "")' <<<"$TL_REPLY")
tl_log "ringing: leg A $TL_RELAY_A_IP:$A (not yet told to the caller), leg B $TL_RELAY_B_IP:$B"

# Step 1: the attacker sends while the call rings.
tl_gen att1 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -d "$TL_RELAY_A_IP:$A" -S 0x6666 -c "$PRE" -r 400
tl_expect_ok att1 10 "attacker step 1"
tl_wait_for 5 "leg A to see the attacker's $PRE packets" leg_a_saw "$PRE"
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == null" \
	"ringing: the attacker's packets must not latch leg A"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].learning.state == \"open\" and .streams[0].legs[0].stats.drops == $PRE" \
	"ringing: the attacker's $PRE packets must be dropped, leg A still open"

tl_rpc_ok "$ANSWER" "answer"
tl_assert_json "$TL_REPLY" ".media[0].rtp_port == $A" "answer returns leg A's port $A"

# Step 2: after the answer the attacker is first again.
tl_gen att2 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -d "$TL_RELAY_A_IP:$A" -S 0x6666 --start-seq "$PRE" -c "$PRE" -r 400
tl_expect_ok att2 10 "attacker step 2"
tl_wait_for 5 "leg A to see the attacker's second $PRE packets" leg_a_saw $((2 * PRE))
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == null and .streams[0].legs[0].learning.state == \"learning\" and .streams[0].legs[0].learning.rank == \"other\" and .streams[0].legs[0].learning.source == \"$TL_ATTACKER_IP:4000\"" \
	"answered: the attacker is only a candidate of rank other"

# Step 3: the call. The attacker listens on its two ports and keeps
# sending from the second one.
tl_sink att_rx "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -n 2 -R -e 0 -t 5
tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_RELAY_B_IP:$B" \
	-S 0x1000 -e "$N" --expect-rtcp $((N / EVERY)) -l 0.5 -t 15
tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -R -f "$TL_RELAY_A_IP:$A" \
	-S 0x2000 -e "$N" --expect-rtcp $((N / EVERY)) -l 0.5 -t 15
tl_gen att3 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4002" -d "$TL_RELAY_A_IP:$A" -S 0x6666 --start-seq 1000 -c "$INJ" -r 200
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A" -R \
	--rtcp-every "$EVERY" -S 0x1000 -c "$N" -r 200
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -R \
	--rtcp-every "$EVERY" -S 0x2000 -c "$N" -r 200
for g in att3 caller_tx callee_tx; do
	tl_expect_ok "$g" 15 "sender $g"
done
tl_expect_ok att_rx 20 "the attacker must receive nothing"
tl_assert_json "$(tl_summary att_rx)" '.received == 0' "the attacker received packets"
tl_expect_ok callee_rx 15 "callee: exactly the caller's $N RTP and $((N / EVERY)) RTCP, nothing of the attacker's"
tl_expect_ok caller_rx 15 "caller: exactly the callee's $N RTP and $((N / EVERY)) RTCP"
tl_log "attacker got nothing; caller and callee got exactly each other's media"

drops_reached() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e ".streams[0].legs[0].stats.drops >= $((PRE + INJ))" <<<"$TL_REPLY"
}
tl_wait_for 5 "leg A to drop the attacker's $INJ in-call packets" drops_reached
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\" and .streams[0].legs[0].learning.state == \"fixed\" and .streams[0].legs[0].learning.rank == \"exact\" and .streams[0].legs[0].learning.relearns == 1" \
	"leg A fixed on the caller (exact), after replacing the attacker once"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.drops == $((PRE + INJ))" \
	"leg A dropped exactly the attacker's $PRE ringing and $INJ in-call packets"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.packets == $((PRE + N + N / EVERY))" \
	"leg A relayed the attacker's candidate packets and the caller's $((N + N / EVERY))"
tl_assert_json "$TL_REPLY" ".streams[0].legs[1].latched == \"$TL_CALLEE_IP:5000\" and .streams[0].legs[1].learning.state == \"fixed\" and .streams[0].legs[1].stats.drops == 0" \
	"leg B fixed on the callee, no drops"

tl_relayd_stop
tl_pass
