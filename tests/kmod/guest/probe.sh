# shellcheck shell=sh
#
# probe.sh (runs in the qemu guest): the hook probe (kmod/tl_probe.c,
# module parameter probe) counts exactly the IPv4 packets the module
# forwarded while it was on, with their time, in the namespace that
# forwarded them; nothing while it is off, nothing for a packet the
# module did not forward (no entry, wrong source). The root namespace is
# the relay; namespace a (10.7.1.2) sends, b (10.7.2.2) receives.
. ./lib.sh

R_A=10.7.1.1 R_B=10.7.2.1 A=10.7.1.2 B=10.7.2.2
RX=/tmp/rx.out
PARAM=/sys/module/trunkline/parameters/probe

# pstat KEY: a field of `tlk stats` in the root namespace
pstat() { field "$1" "$(tlk stats)"; }
pkts() { field packets "$(tlk get $R_A:20000)"; }

# relay N: N packets a -> relay -> b through the entry on port 20000;
# `check ... wait $RPID` then says whether b received them all from the
# relay's address and port
relay() {
	$IP netns exec b tlk recv $B:5000 "$1" 10000 --from $R_B:30000 >$RX 2>&1 &
	RPID=$!
	wait_for 5 sh -c "$IP netns exec b netstat -uln | grep -q ':5000 '"
	$IP netns exec a tlk send $A:4000 $R_A:20000 "$1" >/dev/null
}

$IP link set lo up
check "insmod trunkline.ko (probe off by default)" insmod /test/trunkline.ko
check "parameter probe reads N" test "$(cat $PARAM)" = N
if netns a a0 $A r1 $R_A && netns b b0 $B r2 $R_B; then
	ok "namespaces a, b"
else
	nok "namespaces a, b"
fi
echo 0 >/proc/sys/net/ipv4/ip_forward	# only the module moves packets
check "add the entry a -> b" tlk add $R_A:20000 $R_B:30000 $B:5000 --src $A:4000
check "add a strict entry for another source (drop)" \
	tlk add $R_A:20002 $R_B:30000 $B:5000 --src 10.7.1.9:4000 --drop
S=$(tlk stats)
echo "$S"
check "stats: 2 entries, probe off, nothing counted" \
	test "$(field count "$S")/$(field probe_on "$S")/$(field probe_packets "$S")/$(field probe_ns "$S")" = 2/0/0/0

# --- off: the module forwards, the probe counts nothing ---------------------
relay 30
check "probe off: 30 packets relayed" wait $RPID
check "the entry counted 30" test "$(pkts)" = 30
check "probe off: 0 packets, 0 ns" test "$(pstat probe_packets)/$(pstat probe_ns)" = 0/0

# --- on: exactly the packets forwarded while on -----------------------------
echo 1 >$PARAM
check "parameter probe reads Y" test "$(cat $PARAM)" = Y
check "stats say the probe is on" test "$(pstat probe_on)" = 1
relay 40
check "probe on: 40 packets relayed" wait $RPID
check "the entry counted 70" test "$(pkts)" = 70
S=$(tlk stats)
echo "$S"
check "probe: exactly the 40 forwarded while on" test "$(field probe_packets "$S")" = 40
check "probe: their time is counted (> 0 ns)" test "$(field probe_ns "$S")" -gt 0
check "probe: the histogram holds the same 40 packets" test "$(field probe_hist "$S" |
	tr ',' '\n' | awk -F: '{ n += $2 } END { print n + 0 }')" = 40
NS1=$(field probe_ns "$S")

# packets the module does not forward are not counted
$IP netns exec a tlk send $A:4000 $R_A:20002 10 >/dev/null	# wrong source: dropped
$IP netns exec a tlk send $A:4000 $R_A:20004 10 >/dev/null	# no entry
check "wrong source: 10 mismatches" test "$(field mismatch "$(tlk get $R_A:20002)")" = 10
check "not forwarded (wrong source, no entry): still 40, same time" \
	test "$(pstat probe_packets)/$(pstat probe_ns)" = "40/$NS1"
check "namespace a's table counted nothing" \
	test "$($IP netns exec a tlk stats | tr ' ' '\n' | sed -n 's/^probe_packets=//p')" = 0

# --- off again: the totals stay ---------------------------------------------
echo 0 >$PARAM
relay 20
check "probe off again: 20 packets relayed" wait $RPID
check "the entry counted 90" test "$(pkts)" = 90
check "probe off again: still 40" test "$(pstat probe_packets)/$(pstat probe_on)" = 40/0

# --- probe=1 at insmod ------------------------------------------------------
check "rmmod" rmmod trunkline
check "insmod trunkline.ko probe=1" insmod /test/trunkline.ko probe=1
check "parameter probe reads Y after insmod probe=1" test "$(cat $PARAM)" = Y
check "add the entry again" tlk add $R_A:20000 $R_B:30000 $B:5000 --src $A:4000
relay 25
check "probe on from the start: 25 packets relayed" wait $RPID
check "probe: exactly 25 (a fresh namespace table's totals)" \
	test "$(pstat probe_packets)/$(pkts)" = 25/25
check "rmmod with the probe on" rmmod trunkline
check "kernel_clean" kernel_clean
tk_done
