#!/bin/bash
#
# TLS over IPv6 next to TLS over IPv4 (issue 15): sip.listen6 and
# sip.tls_listen6 are the IPv6 stack's listeners (stack6.c), bound next
# to sip.listen and sip.tls_listen, all four at once.
#   1. the controller binds UDP, TCP and TLS on 127.0.0.1 and on ::1;
#   2. a caller connects over TLS to [::1] (SIPp over TCP behind
#      tests/lib/tls_relay.py, the Debian SIPp has no TLS): the call is set
#      up, our 200 OK's Contact names [::1] and the TLS port; the IPv6
#      gateway (UDP on [::1]) gets an INVITE whose Via and Contact name
#      [::1] (sent by the IPv6 listener);
#   3. a caller connects over TLS to 127.0.0.1: its call is set up too,
#      to the IPv4 gateway, with IPv4 in Via and Contact;
#   4. tls_listen6 without listen6, or a non-IPv6 value: file:line errors;
#   5. TLS we open over IPv6 is verified (the IPv6 stack has tls.c's
#      tags): a TLS gateway at [::1] whose certificate names "localhost"
#      fails verification, the caller gets 503, the CDR says why.
# Not run under ASan: Sofia's TLS transport (1.12.11) leaks the OpenSSL
# state of each closed TLS connection (LeakSanitizer, inside libssl).
. "$(dirname "$0")/../lib/sip.sh"
# shellcheck source=../lib/netns6.sh
. "$(dirname "$0")/../lib/netns6.sh"
command -v openssl >/dev/null 2>&1 || tl_skip "openssl not installed"
ip -6 addr show dev lo | grep -q '::1/128' || tl_skip "no ::1 on lo"
sip_init
TLS_PORT=$((SIP_BASE + 6))
mkdir -p "$TL_TMP/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
	-keyout "$TL_TMP/tls/key.pem" -out "$TL_TMP/tls/cert.pem" >/dev/null 2>&1 ||
	tl_fail "cannot make a test certificate"
cat "$TL_TMP/tls/key.pem" "$TL_TMP/tls/cert.pem" >"$TL_TMP/tls/agent.pem"
cp "$TL_TMP/tls/cert.pem" "$TL_TMP/tls/cafile.pem"

sip_scen6 uac_call.xml uas_answer.xml uac_503.xml

sip_relayd_start '.interfaces += [{name: "lo6", bind: "::1"}]'
conf=".sip.listen6 = \"::1\" | .sip.tls_listen = \"127.0.0.1:$TLS_PORT\"
	| .sip.tls_listen6 = \"[::1]\" | .sip.tls_cert_dir = \"$TL_TMP/tls\"
	| .sip.tls_verify = false | $(sip_route6 "$SIP_GW2_PORT")"
sip_controller_start "$conf"
grep -q "SIP on sip:\[::1\]:$SIP_CTL_PORT (UDP and TCP), TLS on sips:\[::1\]:$TLS_PORT" "$TL_TMP/controller.log" ||
	tl_fail "no IPv6 UDP/TCP/TLS listeners in the log: $(grep 'SIP on' "$TL_TMP/controller.log")"
for a in "127.0.0.1" "\[::1\]"; do
	ss -tlnH "sport = :$TLS_PORT" | grep -q "$a:$TLS_PORT" || tl_fail "no TLS listener on $a:$TLS_PORT"
	ss -tlnH "sport = :$SIP_CTL_PORT" | grep -q "$a:$SIP_CTL_PORT" || tl_fail "no TCP listener on $a:$SIP_CTL_PORT"
	ss -ulnH "sport = :$SIP_CTL_PORT" | grep -q "$a:$SIP_CTL_PORT" || tl_fail "no UDP listener on $a:$SIP_CTL_PORT"
done

# tls_call NAME IP FRONT-PORT TLS-TARGET GW-NAME GW-IP GW-PORT: SIPp over
# TCP (the Debian SIPp has no TLS) to a TLS client front on IP
# (tests/lib/tls_relay.py), which opens TLS from IP to TLS-TARGET; the
# call goes on to a UDP gateway.
tls_call() {
	local name=$1 ip=$2 fport=$3 target=$4 gw=$5 gwip=$6 gwport=$7
	tl_spawn "front_$name" - python3 "$TL_ROOT/tests/lib/tls_relay.py" client "$ip" "$fport" \
		"$target" "$TLS_PORT" --bind "$ip" --timeout 40
	tl_wait_for 20 "the $name TLS front" grep -q listening "$TL_TMP/front_$name.out"
	tl_spawn "$gw" - sipp -sf "$TL_TMP/uas_answer.xml" -i "$gwip" -p "$gwport" \
		-m 1 -nostdin -timeout 30s -set mport "$SIP_CALLEE_RTP" -set mip "$gwip" \
		-trace_err -error_file "$TL_TMP/$gw.errors" -trace_msg -message_file "$TL_TMP/$gw.msgs"
	tl_wait_for 15 "SIPp $gw to listen on $gwport" sip_listening "$gwport"
	tl_spawn "$name" - sipp -sf "$TL_TMP/uac_call.xml" -i "$ip" -p "$SIP_UAC_PORT" -t t1 \
		-m 1 -nostdin -timeout 30s -s 441234567 -set mport "$SIP_CALLER_RTP" -set mip "$ip" \
		-d 500 -trace_err -error_file "$TL_TMP/$name.errors" \
		-trace_msg -message_file "$TL_TMP/$name.msgs" "$(tl_ep "$ip" "$fport")"
	sip_expect "$name" 30 "$name: the TLS caller's call"
	sip_expect "$gw" 30 "$name: the gateway's call"
	grep -q "handshake ok" "$TL_TMP/front_$name.out" || tl_fail "$name: no TLS session to $target:$TLS_PORT"
}
# received FILE: what SIPp received (the messages after "received").
received() {
	tr -d '\r' <"$1" | awk '/ message received/ { r = 1; next } / message sent/ { r = 0 } r'
}

tl_log "call 1: TLS over IPv6 to [::1]:$TLS_PORT, on to the IPv6 gateway"
tls_call v6 ::1 $((SIP_BASE + 5)) ::1 gw6 ::1 "$SIP_GW2_PORT"
r=$(received "$TL_TMP/v6.msgs")
grep -qiE "^(Contact|m):.*\[::1\]:$TLS_PORT" <<<"$r" ||
	tl_fail "call 1: the caller's Contact does not name [::1]:$TLS_PORT: $(grep -iE '^(Contact|m):' <<<"$r")"
r=$(received "$TL_TMP/gw6.msgs")
grep -qiE "^(Via|v): SIP/2.0/UDP \[::1\]:$SIP_CTL_PORT" <<<"$r" ||
	tl_fail "call 1: the gateway's INVITE did not come from [::1]:$SIP_CTL_PORT: $(grep -iE '^(Via|v):' <<<"$r" | head -2)"
grep -qiE "^(Contact|m):.*\[::1\]:$SIP_CTL_PORT" <<<"$r" || tl_fail "call 1: the gateway's Contact is not [::1]:$SIP_CTL_PORT"
grep -q '127\.0\.0\.1' <<<"$(grep -iE '^(Via|v|Contact|m):' <<<"$r")" && tl_fail "call 1: IPv4 in the IPv6 gateway's headers"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx6" and .gateway == "gw6" and .final_code == 200 and (.source | startswith("[::1]:"))' \
	"call 1: CDR (trunk pbx6 over IPv6, gateway gw6, 200)"

tl_log "call 2: TLS over IPv4 to 127.0.0.1:$TLS_PORT at the same time as IPv6's listeners"
tls_call v4 127.0.0.2 $((SIP_BASE + 7)) 127.0.0.1 gw4 127.0.0.1 "$SIP_GW1_PORT"
r=$(received "$TL_TMP/v4.msgs")
grep -qiE "^(Contact|m):.*127\.0\.0\.1:$TLS_PORT" <<<"$r" || tl_fail "call 2: the caller's Contact does not name 127.0.0.1:$TLS_PORT"
r=$(received "$TL_TMP/gw4.msgs")
grep -qiE "^(Via|v): SIP/2.0/UDP 127\.0\.0\.1:$SIP_CTL_PORT" <<<"$r" || tl_fail "call 2: the IPv4 gateway's INVITE did not come from 127.0.0.1"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .gateway == "gw1" and .final_code == 200' "call 2: CDR (trunk pbx, gw1, 200)"
tl_wait_for 10 "no call left" sip_no_calls
sip_controller_stop

# config errors name the file, line and field
sip_conf_bad no_listen6 'del(.sip.listen6)' 'sip\.tls_listen6: .*needs sip\.listen6'
sip_conf_bad v4_tls6 '.sip.tls_listen6 = "127.0.0.1"' 'sip\.tls_listen6: .*not an IPv6'

tl_log "5. outbound TLS over IPv6 is verified: a gateway at [::1] whose certificate does not name ::1"
FRONT6=$((SIP_BASE + 8))
tl_spawn front_gw6 - python3 "$TL_ROOT/tests/lib/tls_relay.py" server ::1 "$FRONT6" 127.0.0.1 "$SIP_GW3_PORT" \
	--cert "$TL_TMP/tls/cert.pem" --key "$TL_TMP/tls/key.pem" --timeout 40
tl_wait_for 20 "the IPv6 TLS gateway front" grep -q listening "$TL_TMP/front_gw6.out"
sip_controller_start "$conf | .sip.tls_verify = true | .invite_timeout = 3
	| .gateways += [{name: \"gwtls6\", host: \"[::1]\", port: $FRONT6, transport: \"tls\", relay_interface: \"lo6\"}]
	| .carriers += [{name: \"ctls6\", gateways: [{gateway: \"gwtls6\"}]}]
	| .routes = [{name: \"tls6\", trunk: \"pbx6\", carriers: [\"ctls6\"]}]"
grep -q "TLS: servers we call are verified" "$TL_TMP/controller.log" || tl_fail "no TLS trust line in the log"
tl_spawn refused - sipp -sf "$TL_TMP/uac_503.xml" -i ::1 -p "$SIP_UAC_PORT" -m 1 -nostdin -timeout 30s \
	-s 441234567 -set mport "$SIP_CALLER_RTP" -set mip ::1 \
	-trace_err -error_file "$TL_TMP/refused.errors" -trace_msg -message_file "$TL_TMP/refused.msgs" "[::1]:$SIP_CTL_PORT"
sip_expect refused 30 "the IPv6 caller refused (503): the only gateway's certificate does not verify"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.attempts[0].gateway == "gwtls6" and (.attempts[0].reason | test("TLS verification failed"))' \
	"CDR: the IPv6 TLS gateway's attempt says TLS verification failed"
grep -qE "gateway gwtls6 .*: TLS verification failed" "$TL_TMP/controller.log" || tl_fail "no TLS verification failure for gwtls6 in the log"
grep -q "handshake" "$TL_TMP/front_gw6.out" || tl_fail "the IPv6 TLS gateway front saw no handshake"
sip_controller_stop
tl_relayd_stop
tl_pass
