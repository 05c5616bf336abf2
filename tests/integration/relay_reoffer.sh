#!/bin/bash
#
# relay_reoffer.sh: offer and answer are idempotent (the same call and tags
# get the same ports back, no port is taken twice), and a re-offer with a
# changed endpoint re-opens leg A's latch: the next packet, from the new
# port, latches again, while leg B keeps its peer.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=reoffer-1
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"
tl_offer_answer "$CALL" 1
A=${TL_A_PORTS[0]}
B=${TL_B_PORTS[0]}
tl_rpc_ok '{"cmd":"stats"}' "stats"
FREE=$(jq .ports_free <<<"$TL_REPLY")

OFFER="{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}"
ANSWER="{\"cmd\":\"answer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\",\"to_tag\":\"tt-$CALL\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":5000}]}"
tl_rpc_ok "$OFFER" "repeated offer"
tl_assert_json "$TL_REPLY" ".media[0].rtp_port == $B" "repeated offer returns the same B-leg port $B"
tl_rpc_ok "$ANSWER" "repeated answer"
tl_assert_json "$TL_REPLY" ".media[0].rtp_port == $A" "repeated answer returns the same A-leg port $A"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" ".ports_free == $FREE and .sessions == 1 and .streams == 1" \
	"repeating offer/answer takes no port"

# Both sides latch.
tl_gen a1 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A" -c 20 -r 400
tl_gen b1 "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -c 20 -r 400
tl_expect_ok a1 10 "caller's first packets"
tl_expect_ok b1 10 "callee's first packets"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\" and .streams[0].legs[1].latched == \"$TL_CALLEE_IP:5000\"" \
	"both legs latched"

# The caller moves to port 4100 (a re-INVITE): leg A's latch re-opens.
tl_rpc_ok "${OFFER/4000/4100}" "re-offer with a new port"
tl_assert_json "$TL_REPLY" ".media[0].rtp_port == $B" "re-offer keeps the B-leg port"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after re-offer"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == null and .streams[0].legs[0].sdp == \"$TL_CALLER_IP:4100\" and .streams[0].legs[1].latched == \"$TL_CALLEE_IP:5000\"" \
	"leg A unlatched with the new SDP address, leg B still latched"
tl_gen a2 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4100" -d "$TL_RELAY_A_IP:$A" -c 20 -r 400
tl_expect_ok a2 10 "caller's packets from the new port"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after the move"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4100\" and .streams[0].legs[0].stats.packets == 40 and .streams[0].legs[0].stats.drops == 0" \
	"leg A latched the new port and counted all 40 packets"

# An offer from a stranger's tag is refused and changes nothing.
tl_rpc_err "${OFFER/ft-$CALL/intruder}" invalid_value "offer with an unknown from_tag"
tl_relayd_stop
tl_pass
