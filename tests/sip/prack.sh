#!/bin/bash
# run-also: asan
#
# 100rel/PRACK (RFC 3262), both directions; the 183's SDP goes through
# the relay and early media flows through it before the answer.
# (a) A gateway that requires 100rel (scenarios/uas_100rel.xml: the
#     INVITE must say Supported: 100rel; a 183 with Require: 100rel,
#     RSeq 1 and SDP; it needs a PRACK with RAck "1 <cseq> INVITE"),
#     a caller that does not support it (scenarios/uac_early.xml: its 183
#     must have the relay's SDP and no RSeq or Require).
# (b) A caller that requires 100rel (Require: 100rel in its INVITE;
#     scenarios/uac_100rel.xml: the 183 must be reliable, with RSeq and
#     Require: 100rel; it PRACKs and needs the PRACK's 200), a gateway
#     without it (scenarios/uas_early.xml: an unreliable 183 with SDP).
# (c) PRACK with SDP both ways: a late-offer caller with 100rel
#     (scenarios/uac_lateoffer_100rel.xml: INVITE without SDP; the offer
#     comes in a reliable 183 with the relay's A-leg port; it answers in
#     its PRACK; the 200 has no SDP) and a gateway that offers early
#     (scenarios/uas_lateoffer_100rel.xml: the offer in a reliable 183;
#     the answer must come in the PRACK, with the relay's B-leg port).
# Each: 40 RTP packets each way through the relay while the call is
# still in its 183 (the caller has no 200 yet), the CDR's media counters,
# no call left.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start

# early_media NAME: RTP both ways through the relay before the answer.
early_media() {
	tl_wait_for 10 "the relay to hold an answered session (the 183's SDP)" sip_answered_call
	tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
	tl_log "$1: caller <-> 127.0.0.1:$SIP_A_PORT | 127.0.0.1:$SIP_B_PORT <-> callee"
	tl_wait_for 5 "the caller's 183 in its trace" grep -q "m=audio $SIP_A_PORT " "$TL_TMP/$1.msgs"
	tl_sink "sink_callee_$1" - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
	tl_sink "sink_caller_$1" - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
	tl_gen "gen_caller_$1" - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
	tl_gen "gen_callee_$1" - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 40 -r 100
	tl_expect_ok "gen_caller_$1" 10 "rtpgen caller"
	tl_expect_ok "gen_callee_$1" 10 "rtpgen callee"
	tl_expect_ok "sink_callee_$1" 15 "early media caller -> callee through the relay"
	tl_expect_ok "sink_caller_$1" 15 "early media callee -> caller through the relay"
	grep -A12 '^SIP/2.0 200' "$TL_TMP/$1.msgs" | grep -q '^CSeq: 1 INVITE' &&
		tl_fail "$1: the 200 came before the early media was checked (not early)"
	return 0
}

tl_log "(a) the gateway requires 100rel, the caller does not support it"
sip_uas gwa uas_100rel.xml "$SIP_GW1_PORT" -d 4000
sip_uac callera uac_early.xml 127.0.0.2
early_media callera
sip_expect callera 30 "the caller gets an unreliable 183 with the relay's SDP, then 200"
sip_expect gwa 30 "the gateway gets Supported: 100rel and a PRACK for its reliable 183"
[ "$(grep -c '^PRACK ' "$TL_TMP/gwa.msgs")" = 1 ] || tl_fail "(a) the gateway did not get exactly one PRACK"
grep -q '^PRACK ' "$TL_TMP/callera.msgs" && tl_fail "(a) a PRACK reached the caller"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' "(a) CDR: answered, early media counted"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "(b) the caller requires 100rel, the gateway does not use it"
sip_uas gwb uas_early.xml "$SIP_GW1_PORT" -d 4000
sip_uac callerb uac_100rel.xml 127.0.0.2
early_media callerb
sip_expect callerb 30 "the caller gets a reliable 183 (RSeq, Require: 100rel) with the relay's SDP, its PRACK is answered, then 200"
sip_expect gwb 30 "the gateway's unreliable 183 and 200"
grep -q '^PRACK ' "$TL_TMP/gwb.msgs" && tl_fail "(b) the caller's PRACK reached the gateway"
sed -n '/^SIP\/2.0 183/,/^---/p' "$TL_TMP/callerb.msgs" | grep -q '^RSeq: ' || tl_fail "(b) the caller's 183 has no RSeq"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' "(b) CDR: answered, early media counted"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "(c) late offer in a reliable 183, the answer in the PRACKs"
sip_uas gwc uas_lateoffer_100rel.xml "$SIP_GW1_PORT" -d 4000
sip_uac callerc uac_lateoffer_100rel.xml 127.0.0.2
early_media callerc
sed -n '/^SIP\/2.0 183/,/^---/p' "$TL_TMP/callerc.msgs" | grep -q "^m=audio $SIP_A_PORT RTP/AVP 0" ||
	tl_fail "(c) the caller's 183 does not offer the relay's A-leg port $SIP_A_PORT"
sed -n '/^PRACK /,/^---/p' "$TL_TMP/gwc.msgs" | grep -q "^m=audio $SIP_B_PORT RTP/AVP 0" ||
	tl_fail "(c) the gateway's PRACK does not answer with the relay's B-leg port $SIP_B_PORT"
sed -n '/^PRACK /,/^---/p' "$TL_TMP/gwc.msgs" | grep -q "127.0.0.2" &&
	tl_fail "(c) the caller's address leaked into the gateway's PRACK"
sip_expect callerc 30 "the late-offer caller: reliable 183 with the offer, PRACK with the answer, 200 without SDP"
sip_expect gwc 30 "the gateway: its early offer answered in the PRACK, 200, ACK, BYE"
[ "$(grep -c '^PRACK ' "$TL_TMP/gwc.msgs")" = 1 ] || tl_fail "(c) the gateway did not get exactly one PRACK"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' "(c) CDR: answered, early media counted"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
