#!/bin/bash
#
# pkt-cost.sh: CPU per forwarded packet of the nft backend's kernel path
# against plain IPv4 forwarding, measured in the same run (interleaved:
# fwd, nft, fwd, nft, ...) at several stream counts.
#
#   bench/nft/pkt-cost.sh [-b BUILD] [-o OUTDIR] [-r REPS] [-s SECS] [SIZES...]
#
# Topology (namespaces made and deleted here):
#   caller 10.0.1.2 --c0/r1-- relay 10.0.1.1 (+10.1.1.1) | 10.0.2.1 (+10.1.2.1) --r2/e0-- callee 10.0.2.2
# The sender (tests/tools/flowblast, one socket, all flows from
# 10.0.1.2:7000, sendmmsg) is pinned to CPU 0; on veth the whole path
# (sender syscall, relay prerouting/conntrack/NAT/forward, callee ingress)
# runs synchronously on that CPU, so "ns/pkt" = CPU 0 busy time / packets
# delivered. The callee counts and drops at ingress (nft netdev counter).
# Caller tx checksum offload is off: every rewrite must fix a real checksum.
#   fwd: the relay forwards 10.0.1.2:7000 -> 10.0.2.2:PORT unchanged.
#   nft: the relay runs the nft backend (bench/nft/nftdrive, this build's
#        code) with N streams; packets go to 10.0.1.1:PORT and leave
#        rewritten 10.0.2.1:PORT -> 10.0.2.2:9000 (conntrack NAT).
# Each measurement: warm-up (one packet per flow: creates the conntrack
# entries), then SECS of flood. Writes OUTDIR/pkt-cost.jsonl and .md.
set -eu -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
OUT=$ROOT/bench/nft/results
REPS=3
SECS=3
while getopts b:o:r:s: opt; do
	case $opt in
	b) BUILD=$(cd "$OPTARG" && pwd) ;;
	o) OUT=$OPTARG ;;
	r) REPS=$OPTARG ;;
	s) SECS=$OPTARG ;;
	*) echo "usage: $0 [-b BUILD] [-o OUTDIR] [-r REPS] [-s SECS] [SIZES...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
SIZES=${*:-1000 10000 50000}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)" >&2; exit 77; }
FB=$BUILD/tools/flowblast
[ -x "$FB" ] || { echo "$FB not built" >&2; exit 1; }
mkdir -p "$OUT"
TMP=$(mktemp -d)
P=tlpc$$
C=$P-caller R=$P-relay E=$P-callee
DRIVE=
cleanup() {
	[ -n "$DRIVE" ] && kill "$DRIVE" 2>/dev/null && wait "$DRIVE" 2>/dev/null
	for ns in "$C" "$R" "$E"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
"$ROOT/bench/nft/build-drive.sh" "$BUILD" "$TMP/nftdrive"

for ns in "$C" "$R" "$E"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add c0 netns "$C" type veth peer name r1 netns "$R"
ip link add e0 netns "$E" type veth peer name r2 netns "$R"
ip -n "$C" addr add 10.0.1.2/24 dev c0
ip -n "$R" addr add 10.0.1.1/24 dev r1
ip -n "$R" addr add 10.1.1.1/24 dev r1
ip -n "$R" addr add 10.0.2.1/24 dev r2
ip -n "$R" addr add 10.1.2.1/24 dev r2
ip -n "$E" addr add 10.0.2.2/24 dev e0
for l in "$C c0" "$R r1" "$R r2" "$E e0"; do set -- $l; ip -n "$1" link set "$2" up; done
ip -n "$C" route add default via 10.0.1.1
ip -n "$E" route add default via 10.0.2.1
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_acct=1
ip netns exec "$C" ethtool -K c0 tx off >/dev/null
# static neighbours: no ARP in the measurement
ip -n "$C" neigh replace 10.0.1.1 lladdr "$(ip -n "$R" -j link show r1 | jq -r '.[0].address')" dev c0
ip -n "$R" neigh replace 10.0.2.2 lladdr "$(ip -n "$E" -j link show e0 | jq -r '.[0].address')" dev r2
ip netns exec "$E" nft -f - <<'NFT'
table netdev sink {
	counter pkts { }
	chain in { type filter hook ingress device "e0" priority 0; policy accept; counter name "pkts" drop; }
}
NFT

sink_count() { ip netns exec "$E" nft -j list counter netdev sink pkts | jq '.nftables[] | select(.counter) | .counter.packets'; }
sink_reset() { ip netns exec "$E" nft reset counter netdev sink pkts >/dev/null; }
# system + irq + softirq of CPU 0 (USER_HZ ticks). User time is left out:
# the sender's is small, and other tenants' user time must not count.
cpu0() { awk '/^cpu0 / { print $4 + $7 + $8 }' /proc/stat; }

# blast DEST BASE N COUNT: flood from 10.0.1.2:7000 on CPU 0
blast() {
	taskset -c 0 ip netns exec "$C" "$FB" send -b 10.0.1.2:7000 -d "$1" -P "$2" -n "$3" -c "$4" >/dev/null
}

# measure METHOD N: one measurement, one JSON line
measure() {
	local method=$1 n=$2 half dest base k t0 t1 c0 c1 pk secs
	case $method in
	fwd) dest=10.0.2.2 ;;
	nft*) dest=10.0.1.1 ;;
	esac
	half=$n
	[ "$n" -gt 30000 ] && half=$((n / 2))
	# warm-up: one packet per flow (for nft: creates the conntrack entries,
	# all from one source ip:port; timed, see "create_s")
	local w0=$EPOCHREALTIME w1
	blast "$dest" 2000 "$half" 1
	[ "$half" != "$n" ] && blast "${dest/10.0./10.1.}" 2000 "$half" 1
	[ "$method" = fwd ] && [ "$half" != "$n" ] && blast 10.0.2.2 2001 "$half" 1
	w1=$EPOCHREALTIME
	# flood of about SECS seconds at ~500 kpps (PKTS overrides the total)
	k=$((${PKTS:-$((500000 * SECS))} / n + 1))
	sink_reset
	t0=$EPOCHREALTIME c0=$(cpu0)
	if [ "$half" = "$n" ]; then
		blast "$dest" 2000 "$n" "$k"
	elif [ "$method" != fwd ]; then
		blast 10.0.1.1 2000 "$half" "$k" & blast 10.1.1.1 2000 "$half" "$k"; wait
	else
		blast 10.0.2.2 2000 "$half" "$k" & blast 10.0.2.2 2001 "$half" "$k"; wait
	fi
	t1=$EPOCHREALTIME c1=$(cpu0)
	pk=$(sink_count)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	jq -nc --arg m "$method" --argjson n "$n" --argjson pk "$pk" --argjson sent "$((n * k))" \
		--argjson create "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" \
		--argjson ticks "$((c1 - c0))" --argjson secs "$secs" --argjson hz "$(getconf CLK_TCK)" \
		'{method: $m, streams: $n, sent: $sent, delivered: $pk, secs: $secs, pps: ($pk / $secs),
		  ns_per_pkt: (($ticks / $hz) * 1e9 / $pk), create_s: $create}'
}

: >"$OUT/pkt-cost.jsonl"
for n in $SIZES; do
	pairs=1
	[ "$n" -gt 30000 ] && pairs=2
	mkfifo "$TMP/in.$n"
	exec 7<>"$TMP/in.$n"
	ip netns exec "$R" "$TMP/nftdrive" hold -n "$n" -p "$pairs" -P 2000 <"$TMP/in.$n" >"$TMP/drive.$n" 2>&1 &
	DRIVE=$!
	for _ in $(seq 100); do grep -qs installed "$TMP/drive.$n" && break; sleep 0.2; done
	grep -q installed "$TMP/drive.$n" || { cat "$TMP/drive.$n"; exit 1; }
	for r in $(seq "$REPS"); do
		measure fwd "$n" | jq -c --argjson r "$r" '. + {rep: $r}' >>"$OUT/pkt-cost.jsonl"
		measure nft "$n" | jq -c --argjson r "$r" '. + {rep: $r}' >>"$OUT/pkt-cost.jsonl"
	done
	# What the notrack guard (raw_pre: one dnat4 lookup per packet) costs:
	# the same without it (not a working configuration: bench only).
	ip netns exec "$R" nft flush chain ip trunkline raw_pre
	ip netns exec "$R" conntrack -F >/dev/null 2>&1 || true
	for r in $(seq "$REPS"); do
		measure fwd "$n" | jq -c --argjson r "$r" '. + {rep: $r, set: "noraw"}' >>"$OUT/pkt-cost.jsonl"
		measure nft-noraw "$n" | jq -c --argjson r "$r" '. + {rep: $r}' >>"$OUT/pkt-cost.jsonl"
	done
	echo quit >&7
	wait "$DRIVE" || true
	DRIVE=
	exec 7>&-
done
{
	echo "| streams | method | ns/pkt (median) | plain fwd ns/pkt, same reps (median) | ratio vs fwd (median of per-rep ratios) | kpps | reps |"
	echo "|---|---|---|---|---|---|---|"
	for n in $SIZES; do
		for m in nft nft-noraw; do
			jq -rs --argjson n "$n" --arg m "$m" '
				def med: sort | .[length / 2 | floor];
				[.[] | select(.streams == $n)] as $all
				| ($all | map(select(.method == "fwd" and ((.set // "") == (if $m == "nft" then "" else "noraw" end))))) as $f
				| ($all | map(select(.method == $m))) as $t
				| [range([$f, $t] | map(length) | min) | $t[.].ns_per_pkt / $f[.].ns_per_pkt] as $ratios
				| "| \($n) | \($m) | \($t | map(.ns_per_pkt) | med | floor) | \($f | map(.ns_per_pkt) | med | floor) | \($ratios | med * 100 | floor / 100) | \($t | map(.pps) | med / 1000 | floor) | \($t | length) |"
			' "$OUT/pkt-cost.jsonl"
		done
	done
} >"$OUT/pkt-cost.md"
cat "$OUT/pkt-cost.md"
