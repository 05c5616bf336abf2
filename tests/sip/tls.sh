#!/bin/bash
#
# TLS listener: with sip.tls_listen and a certificate directory
# (agent.pem = key + certificate, cafile.pem) the controller accepts SIP
# over TLS: an OPTIONS sent with openssl s_client is answered 200 OK, and
# an INVITE over TLS from a source that is no trunk gets 403. Without the
# certificate directory's files the controller refuses to start.
# Not run under ASan: Sofia's TLS transport (1.12.11) leaks the OpenSSL
# state of each closed TLS connection (LeakSanitizer, inside libssl).
. "$(dirname "$0")/../lib/sip.sh"
command -v openssl >/dev/null 2>&1 || tl_skip "openssl not installed"
sip_init
TLS_PORT=$((SIP_BASE + 6))
mkdir -p "$TL_TMP/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
	-keyout "$TL_TMP/tls/key.pem" -out "$TL_TMP/tls/cert.pem" >/dev/null 2>&1 ||
	tl_fail "cannot make a test certificate"
cat "$TL_TMP/tls/key.pem" "$TL_TMP/tls/cert.pem" >"$TL_TMP/tls/agent.pem"
cp "$TL_TMP/tls/cert.pem" "$TL_TMP/tls/cafile.pem"
sip_relayd_start
sip_controller_start ".sip.tls_listen = \"127.0.0.1:$TLS_PORT\" | .sip.tls_cert_dir = \"$TL_TMP/tls\""
grep -q "TLS on sips:127.0.0.1:$TLS_PORT" "$TL_TMP/controller.log" || tl_fail "no TLS listener in the log"
tl_wait_for 5 "the TLS port" bash -c "ss -tlnH 'sport = :$TLS_PORT' | grep -q ."

# sip_tls REQUEST-FILE OUT: send over TLS, keep the connection open until
# a final response arrives (bounded), save what came back.
sip_tls() {
	{ cat "$1"; for _ in $(seq 40); do grep -q '^SIP/2.0 [2-6]' "$2" 2>/dev/null && break; sleep 0.1; done; } |
		timeout 5 openssl s_client -quiet -connect "127.0.0.1:$TLS_PORT" >"$2" 2>"$2.err"
	return 0
}
printf 'OPTIONS sip:127.0.0.1:%s;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1\r\nFrom: <sip:probe@127.0.0.1>;tag=t1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tls1@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n' \
	"$TLS_PORT" >"$TL_TMP/options.txt"
sip_tls "$TL_TMP/options.txt" "$TL_TMP/options.out"
grep -q '^SIP/2.0 200' "$TL_TMP/options.out" || tl_fail "no 200 to OPTIONS over TLS: $(head -3 "$TL_TMP/options.out") $(tail -3 "$TL_TMP/options.out.err")"
grep -qi 'Via: SIP/2.0/TLS' "$TL_TMP/options.out" || tl_fail "the response is not for a TLS request"

# 127.0.0.1 is no trunk in this config: an INVITE over TLS gets 403
body=$'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'
printf 'INVITE sip:441234567@127.0.0.1:%s;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls2\r\nFrom: <sip:1@127.0.0.1>;tag=t2\r\nTo: <sip:441234567@127.0.0.1>\r\nCall-ID: tls2@probe\r\nCSeq: 1 INVITE\r\nContact: <sip:1@127.0.0.1:5999;transport=tls>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s' \
	"$TLS_PORT" "${#body}" "$body" >"$TL_TMP/invite.txt"
sip_tls "$TL_TMP/invite.txt" "$TL_TMP/invite.out"
grep -q '^SIP/2.0 403' "$TL_TMP/invite.out" || tl_fail "no 403 to an unknown INVITE over TLS: $(head -3 "$TL_TMP/invite.out")"
sip_controller_stop

# a certificate directory without certificates: a config error
mkdir -p "$TL_TMP/empty"
jq ".sip.tls_cert_dir = \"$TL_TMP/empty\" | .sip.tls_listen = \"127.0.0.1:$TLS_PORT\"" \
	"$TL_TMP/controller.json" >"$TL_TMP/c2.json"
timeout 10 "$TL_CONTROLLER" -f "$TL_TMP/c2.json" >"$TL_TMP/c2.out" 2>&1 && tl_fail "started with no certificate"
grep -q "c2.json:[0-9]*: sip.tls_cert_dir: .*/agent.pem: No such file" "$TL_TMP/c2.out" ||
	tl_fail "no clear error without a certificate: $(tail -3 "$TL_TMP/c2.out")"
tl_relayd_stop
tl_pass
