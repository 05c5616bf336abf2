#!/bin/bash
# exclusive
#
# nft_learning.sh: a caller behind a NAT (its SDP address, another port)
# is learned over the window, its media flows both ways meanwhile, and
# the stream enters the kernel (nft) only once the window has ended.
#
# Leg A's SDP says 10.0.1.2:4000 but the caller sends from port 4100: a
# candidate of rank "address". While leg A learns (window 1 s here) the
# stream stays in userspace and the callee's media already goes to the
# candidate; after the window leg A is fixed on it and the stream moves
# into the kernel. Caller and callee each get exactly the other's packets.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=nat-1
N=600		# per direction, 3 s at 200/s: the window ends inside

tl_init
tl_netns_setup
tl_nft_prepare
tl_relayd_config "$TL_TMP/relayd.json" '.backend = "nft" | .endpoint_learning = {window: 1}'
tl_relayd_start "$TL_TMP/relayd.json"
tl_offer_answer "$CALL" 1
A=${TL_A_PORTS[0]} B=${TL_B_PORTS[0]}

query() {
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
}
learning() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e '.streams[0].path == "userspace" and .streams[0].legs[0].learning.state == "learning" and .streams[0].legs[1].learning.state == "fixed"' <<<"$TL_REPLY"
}
has_candidate() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e '.streams[0].legs[0].learning.state == "learning"' <<<"$TL_REPLY"
}
in_kernel() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e '.streams[0].path == "nft"' <<<"$TL_REPLY"
}

tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_RELAY_B_IP:$B" -S 0x1000 -e "$N" -t 20
tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4100" -f "$TL_RELAY_A_IP:$A" -S 0x2000 -e "$N" -t 20
# The caller first: until it sends, the relay can only send to its SDP
# port, where nobody listens behind a NAT.
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4100" -d "$TL_RELAY_A_IP:$A" -S 0x1000 -c "$N" -r 200
tl_wait_for 5 "leg A to have a candidate" has_candidate	# from the first packet: the window starts there
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -S 0x2000 -c "$N" -r 200
tl_wait_for 1 "leg A learning (userspace) while leg B is fixed" learning
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].learning.source == \"$TL_CALLER_IP:4100\" and .streams[0].legs[0].learning.rank == \"address\" and .streams[0].legs[0].latched == null" \
	"leg A: candidate $TL_CALLER_IP:4100 of rank address"
tl_wait_for 4 "the stream in nft after the window" in_kernel
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:4100\" and .streams[0].legs[0].learning.state == \"fixed\" and .streams[0].legs[0].learning.rank == \"address\"" \
	"leg A fixed on the NAT port once the window ended"
for p in caller_tx callee_tx; do tl_expect_ok "$p" 20 "$p"; done
tl_expect_ok callee_rx 20 "the callee must get exactly the caller's $N packets"
tl_expect_ok caller_rx 20 "the caller must get exactly the callee's $N packets (at the NAT port)"
query
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.packets == $N and .streams[0].legs[1].stats.packets == $N" \
	"each leg counted its $N packets (userspace + kernel)"

tl_relayd_stop
tl_pass
