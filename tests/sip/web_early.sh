#!/bin/bash
#
# Early media to the browser (issue 14): aiortc as the browser
# (tests/lib/webrtc_browser.py: real ICE, DTLS and SRTP) calls a SIPp
# gateway that answers 183 with SDP, echoes RTP, and sends the 200 (no
# SDP: the 183's answer stands) 4 s later. The browser gets "early" (code
# 183, an ICE-lite answer it applies at once), DTLS connects and it hears
# the echo before the call is answered (frames decoded from decrypted
# SRTP during the early phase), then "answered", media on, CDR 200.
#
# On the parent commit a 183 reached the browser as "ringing" only (no
# SDP): nothing was heard before the 200 (frames_early == 0, no "early").
. "$(dirname "$0")/../lib/sip.sh"
sip_web_init
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

sed 's|<pause milliseconds="1500"/>|<pause milliseconds="4000"/>|' "$SIP_SCEN/uas_183_200.xml" >"$TL_TMP/uas_183_200_4s.xml"
grep -q 'milliseconds="4000"' "$TL_TMP/uas_183_200_4s.xml" || tl_fail "could not lengthen the early phase"
SIP_SCEN=$TL_TMP sip_uas gw1 uas_183_200_4s.xml "$SIP_GW1_PORT" -mp "$SIP_CALLEE_RTP" -rtp_echo
$PY "$TL_ROOT/tests/lib/webrtc_browser.py" "ws://$WEB/ws" call alice apass 441234 \
	--secs 2 --out "$TL_TMP/b.json" 2>"$TL_TMP/b.err" ||
	tl_fail "the aiortc browser failed: $(cat "$TL_TMP/b.json") $(tail -n 5 "$TL_TMP/b.err")"
B=$(cat "$TL_TMP/b.json")
tl_log "browser: $B"
tl_assert_json "$B" '[.messages[].type] | index("early") != null and index("early") < index("answered")' \
	"the browser got \"early\" before \"answered\""
tl_assert_json "$B" '.messages[] | select(.type == "early") | .code == 183' "\"early\" carries the 183"
tl_assert_json "$B" '.early == true and .frames_early > 25' \
	"the browser heard early media (decrypted SRTP) before the answer"
tl_assert_json "$B" '.answered == true and .dtls == "connected" and .frames > 25' "then the call was answered, media on"
tl_wait_for 10 "the gateway's BYE" grep -q "^BYE " "$TL_TMP/gw1.msgs"
sip_expect gw1 20 "the gateway's call completes"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "gw1" and .media.callee_to_caller.packets > 50' \
	"the CDR: 200, media from the gateway (early and after)"
sip_controller_stop
tl_pass
