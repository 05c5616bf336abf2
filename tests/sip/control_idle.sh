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
. "$(dirname "$0")/../lib/ctl_hostile.sh"
ctl_hostile_init
sip_init
sip_relayd_start
sip_controller_start "$CTL_HOSTILE_LIMITS | .control.established_timeout = 5"

ctl_idle idle sentidle "$SIP_CTL_SOCK" 64 25
ctl_idle_ready idle answered
tl_assert_json "$(head -n 1 "$TL_TMP/idle.out")" '.answered == 64' "each of the 64 got its ping answered"
OUT=$(sip_ctl --json status) || tl_fail "status while 64 idle clients hold the slots"
tl_log "while held: $(jq -c .control <<<"$OUT")"
tl_assert_json "$OUT" '.control.connections == 65 and .control.pending == 1' \
	"the 64 hold every main slot (this client is answered from the pending pool)"

ctl_idle_closed idle 40 64 "$TL_TMP/controller.log" "no request within control.established_timeout"

tl_spawn poll - python3 "$CTL_CLIENT" poll "$SIP_CTL_SOCK" 0.5 6
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
