# shellcheck shell=sh
#
# pktcost-guest.sh (runs in the qemu guest, busybox sh): the relay step
# of trunkline.ko on its own, at FEW and at MANY entries. The module's
# hook probe (probe=1, kmod/tl_probe.c) times the hook's work per
# forwarded packet (header checks, table lookup, source check, route,
# rewrite, counters; from the hook's start to ip_local_out()), so the
# sender, the stack's output path and the sink are outside the figure.
# Each table has its own three namespaces (sender | relay | sink), so one
# table's entries never see another's packets:
#   k1k      FEW entries, FEW flows (one per entry), probe on
#   k50k     MANY entries, the same FEW flows spread over the whole table
#            (every MANY/FEW-th entry; the others idle), probe on
#   k1k_off  the k1k namespaces again with the probe off: the whole path
#            (sender + ksoftirqd CPU per packet) with and without the
#            probe, in the same round
# Every measurement offers RATE packets/s for SECS (rtpgen, 172-byte RTP
# from 64 sockets). Rounds are interleaved, the order rotating; the host
# (pktcost.sh) takes the per-round ratios, their median and spread.
#
# Usage: sh pktcost-guest.sh ROUNDS RATE SECS FEW MANY
# Prints one "PKTCOST-RUN {json}" line per measurement, then
# "PKTCOST-DONE" if every measurement delivered what it sent and the
# probe counted exactly the packets its table forwarded.
ROUNDS=${1:-9}
RATE=${2:-250}
SECS=${3:-4}
FEW=${4:-1000}
MANY=${5:-50000}
IP=/sbin/ip
PARAM=/sys/module/trunkline/parameters/probe
S=10.9.1.2 RS=10.9.1.1 RD=10.9.2.1 D=10.9.2.2 BASE=10000

insmod /test/trunkline.ko || exit 1

# topo ID: namespaces ID-s (sender), ID-r (relay), ID-d (sink)
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
	$IP netns exec "$1-r" sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
	$IP netns exec "$1-d" nft -f - <<-'NFT' || exit 1
	table netdev sink {
		chain in { type filter hook ingress device "d0" priority 0; policy accept; meta l4proto udp counter drop; }
	}
	NFT
}

for k in k1k:"$FEW" k50k:"$MANY"; do
	id=${k%%:*} n=${k#*:}
	topo "$id"
	t0=$(cut -d' ' -f1 /proc/uptime)
	$IP netns exec "$id-r" tlk bulk add "$n" $RS:$BASE $RD:30000 $D:5000 >/dev/null || exit 1
	echo "pktcost-guest: $id: $n entries in $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }') s"
	# FEW flows, one every n/FEW entries: spread over the whole table
	awk -v d=$RS -v b=$BASE -v n="$FEW" -v s=$((n / FEW)) \
		'BEGIN { for (i = 0; i < n; i++) printf "%s:%d\n", d, b + i * s }' >"/tmp/$id.flows"
done

KSI=$(for d in /proc/[0-9]*; do case $(cat "$d/comm" 2>/dev/null) in ksoftirqd/*) echo "${d#/proc/}" ;; esac; done)
ksi_ns() { s=0; for p in $KSI; do s=$((s + $(cut -d' ' -f1 "/proc/$p/schedstat"))); done; echo "$s"; }
sink_count() { $IP netns exec "$1-d" nft list chain netdev sink in | awk '/packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'; }
# probe NS KEY: a field of the relay namespace's `tlk stats`
probe() { $IP netns exec "$1-r" tlk stats | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# quantiles BEFORE AFTER: "P10 P50 P90" ns of the packets between two
# probe_hist readings (SLOT:N,...; layout in kmod/trunkline_uapi.h),
# interpolated within a slot
quantiles() {
	echo "${1:--} ${2:--}" | awk '{
		n = split($1, a, ","); for (i = 1; i <= n; i++) { split(a[i], x, ":"); h[x[1]] -= x[2] }
		n = split($2, a, ","); for (i = 1; i <= n; i++) { split(a[i], x, ":"); h[x[1]] += x[2] }
		for (s = 0; s < 337; s++) tot += h[s]
		split("0.1 0.5 0.9", q, " ")
		for (j = 1; j <= 3; j++) {
			want = q[j] * tot; c = 0; v = 0
			for (s = 0; s < 337; s++) {
				if (h[s] <= 0) continue
				if (c + h[s] >= want) {
					# (busybox awk has no ^)
					w = 1; for (k = 0; k < int((s - 16) / 16); k++) w *= 2
					if (s < 16) { lo = s; w = 1 } else if (s == 336) { lo = 16777216; w = 0 }
					else lo = (16 + (s - 16) % 16) * w
					v = lo + w * (want - c) / h[s]; break
				}
				c += h[s]
			}
			printf "%.0f%s", v, j < 3 ? " " : "\n"
		}
	}'
}

# run PATH ROUND: one measurement, one PKTCOST-RUN line
run() {
	id=${1%_off}
	if [ "$1" = "$id" ]; then echo 1 >$PARAM; else echo 0 >$PARAM; fi
	[ "$id" = k50k ] && entries=$MANY || entries=$FEW
	c0=$(sink_count "$id")
	p0=$(probe "$id" probe_packets) n0=$(probe "$id" probe_ns) h0=$(probe "$id" probe_hist)
	k0=$(ksi_ns)
	# the subshell's `times`: second line = its children (rtpgen), user and sys
	out=$( ($IP netns exec "$id-s" rtpgen --flow-file "/tmp/$id.flows" -n "$FEW" -b $S:4000 --sockets 64 \
		-s 172 -r "$(awk -v r="$RATE" -v n="$FEW" 'BEGIN { printf "%.6f", r / n }')" -t "$SECS" \
		--max-time 120 >/tmp/gen.out 2>/tmp/gen.err; times) | tail -n 1)
	k1=$(ksi_ns)
	# ip_forward is 0 in the relay: what reaches the sink, the module forwarded
	got=$(($(sink_count "$id") - c0))
	pp=$(($(probe "$id" probe_packets) - p0)) pn=$(($(probe "$id" probe_ns) - n0))
	set -- "$1" "$2" $(quantiles "$h0" "$(probe "$id" probe_hist)")
	sent=$(sed -n 's/.*"sent":\([0-9]*\).*/\1/p' /tmp/gen.out | tail -n 1)
	gen=$(echo "$out" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", ((u[1] * 60 + u[2]) + (s[1] * 60 + s[2])) * 1e9 }')
	sent=${sent:-0}
	[ "$sent" -gt 0 ] && [ "$got" -eq "$sent" ] || bad=1
	# the probe counts exactly what the table forwarded while it was on
	if [ "$1" = "$id" ]; then [ "$pp" -eq "$got" ] || bad=1; else [ "$pp" -eq 0 ] || bad=1; fi
	echo "PKTCOST-RUN {\"path\":\"$1\",\"round\":$2,\"entries\":$entries,\"flows\":$FEW,\"rate\":$RATE,\"secs\":$SECS,\"sent\":$sent,\"delivered\":$got,\"probe_packets\":$pp,\"probe_ns\":$pn,\"probe_p10_ns\":$3,\"probe_p50_ns\":$4,\"probe_p90_ns\":$5,\"gen_ns\":${gen:-0},\"ksoftirqd_ns\":$((k1 - k0))}"
}

bad=0
PATHS="k1k k50k k1k_off"
r=1
while [ $r -le "$ROUNDS" ]; do
	order=$(echo $PATHS | awk -v r=$r '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r) % NF + 1) }')
	for p in $order; do run "$p" $r; done
	r=$((r + 1))
done
echo 0 >$PARAM
for id in k1k k50k; do for x in s r d; do $IP netns del "$id-$x"; done; done
rmmod trunkline
[ $bad = 0 ] || { echo "pktcost-guest: a measurement lost packets or the probe miscounted"; exit 1; }
echo PKTCOST-DONE
