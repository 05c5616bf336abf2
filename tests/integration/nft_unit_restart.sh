#!/bin/bash
# exclusive
#
# nft_unit_restart.sh: relayd crashes under its shipped systemd unit
# (etc/trunkline-relayd.service.in) with Restart=on-failure, and its calls
# survive: an active one, a held one and a silent one.
#   - the unit file passes `systemd-analyze verify` (when systemd-analyze
#     is installed; the test says so when it is not);
#   - the relay runs with the shipped config's paths (etc/relayd.json:
#     journal and control socket) under a fake root, and the test does to
#     the unit's directories what systemd does to them (below);
#   - after kill -9 and the restart, the three calls are restored from the
#     journal (c1 active and c2 held, both in the kernel: their flows are
#     adopted; c3 silent, one-way: only the caller ever sent, so it stayed
#     in userspace), media still flows, and the held and the silent call
#     are not ended (they were created longer ago than the setup timeout:
#     a restored leg that had seen packets must not look like one that
#     never did; the kernel's counters hide that for adopted streams, not
#     for c3).
#
# The emulation of systemd (it is not PID 1 here, so the unit cannot run):
# systemd.exec(5) says RuntimeDirectory= directories are created (mode
# RuntimeDirectoryMode=) when the unit starts and removed when it stops,
# also on the way to an automatic restart (Restart=), unless
# RuntimeDirectoryPreserve= is `yes`, or `restart` for restarts only;
# StateDirectory= directories are never removed. The test reads those
# keys from the unit file and applies exactly that to $ROOT/run/DIR and
# $ROOT/var/lib/DIR around each start and stop: so a unit that loses
# /run/trunkline on a crash fails here (the journal is gone, the new relay
# restores nothing and the calls' kernel flows are removed).
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

# The setup timeout the restored calls must outlive. Each call's media
# starts right after its answer, so a loaded host cannot end one by
# setup before the test sends anything.
SETUP=5
UNIT_IN=$TL_ROOT/etc/trunkline-relayd.service.in
SHIPPED_CONF=$TL_ROOT/etc/relayd.json
tl_init
[ -r "$UNIT_IN" ] || tl_fail "no $UNIT_IN"

# ---- the unit file ----

UNIT=$TL_TMP/trunkline-relayd.service
sed "s|@SBINDIR@|$(dirname "$TL_RELAYD")|g" "$UNIT_IN" >"$UNIT"
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify --man=no "$UNIT" >"$TL_TMP/verify.out" 2>&1 ||
		tl_fail "systemd-analyze verify $UNIT_IN: $(cat "$TL_TMP/verify.out")"
	[ -s "$TL_TMP/verify.out" ] && tl_fail "systemd-analyze verify warns: $(cat "$TL_TMP/verify.out")"
	tl_log "systemd-analyze verify: the unit is clean"
else
	tl_log "systemd-analyze not installed: unit not verified (apt-get install systemd)"
fi

# unit_values KEY: the values of KEY= in [Service], space separated.
unit_values() {
	awk -v key="$1" '
		/^\[/ { service = ($0 == "[Service]"); next }
		service && index($0, key "=") == 1 { print substr($0, length(key) + 2) }
	' "$UNIT" | tr '\n' ' '
}
RUNTIME_DIRS=$(unit_values RuntimeDirectory)
STATE_DIRS=$(unit_values StateDirectory)
PRESERVE=$(unit_values RuntimeDirectoryPreserve | awk '{ print $NF }')
MODE=$(unit_values RuntimeDirectoryMode | awk '{ print $NF }')
grep -q '^Restart=on-failure' "$UNIT" || tl_fail "the unit does not restart relayd on failure"
tl_log "unit: RuntimeDirectory='$RUNTIME_DIRS' Preserve='${PRESERVE:-no}' StateDirectory='$STATE_DIRS'"

ROOT=$TL_TMP/root
# unit_start: what systemd does before ExecStart.
unit_start() {
	local d
	for d in $RUNTIME_DIRS; do install -d -m "${MODE:-0755}" "$ROOT/run/$d"; done
	for d in $STATE_DIRS; do install -d -m 0755 "$ROOT/var/lib/$d"; done
}
# unit_stopped HOW: what systemd does once the main process is gone; HOW
# is "restart" (Restart=on-failure after a crash) or "stop".
unit_stopped() {
	local d
	case "${PRESERVE:-no}:$1" in
	yes:* | restart:restart) return 0 ;;
	esac
	for d in $RUNTIME_DIRS; do rm -rf "${ROOT:?}/run/$d"; done
	tl_log "emulated systemd: RuntimeDirectory removed ($1)"
}

# ---- the relay, with the shipped paths under $ROOT ----

JOURNAL=$ROOT$(jq -r .journal "$SHIPPED_CONF")
SOCK=$ROOT$(jq -r .control.socket "$SHIPPED_CONF")
case $JOURNAL in "$ROOT/run/"* | "$ROOT/var/lib/"*) ;; *)
	tl_fail "the shipped journal $JOURNAL is in no directory the unit provides" ;;
esac

tl_netns_setup
tl_nft_prepare
tl_relayd_config "$TL_TMP/relayd.json" ".backend = \"nft\" | .timeouts.setup = $SETUP |
	.timeouts.inactivity = 30 | .timeouts.hold = 3600 | .journal = \"$JOURNAL\" | .control.socket = \"$SOCK\""
TL_SOCK=$SOCK
unit_start
tl_relayd_start "$TL_TMP/relayd.json"

# Three calls: c1 active (caller 4000, callee 5000), c2 to be held (4100,
# 5100), c3 silent after the caller's first packets (4200, 5200).
# c1 and c2 only need to latch and enter the kernel: a burst each way at
# the same time (a packet may be lost around the switch to the kernel,
# which nft_forwarding.sh covers); c1's run after the restart is checked
# packet by packet. c3: the caller sends a little, the callee never. Each
# burst starts as soon as its call is answered (before the next call is
# made), well within the setup timeout.
# latch C BOTH: the latching burst of call C (the callee's too if BOTH=1).
latch() {
	local c=$1 av=A$1 bv=B$1
	tl_gen "latch_ctx$c" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$((4000 + 100 * (c - 1)))" -d "${!av}" -R -c 40 -r 200
	[ "$2" = 1 ] || return 0
	tl_gen "latch_etx$c" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:$((5000 + 100 * (c - 1)))" -d "${!bv}" -R -c 40 -r 200
}
T_CREATED=${EPOCHREALTIME}
tl_offer_answer c1 1
A1=$TL_A_LIST B1=$TL_B_LIST
latch 1 1
for c in 2 3; do
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"c$c\",\"from_tag\":\"ft-c$c\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":$((4000 + 100 * (c - 1)))}]}" "offer c$c"
	printf -v "B$c" '%s' "$TL_RELAY_B_IP:$(jq '.media[0].rtp_port' <<<"$TL_REPLY")"
	tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"c$c\",\"from_tag\":\"ft-c$c\",\"to_tag\":\"tt-c$c\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":$((5000 + 100 * (c - 1)))}]}" "answer c$c"
	printf -v "A$c" '%s' "$TL_RELAY_A_IP:$(jq '.media[0].rtp_port' <<<"$TL_REPLY")"
	latch "$c" $((c == 2))
done

# traffic TAG CALL SEQ COUNT: both directions of one call, every packet checked.
traffic() {
	local tag=$1 c=$2 seq=$3 count=$4 av=A$2 bv=B$2
	local a=${!av} b=${!bv}
	tl_sink "${tag}_crx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$((4000 + 100 * (c - 1)))" -R -f "$a" -S 0x200$c \
		--start-seq "$seq" -e "$count" --allow-reorder -l 0.2 -t 20
	tl_sink "${tag}_erx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:$((5000 + 100 * (c - 1)))" -R -f "$b" -S 0x100$c \
		--start-seq "$seq" -e "$count" --allow-reorder -l 0.2 -t 20
	tl_gen "${tag}_ctx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$((4000 + 100 * (c - 1)))" -d "$a" -R -S 0x100$c \
		--start-seq "$seq" -c "$count" -r 200
	tl_gen "${tag}_etx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:$((5000 + 100 * (c - 1)))" -d "$b" -R -S 0x200$c \
		--start-seq "$seq" -c "$count" -r 200
	local x
	for x in ctx etx; do tl_expect_ok "${tag}_$x" 20 "$tag: sender $x"; done
	for x in erx crx; do tl_expect_ok "${tag}_$x" 20 "$tag: call c$c, sink $x: every packet, from the relay's ports"; done
}
for x in ctx1 etx1 ctx2 etx2 ctx3; do tl_expect_ok "latch_$x" 10 "latching burst $x"; done
all_in_kernel() {
	local c
	for c in c1 c2; do
		tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$c\"}" && jq -e '.streams[0].path == "nft"' <<<"$TL_REPLY" >/dev/null || return 1
	done
}
tl_wait_for 15 "c1 and c2 in the kernel" all_in_kernel
tl_rpc_ok '{"cmd":"query","call_id":"c3"}' "query c3"
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].latched != null and .streams[0].legs[1].latched == null and .streams[0].path == "userspace"' \
	"c3: the caller's leg latched, the callee's not: in userspace"

# c2 goes on hold: the caller's re-INVITE says sendonly, the callee recvonly.
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"c2\",\"from_tag\":\"ft-c2\",\"to_tag\":\"tt-c2\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4100,\"direction\":\"sendonly\"}]}" "hold c2 (offer)"
tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"c2\",\"from_tag\":\"ft-c2\",\"to_tag\":\"tt-c2\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":5100,\"direction\":\"recvonly\"}]}" "hold c2 (answer)"

# The calls must be older than the setup timeout when relayd dies: the
# bug ends restored calls at once when they are.
older_than_setup() {
	awk -v a="$T_CREATED" -v b="${EPOCHREALTIME}" -v s="$SETUP" 'BEGIN { exit !(b - a > s + 0.5) }'
}
tl_wait_for $((SETUP + 5)) "the calls are older than the setup timeout" older_than_setup
tl_rpc_ok '{"cmd":"stats"}' "stats before the crash"
tl_assert_json "$TL_REPLY" '.sessions == 3 and .sessions_timed_out == 0' "three calls up before the crash"

# ---- the crash and the automatic restart ----

kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
tl_log "relayd killed with SIGKILL; Restart=on-failure starts it again"
unit_stopped restart
mv "$TL_TMP/relayd.log" "$TL_TMP/relayd-first.log"
unit_start
T_RESTART=${EPOCHREALTIME}
tl_relayd_start "$TL_TMP/relayd.json"
grep -q "journal: restored 3 sessions (3 streams: 2 adopted in the kernel" "$TL_TMP/relayd.log" ||
	tl_fail "the restarted relay did not restore the three calls and adopt c1's and c2's flows: $(grep -E 'journal|nft:' "$TL_TMP/relayd.log" | head -5)"

# Past the setup timeout and many ticks after the restart: nothing ended.
past_setup() {
	awk -v a="$T_RESTART" -v b="${EPOCHREALTIME}" -v s="$SETUP" 'BEGIN { exit !(b - a > s + 1) }'
}
tl_wait_for $((SETUP + 5)) "the setup timeout has passed since the restart" past_setup
for c in 2 1 3; do
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"c$c\"}" ||
		tl_fail "call c$c ended after the restart: $(grep 'ended by the relay' "$TL_TMP/relayd.log")"
	tl_assert_json "$TL_REPLY" '.state == "answered"' "c$c restored, answered"
	[ $c = 3 ] || tl_assert_json "$TL_REPLY" '.streams[0].path == "nft"' "c$c restored in the kernel"
done
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].stats.last_seen > 0 and .streams[0].legs[0].latched != null' \
	"c3: the caller's leg restored latched, with its last_seen"
tl_rpc_ok '{"cmd":"query","call_id":"c2"}' "query c2"
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].direction == "sendonly"' "c2 still on hold"
tl_rpc_ok '{"cmd":"stats"}' "stats after the restart"
tl_assert_json "$TL_REPLY" '.sessions == 3 and .sessions_timed_out == 0' "no call ended after the restart"

# The active call still carries media both ways through the kernel.
traffic p2c1 1 40 200
tl_rpc_ok '{"cmd":"query","call_id":"c1"}' "query c1"
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].stats.packets >= 240 and .streams[0].legs[1].stats.packets >= 240' \
	"c1: the kernel's counters cover both runs"

# A clean stop ends every call: the journal is empty; then systemd's part.
tl_relayd_stop
[ -s "$JOURNAL/journal.log" ] && tl_fail "journal not empty after a clean stop"
unit_stopped stop
tl_nft_table_exists && tl_fail "table left after a clean stop"
tl_pass
