#!/bin/bash
#
# scale-guest.bash (runs in the qemu guest; bench/kmod/scale.sh boots it):
# STREAMS concurrent streams in one trunkline-relayd with the kmod backend
# and RLIMIT_NOFILE NOFILE (not raisable: CAP_SYS_RESOURCE dropped), the
# topology of bench/scale/scale.sh (four relay addresses per side: one
# address holds ~30,000 port pairs). trunkline.ko is loaded with
# max_entries and hash_bits sized for the run (a stream is four entries:
# RTP and RTCP per leg). bench/scale/kscale does the rest (offers and
# answers in waves, media checked per packet on a sample, delete all) and
# prints one JSON line, echoed here as "SCALE-RESULT {json}"; then relayd
# must stop cleanly, and rmmod too.
#
# Usage: scale-guest.bash STREAMS WAVE SAMPLE COUNT RATE NOFILE HASH_BITS MAX_ENTRIES
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_scale
# shellcheck source=../../tests/lib/netns.sh
. /test/tests/lib/netns.sh

STREAMS=$1 WAVE=$2 SAMPLE=$3 COUNT=$4 RATE=$5 NOFILE=$6 HASH_BITS=$7 MAX_ENTRIES=$8
PMIN=2000 PMAX=61999 K=4

# transparent huge pages: the guest kernel's default, or THP (always,
# madvise, never) from scale.sh's KSCALE_THP; relayd's heap grows by 2 MiB
# pages under "always", which its RSS then counts whole
THP_FILE=/sys/kernel/mm/transparent_hugepage/enabled
if [ -n "${THP:-}" ]; then
	echo "$THP" >"$THP_FILE" || tl_fail "transparent_hugepage=$THP"
fi
THP_NOW=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$THP_FILE" 2>/dev/null)

insmod /test/trunkline.ko max_entries="$MAX_ENTRIES" hash_bits="$HASH_BITS" ||
	tl_fail "insmod trunkline.ko max_entries=$MAX_ENTRIES hash_bits=$HASH_BITS"
tl_init
tl_netns_setup
IPS_A="" IPS_B=""
for i in $(seq 1 $K); do
	ip -n "$TL_NS_RELAY" addr add "10.0.1.$((10 + i))/24" dev r1 || tl_fail "address 10.0.1.$((10 + i))"
	ip -n "$TL_NS_RELAY" addr add "10.0.2.$((10 + i))/24" dev r2 || tl_fail "address 10.0.2.$((10 + i))"
	IPS_A+="10.0.1.$((10 + i)),"
	IPS_B+="10.0.2.$((10 + i)),"
done
IPS_A=${IPS_A%,} IPS_B=${IPS_B%,}
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_local_reserved_ports="$PMIN-$PMAX" ||
	tl_fail "reserving $PMIN-$PMAX in the relay ns"

tl_relayd_config "$TL_TMP/relayd.json" "
	.backend = \"kmod\" | .log_level = \"warning\" |
	.ports = {min: $PMIN, max: $PMAX} |
	.timeouts = {setup: 3600, inactivity: 3600, hold: 3600, max_duration: 14400} |
	.interfaces = ([range($K)] | map({name: \"c\(.)\", bind: \"10.0.1.\(11 + .)\"}) +
		([range($K)] | map({name: \"e\(.)\", bind: \"10.0.2.\(11 + .)\"})))"
TL_SOCK=$(jq -r .control.socket "$TL_TMP/relayd.json")
# the limit as an unprivileged relay meets it; ip netns exec, setpriv and
# the subshell exec, so the pid is relayd's
(ulimit -n "$NOFILE" && exec ip netns exec "$TL_NS_RELAY" \
	setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource -- \
	"$TL_RELAYD" -f "$TL_TMP/relayd.json" -d >"$TL_TMP/relayd.out" 2>"$TL_TMP/relayd.log") &
TL_RELAYD_PID=$!
tl_wait_for 60 "relayd to answer ping" tl_ping
[ "$(readlink "/proc/$TL_RELAYD_PID/exe")" = "$TL_RELAYD" ] || tl_fail "pid $TL_RELAYD_PID is not relayd"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "kmod"' "backend kmod"
tl_log "relayd up (pid $TL_RELAYD_PID, RLIMIT_NOFILE $NOFILE, $((2 * K)) interfaces), $(nproc) cpus, $(awk '/^MemTotal/ { print $2 }' /proc/meminfo) kB"

t0=$(cut -d' ' -f1 /proc/uptime)
/sbin/kscale -s "$TL_SOCK" -p "$TL_RELAYD_PID" -n "$STREAMS" -w "$WAVE" -S "$SAMPLE" \
	-c "$COUNT" -r "$RATE" -A "$IPS_A" -B "$IPS_B" \
	-C "$TL_NS_CALLER:$TL_CALLER_IP:7000" -E "$TL_NS_CALLEE:$TL_CALLEE_IP:9000" \
	-k "/sbin/ip netns exec $TL_NS_RELAY /sbin/tlk count" -d "$TL_TMP" >"$TL_TMP/scale.json" 2> >(tee "$TL_TMP/scale.err" >&2)
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
[ -s "$TL_TMP/scale.json" ] || tl_fail "kscale printed nothing (exit $rc): $(tail -n 5 "$TL_TMP/scale.err")"
# slab_growth: the caches that grew most over the install (objects in use
# x object size): which allocations the entries are
slab_growth() {
	awk 'FNR == NR { if ($1 !~ /^(#|slabinfo)/) a[$1] = $2; next }
		$1 !~ /^(#|slabinfo)/ && $2 - a[$1] > 0 {
			printf "{\"cache\":\"%s\",\"objects\":%d,\"object_size\":%d,\"kb\":%d}\n",
				$1, $2 - a[$1], $4, ($2 - a[$1]) * $4 / 1024 }' "$1" "$2" |
		jq -s 'sort_by(-.kb) | .[:8]'
}
growth=$(slab_growth "$TL_TMP/slab-start" "$TL_TMP/slab-all" 2>/dev/null || echo null)
echo "SCALE-RESULT $(jq -c --argjson sg "${growth:-null}" --arg t "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
	--argjson hb "$HASH_BITS" --argjson me "$MAX_ENTRIES" --arg thp "${THP_NOW:-unknown}" \
	'. + {guest_run_s: ($t | tonumber), hash_bits: $hb, max_entries: $me, transparent_hugepage: $thp,
	      slab_growth: $sg}' "$TL_TMP/scale.json")"
[ "$rc" = 0 ] || tl_fail "kscale: checks failed (exit $rc)"
tl_relayd_stop
rmmod trunkline || tl_fail "rmmod trunkline"
tl_pass
