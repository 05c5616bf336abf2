#!/bin/bash
# exclusive
#
# nft_restart.sh: kill -9 relayd while two calls are in the kernel (nft).
#   - media keeps flowing, intact and rewritten, while relayd is dead and
#     while the new relayd starts (one sender runs across the restart);
#   - the new relayd finds both calls in its journal, re-binds their ports
#     and adopts their kernel flows (a journal line torn by the crash is
#     skipped): query shows them on path "nft", with
#     latched peers, and relayd's sockets still see no media; the new
#     relayd binds and parks its free pairs, not the adopted ones;
#   - delete of one call removes its flows and conntrack entries; the
#     other ends by inactivity timeout, and its state goes too;
#   - a clean exit leaves no table, no entry of ours, an empty journal.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

# Long enough that no call ends by itself while a loaded host runs the
# checks between its media and the crash, or before the delete below.
INACTIVITY=10
tl_init
tl_netns_setup
tl_nft_prepare
tl_relayd_config "$TL_TMP/relayd.json" ".backend = \"nft\" | .timeouts.inactivity = $INACTIVITY | .timeouts.setup = 30"
tl_relayd_start "$TL_TMP/relayd.json"

# Call 1 uses the caller's 4000 and callee's 5000; call 2 4100 and 5100.
tl_offer_answer c1 1
A1=$TL_A_LIST B1=$TL_B_LIST
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"c2\",\"from_tag\":\"ft-c2\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4100}]}" "offer c2"
B2="$TL_RELAY_B_IP:$(jq '.media[0].rtp_port' <<<"$TL_REPLY")"
tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"c2\",\"from_tag\":\"ft-c2\",\"to_tag\":\"tt-c2\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":5100}]}" "answer c2"
A2="$TL_RELAY_A_IP:$(jq '.media[0].rtp_port' <<<"$TL_REPLY")"

# traffic NAME SEQ COUNT RATE: both calls, both directions, checked.
traffic_start() {
	local tag=$1 seq=$2 count=$3 rate=$4 c
	for c in 1 2; do
		local a b cp ep
		if [ $c = 1 ]; then a=$A1 b=$B1 cp=4000 ep=5000; else a=$A2 b=$B2 cp=4100 ep=5100; fi
		tl_sink "${tag}_crx$c" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$cp" -R -f "$a" -S 0x200$c --start-seq "$seq" \
			-e "$count" --allow-reorder -l 0.2 -t 30
		tl_sink "${tag}_erx$c" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:$ep" -R -f "$b" -S 0x100$c --start-seq "$seq" \
			-e "$count" --allow-reorder -l 0.2 -t 30
		tl_gen "${tag}_ctx$c" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$cp" -d "$a" -R -S 0x100$c --start-seq "$seq" \
			-c "$count" -r "$rate"
		tl_gen "${tag}_etx$c" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:$ep" -d "$b" -R -S 0x200$c --start-seq "$seq" \
			-c "$count" -r "$rate"
	done
}
traffic_check() {
	local tag=$1 what=$2 c x
	for c in 1 2; do
		for x in ctx etx; do tl_expect_ok "${tag}_$x$c" 30 "$what: sender ${tag}_$x$c"; done
		for x in erx crx; do tl_expect_ok "${tag}_$x$c" 30 "$what: call c$c, sink ${tag}_$x$c: every packet, from the relay's ports"; done
	done
}

# Phase 1: latch and enter the kernel.
traffic_start p1 0 300 300
traffic_check p1 "before the crash"
both_in_kernel() {
	local c
	for c in c1 c2; do
		tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$c\"}" && jq -e '.streams[0].path == "nft"' <<<"$TL_REPLY" >/dev/null || return 1
	done
}
tl_wait_for 15 "both calls in the kernel" both_in_kernel
[ "$(tl_nft_flows)" = 8 ] || tl_fail "expected 8 dnat4 elements, got $(tl_nft_flows)"
[ "$(grep -c '"call_id"' "$TL_TMP/journal/journal.log")" -ge 2 ] || tl_fail "no session lines in $TL_TMP/journal/journal.log"

# Phase 2: kill -9; media goes on while relayd is dead and restarting.
kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
tl_log "relayd killed with SIGKILL"
# A write cut short by the crash: the torn last line must be skipped.
printf '{"v":1,"call_id":"torn-by-the-cr' >>"$TL_TMP/journal/journal.log"
tl_nft_table_exists || tl_fail "the table vanished with relayd"
UDP0=$(tl_udp_in)
traffic_start p2 300 1200 400
sleep 1		# a third of the traffic passes with no relayd at all
mv "$TL_TMP/relayd.log" "$TL_TMP/relayd-first.log"
tl_relayd_start "$TL_TMP/relayd.json"
# Listening from now: c1's timeout (c2 is deleted below, which sends no
# event) cannot come before the listener, however slow the checks are.
tl_spawn events - "$TL_CTL" -s "$TL_SOCK" --json events --count 1 --timeout 90
traffic_check p2 "across the kill -9 and the restart"
[ "$(tl_udp_in)" = "$UDP0" ] || tl_fail "$(($(tl_udp_in) - UDP0)) datagrams reached relayd's sockets during/after the restart"
tl_log "media flowed through the crash and the restart; 0 datagrams reached the sockets"
grep -q "journal: restored 2 sessions (2 streams: 2 adopted in the kernel" "$TL_TMP/relayd.log" ||
	tl_fail "the new relayd did not adopt both streams: $(grep journal "$TL_TMP/relayd.log")"
grep -q "journal.log:[0-9]*: not a session line (cut by a crash?); skipped" "$TL_TMP/relayd.log" ||
	tl_fail "the torn journal line was not reported: $(grep journal "$TL_TMP/relayd.log")"

for c in 1 2; do
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"c$c\"}" "query c$c after the restart"
	tl_assert_json "$TL_REPLY" ".state == \"answered\" and .to_tag == \"tt-c$c\" and .streams[0].path == \"nft\"" "c$c restored, in the kernel"
	tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:$((3900 + 100 * c))\" and .streams[0].legs[1].latched == \"$TL_CALLEE_IP:$((4900 + 100 * c))\"" \
		"c$c: latched peers restored"
	tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.packets >= 1500 and .streams[0].legs[1].stats.packets >= 1500" \
		"c$c: the kernel's counters (1500 packets per direction so far)"
done
[ "$(tl_nft_flows)" = 8 ] || tl_fail "expected 8 dnat4 elements after adoption, got $(tl_nft_flows)"

# The new relayd bound and parked every free pair at start (sockwarm.c),
# but not the adopted streams' ports: they stay the calls', with no
# socket (the kernel carries them).
warm_done() { tl_rpc '{"cmd":"stats"}' && jq -e '.ports_warming == 0' <<<"$TL_REPLY"; }
tl_wait_for 10 "the new relayd to bind its free pairs" warm_done
tl_assert_json "$TL_REPLY" '.sockets_parked == 192 and .sockets == 0 and .ports_free == 96' \
	"after the restart: the 96 free pairs parked, none of the 4 adopted legs' pairs"
for ap in "$A1" "$B1" "$A2" "$B2"; do
	for p in "${ap#*:}" $((${ap#*:} + 1)); do
		[ -z "$(ip netns exec "$TL_NS_RELAY" ss -Hlun "src ${ap%:*}:$p")" ] ||
			tl_fail "a socket is bound on ${ap%:*}:$p, an adopted stream's port: $(ip netns exec "$TL_NS_RELAY" ss -Hlunp "src ${ap%:*}:$p")"
	done
done

# Delete c2: its 4 flows and its conntrack entries go; c1 stays.
tl_rpc_ok '{"cmd":"delete","call_id":"c2"}' "delete c2"
[ "$(tl_nft_flows)" = 4 ] || tl_fail "expected 4 dnat4 elements after deleting c2, got $(tl_nft_flows)"
C2CT=$(ip netns exec "$TL_NS_RELAY" conntrack -L -p udp --orig-src "$TL_CALLER_IP" --orig-port-src 4100 2>/dev/null | grep -c udp)
[ "$C2CT" = 0 ] || tl_fail "$C2CT conntrack entries of c2 left after delete"

# c1 times out (no more media).
tl_reap events 90
[ "$TL_RC" = 0 ] || tl_fail "no timeout event for c1: $(cat "$TL_TMP/events.out" "$TL_TMP/events.err")"
EV=$(grep -m1 '"event"' "$TL_TMP/events.out")
tl_assert_json "$EV" '.event == "timeout" and .call_id == "c1" and .reason == "inactivity"' "c1 ended by inactivity"
[ "$(tl_nft_flows)" = 0 ] || tl_fail "dnat4 has $(tl_nft_flows) elements after c1's timeout"
[ "$(tl_ct_ours)" = 0 ] || tl_fail "$(tl_ct_ours) conntrack entries of ours after c1's timeout"

tl_relayd_stop
tl_nft_table_exists && tl_fail "table left after a clean exit"
[ -s "$TL_TMP/journal/journal.log" ] && tl_fail "journal not empty after a clean exit: $(head -c 300 "$TL_TMP/journal/journal.log")"
tl_pass
