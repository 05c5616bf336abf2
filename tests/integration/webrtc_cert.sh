#!/bin/bash
#
# webrtc_cert.sh: relayd's DTLS certificate from the configuration
# (webrtc.certificate / webrtc.key). A loaded certificate's SHA-256
# fingerprint is the one every WebRTC reply carries (checked against
# openssl's own digest of the file); a key that does not match the
# certificate, or a file that is not a certificate, stops the relay at
# start with a message naming the field; without the keys the relay makes
# its own certificate, a new one (new fingerprint) at each start, and
# calls with a WebRTC leg do not come back from the journal.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

tl_init
command -v openssl >/dev/null 2>&1 || tl_skip "the openssl command is not installed"
tl_netns_setup

D=$TL_TMP/pki
mkdir -p "$D"
for n in a b; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$D/$n.key" -out "$D/$n.pem" -days 30 -subj "/CN=relay-$n" \
		>"$TL_TMP/openssl.log" 2>&1 || tl_fail "openssl req: $(cat "$TL_TMP/openssl.log")"
done
WANT="sha-256 $(openssl x509 -in "$D/a.pem" -noout -fingerprint -sha256 | cut -d= -f2)"
FP="sha-256 $(printf 'AB:%.0s' $(seq 31))AB"

offer_fp() {	# the fingerprint in the reply for a WebRTC leg
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$1\",\"from_tag\":\"sip\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000,\"peer_transport\":\"UDP/TLS/RTP/SAVPF\"}]}" "offer $1 toward a browser"
	tl_assert_json "$TL_REPLY" '.media[0] | .transport == "UDP/TLS/RTP/SAVPF" and .setup == "actpass" and .ice_lite == true' \
		"a SIP offer toward a browser: the reply is our offer (setup actpass)"
	jq -r '.media[0].fingerprint' <<<"$TL_REPLY"
}

# A configured certificate: its fingerprint, exactly.
tl_relayd_config "$TL_TMP/relayd.json" ".webrtc = {certificate: \"$D/a.pem\", key: \"$D/a.key\"}"
tl_relayd_start "$TL_TMP/relayd.json"
GOT=$(offer_fp c1)
[ "$GOT" = "$WANT" ] || tl_fail "reply fingerprint '$GOT', the certificate's is '$WANT'"
tl_log "configured certificate: $GOT"
# The browser's answer: SAVPF with its parameters; rtcp_mux is required.
tl_rpc_err "{\"cmd\":\"answer\",\"call_id\":\"c1\",\"from_tag\":\"sip\",\"to_tag\":\"web\",\"media\":[{\"type\":\"audio\",\"transport\":\"UDP/TLS/RTP/SAVPF\",\"address\":\"0.0.0.0\",\"rtp_port\":9,\"ice_ufrag\":\"brws\",\"ice_pwd\":\"abcdefghijklmnopqrstuv\",\"fingerprint\":\"$FP\",\"setup\":\"active\"}]}" \
	invalid_value "an answer without rtcp_mux"
tl_rpc_err "{\"cmd\":\"answer\",\"call_id\":\"c1\",\"from_tag\":\"sip\",\"to_tag\":\"web\",\"media\":[{\"type\":\"audio\",\"transport\":\"UDP/TLS/RTP/SAVPF\",\"address\":\"0.0.0.0\",\"rtp_port\":9,\"rtcp_mux\":true,\"ice_ufrag\":\"brws\",\"ice_pwd\":\"abcdefghijklmnopqrstuv\",\"fingerprint\":\"sha-1 AB:CD\",\"setup\":\"active\"}]}" \
	invalid_value "a sha-1 fingerprint"
tl_rpc_err "{\"cmd\":\"answer\",\"call_id\":\"c1\",\"from_tag\":\"sip\",\"to_tag\":\"web\",\"media\":[{\"type\":\"audio\",\"transport\":\"UDP/TLS/RTP/SAVPF\",\"address\":\"0.0.0.0\",\"rtp_port\":9,\"rtcp_mux\":true,\"ice_pwd\":\"abcdefghijklmnopqrstuv\",\"fingerprint\":\"$FP\",\"setup\":\"active\"}]}" \
	missing_field "SAVPF without ice_ufrag"
tl_rpc_err "{\"cmd\":\"answer\",\"call_id\":\"c1\",\"from_tag\":\"sip\",\"to_tag\":\"web\",\"media\":[{\"type\":\"audio\",\"address\":\"10.0.2.2\",\"rtp_port\":5000,\"ice_ufrag\":\"brws\"}]}" \
	invalid_value "ICE fields on a plain entry"
tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"c1\",\"from_tag\":\"sip\",\"to_tag\":\"web\",\"media\":[{\"type\":\"audio\",\"transport\":\"UDP/TLS/RTP/SAVPF\",\"address\":\"0.0.0.0\",\"rtp_port\":9,\"rtcp_mux\":true,\"ice_ufrag\":\"brws\",\"ice_pwd\":\"abcdefghijklmnopqrstuv\",\"fingerprint\":\"$FP\",\"setup\":\"active\"}]}" \
	"the browser's answer"
tl_assert_json "$TL_REPLY" '.media[0] | .transport == "RTP/AVP" and (has("fingerprint") | not)' \
	"the reply toward the SIP side is plain"
tl_rpc_ok '{"cmd":"query","call_id":"c1"}' "query c1"
tl_assert_json "$TL_REPLY" '.streams[0].legs[1].webrtc | .dtls_role == "server" and .ice == "new"' \
	"leg B is the WebRTC leg; the browser said active: the relay is the DTLS server"

# ICE restart by the browser (a re-offer from leg B with a new ufrag):
# the relay's reply toward it (the answer's) carries new credentials of
# ours; the same parameters again change nothing.
SIP_A="{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}"
creds() {
	tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"c1\",\"from_tag\":\"web\",\"to_tag\":\"sip\",\"media\":[$SIP_A]}" "$1"
	jq -c '.media[0] | [.ice_ufrag, .ice_pwd, .fingerprint, .setup]' <<<"$TL_REPLY"
}
C1=$(creds "the SIP side's answer to a re-offer from the browser")
C1b=$(creds "the same again")
[ "$C1" = "$C1b" ] || tl_fail "an unchanged exchange changed our ICE credentials: $C1 / $C1b"
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"c1\",\"from_tag\":\"web\",\"media\":[{\"type\":\"audio\",\"transport\":\"UDP/TLS/RTP/SAVPF\",\"address\":\"0.0.0.0\",\"rtp_port\":9,\"rtcp_mux\":true,\"ice_ufrag\":\"brw2\",\"ice_pwd\":\"abcdefghijklmnopqrstu2\",\"fingerprint\":\"$FP\",\"setup\":\"actpass\"}]}" \
	"the browser's ICE-restart re-offer"
tl_assert_json "$TL_REPLY" '.media[0] | .transport == "RTP/AVP" and .rtcp_mux == false' "its reply (toward SIP) stays plain"
C2=$(creds "the SIP side's answer after the ICE restart")
jq -e --argjson a "$C1" --argjson b "$C2" '$a[0] != $b[0] and $a[1] != $b[1] and $a[2] == $b[2] and $b[3] == "passive"' >/dev/null <<<'{}' ||
	tl_fail "ICE restart: want new ufrag/pwd, same fingerprint, setup passive: before $C1, after $C2"
tl_log "ICE restart: our credentials $C1 -> $C2"
tl_relayd_stop

# A key that is not the certificate's; a file that is not a certificate.
tl_relayd_config "$TL_TMP/bad.json" ".webrtc = {certificate: \"$D/a.pem\", key: \"$D/b.key\"}"
ip netns exec "$TL_NS_RELAY" timeout 10 "$TL_RELAYD" -f "$TL_TMP/bad.json" >"$TL_TMP/bad.out" 2>&1 &&
	tl_fail "relayd started with a key that does not match its certificate"
grep -q "webrtc.key $D/b.key: cannot load a PEM key matching" "$TL_TMP/bad.out" ||
	tl_fail "no clear error for the mismatched key: $(tail -n 3 "$TL_TMP/bad.out")"
tl_relayd_config "$TL_TMP/bad2.json" ".webrtc = {certificate: \"$D/a.key\", key: \"$D/a.key\"}"
ip netns exec "$TL_NS_RELAY" timeout 10 "$TL_RELAYD" -f "$TL_TMP/bad2.json" >"$TL_TMP/bad2.out" 2>&1 &&
	tl_fail "relayd started with a key file as its certificate"
grep -q "webrtc.certificate $D/a.key: cannot load a PEM certificate" "$TL_TMP/bad2.out" ||
	tl_fail "no clear error for the bad certificate: $(tail -n 3 "$TL_TMP/bad2.out")"
tl_log "bad key and bad certificate refused at start with the field named"

# Without the keys: a certificate made at start, a new one each time.
tl_relayd_config "$TL_TMP/relayd.json"
TL_SOCK=
tl_relayd_start "$TL_TMP/relayd.json"
F1=$(offer_fp m1)
tl_relayd_stop
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_err '{"cmd":"query","call_id":"m1"}' not_found \
	"a call with a WebRTC leg is not journalled: gone after a restart"
F2=$(offer_fp m2)
tl_relayd_stop
[[ $F1 == "sha-256 "* && ${#F1} == 103 && $F1 != "$F2" ]] ||
	tl_fail "made certificates: '$F1' then '$F2'"
tl_pass
