# shellcheck shell=sh
#
# module.sh (runs in the qemu guest): trunkline.ko on its own, driven by
# tlk over generic netlink. The root namespace is the relay; namespaces
# a (caller, 10.1.0.2), b (callee, 10.2.0.2) and x (a third party,
# 10.3.0.2) hang off it on veth links.
. ./lib.sh

R_A=10.1.0.1	# relay, caller side
R_B=10.2.0.1	# relay, callee side
A=10.1.0.2 B=10.2.0.2 X=10.3.0.2
RX=/tmp/rx.out

# recv_in NS ARGS...: start "tlk recv" in the background (pid in RPID)
# and wait until its socket is bound.
recv_in() {
	ns=$1
	shift
	port=${1##*:}
	if [ "$ns" = - ]; then tlk recv "$@" >$RX 2>&1 & else $IP netns exec "$ns" tlk recv "$@" >$RX 2>&1 & fi
	RPID=$!
	if [ "$ns" = - ]; then
		wait_for 5 sh -c "netstat -uln | grep -q ':$port '"
	else
		wait_for 5 sh -c "$IP netns exec $ns netstat -uln | grep -q ':$port '"
	fi
}

entry() { tlk get "$R_A:${1:-30000}"; }

$IP link set lo up
check "insmod trunkline.ko" insmod /test/trunkline.ko
check "genl family answers; the table is empty" sh -c '[ "$(tlk count)" = 0 ]'
if netns a a0 $A r1 $R_A && netns b b0 $B r2 $R_B && netns x x0 $X r3 10.3.0.1; then
	ok "namespaces a, b, x"
else
	nok "namespaces a, b, x"
fi
echo 0 >/proc/sys/net/ipv4/ip_forward	# only the module moves packets
MEM0=$(mem_snapshot)

# --- forwarding, with a full (not offloaded) UDP checksum, RTP loss ----------
check "add caller -> callee entry (strict source, RTP tracking)" \
	tlk add $R_A:30000 $R_B:30002 $B:5000 --src $A:4000 --rtp --cookie 7
recv_in b $B:5000 100 5000 --from $R_B:30002
$IP netns exec a tlk send $A:4000 $R_A:30000 100 --gap-at 50
check "callee got 100 packets from the relay's B address and port" wait $RPID
cat $RX
E=$(entry)
echo "$E"
check "counters: 100 packets, 16000 bytes (UDP payload)" test "$(field packets "$E")/$(field bytes "$E")" = 100/16000
check "RTP: SSRC 0x4242, highest seq 100, 1 lost" test "$(field ssrc "$E")/$(field seq "$E")/$(field lost "$E")" = 16962/100/1
check "idle time reported" test -n "$(field idle_ms "$E")"
# snmp4 NAME NS: a counter of the Udp line of /proc/net/snmp
snmp4() {
	$IP netns exec "$2" awk -v k="$1" '/^Udp: [A-Z]/ { for (i = 2; i <= NF; i++) if ($i == k) c = i }
		/^Udp: [0-9]/ { print $c }' /proc/net/snmp
}
# By name: the seventh field of the Udp line is SndbufErrors.
check "no UDP checksum errors at the callee" \
	test "$(snmp4 InCsumErrors b)/$(snmp4 InErrors b)" = 0/0

# --- UDP checksum 0 stays 0 -----------------------------------------------------
recv_in b $B:5000 50 5000 --from $R_B:30002
$IP netns exec a tlk send $A:4000 $R_A:30000 50 --nocsum
check "checksum-0 packets arrive" wait $RPID

# --- a local socket sender (checksum offloaded: CHECKSUM_PARTIAL) ---------------
$IP netns exec b rtpsink -b $B:5000 -f $R_B:30002 -S 0x1000 -e 200 -t 20 -i 5 >/tmp/sink.out 2>&1 &
SPID=$!
wait_for 5 sh -c "$IP netns exec b netstat -uln | grep -q ':5000 '"
$IP netns exec a rtpgen -b $A:4000 -d $R_A:30000 -c 200 -r 400 >/dev/null
check "rtpsink: 200 RTP packets intact, from the relay's address" wait $SPID
cat /tmp/sink.out
check "counters: 350 packets" test "$(field packets "$(entry)")" = 350

# --- no conntrack entry for relayed packets, on input or output ------------------
ctcount() { cat /proc/sys/net/netfilter/nf_conntrack_count; }
if /sbin/nft add table ip tlct && /sbin/nft add chain ip tlct pre '{ type filter hook prerouting priority 0; }' &&
	/sbin/nft add rule ip tlct pre ct state new counter; then
	C0=$(ctcount)
	recv_in b $B:5000 50 5000 --from $R_B:30002
	$IP netns exec a tlk send $A:4000 $R_A:30000 50
	check "with conntrack active: 50 relayed" wait $RPID
	check "no conntrack entry made by them (count stays $C0)" test "$(ctcount)" = "$C0"
	$IP netns exec a tlk send $A:4000 $R_A:39999 1
	check "control: a packet to a port without an entry is tracked" \
		wait_for 5 sh -c "[ \$(cat /proc/sys/net/netfilter/nf_conntrack_count) -gt $C0 ]"
	/sbin/nft delete table ip tlct
else
	nok "nft table with a conntrack rule"
fi
check "counters: 400 packets" test "$(field packets "$(entry)")" = 400

# --- strict source: a third party's packets go to the local socket, not on ----
recv_in - $R_A:30000 20 5000 --from $X:4000
$IP netns exec b tlk recv $B:5000 1 1500 >/tmp/leak.out 2>&1 &
LPID=$!
$IP netns exec x tlk send $X:4000 $R_A:30000 20
check "pass mode: the relay's own socket got the third party's 20 packets" wait $RPID
if wait $LPID; then nok "strict source: the callee got a third party's packet"; else ok "strict source: nothing reached the callee"; fi
E=$(entry)
check "mismatch 20, packets still 400" test "$(field mismatch "$E")/$(field packets "$E")" = 20/400

check "replace: drop on mismatch, DSCP 46" \
	tlk add $R_A:30000 $R_B:30002 $B:5000 --src $A:4000 --rtp --drop --dscp 46
recv_in - $R_A:30000 1 1500
$IP netns exec x tlk send $X:4000 $R_A:30000 20
if wait $RPID; then nok "drop mode: a packet reached the local socket"; else ok "drop mode: nothing reached the local socket"; fi
E=$(entry)
echo "$E"
check "replace kept the counters: mismatch 40, packets 400, dscp 46" \
	test "$(field mismatch "$E")/$(field packets "$E")/$(field dscp "$E")" = 40/400/46
recv_in b $B:5000 20 5000 --from $R_B:30002 --dscp 46
$IP netns exec a tlk send $A:4000 $R_A:30000 20
check "DSCP 46 on the wire" wait $RPID
cat $RX

# --- IPv6, and translation between IPv4 and IPv6 (tl_ipv6.c) --------------------
# The same veths carry IPv6: a fd01::2, b fd02::2, x fd03::2, the relay
# ::1 of each. IPv6 forwarding stays off: only the module moves packets.
R6_A=fd01::1 R6_B=fd02::1 A6=fd01::2 B6=fd02::2 X6=fd03::2
# snmp6 NAME NS: a counter of /proc/net/snmp6 in namespace NS
snmp6() { $IP netns exec "$2" awk -v k="$1" '$1 == k { print $2 }' /proc/net/snmp6; }
v6up() {
	$IP -n "$1" addr add "$2/64" dev "$3" nodad && $IP -n "$1" route add default via "$4" &&
	$IP addr add "$4/64" dev "$5" nodad
}
if v6up a $A6 a0 $R6_A r1 && v6up b $B6 b0 $R6_B r2 && v6up x $X6 x0 fd03::1 r3; then
	ok "IPv6 on the veths"
else
	nok "IPv6 on the veths"
fi
entry6() { tlk get "[$R6_A]:${1:-30100}"; }
check "IPv6 entry: caller -> callee (strict source, RTP tracking)" \
	tlk add "[$R6_A]:30100" "[$R6_B]:30102" "[$B6]:5000" --src "[$A6]:4000" --rtp --cookie 8
recv_in b "[$B6]:5000" 100 5000 --from "[$R6_B]:30102"
$IP netns exec a tlk send "[$A6]:4000" "[$R6_A]:30100" 100 --gap-at 50
check "IPv6: the callee got 100 packets from the relay's B address and port" wait $RPID
cat $RX
E=$(entry6)
echo "$E"
check "IPv6 get: family 10, the key, the expected source and the output" \
	test "$(field family "$E")/$(field local "$E")/$(field src "$E")/$(field odst "$E")" = "10/$R6_A/$A6/$B6"
check "IPv6 counters: 100 packets, 16000 bytes; RTP seq 100, 1 lost" \
	test "$(field packets "$E")/$(field bytes "$E")/$(field seq "$E")/$(field lost "$E")" = 100/16000/100/1
check "IPv6: no UDP checksum errors at the callee (checksums verified there)" \
	test "$(snmp6 Udp6InCsumErrors b)/$(snmp6 Udp6InErrors b)" = 0/0
# UDP checksum 0 is invalid in IPv6: not relayed, the stack drops it
$IP netns exec b tlk recv "[$B6]:5000" 1 1500 >/tmp/leak.out 2>&1 &
LPID=$!
$IP netns exec a tlk send "[$A6]:4000" "[$R6_A]:30100" 10 --nocsum
if wait $LPID; then nok "IPv6 checksum 0: relayed"; else ok "IPv6 checksum 0: not relayed"; fi
check "IPv6 counters: still 100 packets" test "$(field packets "$(entry6)")" = 100
# a local socket sender (checksum offloaded: CHECKSUM_PARTIAL)
$IP netns exec b rtpsink -b "[$B6]:5000" -f "[$R6_B]:30102" -S 0x1000 -e 100 -t 20 -i 5 >/tmp/sink.out 2>&1 &
SPID=$!
wait_for 5 sh -c "$IP netns exec b netstat -uln | grep -q ':5000 '"
$IP netns exec a rtpgen -b "[$A6]:4000" -d "[$R6_A]:30100" -c 100 -r 400 >/dev/null
check "IPv6 rtpsink: 100 RTP packets intact (offloaded checksum)" wait $SPID
cat /tmp/sink.out
# strict source: pass mode, then drop mode with DSCP
recv_in - "[$R6_A]:30100" 20 5000 --from "[$X6]:4000"
$IP netns exec b tlk recv "[$B6]:5000" 1 1500 >/tmp/leak.out 2>&1 &
LPID=$!
$IP netns exec x tlk send "[$X6]:4000" "[$R6_A]:30100" 20
check "IPv6 pass mode: the relay's socket got the spoofed 20" wait $RPID
if wait $LPID; then nok "IPv6 strict source: the callee got a third party's packet"; else ok "IPv6 strict source: nothing reached the callee"; fi
check "IPv6 replace: drop on mismatch, DSCP 46" \
	tlk add "[$R6_A]:30100" "[$R6_B]:30102" "[$B6]:5000" --src "[$A6]:4000" --rtp --drop --dscp 46
recv_in - "[$R6_A]:30100" 1 1500
$IP netns exec x tlk send "[$X6]:4000" "[$R6_A]:30100" 20
if wait $RPID; then nok "IPv6 drop mode: a spoofed packet reached the socket"; else ok "IPv6 drop mode: a spoofed source is dropped"; fi
recv_in b "[$B6]:5000" 20 5000 --from "[$R6_B]:30102" --dscp 46
$IP netns exec a tlk send "[$A6]:4000" "[$R6_A]:30100" 20
check "IPv6: DSCP 46 on the wire" wait $RPID
E=$(entry6)
echo "$E"
check "IPv6 counters: packets 220, mismatch 40 (replace kept them)" \
	test "$(field packets "$E")/$(field mismatch "$E")" = 220/40

# IPv4 caller -> IPv6 callee, and back: the module translates
check "4->6 entry: 10.1.0.1:30200 -> [$R6_B]:30202 -> [$B6]:5002" \
	tlk add $R_A:30200 "[$R6_B]:30202" "[$B6]:5002" --src $A:4000 --rtp
check "6->4 entry: [$R6_B]:30202 -> $R_A:30200 -> $A:4000" \
	tlk add "[$R6_B]:30202" $R_A:30200 $A:4000 --src "[$B6]:5002"
recv_in b "[$B6]:5002" 50 5000 --from "[$R6_B]:30202"
$IP netns exec a tlk send $A:4000 $R_A:30200 50
check "4->6: 50 IPv4 packets arrive as IPv6 from the relay's IPv6 address" wait $RPID
recv_in b "[$B6]:5002" 20 5000 --from "[$R6_B]:30202"
$IP netns exec a tlk send $A:4000 $R_A:30200 20 --nocsum
check "4->6: IPv4 checksum 0 arrives with a computed IPv6 checksum" wait $RPID
$IP netns exec b rtpsink -b "[$B6]:5002" -f "[$R6_B]:30202" -S 0x3000 -e 100 -t 20 -i 5 >/tmp/sink.out 2>&1 &
SPID=$!
wait_for 5 sh -c "$IP netns exec b netstat -uln | grep -q ':5002 '"
$IP netns exec a rtpgen -b $A:4000 -d $R_A:30200 -S 0x3000 -c 100 -r 400 >/dev/null
check "4->6: 100 RTP packets from a socket (offloaded checksum) intact" wait $SPID
cat /tmp/sink.out
check "4->6: no checksum errors at the IPv6 callee" \
	test "$(snmp6 Udp6InCsumErrors b)/$(snmp6 Udp6InErrors b)" = 0/0
recv_in a $A:4000 30 5000 --from $R_A:30200
$IP netns exec b tlk send "[$B6]:5002" "[$R6_B]:30202" 30
check "6->4: 30 IPv6 packets arrive as IPv4 from the relay's IPv4 address" wait $RPID
$IP netns exec a rtpsink -b $A:4000 -f $R_A:30200 -S 0x4000 -e 100 -t 20 -i 5 >/tmp/sink.out 2>&1 &
SPID=$!
wait_for 5 sh -c "$IP netns exec a netstat -uln | grep -q ':4000 '"
$IP netns exec b rtpgen -b "[$B6]:5002" -d "[$R6_B]:30202" -S 0x4000 -c 100 -r 400 >/dev/null
check "6->4: 100 RTP packets from a socket (offloaded checksum) intact" wait $SPID
check "6->4: no checksum errors at the IPv4 caller" \
	test "$(snmp4 InCsumErrors a)/$(snmp4 InErrors a)" = 0/0
recv_in - "[$R6_B]:30202" 5 5000 --from "[$X6]:4000"
$IP netns exec x tlk send "[$X6]:4000" "[$R6_B]:30202" 5
check "6->4 strict source: a spoofed source reaches the relay's socket only" wait $RPID
E4=$(tlk get $R_A:30200)
E6=$(tlk get "[$R6_B]:30202")
echo "$E4"
echo "$E6"
check "4->6 counters: 170 packets; 6->4: 130 packets, 5 mismatches" \
	test "$(field packets "$E4")/$(field packets "$E6")/$(field mismatch "$E6")" = 170/130/5
check "4->6 get: output family IPv6 shown" test "$(field odst "$E4")" = $B6
check "IPv6 entries deleted" sh -c "tlk del '[$R6_A]:30100' && tlk del $R_A:30200 && tlk del '[$R6_B]:30202'"

# --- namespaces: each has its own table ----------------------------------------
check "namespace a sees an empty table" sh -c "[ \"\$($IP netns exec a tlk count)\" = 0 ]"
check "an entry in namespace x" $IP netns exec x tlk add 10.3.0.2:7000 10.3.0.2:7002 10.3.0.1:7004
check "root table unchanged (1 entry)" test "$(tlk count)" = 1

# --- replace under traffic while other entries churn ----------------------------
tlk add $R_A:30000 $R_B:30002 $B:5000 --src $A:4000 --rtp
P0=$(field packets "$(entry)")
$IP netns exec b rtpsink -b $B:5000 -f $R_B:30002 -S 0x2000 -e 600 -t 30 -i 8 >/tmp/sink.out 2>&1 &
SPID=$!
wait_for 5 sh -c "$IP netns exec b netstat -uln | grep -q ':5000 '"
$IP netns exec a rtpgen -b $A:4000 -d $R_A:30000 -S 0x2000 -c 600 -r 200 >/dev/null &
GPID=$!
i=0
while kill -0 $GPID 2>/dev/null && [ $i -lt 40 ]; do
	if [ $((i % 2)) = 0 ]; then flags=--rtp; else flags=; fi
	tlk add $R_A:30000 $R_B:30002 $B:5000 --src $A:4000 $flags || nok "replace $i"
	tlk churn 1 200 $R_A:31000 $R_B:30002 $B:5000 || nok "churn round $i"
	i=$((i + 1))
done
wait $GPID
check "600 packets arrived intact through $i replaces and churn rounds" wait $SPID
cat /tmp/sink.out
check "packets counter carried over every replace (+600)" \
	test "$(field packets "$(entry)")" = $((P0 + 600))

# --- 10,000 entries ----------------------------------------------------------------
t0=$(cut -d' ' -f1 /proc/uptime)
check "bulk add 10000 entries" tlk bulk add 10000 $R_A:40000 $R_B:30002 $B:5000
t1=$(cut -d' ' -f1 /proc/uptime)
echo "10000 adds in $(awk "BEGIN { print $t1 - $t0 }")s (emulated CPU)"
check "dump counts 10001 entries" test "$(tlk count)" = 10001
recv_in b $B:5000 10 5000 --from $R_B:30002
$IP netns exec x tlk send $X:4000 $R_A:49999 10
check "the last of them forwards (any source)" wait $RPID
check "bulk delete 10000 entries" tlk bulk del 10000 $R_A:40000 $R_B:30002 $B:5000
check "1 entry left" test "$(tlk count)" = 1

# --- bad netlink input, unprivileged caller -------------------------------------
check "malformed requests are all refused" tlk bad
check "unprivileged add is refused (EPERM)" sh -c \
	"tlk -u add $R_A:30010 $R_B:30002 $B:5000 2>&1 | grep -q 'Operation not permitted'"
check "unprivileged dump is refused (EPERM)" sh -c \
	"tlk -u count 2>&1 | grep -q 'Operation not permitted'"
check "still 1 entry" test "$(tlk count)" = 1

# --- a namespace of a user namespace: its own, smaller limit ---------------------
# (unshare -r -n: the netns is owned by a new user namespace, whose root
# passes GENL_UNS_ADMIN_PERM; any user could do this.)
check "userns_max_entries is 4096" test "$(cat /sys/module/trunkline/parameters/userns_max_entries)" = 4096
L=127.0.0.1	# the only local address of a fresh namespace
unshare -r -n sh -c "$IP link set lo up; tlk bulk add 5000 $L:40000 $L:30002 $L:5000 >/tmp/uns.out 2>&1; tlk count" >/tmp/uns.count 2>&1
echo "userns netns: $(tail -n 2 /tmp/uns.count | tr '\n' ' ') / $(tail -n 2 /tmp/uns.out | tr '\n' ' ')"
check "user-namespace netns: 5000 adds stop at 4096 (table full)" sh -c \
	"[ \"\$(tail -n 1 /tmp/uns.count)\" = 4096 ] && grep -q 'table full\|No space' /tmp/uns.out"
echo 100 >/sys/module/trunkline/parameters/userns_max_entries
unshare -r -n sh -c "$IP link set lo up; tlk bulk add 200 $L:40000 $L:30002 $L:5000 >/dev/null 2>&1; tlk count" >/tmp/uns.count 2>&1
check "user-namespace netns: the limit follows the parameter (100)" test "$(tail -n 1 /tmp/uns.count)" = 100
echo 4096 >/sys/module/trunkline/parameters/userns_max_entries
check "the initial namespace is not limited by it: 5000 adds" tlk bulk add 5000 $R_A:40000 $R_B:30002 $B:5000
check "5001 entries" test "$(tlk count)" = 5001
check "bulk delete 5000" tlk bulk del 5000 $R_A:40000 $R_B:30002 $B:5000

# --- no leak: what 10,000 entries took is given back, every time -------------
check "flush removes 1 entry" sh -c "tlk flush | grep -q count=1"
sleep 1		# RCU callbacks free the entries
MEM1=$(mem_snapshot)
tlk bulk add 10000 $R_A:40000 $R_B:30002 $B:5000 && tlk bulk del 10000 $R_A:40000 $R_B:30002 $B:5000
sleep 1
MEM2=$(mem_snapshot)
echo "kmalloc objects / percpu kB: start $MEM0, after a 10k cycle $MEM1, after another $MEM2"
check "kmalloc objects: within 3000 of the start after 10000 entries came and went" \
	test $(( ${MEM1% *} - ${MEM0% *} )) -lt 3000
check "kmalloc objects: a second 10k cycle adds under 500" \
	test $(( ${MEM2% *} - ${MEM1% *} )) -lt 500
# kmemleak, where the kernel has it (Debian's has not: the counters above)
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan >/sys/kernel/debug/kmemleak
	check "kmemleak: nothing from trunkline" sh -c \
		"! grep -q trunkline /sys/kernel/debug/kmemleak"
else
	echo "kmemleak: not in this kernel; the slab and percpu counters stand in"
fi
# the per-CPU allocator keeps freed chunks populated: compare cycle to cycle
check "percpu: a second 10k cycle adds under 64 kB (a leak would be ~640)" \
	test $(( ${MEM2#* } - ${MEM1#* } )) -lt 64

# --- relayd's kmod backend across a restart (adopt), on loopback -----------------
check "kadopt: a relayd installs a stream, then dies" kadopt install
check "kadopt: 4 entries stayed" test "$(tlk count)" = 4
check "kadopt: the stream moved (caller elsewhere): adopt refuses" kadopt moved
tlk send 127.0.0.1:4000 127.0.0.1:42000 10 >/dev/null	# while no relayd runs
(sleep 1; tlk send 127.0.0.1:4000 127.0.0.1:42000 7 >/dev/null) &
check "kadopt: a new relayd adopts the same stream; counts the 10 packets before and the 7 after" kadopt adopt 17
wait
check "kadopt: adopt (the same 17 packets), remove; then adopt refuses" kadopt remove 17
check "kadopt: no entry left" test "$(tlk count)" = 0
# the same for an IPv6 stream (-6: ::1) and a translated one (-x: leg A
# on 127.0.0.1, leg B on ::1)
for m in 6 x; do
	if [ $m = 6 ]; then L='[::1]'; else L=127.0.0.1; fi
	check "kadopt -$m: a relayd installs a stream, then dies" kadopt -$m install
	check "kadopt -$m: 4 entries stayed" test "$(tlk count)" = 4
	tlk dump
	check "kadopt -$m: the stream moved: adopt refuses" kadopt -$m moved
	tlk send $L:4000 $L:42000 10 >/dev/null
	(sleep 1; tlk send $L:4000 $L:42000 7 >/dev/null) &
	check "kadopt -$m: a new relayd adopts it; counts the 10 packets before and the 7 after" kadopt -$m adopt 17
	wait
	check "kadopt -$m: adopt, remove; then adopt refuses" kadopt -$m remove 17
	check "kadopt -$m: no entry left" test "$(tlk count)" = 0
done
# batched installs: 40 streams in one call (three sends of at most 16),
# one of them refused by the kernel; each stream gets its own result
check "kadopt batch: 40 streams in one call, stream 20 alone refused (EADDRNOTAVAIL)" kadopt batch 40 20
check "kadopt batch: the other 39 streams' 78 entries are in, none of stream 20's" test "$(tlk count)" = 78
check "kadopt unbatch: removed" kadopt unbatch 40
check "kadopt unbatch: no entry left" test "$(tlk count)" = 0

# --- rmmod with entries present --------------------------------------------------
tlk bulk add 1000 $R_A:40000 $R_B:30002 $B:5000
$IP netns exec b tlk add 10.2.0.2:7000 10.2.0.2:7002 10.2.0.1:7004
$IP netns exec x rtpgen -d $R_A:40010 -c 200 -r 400 >/dev/null 2>&1 &
GPID=$!
sleep 0.2
check "rmmod with 1000 + 2 entries and traffic" rmmod trunkline
wait $GPID
check "module gone" sh -c "! grep -q '^trunkline ' /proc/modules"
check "ip netns del x after rmmod" $IP netns del x
check "reload: the table starts empty" sh -c 'insmod /test/trunkline.ko && [ "$(tlk count)" = 0 ]'
check "an entry, then netns b deleted with it (per-netns exit)" sh -c \
	"$IP netns exec b tlk add 10.2.0.2:7000 10.2.0.2:7002 10.2.0.1:7004 && $IP netns del b"
check "rmmod" rmmod trunkline
# a tiny run of bench/kmod (loads and unloads the module itself; one
# round, plain forwarding and 50 entries, 100 packets/s for 1 s; not
# timing-sensitive: it checks that every path delivered, not the figures)
check "bench smoke: plain forwarding and the module forward" sh -c \
	"sh /test/bench.sh 1 100 1 50 200 'plain k1k' | tee /tmp/bench.out | grep -q '^BENCH-DONE'"
cat /tmp/bench.out
sleep 0.5
check "kernel log: no warning, BUG or oops" kernel_clean
tk_done
