#!/bin/bash
# run-also: asan
#
# SIP-I: an INVITE whose body is multipart/mixed (application/sdp and
# application/ISUP). The SDP part is the relay's offer. A gateway with
# "isup": "pass" gets a multipart body again: the SDP part rewritten (the
# relay's address and port, not the caller's), the ISUP part byte for
# byte with its own headers, the caller's boundary. With the default
# ("strip") the gateway gets application/sdp alone. RTP flows through
# the relay in the first call.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start

# the ISUP part as sent: from its Content-Type to the closing boundary
isup_part() {
	tr -d '\r' <"$1" | sed -n '/^Content-Type: application\/ISUP/,/^--unique-boundary-1--$/p'
}

tl_log "isup: pass"
sip_controller_start '.gateways[0].isup = "pass"'
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_sipi.xml 127.0.0.2 -d 3000
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 50 -t 10
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 50 -r 50
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok sink_callee 15 "caller -> callee RTP through the relay"
sip_expect caller 30 "the SIP-I caller's call"
sip_expect gw1 30 "the gateway's call"
tr -d '\r' <"$TL_TMP/gw1.msgs" | grep -q '^Content-Type: multipart/mixed;boundary=unique-boundary-1$' ||
	tl_fail "the gateway's INVITE is not multipart/mixed with the caller's boundary"
sent=$(isup_part "$TL_TMP/caller.msgs")
got=$(isup_part "$TL_TMP/gw1.msgs")
[ -n "$sent" ] && [ "$sent" = "$got" ] || tl_fail "the ISUP part changed on the way: sent '$sent', got '$got'"
grep -q "^m=audio $SIP_B_PORT RTP/AVP 0 101" "$TL_TMP/gw1.msgs" || tl_fail "the SDP part does not name the relay's port $SIP_B_PORT"
grep -q "^m=audio $SIP_CALLER_RTP " "$TL_TMP/gw1.msgs" && tl_fail "the caller's media port reached the gateway"
grep -q '^c=IN IP4 127.0.0.2' "$TL_TMP/gw1.msgs" && tl_fail "the caller's address reached the gateway"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .media.caller_to_callee.packets >= 50' "CDR"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop

tl_log "isup: strip (the default)"
sip_controller_start
sip_uas gw1s uas_answer.xml "$SIP_GW1_PORT"
sip_uac callers uac_sipi.xml 127.0.0.2 -d 200
sip_expect callers 30 "the SIP-I caller's call"
sip_expect gw1s 30 "the gateway's call"
tr -d '\r' <"$TL_TMP/gw1s.msgs" | grep -q '^Content-Type: application/sdp$' || tl_fail "the gateway did not get application/sdp"
grep -qi 'ISUP\|unique-boundary' "$TL_TMP/gw1s.msgs" && tl_fail "the ISUP part reached a gateway that strips it"
grep -q '^m=audio [0-9]* RTP/AVP 0 101' "$TL_TMP/gw1s.msgs" || tl_fail "no SDP at the gateway"
sip_cdr_wait 2
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
