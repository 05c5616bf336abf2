#!/bin/bash
# exclusive
#
# relay_control_preauth.sh: hostile TCP control clients cannot lock the
# controller out. 300 idle TCP connections (more than the 256 connection
# slots) leave the Unix socket working, the ones past the pre-auth cap are
# closed at once and the rest at the auth deadline; a wrong secret closes
# the connection at once (relayd's descriptor is gone while the client
# still holds its end), so guessers cannot hold slots either.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

SECRET=correct-horse-battery-staple
HOST=$TL_RELAY_A_IP
PORT=2224
CLIENT=$(dirname "$0")/../lib/ctlclient.py
tl_init
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".control.tcp = {listen: \"$HOST:$PORT\", secret: \"$SECRET\"}"
tl_relayd_start "$TL_TMP/relayd.json"

relay_sockets() {
	find "/proc/$TL_RELAYD_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l
}

# 1. 300 idle TCP connections, held open by the attacker (from its own ns).
tl_spawn idle "$TL_NS_ATTACKER" python3 "$CLIENT" idle "$HOST" "$PORT" 300 12
tl_wait_for 10 "300 idle TCP connections opened" grep -q opened "$TL_TMP/idle.out"
# While they are open, the Unix socket still serves requests.
for i in 1 2 3; do
	tl_rpc_ok '{"cmd":"ping"}' "Unix ping $i with 300 idle TCP connections open"
done
OUT=$(tl_ctl --json stats) || tl_fail "Unix stats with 300 idle TCP connections open"
tl_assert_json "$OUT" '.ok == true' "stats over the Unix socket"
# An authenticated TCP client gets in as well (a slot of the pre-auth pool
# frees at the deadline at the latest).
OUT=$(ip netns exec "$TL_NS_RELAY" timeout 15 "$TL_CTL" -t 12 -s "$HOST:$PORT" -k "$SECRET" --json ping) ||
	tl_fail "authenticated TCP ping while idle connections are open"
tl_assert_json "$OUT" '.pong == true' "TCP ping with the secret"
# Every idle connection is closed by the server: past the cap at once, the
# others at the auth deadline (5 s).
tl_expect_ok idle 20 "idle client"
tl_assert_json "$(tl_summary idle)" '.closed == 300' "the server closed all 300 idle connections"
grep -q "no auth in time" "$TL_TMP/relayd.log" || tl_fail "no 'no auth in time' in the relay log"

# 2. A wrong secret: the server closes its end at once, even though the
# client keeps its own end open and sends more.
BASE=$(relay_sockets)
ip netns exec "$TL_NS_ATTACKER" bash -c "
	exec 3<>/dev/tcp/$HOST/$PORT || exit 2
	echo '{\"id\":1,\"cmd\":\"auth\",\"secret\":\"guess\"}' >&3
	head -n 1 <&3 >'$TL_TMP/wrong.reply'
	touch '$TL_TMP/wrong.done'
	sleep 10
" &
TL_PIDS+=($!)
tl_wait_for 5 "the wrong-secret reply" test -e "$TL_TMP/wrong.done"
tl_assert_json "$(cat "$TL_TMP/wrong.reply")" '.ok == false and .error.code == "unauthorized"' "wrong secret refused"
tl_wait_for 1 "relayd to drop the wrong-secret connection (sockets back to $BASE)" \
	test "$(relay_sockets)" -le "$BASE"

# 3. 300 wrong-secret connections that stay open do not lock the Unix socket.
ip netns exec "$TL_NS_ATTACKER" python3 - "$HOST" "$PORT" >"$TL_TMP/guess.out" <<'PY' &
import socket, sys, time, json
host, port = sys.argv[1], int(sys.argv[2])
held = []
for i in range(300):
    c = socket.create_connection((host, port), timeout=5)
    c.sendall(b'{"id":1,"cmd":"auth","secret":"guess"}\n')
    held.append(c)
print(json.dumps({"sent": len(held)}), flush=True)
time.sleep(8)
PY
TL_PIDS+=($!)
tl_wait_for 10 "300 wrong-secret connections" grep -q sent "$TL_TMP/guess.out"
tl_rpc_ok '{"cmd":"ping"}' "Unix ping with 300 wrong-secret connections held open"

tl_relayd_stop
tl_pass
