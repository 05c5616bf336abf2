# shellcheck shell=bash
#
# ctl_hostile.sh: hostile clients of a daemon's control socket (relayd's
# or the controller's, through tests/lib/ctlclient.py), started and judged
# the same way for both: integration/relay_control_hostile.sh,
# sip/control_hostile.sh and sip/control_idle.sh. Source it after
# netns.sh or sip.sh, then call ctl_hostile_init.

# The limits these tests give the daemon: 2 s for a connection's first
# request, 16 connections waiting for one (past that the oldest is
# evicted). A jq filter for tl_relayd_config or sip_controller_start.
# shellcheck disable=SC2034 # used by the scripts that source this
CTL_HOSTILE_LIMITS='.control.idle_timeout = 2 | .control.max_pending = 16'

ctl_hostile_init() {
	command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
	CTL_CLIENT=$TL_ROOT/tests/lib/ctlclient.py
}

# ctl_idle NAME MODE SOCK N SECS: ctlclient.py MODE (unixidle: connect and
# say nothing; sentidle: one ping, then nothing) holding N connections to
# SOCK for SECS, spawned as NAME.
ctl_idle() {
	tl_spawn "$1" - python3 "$CTL_CLIENT" "$2" "$3" "$4" "$5"
}

# ctl_idle_ready NAME MARK: wait (30 s) until NAME printed MARK (opened:
# every connection is open; answered: every ping was answered).
ctl_idle_ready() {
	tl_wait_for 30 "the idle clients ($1): $2" grep -q "$2" "$TL_TMP/$1.out"
}

# ctl_idle_closed NAME TIMEOUT N LOG PATTERN: NAME ended within TIMEOUT s,
# the daemon closed all N of its connections, and its LOG says why
# (PATTERN).
ctl_idle_closed() {
	local name=$1 timeout=$2 n=$3 log=$4 pattern=$5 closed
	tl_expect_ok "$name" "$timeout" "idle clients ($name)"
	tl_log "idle clients: $(tl_summary "$name")"
	closed=$(tl_summary "$name" | jq .closed)
	[ "$closed" = "$n" ] || tl_fail "the daemon closed $closed of the $n idle connections"
	grep -q "$pattern" "$log" || tl_fail "no '$pattern' in $log"
}

# ctl_bigline NAME SOCK SECS: a client sending a 10 MB line without a
# newline (as far as the daemon reads), for at most SECS.
ctl_bigline() {
	tl_spawn "$1" - python3 "$CTL_CLIENT" bigline "$2" 10000000 "$3"
}

# ctl_bigline_refused NAME TIMEOUT: the 10 MB line got line_too_long and
# its connection was closed.
ctl_bigline_refused() {
	tl_expect_ok "$1" "$2" "10 MB line client"
	tl_log "10 MB client: $(tl_summary "$1" | jq -c '{sent, closed, replies}')"
	tl_assert_json "$(tl_summary "$1")" '.closed == true and .replies[0].ok == false and .replies[0].error.code == "line_too_long"' \
		"the 10 MB line gets line_too_long and the connection is closed"
}
