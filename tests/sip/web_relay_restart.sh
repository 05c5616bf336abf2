#!/bin/bash
#
# A browser's call when relayd is killed (kill -9) and restarted (issue
# 14): a WebRTC session cannot come back (its DTLS and SRTP keys die with
# the process, and the journal never holds them), so the call must end
# cleanly with its reason, never stay up without media. aiortc as the
# browser (tests/lib/webrtc_browser.py) calls a SIPp gateway that echoes
# RTP; relayd is killed mid-call and started again at once (as under
# systemd's Restart=). Once the controller reconnects and finds the
# session gone: the browser gets "ended" with "media relay restarted: a
# WebRTC session (DTLS keys) does not survive it", the gateway a BYE with
# that Reason, the CDR hangup_by relay with that reason; the restarted
# relay restored no session.
#
# On the parent commit the call ended as "media timeout (event lost,
# found by resync)", which says nothing of the restart.
. "$(dirname "$0")/../lib/sip.sh"
sip_web_init
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .relay_grace = 20 | .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"
relay_up() { sip_ctl --json status | jq -e '.relays[0].up' >/dev/null; }
relay_is_down() { sip_ctl --json status | jq -e '.relays[0].up == false' >/dev/null; }
dtls_up() {
	sip_answered_call && tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$SIP_CALL_ID\"}" &&
		jq -e '.streams[0].legs[0].webrtc.dtls == "connected" and .streams[0].legs[0].stats.packets > 20' <<<"$TL_REPLY" >/dev/null
}

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT" -mp "$SIP_CALLEE_RTP" -rtp_echo
tl_spawn web - $PY "$TL_ROOT/tests/lib/webrtc_browser.py" "ws://$WEB/ws" call alice apass 441234 \
	--secs 30 --out "$TL_TMP/b.json"
tl_wait_for 20 "the browser's call to carry media (DTLS connected)" dtls_up
kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
tl_wait_for 5 "the controller to see the relay down" relay_is_down
mv "$TL_TMP/relayd.log" "$TL_TMP/relayd.1.log"
sip_relayd_start
tl_wait_for 10 "the controller to reconnect" relay_up
tl_reap web 20 || tl_fail "the browser side failed: $(cat "$TL_TMP/b.json") $(tail -n 5 "$TL_TMP/web.err")"
B=$(cat "$TL_TMP/b.json")
tl_log "browser: $B"
tl_assert_json "$B" '.answered == true and .frames >= 10' "the browser's call had media before the kill"
tl_assert_json "$B" '.messages[-1].type == "ended" and (.messages[-1].reason | test("media relay restarted: a WebRTC session"))' \
	"the browser was told the call ended because the relay restarted"
sip_expect gw1 15 "the gateway gets a BYE"
grep -A12 '^BYE ' "$TL_TMP/gw1.msgs" | grep -qi '^Reason: .*media relay restarted' ||
	tl_fail "the gateway's BYE has no Reason naming the restart: $(grep -A12 '^BYE ' "$TL_TMP/gw1.msgs")"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "relay" and (.reason | startswith("media relay restarted: a WebRTC session"))' \
	"the CDR: ended by the relay's restart"
grep -q "journal: restored" "$TL_TMP/relayd.log" && ! grep -q "journal: restored 0 session" "$TL_TMP/relayd.log" &&
	tl_fail "the restarted relay restored a session: $(grep journal "$TL_TMP/relayd.log")"
tl_rpc_ok '{"cmd":"stats"}' "relay stats"
tl_assert_json "$TL_REPLY" '.sessions == 0' "the restarted relay holds no half session"
tl_wait_for 10 "no call left" sip_no_calls
sip_controller_stop
tl_pass
