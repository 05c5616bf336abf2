#!/bin/bash
#
# webrtc_call.sh: a WebRTC leg end to end. aiortc (python3-aiortc, a real
# ICE/DTLS/SRTP stack: OpenSSL and libsrtp2, as in browsers' peers) in the
# caller namespace is the browser: its offer goes to relayd as a
# UDP/TLS/RTP/SAVPF media entry with peer_transport RTP/AVP; a plain RTP
# endpoint in the callee namespace is the SIP side and answers. The
# browser's answer SDP is written from the relay's reply (ICE-lite, our
# fingerprint, setup passive, one host candidate). aiortc connects (ICE
# checks answered by the relay, DTLS with the relay as server), sends
# PCMU; the SIP side must receive it decrypted (RTP v2, payload type 0,
# one SSRC, rising sequence numbers) and sends RTP back, which aiortc
# must decode. The relay's counters must show SRTP in and out, and the
# stream must stay in userspace.
#
# On the parent commit (no WebRTC legs) the offer is refused
# (unknown_field ice_ufrag) and the relay counts STUN without answering.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

PY=/usr/bin/python3
PEER=$TL_ROOT/tests/lib/webrtc_peer.py
CALL=webrtc-1
SECS=3

tl_init
"$PY" -c 'import aiortc' 2>/dev/null ||
	tl_skip "python3-aiortc is not installed (Debian package; scripts/install-deps.sh)"
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.features | index("webrtc") != null' "hello lists the webrtc feature"

tl_spawn sip "$TL_NS_CALLEE" "$PY" "$PEER" plain --bind "$TL_CALLEE_IP:5000" \
	--secs $((SECS + 8)) --out "$TL_TMP/sip.json"
tl_spawn browser "$TL_NS_CALLER" "$PY" "$PEER" browser --sock "$TL_SOCK" \
	--call "$CALL" --callee "$TL_CALLEE_IP:5000" --secs "$SECS" \
	--ifaces caller,callee --out "$TL_TMP/browser.json"
tl_reap browser $((SECS + 30)) || tl_fail "the aiortc browser exited $TL_RC: $(tail -n 20 "$TL_TMP/browser.err")"
tl_reap sip $((SECS + 15)) || tl_fail "the SIP side exited $TL_RC: $(tail -n 5 "$TL_TMP/sip.err")"
B=$(cat "$TL_TMP/browser.json")
S=$(cat "$TL_TMP/sip.json")
tl_log "browser: $(jq -c 'del(.offer_reply, .answer_reply)' <<<"$B")"
tl_log "sip side: $S"

tl_assert_json "$B" '.answer_reply.media[0] | .transport == "UDP/TLS/RTP/SAVPF" and .ice_lite == true and .rtcp_mux == true and .setup == "passive" and (.ice_pwd | length) >= 24 and (.fingerprint | startswith("sha-256 ")) and (.candidates | length) == 1' \
	"the reply for the browser's leg carries ICE-lite/DTLS parameters"
tl_assert_json "$B" '.offer_reply.media[0] | .transport == "RTP/AVP" and .rtcp_mux == false and (has("ice_ufrag") | not)' \
	"the reply for the SIP leg is plain RTP/AVP without WebRTC fields"
tl_assert_json "$B" '.connected == true' "aiortc connected through the relay (ICE-lite + DTLS)"
tl_assert_json "$S" '.rx >= 50 and .rx_bad == 0 and .seq_ok and .pts == [0] and (.ssrcs | length) == 1' \
	"the SIP side got the browser's audio decrypted: RTP v2, PCMU, one SSRC, rising sequence numbers"
tl_assert_json "$S" ".src == \"$TL_RELAY_B_IP:$(jq '.offer_reply.media[0].rtp_port' <<<"$B")\"" \
	"the SIP side's RTP came from the relay's leg B port"
tl_assert_json "$B" '.frames >= 50' "aiortc decoded the SIP side's RTP (frames received)"

tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
Q=$TL_REPLY
tl_log "leg A webrtc: $(jq -c '.streams[0].legs[0].webrtc' <<<"$Q")"
tl_assert_json "$Q" '.streams[0].path == "userspace" and (.streams[0].path_reason | test("WebRTC"))' \
	"a WebRTC stream stays in userspace and says why"
tl_assert_json "$Q" '.streams[0].legs[0].webrtc | .ice == "nominated" and (.dtls == "connected" or .dtls == "closed") and .srtp_profile == "AES_CM_128_HMAC_SHA1_80" and .stun_ok > 0 and .stun_bad == 0 and .dtls_bad_fingerprint == 0 and .srtp_auth_fail == 0' \
	"leg A: ICE nominated, DTLS connected (closed once aiortc hung up), SRTP profile, no failures"
SRTP_IN=$(jq '.streams[0].legs[0].webrtc.srtp_in' <<<"$Q")
SRTP_OUT=$(jq '.streams[0].legs[0].webrtc.srtp_out' <<<"$Q")
RX=$(jq '.rx' <<<"$S")
TX=$(jq '.tx' <<<"$S")
tl_assert_json "$Q" ".streams[0].legs[0].webrtc.srtp_in >= $RX" \
	"srtp_in ($SRTP_IN) counts at least what the SIP side received ($RX)"
tl_assert_json "$Q" ".streams[0].legs[0].webrtc.srtp_out >= $(jq '.frames' <<<"$B") and .streams[0].legs[0].webrtc.srtp_out <= $TX" \
	"srtp_out ($SRTP_OUT) lies between what aiortc decoded and what the SIP side sent ($TX)"
tl_assert_json "$Q" ".streams[0].legs[0].latched == (.streams[0].legs[0].webrtc.selected) and .streams[0].legs[1].latched == \"$TL_CALLEE_IP:5000\"" \
	"leg A's peer is the ICE-selected address; leg B latched the SIP side"
tl_assert_json "$Q" '.streams[0].legs[1] | has("webrtc") | not' "leg B is a plain leg"

tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\"}" "delete"
tl_relayd_stop
tl_pass
