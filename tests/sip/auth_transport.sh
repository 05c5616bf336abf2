#!/bin/bash
# run-also: asan
#
# Transport restrictions of trunk sources (issue 12) follow the transport
# a request arrived on, not what its Via claims: for a TLS-only source
# (127.0.0.5) a UDP INVITE whose Via says TLS, a UDP or plain TCP INVITE,
# and a plain TCP INVITE whose Via says TLS make no call; for a TCP-only
# source (127.0.0.7) a UDP INVITE claiming TCP makes none either, while
# its INVITE over TCP is routed to the gateway.
# (Sofia's nta already drops a request whose Via protocol is not the one
# it came on, so the Via lies are refused on the parent commit too; the
# controller no longer relies on that: identify_transport() reads the
# socket's protocol.)
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.trunks += [
	{name: "tlsonly", sources: [{address: "127.0.0.5", transport: "tls"}]},
	{name: "tcponly", sources: [{address: "127.0.0.7", transport: "tcp"}]}]'
digest() {
	python3 "$TL_ROOT/tests/lib/sipdigest.py" "$1" "$2" 127.0.0.1 "$SIP_CTL_PORT" "${@:3}"
}
tl_spawn sink1 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW1_PORT"
tl_spawn sink2 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW2_PORT"
tl_wait_for 20 "the gateway sinks" bash -c "ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q . && ss -ulnH 'sport = :$SIP_GW2_PORT' | grep -q ."
nocall='[.codes[] | select(. == 100 or . == 180 or . == 200)] == []'

r=$(digest send 127.0.0.5 --via TLS --wait 1.5)
tl_assert_json "$r" "$nocall" "TLS-only source: a UDP INVITE whose Via says TLS makes no call ($r)"
r=$(digest send 127.0.0.5 --wait 2)
tl_assert_json "$r" '.final == 403' "TLS-only source: a UDP INVITE is refused with 403"
r=$(digest send 127.0.0.5 --tcp --wait 2)
tl_assert_json "$r" '.final == 403' "TLS-only source: a plain TCP INVITE is refused with 403"
r=$(digest send 127.0.0.5 --tcp --via TLS --wait 1.5)
tl_assert_json "$r" "$nocall" "TLS-only source: a plain TCP INVITE whose Via says TLS makes no call ($r)"
r=$(digest send 127.0.0.7 --via TCP --wait 1.5)
tl_assert_json "$r" "$nocall" "TCP-only source: a UDP INVITE whose Via says TCP makes no call ($r)"
r=$(digest send 127.0.0.7 --wait 2)
tl_assert_json "$r" '.final == 403' "TCP-only source: a UDP INVITE is refused with 403"
for s in sink1 sink2; do
	[ -s "$TL_TMP/$s.out" ] && tl_fail "gateway $s received: $(head -3 "$TL_TMP/$s.out")"
done
st=$(sip_ctl --json status) || tl_fail "status"
tl_assert_json "$st" '.rejected_unknown == 3 and .calls_total == 0' "three refusals counted, no call"

# The sinks never answer: both gateways time out (2 s each), then 408.
r=$(digest send 127.0.0.7 --tcp --wait 8)
tl_assert_json "$r" '.codes[0] == 100 and .final == 408' "TCP-only source: its INVITE over TCP is routed ($r)"
grep -q '^INVITE ' "$TL_TMP/sink1.out" || tl_fail "the TCP trunk's call did not reach the gateway"
tl_wait_for 10 "the call to end" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
