#!/bin/bash
#
# learn_flood.bash (runs in the qemu guest): N streams of one call learn
# in trunkline.ko at the same moment (one caller packet each, from its
# SDP endpoint: fixed at once, one event per stream) while relayd's
# learn socket has a receive buffer of one message (TL_KMOD_LEARN_RCVBUF,
# a test knob): most events are lost (ENOBUFS). relayd must read the
# table again and show every leg A fixed on its caller port, as the
# kernel has it; a relayd that only logged the overflow would show the
# lost legs "open" until the call ends.
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_learn_flood
# shellcheck source=../../lib/netns.sh
. /test/tests/lib/netns.sh

N=16	# media per call: at most 16

insmod /test/trunkline.ko || tl_fail "insmod trunkline.ko"
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".timeouts.inactivity = 120 | .timeouts.setup = 120 | .endpoint_learning = {mode: \"heuristic\", window: 30}"
export TL_KMOD_LEARN_RCVBUF=1024
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "kmod"' "hello: backend kmod"

CALL=flood
tl_offer_answer "$CALL" "$N"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
tl_assert_json "$TL_REPLY" "[.streams[] | select(.path == \"kmod\" and .legs[0].learning.state == \"open\")] | length == $N" \
	"all $N streams in the kernel, learning, nothing learned yet"
# one packet per stream, stream i from the caller's SDP port 4000+2i: N
# events within one send burst
tl_gen flood_ctx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -S 0x1000 -c 1 -r 50 -B "$N"
tl_expect_ok flood_ctx 30 "the caller's first packet on every stream sent"
all_fixed() {
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL" &&
		jq -e --arg ip "$TL_CALLER_IP" "[.streams[] | .index as \$i | .legs[0] |
			select(.learning.state == \"fixed\" and .learning.rank == \"exact\" and
			       .latched == \"\(\$ip):\(4000 + 2 * \$i)\")] | length == $N" <<<"$TL_REPLY" >/dev/null
}
tl_wait_for 60 "relayd shows every leg A fixed (exact) on its caller port, as the kernel learned" all_fixed
grep -q "learning events lost (receive buffer full" "$TL_TMP/relayd.log" ||
	tl_fail "no overflow happened (the test did not test the resync): $(grep kmod "$TL_TMP/relayd.log" | tail -5)"
tl_log "overflow and resync: $(grep -o 'learning events lost.*' "$TL_TMP/relayd.log" | tail -1)"
tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\"}" "delete $CALL"
[ "$(ip netns exec "$TL_NS_RELAY" tlk count)" = 0 ] || tl_fail "entries left after the delete"
tl_relayd_stop
rmmod trunkline || tl_fail "rmmod trunkline"
tl_pass
