#!/bin/bash
#
# TLS that verifies (issue 15). A throwaway CA signs the controller's
# certificate and the good gateway's (for good.example, a name that does
# not resolve: the gateway's host is that name, its address in
# uri_params ";maddr=127.0.0.1": connect there, verify the name); the
# controller trusts that CA (tls_cert_dir/cafile.pem) and verifies
# servers by default.
#  1. Outbound: carrier c1 lists gwself (a self-signed certificate for
#     127.0.0.1), gwwrong (signed by the CA, but for wrong.example) and
#     gwgood. The first two attempts fail TLS verification: their SIPp
#     never gets an INVITE, the log and the CDR attempts say "TLS
#     verification failed"; the call fails over at once (503, not after
#     invite_timeout) to gwgood, connects over TLS and carries RTP both
#     ways through the relay.
#  2. Inbound over TLS: a caller on trunk pbx (127.0.0.2) through a TLS
#     client front calls a UDP gateway end to end.
#  3. Inbound over TCP: the same caller over plain TCP.
#  4. With tls_client_cert "required", a TLS client without a certificate
#     or with a self-signed one gets no answer; one with a certificate
#     from the CA gets 200 to OPTIONS.
#  5. Outbound registrations over TLS: a registrar whose certificate
#     names another host gets no REGISTER (the log says why), one with a
#     good certificate registers.
#  6. Verifying with no trust anchors in tls_cert_dir is a config error
#     (file:line: field); tls_verify false accepts it.
# The gateways and the TLS caller are SIPp over TCP behind
# tests/lib/tls_relay.py (the Debian SIPp has no TLS).
# Not run under ASan: Sofia's TLS transport (1.12.11) leaks the OpenSSL
# state of each closed TLS connection (LeakSanitizer, inside libssl).
. "$(dirname "$0")/../lib/sip.sh"
command -v openssl >/dev/null 2>&1 || tl_skip "openssl not installed"
sip_init
TLS_PORT=$((SIP_BASE + 6))
FRONT_SELF=$((SIP_BASE + 7))
FRONT_WRONG=$((SIP_BASE + 8))
FRONT_GOOD=$((SIP_BASE + 9))
GW_SELF_TCP=$SIP_GW1_PORT
GW_WRONG_TCP=$SIP_GW2_PORT
GW_GOOD_TCP=$SIP_GW3_PORT
PY=$TL_ROOT/tests/lib/tls_relay.py
D=$TL_TMP/pki
mkdir -p "$D/ctl"

# cert NAME CN SAN [self]: a key and a certificate signed by the CA (or
# self-signed).
cert() {
	openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" \
		-keyout "$D/$1.key" -out "$D/$1.csr" >/dev/null 2>&1 || tl_fail "csr $1"
	printf 'subjectAltName=%s\n' "$3" >"$D/$1.ext"
	if [ "${4:-}" = self ]; then
		openssl x509 -req -in "$D/$1.csr" -signkey "$D/$1.key" -days 1 \
			-extfile "$D/$1.ext" -out "$D/$1.pem" >/dev/null 2>&1 || tl_fail "self-signed $1"
	else
		openssl x509 -req -in "$D/$1.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" \
			-CAcreateserial -days 1 -extfile "$D/$1.ext" -out "$D/$1.pem" >/dev/null 2>&1 ||
			tl_fail "certificate $1"
	fi
}
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=Trunkline Test CA" \
	-keyout "$D/ca.key" -out "$D/ca.pem" >/dev/null 2>&1 || tl_fail "cannot make a CA"
cert ctl 127.0.0.1 "IP:127.0.0.1"
cert good good.example "DNS:good.example"
cert wrong wrong.example "DNS:wrong.example"
cert self 127.0.0.1 "IP:127.0.0.1" self
cat "$D/ctl.key" "$D/ctl.pem" >"$D/ctl/agent.pem"
cp "$D/ca.pem" "$D/ctl/cafile.pem"

# The TLS fronts of the three gateways.
front() {
	tl_spawn "front_$1" - python3 "$PY" server 127.0.0.1 "$2" 127.0.0.1 "$3" \
		--cert "$D/$1.pem" --key "$D/$1.key" --timeout 120
	tl_wait_for 20 "the $1 TLS front" grep -q listening "$TL_TMP/front_$1.out"
}
front self "$FRONT_SELF" "$GW_SELF_TCP"
front wrong "$FRONT_WRONG" "$GW_WRONG_TCP"
front good "$FRONT_GOOD" "$GW_GOOD_TCP"

sip_relayd_start
sip_controller_start ".sip.tls_listen = \"127.0.0.1:$TLS_PORT\" | .sip.tls_cert_dir = \"$D/ctl\"
	| .invite_timeout = 3
	| .gateways = [
		{name: \"gwself\", host: \"127.0.0.1\", port: $FRONT_SELF, transport: \"tls\"},
		{name: \"gwwrong\", host: \"127.0.0.1\", port: $FRONT_WRONG, transport: \"tls\"},
		{name: \"gwgood\", host: \"good.example\", port: $FRONT_GOOD, transport: \"tls\",
			uri_params: \";maddr=127.0.0.1\"},
		{name: \"gwudp\", host: \"127.0.0.1\", port: $SIP_GW1_PORT}]
	| .carriers = [{name: \"c1\", gateways: [\"gwself\", \"gwwrong\", \"gwgood\"]},
		{name: \"c2\", gateways: [\"gwudp\"]}]
	| .lcr = [{name: \"lcr\", prefixes: [{prefix: \"44\", carriers: [\"c1\"]},
		{prefix: \"33\", carriers: [\"c2\"]}]}]"
grep -q "TLS: servers we call are verified" "$TL_TMP/controller.log" || tl_fail "no TLS trust line in the log"

# ---- 1. outbound: two bad certificates, then a good one ----
sip_uas gw_self uas_answer_tls.xml "$GW_SELF_TCP" -t t1 -set chost 127.0.0.1 -set cport "$FRONT_SELF"
sip_uas gw_wrong uas_answer_tls.xml "$GW_WRONG_TCP" -t t1 -set chost 127.0.0.1 -set cport "$FRONT_WRONG"
sip_uas gw_good uas_answer_tls.xml "$GW_GOOD_TCP" -t t1 -set chost 127.0.0.1 -set cport "$FRONT_GOOD"
# The caller stays on until the media check is done (sip_hangup).
sip_held uac_call.xml
sip_uac caller "$SIP_HELD" 127.0.0.2

tl_wait_for 20 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
tl_gen gen_callee - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 40 -r 100
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok gen_callee 10 "rtpgen callee"
tl_expect_ok sink_callee 15 "caller -> callee RTP through the relay (TLS gateway)"
tl_expect_ok sink_caller 15 "callee -> caller RTP through the relay (TLS gateway)"
sip_hangup caller
sip_expect caller 30 "the caller's call through the TLS gateway"
sip_expect gw_good 30 "the good TLS gateway's call"
sip_cdr_wait 1
c=$SIP_CDR_LAST
tl_assert_json "$c" '.gateway == "gwgood" and .final_code == 200' "CDR: connected through gwgood"
tl_assert_json "$c" '.attempts[0].gateway == "gwself" and (.attempts[0].reason | test("TLS verification failed"))' \
	"CDR: the self-signed gateway's attempt says TLS verification failed"
tl_assert_json "$c" '.attempts[1].gateway == "gwwrong" and (.attempts[1].reason | test("TLS verification failed.*127.0.0.1"))' \
	"CDR: the wrong-name gateway's attempt says TLS verification failed (name)"
tl_assert_json "$c" '.attempts[2] == {"gateway":"gwgood","carrier":"c1","code":200}' "CDR: gwgood answered"
# Failed over at once (503), not after invite_timeout (408 each).
tl_assert_json "$c" '.attempts[0].code == 503 and .attempts[1].code == 503' "CDR: the failed TLS attempts ended at once (503)"
grep -q "gateway gwself (127.0.0.1): TLS verification failed" "$TL_TMP/controller.log" ||
	tl_fail "no TLS verification failure for gwself in the log"
grep -q "gateway gwwrong (127.0.0.1): TLS verification failed: certificate does not name 127.0.0.1" "$TL_TMP/controller.log" ||
	tl_fail "no name mismatch for gwwrong in the log"
grep -q "warning: TLS verification failed: the server's certificate /CN=127.0.0.1: self-signed certificate" "$TL_TMP/controller.log" ||
	tl_fail "no warning naming the rejected certificate"
for g in self wrong; do
	grep -q "INVITE sip:" "$TL_TMP/gw_$g.msgs" 2>/dev/null &&
		tl_fail "gateway $g got an INVITE although its certificate does not verify"
done
grep -q "handshake ok" "$TL_TMP/front_good.out" || tl_fail "the good front saw no TLS session"
tl_wait_for 5 "no call left" sip_no_calls

# ---- 2. inbound over TLS, 3. inbound over TCP: to the UDP gateway ----
# The TLS caller: SIPp over TCP to a client front on 127.0.0.2, which
# opens TLS from 127.0.0.2 (trunk pbx) to the controller.
CFRONT=$((SIP_BASE + 5))
tl_spawn cfront - python3 "$PY" client 127.0.0.2 "$CFRONT" 127.0.0.1 "$TLS_PORT" --bind 127.0.0.2 --timeout 60
tl_wait_for 20 "the caller's TLS front" grep -q listening "$TL_TMP/cfront.out"
n=1
for mode in tls tcp; do
	n=$((n + 1))
	sip_uas "gw_$mode" uas_answer.xml "$SIP_GW1_PORT"
	if [ "$mode" = tls ]; then dst=127.0.0.2:$CFRONT; else dst=127.0.0.1:$SIP_CTL_PORT; fi
	tl_spawn "caller_$mode" - sipp -sf "$SIP_SCEN/uac_call.xml" -i 127.0.0.2 -p "$SIP_UAC_PORT" -t t1 \
		-m 1 -nostdin -timeout 30s -s 331234567 -set mport "$SIP_CALLER_RTP" -d 1000 \
		-trace_err -error_file "$TL_TMP/caller_$mode.errors" \
		-trace_msg -message_file "$TL_TMP/caller_$mode.msgs" "$dst"
	sip_expect "caller_$mode" 30 "an inbound $mode call"
	sip_expect "gw_$mode" 30 "the UDP gateway's half of the inbound $mode call"
	sip_cdr_wait "$n"
	tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .gateway == "gwudp" and .final_code == 200 and .hangup_by == "caller"' \
		"CDR of the inbound $mode call"
done
grep -q "handshake ok" "$TL_TMP/cfront.out" || tl_fail "the caller's front made no TLS session"
sip_controller_stop

# ---- 4. tls_client_cert required: no certificate, no session ----
cert client 127.0.0.2 "IP:127.0.0.2"
jq '.sip.tls_client_cert = "required"' "$TL_TMP/controller.json" >"$TL_TMP/c4.json"
"$TL_CONTROLLER" -f "$TL_TMP/c4.json" >"$TL_TMP/controller.out" 2>>"$TL_TMP/controller.log" &
SIP_CTL_PID=$!
TL_PIDS+=("$SIP_CTL_PID")
tl_wait_for 10 "the controller to listen on TLS again" bash -c "ss -tlnH 'sport = :$TLS_PORT' | grep -q ."
grep -q "clients must present a verified certificate" "$TL_TMP/controller.log" || tl_fail "no mutual TLS line in the log"
printf 'OPTIONS sip:127.0.0.1:%s;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.2:5999;branch=z9hG4bKm%s\r\nFrom: <sip:probe@127.0.0.2>;tag=m1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: mtls%s@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' \
	"$TLS_PORT" 1 1 >"$TL_TMP/opt1.txt"
# s_client_options OUT [ARGS]: send the OPTIONS, wait (bounded) for a final answer.
s_client_options() {
	local out=$1
	shift
	{ cat "$TL_TMP/opt1.txt"; for _ in $(seq 30); do grep -q '^SIP/2.0 [2-6]' "$out" 2>/dev/null && break; sleep 0.1; done; } |
		timeout 5 openssl s_client -quiet -connect "127.0.0.1:$TLS_PORT" "$@" >"$out" 2>"$out.err"
	return 0
}
s_client_options "$TL_TMP/mtls_none.out"
grep -q '^SIP/2.0' "$TL_TMP/mtls_none.out" && tl_fail "a TLS client without a certificate was served"
s_client_options "$TL_TMP/mtls_self.out" -cert "$D/self.pem" -key "$D/self.key"
grep -q '^SIP/2.0' "$TL_TMP/mtls_self.out" && tl_fail "a TLS client with a self-signed certificate was served"
s_client_options "$TL_TMP/mtls_ok.out" -cert "$D/client.pem" -key "$D/client.key"
grep -q '^SIP/2.0 200' "$TL_TMP/mtls_ok.out" || tl_fail "a TLS client with a CA-signed certificate got no 200: $(cat "$TL_TMP/mtls_ok.out.err" | tail -3)"
sip_controller_stop

# ---- 5. outbound registrations over TLS are verified too ----
# provwrong's registrar presents the wrong name: it never gets a REGISTER
# and the log says why; provgood's (good.example at 127.0.0.1) registers.
tl_spawn reg_good - sipp -sf "$SIP_SCEN/reg_200.xml" -i 127.0.0.1 -p "$GW_GOOD_TCP" -t t1 -m 1 -nostdin \
	-timeout 30s -trace_err -error_file "$TL_TMP/reg_good.errors" -trace_msg -message_file "$TL_TMP/reg_good.msgs"
tl_spawn reg_wrong - sipp -sf "$SIP_SCEN/reg_200.xml" -i 127.0.0.1 -p "$GW_WRONG_TCP" -t t1 -m 1 -nostdin \
	-timeout 30s -trace_err -error_file "$TL_TMP/reg_wrong.errors" -trace_msg -message_file "$TL_TMP/reg_wrong.msgs"
tl_wait_for 20 "the TLS registrars" sip_listening "$GW_WRONG_TCP"
reg() {
	echo "{name: \"$1\", register: {username: \"acc55\", password: \"s3cret\",
		registrar: \"$2\", domain: \"provider.example\", contact_user: \"$3\",
		expires: 60, timeout: 2, retry_min: 30, retry_max: 60}}"
}
jq ".trunks += [$(reg provgood "sip:good.example:$FRONT_GOOD;transport=tls;maddr=127.0.0.1" 4420001),
	$(reg provwrong "sip:127.0.0.1:$FRONT_WRONG;transport=tls" 4420002)]" "$TL_TMP/controller.json" >"$TL_TMP/c5r.json"
: >"$TL_TMP/controller.log"
"$TL_CONTROLLER" -f "$TL_TMP/c5r.json" >"$TL_TMP/controller.out" 2>"$TL_TMP/controller.log" &
SIP_CTL_PID=$!
TL_PIDS+=("$SIP_CTL_PID")
tl_wait_for 10 "the controller to be ready" sip_ctl_ready
reg_state() {
	sip_ctl --json trunks | jq -e ".trunks[] | select(.name == \"$1\") | .registration | $2" >/dev/null
}
tl_wait_for 10 "provgood registered over verified TLS" reg_state provgood '.state == "registered"'
tl_wait_for 10 "provwrong's registrar rejected" grep -q "TLS verification failed: the server's certificate does not name 127.0.0.1" "$TL_TMP/controller.log"
reg_state provwrong '.state != "registered"' || tl_fail "provwrong registered through a certificate for another name"
grep -q "^REGISTER " "$TL_TMP/reg_wrong.msgs" 2>/dev/null && tl_fail "the wrong-name registrar got a REGISTER"
# Stopped once provwrong's attempt has timed out (backing off, no request
# in flight): a REGISTER still waiting on a connection that failed
# verification holds nua_shutdown() for up to 30 s (nta is not told).
tl_wait_for 10 "provwrong to back off" grep -q "trunk provwrong: registration at .* no reply within 2s" "$TL_TMP/controller.log"
sip_controller_stop

# ---- 6. verifying with no trust anchors is a configuration error ----
mkdir -p "$D/noca"
cp "$D/ctl/agent.pem" "$D/noca/agent.pem"
jq ".sip.tls_cert_dir = \"$D/noca\"" "$TL_TMP/controller.json" >"$TL_TMP/c5.json"
"$TL_CONTROLLER" -n -f "$TL_TMP/c5.json" >"$TL_TMP/c5.out" 2>&1 && tl_fail "started verifying with no trust anchors"
grep -q "c5.json:[0-9]*: sip.tls_cert_dir: .*no trust anchors" "$TL_TMP/c5.out" ||
	tl_fail "no clear error without anchors: $(cat "$TL_TMP/c5.out")"
jq '.sip.tls_verify = false' "$TL_TMP/c5.json" >"$TL_TMP/c6.json"
"$TL_CONTROLLER" -n -f "$TL_TMP/c6.json" >"$TL_TMP/c6.out" 2>&1 || tl_fail "tls_verify false still wants anchors: $(cat "$TL_TMP/c6.out")"
tl_relayd_stop
tl_pass
