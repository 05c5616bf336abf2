# shellcheck shell=sh
#
# entry_mem.sh (runs in the qemu guest): the kernel memory one entry of
# trunkline.ko costs, installed as relayd installs a stream's legs
# (learning, RTP tracking, drop, a cookie; no candidate yet). The guest
# has 2 CPUs online and 8 possible (qemu -smp 2,maxcpus=8): per-CPU
# memory is allocated for every possible CPU, so per-CPU counters would
# show at 8 times their size. Measured as the growth of the kernel's slab
# and per-CPU memory (/proc/meminfo Slab, Percpu) over N entries, plus
# the bucket array (8 B per bucket, not slab memory: kvcalloc's pages),
# with one bucket per entry (hash_bits=15, N=32768); at most 256 B.
. ./lib.sh

N=32768
BITS=15
LIMIT=256
R=10.1.0.1 B=10.2.0.2 SDP=10.1.0.2

# meminfo FIELD: its value in kB
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
snapshot() { echo "$(meminfo Slab) $(meminfo Percpu) $(meminfo MemFree)"; }

$IP link set lo up
$IP addr add $R/24 dev lo
$IP addr add 10.2.0.1/24 dev lo
echo "possible CPUs: $(cat /sys/devices/system/cpu/possible) ($(nproc) online)"
check "insmod trunkline.ko hash_bits=$BITS" insmod /test/trunkline.ko hash_bits=$BITS
# the first entry allocates the bucket array: outside the measurement
check "first entry (allocates the buckets)" \
	tlk add $R:9999 10.2.0.1:30002 $B:5000 --drop --rtp --cookie 1 --learn $SDP:4000 3000
S0=$(snapshot)
check "bulk add $N entries as relayd installs them (learning, RTP, drop, cookie)" \
	tlk bulk add $N $R:10000 10.2.0.1:30002 $B:5000 --drop --rtp --cookie 7 --learn $SDP:4000 3000
S1=$(snapshot)
E=$(tlk get $R:30000)
echo "$E"
check "an entry holds its learning state (SDP endpoint, window, open) and its flags" \
	test "$(field sdp "$E"):$(field sdp_port "$E")/$(field window_ms "$E")/$(field learn_state "$E")/$(field flags "$E")" = \
	"$SDP:4000/3000/0/13"
check "$((N + 1)) entries in the table" test "$(tlk count)" = $((N + 1))

set -- $S0 $S1
slab=$(($4 - $1)) pcpu=$(($5 - $2)) free=$(($3 - $6))
buckets=$((8 << BITS))
per=$(((slab + pcpu) * 1024 / N))
bper=$((buckets / N))
total=$((per + bper))
echo "entry memory: slab +$slab kB, per-CPU +$pcpu kB over $N entries: $per B per entry;" \
	"buckets $buckets B: $bper B per entry; total $total B (limit $LIMIT);" \
	"MemFree -$free kB ($((free * 1024 / N)) B per entry, buckets and all)"
for c in tl_entry tl_state; do
	[ -e /sys/kernel/slab/$c ] && echo "cache $c -> $(basename "$(readlink -f /sys/kernel/slab/$c)"):" \
		"object_size $(cat /sys/kernel/slab/$c/object_size) slab_size $(cat /sys/kernel/slab/$c/slab_size)"
done
echo "KMOD-ENTRY-MEM: per_entry=$per buckets=$bper total=$total percpu_kb=$pcpu possible=$(cat /sys/devices/system/cpu/possible)"
check "kernel memory per entry, per-CPU and buckets included: $total B <= $LIMIT B" test "$total" -le $LIMIT

check "flush" tlk flush
check "kernel_clean" kernel_clean
tk_done
