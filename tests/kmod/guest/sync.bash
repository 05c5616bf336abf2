#!/bin/bash
#
# sync.bash (runs in the qemu guest): the periodic counter sync of the
# kmod backend (backend.c's set of carried streams, kmod_read_all) reads
# every stream with one dump of the table, not a request per entry.
#   1. 3,000 calls offered and answered: 3,000 streams learning in the
#      kernel, 12,000 entries; stats' counter_streams counts them;
#   2. idle for at least 5 syncs: counter_dumps grows, counter_reads
#      (single-entry reads) does not: no request per stream (the relayd
#      of before read 12,000 entries a second, one request each);
#   3. one call's 4 entries deleted behind relayd's back: a sync's dump
#      misses them and reads those (1 to 4: a sync may come between two
#      deletes; ENOENT), and the stream is relayed in userspace again
#      (counter_streams 2,999; query says why);
#   4. deletes: the set is empty, no entry left.
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_sync
# shellcheck source=../../lib/netns.sh
. /test/tests/lib/netns.sh

N=3000
insmod /test/trunkline.ko || tl_fail "insmod trunkline.ko"
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" '.ports = {min: 20000, max: 29999} | .timeouts.setup = 600 | .timeouts.inactivity = 600 | .log_level = "info"'
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_local_reserved_ports=20000-29999
tl_relayd_start "$TL_TMP/relayd.json"
PID=$TL_RELAYD_PID
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "kmod"' "hello: backend kmod"

entries() { ip netns exec "$TL_NS_RELAY" tlk count; }
stat_of() { tl_rpc_ok '{"cmd":"stats"}' "stats" && jq -r ".$1" <<<"$TL_REPLY"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
cpu_split() { awk '{ print "user " $14 ", system " $15 }' "/proc/$PID/stat"; }

# ---- 1. 3,000 streams in the kernel ---------------------------------------------
offerhold -s "$TL_SOCK" -n "$N" -m offer -P load -A 192.0.2.10 -B 192.0.2.20 >"$TL_TMP/offers.json" ||
	tl_fail "$N offers: $(cat "$TL_TMP/offers.json")"
offerhold -s "$TL_SOCK" -n "$N" -m answer -P load -A 192.0.2.10 -B 192.0.2.20 >"$TL_TMP/answers.json" ||
	tl_fail "$N answers: $(cat "$TL_TMP/answers.json")"
[ "$(entries)" = $((4 * N)) ] || tl_fail "$(entries) entries after $N answers, expected $((4 * N))"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" ".streams == $N and .counter_streams == $N and .sockets == 0" \
	"stats: $N streams, all carried by the kernel backend"
D0=$(jq -r .counter_dumps <<<"$TL_REPLY") R0=$(jq -r .counter_reads <<<"$TL_REPLY")
C0=$(cpu_ticks) T0=$(cut -d' ' -f1 /proc/uptime)

# ---- 2. idle syncs: one dump each, no single-entry read -------------------------
dumped() { [ "$(stat_of counter_dumps)" -ge $((D0 + 5)) ]; }
tl_wait_for 60 "5 counter syncs (dumps) after $D0" dumped
C1=$(cpu_ticks) T1=$(cut -d' ' -f1 /proc/uptime)
tl_rpc_ok '{"cmd":"stats"}' "stats"
D1=$(jq -r .counter_dumps <<<"$TL_REPLY") R1=$(jq -r .counter_reads <<<"$TL_REPLY")
tl_log "$N idle streams: $((D1 - D0)) dumps and $((R1 - R0)) single-entry reads in $(awk -v a="$T0" -v b="$T1" 'BEGIN { print b - a }') s; relayd CPU $((C1 - C0)) ticks (since start: $(cpu_split)), last dump $(jq -r .counter_dump_ms <<<"$TL_REPLY") ms"
[ "$R1" = "$R0" ] || tl_fail "the sync read $((R1 - R0)) entries one by one over $((D1 - D0)) dumps (expected none: the dump brings them all)"

# ---- 3. entries deleted behind relayd's back ------------------------------------
CALL=load-7
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
tl_assert_json "$TL_REPLY" '.streams[0].path == "kmod"' "$CALL in the kernel"
A=$(jq -r '.streams[0].legs[0].local' <<<"$TL_REPLY") B=$(jq -r '.streams[0].legs[1].local' <<<"$TL_REPLY")
R2=$(stat_of counter_reads)
for hp in "$A" "${A%:*}:$((${A##*:} + 1))" "$B" "${B%:*}:$((${B##*:} + 1))"; do
	ip netns exec "$TL_NS_RELAY" tlk del "$hp" || tl_fail "tlk del $hp"
done
lost() { [ "$(stat_of counter_streams)" = $((N - 1)) ]; }
tl_wait_for 30 "the sync to find $CALL's entries gone" lost
R3=$(stat_of counter_reads)
[ $((R3 - R2)) -ge 1 ] && [ $((R3 - R2)) -le 4 ] ||
	tl_fail "the sync read $((R3 - R2)) single entries after 4 were deleted (expected 1 to 4 of those)"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query $CALL"
tl_assert_json "$TL_REPLY" '.streams[0].path == "userspace" and (.streams[0].path_reason | startswith("kernel entry lost"))' \
	"$CALL back in userspace, saying why"
tl_log "$CALL's entries deleted: found by the next sync ($((R3 - R2)) single reads), relayed in userspace"

# ---- 4. deletes --------------------------------------------------------------------
offerhold -s "$TL_SOCK" -n "$N" -m delete -P load >"$TL_TMP/deletes.json" ||
	tl_fail "$N deletes: $(cat "$TL_TMP/deletes.json")"
[ "$(entries)" = 0 ] || tl_fail "$(entries) entries left after every delete"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.streams == 0 and .counter_streams == 0' "stats: no stream, none carried"
tl_relayd_stop
rmmod trunkline || tl_fail "rmmod trunkline"
tl_pass
