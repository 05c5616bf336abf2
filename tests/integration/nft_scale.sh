#!/bin/bash
#
# nft_scale.sh: 10,000 streams in the nft backend, installed in one batch,
# forwarded and removed. relayd itself would need 40,000 sockets for that
# (the fd limit here is 20,000), so bench/nft/nftdrive drives the backend
# object code of this build directly with synthetic latched streams, and
# flowblast sends one flow per stream through the relay ns:
#   - every stream's packets arrive in both directions, each from the
#     relay's own port of that stream (the kernel rewrote the source);
#   - all 10,000 flows come from ONE source ip:port, the case that makes
#     conntrack NAT's bysource walk quadratic without snat's random flag;
#   - the counters read back in batches count every packet of every stream;
#   - no datagram reached a socket or port-unreachable in the relay ns;
#   - after remove and close: no dnat4 element, no entry of ours, no table.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

N=${TL_NFT_STREAMS:-10000}
K=2		# packets per stream and direction
BASE=20000

tl_init
command -v cc >/dev/null 2>&1 || tl_skip "no C compiler for bench/nft/nftdrive"
FB=$TL_BUILD_DIR/tools/flowblast
[ -x "$FB" ] || tl_fail "$FB is not built"
tl_netns_setup
tl_nft_prepare
"$TL_ROOT/bench/nft/build-drive.sh" "$TL_BUILD_DIR" "$TL_TMP/nftdrive" 2>"$TL_TMP/cc.err" ||
	tl_fail "building nftdrive: $(cat "$TL_TMP/cc.err")"

mkfifo "$TL_TMP/drive.in"
exec 7<>"$TL_TMP/drive.in"
ip netns exec "$TL_NS_RELAY" "$TL_TMP/nftdrive" hold -n "$N" -P "$BASE" \
	<"$TL_TMP/drive.in" >"$TL_TMP/drive.out" 2>"$TL_TMP/relayd.log" &
DRIVE=$!
TL_PIDS+=("$DRIVE")
drive_said() { grep -q "$1" "$TL_TMP/drive.out"; }
tl_wait_for 60 "nftdrive to install $N streams" drive_said '"installed"'
tl_log "installed: $(grep installed "$TL_TMP/drive.out")"
[ "$(tl_nft_flows)" = $((4 * N)) ] || tl_fail "dnat4 has $(tl_nft_flows) elements, expected $((4 * N))"

snmp() { ip netns exec "$TL_NS_RELAY" awk '/^Udp:/ { n++; if (n == 2) print $2 + $3 }' /proc/net/snmp; }
UDP0=$(snmp)

# caller 10.0.1.2:7000 -> relay A ports -> callee 10.0.2.2:9000 from B ports
ready() { grep -q ready "$TL_TMP/$1.err"; }
tl_spawn rx1 "$TL_NS_CALLEE" "$FB" recv -b "$TL_CALLEE_IP:9000" -f "$TL_RELAY_B_IP" -P "$BASE" -n "$N" -c "$K" -t 60
tl_wait_for 5 "receiver 1" ready rx1
tl_spawn tx1 "$TL_NS_CALLER" "$FB" send -b "$TL_CALLER_IP:7000" -d "$TL_RELAY_A_IP" -P "$BASE" -n "$N" -c "$K" -r 20000
tl_expect_ok tx1 60 "sender caller -> relay"
tl_expect_ok rx1 60 "all $N streams caller -> callee, each from its B port"
tl_log "caller -> callee: $(tl_summary rx1)"
# and back: the reply direction of the same conntrack entries
tl_spawn rx2 "$TL_NS_CALLER" "$FB" recv -b "$TL_CALLER_IP:7000" -f "$TL_RELAY_A_IP" -P "$BASE" -n "$N" -c "$K" -t 60
tl_wait_for 5 "receiver 2" ready rx2
tl_spawn tx2 "$TL_NS_CALLEE" "$FB" send -b "$TL_CALLEE_IP:9000" -d "$TL_RELAY_B_IP" -P "$BASE" -n "$N" -c "$K" -r 20000
tl_expect_ok tx2 60 "sender callee -> relay"
tl_expect_ok rx2 60 "all $N streams callee -> caller, each from its A port"
tl_log "callee -> caller: $(tl_summary rx2)"
[ "$(snmp)" = "$UDP0" ] || tl_fail "$(($(snmp) - UDP0)) datagrams reached a socket or no port in the relay ns"
[ "$(tl_ct_ours)" = "$N" ] || tl_fail "expected $N conntrack entries of ours (one per stream), found $(tl_ct_ours)"

echo read >&7
tl_wait_for 30 "counters" drive_said '"read"'
R=$(grep '"read"' "$TL_TMP/drive.out")
tl_assert_json "$R" ".packets_a == $((N * K)) and .packets_b == $((N * K)) and .streams_with_a == $N and .streams_with_b == $N" \
	"batched counters: every stream counted $K packets each way"
tl_log "counters: $R"

echo remove >&7
tl_wait_for 30 "removal" drive_said '"removed"'
tl_log "removed: $(grep removed "$TL_TMP/drive.out")"
[ "$(tl_nft_flows)" = 0 ] || tl_fail "dnat4 still has $(tl_nft_flows) elements"
[ "$(tl_ct_ours)" = 0 ] || tl_fail "$(tl_ct_ours) conntrack entries of ours left after removal"
echo quit >&7
tl_wait_for 30 "nftdrive to close the backend" drive_said '"closed"'
wait "$DRIVE" || tl_fail "nftdrive exited $?: $(tail -5 "$TL_TMP/relayd.log")"
tl_nft_table_exists && tl_fail "table ip trunkline left after close"
tl_pass
