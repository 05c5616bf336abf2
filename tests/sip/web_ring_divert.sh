#!/bin/bash
# run-also: asan
#
# No-answer diversion after a browser's ring timeout (issues 6 and 14):
# alice, logged in only in a browser (aiortc test peer) that never
# answers, diverts on no answer to 442000 (routed by LCR to gw1). After
# ring_timeout (3 s) the browser gets "ended", the relay's B leg is
# re-offered from WebRTC to plain RTP, gw1 gets the call with a Diversion
# header naming alice (reason no-answer) and a plain RTP/AVP offer on the
# relay's B port; it answers, RTP flows both ways through the relay
# between the caller and gw1, and the CDR charges alice (diverted_by)
# with the browser's 480 then gw1's 200.
. "$(dirname "$0")/../lib/sip.sh"
sip_web_init
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\",
		diversion: {no_answer: \"442000\", no_answer_timeout: 30}}]
	| .ring_timeout = 3 | .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

tl_spawn web - $PY "$TL_ROOT/tests/lib/webrtc_browser.py" "ws://$WEB/ws" incoming alice apass \
	--wait 15 --out "$TL_TMP/web.json"
tl_wait_for 10 "the browser to log in" grep -q "logged in as alice" "$TL_TMP/controller.log"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
# The caller stays on until the media check is done (sip_hangup).
sip_held uac_call.xml
SIP_SERVICE=alice sip_uac caller "$SIP_HELD" 127.0.0.2

tl_reap web 20 || tl_fail "the browser side failed: $(cat "$TL_TMP/web.json") $(cat "$TL_TMP/web.err")"
W=$(cat "$TL_TMP/web.json")
tl_log "browser: $W"
tl_assert_json "$W" '.incoming == true and .messages[-1].type == "ended" and .messages[-1].code == 487
	and .messages[-1].reason == "diverted"' 'the browser rang, then got ended 487 "diverted"'
# From the caller's INVITE (SIPp's clock) to the browser's "ended" (the
# same host's): the ring started after the one and a late reading only
# delays the other, so 3 s is a floor; from the browser's own reading of
# "incoming", late under load, it was not (fork_web_phones: 1 s read as
# 0.77 s).
T_INV=$(sip_msg_time caller '^INVITE ')
tl_assert_json "$W" ".ended_wall - $T_INV >= 2.9 and .ended_wall - $T_INV < 10" "the browser rang for the ring timeout (3 s)"

tl_wait_for 15 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_log "call $SIP_CALL_ID: caller <-> 127.0.0.1:$SIP_A_PORT | 127.0.0.1:$SIP_B_PORT <-> gw1"
inv=$(sed -n '/^INVITE /,/^---/p' "$TL_TMP/gw1.msgs")
grep -q '^INVITE sip:442000@' <<<"$inv" || tl_fail "gw1's INVITE is not for the diversion target 442000: $inv"
grep -qE '^Diversion: <sip:alice@[^>]*>;reason=no-answer;counter=1' <<<"$inv" ||
	tl_fail "gw1's INVITE has no Diversion naming alice (no-answer): $inv"
grep -q "^m=audio $SIP_B_PORT RTP/AVP " <<<"$inv" ||
	tl_fail "gw1's offer is not plain RTP on the relay's B port $SIP_B_PORT: $inv"
grep -qE 'a=ice|fingerprint|SAVPF|a=candidate' <<<"$inv" && tl_fail "gw1's offer has WebRTC attributes: $inv"

tl_sink rxg - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
tl_sink rxa - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
tl_gen gena - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
tl_gen geng - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 40 -r 100
tl_expect_ok gena 10 "rtpgen caller"
tl_expect_ok geng 10 "rtpgen gw1"
tl_expect_ok rxg 15 "caller -> gw1 RTP through the relay"
tl_expect_ok rxa 15 "gw1 -> caller RTP through the relay"

sip_hangup caller
sip_expect caller 30 "the caller's call completes through the diversion"
sip_expect gw1 30 "gw1 answers the diverted call"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .diverted_by == "alice" and .gateway == "gw1"
	and .numbers.called == "442000" and ([.attempts[] | [.gateway, .code]] == [["web:alice", 480], ["gw1", 200]])' \
	"CDR: the browser's 480, then gw1's 200, charged to alice"
tl_wait_for 10 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
