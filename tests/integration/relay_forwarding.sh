#!/bin/bash
#
# relay_forwarding.sh: two streams of RTP and RTCP in both directions
# through trunkline-relayd arrive complete, intact, and from the relay's
# own address and port; query, stats and list count exactly what was sent;
# delete ends the call and returns its ports.
#
# run-also: build
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=fwd-1
N=2		# streams (m= lines)
COUNT=400	# RTP packets per stream and direction
RATE=200	# per stream: 2 s of traffic
EVERY=10	# one RTCP report per 10 RTP packets
RTCP=$((COUNT / EVERY))
SIZE=172	# RTP packet size; RTCP reports are 64 bytes
RTCP_SIZE=64

tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

tl_rpc_ok '{"cmd":"stats"}' "stats before the call"
PORTS_TOTAL=$(jq .ports_total <<<"$TL_REPLY")
PORTS_FREE0=$(jq .ports_free <<<"$TL_REPLY")

tl_offer_answer "$CALL" "$N"

# Each side: a sink on the ports it announced in SDP, then a sender from
# the same ports (the sink keeps receiving, see rtpsink.c).
tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -n "$N" -R \
	-f "$TL_A_LIST" -S 0x2000 -e "$COUNT" --expect-rtcp "$RTCP" -p 8 -s "$SIZE" -l 0.2 -t 15
tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -n "$N" -R \
	-f "$TL_B_LIST" -S 0x1000 -e "$COUNT" --expect-rtcp "$RTCP" -p 0 -s "$SIZE" -l 0.2 -t 15
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -n "$N" -R \
	--rtcp-every "$EVERY" -S 0x1000 -p 0 -s "$SIZE" -c "$COUNT" -r "$RATE"
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -n "$N" -R \
	--rtcp-every "$EVERY" -S 0x2000 -p 8 -s "$SIZE" -c "$COUNT" -r "$RATE"

tl_expect_ok caller_tx 15 "caller's rtpgen did not send everything"
tl_expect_ok callee_tx 15 "callee's rtpgen did not send everything"
tl_expect_ok callee_rx 15 "caller -> callee: not every packet arrived intact from the relay's B-leg ports"
tl_expect_ok caller_rx 15 "callee -> caller: not every packet arrived intact from the relay's A-leg ports"
tl_log "both sinks: $COUNT RTP + $RTCP RTCP per stream, from the relay's ports, intact"

# The relay's own view: latched peers, exact counters, no drops, no loss.
PER_LEG=$((COUNT + RTCP))
BYTES=$((COUNT * SIZE + RTCP * RTCP_SIZE))
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
Q=$TL_REPLY
tl_assert_json "$Q" ".call_id == \"$CALL\" and .from_tag == \"ft-$CALL\" and .to_tag == \"tt-$CALL\" and .state == \"answered\"" "query: call identity and state"
tl_assert_json "$Q" ".streams | length == $N" "query: $N streams"
for ((i = 0; i < N; i++)); do
	S=".streams[$i]"
	tl_assert_json "$Q" "$S.index == $i and $S.path == \"userspace\"" "stream $i: index and path"
	tl_assert_json "$Q" "$S.legs[0].side == \"A\" and $S.legs[1].side == \"B\"" "stream $i: leg sides"
	tl_assert_json "$Q" "$S.legs[0].local == \"$TL_RELAY_A_IP:${TL_A_PORTS[i]}\" and $S.legs[1].local == \"$TL_RELAY_B_IP:${TL_B_PORTS[i]}\"" \
		"stream $i: legs' local addresses are the ports from answer/offer"
	tl_assert_json "$Q" "$S.legs[0].latched == \"$TL_CALLER_IP:$((4000 + 2 * i))\" and $S.legs[0].latched_rtcp == \"$TL_CALLER_IP:$((4001 + 2 * i))\"" \
		"stream $i: leg A latched the caller's RTP and RTCP ports"
	tl_assert_json "$Q" "$S.legs[1].latched == \"$TL_CALLEE_IP:$((5000 + 2 * i))\" and $S.legs[1].latched_rtcp == \"$TL_CALLEE_IP:$((5001 + 2 * i))\"" \
		"stream $i: leg B latched the callee's RTP and RTCP ports"
	for leg in 0 1; do
		tl_assert_json "$Q" "$S.legs[$leg].stats | .packets == $PER_LEG and .bytes == $BYTES and .drops == 0 and .lost == 0 and .stun == 0 and .last_seen > 0" \
			"stream $i leg $leg: stats must be $PER_LEG packets ($COUNT RTP + $RTCP RTCP), $BYTES bytes, no drops, no loss"
	done
done

tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" ".sessions == 1 and .streams == $N and .packets == $((2 * N * PER_LEG)) and .bytes == $((2 * N * BYTES)) and .drops == 0 and .errors == 0" \
	"stats: one session, every packet counted once, no drops or errors"
tl_rpc_ok '{"cmd":"list"}' "list"
tl_assert_json "$TL_REPLY" "(.calls | length) == 1 and .calls[0].call_id == \"$CALL\" and .calls[0].streams == $N and .calls[0].state == \"answered\"" \
	"list: the one call"

tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\"}" "delete $CALL"
tl_assert_json "$TL_REPLY" ".call_id == \"$CALL\" and (.duration | type == \"number\") and .streams[0].legs[0].stats.packets == $PER_LEG" \
	"delete: reply with the final counters"
tl_rpc_err "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" not_found "query after delete"
tl_rpc_ok '{"cmd":"stats"}' "stats after delete"
tl_assert_json "$TL_REPLY" ".sessions == 0 and .streams == 0 and .ports_free == $PORTS_FREE0 and .ports_total == $PORTS_TOTAL" \
	"stats after delete: no session, every port back in the pool"

tl_relayd_stop
tl_pass
