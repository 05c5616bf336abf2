#!/bin/bash
# run-also: build
#
# relay_control_hostile.sh: hostile local clients of relayd's Unix control
# socket cannot lock the controller out or hold the relay's memory. 500
# idle connections (more than control.max_pending and the 256 connection
# slots) and one client sending a 10 MB line without newline, all held
# open: stats and offer are still answered at once, every time; the 10 MB
# line gets line_too_long and its connection is closed; relayd's RSS does
# not grow by the 10 MB; every idle connection is closed by the relay (the
# oldest at once when the waiting pool is full, the rest at
# control.idle_timeout, 2 s here); stats.control counts all of it.
#
# On the parent (no waiting pool, no deadline on the Unix socket) the idle
# clients took the 256 slots for good: trunklinectl was accepted and closed
# at once ("stats 1 with 500 idle connections held" failed).
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=../lib/ctl_hostile.sh
. "$(dirname "$0")/../lib/ctl_hostile.sh"

tl_init
ctl_hostile_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" \
	"$CTL_HOSTILE_LIMITS | .timeouts.setup = 600 | .log_level = \"info\""
tl_relayd_start "$TL_TMP/relayd.json"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$TL_RELAYD_PID/status"; }
RSS0=$(rss)

ctl_idle idle unixidle "$TL_SOCK" 500 30
ctl_bigline big "$TL_SOCK" 20
ctl_idle_ready idle opened

# A normal client gets in while they are held, every time, within 5 s.
for i in 1 2 3 4 5; do
	OUT=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json stats) ||
		tl_fail "stats $i with 500 idle connections held"
	tl_assert_json "$OUT" '.ok == true' "stats $i"
	OUT=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json raw \
		"{\"cmd\":\"offer\",\"call_id\":\"hostile-$i\",\"from_tag\":\"f$i\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}") ||
		tl_fail "offer $i with 500 idle connections held"
	tl_assert_json "${OUT##*$'\n'}" '.ok == true and (.media | length) == 1' "offer $i"
done

ctl_bigline_refused big 30
grep -q "line over 65536 bytes; closing it" "$TL_TMP/relayd.log" ||
	tl_fail "no 'line over 65536 bytes' in the relay log"
RSS1=$(rss)
tl_log "relayd RSS ${RSS0} KiB before, ${RSS1} KiB after the attack"
[ $((RSS1 - RSS0)) -lt $((5 * 1024)) ] ||
	tl_fail "relayd RSS grew by $(((RSS1 - RSS0) / 1024)) MiB (a 10 MB line must not be buffered)"

ctl_idle_closed idle 40 500 "$TL_TMP/relayd.log" "no request in time"
grep -q "connections without a request (control.max_pending)" "$TL_TMP/relayd.log" ||
	tl_fail "no eviction logged"
tl_rpc_ok '{"cmd":"stats"}' "stats after the attack"
tl_assert_json "$TL_REPLY" '.control.connections == 1 and .control.pending == 0 and .control.evicted >= 400 and .control.timed_out >= 1 and .control.too_long == 1 and .control.shed == 0' \
	"stats.control counts the attack and holds only this connection"
tl_log "stats.control: $(jq -c .control <<<"$TL_REPLY")"
tl_relayd_stop
tl_pass
