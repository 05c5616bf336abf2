#!/bin/bash
# run-also: asan
#
# A diversion after early media (issue 13): bob (registered at 127.0.7.4)
# plays early media (183 with SDP), then says busy (486); his busy
# diversion sends the call to carol (127.0.7.5), who answers from another
# media port. Diversion is not failover: it goes on whatever
# failover_after_early says, and the relay takes carol as the session's
# new B side: RTP flows between the caller and carol both ways, and the
# CDR charges bob.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
BOB=127.0.7.4
CAROL=127.0.7.5
CAROL_RTP=$((SIP_CALLEE_RTP + 2))
sip_controller_start '.accounts = [
		{username: "bob", password: "bpass", diversion: {busy: "carol"}},
		{username: "carol", password: "cpass"}]'
sip_register regbob bob bpass $BOB "$SIP_GW3_PORT" 60
sip_register regcarol carol cpass $CAROL "$SIP_GW2_PORT" 60
sed -e 's/503 Service Unavailable/486 Busy Here/' "$SIP_SCEN/uas_183_503.xml" >"$TL_TMP/uas_183_486.xml"

sip_phone bob "$TL_TMP/uas_183_486.xml" $BOB "$SIP_GW3_PORT"
tl_spawn carol - sipp -sf "$SIP_SCEN/uas_answer.xml" -i $CAROL -p "$SIP_GW2_PORT" -m 1 -nostdin \
	-timeout 30s -set mport "$CAROL_RTP" -trace_err -error_file "$TL_TMP/carol.errors" \
	-trace_msg -message_file "$TL_TMP/carol.msgs"
tl_wait_for 20 "carol's phone" sip_listening "$SIP_GW2_PORT"
sip_uac_from caller uac_call.xml 127.0.0.2 bob -d 5000

answered_by_carol() {
	local l
	l=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json list) || return 1
	SIP_CALL_ID=$(jq -r '.calls[] | select(.ringing == false and .state == "answered") | .call_id' <<<"$l")
	[ -n "$SIP_CALL_ID" ]
}
tl_wait_for 15 "carol's final answer at the relay" answered_by_carol
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_sink to_carol - -b "$CAROL:$CAROL_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
tl_sink to_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
tl_gen from_carol - -d "127.0.0.1:$SIP_B_PORT" -b "$CAROL:$CAROL_RTP" -c 40 -r 100
tl_gen from_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
tl_expect_ok from_carol 10 "rtpgen carol"
tl_expect_ok from_caller 10 "rtpgen caller"
tl_expect_ok to_carol 15 "caller -> carol RTP through the relay"
tl_expect_ok to_caller 15 "carol -> caller RTP through the relay"
sip_expect caller 30 "the call to bob completes at carol after bob's early media"
sip_expect bob 10 "bob's phone: 183, then 486"
sip_expect carol 10 "carol's phone took the call"
grep -q "183 Session Progress" "$TL_TMP/caller.msgs" || tl_fail "the caller never heard bob's 183"
grep -qi "^Diversion: <sip:bob@[^>]*>;reason=user-busy" "$TL_TMP/carol.msgs" || tl_fail "no busy Diversion header at carol"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.diverted_by == "bob" and .final_code == 200 and
	.media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' "CDR: charged to bob, media both ways"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
