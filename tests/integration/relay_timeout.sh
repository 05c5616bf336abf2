#!/bin/bash
# exclusive
#
# relay_timeout.sh: a session whose media stops ends by itself after the
# inactivity timeout; a subscriber gets one "timeout" event with reason
# "inactivity" and the final counters, and the session and its ports are
# gone afterwards.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=idle-1
INACTIVITY=2
COUNT=200	# RTP per direction: 1 s at 200 pps
RTCP=20
SIZE=172
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".timeouts.inactivity = $INACTIVITY | .timeouts.setup = 10"
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"stats"}' "stats before the call"
PORTS_FREE0=$(jq .ports_free <<<"$TL_REPLY")

tl_offer_answer "$CALL" 1

# Subscribe before any traffic, so the event cannot be missed.
tl_spawn events - "$TL_CTL" -s "$TL_SOCK" --json events --count 1 --timeout 15

tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -R -f "$TL_A_LIST" \
	-S 0x2000 -e "$COUNT" --expect-rtcp "$RTCP" -t 10
tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_B_LIST" \
	-S 0x1000 -e "$COUNT" --expect-rtcp "$RTCP" -t 10
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -R \
	-S 0x1000 -c "$COUNT" -r 200
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -R \
	-S 0x2000 -c "$COUNT" -r 200
tl_expect_ok caller_tx 10 "caller's rtpgen"
tl_expect_ok callee_tx 10 "callee's rtpgen"
T_STOP=$(tl_now_us)
tl_expect_ok callee_rx 10 "caller -> callee"
tl_expect_ok caller_rx 10 "callee -> caller"

# Right after the traffic the session is still there.
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query right after the traffic stopped"
kill -0 "${TL_PID[events]}" 2>/dev/null ||
	tl_fail "trunklinectl events exited before the timeout: $(cat "$TL_TMP/events.err")"
tl_log "traffic stopped; waiting for the inactivity timeout (${INACTIVITY}s)"

tl_reap events 15
T_EVENT=$(tl_now_us)
[ "$TL_RC" = 0 ] || tl_fail "trunklinectl events --count 1 exited $TL_RC (no event within 15s?): stdout '$(cat "$TL_TMP/events.out")' stderr '$(cat "$TL_TMP/events.err")'"
EV=$(grep -m1 '"event"' "$TL_TMP/events.out")
[ -n "$EV" ] || tl_fail "no event line in trunklinectl's output: $(cat "$TL_TMP/events.out")"
tl_log "event: $(cut -c1-200 <<<"$EV")"
AFTER_MS=$(((T_EVENT - T_STOP) / 1000))
PER_LEG=$((COUNT + RTCP))
BYTES=$((COUNT * SIZE + RTCP * 64))
tl_assert_json "$EV" ".event == \"timeout\" and .call_id == \"$CALL\" and .from_tag == \"ft-$CALL\" and .to_tag == \"tt-$CALL\"" \
	"a timeout event for the call"
tl_assert_json "$EV" ".reason == \"inactivity\"" "the reason is inactivity"
tl_assert_json "$EV" "(.duration | type == \"number\") and .duration >= $INACTIVITY" "the event's duration"
tl_assert_json "$EV" ".streams | length == 1" "the event lists the stream"
for leg in 0 1; do
	tl_assert_json "$EV" ".streams[0].legs[$leg].stats | .packets == $PER_LEG and .bytes == $BYTES and .drops == 0 and .lost == 0" \
		"event: final counters of leg $leg ($PER_LEG packets, $BYTES bytes, no drops)"
done
# Not before the timeout (with a little slack for when the last packet
# passed the relay), not much after it (timers tick every 100 ms).
[ "$AFTER_MS" -ge $((INACTIVITY * 1000 - 500)) ] ||
	tl_fail "the timeout came ${AFTER_MS} ms after the traffic stopped, before the ${INACTIVITY}s inactivity timeout"
[ "$AFTER_MS" -le $((INACTIVITY * 1000 + 3000)) ] ||
	tl_fail "the timeout came ${AFTER_MS} ms after the traffic stopped, long after the ${INACTIVITY}s inactivity timeout"
tl_log "timeout event ${AFTER_MS} ms after the traffic stopped"

tl_rpc_err "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" not_found "query after the timeout"
tl_rpc_ok '{"cmd":"list"}' "list"
tl_assert_json "$TL_REPLY" ".calls == []" "list after the timeout is empty"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" ".sessions == 0 and .streams == 0 and .ports_free == $PORTS_FREE0" \
	"stats after the timeout: no session, every port back"

tl_relayd_stop
tl_pass
