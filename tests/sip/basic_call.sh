#!/bin/bash
# run-also: asan
#
# The basic call: a caller on trunk "pbx" (by source address 127.0.0.2)
# dials 441234567; the route's LCR table (prefix 44 -> carrier c1) picks
# gateway gw1, which answers. RTP flows both ways through relayd (checked
# by rtpgen/rtpsink at the SDP ports); the caller hangs up; both legs
# end; exactly one CDR line with the right trunk, gateway, numbers, code
# and media counters; no call left in the controller or the relay.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
# The caller stays on until the media check is done (sip_hangup).
sip_held uac_call.xml
sip_uac caller "$SIP_HELD" 127.0.0.2

tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_log "call $SIP_CALL_ID: caller <-> 127.0.0.1:$SIP_A_PORT | 127.0.0.1:$SIP_B_PORT <-> callee"

# The SDP each side received points at the relay, not at the other side.
tl_wait_for 5 "the caller's 200 OK in its trace" grep -q "m=audio $SIP_A_PORT " "$TL_TMP/caller.msgs"
grep -q "m=audio $SIP_B_PORT " "$TL_TMP/gw1.msgs" || tl_fail "gw1 did not get the relay's port $SIP_B_PORT in its offer"
grep -q "c=IN IP4 127.0.0.2" "$TL_TMP/gw1.msgs" && tl_fail "the caller's address leaked into gw1's offer"

# RTP both ways through the relay, from the SDP ports.
tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
tl_gen gen_callee - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 40 -r 100
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok gen_callee 10 "rtpgen callee"
tl_expect_ok sink_callee 15 "caller -> callee RTP through the relay"
tl_expect_ok sink_caller 15 "callee -> caller RTP through the relay"

sip_hangup caller
sip_expect caller 30 "the caller's call (INVITE/200/ACK/BYE/200)"
sip_expect gw1 30 "the gateway's call (INVITE/180/200/ACK, BYE received)"
sip_cdr_wait 1
[ "$(wc -l <"$SIP_CDR")" = 1 ] || tl_fail "expected one CDR line, got $(wc -l <"$SIP_CDR")"
c=$SIP_CDR_LAST
tl_assert_json "$c" '.trunk == "pbx" and .gateway == "gw1" and .final_code == 200' "CDR: trunk, gateway, code"
tl_assert_json "$c" '.hangup_by == "caller" and .reason == "bye"' "CDR: who hung up"
tl_assert_json "$c" '.numbers.called_in == "441234567" and .numbers.called_out == "441234567" and .numbers.calling_in == "0201234567"' "CDR: numbers"
tl_assert_json "$c" '.attempts == [{"gateway":"gw1","carrier":"c1","code":200}] and .route == "all"' "CDR: attempts"
tl_assert_json "$c" '.connect != null and .end != null and .duration > 0' "CDR: times"
tl_assert_json "$c" '.media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' "CDR: media counters from the relay"
tl_assert_json "$c" '.source | startswith("127.0.0.2:")' "CDR: source"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
