#!/bin/bash
# timeout: 120
#
# A real browser (issue 14): headless Chromium with a fake microphone
# loads the web phone from the controller, logs in as a local account
# (digest challenge in the page), calls a number routed to a SIPp gateway
# that echoes RTP, holds 4 s, sends a DTMF tone and hangs up. The page's
# getStats() must show RTP sent and received over a connected DTLS
# transport, and the call's CDR (the relay's counters) packets both ways
# between the browser's SRTP leg and the gateway's RTP leg.
# Needs the relay's WebRTC legs (relayd hello feature "webrtc"); skipped
# with the reason otherwise. One browser at a time (about 0.5 GB, 5 CPU-s:
# /work/shared/recipes/webrtc-browser/FINDINGS.md); bounded by timeouts.
. "$(dirname "$0")/../lib/sip.sh"
CHROME=${TL_CHROMIUM:-/usr/lib/chromium/chromium}
[ -x "$CHROME" ] || tl_skip "chromium not installed ($CHROME)"
sip_init
WEB=127.0.0.1:$((SIP_BASE + 8))
sip_relayd_start
tl_rpc_ok '{"cmd":"hello"}' "relay hello"
jq -e '.features | index("webrtc") != null' >/dev/null <<<"$TL_REPLY" ||
	tl_skip "relayd's hello features lack \"webrtc\" (the relay half of issue 14): a browser call needs ICE-lite and DTLS-SRTP on the relay"
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT" -mp "$SIP_CALLEE_RTP" -rtp_echo

mkdir -p "$TL_TMP/profile"
url="http://$WEB/?user=alice&pass=apass&call=441234&hold=4000&deadline=25000"
tl_log "chromium: $url"
# Debian's wrapper adds flags and extensions: the binary itself (recipe).
timeout -k 5 45 "$CHROME" --headless=new --no-sandbox --user-data-dir="$TL_TMP/profile" \
	--no-first-run --no-default-browser-check --disable-gpu \
	--disable-background-networking --disable-component-update --disable-sync --disable-extensions \
	--mute-audio --autoplay-policy=no-user-gesture-required \
	--use-fake-device-for-media-stream --use-fake-ui-for-media-stream \
	--allow-loopback-in-peer-connection --disable-features=WebRtcHideLocalIpsWithMdns \
	--enable-logging=stderr --v=0 "$url" >"$TL_TMP/chromium.out" 2>"$TL_TMP/chromium.err" &
CHROME_PID=$!
TL_PIDS+=("$CHROME_PID")
tl_wait_for 40 "the page's RESULT line" grep -q '"RESULT ' "$TL_TMP/chromium.err"
kill -TERM "$CHROME_PID" 2>/dev/null
tl_try_for 10 bash -c "! kill -0 $CHROME_PID 2>/dev/null" || tl_fail "chromium did not exit after SIGTERM"
wait "$CHROME_PID" 2>/dev/null
result=$(grep -o '"RESULT .*", source:' "$TL_TMP/chromium.err" | head -n1 |
	sed -e 's/^"RESULT //' -e 's/", source:$//' -e 's/\\"/"/g')
tl_log "page result: $result"
grep -E 'LOG (error|state|pc|ended)' "$TL_TMP/chromium.err" | sed 's/.*"LOG /page: /; s/", source.*//' | head -20
tl_assert_json "$result" '.logged_in == true' "the page logged in"
tl_assert_json "$result" '.answered == true' "the call was answered in the page"
tl_assert_json "$result" '.ok == true and .dtlsState == "connected"' "DTLS connected"
tl_assert_json "$result" '.packetsSent > 50 and .packetsReceived > 50' "RTP both ways in the page's getStats()"
tl_wait_for 10 "the gateway's BYE" grep -q "^BYE " "$TL_TMP/gw1.msgs"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "alice" and .final_code == 200 and .gateway == "gw1"' "the CDR of the browser's call"
tl_assert_json "$SIP_CDR_LAST" '.media.caller_to_callee.packets > 50 and .media.callee_to_caller.packets > 50' \
	"the relay carried media both ways (browser SRTP <-> gateway RTP)"
sip_controller_stop
tl_pass
