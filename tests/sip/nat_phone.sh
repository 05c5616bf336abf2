#!/bin/bash
# run-also: asan
#
# A registered phone behind NAT (issue 15). The phone lives in its own
# namespace on a private network (10.151.N.2); a NAT namespace masquerades
# it onto the core network (10.150.N.0/24, a veth into this namespace,
# where the controller and the relay listen on 10.150.N.1). The phone
# registers with its private Contact; the controller has no route to the
# private network, so calls can reach the phone only through the NAT's
# binding. The NAT forgets a UDP binding after 3 s idle
# (nf_conntrack_udp_timeout in its namespace), so:
#  - with registrar.nat_keepalive 1 the controller sends OPTIONS on the
#    REGISTER's flow every second (the phone counts them; the location
#    says "natted"), the binding stays, and a call to alice, placed after
#    more than the NAT's timeout, rings the phone through the NAT (the
#    INVITE arrives from the core address, to the private socket), is
#    answered, and RTP flows both ways through the relay (its endpoint
#    learning follows the NAT'd source);
#  - without keepalives (the parent commit) the binding is gone after 3 s
#    and the INVITE never reaches the phone.
. "$(dirname "$0")/../lib/sip.sh"
command -v nft >/dev/null 2>&1 || tl_skip "nft not installed"
sip_init
N=$((RANDOM % 200 + 20))
CORE=10.150.$N.1
NATPUB=10.150.$N.2
NATPRIV=10.151.$N.1
PHONE=10.151.$N.2
NS_NAT=tl$$n$N-nat
NS_PHONE=tl$$n$N-phone
HOSTIF=tlk$$n$N
for ns in "$NS_NAT" "$NS_PHONE"; do
	ip netns add "$ns" || tl_fail "ip netns add $ns"
	TL_NETNS+=("$ns")
	ip -n "$ns" link set lo up
done
# The core veth: its host end here (deleted with the NAT namespace).
ip link add "$HOSTIF" type veth peer name pub0 netns "$NS_NAT" || tl_fail "core veth"
ip addr add "$CORE/24" dev "$HOSTIF" && ip link set "$HOSTIF" up &&
	ip -n "$NS_NAT" addr add "$NATPUB/24" dev pub0 && ip -n "$NS_NAT" link set pub0 up ||
	tl_fail "core addresses"
tl_veth "$NS_PHONE" ph0 "$PHONE" "$NS_NAT" priv0 "$NATPRIV"
ip -n "$NS_PHONE" route add default via "$NATPRIV" || tl_fail "phone route"
ip netns exec "$NS_NAT" sysctl -qw net.ipv4.ip_forward=1 || tl_fail "forwarding in the NAT"
ip netns exec "$NS_NAT" nft -f - <<EOF || tl_fail "masquerade in the NAT"
table ip nat {
	chain post { type nat hook postrouting priority 100; oifname "pub0" masquerade; }
}
EOF
# The conntrack sysctls exist once conntrack is in use in the namespace.
ip netns exec "$NS_NAT" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3 \
	net.netfilter.nf_conntrack_udp_timeout_stream=3 || tl_fail "short UDP timeouts in the NAT"
tl_wait_for 5 "the core link" bash -c "ip -br link show $HOSTIF | grep -qw UP"

sip_relayd_start ".interfaces = [{name: \"core\", bind: \"$CORE\", advertise: \"$CORE\"}]
	| .endpoint_learning = {mode: \"heuristic\", window: 1}"
sip_controller_start ".sip.listen = \"$CORE:$SIP_CTL_PORT\"
	| .accounts = [{username: \"alice\", password: \"apass\"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600, nat_keepalive: ${NAT_KEEPALIVE:-1}}"

PPORT=5062
PRTP=40000
tl_spawn phone "$NS_PHONE" python3 "$TL_ROOT/tests/lib/udp_phone.py" "$PHONE" "$PPORT" "$CORE" "$SIP_CTL_PORT" \
	alice apass "$PRTP" --timeout 60
sip_phone_registered "sip:alice@$PHONE:$PPORT" "$NATPUB:"

# Longer than the NAT's 3 s: with keepalives the phone has answered several.
tl_try_for 6 sip_phone_options 4 || true
tl_log "keepalives the phone answered: $(grep -c '^OPTIONS' "$TL_TMP/phone.out")"

tl_spawn caller - sipp -sf "$SIP_SCEN/uac_call.xml" -i 127.0.0.2 -p "$SIP_UAC_PORT" \
	-m 1 -nostdin -timeout 30s -s alice -set mport "$SIP_CALLER_RTP" -d 10000 \
	-trace_err -error_file "$TL_TMP/caller.errors" -trace_msg -message_file "$TL_TMP/caller.msgs" \
	"$CORE:$SIP_CTL_PORT"
tl_wait_for 10 "the phone to ring through the NAT" grep -q '^INVITE' "$TL_TMP/phone.out"
grep -q "^INVITE $CORE:$SIP_CTL_PORT" "$TL_TMP/phone.out" || tl_fail "the INVITE did not come from the controller: $(grep INVITE "$TL_TMP/phone.out")"
sip_phone_options 3 || tl_fail "the phone answered fewer than 3 keepalives"
# The keepalives have done their part: the INVITE came through a binding
# older than the NAT's 3 s. From here the NAT keeps idle bindings for
# 60 s, so that the phone's RTP binding does not expire between the
# phone's burst and the caller's while a loaded host runs the steps in
# between (the phone sends first; its binding carries the caller's RTP).
ip netns exec "$NS_NAT" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=60 \
	net.netfilter.nf_conntrack_udp_timeout_stream=60 || tl_fail "longer UDP timeouts in the NAT"

tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
# RTP: the phone speaks first, longer than the relay's learning window
# (from behind the NAT: the relay learns the
# NAT's address), then the caller is heard through the NAT.
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "$CORE:$SIP_A_PORT" -e 150 -t 10
tl_gen gen_phone "$NS_PHONE" -d "$CORE:$SIP_B_PORT" -b "$PHONE:$PRTP" -c 150 -r 100
tl_expect_ok gen_phone 10 "rtpgen phone"
tl_expect_ok sink_caller 15 "phone -> caller RTP through the NAT and the relay"
# Not the SDP's (private) address: fixed when the learning window ends.
tl_wait_for 5 "the relay to learn the phone at the NAT's address" \
	grep -q "leg B: rtp latched to $NATPUB:" "$TL_TMP/relayd.log"
tl_sink sink_phone "$NS_PHONE" -b "$PHONE:$PRTP" -f "$CORE:$SIP_B_PORT" -e 50 -t 10
tl_gen gen_caller - -d "$CORE:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 50 -r 100
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok sink_phone 15 "caller -> phone RTP through the relay and the NAT"
sip_expect caller 30 "the call to the phone behind NAT"
tl_reap phone 10
grep -q '^BYE' "$TL_TMP/phone.out" || tl_fail "the phone did not get the BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "account:alice"' "CDR: the call went to alice's registration"
sip_controller_stop
tl_relayd_stop
tl_pass
