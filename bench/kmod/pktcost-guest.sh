# shellcheck shell=sh
#
# pktcost-guest.sh (runs in the qemu guest, busybox sh): the relay step
# of trunkline.ko on its own, at FEW and at MANY entries. The module's
# hook probe (probe=1, kmod/tl_probe.c) times the hook's work per
# forwarded packet (header checks, table lookup, source check, route,
# rewrite, counters; from the hook's start to ip_local_out()), so the
# sender, the stack's output path and the sink are outside the figure.
#
# Two relays, each a namespace with its own table: k1k holds FEW
# entries, k50k MANY. One sender (namespace snd) reaches k1k over veth
# s1 (10.9.1.0/24) and k50k over s2 (10.9.3.0/24); each relay forwards
# to a sink of its own (ID-d, an nft ingress counter that drops). The
# sender's flow file alternates between the two tables, FEW flows each
# (at MANY every MANY/FEW-th entry, spread over the table, the others
# idle), so both tables' packets pass in the same seconds, one after the
# other: whatever the host does to the emulation meanwhile (other users'
# load slows the guest unevenly) falls on both alike, and the ratio of
# their median packets in one window cancels it.
#
# A round is two windows in alternating order: "on" (probe on; the hook
# time of each table) and "off" (probe off; the whole path's CPU per
# packet, sender + ksoftirqd, against "on": what the probe adds). Every
# window offers RATE packets/s in all for SECS (rtpgen, 172-byte RTP
# from 64 sockets). The host (pktcost.sh) takes the per-round ratios,
# their median and spread.
#
# Usage: sh pktcost-guest.sh ROUNDS RATE SECS FEW MANY [MODULE-PARAMETERS
#        [ENTRY-OPTIONS]]
# (MODULE-PARAMETERS: e.g. hash_bits=10, a control with long chains;
# ENTRY-OPTIONS: tlk add options for every entry, e.g. "--rtp --drop
# --learn 10.9.1.2:4000 3000", entries as relayd installs them; the
# sender's address is 10.9.1.2, ports 4000, 4002, ...)
# Prints one "PKTCOST-RUN {json}" line per window and table, then
# "PKTCOST-DONE" if every window delivered every packet and the probe
# counted exactly the packets each table forwarded.
ROUNDS=${1:-9}
RATE=${2:-400}
SECS=${3:-5}
FEW=${4:-1000}
MANY=${5:-50000}
MODARGS=${6:-}
ENTRYARGS=${7:-}
IP=/sbin/ip
PARAM=/sys/module/trunkline/parameters/probe
BASE=10000
# per table: the sender's side, the relay's side of it, the relay's
# output address, the sink
S_k1k=10.9.1.2 RS_k1k=10.9.1.1 S_k50k=10.9.3.2 RS_k50k=10.9.3.1
RD=10.9.2.1 D=10.9.2.2

# shellcheck disable=SC2086
insmod /test/trunkline.ko $MODARGS || exit 1
$IP netns add snd || exit 1
$IP -n snd link set lo up

# relay ID IF: namespaces ID-r (relay) and ID-d (sink); the sender's
# veth IF to the relay
relay() {
	eval "s=\$S_$1 rs=\$RS_$1"
	$IP netns add "$1-r" && $IP netns add "$1-d" || exit 1
	$IP link add "$2" netns snd type veth peer name rs0 netns "$1-r"
	$IP link add d0 netns "$1-d" type veth peer name rd0 netns "$1-r"
	$IP -n snd addr add "$s/24" dev "$2" && $IP -n snd link set "$2" up
	$IP -n "$1-d" addr add $D/24 dev d0 && $IP -n "$1-d" link set d0 up
	$IP -n "$1-r" addr add "$rs/24" dev rs0 && $IP -n "$1-r" link set rs0 up
	$IP -n "$1-r" addr add $RD/24 dev rd0 && $IP -n "$1-r" link set rd0 up
	for x in r d; do $IP -n "$1-$x" link set lo up; done
	$IP -n "$1-d" route add default via $RD
	# static neighbours: no ARP inside a measurement
	$IP -n snd neigh replace "$rs" lladdr "$($IP -n "$1-r" link show rs0 | awk '/ether/ { print $2 }')" dev "$2"
	$IP -n "$1-r" neigh replace $D lladdr "$($IP -n "$1-d" link show d0 | awk '/ether/ { print $2 }')" dev rd0
	# only the module moves packets: what reaches the sink, it forwarded
	$IP netns exec "$1-r" sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
	$IP netns exec "$1-d" nft -f - <<-'NFT' || exit 1
	table netdev sink {
		chain in { type filter hook ingress device "d0" priority 0; policy accept; meta l4proto udp counter drop; }
	}
	NFT
}

relay k1k s1
relay k50k s2
for k in k1k:"$FEW" k50k:"$MANY"; do
	id=${k%%:*} n=${k#*:}
	eval "rs=\$RS_$id"
	t0=$(cut -d' ' -f1 /proc/uptime)
	# shellcheck disable=SC2086
	$IP netns exec "$id-r" tlk bulk add "$n" "$rs:$BASE" $RD:30000 $D:5000 $ENTRYARGS >/dev/null || exit 1
	echo "pktcost-guest: $id: $n entries in $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }') s"
done
# the flows, alternating: k1k's entry i, k50k's entry i * MANY/FEW
awk -v a=$RS_k1k -v b=$RS_k50k -v base=$BASE -v n="$FEW" -v s=$((MANY / FEW)) \
	'BEGIN { for (i = 0; i < n; i++) printf "%s:%d\n%s:%d\n", a, base + i, b, base + i * s }' >/tmp/flows

KSI=$(for d in /proc/[0-9]*; do case $(cat "$d/comm" 2>/dev/null) in ksoftirqd/*) echo "${d#/proc/}" ;; esac; done)
ksi_ns() { s=0; for p in $KSI; do s=$((s + $(cut -d' ' -f1 "/proc/$p/schedstat"))); done; echo "$s"; }
sink_count() { $IP netns exec "$1-d" nft list chain netdev sink in | awk '/packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'; }
# probe ID KEY: a field of the relay's `tlk stats`
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

# window on|off ROUND: both tables for SECS; one PKTCOST-RUN line each
window() {
	if [ "$1" = on ]; then echo 1 >$PARAM; else echo 0 >$PARAM; fi
	for id in k1k k50k; do
		eval "c0_$id=\$(sink_count $id) p0_$id=\$(probe $id probe_packets)"
		eval "n0_$id=\$(probe $id probe_ns) h0_$id=\$(probe $id probe_hist)"
	done
	k0=$(ksi_ns)
	# the subshell's `times`: second line = its children (rtpgen), user and sys
	out=$( ($IP netns exec snd rtpgen --flow-file /tmp/flows -n $((2 * FEW)) -b $S_k1k:4000 --sockets 64 \
		-s 172 -r "$(awk -v r="$RATE" -v n=$((2 * FEW)) 'BEGIN { printf "%.6f", r / n }')" -t "$SECS" \
		--max-time 120 >/tmp/gen.out 2>/tmp/gen.err; times) | tail -n 1)
	k1=$(ksi_ns)
	sent=$(sed -n 's/.*"sent":\([0-9]*\).*/\1/p' /tmp/gen.out | tail -n 1)
	gen=$(echo "$out" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", ((u[1] * 60 + u[2]) + (s[1] * 60 + s[2])) * 1e9 }')
	sent=${sent:-0}
	[ "$sent" -gt 0 ] || bad=1
	all=0
	for id in k1k k50k; do
		eval "c0=\$c0_$id p0=\$p0_$id n0=\$n0_$id h0=\$h0_$id"
		got=$(($(sink_count $id) - c0))
		all=$((all + got))
		pp=$(($(probe $id probe_packets) - p0)) pn=$(($(probe $id probe_ns) - n0))
		q=$(quantiles "$h0" "$(probe $id probe_hist)")
		# the probe counts exactly what the table forwarded while it was on
		if [ "$1" = on ]; then [ "$pp" -eq "$got" ] || bad=1; else [ "$pp" -eq 0 ] || bad=1; fi
		[ "$id" = k50k ] && entries=$MANY || entries=$FEW
		set -- "$1" "$2" $q
		echo "PKTCOST-RUN {\"window\":\"$1\",\"table\":\"$id\",\"round\":$2,\"entries\":$entries,\"flows\":$FEW,\"rate\":$RATE,\"secs\":$SECS,\"sent\":$sent,\"delivered\":$got,\"probe_packets\":$pp,\"probe_ns\":$pn,\"probe_p10_ns\":$3,\"probe_p50_ns\":$4,\"probe_p90_ns\":$5,\"gen_ns\":${gen:-0},\"ksoftirqd_ns\":$((k1 - k0))}"
	done
	[ "$all" -eq "$sent" ] || bad=1	# every packet arrived
}

bad=0
r=1
while [ $r -le "$ROUNDS" ]; do
	if [ $((r % 2)) = 1 ]; then window on $r; window off $r; else window off $r; window on $r; fi
	r=$((r + 1))
done
echo 0 >$PARAM
for id in k1k k50k; do $IP netns del "$id-r"; $IP netns del "$id-d"; done
$IP netns del snd
rmmod trunkline
[ $bad = 0 ] || { echo "pktcost-guest: a window lost packets or the probe miscounted"; exit 1; }
echo PKTCOST-DONE
