#!/bin/bash
#
# relay_roaming.sh: with strict_source off (endpoints that roam), a
# stranger still cannot take a leg over, while the real peer may move.
#
# Before, without strict source the peer followed the last sender: one
# packet from anyone re-latched the leg. Now a fixed peer moves only to a
# source ranked better, to its own address from another port, or to a
# source that carries on its RTP SSRC (roaming_ssrc).
#   1. the call latches (caller and callee at their SDP addresses);
#   2. the attacker, in its own namespace, sends with an SSRC of its own
#      while the call goes on: dropped, it receives nothing, each side gets
#      exactly the other's packets;
#   3. the caller moves to a new address (10.0.1.3) and carries on its
#      stream (same SSRC): leg A follows it, media flows both ways.
# On the parent commit step 2 re-latched leg A to the attacker.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=roam-1
N=50
INJ=30
NEW_IP=10.0.1.3

tl_init
tl_netns_setup
ip -n "$TL_NS_CALLER" addr add "$NEW_IP/24" dev c0 || tl_fail "second caller address"
tl_relayd_config "$TL_TMP/relayd.json" '.strict_source = false'
tl_relayd_start "$TL_TMP/relayd.json"
tl_offer_answer "$CALL" 1
A=${TL_A_PORTS[0]} B=${TL_B_PORTS[0]}

query() {
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
}
# both directions, N packets each from counter $1; caller at $2
exchange() {
	local tag=$1 start=$2 cip=$3
	tl_sink "${tag}_erx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_RELAY_B_IP:$B" \
		-S 0x1000 --start-seq "$start" -e "$N" -l 0.3 -t 10
	tl_sink "${tag}_crx" "$TL_NS_CALLER" -b "$cip:4000" -f "$TL_RELAY_A_IP:$A" \
		-S 0x2000 --start-seq "$start" -e "$N" -l 0.3 -t 10
}

# Step 1: the call latches.
exchange s1 0 "$TL_CALLER_IP"
tl_gen s1_ctx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A" -S 0x1000 -c "$N" -r 200
tl_gen s1_etx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -S 0x2000 -c "$N" -r 200
for p in s1_ctx s1_etx s1_erx s1_crx; do tl_expect_ok "$p" 15 "step 1: $p"; done
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\"" "step 1: leg A latched the caller"
DROPS0=$(jq '.streams[0].legs[0].stats.drops' <<<"$TL_REPLY")

# Step 2: the attacker sends while the call goes on, and listens.
tl_sink att_rx "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -e 0 -t 4
exchange s2 "$N" "$TL_CALLER_IP"
tl_gen att "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -d "$TL_RELAY_A_IP:$A" -S 0x6666 -c "$INJ" -r 400
tl_gen s2_ctx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A" -S 0x1000 --start-seq "$N" -c "$N" -r 200
tl_gen s2_etx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -S 0x2000 --start-seq "$N" -c "$N" -r 200
for p in att s2_ctx s2_etx; do tl_expect_ok "$p" 15 "step 2: $p"; done
tl_expect_ok att_rx 10 "step 2: the attacker must receive nothing"
tl_assert_json "$(tl_summary att_rx)" '.received == 0' "step 2: the attacker received packets"
tl_expect_ok s2_erx 15 "step 2: the callee must get exactly the caller's packets"
tl_expect_ok s2_crx 15 "step 2: the caller must get exactly the callee's packets"
dropped() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e ".streams[0].legs[0].stats.drops >= $((DROPS0 + INJ))" <<<"$TL_REPLY"
}
tl_wait_for 5 "leg A to drop the attacker's $INJ packets" dropped
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\" and .streams[0].legs[0].stats.drops == $((DROPS0 + INJ)) and .streams[0].legs[0].learning.relearns == 0" \
	"step 2: leg A still on the caller, the attacker's $INJ packets dropped"

# Step 3: the caller roams to a new address with the same stream (SSRC).
exchange s3 $((2 * N)) "$NEW_IP"
tl_gen s3_ctx "$TL_NS_CALLER" -b "$NEW_IP:4000" -d "$TL_RELAY_A_IP:$A" -S 0x1000 --start-seq $((2 * N)) -c "$N" -r 200
moved() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e ".streams[0].legs[0].latched == \"$NEW_IP:4000\"" <<<"$TL_REPLY"
}
tl_wait_for 5 "leg A to follow the caller to $NEW_IP:4000" moved
tl_gen s3_etx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -S 0x2000 --start-seq $((2 * N)) -c "$N" -r 200
for p in s3_ctx s3_etx s3_erx s3_crx; do tl_expect_ok "$p" 15 "step 3: $p"; done
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].learning.relearns == 1 and .streams[0].legs[0].learning.rank == \"other\" and .streams[0].legs[0].learning.state == \"fixed\"" \
	"step 3: one re-latch, to a source of rank other carrying the caller's SSRC"

tl_relayd_stop
tl_pass
