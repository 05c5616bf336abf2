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
CLIENT=$TL_ROOT/tests/lib/ctlclient.py
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
sip_init
sip_relayd_start
sip_controller_start '.control.idle_timeout = 2 | .control.max_pending = 16'

tl_spawn idle - python3 "$CLIENT" unixidle "$SIP_CTL_SOCK" 500 20
tl_spawn big - python3 "$CLIENT" bigline "$SIP_CTL_SOCK" 10000000 15
tl_wait_for 20 "500 idle connections opened" grep -q opened "$TL_TMP/idle.out"

# trunklinectl gets in while they are held, every time, within 5 s.
for i in 1 2 3 4 5; do
	OUT=$(timeout 5 "$TL_CTL" -s "$SIP_CTL_SOCK" --json status) ||
		tl_fail "trunklinectl status $i with 500 idle connections held"
	tl_assert_json "$OUT" '.ok == true' "status $i"
done

tl_expect_ok big 20 "10 MB line client"
tl_assert_json "$(tl_summary big)" '.closed == true and .replies[0].ok == false and .replies[0].error.code == "line_too_long"' \
	"the 10 MB line gets line_too_long and the connection is closed"
tl_expect_ok idle 25 "idle client"
tl_assert_json "$(tl_summary idle)" '.closed == 500' "the server closed all 500 idle connections"
grep -q "no request in time" "$TL_TMP/controller.log" || tl_fail "no 'no request in time' in the controller log"
OUT=$(sip_ctl --json status) || tl_fail "status after the attack"
tl_assert_json "$OUT" '.control.connections == 1 and .control.pending == 0 and .control.evicted >= 400 and .control.timed_out >= 1 and .control.too_long == 1' \
	"status.control counts the attack and holds only this connection"
sip_controller_stop
tl_relayd_stop
tl_pass
