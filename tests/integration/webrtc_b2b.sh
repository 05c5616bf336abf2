#!/bin/bash
#
# webrtc_b2b.sh: browser to browser through the relay, both legs WebRTC.
# Two aiortc peers: A offers (UDP/TLS/RTP/SAVPF, no peer_transport, so
# leg B is a WebRTC leg too); the relay's reply is our SDP offer toward B
# (ICE-lite, setup actpass, its own credentials and fingerprint); B's
# answer (setup active) goes to `answer`; the reply is A's answer (setup
# passive). Both connect; audio must be decoded on both sides, each leg
# decrypts what its browser sends and encrypts what the other sent. A
# second call has B answer setup:passive, so the relay is its DTLS client.
#
# On the parent commit the offer is refused (unknown_field ice_ufrag).
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

PY=/usr/bin/python3
PEER=$TL_ROOT/tests/lib/webrtc_peer.py
CALL=b2b-1

tl_init
"$PY" -c 'import aiortc' 2>/dev/null ||
	tl_skip "python3-aiortc is not installed (Debian package; scripts/install-deps.sh)"
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

# Both browsers sit in the caller namespace: both legs on that interface.
tl_spawn pair "$TL_NS_CALLER" "$PY" "$PEER" pair --sock "$TL_SOCK" --call "$CALL" \
	--secs 3 --ifaces caller,caller --out "$TL_TMP/pair.json"
tl_reap pair 45 || tl_fail "the aiortc pair exited $TL_RC: $(tail -n 20 "$TL_TMP/pair.err")"
R=$(cat "$TL_TMP/pair.json")
tl_log "pair: $(jq -c 'del(.offer_reply, .answer_reply)' <<<"$R")"
tl_assert_json "$R" '.offer_reply.media[0] | .transport == "UDP/TLS/RTP/SAVPF" and .setup == "actpass" and .ice_lite == true' \
	"the offer reply is an offer toward browser B (setup actpass)"
tl_assert_json "$R" '.answer_reply.media[0] | .transport == "UDP/TLS/RTP/SAVPF" and .setup == "passive"' \
	"the answer reply is browser A's answer (setup passive)"
tl_assert_json "$R" '.offer_reply.media[0].ice_ufrag != .answer_reply.media[0].ice_ufrag and .offer_reply.media[0].ice_pwd != .answer_reply.media[0].ice_pwd' \
	"each leg has its own ICE credentials"
tl_assert_json "$R" '.connected and .frames_a >= 50 and .frames_b >= 50' "both browsers connected and decoded the other's audio"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
tl_log "webrtc: $(jq -c '[.streams[0].legs[].webrtc | {ice, dtls, dtls_role, srtp_profile, srtp_in, srtp_out}]' <<<"$TL_REPLY")"
tl_assert_json "$TL_REPLY" '[.streams[0].legs[].webrtc | .dtls_role == "server" and .srtp_in > 50 and .srtp_out > 50 and .srtp_auth_fail == 0 and .stun_bad == 0] == [true, true]' \
	"both legs: DTLS server, SRTP in and out, no failures"
tl_assert_json "$TL_REPLY" '.streams[0].path == "userspace"' "userspace only"
tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\"}" "delete"

# Again with B answering setup:passive: the relay is B's DTLS client and
# sends the ClientHello once B's first check passed.
CALL=b2b-2
tl_spawn pair2 "$TL_NS_CALLER" "$PY" "$PEER" pair --sock "$TL_SOCK" --call "$CALL" \
	--secs 2 --ifaces caller,caller --b-passive --out "$TL_TMP/pair2.json"
tl_reap pair2 45 || tl_fail "the aiortc pair (B passive) exited $TL_RC: $(tail -n 20 "$TL_TMP/pair2.err")"
R=$(cat "$TL_TMP/pair2.json")
tl_log "pair, B passive: $(jq -c 'del(.offer_reply, .answer_reply)' <<<"$R")"
tl_assert_json "$R" '.connected and .frames_a >= 30 and .frames_b >= 30' "B passive: both connected, audio both ways"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
tl_assert_json "$TL_REPLY" '[.streams[0].legs[].webrtc.dtls_role] == ["server", "client"] and ([.streams[0].legs[].webrtc.srtp_in] | all(. > 30))' \
	"leg B: the relay was the DTLS client; SRTP flowed on both legs"
tl_relayd_stop
tl_pass
