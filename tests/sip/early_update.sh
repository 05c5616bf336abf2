#!/bin/bash
# run-also: asan
#
# UPDATE before the answer (RFC 3311, an early-dialog re-offer after a
# reliable 183): the gateway (scenarios/uas_early_update.xml) sends a
# reliable 183 with SDP, then an UPDATE that moves its media to another
# port; it must reach the caller (scenarios/uac_early_update.xml) only
# after the 200 to the caller's slow PRACK (RFC 3311 5.1), with
# the relay's A-leg port (SIPp checks it is not the gateway's), a new o=
# version of ours, and the caller's answer must come back to the gateway
# with the relay's B-leg port. Early media then flows through the relay
# to the gateway's new port (the relay followed the UPDATE). Then the
# caller re-offers with an UPDATE (a=sendonly) before the answer, and
# the gateway's a=recvonly comes back. The call is then answered and
# ends; CDR and no call left.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
NEWPORT=$((SIP_CALLEE_RTP + 2))
sip_uas gw1 uas_early_update.xml "$SIP_GW1_PORT" -d 1000 -set mport2 "$NEWPORT"
sip_uac caller uac_early_update.xml 127.0.0.2 -d 4000

# The caller PRACKs 300 ms late; the gateway's UPDATE (its own leg
# PRACKed by the controller at once) comes at once: the controller holds
# it until its 200 to the caller's PRACK is out (RFC 3311 5.1). Before,
# it reached the caller first and SIPp aborted the call.
tl_wait_for 10 "the gateway's UPDATE at the caller" \
	grep -q '^UPDATE sip:' "$TL_TMP/caller.msgs"
t200=$(sip_msg_time caller '^SIP/2.0 200')
tupd=$(sip_msg_time caller '^UPDATE sip:')
awk -v a="$t200" -v b="$tupd" 'BEGIN {exit !(a <= b)}' ||
	tl_fail "the UPDATE ($tupd) reached the caller before the 200 to its PRACK ($t200)"
tl_wait_for 5 "the relay's answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_log "call $SIP_CALL_ID: caller <-> 127.0.0.1:$SIP_A_PORT | 127.0.0.1:$SIP_B_PORT <-> callee (now :$NEWPORT)"
# The caller's UPDATE names the relay's A leg with our o= (the 183's
# session id; the body it sees did not change, so neither does the
# version, RFC 3264 section 8).
sed -n '/^UPDATE /,/^---/p' "$TL_TMP/caller.msgs" | grep -q "^m=audio $SIP_A_PORT RTP/AVP 0" ||
	tl_fail "the caller's UPDATE does not offer the relay's A-leg port $SIP_A_PORT"
o183=$(sed -n '/^SIP\/2.0 183/,/^---/p' "$TL_TMP/caller.msgs" | grep -m1 '^o=-' | awk '{print $2}')
oupd=$(sed -n '/^UPDATE /,/^---/p' "$TL_TMP/caller.msgs" | grep -m1 '^o=-' | awk '{print $2}')
if [ -z "$o183" ] || [ "$o183" != "$oupd" ]; then
	tl_fail "the caller's UPDATE has o= session '$oupd', its 183 had '$o183'"
fi
tl_wait_for 5 "the gateway's UPDATE 200 with the relay's B-leg port" \
	bash -c "sed -n '/^SIP\/2.0 200/,/^---/p' '$TL_TMP/gw1.msgs' | grep -q '^m=audio $SIP_B_PORT RTP/AVP 0'"
q=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$SIP_CALL_ID")
tl_assert_json "$q" ".streams[0].legs[] | select(.side == \"B\") | .sdp == \"127.0.0.1:$NEWPORT\"" "the relay follows the UPDATE (leg B at the new port)"

# Early media to the gateway's new port, through the relay.
tl_sink sink_callee - -b "127.0.0.1:$NEWPORT" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
tl_gen gen_callee - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$NEWPORT" -c 40 -r 100
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok gen_callee 10 "rtpgen callee"
tl_expect_ok sink_callee 15 "early media caller -> callee's new port through the relay"
tl_expect_ok sink_caller 15 "early media callee (new port) -> caller through the relay"
grep -A12 '^SIP/2.0 200' "$TL_TMP/caller.msgs" | grep -q '^CSeq: 1 INVITE' &&
	tl_fail "the call was answered before the early media was checked"

sip_expect caller 30 "the caller: reliable 183, the gateway's UPDATE, its own UPDATE (a=recvonly back), 200"
sip_expect gw1 30 "the gateway: PRACK, its UPDATE answered by the relay, the caller's UPDATE (a=sendonly), ACK, BYE"
sed -n '/^UPDATE /,/^---/p' "$TL_TMP/gw1.msgs" | grep -q "^m=audio $SIP_B_PORT RTP/AVP 0" ||
	tl_fail "the caller's UPDATE reached the gateway without the relay's B-leg port"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' "CDR: answered, early media counted"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
