#!/bin/bash
#
# relayd.bash (runs in the qemu guest, with bash and jq copied in): the
# relay's integration scenario with trunkline.ko loaded, using the same
# helpers as tests/integration (tests/lib/netns.sh): caller, relay,
# callee and attacker namespaces; the module is per namespace, relayd
# runs in the relay namespace and picks the kmod backend by itself.
#   1. a call latches in userspace, then moves into the kernel: query says
#      path "kmod"; a burst with a third party sending to leg A arrives
#      complete and rewritten at both ends, relayd's own (userspace)
#      packet total stays flat while the legs' counters, read from the
#      kernel, grow by exactly the burst; the third party's packets are
#      passed to the socket and dropped there;
#   2. traffic in the kernel only, for longer than the inactivity timeout,
#      keeps the call alive; when it stops the timeout comes, and the
#      call's kernel entries go with it;
#   3. relayd removes its entries on a clean exit;
#   4. after kill -9 the entries stay and media keeps flowing;
#   5. rmmod with those entries present is clean.
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_relayd
# shellcheck source=../../lib/netns.sh
. /test/tests/lib/netns.sh

INACTIVITY=3
SIZE=172

insmod /test/trunkline.ko || tl_fail "insmod trunkline.ko"
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".timeouts.inactivity = $INACTIVITY | .timeouts.setup = 60"
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "kmod"' "hello: backend kmod chosen automatically"
tl_log "hello: $(jq -c '{backend, backend_reason}' <<<"$TL_REPLY")"

kentries() { ip netns exec "$TL_NS_RELAY" tlk count; }
query() { tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$1\"}" "query $1"; }
stat_packets() { tl_rpc_ok '{"cmd":"stats"}' "stats"; jq .packets <<<"$TL_REPLY"; }

# burst NAME COUNT START: RTP+RTCP both ways (RTCP every 10th); the sinks
# check every packet's source (the relay's ports), SSRC, sequence and
# payload. burst_end waits for all of it (and for NAME_att, if started).
# REORDER=--allow-reorder for a burst during which the stream moves into
# the kernel: kernel-forwarded packets may overtake those still queued on
# their way through relayd.
REORDER=
burst_start() {
	local name=$1 count=$2 start=$3 rtcp=$(($2 / 10))
	tl_sink "${name}_crx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -R -f "$TL_A_LIST" \
		-S 0x2000 --start-seq "$start" -e "$count" --expect-rtcp "$rtcp" -l 0.3 -t 20 $REORDER
	tl_sink "${name}_erx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_B_LIST" \
		-S 0x1000 --start-seq "$start" -e "$count" --expect-rtcp "$rtcp" -l 0.3 -t 20 $REORDER
	tl_gen "${name}_ctx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -R \
		--rtcp-every 10 -S 0x1000 --start-seq "$start" -c "$count" -r 200
	tl_gen "${name}_etx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -R \
		--rtcp-every 10 -S 0x2000 --start-seq "$start" -c "$count" -r 200
}
burst_end() {
	local name=$1
	if [ -n "${TL_PID[${name}_att]:-}" ]; then
		tl_expect_ok "${name}_att" 30 "$name: attacker's rtpgen"
	fi
	tl_expect_ok "${name}_ctx" 30 "$name: caller's rtpgen"
	tl_expect_ok "${name}_etx" 30 "$name: callee's rtpgen"
	tl_expect_ok "${name}_erx" 30 "$name: caller -> callee: every packet, from the relay's B ports, intact, nothing else"
	tl_expect_ok "${name}_crx" 30 "$name: callee -> caller: every packet, from the relay's A ports, intact"
}
burst() {
	burst_start "$@"
	burst_end "$1"
}

# bg_media NAME COUNT: both ends send in the background (no sinks), so a
# call latches and stays alive however slow the emulated machine is.
bg_media() {
	tl_gen "$1_c" "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -R -S 0x1000 -c "$2" -r 200
	tl_gen "$1_e" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -R -S 0x2000 -c "$2" -r 200
}
installed() { query "$CALL" && jq -e '.streams[0].path == "kmod"' <<<"$TL_REPLY"; }

# ---- 1+2. into the kernel; kernel-only media keeps the call; silence ends it --
# One continuous burst (6 s at 200 pps, twice the inactivity timeout): it
# latches in userspace, moves into the kernel, and goes on there. A third
# party sends to leg A meanwhile.
CALL=k1
COUNT=1200 ATT=60
tl_offer_answer "$CALL" 1
tl_spawn events - "$TL_CTL" -s "$TL_SOCK" --json events --count 1 --timeout 60
REORDER=--allow-reorder burst_start k1 "$COUNT" 0
tl_wait_for 10 "call $CALL on path kmod" installed
# the third party starts once the call is latched (before, the first
# sender would win the latch: that is symmetric RTP, not the kernel path)
tl_gen k1_att "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" \
	-d "$TL_RELAY_A_IP:${TL_A_PORTS[0]}" -S 0x6666 -c "$ATT" -r 60
tl_log "path: $(jq -c '.streams[0] | {path, path_reason}' <<<"$TL_REPLY")"
[ "$(kentries)" = 4 ] || tl_fail "expected 4 kernel entries (RTP+RTCP per leg), found $(kentries)"
U_MID=$(stat_packets)
burst_end k1
# Had the call timed out during the burst (kernel counters not seen), its
# entries and sockets would have gone and the sinks above would have
# missed packets. Its final counters come with the timeout event, which
# does not race with a slow (emulated, sanitized) relay.
U_END=$(stat_packets)
[ "$U_END" = "$U_MID" ] || tl_fail "relayd's userspace packet total moved from $U_MID to $U_END after the stream went into the kernel"
tl_reap events 30
[ "$TL_RC" = 0 ] || tl_fail "no timeout event after the media stopped (exit $TL_RC)"
EV=$(grep -m1 '"event"' "$TL_TMP/events.out")
tl_assert_json "$EV" ".event == \"timeout\" and .call_id == \"$CALL\" and .reason == \"inactivity\"" "timeout event for $CALL"
tl_assert_json "$EV" ".streams[0].path == \"kmod\"" "the stream was in the kernel to the end"
RTCP=$((COUNT / 10))
for leg in 0 1; do
	tl_assert_json "$EV" ".streams[0].legs[$leg].stats | .packets == $((COUNT + RTCP)) and .bytes == $((COUNT * SIZE + RTCP * 64)) and .lost == 0 and .last_seen > 0" \
		"leg $leg: $COUNT RTP + $RTCP RTCP counted (userspace before the install, kernel after)"
done
tl_assert_json "$EV" ".streams[0].legs[0].stats.drops == $ATT and .streams[0].legs[1].stats.drops == 0" \
	"strict source: the third party's $ATT packets were passed to leg A's socket and dropped"
[ "$(kentries)" = 0 ] || tl_fail "the timed-out call left $(kentries) kernel entries"
tl_log "$COUNT packets each way, $U_END of all through userspace (none after the install), $ATT foreign packets dropped"
tl_log "inactivity timeout once the kernel counters stopped, with the kernel's counts; entries removed"

# ---- 3. a clean exit removes the entries ----------------------------------------
CALL=k2
tl_offer_answer "$CALL" 1
bg_media k2 3000
tl_wait_for 10 "call $CALL on path kmod" installed
[ "$(kentries)" = 4 ] || tl_fail "call $CALL: expected 4 kernel entries"
tl_relayd_stop
[ "$(kentries)" = 0 ] || tl_fail "relayd exited cleanly but left $(kentries) kernel entries"
tl_kill_pid "${TL_PID[k2_c]}"; tl_kill_pid "${TL_PID[k2_e]}"
tl_log "clean exit removed the 4 entries"

# ---- 4. kill -9: the entries stay, media keeps flowing -----------------------------
tl_relayd_start "$TL_TMP/relayd.json"
CALL=k3
tl_offer_answer "$CALL" 1
bg_media k3 3000
tl_wait_for 10 "call $CALL on path kmod" installed
kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
tl_kill_pid "${TL_PID[k3_c]}"; tl_kill_pid "${TL_PID[k3_e]}"
[ "$(kentries)" = 4 ] || tl_fail "after kill -9 the entries should stay, found $(kentries)"
burst orphan 200 0
tl_log "relayd killed: its 4 entries stayed and relayed 200 RTP + 20 RTCP each way, in order"

# ---- 5. rmmod with the orphaned entries ------------------------------------------
rmmod trunkline || tl_fail "rmmod with entries present"
if dmesg | grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace'; then
	tl_fail "kernel log has a warning or oops"
fi
tl_pass
