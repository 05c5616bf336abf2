# shellcheck shell=sh
#
# guest-bench.sh (runs in the qemu guest, busybox sh): trunkline.ko's
# per-packet cost, with the metric of bench/README.md ("The per-packet
# metric") as far as the guest allows. Each path has its own three
# namespaces (sender | relay | sink), so one path's entries never touch
# another's packets:
#   bh      baseline: the relay drops at routing (a blackhole route): the
#           sender, one veth hop and the relay's ingress, no relay step
#   plain   the relay routes (ip_forward=1), no module entry
#   k1k     ip_forward=0; FEW module entries, the flood spread over all
#   k50k    the same with MANY entries (the cost at 50,000 vs 1,000); the
#           same FEW flows, spread over the whole table
# Every path gets the same offered rate (RATE packets/s for SECS, rtpgen
# paced, 172-byte RTP from 64 sockets); the sink counts and drops at its
# ingress (nft netdev counter). Cost = CPU time of the sender process
# (whose context runs the whole veth path; `times`, 10 ms resolution)
# plus both ksoftirqd threads (schedstat), per delivered packet (bh: per
# sent packet). The relay step is that minus bh's, in the same round.
# Rounds are interleaved (the order rotates); the host (run.sh) takes the
# per-round ratios, their median and spread. Under emulation (TCG) absolute
# times mean nothing; only ratios within one round do.
#
# Usage: sh guest-bench.sh ROUNDS RATE SECS FEW MANY [PATHS]
# (PATHS: which of "bh plain k1k k50k" to build and run; the smoke test in
# tests/kmod runs two, to fit its time limit on a loaded host)
# Prints one "BENCH-RUN {json}" line per measurement, then "BENCH-DONE"
# (exit 0) if every path delivered at least 99 % of what it was offered.
ROUNDS=${1:-5}
RATE=${2:-200}
SECS=${3:-4}
FEW=${4:-1000}
MANY=${5:-50000}
PATHS=${6:-bh plain k1k k50k}
has() { case " $PATHS " in *" $1 "*) return 0 ;; esac; return 1; }
IP=/sbin/ip
S=10.9.1.2 RS=10.9.1.1 RD=10.9.2.1 D=10.9.2.2 BASE=10000

loaded=0
grep -q '^trunkline ' /proc/modules || { insmod /test/trunkline.ko && loaded=1; } || exit 1

# topo ID: namespaces ID-s, ID-r, ID-d
topo() {
	$IP netns add "$1-s" && $IP netns add "$1-r" && $IP netns add "$1-d" || exit 1
	$IP link add s0 netns "$1-s" type veth peer name rs0 netns "$1-r"
	$IP link add d0 netns "$1-d" type veth peer name rd0 netns "$1-r"
	$IP -n "$1-s" addr add $S/24 dev s0 && $IP -n "$1-s" link set s0 up
	$IP -n "$1-d" addr add $D/24 dev d0 && $IP -n "$1-d" link set d0 up
	$IP -n "$1-r" addr add $RS/24 dev rs0 && $IP -n "$1-r" link set rs0 up
	$IP -n "$1-r" addr add $RD/24 dev rd0 && $IP -n "$1-r" link set rd0 up
	for x in s r d; do $IP -n "$1-$x" link set lo up; done
	$IP -n "$1-s" route add default via $RS
	$IP -n "$1-d" route add default via $RD
	# static neighbours: no ARP inside a measurement
	$IP -n "$1-s" neigh replace $RS lladdr "$($IP -n "$1-r" link show rs0 | awk '/ether/ { print $2 }')" dev s0
	$IP -n "$1-r" neigh replace $D lladdr "$($IP -n "$1-d" link show d0 | awk '/ether/ { print $2 }')" dev rd0
	$IP netns exec "$1-d" nft -f - <<-'NFT' || exit 1
	table netdev sink {
		chain in { type filter hook ingress device "d0" priority 0; policy accept; meta l4proto udp counter drop; }
	}
	NFT
}

# kmem: "SLAB+VMALLOC_KB MEMFREE_KB" from /proc/meminfo
kmem() { awk '/^Slab:|^VmallocUsed:/ { s += $2 } /^MemFree:/ { f = $2 } END { print s, f }' /proc/meminfo; }

# flows FILE DEST BASE N [STRIDE]: one destination per line, DEST:BASE+i*STRIDE
flows() { awk -v d="$2" -v b="$3" -v n="$4" -v s="${5:-1}" 'BEGIN { for (i = 0; i < n; i++) printf "%s:%d\n", d, b + i * s }' >"$1"; }

if has bh; then
	topo bh
	$IP netns exec bh-r sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
	$IP -n bh-r route add blackhole 10.9.3.0/24
	flows /tmp/bh.flows 10.9.3.2 $BASE "$FEW"
fi
if has plain; then
	topo plain
	$IP netns exec plain-r sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
	flows /tmp/plain.flows $D $BASE "$FEW"
fi
for k in k1k:"$FEW" k50k:"$MANY"; do
	id=${k%%:*} n=${k#*:}
	has "$id" || continue
	topo "$id"
	$IP netns exec "$id-r" sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
	t0=$(cut -d' ' -f1 /proc/uptime) m0=$(kmem)
	$IP netns exec "$id-r" tlk bulk add "$n" $RS:$BASE $RD:30000 $D:5000 >/dev/null || exit 1
	eval "E_$id=$n"
	m1=$(kmem)
	echo "guest-bench: $id: $n entries in $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }') s"
	# kernel memory the entries took: slab + vmalloc growth, and MemFree's
	# fall (an upper bound: anything else the kernel allocated meanwhile)
	echo "BENCH-MEM {\"path\":\"$id\",\"entries\":$n,\"slab_vmalloc_kb\":$(($(echo "$m1" | cut -d' ' -f1) - $(echo "$m0" | cut -d' ' -f1))),\"memfree_drop_kb\":$(($(echo "$m0" | cut -d' ' -f2) - $(echo "$m1" | cut -d' ' -f2)))}"
	# FEW flows on every path (rtpgen paces each flow at >= 0.1 packets/s,
	# and the guest carries only a few hundred packets/s): with MANY
	# entries they are spread over the whole table (every STRIDE-th)
	flows "/tmp/$id.flows" $RS $BASE "$FEW" $((n / FEW))
done
N_bh=$FEW N_plain=$FEW N_k1k=$FEW N_k50k=$FEW

KSI=$(for d in /proc/[0-9]*; do case $(cat "$d/comm" 2>/dev/null) in ksoftirqd/*) echo "${d#/proc/}" ;; esac; done)
ksi_ns() { s=0; for p in $KSI; do s=$((s + $(cut -d' ' -f1 "/proc/$p/schedstat"))); done; echo "$s"; }
# an anonymous counter (a named one needs nft_objref, not in the guest)
sink_count() { $IP netns exec "$1-d" nft list chain netdev sink in | awk '/packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'; }

# run ID ROUND: one measurement, one BENCH-RUN line
run() {
	eval "n=\$N_$1"
	eval "entries=\${E_$1:-$FEW}"
	c0=$(sink_count "$1")
	k0=$(ksi_ns)
	# the subshell's `times`: second line = its children (rtpgen), user and sys
	out=$( ($IP netns exec "$1-s" rtpgen --flow-file "/tmp/$1.flows" -n "$n" -b $S:4000 --sockets 64 \
		-s 172 -r "$(awk -v r="$RATE" -v n="$n" 'BEGIN { printf "%.6f", r / n }')" -t "$SECS" \
		--max-time 120 >/tmp/gen.out 2>/tmp/gen.err; times) | tail -n 1)
	k1=$(ksi_ns)
	got=$(($(sink_count "$1") - c0))
	sent=$(sed -n 's/.*"sent":\([0-9]*\).*/\1/p' /tmp/gen.out | tail -n 1)
	gen=$(echo "$out" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", ((u[1] * 60 + u[2]) + (s[1] * 60 + s[2])) * 1e9 }')
	sent=${sent:-0} got=${got:-0}
	if [ "$sent" -eq 0 ] || { [ "$1" != bh ] && [ "$got" -lt $((sent * 99 / 100)) ]; }; then bad=1; fi
	echo "BENCH-RUN {\"path\":\"$1\",\"round\":$2,\"entries\":$entries,\"flows\":$n,\"rate\":$RATE,\"secs\":$SECS,\"sent\":${sent:-0},\"delivered\":${got:-0},\"gen_ns\":${gen:-0},\"ksoftirqd_ns\":$((k1 - k0))}"
}

bad=0
r=1
while [ $r -le "$ROUNDS" ]; do
	# rotate the order every round
	order=$(echo $PATHS | awk -v r=$r '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r) % NF + 1) }')
	for id in $order; do run "$id" $r; done
	r=$((r + 1))
done
for id in $PATHS; do for x in s r d; do $IP netns del "$id-$x"; done; done
[ $loaded = 1 ] && rmmod trunkline
# every path delivered (almost) every packet it was offered: the rate was
# below every path's loss-free rate, as the metric requires
[ $bad = 0 ] || { echo "guest-bench: a path lost packets at $RATE packets/s"; exit 1; }
echo BENCH-DONE
