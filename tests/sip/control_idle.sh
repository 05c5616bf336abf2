#!/bin/bash
# run-also: asan
#
# control_idle.sh: control clients that send one request each and then
# say nothing cannot hold the controller's 64 connection slots for good.
# 64 clients each send ping, read the answer and idle: while they hold the
# slots a newcomer is answered only from the pending pool; after
# control.established_timeout (5 s here) the controller closes all 64, and
# a new client that keeps asking (status every 0.5 s for 6 s, longer than
# both timeouts) is served in a main slot the whole time (pending == 0 in
# its own replies) and never cut.
#
# On the parent (no timeout after the first request) the 64 were never
# closed: "the controller closed 0 of the 64 idle connections in 25 s".
. "$(dirname "$0")/../lib/sip.sh"
CLIENT=$TL_ROOT/tests/lib/ctlclient.py
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
sip_init
sip_relayd_start
sip_controller_start '.control.idle_timeout = 2 | .control.max_pending = 16 | .control.established_timeout = 5'

tl_spawn idle - python3 "$CLIENT" sentidle "$SIP_CTL_SOCK" 64 25
tl_wait_for 30 "64 connections answered" grep -q answered "$TL_TMP/idle.out"
tl_assert_json "$(head -n 1 "$TL_TMP/idle.out")" '.answered == 64' "each of the 64 got its ping answered"
OUT=$(sip_ctl --json status) || tl_fail "status while 64 idle clients hold the slots"
tl_log "while held: $(jq -c .control <<<"$OUT")"
tl_assert_json "$OUT" '.control.connections == 65 and .control.pending == 1' \
	"the 64 hold every main slot (this client is answered from the pending pool)"

tl_expect_ok idle 40 "idle clients"
tl_log "idle clients: $(tl_summary idle)"
CLOSED=$(tl_summary idle | jq .closed)
[ "$CLOSED" = 64 ] || tl_fail "the controller closed $CLOSED of the 64 idle connections in 25 s"
grep -q "no request within control.established_timeout" "$TL_TMP/controller.log" ||
	tl_fail "no 'no request within control.established_timeout' in the controller log"

tl_spawn poll - python3 "$CLIENT" poll "$SIP_CTL_SOCK" 0.5 6
tl_expect_ok poll 30 "polling client"
tl_log "polling client: $(tl_summary poll)"
tl_assert_json "$(tl_summary poll)" '.closed == false and .sent >= 6 and .answered == .sent and .control.pending == 0' \
	"a client that keeps asking is served in a main slot and never cut"
OUT=$(sip_ctl --json status) || tl_fail "status at the end"
tl_assert_json "$OUT" '.control.idle_closed == 64 and .control.connections == 1' \
	"status.control.idle_closed counts the 64"
sip_controller_stop
tl_relayd_stop
tl_pass
