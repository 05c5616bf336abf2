#!/bin/bash
#
# relay_sender.sh: a late offer (PROTOCOL.md, `sender`): the callee's
# offer makes the session from leg B and the reply carries leg A's ports;
# the caller's answer (`answer` with sender "caller") fills leg A, the
# reply carries leg B's ports and the session is answered. Before that
# answer the roles of endpoint learning are mirrored: leg A (no SDP yet)
# takes nothing, so a sender that races the caller there is dropped and
# never latched. Requests with tags that are not the session's caller
# and callee are refused and change nothing. Then media flows both ways
# with exact counters.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=late-1
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

M_B="[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":5000}]"
M_A="[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]"
IDS="\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\""

tl_rpc_err "{\"cmd\":\"offer\",$IDS,\"sender\":\"callee\",\"media\":$M_B}" invalid_value \
	"a callee's offer without to_tag"
tl_rpc_err "{\"cmd\":\"offer\",$IDS,\"to_tag\":\"tt-$CALL\",\"sender\":\"nobody\",\"media\":$M_B}" invalid_value \
	"an unknown sender"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.sessions == 0' "refused offers made no session"

tl_rpc_ok "{\"cmd\":\"offer\",$IDS,\"to_tag\":\"tt-$CALL\",\"sender\":\"callee\",\"interfaces\":[\"caller\",\"callee\"],\"media\":$M_B}" \
	"the callee's (late) offer"
tl_assert_json "$TL_REPLY" ".media[0].address == \"$TL_RELAY_A_IP\"" "the reply is leg A's (for the caller)"
A=$(jq .media[0].rtp_port <<<"$TL_REPLY")
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
tl_assert_json "$TL_REPLY" ".state == \"offered\" and .from_tag == \"ft-$CALL\" and .to_tag == \"tt-$CALL\"" "offered, the tags keep their dialog meaning"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].local == \"$TL_RELAY_A_IP:$A\" and .streams[0].legs[0].sdp == null and .streams[0].legs[1].sdp == \"$TL_CALLEE_IP:5000\"" \
	"leg A has the reply's port and no SDP, leg B the callee's"
B=$(jq -r '.streams[0].legs[1].local | split(":")[1]' <<<"$TL_REPLY")
tl_rpc_ok "{\"cmd\":\"offer\",$IDS,\"to_tag\":\"tt-$CALL\",\"sender\":\"callee\",\"media\":$M_B}" "the same offer again"
tl_assert_json "$TL_REPLY" ".media[0].rtp_port == $A" "idempotent: the same leg A port"

# Not this call's parties: refused, nothing changes.
tl_rpc_err "{\"cmd\":\"offer\",$IDS,\"to_tag\":\"intruder\",\"sender\":\"callee\",\"media\":$M_B}" invalid_value \
	"a callee's offer with another to_tag"
tl_rpc_err "{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"intruder\",\"to_tag\":\"tt-$CALL\",\"sender\":\"callee\",\"media\":$M_B}" invalid_value \
	"a callee's offer with another from_tag"
tl_rpc_err "{\"cmd\":\"answer\",$IDS,\"to_tag\":\"intruder\",\"sender\":\"caller\",\"media\":$M_A}" invalid_value \
	"a caller's answer with another to_tag"

# Before the caller's answer, leg A takes nothing: a racer is dropped.
tl_gen racer "$TL_NS_CALLER" -b "$TL_CALLER_IP:4444" -d "$TL_RELAY_A_IP:$A" -c 10 -r 200
tl_expect_ok racer 10 "the racer's rtpgen"
tl_wait_for 5 "the racer's packets counted as drops on leg A" bash -c \
	"timeout 5 '$TL_CTL' -s '$TL_SOCK' --json query $CALL | jq -e '.streams[0].legs[0].stats.drops >= 10' >/dev/null"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after the racer"
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].latched == null and .streams[0].legs[0].stats.packets == 0' \
	"leg A did not latch the racer and forwarded nothing"

tl_rpc_ok "{\"cmd\":\"answer\",$IDS,\"to_tag\":\"tt-$CALL\",\"sender\":\"caller\",\"media\":$M_A}" "the caller's answer"
tl_assert_json "$TL_REPLY" ".media[0].address == \"$TL_RELAY_B_IP\" and .media[0].rtp_port == $B" "the reply is leg B's (for the callee)"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after the answer"
tl_assert_json "$TL_REPLY" ".state == \"answered\" and .streams[0].legs[0].sdp == \"$TL_CALLER_IP:4000\"" "answered, leg A has the caller's SDP"

tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -f "$TL_RELAY_A_IP:$A" -e 50 -t 10
tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_RELAY_B_IP:$B" -e 50 -t 10
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A" -c 50 -r 200
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -c 50 -r 200
tl_expect_ok caller_tx 10 "caller's rtpgen"
tl_expect_ok callee_tx 10 "callee's rtpgen"
tl_expect_ok callee_rx 15 "caller -> callee through the relay"
tl_expect_ok caller_rx 15 "callee -> caller through the relay"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "final query"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4000\" and .streams[0].legs[1].latched == \"$TL_CALLEE_IP:5000\" and .streams[0].legs[0].stats.packets == 50 and .streams[0].legs[1].stats.packets == 50" \
	"both legs latched their SDP peers and counted exactly 50 packets"
tl_rpc_ok "{\"cmd\":\"hello\"}" "hello"
tl_assert_json "$TL_REPLY" '.features | index("sender")' "hello lists the feature sender"
tl_relayd_stop
tl_pass
