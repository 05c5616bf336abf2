#!/bin/bash
#
# Hostile peers over IPv6 (issue 15). The controller listens on
# [fd00:1::1] only; trunk "customer6" is fd00:1::2/128, the carrier
# gateway is 10.0.2.2 and [fd00:2::2] (a UDP sink that counts INVITEs).
#   - an IPv6 source outside every trunk's ACL (the attacker's own
#     network, and a neighbour in the customer's /64) is refused (407:
#     accounts exist, so it is challenged) and the
#     gateway receives nothing; the customer's INVITE does reach it;
#   - an IPv4 address spelt as IPv6 (v4-mapped, ::ffff:a.b.c.d) is that
#     IPv4 address: a phone cannot register a Contact naming the
#     carrier gateway ([::ffff:10.0.2.2]) or the controller itself
#     ([::ffff:10.0.1.1]) to have the controller call it, which the
#     rules refuse for the plain IPv4 spelling;
#   - with unknown_source "drop" (after a reload), a stranger's INVITE
#     over IPv6 gets no answer and its TCP connection is never made,
#     while the customer still connects.
# On the parent (9ee86ec: identify.c/targets.c compare families first)
# both v4-mapped Contacts are registered (200), and the test fails there.
. "$(dirname "$0")/../lib/sip.sh"
# shellcheck source=../lib/netns6.sh
. "$(dirname "$0")/../lib/netns6.sh"
sip_init
tl_netns_setup
tl_netns6_setup
ACCESS6=$TL_RELAY_A6 CUST6=$TL_CALLER6 CARR6=$TL_CALLEE6
NEIGHBOUR6=fd00:1::5 PHONE6=fd00:1::3
for a in $NEIGHBOUR6 $PHONE6; do
	ip -n "$TL_NS_CALLER" -6 addr add "$a/64" dev c0 nodad || tl_fail "address $a"
done

jq -n --arg sock "$TL_SOCK" --argjson min "$SIP_MEDIA_MIN" --argjson max "$SIP_MEDIA_MAX" \
	--arg a6 "$ACCESS6" --arg b6 "$TL_RELAY_B6" '{
	control: {socket: $sock, mode: "0660"},
	interfaces: [{name: "access6", bind: $a6}, {name: "core6", bind: $b6}],
	ports: {min: $min, max: $max},
	backend: "userspace",
	log_level: "debug"
}' >"$TL_TMP/relayd.json" || tl_fail "cannot write relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

jq -n --arg sock "$SIP_CTL_SOCK" --arg rsock "$TL_SOCK" --arg cdr "$SIP_CDR" \
	--arg listen "[$ACCESS6]:$SIP_CTL_PORT" --arg cust6 "$CUST6/128" \
	--arg carr "$TL_CALLEE_IP" --arg carr6 "[$CARR6]" --argjson p2 "$SIP_GW2_PORT" '{
	sip: {listen: $listen},
	control: {socket: $sock},
	relays: [{name: "r1", socket: $rsock, interfaces: ["access6", "core6"]}],
	cdr: $cdr,
	log_level: "debug",
	invite_timeout: 2,
	trunks: [{name: "customer6", sources: [$cust6]}],
	gateways: [{name: "carrier6-gw", host: $carr6, port: $p2},
		{name: "carrier-gw", host: $carr, port: $p2}],
	carriers: [{name: "c6", gateways: [{gateway: "carrier6-gw"}]}],
	accounts: [{username: "alice", password: "apass"}],
	routes: [{name: "out", trunk: "customer6", carriers: ["c6"]}]
}' >"$TL_TMP/controller.json" || tl_fail "cannot write controller.json"
ip netns exec "$TL_NS_RELAY" "$TL_CONTROLLER" -f "$TL_TMP/controller.json" \
	>"$TL_TMP/controller.out" 2>"$TL_TMP/controller.log" &
SIP_CTL_PID=$!
TL_PIDS+=("$SIP_CTL_PID")
tl_wait_for 10 "the controller to be ready" sip_ctl_ready

# The carrier's IPv6 gateway: logs the INVITEs it gets, answers none.
tl_spawn gw "$TL_NS_CALLEE" python3 -u -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.5)
n = 0
end = time.time() + 60
while time.time() < end:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    if d.startswith(b"INVITE "):
        cid = [l for l in d.split(b"\r\n") if l.lower().startswith((b"call-id:", b"i:"))]
        print("INVITE", cid[0].split(b":", 1)[1].strip().decode() if cid else "?", flush=True)
' "$CARR6" "$SIP_GW2_PORT"
# gw_invites: distinct INVITEs (by Call-ID; retransmissions count once)
gw_invites() { grep '^INVITE' "$TL_TMP/gw.out" 2>/dev/null | sort -u | wc -l; }
tl_wait_for 5 "the gateway sink" sh -c "ip netns exec $TL_NS_CALLEE ss -ulnH 'sport = :$SIP_GW2_PORT' | grep -q ."

digest() {	# digest NS SRC ARGS...: sipdigest.py in a namespace
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$TL_ROOT/tests/lib/sipdigest.py" "$@"
}

tl_log "strangers over IPv6: refused, the gateway gets nothing"
for who in "$TL_NS_ATTACKER $TL_ATTACKER6" "$TL_NS_CALLER $NEIGHBOUR6"; do
	set -- $who
	r=$(digest "$1" send "$2" "$ACCESS6" "$SIP_CTL_PORT") || tl_fail "sipdigest from $2: $r"
	# 407: with local accounts, a stranger is challenged (a login could
	# still name an account); it is never routed.
	tl_assert_json "$r" '.final == 403 or .final == 407' "INVITE from $2 (no trunk's source): refused"
done
[ "$(gw_invites)" = 0 ] || tl_fail "the gateway received $(gw_invites) INVITE(s) from strangers"

tl_log "the customer's INVITE does reach the IPv6 gateway"
r=$(digest "$TL_NS_CALLER" send "$CUST6" "$ACCESS6" "$SIP_CTL_PORT" --wait 6) || tl_fail "sipdigest: $r"
has_invite() { [ "$(gw_invites)" -ge 1 ]; }
tl_wait_for 5 "the gateway to get the customer's INVITE" has_invite

tl_log "v4-mapped Contacts are their IPv4 addresses"
reg() {	# reg CONTACT: alice registers CONTACT from her phone; prints the final code
	digest "$TL_NS_CALLER" login "$PHONE6" "$ACCESS6" "$SIP_CTL_PORT" --method REGISTER \
		--user alice --password apass --from-user alice --contact "$1" | jq -r '.second.final'
}
code=$(reg "sip:alice@[$PHONE6]:5062")
[ "$code" = 200 ] || tl_fail "alice's own IPv6 contact: $code, want 200"
code=$(reg "sip:alice@[::ffff:$TL_CALLEE_IP]:$SIP_GW2_PORT")
[ "$code" = 403 ] || tl_fail "a Contact naming gateway carrier-gw as [::ffff:$TL_CALLEE_IP]: $code, want 403"
grep -q "contact host \[::ffff:$TL_CALLEE_IP\] is gateway carrier-gw" "$TL_TMP/controller.log" ||
	tl_fail "the log does not say the v4-mapped contact is the gateway"
code=$(reg "sip:alice@[::ffff:$TL_RELAY_A_IP]:$SIP_CTL_PORT")
[ "$code" = 403 ] || tl_fail "a Contact naming our own [::ffff:$TL_RELAY_A_IP]: $code, want 403"
sip_ctl --json status >"$TL_TMP/status.json" || tl_fail "status"

tl_log "unknown_source drop over IPv6: strangers get nothing, UDP or TCP"
jq '.unknown_source = "drop"' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" &&
	mv "$TL_TMP/c2.json" "$TL_TMP/controller.json" || tl_fail "drop config"
sip_ctl reload >/dev/null || tl_fail "reload with unknown_source drop"
N0=$(gw_invites)	# the customer's
r=$(digest "$TL_NS_ATTACKER" send "$TL_ATTACKER6" "$ACCESS6" "$SIP_CTL_PORT" --wait 2) || true
tl_assert_json "$r" '.codes == [] and .final == null' "a stranger's INVITE over IPv6 (UDP): no answer at all"
# TCP: the listener's socket filter drops the stranger's SYN (IPv6 block)
if ip netns exec "$TL_NS_ATTACKER" timeout 3 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(2)
s.connect((sys.argv[1], int(sys.argv[2])))
' "$ACCESS6" "$SIP_CTL_PORT" 2>/dev/null; then
	tl_fail "a stranger connected to the TCP listener over IPv6 in drop mode"
fi
ip netns exec "$TL_NS_CALLER" timeout 3 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(2)
s.bind((sys.argv[3], 0))
s.connect((sys.argv[1], int(sys.argv[2])))
' "$ACCESS6" "$SIP_CTL_PORT" "$CUST6" || tl_fail "the customer cannot connect over IPv6 TCP in drop mode"
[ "$(gw_invites)" = "$N0" ] || tl_fail "the gateway got $(($(gw_invites) - N0)) INVITEs in drop mode"

sip_controller_stop
tl_relayd_stop
tl_pass
