#!/bin/bash
#
# nft_ipv6.sh: the nft backend carries IPv6 streams in the kernel (table
# ip6 trunkline), as it does IPv4 ones:
#   - an IPv6 caller and callee through relayd: the stream enters the
#     kernel (query path "nft"), RTP and RTCP arrive complete and intact
#     both ways, from the relay's IPv6 addresses and ports (full UDP
#     checksums: offload off);
#   - in the kernel, no datagram reaches relayd's sockets (Udp6
#     InDatagrams flat) while query counts every packet (conntrack acct);
#   - strict source: a third IPv6 host's packets are not forwarded, and
#     they match no NAT element and reach no socket (none is open while
#     the kernel carries the stream);
#   - IPv6 conntrack entries on relay ports made before relayd started
#     are deleted at start (the host's others are kept);
#   - kill -9 and restart: media goes on, the new relayd adopts the flows;
#   - delete removes the dnat6 elements and the conntrack entries; a
#     clean exit removes table ip6 trunkline.
# Without net.ipv6.conf.all.forwarding=1 the backend warns at start and
# IPv6 streams stay in userspace; IPv4 streams next to IPv6 ones still
# take the kernel path (table ip trunkline).
# And IPv4<->IPv6 bridging (an IPv6 leg and an IPv4 leg in one stream):
# conntrack NAT cannot translate between families, so the stream stays in
# userspace, says why (path_reason), and media still flows both ways.
#
# On the parent (IPv4-only nft backend) the stale IPv6 entry survives the
# start; past that check, the IPv6 stream stays in userspace ("the nft
# backend needs an IPv4 interface address") and the wait for path "nft"
# fails.
#
# run-also: build
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=../lib/netns6.sh
. "$(dirname "$0")/../lib/netns6.sh"

COUNT=1000	# per direction in phase 1 (2 s at 500/s): the switch is inside
EVERY=10
SIZE=172

tl_init
tl_netns_setup
tl_nft_prepare

tl_netns6_setup
tl_relayd_config "$TL_TMP/relayd.json" \
	".interfaces = [{name: \"caller6\", bind: \"$TL_RELAY_A6\"}, {name: \"callee6\", bind: \"$TL_RELAY_B6\"},
	  {name: \"caller\", bind: \"$TL_RELAY_A_IP\"}, {name: \"callee\", bind: \"$TL_RELAY_B_IP\"}]"
# Without IPv6 forwarding the backend still opens (IPv4 streams use it)
# and warns that IPv6 streams stay in userspace.
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv6.conf.all.forwarding=0
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"hello"}' "hello (no IPv6 forwarding)"
tl_assert_json "$TL_REPLY" '.backend == "nft"' "hello: nft backend without IPv6 forwarding"
grep -q "net.ipv6.conf.all.forwarding is 0: IPv6 streams stay in userspace" "$TL_TMP/relayd.log" ||
	tl_fail "no warning about IPv6 forwarding: $(grep nft "$TL_TMP/relayd.log")"
tl_relayd_stop
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv6.conf.all.forwarding=1

# Stale IPv6 conntrack entries on relay ports, made before relayd: the
# backend deletes them at start (and leaves one on another port alone).
ct6_stale() {
	ip netns exec "$TL_NS_RELAY" conntrack -L -f ipv6 -p udp 2>/dev/null | grep -c "dport=$1 "
}
ip netns exec "$TL_NS_RELAY" conntrack -I -s "$TL_CALLER6" -d "$TL_RELAY_A6" -p udp \
	--sport 4000 --dport 30000 -t 120 >/dev/null 2>&1 || tl_fail "conntrack -I (IPv6, relay port)"
ip netns exec "$TL_NS_RELAY" conntrack -I -s "$TL_CALLER6" -d "$TL_RELAY_A6" -p udp \
	--sport 4000 --dport 20000 -t 120 >/dev/null 2>&1 || tl_fail "conntrack -I (IPv6, other port)"
[ "$(ct6_stale 30000)" = 1 ] && [ "$(ct6_stale 20000)" = 1 ] || tl_fail "could not plant the IPv6 entries"
tl_relayd_start "$TL_TMP/relayd.json"
[ "$(ct6_stale 30000)" = 0 ] || tl_fail "a stale IPv6 conntrack entry on a relay port survived the start"
[ "$(ct6_stale 20000)" = 1 ] || tl_fail "the host's IPv6 entry on a non-relay port was deleted"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "nft"' "hello: nft backend active (auto)"

# offer_answer CALL IFACE_B CALLER_IP CALLEE_IP: one audio stream; sets
# A_PORT, B_PORT, A_ADDR, B_ADDR (the relay's side of each leg).
offer_answer() {
	local call=$1 ifb=$2 cip=$3 eip=$4
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"interfaces\":[\"caller6\",\"$ifb\"],\"media\":[{\"type\":\"audio\",\"address\":\"$cip\",\"rtp_port\":4000}]}" "offer $call"
	B_ADDR=$(jq -r '.media[0].address' <<<"$TL_REPLY")
	B_PORT=$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")
	tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"to_tag\":\"tt-$call\",\"media\":[{\"type\":\"audio\",\"address\":\"$eip\",\"rtp_port\":5000}]}" "answer $call"
	A_ADDR=$(jq -r '.media[0].address' <<<"$TL_REPLY")
	A_PORT=$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")
	tl_log "call $call: caller <-> $A_ADDR:$A_PORT | $B_ADDR:$B_PORT <-> callee"
}

# ---- IPv6 caller and callee: the kernel path
CALL=v6-1
offer_answer "$CALL" callee6 "$TL_CALLER6" "$TL_CALLEE6"
[ "$A_ADDR" = "$TL_RELAY_A6" ] && [ "$B_ADDR" = "$TL_RELAY_B6" ] ||
	tl_fail "relay addresses in the SDP replies: A $A_ADDR, B $B_ADDR (want $TL_RELAY_A6, $TL_RELAY_B6)"
A_EP=$(tl_ep "$A_ADDR" "$A_PORT")
B_EP=$(tl_ep "$B_ADDR" "$B_PORT")
RTCP=$((COUNT / EVERY))
tl_sink callee_rx "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -R -f "$B_EP" -S 0x1000 \
	-e "$COUNT" --expect-rtcp "$RTCP" -p 0 -s "$SIZE" --allow-reorder -l 0.3 -t 20
tl_sink caller_rx "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -R -f "$A_EP" -S 0x2000 \
	-e "$COUNT" --expect-rtcp "$RTCP" -p 8 -s "$SIZE" --allow-reorder -l 0.3 -t 20
tl_gen caller_tx "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -d "$A_EP" -R --rtcp-every "$EVERY" \
	-S 0x1000 -p 0 -s "$SIZE" -c "$COUNT" -r 500
tl_gen callee_tx "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -d "$B_EP" -R --rtcp-every "$EVERY" \
	-S 0x2000 -p 8 -s "$SIZE" -c "$COUNT" -r 500
in_kernel() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" && jq -e '.streams[0].path == "nft"' <<<"$TL_REPLY" >/dev/null
}
tl_try_for 10 in_kernel ||
	tl_fail "the IPv6 stream did not enter the kernel within 10s: $(jq -c '.streams[0] | {path, path_reason}' <<<"$TL_REPLY")"
tl_assert_json "$TL_REPLY" '.streams[0].path_reason | test("ip6 trunkline")' "query: path_reason names table ip6 trunkline"
ip netns exec "$TL_NS_RELAY" nft list table ip6 trunkline >/dev/null 2>&1 ||
	tl_fail "no table ip6 trunkline"
tl_expect_ok caller_tx 20 "caller's rtpgen"
tl_expect_ok callee_tx 20 "callee's rtpgen"
tl_expect_ok callee_rx 20 "IPv6 caller -> callee across the switch: every packet once, intact, from the relay's B address and ports"
tl_expect_ok caller_rx 20 "IPv6 callee -> caller across the switch: every packet once, intact, from the relay's A address and ports"
[ "$(tl_nft6_flows)" = 4 ] || tl_fail "expected 4 dnat6 elements (RTP, RTCP x 2 directions), got $(tl_nft6_flows)"

# Phase 2: in the kernel. relayd's sockets see nothing; the sinks see all.
N2=500
UDP0=$(tl_udp6_in)
tl_sink callee_rx2 "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -R -f "$B_EP" -S 0x1000 --start-seq "$COUNT" \
	-e "$N2" --expect-rtcp $((N2 / EVERY)) -p 0 -s "$SIZE" -l 0.3 -t 20
tl_sink caller_rx2 "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -R -f "$A_EP" -S 0x2000 --start-seq "$COUNT" \
	-e "$N2" --expect-rtcp $((N2 / EVERY)) -p 8 -s "$SIZE" -l 0.3 -t 20
tl_gen caller_tx2 "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -d "$A_EP" -R --rtcp-every "$EVERY" \
	-S 0x1000 --start-seq "$COUNT" -p 0 -s "$SIZE" -c "$N2" -r 1000
tl_gen callee_tx2 "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -d "$B_EP" -R --rtcp-every "$EVERY" \
	-S 0x2000 --start-seq "$COUNT" -p 8 -s "$SIZE" -c "$N2" -r 1000
for t in caller_tx2 callee_tx2; do tl_expect_ok "$t" 20 "$t"; done
tl_expect_ok callee_rx2 20 "IPv6 kernel path caller -> callee"
tl_expect_ok caller_rx2 20 "IPv6 kernel path callee -> caller"
UDP1=$(tl_udp6_in)
[ "$UDP1" = "$UDP0" ] || tl_fail "relayd's sockets received $((UDP1 - UDP0)) IPv6 datagrams while the stream was in the kernel"
tl_log "IPv6 kernel path: $((2 * (N2 + N2 / EVERY))) packets forwarded, 0 datagrams reached relayd's sockets"
TOTAL=$((COUNT + RTCP + N2 + N2 / EVERY))
counted() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e "[.streams[0].legs[].stats.packets] | add == 2 * $TOTAL" <<<"$TL_REPLY" >/dev/null
}
tl_try_for 5 counted ||
	tl_fail "query did not count all $((2 * TOTAL)) packets (userspace + conntrack): $(jq -c '[.streams[0].legs[].stats.packets]' <<<"$TL_REPLY")"
for leg in 0 1; do
	tl_assert_json "$TL_REPLY" ".streams[0].legs[$leg].stats.packets | (. - $TOTAL) * (. - $TOTAL) <= 1" \
		"query: leg $leg counted its $TOTAL packets (+-1 at the switch)"
done

# Phase 3: strict source. A third IPv6 host, and the caller from another
# port, send to leg A's RTP port: not forwarded, dropped by relayd.
INJ=40
DROPS0=$(jq '.streams[0].legs[0].stats.drops' <<<"$TL_REPLY")
tl_sink callee_rx3 "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -f "$B_EP" -S 0x1000 -e 0 -i 1.5 -t 10
tl_gen spoof1 "$TL_NS_ATTACKER" -b "[$TL_ATTACKER6]:4000" -d "$A_EP" -S 0x6666 -c "$INJ" -r 400
tl_gen spoof2 "$TL_NS_CALLER" -b "[$TL_CALLER6]:4100" -d "$A_EP" -S 0x7777 -c "$INJ" -r 400
tl_expect_ok spoof1 10 "spoofer 1"
tl_expect_ok spoof2 10 "spoofer 2"
tl_reap callee_rx3 10
R3=$(tl_summary callee_rx3)
tl_assert_json "$R3" '.received == 0 and .unexpected == 0 and .bad_ssrc == 0' "callee must receive none of the spoofed IPv6 packets"
# In the kernel the stream holds no sockets (legsock.c): the spoofed
# packets match no NAT element and reach no socket, so they are neither
# relayed nor counted.
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after the spoofers"
tl_assert_json "$TL_REPLY" ".streams[0].path == \"nft\" and .streams[0].legs[0].sockets == false and .streams[0].legs[0].stats.drops == $DROPS0" \
	"after the spoofers: still in the kernel, no sockets, nothing taken"
tl_log "spoofed: $((2 * INJ)) sent, 0 forwarded (strict source: no NAT element, no socket)"
[ "$(tl_ct_ours)" -ge 2 ] || tl_fail "expected our IPv6 conntrack entries (RTP, RTCP), found $(tl_ct_ours)"

# Phase 4: kill -9 and restart: media goes on through the kernel while
# relayd is dead; the new relayd adopts the IPv6 flows from table ip6.
N4=600
tl_sink callee_rx4 "$TL_NS_CALLEE" -b "[$TL_CALLEE6]:5000" -f "$B_EP" -S 0x1000 --start-seq $((COUNT + N2)) \
	-e "$N4" -p 0 -s "$SIZE" -l 0.3 -t 20
kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
tl_log "relayd killed with SIGKILL"
UDP0=$(tl_udp6_in)
tl_gen caller_tx4 "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -d "$A_EP" -S 0x1000 --start-seq $((COUNT + N2)) \
	-p 0 -s "$SIZE" -c "$N4" -r 300
sleep 0.5	# part of the traffic passes with no relayd at all
mv "$TL_TMP/relayd.log" "$TL_TMP/relayd-first.log"
tl_relayd_start "$TL_TMP/relayd.json"
tl_expect_ok caller_tx4 20 "caller's rtpgen across the restart"
tl_expect_ok callee_rx4 20 "IPv6 caller -> callee across kill -9 and restart: every packet, rewritten"
[ "$(tl_udp6_in)" = "$UDP0" ] || tl_fail "$(($(tl_udp6_in) - UDP0)) IPv6 datagrams reached relayd's sockets during/after the restart"
grep -q "journal: restored 1 sessions (1 streams: 1 adopted in the kernel" "$TL_TMP/relayd.log" ||
	tl_fail "the new relayd did not adopt the IPv6 stream: $(grep -E 'journal|nft' "$TL_TMP/relayd.log")"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query after the restart"
tl_assert_json "$TL_REPLY" ".streams[0].path == \"nft\" and .streams[0].legs[0].latched == \"[$TL_CALLER6]:4000\"" \
	"after the restart: the IPv6 stream is in the kernel, latched peer restored"
[ "$(tl_nft6_flows)" = 4 ] || tl_fail "expected 4 dnat6 elements after adoption, got $(tl_nft6_flows)"
TOTAL=$((TOTAL + N4))

tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\"}" "delete"
# After adoption the kernel's counts since the entries began are exact;
# the userspace part before the switch is the journal's, which may lag
# the last few packets relayed in userspace (as for IPv4).
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.packets | . >= $((TOTAL - COUNT - RTCP)) and . <= $TOTAL" \
	"delete: final counters (kernel counts since the entries began, + the journal's userspace counts)"
[ "$(tl_nft6_flows)" = 0 ] || tl_fail "dnat6 still has $(tl_nft6_flows) elements after delete"
[ "$(tl_ct_ours)" = 0 ] || tl_fail "$(tl_ct_ours) conntrack entries of ours left after delete"

# ---- IPv4 <-> IPv6 bridging: userspace, with the reason; media flows.
CALL=v64-1
offer_answer "$CALL" callee "$TL_CALLER6" "$TL_CALLEE_IP"
[ "$A_ADDR" = "$TL_RELAY_A6" ] && [ "$B_ADDR" = "$TL_RELAY_B_IP" ] ||
	tl_fail "bridging: relay addresses A $A_ADDR, B $B_ADDR (want $TL_RELAY_A6, $TL_RELAY_B_IP)"
A_EP=$(tl_ep "$A_ADDR" "$A_PORT")
B_EP=$(tl_ep "$B_ADDR" "$B_PORT")
NB=300
tl_sink callee_rxb "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$B_EP" -S 0x3000 -e "$NB" -p 0 -s "$SIZE" -l 0.3 -t 20
tl_sink caller_rxb "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -f "$A_EP" -S 0x4000 -e "$NB" -p 8 -s "$SIZE" -l 0.3 -t 20
tl_gen caller_txb "$TL_NS_CALLER" -b "[$TL_CALLER6]:4000" -d "$A_EP" -S 0x3000 -p 0 -s "$SIZE" -c "$NB" -r 300
tl_gen callee_txb "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$B_EP" -S 0x4000 -p 8 -s "$SIZE" -c "$NB" -r 300
for t in caller_txb callee_txb; do tl_expect_ok "$t" 20 "$t"; done
tl_expect_ok callee_rxb 20 "bridging IPv6 caller -> IPv4 callee: every packet, from the relay's IPv4 address"
tl_expect_ok caller_rxb 20 "bridging IPv4 callee -> IPv6 caller: every packet, from the relay's IPv6 address"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query (bridging)"
tl_assert_json "$TL_REPLY" '.streams[0].path == "userspace" and (.streams[0].path_reason | test("IPv4/IPv6 bridging"))' \
	"bridging: userspace path, and path_reason says why"
tl_assert_json "$TL_REPLY" "[.streams[0].legs[].stats.packets] | add == 2 * $NB" "bridging: query counted every packet"
tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\"}" "delete (bridging)"

# ---- IPv4 next to IPv6: with both tables, an IPv4 call still takes the
# kernel path (table ip trunkline).
CALL=v4-1
tl_offer_answer "$CALL" 1
N5=600
tl_sink callee_rx5 "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_B_LIST" -S 0x5000 -e "$N5" \
	--expect-rtcp $((N5 / EVERY)) -p 0 -s "$SIZE" --allow-reorder -l 0.3 -t 20
tl_sink caller_rx5 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -R -f "$TL_A_LIST" -S 0x6000 -e "$N5" \
	--expect-rtcp $((N5 / EVERY)) -p 8 -s "$SIZE" --allow-reorder -l 0.3 -t 20
tl_gen caller_tx5 "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -R --rtcp-every "$EVERY" \
	-S 0x5000 -p 0 -s "$SIZE" -c "$N5" -r 300
tl_gen callee_tx5 "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -R --rtcp-every "$EVERY" \
	-S 0x6000 -p 8 -s "$SIZE" -c "$N5" -r 300
tl_try_for 10 in_kernel ||
	tl_fail "the IPv4 stream did not enter the kernel next to the ip6 table: $(jq -c '.streams[0] | {path, path_reason}' <<<"$TL_REPLY")"
tl_assert_json "$TL_REPLY" '.streams[0].path_reason | test("table ip trunkline")' "IPv4 stream: path_reason names table ip trunkline"
for t in caller_tx5 callee_tx5; do tl_expect_ok "$t" 20 "$t"; done
tl_expect_ok callee_rx5 20 "IPv4 caller -> callee next to IPv6: every packet, intact"
tl_expect_ok caller_rx5 20 "IPv4 callee -> caller next to IPv6: every packet, intact"
[ "$(tl_nft_flows)" = 4 ] || tl_fail "expected 4 dnat4 elements, got $(tl_nft_flows)"
tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\"}" "delete (IPv4)"

tl_relayd_stop
ip netns exec "$TL_NS_RELAY" nft list table ip6 trunkline >/dev/null 2>&1 &&
	tl_fail "table ip6 trunkline left after a clean exit"
tl_nft_table_exists && tl_fail "table ip trunkline left after a clean exit"
[ "$(tl_ct_ours)" = 0 ] || tl_fail "$(tl_ct_ours) conntrack entries with our mark left after exit"
tl_pass
