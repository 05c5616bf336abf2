#!/bin/bash
# run-also: build
#
# relay_control_noread.sh: control clients that send requests and never
# read their replies cannot make relayd hold memory without bound. Each
# connection has a cap of its own (4 MiB of replies); 20 of them, each
# staying just under it (offers of a call, again and again, with 60 kB
# ids that each reply echoes: about 3.5 MiB of replies due), would make
# the relay hold 70 MiB. All
# connections together hold at most 32 MiB (RELAYD_CTL_QUEUED_MAX): past
# it the connection holding the most is closed, with a log line that says
# why; a well-behaved client is still answered.
#
# On the parent (no global cap) relayd held every reply: stats has no
# control_queued_bytes, no connection is closed and (normal build) its
# RSS grows by about 70 MiB.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CLIENT=$(dirname "$0")/../lib/ctlclient.py
tl_init
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
N=20
BYTES=$((3500 * 1024))
CAP=$((32 << 20))
tl_netns_setup
# 21 calls of one stream (one interface); no call times out while the
# test runs
tl_relayd_config "$TL_TMP/relayd.json" \
	".interfaces = [{name: \"caller\", bind: \"$TL_RELAY_A_IP\"}] | .ports = {min: 30000, max: 30199} | .timeouts.setup = 600 | .log_level = \"info\""
tl_relayd_start "$TL_TMP/relayd.json"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$TL_RELAYD_PID/status"; }
RSS0=$(rss)

tl_spawn noread - python3 "$CLIENT" noread "$TL_SOCK" "$N" "$BYTES" "$TL_TMP/ready" "$TL_TMP/go" 120
tl_wait_for 150 "the non-reading clients to send everything" test -s "$TL_TMP/ready"
READY=$(cat "$TL_TMP/ready")
tl_log "non-reading clients: $READY"
tl_assert_json "$READY" '.unsent == 0' "the relay took every request"
RSS1=$(rss)
tl_log "relayd RSS ${RSS0} KiB before, ${RSS1} KiB with $N clients not reading"
case $TL_RELAYD in
*/asan/*) tl_log "RSS not asserted under ASan (its quarantine keeps freed buffers)" ;;
*)	[ $((RSS1 - RSS0)) -lt $((50 * 1024)) ] ||
		tl_fail "relayd RSS grew by $(((RSS1 - RSS0) / 1024)) MiB with $N clients not reading (cap 32 MiB)" ;;
esac

# While they are still connected: the relay holds at most the cap, and a
# client that reads is answered.
tl_rpc_ok '{"cmd":"stats"}' "stats while $N clients do not read"
tl_assert_json "$TL_REPLY" "(.control_queued_bytes | type) == \"number\" and .control_queued_bytes <= $CAP" \
	"unread replies of all connections within the cap"
tl_log "control_queued_bytes: $(jq .control_queued_bytes <<<"$TL_REPLY")"
CUT=$(grep -c 'does not read: .* queued for it, .* for all connections (cap' "$TL_TMP/relayd.log")
# 20 x 3.5 MiB against 32 MiB: about half must go (8 at the very least)
[ "$CUT" -ge 8 ] || tl_fail "only $CUT connections closed for not reading (at least 8 expected)"
touch "$TL_TMP/go"
tl_expect_ok noread 30 "non-reading clients"
# (counted after the stats reply: the relay had answered all before it)
CLOSED=$(tl_summary noread | jq .closed)
[ "$CLOSED" = "$CUT" ] || tl_fail "the relay logged $CUT connections closed, the clients saw $CLOSED"
tl_log "$CUT of $N connections closed for not reading"
tl_rpc_ok '{"cmd":"ping"}' "relay alive"
# Replies wait for the end of the loop round: a client that sends its
# requests and shuts its side at once still gets every reply.
HALF=$(timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"".join(b"{\"id\":%d,\"cmd\":\"ping\"}\n" % i for i in range(50)))
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.count(b"\"pong\":true"))' "$TL_SOCK")
[ "$HALF" = 50 ] || tl_fail "a client that shut its side after 50 pings got ${HALF:-no} replies"
tl_relayd_stop
tl_pass
