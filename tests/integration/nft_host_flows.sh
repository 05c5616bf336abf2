#!/bin/bash
#
# nft_host_flows.sh: the nft backend leaves the host's own UDP flows alone.
# The relay's port range may overlap the ephemeral range, so the host's
# DNS or NTP lookups can use a port in it; from an address that is not a
# relay interface (here 10.0.3.1, the relay ns's third link) such a flow
# keeps its conntrack entry: one made before relayd started is not
# flushed at start, and one made afterwards is tracked (not notrack), its
# reply matching the entry, so the host's stateful firewall lets the
# answer in. An entry on a relay address and port is still
# flushed at start, and a call still goes into the kernel.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

HOST_IP=$TL_RELAY_X_IP		# the relay ns's own, not a relay interface
SERVER=$TL_ATTACKER_IP:5353	# a "resolver" in the attacker ns
tl_init
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
tl_netns_setup
tl_nft_prepare

# The host's stateful firewall: the resolver's answers are accepted only
# as replies of a tracked flow (everything else is accepted).
ip netns exec "$TL_NS_RELAY" nft -f - <<NFT || tl_fail "firewall table"
table inet hostfw {
	chain in {
		type filter hook input priority 0; policy accept;
		ct state established,related accept
		ip saddr ${SERVER%:*} udp sport ${SERVER#*:} counter drop
	}
}
NFT

# A UDP responder: answers every datagram, for at most 60 s.
tl_spawn resolver "$TL_NS_ATTACKER" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.5)
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        continue
    s.sendto(b"answer:" + data, peer)
' "${SERVER%:*}" "${SERVER#*:}"

# lookup SPORT: from HOST_IP:SPORT in the relay ns, one query, one answer.
lookup() {
	ip netns exec "$TL_NS_RELAY" timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.3)
for i in range(10):
    s.sendto(b"query", (sys.argv[3], int(sys.argv[4])))
    try:
        if s.recv(2048) == b"answer:query":
            sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
' "$HOST_IP" "$1" "${SERVER%:*}" "${SERVER#*:}"
}

# ct_count ARGS...: conntrack entries in the relay ns matching ARGS.
ct_count() {
	ip netns exec "$TL_NS_RELAY" conntrack -L -p udp "$@" 2>/dev/null | grep -c udp
}

# Before relayd: a host flow on a relay-range port, and a stale entry on
# a relay address and port (from the caller; nothing listens yet).
tl_wait_for 5 "the resolver's answer (before relayd)" lookup 30010
[ "$(ct_count --orig-port-src 30010)" = 1 ] || tl_fail "no conntrack entry for the host flow before start"
ip netns exec "$TL_NS_CALLER" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.1.2", 4100))
s.sendto(b"early", ("10.0.1.1", 30020))
'
tl_wait_for 10 "the stale entry on the relay address" test "$(ct_count --orig-port-dst 30020)" = 1

tl_relayd_config "$TL_TMP/relayd.json" '.backend = "nft"'
tl_relayd_start "$TL_TMP/relayd.json"
OUT=$(tl_ctl --json hello) || tl_fail "hello"
tl_assert_json "$OUT" '.backend == "nft"' "the nft backend is active"

[ "$(ct_count --orig-port-src 30010)" = 1 ] ||
	tl_fail "relayd's start flushed the host's own flow from $HOST_IP:30010"
[ "$(ct_count --orig-port-dst 30020)" = 0 ] ||
	tl_fail "the stale entry on the relay address 10.0.1.1:30020 survived the start"

# After start: a new host flow in the range is tracked, and answered.
tl_wait_for 5 "the resolver's answer (after start)" lookup 30012
[ "$(ct_count --orig-port-src 30012)" = 1 ] ||
	tl_fail "the host's flow from $HOST_IP:30012 has no conntrack entry (notrack hit it)"
ip netns exec "$TL_NS_RELAY" conntrack -L -p udp --orig-port-src 30012 2>/dev/null |
	grep -q "src=${SERVER%:*} dst=$HOST_IP sport=${SERVER#*:} dport=30012" ||
	tl_fail "the entry of the host flow lacks its reply tuple"

# The relay itself still goes into the kernel.
tl_offer_answer hostflows 1
tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_B_LIST" -S 0x1000 -e 200 -t 10
tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -f "$TL_A_LIST" -S 0x2000 -e 200 -t 10
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -S 0x1000 -c 200 -r 200
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -S 0x2000 -c 200 -r 200
tl_expect_ok caller_tx 10 "caller's rtpgen"
tl_expect_ok callee_tx 10 "callee's rtpgen"
tl_expect_ok callee_rx 10 "caller -> callee"
tl_expect_ok caller_rx 10 "callee -> caller"
tl_rpc_ok '{"cmd":"query","call_id":"hostflows"}' "query"
tl_assert_json "$TL_REPLY" '.streams[0].path == "nft"' "the call's stream is in the kernel"
tl_relayd_stop
tl_pass
