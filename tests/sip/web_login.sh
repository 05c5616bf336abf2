#!/bin/bash
# run-also: asan
#
# The WebRTC gateway's listener (issue 14): the controller serves the web
# phone over HTTP on loopback and the browser signalling on /ws. Login is
# a digest challenge (the password never crosses the wire): the right
# password logs in; a wrong one, an unknown username and a replayed
# answer are refused with clear errors and counted, three failures close
# the connection, and failures over protection.auth_failures ban the
# username (its right password is refused too). A plain listener on a
# non-loopback address and HTTPS with a missing key are config errors
# naming file:line and the field; an HTTPS listener serves the page.
. "$(dirname "$0")/../lib/sip.sh"
PY=/usr/bin/python3
$PY -c 'import websockets' 2>/dev/null || tl_skip "python3-websockets not installed"
command -v curl >/dev/null 2>&1 || tl_skip "curl not installed"
sip_init
WEB_PORT=$((SIP_BASE + 8))
WEB=127.0.0.1:$WEB_PORT
WC="$PY $TL_ROOT/tests/lib/webclient.py ws://$WEB/ws"

# 1. Config errors: plain on a routable address, a certificate without a key.
sip_controller_config ".web = {listen: \"192.0.2.1:$WEB_PORT\", root: \"$TL_ROOT/web\"}"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/controller.json" 2>&1) && tl_fail "a plain web listener on 192.0.2.1 was accepted"
echo "$out" | grep -q 'controller.json:[0-9]*: web.listen: plain HTTP/WS is allowed only on a loopback' ||
	tl_fail "unclear config error: $out"
sip_controller_config ".web = {listen: \"$WEB\", root: \"$TL_ROOT/web\", certificate: \"$TL_ROOT/README.md\"}"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/controller.json" 2>&1) && tl_fail "a certificate without a key was accepted"
echo "$out" | grep -q 'controller.json:[0-9]*: web.key: give both' || tl_fail "unclear config error: $out"
sip_controller_config ".web = {listen: \"$WEB\", root: \"$TL_ROOT/web\", color: 1}"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/controller.json" 2>&1) && tl_fail "an unknown web key was accepted"
echo "$out" | grep -q 'web.color' || tl_fail "unclear config error: $out"

sip_relayd_start
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}, {username: \"bob\", password: \"bpass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}
	| .protection = {auth_failures: 4, auth_window: 60, auth_ban: 60}"
grep -q "web listener on $WEB" "$TL_TMP/controller.log" || tl_fail "no web listener in the log"

# 2. The page and its script come from the repository's web/.
curl -sf "http://$WEB/" -o "$TL_TMP/index.html" || tl_fail "GET / failed"
cmp -s "$TL_TMP/index.html" "$TL_ROOT/web/index.html" || tl_fail "GET / is not web/index.html"
curl -sf "http://$WEB/phone.js" -o "$TL_TMP/phone.js" || tl_fail "GET /phone.js failed"
cmp -s "$TL_TMP/phone.js" "$TL_ROOT/web/phone.js" || tl_fail "GET /phone.js is not web/phone.js"
curl -sfI "http://$WEB/" | grep -qi "^content-security-policy: default-src 'self'" ||
	tl_fail "the page is served without its Content-Security-Policy"
code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://$WEB/../README.md")
[ "$code" != 200 ] || tl_fail "a path outside web/ was served"
grep -q 'http' "$TL_TMP/index.html" && tl_fail "the page refers to another site"

# 3. Login: right password; wrong ones (counted, connection closed).
$WC login alice apass || tl_fail "alice cannot log in"
$WC login_wrong alice apass || tl_fail "wrong logins are not refused as they should be"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.web.logins == 1 and .web.login_failures == 3 and .web.closed_by_limit >= 1' \
	"logins and failures are counted"
grep -q "login as 'alice' refused" "$TL_TMP/controller.log" || tl_fail "no log line for a refused login"

# 4. Failed logins over protection.auth_failures (from 127.0.0.5) ban the
# username (its right password is refused from anywhere) and the source
# (any login from it is refused, as its SIP requests are dropped).
WC_SRC=127.0.0.5 $WC ban bob bpass 4 || tl_fail "bob was not banned after 4 failures"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.web.login_banned >= 1' "a banned login is counted"
WC_SRC=127.0.0.5 $WC login alice apass 2>/dev/null && tl_fail "a banned source logged in"
grep -q "source 127.0.0.5: 4 failed logins" "$TL_TMP/controller.log" || tl_fail "the source was not banned"
$WC login alice apass || tl_fail "alice cannot log in from another source while bob is banned"
# A reload keeps the listener (its settings change only on restart).
sip_ctl reload >/dev/null || tl_fail "reload failed"
$WC login alice apass || tl_fail "no login after a reload"
sip_controller_stop

# 5. HTTPS/WSS with a certificate.
if command -v openssl >/dev/null 2>&1; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
		-keyout "$TL_TMP/key.pem" -out "$TL_TMP/cert.pem" >/dev/null 2>&1 || tl_fail "cannot make a certificate"
	sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
		| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\", certificate: \"$TL_TMP/cert.pem\", key: \"$TL_TMP/key.pem\"}"
	curl -sfk "https://$WEB/" -o "$TL_TMP/index2.html" || tl_fail "GET / over https failed"
	cmp -s "$TL_TMP/index2.html" "$TL_ROOT/web/index.html" || tl_fail "https GET / is not web/index.html"
	SSL_CERT_FILE=$TL_TMP/cert.pem $PY "$TL_ROOT/tests/lib/webclient.py" "wss://$WEB/ws" login alice apass ||
		tl_fail "login over wss failed"
	sip_controller_stop
fi
tl_pass
