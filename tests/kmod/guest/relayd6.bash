#!/bin/bash
#
# relayd6.bash (runs in the qemu guest): trunkline-relayd with the kmod
# backend and IPv6 (tests/lib/netns6.sh on the namespaces of netns.sh):
#   1. an IPv6 call (caller and callee on IPv6) and a bridged one (an IPv6
#      caller, an IPv4 callee: trunkline.ko translates) latch and enter
#      the kernel (query: path kmod, 4 entries each); then media both
#      ways arrives complete and intact (the sinks' kernels verify the
#      UDP checksums), from the relay's addresses of each side, while
#      relayd's sockets receive nothing (Udp and Udp6 InDatagrams flat);
#   2. strict source: a third IPv6 host sending to leg A of each call is
#      not forwarded; relayd drops and counts its packets;
#   3. kill -9: media keeps flowing; the restarted relayd adopts both
#      streams from its journal (query: path kmod, latched peers), and
#      counts on from the kernel's counters;
#   4. delete removes each call's entries; rmmod is clean.
# The inactivity timeout is long: on a loaded machine the emulated guest
# may take a minute between two phases, and nothing here tests it.
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_relayd6
# shellcheck source=../../lib/netns.sh
. /test/tests/lib/netns.sh
# shellcheck source=../../lib/netns6.sh
. /test/tests/lib/netns6.sh

insmod /test/trunkline.ko || tl_fail "insmod trunkline.ko"
tl_init
tl_netns_setup
tl_netns6_setup
tl_relayd_config "$TL_TMP/relayd.json" \
	".interfaces = [{name: \"caller6\", bind: \"$TL_RELAY_A6\"}, {name: \"callee6\", bind: \"$TL_RELAY_B6\"},
	  {name: \"callee\", bind: \"$TL_RELAY_B_IP\"}] | .timeouts.inactivity = 600 | .timeouts.setup = 600"
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "kmod"' "hello: backend kmod chosen automatically"

kentries() { ip netns exec "$TL_NS_RELAY" tlk count; }
query() { tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$1\"}" "query $1"; }
udp_in() {
	ip netns exec "$TL_NS_RELAY" awk '$1 == "Udp6InDatagrams" { print $2 }' /proc/net/snmp6
	ip netns exec "$TL_NS_RELAY" awk '/^Udp: [0-9]/ { print $2 }' /proc/net/snmp
}
ep() { case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac; }

# call CALL IFACE_B CALLER_PORT CALLEE_IP CALLEE_PORT: one audio stream from
# the IPv6 caller; sets <CALL>_A and <CALL>_B, the relay's endpoints.
call() {
	local c=$1 ifb=$2 cport=$3 eip=$4 eport=$5
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$c\",\"from_tag\":\"ft-$c\",\"interfaces\":[\"caller6\",\"$ifb\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER6\",\"rtp_port\":$cport}]}" "offer $c"
	printf -v "${c}_B" '%s' "$(ep "$(jq -r '.media[0].address' <<<"$TL_REPLY")" "$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")")"
	tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"$c\",\"from_tag\":\"ft-$c\",\"to_tag\":\"tt-$c\",\"media\":[{\"type\":\"audio\",\"address\":\"$eip\",\"rtp_port\":$eport}]}" "answer $c"
	printf -v "${c}_A" '%s' "$(ep "$(jq -r '.media[0].address' <<<"$TL_REPLY")" "$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")")"
}
call v6 callee6 4000 "$TL_CALLEE6" 5000
call br callee 4100 "$TL_CALLEE_IP" 5100
tl_log "v6: caller <-> $v6_A | $v6_B <-> callee; br: caller <-> $br_A | $br_B <-> callee (IPv4)"
case $br_B in "$TL_RELAY_B_IP":*) ;; *) tl_fail "bridged call: leg B not on IPv4: $br_B" ;; esac

# media NAME N SEQ: both calls, both ways, N packets from SEQ (200 pps);
# with SINK=1 each end checks every packet (source, SSRC, sequence, payload)
media() {
	local n=$1 tag=$2 seq=$3
	if [ "${SINK:-0}" = 1 ]; then
		tl_sink "${tag}v6e" "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -f "$v6_B" -S 0x1000 --start-seq "$seq" -e "$n" -l 0.3 -t 60
		tl_sink "${tag}v6c" "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -f "$v6_A" -S 0x2000 --start-seq "$seq" -e "$n" -l 0.3 -t 60
		tl_sink "${tag}bre" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5100" -f "$br_B" -S 0x3000 --start-seq "$seq" -e "$n" -l 0.3 -t 60
		tl_sink "${tag}brc" "$TL_NS_CALLER" -b "[$TL_CALLER6]:4100" -f "$br_A" -S 0x4000 --start-seq "$seq" -e "$n" -l 0.3 -t 60
	fi
	tl_gen "${tag}v6ct" "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -d "$v6_A" -S 0x1000 --start-seq "$seq" -c "$n" -r 200
	tl_gen "${tag}v6et" "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -d "$v6_B" -S 0x2000 --start-seq "$seq" -c "$n" -r 200
	tl_gen "${tag}brct" "$TL_NS_CALLER" -b "[$TL_CALLER6]:4100" -d "$br_A" -S 0x3000 --start-seq "$seq" -c "$n" -r 200
	tl_gen "${tag}bret" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5100" -d "$br_B" -S 0x4000 --start-seq "$seq" -c "$n" -r 200
}
media_end() {
	local tag=$1 t
	for t in v6ct v6et brct bret; do tl_expect_ok "$tag$t" 60 "$tag: rtpgen $t"; done
	if [ "${SINK:-0}" = 1 ]; then
		for t in v6e v6c bre brc; do
			tl_expect_ok "$tag$t" 60 "$tag: sink $t: every packet, intact, from the relay's address and port"
		done
	fi
}
in_kernel() { query "$1" && jq -e '.streams[0].path == "kmod"' <<<"$TL_REPLY"; }

# ---- 1. latch, into the kernel, then media through the kernel only ------------
N1=400
media "$N1" p1 0
tl_wait_for 60 "the IPv6 call on path kmod" in_kernel v6
tl_log "v6: $(jq -c '.streams[0] | {path, path_reason}' <<<"$TL_REPLY")"
tl_wait_for 60 "the bridged call on path kmod" in_kernel br
tl_log "br: $(jq -c '.streams[0] | {path, path_reason}' <<<"$TL_REPLY")"
media_end p1
[ "$(kentries)" = 8 ] || tl_fail "expected 8 kernel entries (4 per call), found $(kentries)"
ip netns exec "$TL_NS_RELAY" tlk dump
U0=$(udp_in)
N2=300
SINK=1 media "$N2" p2 "$N1"
SINK=1 media_end p2
U1=$(udp_in)
[ "$U0" = "$U1" ] || tl_fail "relayd's sockets received datagrams while both calls were in the kernel: $U0 -> $U1"
tl_log "IPv6 and IPv4<->IPv6 in the kernel: $((4 * N2)) packets delivered intact, none through relayd's sockets"
for c in v6 br; do
	query $c
	for leg in 0 1; do
		tl_assert_json "$TL_REPLY" ".streams[0].legs[$leg].stats.packets >= $N2" "$c leg $leg: the kernel's $N2 packets counted"
	done
done

# ---- 2. strict source: a third IPv6 host -----------------------------------------
INJ=30
query v6; D_V6=$(jq '.streams[0].legs[0].stats.drops' <<<"$TL_REPLY")
query br; D_BR=$(jq '.streams[0].legs[0].stats.drops' <<<"$TL_REPLY")
tl_sink p3v6e "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -f "$v6_B" -S 0x1000 -e 0 -i 1.5 -t 10
tl_sink p3bre "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5100" -f "$br_B" -S 0x3000 -e 0 -i 1.5 -t 10
tl_gen p3a "$TL_NS_ATTACKER" -b "[$TL_ATTACKER6]:4000" -d "$v6_A" -S 0x6666 -c "$INJ" -r 200
tl_gen p3b "$TL_NS_ATTACKER" -b "[$TL_ATTACKER6]:4100" -d "$br_A" -S 0x6667 -c "$INJ" -r 200
tl_expect_ok p3a 30 "attacker to the IPv6 call"
tl_expect_ok p3b 30 "attacker to the bridged call"
for s in p3v6e p3bre; do
	tl_reap $s 20
	tl_assert_json "$(tl_summary $s)" '.received == 0 and .unexpected == 0 and .bad_ssrc == 0' "$s: nothing of the attacker's forwarded"
done
dropped() {
	query v6 && jq -e ".streams[0].legs[0].stats.drops == $((D_V6 + INJ))" <<<"$TL_REPLY" &&
		query br && jq -e ".streams[0].legs[0].stats.drops == $((D_BR + INJ))" <<<"$TL_REPLY"
}
tl_wait_for 10 "relayd to drop the attacker's $INJ packets on each call" dropped
tl_log "strict source: $((2 * INJ)) spoofed IPv6 packets passed to relayd's sockets and dropped there"

# ---- 3. kill -9, media goes on; the restarted relayd adopts both -----------------
# What leg A's RTP entry of each call forwarded so far (the kernel's count).
kpackets() { ip netns exec "$TL_NS_RELAY" tlk get "$1" | tr ' ' '\n' | sed -n 's/^packets=//p'; }
N4=400
K_V6=$(kpackets "$v6_A")
K_BR=$(kpackets "$br_A")
kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
tl_log "relayd killed with SIGKILL"
[ "$(kentries)" = 8 ] || tl_fail "after kill -9: $(kentries) entries, want 8"
SINK=1 media "$N4" p4 $((N1 + N2))
sleep 0.5	# part of it passes with no relayd at all
mv "$TL_TMP/relayd.log" "$TL_TMP/relayd-first.log"
tl_relayd_start "$TL_TMP/relayd.json"
SINK=1 media_end p4
grep -q "journal: restored 2 sessions (2 streams: 2 adopted in the kernel" "$TL_TMP/relayd.log" ||
	tl_fail "the new relayd did not adopt both streams: $(grep -E 'journal|kmod' "$TL_TMP/relayd.log")"
for c in v6 br; do
	query $c
	tl_assert_json "$TL_REPLY" '.streams[0].path == "kmod" and (.streams[0].path_reason | test("adopted"))' "$c: adopted in the kernel"
done
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"[$TL_CALLER6]:4100\" and .streams[0].legs[1].latched == \"$TL_CALLEE_IP:5100\"" \
	"br: latched peers restored (IPv6 caller, IPv4 callee)"
[ "$(kpackets "$v6_A")/$(kpackets "$br_A")" = "$((K_V6 + N4))/$((K_BR + N4))" ] ||
	tl_fail "the kernel did not forward every packet across the restart: $(kpackets "$v6_A")/$(kpackets "$br_A"), want $((K_V6 + N4))/$((K_BR + N4))"
# The journal keeps the userspace counts; an adopted leg adds all its
# entries counted: at least the kernel's total.
counted() {
	query v6 && jq -e ".streams[0].legs[0].stats.packets >= $((K_V6 + N4))" <<<"$TL_REPLY" &&
		query br && jq -e ".streams[0].legs[0].stats.packets >= $((K_BR + N4))" <<<"$TL_REPLY"
}
tl_try_for 10 counted ||
	tl_fail "the adopted streams do not count the kernel's packets: $(jq -c '[.streams[0].legs[].stats.packets]' <<<"$TL_REPLY") (want >= $((K_V6 + N4)) / $((K_BR + N4)))"

[ "$(kentries)" = 8 ] || tl_fail "after adoption: $(kentries) entries, want 8"
tl_log "kill -9 and restart: $((4 * N4)) packets delivered, both streams adopted with their counters"

# ---- 4. delete removes the entries -------------------------------------------------
tl_rpc_ok '{"cmd":"delete","call_id":"v6"}' "delete v6"
[ "$(kentries)" = 4 ] || tl_fail "delete v6 left $(kentries) entries, want 4"
tl_rpc_ok '{"cmd":"delete","call_id":"br"}' "delete br"
[ "$(kentries)" = 0 ] || tl_fail "delete br left $(kentries) entries"
tl_relayd_stop
rmmod trunkline || tl_fail "rmmod"
if dmesg | grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace'; then
	tl_fail "kernel log has a warning or oops"
fi
tl_pass
