#!/bin/bash
#
# SRTP refusals of a web user's call reach the CDR (issue 14): aiortc as
# the browser (tests/lib/webrtc_browser.py: real ICE, DTLS and SRTP
# through the controller's WebSocket and the relay) calls a SIPp gateway
# that echoes RTP and, one second in, sends 20 packets with broken SRTP
# authentication tags. The relay drops and counts them; the controller
# reads the leg's counters from the relay's final statistics (the delete
# reply) and writes them into the CDR: media.caller_to_callee.webrtc
# .srtp_auth_fail == 20, and those packets were not relayed. relayd's
# stats count them too (webrtc.srtp_auth_fail), and the controller's
# status shows those totals per relay.
#
# On the parent commit the CDR has no "webrtc" counters (the assertion on
# media.caller_to_callee.webrtc fails) and stats has no "webrtc" object.
. "$(dirname "$0")/../lib/sip.sh"
PY=/usr/bin/python3
$PY -c 'import aiortc, websockets' 2>/dev/null || tl_skip "python3-aiortc or python3-websockets not installed"
sip_init
WEB=127.0.0.1:$((SIP_BASE + 8))
BAD=20
sip_relayd_start
tl_rpc_ok '{"cmd":"hello"}' "relay hello"
jq -e '.features | index("webrtc") != null' >/dev/null <<<"$TL_REPLY" ||
	tl_skip "relayd's hello features lack \"webrtc\""
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT" -mp "$SIP_CALLEE_RTP" -rtp_echo
$PY "$TL_ROOT/tests/lib/webrtc_browser.py" "ws://$WEB/ws" call alice apass 441234 \
	--secs 4 --bad-tags "$BAD" --out "$TL_TMP/b.json" 2>"$TL_TMP/b.err" ||
	tl_fail "the aiortc browser failed: $(cat "$TL_TMP/b.json") $(tail -n 5 "$TL_TMP/b.err")"
B=$(cat "$TL_TMP/b.json")
tl_log "browser: $B"
tl_assert_json "$B" ".answered == true and .dtls == \"connected\" and .bad_sent == $BAD and .frames > 50" \
	"the browser's call connected (DTLS), heard the echo and sent $BAD broken tags"
tl_wait_for 10 "the gateway's BYE" grep -q "^BYE " "$TL_TMP/gw1.msgs"
sip_cdr_wait 1
tl_log "CDR media: $(jq -c .media <<<"$SIP_CDR_LAST")"
SENT=$(jq .packets_sent <<<"$B")
tl_assert_json "$SIP_CDR_LAST" ".media.caller_to_callee.webrtc.srtp_auth_fail == $BAD
	and .media.caller_to_callee.webrtc.dtls_fail == 0 and .media.caller_to_callee.webrtc.stun_bad == 0" \
	"the CDR counts the browser leg's $BAD SRTP authentication failures"
tl_assert_json "$SIP_CDR_LAST" ".media.caller_to_callee.packets <= $SENT - $BAD and .media.caller_to_callee.packets > 50
	and (.media.callee_to_caller | has(\"webrtc\") | not)" \
	"the broken packets were not relayed ($SENT sent); the SIP leg has no WebRTC counters"
tl_rpc_ok '{"cmd":"stats"}' "relay stats"
tl_assert_json "$TL_REPLY" ".webrtc.srtp_auth_fail == $BAD and .webrtc.legs == 1 and .webrtc.legs_active == 0" \
	"relayd's stats count them too"
ctl_webrtc() { sip_ctl --json status | jq -e ".relays[0].webrtc.srtp_auth_fail == $BAD" >/dev/null; }
tl_wait_for 5 "the controller's status to show the relay's WebRTC totals" ctl_webrtc
sip_controller_stop
tl_pass
