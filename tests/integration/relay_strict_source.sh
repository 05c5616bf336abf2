#!/bin/bash
#
# relay_strict_source.sh: once leg A latched the caller, packets to its
# ports from anyone else (another host, or the caller's address from
# another port) are dropped and counted: the callee receives none of them,
# the caller's own packets keep flowing, and leg A's drops counter grows by
# exactly the number of packets injected.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=strict-1
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"
tl_offer_answer "$CALL" 1
A_RTP=${TL_A_PORTS[0]}
A_RTCP=$((A_RTP + 1))

query() {
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
}

# Phase 1: the caller's first packets latch leg A (RTP and RTCP).
tl_sink p1_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_B_LIST" \
	-S 0x1000 -e 50 --expect-rtcp 5 -t 10
tl_gen p1_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -R \
	--rtcp-every 10 -S 0x1000 -c 50 -r 500
tl_expect_ok p1_tx 10 "phase 1: caller's rtpgen"
tl_expect_ok p1_rx 10 "phase 1: caller -> callee through the relay"
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\" and .streams[0].legs[0].latched_rtcp == \"$TL_CALLER_IP:4001\"" \
	"leg A latched the caller"
DROPS0=$(jq '.streams[0].legs[0].stats.drops' <<<"$TL_REPLY")
PKTS0=$(jq '.streams[0].legs[0].stats.packets' <<<"$TL_REPLY")
B_DROPS0=$(jq '.streams[0].legs[1].stats.drops' <<<"$TL_REPLY")
tl_log "leg A latched $TL_CALLER_IP:4000; packets $PKTS0, drops $DROPS0"

# Phase 2: the caller goes on (counters 50..149) while three others send
# to leg A's ports with SSRCs of their own. Any of theirs reaching the
# callee is a foreign SSRC or an unexpected counter to the sink.
INJ_OTHER_HOST=50	# attacker 10.0.3.2:4000 -> A RTP
INJ_OTHER_PORT=30	# caller's address, port 4100 -> A RTP
INJ_RTCP=20		# attacker 10.0.3.2:4001 -> A RTCP
INJECTED=$((INJ_OTHER_HOST + INJ_OTHER_PORT + INJ_RTCP))

tl_sink p2_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_B_LIST" \
	-S 0x1000 --start-seq 50 -e 100 --expect-rtcp 10 -l 0.5 -t 10
tl_gen p2_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -R \
	--rtcp-every 10 -S 0x1000 --start-seq 50 -c 100 -r 200
tl_gen att_host "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -d "$TL_RELAY_A_IP:$A_RTP" \
	-S 0x6666 -c "$INJ_OTHER_HOST" -r 200
tl_gen att_port "$TL_NS_CALLER" -b "$TL_CALLER_IP:4100" -d "$TL_RELAY_A_IP:$A_RTP" \
	-S 0x7777 -c "$INJ_OTHER_PORT" -r 200
tl_gen att_rtcp "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4001" -d "$TL_RELAY_A_IP:$A_RTCP" \
	--rtcp-only -S 0x6666 -c "$INJ_RTCP" -r 200
for g in att_host att_port att_rtcp; do
	tl_expect_ok "$g" 10 "injector $g did not send everything"
done
tl_expect_ok p2_tx 10 "phase 2: caller's rtpgen"
tl_expect_ok p2_rx 10 "phase 2: the callee must get exactly the caller's packets and none of the injected ones"
tl_log "callee got the caller's 100 RTP + 10 RTCP and none of the $INJECTED injected packets"

# The relay processed everything the sink saw; injected packets that
# arrived after the caller's last one may still be in flight: poll.
drops_reached() {
	query
	[ "$(jq '.streams[0].legs[0].stats.drops' <<<"$TL_REPLY")" -ge $((DROPS0 + INJECTED)) ]
}
tl_try_for 15 drops_reached || true	# a loaded machine; exact below
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.drops == $((DROPS0 + INJECTED))" \
	"leg A drops must grow by exactly the $INJECTED injected packets (was $DROPS0)"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.packets == $((PKTS0 + 110))" \
	"leg A packets must count only the caller's 110 packets (was $PKTS0)"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\" and .streams[0].legs[0].latched_rtcp == \"$TL_CALLER_IP:4001\"" \
	"leg A still latched to the caller"
tl_assert_json "$TL_REPLY" ".streams[0].legs[1].stats.drops == $B_DROPS0" "leg B drops unchanged"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" ".drops >= $INJECTED" "stats: drops include the injected packets"

tl_relayd_stop
tl_pass
