#!/bin/bash
#
# learn.bash (runs in the qemu guest): endpoint learning in trunkline.ko
# with relayd (kmod backend), across the namespaces of tests/lib/netns.sh.
#   1. hostile race: the stream is in the kernel, learning, right after
#      the answer (no packet reached relayd). The attacker sends to leg A
#      first and is the candidate (rank "other"); the callee's media still
#      goes to the caller's SDP address, never to the attacker. The
#      caller's first packet from its SDP endpoint is fixed at once (exact
#      ranks first); every later attacker packet is dropped in the kernel
#      and counted as leg A's drops; the callee gets every caller packet
#      and no attacker packet after the caller's first; the attacker's
#      socket receives nothing.
#   2. friendly learning: a caller behind a NAT sends from another port of
#      its SDP address: learned within the window (rank "address"), the
#      callee's media reaches that port at once; when the window ends the
#      peer is fixed, and then even the SDP endpoint itself is dropped
#      (strict source) and counted, and does not reach the callee.
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_learn
# shellcheck source=../../lib/netns.sh
. /test/tests/lib/netns.sh

WINDOW=10	# the caller must follow the attacker within it on a slow emulated machine

insmod /test/trunkline.ko || tl_fail "insmod trunkline.ko"
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".timeouts.inactivity = 60 | .timeouts.setup = 120 | .endpoint_learning = {mode: \"heuristic\", window: $WINDOW}"
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "kmod"' "hello: backend kmod"

query() { tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$1\"}" "query $1"; }
leg_a() { jq -c '.streams[0].legs[0] | {learning, drops: .stats.drops, packets: .stats.packets}' <<<"$TL_REPLY"; }
# learned CALL STATE SOURCE RANK: leg A's learning as query shows it
learned() {
	query "$1" && jq -e --arg st "$2" --arg src "$3" --arg rank "$4" \
		'.streams[0].legs[0].learning | .state == $st and .source == $src and .rank == $rank' <<<"$TL_REPLY"
}
sink_field() { jq -r ".$2" "$TL_TMP/$1.out"; }

# ---- 1. the attacker races the caller's first packet --------------------------
CALL=race
tl_offer_answer "$CALL" 1
query "$CALL"
tl_assert_json "$TL_REPLY" '.streams[0].path == "kmod" and (.streams[0].path_reason | startswith("learning in trunkline.ko"))' \
	"race: in the kernel, learning, right after the answer"
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].learning.state == "open" and .streams[0].legs[1].learning.state == "open"' \
	"race: nothing learned yet"
ATT1=5 ATT2=100 COUNT=300
# the attacker's socket: whatever the relay sends it is counted here; the
# callee's and the caller's sinks count everything from the start
tl_sink race_arx "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -t 600
tl_sink race_erx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_B_LIST" -S 0x1000 -e "$COUNT" -t 300 -l 1 --allow-reorder
tl_sink race_crx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -f "$TL_A_LIST" -S 0x2000 -e "$COUNT" -t 300 -l 1 --allow-reorder
tl_gen race_att1 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -d "$TL_A_LIST" -S 0x6666 -c "$ATT1" -r 50
tl_expect_ok race_att1 30 "race: the attacker's first packets sent"
# they are in the kernel now (a veth send is received before it returns):
# the attacker is the candidate (rank other). The caller follows at once,
# within the window however slow the machine (no query in between); the
# end shows the candidate was the attacker's (relayed, then replaced).
# The callee's media goes to the caller's SDP address meanwhile.
tl_gen race_etx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -S 0x2000 -c "$COUNT" -r 100
tl_gen race_ctx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -S 0x1000 -c "$COUNT" -r 100
tl_wait_for 60 "race: the caller's SDP endpoint is fixed (exact)" \
	learned "$CALL" fixed "$TL_CALLER_IP:4000" exact
tl_gen race_att2 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -d "$TL_A_LIST" -S 0x6666 -c "$ATT2" -r 100
tl_expect_ok race_att2 30 "race: the attacker's later packets sent"
tl_expect_ok race_ctx 60 "race: caller's rtpgen"
tl_expect_ok race_etx 60 "race: callee's rtpgen"
tl_reap race_crx 60
[ "$(sink_field race_crx received)" = "$COUNT" ] && [ "$(sink_field race_crx bad_ssrc)" = 0 ] ||
	tl_fail "race: the caller did not get exactly the callee's $COUNT packets: $(jq -c 'del(.flows)' "$TL_TMP/race_crx.out")"
tl_log "race: callee -> caller: all $COUNT packets, nothing foreign"
tl_reap race_erx 60
# the callee heard the attacker only while it was the candidate (its first
# $ATT1 packets, before the caller's first): none of the later $ATT2
[ "$(sink_field race_erx received)" = "$COUNT" ] ||
	tl_fail "race: the callee missed caller packets: $(jq -c 'del(.flows)' "$TL_TMP/race_erx.out")"
BAD=$(sink_field race_erx bad_ssrc)
[ "$BAD" -le "$ATT1" ] ||
	tl_fail "race: the callee got $BAD attacker packets; at most the $ATT1 sent before the caller's first"
tl_log "race: caller -> callee: all $COUNT packets; $BAD attacker packets from before the caller's first, none after"
kill -TERM "${TL_PID[race_arx]}"
tl_reap race_arx 30
[ "$(sink_field race_arx received)" = 0 ] && [ "$(sink_field race_arx bad_ssrc)" = 0 ] ||
	tl_fail "race: the attacker received media: $(jq -c 'del(.flows)' "$TL_TMP/race_arx.out")"
tl_log "race: the attacker's socket got nothing"
query "$CALL"
tl_log "race: leg A $(leg_a)"
tl_assert_json "$TL_REPLY" ".streams[0].path == \"kmod\" and .streams[0].legs[0].stats.drops == $((ATT1 - BAD + ATT2))" \
	"race: every attacker packet not relayed ($((ATT1 - BAD)) + $ATT2) dropped in the kernel and counted"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].learning.relearns == 1 and .streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\"" \
	"race: the candidate was replaced once, by the caller"
[ "$BAD" = "$ATT1" ] || tl_fail "race: the attacker's $ATT1 first packets were not all relayed as the candidate's ($BAD): no race took place"
grep -q "trunkline.ko learned $TL_ATTACKER_IP:4000 (rank other, learning)" "$TL_TMP/relayd.log" ||
	tl_fail "race: relayd was not told of the attacker's candidacy"
tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\"}" "delete $CALL"

# ---- 2. a NAT'd caller within the window; strict after it ---------------------
CALL=nat
tl_offer_answer "$CALL" 1
NCOUNT=300
tl_sink nat_crx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4100" -f "$TL_A_LIST" -S 0x2000 -e 100 -t 600 --allow-reorder
tl_gen nat_ctx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4100" -d "$TL_A_LIST" -S 0x1000 -c "$NCOUNT" -r 100
nat_cand() { learned "$CALL" learning "$TL_CALLER_IP:4100" address || learned "$CALL" fixed "$TL_CALLER_IP:4100" address; }
tl_wait_for 60 "nat: the NAT'd caller is learned (rank address)" nat_cand
T0=$(tl_now_us)
tl_gen nat_etx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -S 0x2000 -c 100 -r 100
tl_expect_ok nat_etx 30 "nat: callee's rtpgen"
tl_wait_for 60 "nat: the window ends: the NAT'd caller is fixed" \
	learned "$CALL" fixed "$TL_CALLER_IP:4100" address
T1=$(tl_now_us)
tl_log "nat: fixed $(((T1 - T0) / 1000)) ms after the candidate was seen (window ${WINDOW} s)"
# strict source: the SDP endpoint itself no longer gets in
tl_sink nat_erx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_B_LIST" -t 600
query "$CALL"
D0=$(jq '.streams[0].legs[0].stats.drops' <<<"$TL_REPLY")
tl_gen nat_late "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -S 0x7777 -c 50 -r 100
tl_expect_ok nat_late 30 "nat: the SDP endpoint's late packets sent"
nat_dropped() { query "$CALL" && jq -e ".streams[0].legs[0].stats.drops == $((D0 + 50))" <<<"$TL_REPLY"; }
tl_wait_for 60 "nat: the 50 late packets from the SDP endpoint dropped and counted" nat_dropped
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4100\"" "nat: the peer stays the NAT'd caller"
tl_expect_ok nat_ctx 60 "nat: caller's rtpgen"
tl_reap nat_crx 30
[ "$(sink_field nat_crx received)" = 100 ] ||
	tl_fail "nat: the NAT'd caller did not get the callee's 100 packets: $(jq -c 'del(.flows)' "$TL_TMP/nat_crx.out")"
kill -TERM "${TL_PID[nat_erx]}"
tl_reap nat_erx 30
SEEN=$(jq '[.flows[].ssrcs[]? | select(.ssrc == 30583) | .received] | add // 0' "$TL_TMP/nat_erx.out")
[ "$SEEN" = 0 ] || tl_fail "nat: the callee got $SEEN packets of the SDP endpoint after the window"
tl_log "nat: the callee's 100 packets reached the NAT'd port; after the window the SDP endpoint's 50 were dropped"
tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\"}" "delete $CALL"
[ "$(ip netns exec "$TL_NS_RELAY" tlk count)" = 0 ] || tl_fail "entries left after the deletes"
tl_relayd_stop
rmmod trunkline || tl_fail "rmmod trunkline"
tl_pass
