#!/bin/bash
# run-also: asan
#
# control_hostile.sh: hostile clients of the controller's control socket
# cannot lock trunklinectl out or hold the daemon's resources. 500 idle
# connections (more than control.max_pending and the 64 connection slots)
# and one client sending a 10 MB line without newline, all held open:
# trunklinectl status still answers at once, the 10 MB line gets
# line_too_long and its connection is closed, and every idle connection
# is closed by the server (the oldest at once when the pending pool is
# full, the rest at control.idle_timeout, 2 s here).
. "$(dirname "$0")/../lib/sip.sh"
. "$(dirname "$0")/../lib/ctl_hostile.sh"
ctl_hostile_init
sip_init
sip_relayd_start
sip_controller_start "$CTL_HOSTILE_LIMITS"

ctl_idle idle unixidle "$SIP_CTL_SOCK" 500 20
ctl_bigline big "$SIP_CTL_SOCK" 15
ctl_idle_ready idle opened

# trunklinectl gets in while they are held, every time, within 5 s.
for i in 1 2 3 4 5; do
	OUT=$(timeout 5 "$TL_CTL" -s "$SIP_CTL_SOCK" --json status) ||
		tl_fail "trunklinectl status $i with 500 idle connections held"
	tl_assert_json "$OUT" '.ok == true' "status $i"
done

ctl_bigline_refused big 20
ctl_idle_closed idle 25 500 "$TL_TMP/controller.log" "no request in time"
OUT=$(sip_ctl --json status) || tl_fail "status after the attack"
tl_assert_json "$OUT" '.control.connections == 1 and .control.pending == 0 and .control.evicted >= 400 and .control.timed_out >= 1 and .control.too_long == 1' \
	"status.control counts the attack and holds only this connection"
sip_controller_stop
tl_relayd_stop
tl_pass
