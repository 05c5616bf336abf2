#!/bin/bash
#
# webrtc_lazy.sh: when relayd starts libsrtp2 and its DTLS context, and
# what a failed start does (libsrtp2's init fails in some guests: a relay
# that never sees a browser must not depend on it).
#  0. By default at start, before any request: stats.webrtc.state is
#     "ready" at once and the first WebRTC offer does not pay for OpenSSL
#     and a new certificate (0.5-1.2 s on a loaded machine, past the
#     controller's relay_timeout: the first browser call failed). A bad
#     webrtc.start is a config error with file:line and the field. On the
#     parent the state was "untried" until the first WebRTC leg.
# With webrtc.start "first_leg" (the old behaviour):
#  1. With a configured certificate (checked at start): hello lists
#     "webrtc" (supported unless its start failed), stats.webrtc.state is
#     "untried" and nothing was started.
#  2. The certificate files go away before the first WebRTC offer: that
#     offer is refused with the reason (internal, "WebRTC legs are not
#     available on this relay: DTLS: webrtc.certificate ..."), the failure
#     is final (a second offer too), hello drops "webrtc", stats says
#     "failed" with the error; plain RTP calls go on.
#  3. Without configured files: the first WebRTC offer starts them
#     ("ready"), hello keeps "webrtc".
#
# On the parent commit both were started at start: stats has no
# webrtc.state (step 1 fails) and a removed certificate changed nothing.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
tl_init
command -v openssl >/dev/null 2>&1 || tl_skip "the openssl command is not installed"
tl_netns_setup
D=$TL_TMP/pki
mkdir -p "$D"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/r.key" \
	-out "$D/r.pem" -days 30 -subj "/CN=relay" >"$TL_TMP/openssl.log" 2>&1 ||
	tl_fail "openssl req: $(cat "$TL_TMP/openssl.log")"
SAVPF_OFFER() {	# a SIP offer toward a browser: the B leg is WebRTC
	echo "{\"cmd\":\"offer\",\"call_id\":\"$1\",\"from_tag\":\"sip\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000,\"peer_transport\":\"UDP/TLS/RTP/SAVPF\"}]}"
}
features_webrtc() {
	tl_rpc_ok '{"cmd":"hello"}' "hello"
	jq -r '.features | index("webrtc") != null' <<<"$TL_REPLY"
}

# 0. The default: started at start.
tl_relayd_config "$TL_TMP/relayd0.json" ".webrtc = {certificate: \"$D/r.pem\", key: \"$D/r.key\"}"
tl_relayd_start "$TL_TMP/relayd0.json"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.webrtc.state == "ready" and .webrtc.legs == 0' "started at start, before any WebRTC leg"
grep -q "webrtc: started at start: DTLS certificate $D/r.pem" "$TL_TMP/relayd.log" || tl_fail "the start is not logged"
[ "$(features_webrtc)" = true ] || tl_fail "hello lacks webrtc"
mv "$D/r.pem" "$D/r.pem.gone"	# loaded at start: files gone later change nothing
tl_rpc_ok "$(SAVPF_OFFER w0)" "a WebRTC offer after the files went away"
tl_assert_json "$TL_REPLY" '.media[0].fingerprint | startswith("sha-256 ")' "it carries the fingerprint"
mv "$D/r.pem.gone" "$D/r.pem"
tl_relayd_stop
tl_relayd_config "$TL_TMP/bad.json" '.webrtc = {start: "later"}'
out=$("$TL_RELAYD" -n -f "$TL_TMP/bad.json" 2>&1) && tl_fail "webrtc.start \"later\" was accepted"
grep -Eq 'bad.json:[0-9]+: webrtc\.start: .*later' <<<"$out" || tl_fail "unexpected error for a bad webrtc.start: $out"

# 1. Configured certificate: checked at start, nothing started.
tl_relayd_config "$TL_TMP/relayd.json" ".webrtc = {certificate: \"$D/r.pem\", key: \"$D/r.key\", start: \"first_leg\"}"
tl_relayd_start "$TL_TMP/relayd.json"
[ "$(features_webrtc)" = true ] || tl_fail "hello lacks webrtc before any WebRTC leg"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.webrtc.state == "untried" and .webrtc.legs == 0' "nothing started at start (untried)"
grep -q "webrtc: started" "$TL_TMP/relayd.log" && tl_fail "WebRTC started before any WebRTC leg"

# 2. The files are gone at the first WebRTC offer: a clear, final refusal.
mv "$D/r.pem" "$D/r.pem.gone"
tl_rpc_err "$(SAVPF_OFFER w1)" internal "a WebRTC offer when the DTLS context cannot start"
tl_log "refusal: $(jq -c .error <<<"$TL_REPLY")"
jq -e --arg f "$D/r.pem" '.error.message | startswith("offer: WebRTC legs are not available on this relay: DTLS: webrtc.certificate " + $f) or startswith("WebRTC legs are not available on this relay: DTLS: webrtc.certificate " + $f)' >/dev/null <<<"$TL_REPLY" ||
	tl_fail "the refusal does not say why: $TL_REPLY"
mv "$D/r.pem.gone" "$D/r.pem"
tl_rpc_err "$(SAVPF_OFFER w2)" internal "a second WebRTC offer: the failure is final"
[ "$(features_webrtc)" = false ] || tl_fail "hello still lists webrtc after its start failed"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.webrtc.state == "failed" and (.webrtc.error | test("webrtc.certificate")) and .sessions == 0' \
	"stats: failed, with the reason; no session left behind"
grep -q "webrtc: DTLS: webrtc.certificate .*WebRTC legs are refused from now on" "$TL_TMP/relayd.log" ||
	tl_fail "the failure is not logged with its reason"
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"p1\",\"from_tag\":\"a\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}" \
	"a plain RTP offer still works"
tl_relayd_stop

# 3. A made certificate: started by the first WebRTC offer.
tl_relayd_config "$TL_TMP/relayd2.json" '.webrtc = {start: "first_leg"}'
tl_relayd_start "$TL_TMP/relayd2.json"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.webrtc.state == "untried"' "untried at start"
tl_rpc_ok "$(SAVPF_OFFER w3)" "the first WebRTC offer"
tl_assert_json "$TL_REPLY" '.media[0].fingerprint | startswith("sha-256 ")' "its reply carries the fingerprint made now"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.webrtc.state == "ready" and .webrtc.legs == 1 and .webrtc.legs_active == 1' "ready after the first WebRTC leg"
[ "$(features_webrtc)" = true ] || tl_fail "hello lacks webrtc once started"
grep -q "webrtc: started at the first WebRTC leg" "$TL_TMP/relayd.log" || tl_fail "the start is not logged"
tl_relayd_stop
tl_pass
