# shellcheck shell=sh
#
# guest-bench.sh (runs in the qemu guest, busybox sh): the per-packet cost
# of trunkline.ko against plain IP forwarding, in the same guest, on the
# same path: sender namespace -> veth -> relay (root namespace) -> veth ->
# sink namespace, the same packets (172-byte RTP, flooded by rtpgen).
#   plain  the root namespace routes (ip_forward=1), no module entry
#   kmod   ip_forward=0; the sender addresses the relay's port and the
#          module's entry rewrites and sends the packet on
#   kmod+rtp  the same with RTP sequence tracking
# Cost = busy CPU time of the whole guest (all of /proc/stat but idle)
# per packet the sink received, so the sender's and the sink's work is in
# both; the ratio kmod/plain is what this measures. Under emulation (TCG)
# absolute times mean nothing; only the ratio, measured in one run, does.
#
# Usage: sh guest-bench.sh COUNT [ROUNDS]
# Prints "BENCH-RESULT {json}" (one line) and exits 0 if every mode
# forwarded packets.
COUNT=${1:-20000}
ROUNDS=${2:-3}
IP=/sbin/ip
S=10.9.1.2 RS=10.9.1.1 RD=10.9.2.1 D=10.9.2.2

loaded=0
grep -q '^trunkline ' /proc/modules || { insmod /test/trunkline.ko && loaded=1; }
$IP netns add bs && $IP netns add bd || exit 1
$IP link add s0 netns bs type veth peer name rs0
$IP link add d0 netns bd type veth peer name rd0
$IP -n bs addr add $S/24 dev s0 && $IP -n bs link set s0 up && $IP -n bs link set lo up
$IP -n bd addr add $D/24 dev d0 && $IP -n bd link set d0 up && $IP -n bd link set lo up
$IP -n bs route add default via $RS && $IP -n bd route add default via $RD
$IP addr add $RS/24 dev rs0 && $IP link set rs0 up
$IP addr add $RD/24 dev rd0 && $IP link set rd0 up

busy() {	# busy jiffies of all CPUs
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# run MODE DEST: flood COUNT packets at DEST, return "received busy_jiffies"
run() {
	$IP netns exec bd rtpsink -b $D:5000 -i 1 -t 60 >/tmp/bench-sink.out 2>/dev/null &
	spid=$!
	n=50
	while [ $n -gt 0 ] && ! $IP netns exec bd netstat -uln | grep -q ':5000 '; do sleep 0.1; n=$((n - 1)); done
	b0=$(busy)
	$IP netns exec bs rtpgen -b $S:4000 -d "$2" -F -c "$COUNT" >/dev/null 2>&1
	b1=$(busy)
	wait $spid
	got=$(sed -n 's/.*"received":\([0-9]*\).*/\1/p' /tmp/bench-sink.out | head -n 1)
	echo "${got:-0} $((b1 - b0))"
}

total_plain_p=0 total_plain_b=0 total_k_p=0 total_k_b=0 total_r_p=0 total_r_b=0
r=0
while [ $r -lt "$ROUNDS" ]; do
	echo 1 >/proc/sys/net/ipv4/ip_forward
	set -- $(run plain $D:5000)
	total_plain_p=$((total_plain_p + $1)) total_plain_b=$((total_plain_b + $2))
	echo 0 >/proc/sys/net/ipv4/ip_forward
	tlk add $RS:30000 $RD:30002 $D:5000 --src $S:4000
	set -- $(run kmod $RS:30000)
	total_k_p=$((total_k_p + $1)) total_k_b=$((total_k_b + $2))
	tlk add $RS:30000 $RD:30002 $D:5000 --src $S:4000 --rtp
	set -- $(run kmod+rtp $RS:30000)
	total_r_p=$((total_r_p + $1)) total_r_b=$((total_r_b + $2))
	tlk del $RS:30000
	r=$((r + 1))
done

$IP netns del bs
$IP netns del bd
[ $loaded = 1 ] && rmmod trunkline

HZ=100	# USER_HZ: /proc/stat counts in 1/100 s
awk -v n="$COUNT" -v rounds="$ROUNDS" -v hz=$HZ \
	-v pp=$total_plain_p -v pb=$total_plain_b -v kp=$total_k_p -v kb=$total_k_b \
	-v rp=$total_r_p -v rb=$total_r_b 'BEGIN {
	us = 1e6 / hz
	cp = pp ? pb * us / pp : 0; ck = kp ? kb * us / kp : 0; cr = rp ? rb * us / rp : 0
	printf "BENCH-RESULT {\"bench\":\"kmod\",\"count\":%d,\"rounds\":%d," \
		"\"plain\":{\"received\":%d,\"busy_jiffies\":%d,\"us_per_packet\":%.3f}," \
		"\"kmod\":{\"received\":%d,\"busy_jiffies\":%d,\"us_per_packet\":%.3f}," \
		"\"kmod_rtp\":{\"received\":%d,\"busy_jiffies\":%d,\"us_per_packet\":%.3f}," \
		"\"ratio_kmod_to_plain\":%.3f,\"ratio_kmod_rtp_to_plain\":%.3f}\n",
		n, rounds, pp, pb, cp, kp, kb, ck, rp, rb, cr,
		cp ? ck / cp : 0, cp ? cr / cp : 0
}'
[ "$total_plain_p" -gt 0 ] && [ "$total_k_p" -gt 0 ] && [ "$total_r_p" -gt 0 ]
