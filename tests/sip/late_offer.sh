#!/bin/bash
# run-also: asan
#
# Late offer (delayed offer, CUCM style; controller/lateoffer.c): the
# caller's INVITE has no SDP. The gateway gets an INVITE without SDP
# (scenarios/uas_lateoffer.xml checks Content-Length: 0) and offers in
# its 200; the offer goes through the relay (`offer` with sender
# "callee") and the caller's 200 carries it with the relay's A-leg port;
# the caller answers in its ACK, which goes through the relay (`answer`
# with sender "caller") and reaches the gateway in B's ACK with the
# relay's B-leg port. RTP then flows both ways through the relay (rtpgen/
# rtpsink at the SDP ports) and the CDR counts it.
# Then the failure path: a caller whose ACK has no SDP answer: both legs
# get a BYE whose Reason says so, and the CDR says who and why.
# Last, a late-offer call re-offers once connected: the caller's
# re-INVITE (a=sendonly) reaches the gateway on the same relay B-leg port
# and the gateway's a=recvonly comes back on the A-leg port (a session
# made from the callee's side takes re-offers like any other).
# And failover: gw1 refuses the INVITE without SDP with 503, gw2 gets
# one without SDP too and its offer connects the call.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_lateoffer.xml "$SIP_GW1_PORT"
# 10 s: the checks and the RTP below must be done before the BYE, even
# on a loaded host
sip_uac caller uac_lateoffer.xml 127.0.0.2 -d 10000

tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_log "call $SIP_CALL_ID: caller <-> 127.0.0.1:$SIP_A_PORT | 127.0.0.1:$SIP_B_PORT <-> callee"

# The caller's 200 carries the gateway's offer on the relay's A leg; the
# gateway's ACK carries the caller's answer on the relay's B leg.
tl_wait_for 5 "the gateway's ACK in its trace" grep -q '^ACK ' "$TL_TMP/gw1.msgs"
sed -n '/^SIP\/2.0 200/,/^---/p' "$TL_TMP/caller.msgs" | grep -q "^m=audio $SIP_A_PORT RTP/AVP 0 8" ||
	tl_fail "the caller's 200 does not offer the relay's A-leg port $SIP_A_PORT with the gateway's codecs"
sed -n '/^SIP\/2.0 200/,/^---/p' "$TL_TMP/caller.msgs" | grep -q "^m=audio $SIP_CALLEE_RTP " &&
	tl_fail "the gateway's media port reached the caller"
sed -n '/^ACK /,/^---/p' "$TL_TMP/gw1.msgs" | grep -q "^m=audio $SIP_B_PORT RTP/AVP 0" ||
	tl_fail "the gateway's ACK does not answer with the relay's B-leg port $SIP_B_PORT"
sed -n '/^ACK /,/^---/p' "$TL_TMP/gw1.msgs" | grep -q "127.0.0.2" &&
	tl_fail "the caller's address leaked into the gateway's ACK"
sed -n '/^INVITE /,/^---/p' "$TL_TMP/gw1.msgs" | grep -q '^m=' &&
	tl_fail "the gateway's INVITE carried SDP"

# RTP both ways through the relay, from the SDP ports.
tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
tl_gen gen_callee - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 40 -r 100
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok gen_callee 10 "rtpgen callee"
tl_expect_ok sink_callee 15 "caller -> callee RTP through the relay"
tl_expect_ok sink_caller 15 "callee -> caller RTP through the relay"

sip_expect caller 30 "the late-offer caller: 200 with the relay's offer, ACK with the answer, BYE"
sip_expect gw1 30 "the gateway: INVITE without SDP, 200 with the offer, ACK with the relay's answer"
sip_cdr_wait 1
c=$SIP_CDR_LAST
tl_assert_json "$c" '.gateway == "gw1" and .final_code == 200 and .hangup_by == "caller" and .reason == "bye"' "CDR: answered, caller hung up"
tl_assert_json "$c" '.media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' "CDR: media counters from the relay"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

tl_log "an ACK without the SDP answer"
sip_uas gw1n uas_lateoffer_noans.xml "$SIP_GW1_PORT"
sip_uac callern uac_lateoffer_noans.xml 127.0.0.2
sip_expect callern 30 "the caller whose ACK has no SDP gets a BYE with a Reason"
sip_expect gw1n 30 "the gateway gets an ACK and a BYE with a Reason"
sip_cdr_wait 2
c=$SIP_CDR_LAST
tl_assert_json "$c" '.final_code == 200 and .hangup_by == "controller" and (.reason | test("no SDP answer"))' "CDR: ended by the controller, reason"
grep -q 'late offer: no SDP answer in the caller.s ACK: hanging up' "$TL_TMP/controller.log" ||
	tl_fail "the controller log does not say why the call ended"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

tl_log "a re-INVITE in a late-offer call"
sip_uas gw1r uas_lateoffer_reinvite.xml "$SIP_GW1_PORT"
# the call lasts 6 s (3 s to the re-INVITE, 3 s after): the test reads
# the relay's ports while it is up
sip_uac callerr uac_lateoffer_reinvite.xml 127.0.0.2 -d 3000
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
sip_expect callerr 30 "the late-offer caller's re-INVITE is answered a=recvonly"
sip_expect gw1r 30 "the gateway gets the re-INVITE with a=sendonly"
awk '/^INVITE /{n++} n==2' "$TL_TMP/gw1r.msgs" | sed '/^---/q' | grep -q "^m=audio $SIP_B_PORT RTP/AVP 0" ||
	tl_fail "the gateway's re-INVITE does not name the relay's B-leg port $SIP_B_PORT"
sed -n '/CSeq: 2 INVITE/,/^---/p' "$TL_TMP/callerr.msgs" | grep -q "^m=audio $SIP_A_PORT RTP/AVP 0" ||
	tl_fail "the caller's re-INVITE answer does not name the relay's A-leg port $SIP_A_PORT"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller"' "CDR: the re-offered late-offer call"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

tl_log "late offer and failover: gw1 503, gw2 offers"
sip_uas gw1f uas_503.xml "$SIP_GW1_PORT"
sip_uas gw2f uas_lateoffer.xml "$SIP_GW2_PORT"
sip_uac callerf uac_lateoffer.xml 127.0.0.2 -d 300
sip_expect callerf 30 "the late-offer call completes through gw2"
sip_expect gw1f 10 "gw1 refused with 503"
sip_expect gw2f 30 "gw2: INVITE without SDP, offer in the 200, answer in the ACK"
sed -n '/^INVITE /,/^---/p' "$TL_TMP/gw1f.msgs" | grep -q '^m=' && tl_fail "gw1's INVITE carried SDP"
sip_cdr_wait 4
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gw2" and .final_code == 200 and
	.attempts == [{"gateway":"gw1","carrier":"c1","code":503},{"gateway":"gw2","carrier":"c1","code":200}]' \
	"CDR: 503 from gw1, then gw2"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
