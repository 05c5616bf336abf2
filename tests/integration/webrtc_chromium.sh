#!/bin/bash
# exclusive
#
# webrtc_chromium.sh: a real browser on a WebRTC leg. Headless Chromium
# (Debian's, fake microphone) in the caller namespace loads a probe page
# from a stand-in web server (tests/lib/webrtc_http.py: the controller's
# web listener is separate work), offers PCMU over UDP/TLS/RTP/SAVPF; the
# server sends the offer to relayd (peer_transport RTP/AVP), answers for a
# plain RTP endpoint in the callee namespace, and gives the browser the
# answer built from the relay's reply. Chromium's pitfalls meet relayd
# here: its ClientHello spans two datagrams, offers DTLS 1.3 and arrives
# before the nominating check; it offers AES_CM and AEAD_AES_128_GCM.
# The page must report packets sent and received with DTLS connected; the
# SIP side must receive the browser's RTP decrypted and the relay count
# SRTP both ways.
#
# On the parent commit the offer is refused (unknown_field ice_ufrag).
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

PY=/usr/bin/python3
CHROME=${CHROME:-/usr/lib/chromium/chromium}
CALL=chromium-1

tl_init
[ -x "$CHROME" ] || tl_skip "chromium is not installed ($CHROME)"
command -v unshare >/dev/null 2>&1 || tl_skip "unshare (util-linux) not installed"
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

tl_spawn sip "$TL_NS_CALLEE" "$PY" "$TL_ROOT/tests/lib/webrtc_peer.py" plain \
	--bind "$TL_CALLEE_IP:5000" --secs 40 --out "$TL_TMP/sip.json"
tl_spawn web "$TL_NS_CALLER" "$PY" "$TL_ROOT/tests/lib/webrtc_http.py" \
	--listen 127.0.0.1:18080 --sock "$TL_SOCK" --call "$CALL" \
	--callee "$TL_CALLEE_IP:5000" --ifaces caller,callee --secs 40 \
	--out "$TL_TMP/page.json"
tl_wait_for 10 "the test web server" grep -q listening "$TL_TMP/web.out"
# Its own PID namespace: ending unshare ends every Chromium process.
tl_spawn chromium "$TL_NS_CALLER" unshare --pid --fork --kill-child --mount-proc \
	"$CHROME" --headless=new --no-sandbox --user-data-dir="$TL_TMP/profile" \
	--no-first-run --no-default-browser-check --disable-gpu \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-extensions --mute-audio --autoplay-policy=no-user-gesture-required \
	--use-fake-device-for-media-stream --use-fake-ui-for-media-stream \
	--disable-features=WebRtcHideLocalIpsWithMdns --enable-logging=stderr --v=0 \
	"http://127.0.0.1:18080/page.html?hold=3000"
tl_reap web 50
WEB_RC=$TL_RC
tl_kill_pid "${TL_PID[chromium]}" 1
[ "$WEB_RC" = 0 ] || tl_fail "the page never reported (web server exit $WEB_RC): $(grep -a 'RESULT\|STEP\|ERROR' "$TL_TMP/chromium.err" | tail -n 10)"
P=$(cat "$TL_TMP/page.json")
tl_log "page: $(jq -c 'del(.offer_reply, .answer_reply, .browser_offer)' <<<"$P")"
tl_reap sip 45
S=$(cat "$TL_TMP/sip.json")
tl_log "sip side: $S"

tl_assert_json "$P" '.ok and .connected and .dtlsState == "connected" and .packetsSent > 50 and .packetsReceived > 50' \
	"Chromium: connected through the relay, audio sent and received (getStats)"
tl_assert_json "$P" '.iceRole == "controlling"' "Chromium took the controlling role against our ICE-lite"
tl_assert_json "$S" '.rx > 50 and .rx_bad == 0 and .seq_ok and .pts == [0] and (.ssrcs | length) == 1' \
	"the SIP side got Chromium's PCMU decrypted"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
tl_log "leg A webrtc: $(jq -c '.streams[0].legs[0].webrtc' <<<"$TL_REPLY")"
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].webrtc | .ice == "nominated" and .stun_ok > 0 and .stun_bad == 0 and .srtp_in > 50 and .srtp_out > 50 and .srtp_auth_fail == 0 and .dtls_bad_fingerprint == 0 and .dtls_fail == 0' \
	"leg A: nominated, SRTP both ways, no failures"
tl_assert_json "$TL_REPLY" '.streams[0].legs[0].webrtc.srtp_profile == "AEAD_AES_128_GCM"' \
	"Chromium offers AEAD_AES_128_GCM and the relay prefers it"
tl_relayd_stop
tl_pass
