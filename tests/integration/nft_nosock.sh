#!/bin/bash
#
# nft_nosock.sh: a stream the kernel carries (nft) holds no sockets.
#   - while the stream latches relayd holds its 4 sockets (taken from the
#     pairs bound and parked at start); once nft carries it, /proc/PID/fd
#     is 4 below what it was before the offer,
#     query says sockets false on both legs, and media still flows
#     (every packet, both ways, RTP and RTCP);
#   - its ports stay the relay's: the pool does not hand them out again
#     (a second call gets other ports), and with the range reserved
#     (net.ipv4.ip_local_reserved_ports) no ephemeral bind in the relay's
#     namespace lands on them, while without it relayd says so (stats
#     ports_unreserved and a warning at start);
#   - hostile: another process binds leg A's RTP port while the kernel
#     carries the stream; a re-offer takes the stream back to userspace,
#     the lost port is reported (log, stats rebind_failures, query
#     bind_error), the port stays the call's, and the next offer binds it
#     again once the other process let go; the other leg was bound at once;
#   - when the call ends, its pairs (without sockets) are bound and parked
#     again in the background, as at start (sockwarm.c warm_again).
# On the parent commit the fd count never drops (4 sockets per stream in
# the kernel) and query has no "sockets" field.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALL=nosock-1
N=300

tl_init
tl_netns_setup
tl_nft_prepare
# The relay range inside the ephemeral range and not reserved: relayd
# must say so at start.
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_local_port_range="30000 30199" ||
	tl_fail "cannot set ip_local_port_range in the relay ns"
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_local_reserved_ports="" ||
	tl_fail "cannot set ip_local_reserved_ports in the relay ns"
tl_relayd_config "$TL_TMP/relayd.json" '.backend = "nft"'
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.ports_unreserved == 100 and .sockets == 0' "stats: 100 relay ports unreserved in the ephemeral range"
grep -q 'streams in the kernel hold no sockets' "$TL_TMP/relayd.log" ||
	tl_fail "no warning about the unreserved range: $(grep -i reserv "$TL_TMP/relayd.log")"
tl_relayd_stop

# Reserved: no ephemeral bind can take a relay port.
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_local_reserved_ports="30000-30099" ||
	tl_fail "cannot set ip_local_reserved_ports"
tl_relayd_start "$TL_TMP/relayd.json"
PID=$TL_RELAYD_PID
fds() { ls "/proc/$PID/fd" | wc -l; }
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.ports_unreserved == 0' "stats: the range is reserved"
warm_done() { tl_rpc '{"cmd":"stats"}' && jq -e '.ports_warming == 0' <<<"$TL_REPLY"; }
tl_wait_for 10 "relayd to bind its range at start" warm_done
tl_assert_json "$TL_REPLY" '.sockets_parked == 200' "stats: every pair bound and parked at start (sockwarm.c)"
F1=$(fds)

# The call takes 4 of the sockets bound at start: no descriptor more.
tl_offer_answer "$CALL" 1
A=${TL_A_PORTS[0]} B=${TL_B_PORTS[0]}
[ "$(fds)" = "$F1" ] || tl_fail "offer+answer: expected $F1 fds (4 parked sockets taken), have $(fds)"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.sockets == 4 and .sockets_parked == 196' "stats: the call's 4 sockets, the other pairs parked"
F0=$((F1 - 4))	# the relay without the call's sockets

traffic() {
	local tag=$1 cport=$2 count=$3
	tl_sink "${tag}_erx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_RELAY_B_IP:$B" -S 0x1000 -e "$count" --allow-reorder -l 0.3 -t 20
	tl_sink "${tag}_crx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$cport" -R -f "$TL_RELAY_A_IP:$A" -S 0x2000 -e "$count" --allow-reorder -l 0.3 -t 20
	tl_gen "${tag}_ctx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$cport" -d "$TL_RELAY_A_IP:$A" -R --rtcp-every 10 -S 0x1000 -c "$count" -r 300
	tl_gen "${tag}_etx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B" -R --rtcp-every 10 -S 0x2000 -c "$count" -r 300
}
traffic_ok() {
	local tag=$1 what=$2 p
	for p in ctx etx; do tl_expect_ok "${tag}_$p" 20 "$what: sender $p"; done
	tl_expect_ok "${tag}_erx" 20 "$what: the callee gets every packet of the caller"
	tl_expect_ok "${tag}_crx" 20 "$what: the caller gets every packet of the callee"
}
query() { tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}"; }
carried_sockless() {
	query && jq -e '.streams[0].path == "nft" and ([.streams[0].legs[].sockets] == [false, false])' <<<"$TL_REPLY" >/dev/null &&
		[ "$(fds)" = "$F0" ]
}

traffic p1 4000 "$N"
traffic_ok p1 "latching, then into the kernel"
tl_wait_for 10 "the stream in nft with its 4 sockets closed (fds back to $F0)" carried_sockless
tl_log "in the kernel: fds $F1 -> $(fds), query sockets false on both legs"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.sockets == 0 and .streams_without_sockets == 1 and .ports_free == 98' \
	"stats: no socket, one stream without sockets, its 2 pairs still taken"

# Media while no socket exists: all of it is the kernel's.
UDP0=$(tl_udp_in)
traffic p2 4000 "$N"
traffic_ok p2 "in the kernel, no sockets"
[ "$(tl_udp_in)" = "$UDP0" ] || tl_fail "datagrams reached a socket of the relay ns while the kernel carried the stream"

# Its ports are not handed out again: a second call gets others.
tl_rpc_ok '{"cmd":"offer","call_id":"other","from_tag":"ft-o","interfaces":["caller","callee"],"media":[{"type":"audio","address":"'"$TL_CALLER_IP"'","rtp_port":4500}]}' "offer other"
OB=$(jq '.media[0].rtp_port' <<<"$TL_REPLY")
# (ports are per interface: the other call's leg B port can only clash
# with this call's leg B port, on the same address)
[ "$OB" != "$B" ] || tl_fail "the pool handed out port $OB of a stream in the kernel"
tl_rpc_ok '{"cmd":"delete","call_id":"other"}' "delete other"
# Its four sockets, taken from the parked ones, are parked again
# (sockpark.c): descriptors of the relay, not of this call.
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.sockets_parked == 196' "delete other: its 4 sockets parked again, with every other free pair's"
[ "$(fds)" = "$F0" ] || tl_fail "after the other call: expected $F0 fds, have $(fds)"
# Reserved: 200 ephemeral binds in the relay ns never get one of our ports
# (the ephemeral range is 30000-30199: without the reservation about half
# would).
EPH=$(ip netns exec "$TL_NS_RELAY" python3 -c '
import socket
got = []
for i in range(200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("0.0.0.0", 0))
        got.append(s)
    except OSError:
        break
print(",".join(str(s.getsockname()[1]) for s in got))')
for p in ${EPH//,/ }; do
	[ "$p" -ge 30000 ] && [ "$p" -le 30099 ] && tl_fail "an ephemeral bind got relay port $p"
done
tl_log "reserved: $(wc -w <<<"${EPH//,/ }") ephemeral binds, none in 30000-30099"

# Hostile: another process takes leg A's RTP port (an explicit bind: the
# reservation does not stop those) while the kernel carries the stream.
rm -f "$TL_TMP/thief.go"
tl_spawn thief "$TL_NS_RELAY" python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[3] + ".ready", "w").close()
end = time.time() + 30
while time.time() < end and not os.path.exists(sys.argv[3] + ".go"):
    time.sleep(0.05)' "$TL_RELAY_A_IP" "$A" "$TL_TMP/thief"
thief_ready() { [ -e "$TL_TMP/thief.ready" ]; }
tl_wait_for 5 "the thief to bind $TL_RELAY_A_IP:$A" thief_ready

# Re-offer with a new caller port: the stream leaves the kernel to latch
# again and binds its ports; leg A's RTP port is taken.
reoffer() {
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":$1}]}" "re-offer ($1)"
}
reoffer 4100
query
tl_assert_json "$TL_REPLY" '.streams[0].path == "userspace" and .streams[0].legs[0].bind_error == "Address already in use" and .streams[0].legs[1].sockets == true and .streams[0].legs[1].bind_error == null' \
	"re-offer: back in userspace, leg B bound again, leg A's lost port reported"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].local == \"$TL_RELAY_A_IP:$A\"" "leg A keeps its port"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.rebind_failures == 1 and .ports_free == 98' "stats: one rebind failure, the pair still the call's"
grep -q "port $A cannot be bound again (Address already in use)" "$TL_TMP/relayd.log" ||
	tl_fail "no log line for the lost port $A"
[ "$(fds)" = $((F0 + 3)) ] || tl_fail "expected $((F0 + 3)) fds (leg B's 2, leg A's RTCP), have $(fds)"

# The thief lets go; the next offer binds the port again.
touch "$TL_TMP/thief.go"
tl_reap thief 5
reoffer 4000
query
tl_assert_json "$TL_REPLY" '[.streams[0].legs[].sockets] == [true, true] and .streams[0].legs[0].bind_error == null' \
	"the next offer bound leg A's port again"
[ "$(fds)" = $((F0 + 4)) ] || tl_fail "expected $((F0 + 4)) fds after the retry, have $(fds)"

# Latching again, then the kernel again, sockets closed again.
traffic p3 4000 "$N"
traffic_ok p3 "back from userspace into the kernel"
tl_wait_for 10 "the stream in nft again with no sockets" carried_sockless

tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\"}" "delete"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.ports_free == 100 and .streams == 0' "delete: every pair back in the pool"
# The call's two pairs had no sockets (nft carried it): bound and parked
# again between requests (sockwarm.c warm_again), not left for the next
# offer to bind.
all_parked() { tl_rpc '{"cmd":"stats"}' && jq -e '.sockets_parked == 200 and .ports_warming == 0' <<<"$TL_REPLY" >/dev/null; }
tl_wait_for 5 "the pairs nft carried bound and parked again (stats sockets_parked 200)" all_parked
[ "$(fds)" = "$F1" ] || tl_fail "expected $F1 fds (every pair parked, as before the call), have $(fds)"
tl_relayd_stop
tl_pass
