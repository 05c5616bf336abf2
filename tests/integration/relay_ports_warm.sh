#!/bin/bash
#
# relay_ports_warm.sh: a fresh relay binds and parks every free pair of
# its range at start (relayd/sockwarm.c), so its first offers bind nothing.
#   - right after the start every pair is bound and parked (stats
#     sockets_parked, ports_warming 0): no other process can bind a port
#     of the range on a relay address;
#   - a port that another process held at start is reported (log line
#     naming it, stats ports_held_elsewhere) and its pair stays in the
#     pool: once the other process lets go, a call gets that pair;
#   - the first call binds no socket (the relay's descriptors do not
#     change), and media flows through the sockets bound at start;
#   - with every call deleted, every pair is parked again.
# On the parent commit stats has no ports_warming, nothing is parked after
# the start, every port is free for anyone, and the first call adds 4
# descriptors.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

PAIRS=10		# per interface
MIN=30000 MAX=$((30000 + 2 * PAIRS - 1))
HELD=30011		# an RTCP port on the caller side, bound by another process

tl_init
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".backend = \"userspace\" | .ports = {min: $MIN, max: $MAX}"

# Another process holds a port of the range before relayd starts.
tl_spawn squatter "$TL_NS_RELAY" python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[3] + ".ready", "w").close()
end = time.time() + 60
while time.time() < end and not os.path.exists(sys.argv[3] + ".go"):
    time.sleep(0.05)' "$TL_RELAY_A_IP" "$HELD" "$TL_TMP/squatter"
tl_wait_for 5 "the other process to bind $TL_RELAY_A_IP:$HELD" test -e "$TL_TMP/squatter.ready"

tl_relayd_start "$TL_TMP/relayd.json"
PID=$TL_RELAYD_PID
fds() { ls "/proc/$PID/fd" | wc -l; }
stats() { tl_rpc_ok '{"cmd":"stats"}' "stats"; }
warm_done() { tl_rpc '{"cmd":"stats"}' && jq -e '.ports_warming == 0' <<<"$TL_REPLY"; }
tl_wait_for 10 "relayd to bind its range (stats ports_warming 0)" warm_done

stats
tl_assert_json "$TL_REPLY" ".sockets_parked == $((2 * (2 * PAIRS - 1))) and .ports_held_elsewhere == 1 and .sockets == 0 and .ports_free == $((2 * PAIRS))" \
	"after the start: every pair but the held one bound and parked, every pair free"
grep -q "interface 'caller': 1 port(s) of the range are bound by another process ($HELD)" "$TL_TMP/relayd.log" ||
	tl_fail "no log line naming the held port $HELD: $(grep -i 'another process' "$TL_TMP/relayd.log")"

# Which ports of the range can someone else bind on the relay addresses?
# Only the RTP port of the held pair (relayd closed its socket there).
bindable() {
	ip netns exec "$TL_NS_RELAY" python3 -c '
import socket, sys
lo, hi = int(sys.argv[3]), int(sys.argv[4])
free = []
for ip in sys.argv[1:3]:
    for p in range(lo, hi + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((ip, p))
            free.append("%s:%d" % (ip, p))
        except OSError:
            pass
        s.close()
print(" ".join(free))' "$TL_RELAY_A_IP" "$TL_RELAY_B_IP" "$MIN" "$MAX"
}
FREE=$(bindable)
[ "$FREE" = "$TL_RELAY_A_IP:$((HELD - 1))" ] ||
	tl_fail "ports of the range another process could bind after the start: '$FREE' (expected only $TL_RELAY_A_IP:$((HELD - 1)))"
tl_log "after the start every port of the range is relayd's but the held pair"

# The first call binds nothing: it takes pairs bound at start.
F0=$(fds)
tl_offer_answer w1 1
A1=${TL_A_PORTS[0]} B1=${TL_B_PORTS[0]}
[ "$(fds)" = "$F0" ] || tl_fail "the first call changed relayd's descriptors $F0 -> $(fds): it bound sockets"
stats
tl_assert_json "$TL_REPLY" ".sockets == 4 and .sockets_parked == $((2 * (2 * PAIRS - 1) - 4))" \
	"the first call holds 4 sockets, all of them taken from the parked ones"

# Media through the sockets bound at start, both ways.
N=100
tl_sink erx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_RELAY_B_IP:$B1" -S 0x1000 -e "$N" --allow-reorder -l 0.3 -t 20
tl_sink crx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -R -f "$TL_RELAY_A_IP:$A1" -S 0x2000 -e "$N" --allow-reorder -l 0.3 -t 20
tl_gen ctx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A1" -R -S 0x1000 -c "$N" -r 300
tl_gen etx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B1" -R -S 0x2000 -c "$N" -r 300
for p in ctx etx; do tl_expect_ok "$p" 20 "sender $p"; done
tl_expect_ok erx 20 "the callee gets every packet of the caller, from the relay's B port"
tl_expect_ok crx 20 "the caller gets every packet of the callee, from the relay's A port"

# The other process lets go: the held pair is still the pool's, and the
# calls that take the rest of the range get it.
touch "$TL_TMP/squatter.go"
tl_reap squatter 5
A_PORTS="$A1"
for ((i = 2; i <= PAIRS; i++)); do
	tl_offer_answer "w$i" 1
	A_PORTS+=" ${TL_A_PORTS[0]}"
done
grep -qw -- "$((HELD - 1))" <<<"$A_PORTS" ||
	tl_fail "no call got the pair $((HELD - 1)) held at start (caller-side ports: $A_PORTS)"
tl_rpc_err '{"cmd":"offer","call_id":"w-more","from_tag":"ft","interfaces":["caller","callee"],"media":[{"type":"audio","address":"10.0.1.2","rtp_port":4000}]}' \
	ports_exhausted "one call more than the range"
stats
tl_assert_json "$TL_REPLY" ".ports_free == 0 and .sockets == $((4 * PAIRS)) and .sockets_parked == 0" \
	"every pair a call's, the held one included"

# Every call ends: every pair parked again.
for ((i = 1; i <= PAIRS; i++)); do
	tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"w$i\"}" "delete w$i"
done
stats
tl_assert_json "$TL_REPLY" ".ports_free == $((2 * PAIRS)) and .sockets == 0 and .sockets_parked == $((4 * PAIRS))" \
	"after the deletes every pair is free and parked"
tl_relayd_stop
tl_pass
