#!/bin/bash
# run-also: asan
#
# RFC 4028 session timers, the failures. (1) A caller that asks
# Session-Expires: 30;refresher=uac and then never refreshes: at the
# interval minus a third (20 s) the controller hangs up; both the caller
# and the gateway get a BYE whose Reason says the session expired, the
# CDR says who hung up and why, nothing is left in the controller or the
# relay. (2) A caller asking 20 s, below our Min-SE of 30: 422 with
# Min-SE: 30; no call, nothing at the gateway, a refusal CDR line.
# (3) Hostile: Session-Expires: 4295000 (seconds that overflow 32-bit
# milliseconds) must not turn into a short timer: the call stays up
# until the caller hangs up.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.session_expires = 60 | .min_se = 30 | .refusals = {file: "'"$TL_TMP"'/refusals.jsonl"}'
sip_uas gw1 uas_st_noref.xml "$SIP_GW1_PORT"
t0=$(date +%s)
sip_uac caller uac_st_noref.xml 127.0.0.2 -set se 30

sip_expect caller 40 "the caller gets our BYE with Reason: session expired"
sip_expect gw1 10 "the gateway gets our BYE with Reason: session expired"
t1=$(date +%s)
# 30 - min(32, 30/3) = 20 s after the answer; not before, not much after
[ $((t1 - t0)) -ge 19 ] && [ $((t1 - t0)) -le 30 ] || tl_fail "the call ended after $((t1 - t0)) s, expected about 20"
grep -q '^Reason: Q.850;cause=[0-9]*;text="session expired (no refresh from the caller)"' "$TL_TMP/caller.msgs" ||
	tl_fail "the caller's BYE has no Reason naming the expiry"
grep -q '^Reason: Q.850;cause=[0-9]*;text="session expired (no refresh from the caller)"' "$TL_TMP/gw1.msgs" ||
	tl_fail "the gateway's BYE has no Reason naming the expiry"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "controller" and .reason == "session expired (no refresh from the caller)"' "CDR: who and why"
tl_assert_json "$SIP_CDR_LAST" '.duration >= 19 and .duration < 30' "CDR: duration"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "Session-Expires below Min-SE: 422"
sip_uac small uac_st_small.xml 127.0.0.2 -set se 20
sip_expect small 10 "422 with Min-SE: 30"
grep -q "^SIP/2.0 422 " "$TL_TMP/small.msgs" && grep -q "^Min-SE: 30" "$TL_TMP/small.msgs" || tl_fail "no 422 with Min-SE: 30 in the caller's trace"
[ "$(wc -l <"$SIP_CDR")" = 1 ] || tl_fail "the refused call wrote a call CDR"
tl_wait_for 5 "the refusal line" grep -q '"session interval too small"' "$TL_TMP/refusals.jsonl"
tl_assert_json "$(tail -n 1 "$TL_TMP/refusals.jsonl")" '.final_code == 422 and .refused' "refusal CDR"

tl_log "Session-Expires: 4295000 (hostile: wraps as milliseconds)"
sip_uas gw1h uas_answer.xml "$SIP_GW1_PORT"
sip_uac huge uac_st_call.xml 127.0.0.2 -d 4000 -set se 4295000
sip_expect huge 20 "the call lasts until the caller's BYE (no early expiry)"
sip_expect gw1h 10 "the gateway's call"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "caller" and .reason == "bye" and .duration >= 3.5' "CDR of the hostile interval's call"
grep -q '^Session-Expires: 86400;refresher=uac' "$TL_TMP/huge.msgs" || tl_fail "the huge interval was not capped at a day in our 200"
sip_controller_stop
tl_relayd_stop
tl_pass
