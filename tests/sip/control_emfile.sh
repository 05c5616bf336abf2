#!/bin/bash
#
# control_emfile.sh: a daemon out of file descriptors does not spin on its
# control socket. For the controller and then relayd: RLIMIT_NOFILE is
# lowered (prlimit) to a few above what the daemon holds, a client opens
# and holds 40 control connections (the daemon runs out: accept says
# EMFILE while connections wait), and the daemon's CPU time over 3 s
# (utime+stime in /proc/PID/stat) stays under 0.3 s: it is 0 when the
# loop sleeps, while a spinning loop takes what a loaded machine gives it
# (63-69 ticks on a busy 2-core host). The shortage is logged once; once
# the client closes its connections, a new request is answered again.
. "$(dirname "$0")/../lib/sip.sh"
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
command -v prlimit >/dev/null 2>&1 || tl_skip "prlimit not installed"
sip_init
# Idle control connections stay for the test (idle_timeout 60, both).
sip_relayd_start '.control.idle_timeout = 60'
sip_controller_start '.control.idle_timeout = 60'

cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# hold NAME SOCK N: N connections held until $TL_TMP/NAME.go exists.
cat >"$TL_TMP/hold.py" <<'PY'
import json, os, socket, sys, time
path, n, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
held = []
for _ in range(n):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.setblocking(False)
    try:
        c.connect(path)
    except (BlockingIOError, ConnectionRefusedError):
        c.close()
        continue
    held.append(c)
print(json.dumps({"opened": len(held)}), flush=True)
limit = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < limit:
    time.sleep(0.05)
for c in held:
    c.close()
PY
hold() {
	tl_spawn "$1" - python3 "$TL_TMP/hold.py" "$2" "$3" "$TL_TMP/$1.go"
}

# starve NAME PID SOCK LOG: the check for one daemon.
starve() {
	local name=$1 pid=$2 sock=$3 log=$4 nfd t0 t1
	nfd=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
	prlimit --pid "$pid" --nofile=$((nfd + 6)):$((nfd + 6)) ||
		tl_fail "prlimit on $name"
	hold "$name" "$sock" 40
	tl_wait_for 10 "$name's client to open its connections" grep -q opened "$TL_TMP/$name.out"
	tl_wait_for 5 "$name to run out of descriptors" grep -q "closing new connections at once" "$log"
	t0=$(cpu_ticks "$pid")
	sleep 3	# the measurement window, not a wait for a condition
	t1=$(cpu_ticks "$pid")
	tl_log "$name: $((t1 - t0)) ticks of CPU in 3 s out of descriptors"
	[ $((t1 - t0)) -lt 30 ] ||
		tl_fail "$name spun out of descriptors: $((t1 - t0)) ticks of CPU in 3 s"
	[ "$(grep -c "closing new connections at once" "$log")" = 1 ] ||
		tl_fail "$name logged the shortage more than once"
	touch "$TL_TMP/$name.go"
	tl_expect_ok "$name" 10 "$name's client"
}

starve controller "$SIP_CTL_PID" "$SIP_CTL_SOCK" "$TL_TMP/controller.log"
tl_wait_for 10 "the controller to answer status again" sip_ctl --json status
grep -q "control: accepting connections again" "$TL_TMP/controller.log" ||
	tl_fail "the controller did not log that it accepts again"
tl_assert_json "$(sip_ctl --json status)" '.control.shed >= 1' "status.control.shed counts the connections closed at once"

starve relayd "$TL_RELAYD_PID" "$TL_SOCK" "$TL_TMP/relayd.log"
tl_wait_for 10 "relayd to answer ping again" tl_ping
grep -q "control: accepting connections again" "$TL_TMP/relayd.log" ||
	tl_fail "relayd did not log that it accepts again"
tl_rpc_ok '{"cmd":"stats"}' "relayd stats"
tl_assert_json "$TL_REPLY" '.control.shed >= 1' "stats.control.shed counts the connections closed at once"

sip_controller_stop
tl_relayd_stop
tl_pass
