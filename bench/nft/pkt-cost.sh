#!/bin/bash
#
# pkt-cost.sh: CPU per forwarded packet of the nft backend's kernel path,
# with the metric defined in bench/README.md ("The per-packet metric"):
# every path at the same offered rate, CPU time of the processes that do
# the work (the sender, whose context runs the whole veth path, and the
# ksoftirqd threads) per delivered packet, interleaved rounds, medians and
# spread; each path's loss-free (flood) rate is measured separately.
#
#   bench/nft/pkt-cost.sh [-b BUILD] [-o OUTDIR] [-r ROUNDS] [-s SECS]
#                         [-R RATE] [-F FLOOD_SECS] [PATH:STREAMS...]
#   bench/nft/pkt-cost.sh -T [-o OUTDIR] [-R RATE]   (only the table, from
#                         OUTDIR/pkt-cost.jsonl)
#
# Paths (default: fwd:1000 fwd_ct:1000 nft:1000 nft:50000), each in its own
# three namespaces (caller | relay | callee), so that one path's tables and
# conntrack never touch another's packets:
#   fwd     the relay forwards 10.0.1.2:7000 -> 10.0.2.2:PORT unchanged; no
#           table and no conntrack in its relay namespace (plain forwarding)
#   fwd_ct  the same with conntrack switched on in the relay namespace (one
#           `ct state` rule, as any stateful firewall): conntrack's own cost
#   nft     the relay runs the nft backend (bench/nft/nftdrive, this build's
#           code) with STREAMS streams; packets go to 10.0.1.1:PORT and
#           leave rewritten 10.0.2.1:PORT -> 10.0.2.2:9000 (conntrack NAT)
#   sl      a prototype, not a backend: the same rewrite as nft without
#           conntrack (notrack at raw priority, then stateless payload
#           rewrites from maps keyed by a per-stream id in the packet mark;
#           the strict source check and per-stream counters are one set
#           lookup with element counters). What a conntrack-free nft
#           backend would cost; see bench/findings/nft-stateless.md
# The flood of every measurement spreads over all STREAMS flows. The ratio
# nft@50000 / nft@1000 (per round, then the median) is the "cost at 50,000
# vs 1,000 streams" of the README's targets: the two tables are loaded at
# the same time, in separate namespaces, and measured in the same rounds.
# relayd itself is not in this path: with 4 sockets per stream it cannot
# hold 50,000 streams under RLIMIT_NOFILE 20,000 (bench/README.md).
#
# Writes OUTDIR/pkt-cost.jsonl (one line per measurement) and .md.
set -eu -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
OUT=$ROOT/bench/nft/results
ROUNDS=5
SECS=2
RATE=60000
FLOOD_SECS=1
TABLE_ONLY=
while getopts b:o:r:s:R:F:T opt; do
	case $opt in
	b) BUILD=$(cd "$OPTARG" && pwd) ;;
	o) OUT=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	s) SECS=$OPTARG ;;
	R) RATE=$OPTARG ;;
	F) FLOOD_SECS=$OPTARG ;;
	T) TABLE_ONLY=1 ;;
	*) echo "usage: $0 [-b BUILD] [-o OUTDIR] [-r ROUNDS] [-s SECS] [-R RATE] [-F FLOOD_SECS] [PATH:STREAMS...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
SPECS=${*:-fwd:1000 fwd_ct:1000 fwd_ct:50000 nft:1000 nft:50000}
# table: OUT/pkt-cost.md from OUT/pkt-cost.jsonl. Per path medians and spread (min-max over rounds); ratios per round
# against fwd (and nft@50000 against nft@1000, fwd_ct@50000 against
# fwd_ct@1000: conntrack's own growth), then their median and spread.
table() {
jq -rs --argjson rate "$RATE" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
	def med: sort | if length == 0 then null else .[length / 2 | floor] end;
	def spread: if length == 0 then "-" else "\(min * 100 | round / 100)-\(max * 100 | round / 100)" end;
	def within(rs): if (rs | length) == 0 then "-"
		elif (rs | min) <= 1 and (rs | max) >= 1 then "within noise (\(rs | spread))"
		else "\(rs | med * 100 | round / 100) (\(rs | spread))" end;
	. as $all
	| [$all[] | select(.mode == "rate")] as $rt
	| ($rt | map(.path) | unique) as $paths
	| def per_round(a; b): [$rt | map(.round) | unique | .[] as $r
		| ([$rt[] | select(.path == a and .round == $r)][0]) as $x
		| ([$rt[] | select(.path == b and .round == $r)][0]) as $y
		| select($x and $y and $x.ns_per_pkt and $y.ns_per_pkt) | $x.ns_per_pkt / $y.ns_per_pkt];
	"# nft backend: CPU per packet at an equal offered rate\n",
	"Metric: bench/README.md, \"The per-packet metric\". Offered rate \($rate) packets/s on every path; CPU time of the sender (its context runs the whole veth path) + both ksoftirqd threads, per delivered packet; \($rt | map(.round) | unique | length) interleaved rounds. Machine shared with other users (load average at the end: \($load)): absolute ns/pkt move with their load, the ratios within a round are the result.\n",
	"| path | streams | ns/pkt (median) | spread (min-max) | vs fwd, per round: median (spread) | rate reached (median, min-max kpps) | loss at the rate | max loss-free rate (flood, median kpps) |",
	"|---|---|---|---|---|---|---|---|",
	($paths[] as $p
	 | [$rt[] | select(.path == $p)] as $xs
	 | [$all[] | select(.path == $p and .mode == "flood")] as $fl
	 | "| \($xs[0].kind) | \($xs[0].streams) | \($xs | map(.ns_per_pkt) | med | floor) | \($xs | map(.ns_per_pkt) | min | floor)-\($xs | map(.ns_per_pkt) | max | floor) | \(if ($p | startswith("fwd-")) and $xs[0].kind == "fwd" then "1 (reference)" else within(per_round($p; ($paths | map(select(startswith("fwd-"))) | .[0]))) end) | \($xs | map(.pps) | med / 1000 | floor) (\($xs | map(.pps) | min / 1000 | floor)-\($xs | map(.pps) | max / 1000 | floor)) | \($xs | map(.loss) | max * 10000 | round / 100) % | \(if ($fl | length) == 0 then "-" else "\($fl | map(select(.loss < 0.001) | .pps) | med // 0 | . / 1000 | floor)\(if ($fl | map(.loss) | max) >= 0.001 then " (some floods lost packets)" else "" end)" end) |"),
	"",
	(if ([$rt[] | select(.pps < 0.9 * $rate)] | length) > 0 then
	   "**The sender did not reach the offered rate in \([$rt[] | select(.pps < 0.9 * $rate)] | length) of \($rt | length) runs** (other processes took its CPU): those paths were compared at lower rates than offered. The sender batches 64 packets per sendmmsg whatever the rate, so its per-packet cost moves little with the rate, but the comparison is less equal than the metric asks.\n"
	 else empty end),
	(["nft", "sl"][] as $k
	 | ($paths | map(select(startswith($k + "-")))) as $np
	 | if ($np | length) >= 2 then
		($np | sort_by(split("-")[1] | tonumber)) as $s
		| per_round($s[-1]; $s[0]) as $q
		| "\($k) at \($s[-1] | split("-")[1]) streams vs \($s[0] | split("-")[1]) streams, per round: \(within($q)); median \($q | med * 100 | round / 100) over \($q | length) rounds\(if $k == "nft" then " (target <= 1.1)" else " (stateless prototype)" end)\n"
	   else empty end),
	(($paths | map(select(startswith("sl-")))) as $sp
	 | ($paths | map(select(startswith("nft-")))) as $np
	 | [$sp[] as $a | $np[] as $b | select(($a | split("-")[1]) == ($b | split("-")[1])) | [$a, $b]] as $pairs
	 | $pairs[] as [$a, $b] | per_round($a; $b) as $q
	 | "stateless prototype vs nft at \($a | split("-")[1]) streams, per round: \(within($q)); median \($q | med * 100 | round / 100)\n"),
	(($paths | map(select(startswith("fwd_ct-")))) as $cp
	 | ($paths | map(select(startswith("nft-")))) as $np
	 | if ($cp | length) >= 2 then
		($cp | sort_by(split("-")[1] | tonumber)) as $c
		| per_round($c[-1]; $c[0]) as $q
		| "\nconntrack alone (fwd_ct) at \($c[-1] | split("-")[1]) vs \($c[0] | split("-")[1]) flows, per round: \(within($q)); median \($q | med * 100 | round / 100): the kernel'"'"'s own growth, which every conntrack path has",
		  (if ($np | length) >= 2 then
			($np | sort_by(split("-")[1] | tonumber)) as $s
			| [range(0; [$q, per_round($s[-1]; $s[0])] | map(length) | min) as $i
			   | per_round($s[-1]; $s[0])[$i] / $q[$i]] as $g
			| "\nnft'"'"'s growth beyond conntrack'"'"'s (nft ratio / fwd_ct ratio, per round): \(within($g)); median \($g | med * 100 | round / 100)"
		   else empty end)
	   else empty end)
'  "$OUT/pkt-cost.jsonl" >"$OUT/pkt-cost.md"
}
if [ -n "$TABLE_ONLY" ]; then
	table
	cat "$OUT/pkt-cost.md"
	exit 0
fi
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)" >&2; exit 77; }
FB=$BUILD/tools/flowblast
[ -x "$FB" ] || { echo "$FB not built" >&2; exit 1; }
mkdir -p "$OUT"
TMP=$(mktemp -d)
P=tlpc$$
NSS=() DRIVES=() FIFOS=()
# (|| true everywhere: under set -e a failing kill or wait in the trap
# would end it before the namespaces are deleted)
cleanup() {
	local d ns
	for d in "${FIFOS[@]}"; do echo quit >"$d" || true; done
	for d in "${DRIVES[@]}"; do
		for _ in $(seq 50); do kill -0 "$d" 2>/dev/null || break; sleep 0.1; done
		kill "$d" 2>/dev/null || true
		wait "$d" 2>/dev/null || true
	done
	for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
"$ROOT/bench/nft/build-drive.sh" "$BUILD" "$TMP/nftdrive"

# topo ID: caller 10.0.1.2 --c0/r1-- relay 10.0.1.1 (+10.1.1.1) |
#          10.0.2.1 (+10.1.2.1) --r2/e0-- callee 10.0.2.2 ; namespaces $P-ID-{c,r,e}
topo() {
	local c=$P-$1-c r=$P-$1-r e=$P-$1-e ns l
	for ns in "$c" "$r" "$e"; do ip netns add "$ns"; NSS+=("$ns"); ip -n "$ns" link set lo up; done
	ip link add c0 netns "$c" type veth peer name r1 netns "$r"
	ip link add e0 netns "$e" type veth peer name r2 netns "$r"
	ip -n "$c" addr add 10.0.1.2/24 dev c0
	ip -n "$r" addr add 10.0.1.1/24 dev r1
	ip -n "$r" addr add 10.1.1.1/24 dev r1
	ip -n "$r" addr add 10.0.2.1/24 dev r2
	ip -n "$r" addr add 10.1.2.1/24 dev r2
	ip -n "$e" addr add 10.0.2.2/24 dev e0
	for l in "$c c0" "$r r1" "$r r2" "$e e0"; do set -- $l; ip -n "$1" link set "$2" up; done
	ip -n "$c" route add default via 10.0.1.1
	ip -n "$e" route add default via 10.0.2.1
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$c" ethtool -K c0 tx off >/dev/null
	# static neighbours: no ARP in the measurement
	ip -n "$c" neigh replace 10.0.1.1 lladdr "$(ip -n "$r" -j link show r1 | jq -r '.[0].address')" dev c0
	ip -n "$r" neigh replace 10.0.2.2 lladdr "$(ip -n "$e" -j link show e0 | jq -r '.[0].address')" dev r2
	ip netns exec "$e" nft -f - <<-'NFT'
	table netdev sink {
		counter pkts { }
		chain in { type filter hook ingress device "e0" priority 0; policy accept; counter name "pkts" drop; }
	}
	NFT
}

sink_count() { ip netns exec "$P-$1-e" nft -j list counter netdev sink pkts | jq '.nftables[] | select(.counter) | .counter.packets'; }
sink_reset() { ip netns exec "$P-$1-e" nft reset counter netdev sink pkts >/dev/null; }
# ns of CPU time of both ksoftirqd threads (the kernel's receive work spills
# into them under load; that is this bench's work too)
KSI=$(for d in /proc/[0-9]*; do case $(cat "$d/comm" 2>/dev/null) in ksoftirqd/*) echo "${d#/proc/}" ;; esac; done)
ksoftirqd_ns() { local p s=0; for p in $KSI; do s=$((s + $(cut -d' ' -f1 "/proc/$p/schedstat"))); done; echo "$s"; }
# cpu_ns CMD...: run CMD; print the CPU time of it and its children in ns
# (getrusage RUSAGE_CHILDREN: scheduler time, including the softirq work
# that ran in its context; `times` prints it to the millisecond)
# CMD's stdout (flowblast's JSON line) is appended to $TMP/blast.out.
cpu_ns() {
	( "$@" >>"$TMP/blast.out"; times ) | awk 'END { split($1, u, /[ms]/); split($2, s, /[ms]/);
		printf "%d\n", ((u[1] * 60 + u[2]) + (s[1] * 60 + s[2])) * 1e9 }'
}

# blast ID DEST N COUNT [RATE]: COUNT packets per flow from 10.0.1.2:7000 on
# CPU 0 to DEST:2000+2i (i < N; above 30,000 flows half go to 10.1.x.1);
# prints the CPU ns of the sender(s)
blast() {
	local id=$1 dest=$2 n=$3 k=$4 rate=${5:-0} half=$3 a b
	[ "$n" -gt 30000 ] && half=$((n / 2))
	local args=(-c "$k")
	if [ "$half" = "$n" ]; then
		[ "$rate" != 0 ] && args+=(-r "$rate")
		cpu_ns taskset -c 0 ip netns exec "$P-$id-c" "$FB" send -b 10.0.1.2:7000 -d "$dest" -P 2000 -n "$n" "${args[@]}"
		return
	fi
	[ "$rate" != 0 ] && args+=(-r "$((rate / 2))")
	local dest2=${dest/10.0./10.1.} base2=2000
	# plain forwarding: the second half goes to the same callee, odd ports
	case $id in fwd*) dest2=$dest base2=2001 ;; esac
	a=$(cpu_ns taskset -c 0 ip netns exec "$P-$id-c" "$FB" send -b 10.0.1.2:7000 -d "$dest" -P 2000 -n "$half" "${args[@]}" &
		b=$(cpu_ns taskset -c 0 ip netns exec "$P-$id-c" "$FB" send -b 10.0.1.2:7000 -d "$dest2" -P "$base2" -n "$half" "${args[@]}")
		wait; echo "$b")
	echo "$a" | awk '{ s += $1 } END { print s }'
}

dest_of() { case $1 in fwd*) echo 10.0.2.2 ;; *) echo 10.0.1.1 ;; esac; }

# measure ID KIND N ROUND MODE: one measurement, one JSON line. MODE rate:
# RATE packets/s over SECS; flood: as fast as the sender goes, FLOOD_SECS
measure() {
	local id=$1 kind=$2 n=$3 round=$4 mode=$5 dest k pk secs g ks0 ks1 w0 w1 rate=0 total
	dest=$(dest_of "$kind")
	# warm-up: one packet per flow (for nft and fwd_ct: conntrack entries
	# exist before the window; timed, see "warm_s")
	w0=$EPOCHREALTIME
	blast "$id" "$dest" "$n" 1 >/dev/null
	w1=$EPOCHREALTIME
	if [ "$mode" = rate ]; then
		rate=$RATE total=$((RATE * ${SECS%.*}))
	else
		total=$((${FLOOD_PKTS:-$((200000 * FLOOD_SECS))}))
	fi
	k=$((total / n)); [ "$k" -ge 1 ] || k=1
	sink_reset "$id"
	: >"$TMP/blast.out"
	ks0=$(ksoftirqd_ns)
	g=$(blast "$id" "$dest" "$n" "$k" "$rate")
	ks1=$(ksoftirqd_ns)
	pk=$(sink_count "$id")
	# the sender's own sending time (the wall time above includes starting
	# the processes): the rate for the flood's loss-free figure
	secs=$(jq -s 'map(.elapsed) | max' "$TMP/blast.out")
	jq -nc --arg id "$id" --arg kind "$kind" --arg mode "$mode" --argjson n "$n" --argjson round "$round" \
		--argjson pk "$pk" --argjson sent "$((n * k))" --argjson rate "$rate" \
		--argjson gen "$g" --argjson ksi "$((ks1 - ks0))" --argjson secs "$secs" \
		--argjson warm "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" \
		'{path: $id, kind: $kind, mode: $mode, streams: $n, round: $round, offered_pps: $rate,
		  sent: $sent, delivered: $pk, loss: ([1 - $pk / $sent, 0] | max), secs: $secs, pps: ($pk / $secs),
		  sender_ns: $gen, ksoftirqd_ns: $ksi,
		  ns_per_pkt: (if $pk > 0 then ($gen + $ksi) / $pk else null end), warm_s: $warm}'
}

# sl_ruleset N: the stateless prototype's table for N streams, addressed
# as blast() sends (above 30,000 the second half on 10.1.1.1, leaving from
# 10.1.2.1). Stream i (mark i+1): caller 10.0.1.2:7000 -> relay
# A:2000+2i, out as relay B:2000+2i -> 10.0.2.2:9000.
sl_ruleset() {
	local n=$1 half=$1
	[ "$n" -gt 30000 ] && half=$(($1 / 2))
	cat <<-'NFT'
	table ip sl {
		map id { type ipv4_addr . inet_service : mark; }
		set peer { type ipv4_addr . inet_service . mark; counter; }
		map da { type mark : ipv4_addr; }
		map dp { type mark : inet_service; }
		map sa { type mark : ipv4_addr; }
		map sp { type mark : inet_service; }
		chain pre {
			type filter hook prerouting priority raw; policy accept;
			meta l4proto udp meta mark set ip daddr . udp dport map @id ip saddr . udp sport . meta mark @peer notrack ip daddr set meta mark map @da udp dport set meta mark map @dp accept
			meta l4proto udp ip daddr { 10.0.1.1, 10.1.1.1 } drop
		}
		chain post {
			type filter hook postrouting priority srcnat; policy accept;
			meta mark != 0 ip saddr set meta mark map @sa udp sport set meta mark map @sp
		}
	}
	NFT
	awk -v n="$n" -v half="$half" 'BEGIN {
		for (i = 0; i < n; i++) {
			k = i < half ? i : i - half; port = 2000 + 2 * k; m = i + 1
			a = i < half ? "10.0" : "10.1"
			printf "add element ip sl id { %s.1.1 . %d : %d }\n", a, port, m
			printf "add element ip sl peer { 10.0.1.2 . 7000 . %d }\n", m
			printf "add element ip sl da { %d : 10.0.2.2 }\n", m
			printf "add element ip sl dp { %d : 9000 }\n", m
			printf "add element ip sl sa { %d : %s.2.1 }\n", m, a
			printf "add element ip sl sp { %d : %d }\n", m, port
		} }'
}

ids=()
for spec in $SPECS; do
	kind=${spec%%:*} n=${spec#*:}
	case $kind in fwd|fwd_ct|nft|sl) ;; *) echo "unknown path $kind" >&2; exit 2 ;; esac
	id=$kind-$n
	ids+=("$id")
	topo "$id"
	case $kind in
	fwd_ct)
		ip netns exec "$P-$id-r" sysctl -qw net.netfilter.nf_conntrack_acct=1
		ip netns exec "$P-$id-r" nft -f - <<-'NFT'
		table ip ctonly {
			chain ctfwd { type filter hook forward priority 0; policy accept; ct state invalid drop; }
		}
		NFT
		;;
	sl)
		sl_ruleset "$n" >"$TMP/sl.$id.nft"
		ip netns exec "$P-$id-r" nft -f "$TMP/sl.$id.nft"
		;;
	nft)
		ip netns exec "$P-$id-r" sysctl -qw net.netfilter.nf_conntrack_acct=1
		pairs=1
		[ "$n" -gt 30000 ] && pairs=2
		mkfifo "$TMP/in.$id"
		exec {fd}<>"$TMP/in.$id"
		ip netns exec "$P-$id-r" "$TMP/nftdrive" hold -n "$n" -p "$pairs" -P 2000 <"$TMP/in.$id" >"$TMP/drive.$id" 2>&1 &
		DRIVES+=($!) FIFOS+=("$TMP/in.$id")
		for _ in $(seq 300); do grep -qs installed "$TMP/drive.$id" && break; sleep 0.2; done
		grep -q installed "$TMP/drive.$id" || { cat "$TMP/drive.$id"; exit 1; }
		;;
	esac
done

J=$OUT/pkt-cost.jsonl
: >"$J"
echo "pkt-cost: ${#ids[@]} paths, $ROUNDS rounds at $RATE packets/s for $SECS s, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
	# rotate the order every round: no path is always first after a pause
	m=${#ids[@]}
	for j in $(seq 0 $((m - 1))); do
		id=${ids[$(((j + r) % m))]}
		measure "$id" "${id%-*}" "${id##*-}" "$r" rate >>"$J"
		measure "$id" "${id%-*}" "${id##*-}" "$r" flood >>"$J"
	done
	echo "pkt-cost: round $r done" >&2
done

table
cat "$OUT/pkt-cost.md"
