# shellcheck shell=sh
#
# lib.sh: helpers for the scripts that run inside the qemu guest (busybox
# sh). Each check prints "ok - ..." or "not ok - ..."; tk_done prints the
# totals and the exit status the harness reads. Debian's ip is /sbin/ip:
# call it by absolute path (busybox sh prefers its own applet).
IP=/sbin/ip
PASS=0
FAILS=0

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
nok() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }

# check DESCRIPTION CMD...: bounded in time, so a hung call fails alone.
check() {
	d=$1
	shift
	case $1 in
	wait | wait_for | kernel_clean) "$@" ;;	# shell builtins and functions
	*) timeout 60 "$@" ;;
	esac
	rc=$?
	if [ $rc = 0 ]; then ok "$d"; else nok "$d (exit $rc)"; fi
}

# field KEY LINE: the value of KEY=value in a tlk output line.
field() {
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# wait_for SECS CMD...: poll every 0.1 s.
wait_for() {
	n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# netns NAME IF IP PEER-IF PEER-IP: namespace NAME linked to the root
# namespace by a /24 veth pair (root side PEER-IF with PEER-IP).
netns() {
	$IP netns add "$1" &&
	$IP link add "$2" netns "$1" type veth peer name "$4" &&
	$IP -n "$1" addr add "$3/24" dev "$2" && $IP -n "$1" link set "$2" up &&
	$IP -n "$1" link set lo up && $IP -n "$1" route add default via "$5" &&
	$IP addr add "$5/24" dev "$4" && $IP link set "$4" up
}

# Kernel objects that entries use: kmalloc slab objects, the objects of
# trunkline.ko's own caches (struct tl_entry, struct tl_state) and per-CPU kB.
mem_snapshot() {
	slab=$(awk '/^kmalloc-[0-9]/ { s += $2 } END { print s }' /proc/slabinfo)
	for c in tl_entry tl_state; do
		[ -r /sys/kernel/slab/$c/objects ] &&
			slab=$((slab + $(cut -d' ' -f1 /sys/kernel/slab/$c/objects)))
	done
	pcpu=$(awk '/^Percpu:/ { print $2 }' /proc/meminfo)
	echo "$slab $pcpu"
}

kernel_clean() {
	! dmesg | grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace|refcount_t'
}

tk_done() {
	echo "$PASS passed, $FAILS failed"
	[ "$FAILS" = 0 ]
}
