#!/bin/bash
# run-also: asan
#
# Number transforms in and out, caller-ID modes and From customization,
# per-trunk limits:
#  - the caller dials 01234567 from 0201234567; the trunk's transforms
#    make them 441234567 (routed by LCR prefix 44) and +44201234567; the
#    gateway's own transforms add "+" to the called number and its
#    uri_params ";user=phone" to the request-URI; caller_id
#    "pai" puts the calling number in P-Asserted-Identity and From gets
#    the configured user and display name; the CDR has all three forms;
#  - after a reload to caller_id "rpid": Remote-Party-ID instead;
#  - max_calls 1: a second call while the first is up gets 503 with
#    Retry-After; max_cps 1: the second call within a second gets 503.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '
	.trunks[0].transforms = {
		called: [{match: "^0([1-9][0-9]*)$", replace: "44\\1"}],
		calling: [{match: "^0([1-9][0-9]*)$", replace: "+44\\1"}]} |
	.gateways[0] += {caller_id: "pai", from_user: "anonymous", from_display: "Trunkline",
		from_host: "edge.example", uri_params: ";user=phone", transforms: {called: [{prefix: "+"}]}}'

SIP_SERVICE=01234567
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml 127.0.0.2 -d 200
sip_expect caller 30 "the transformed call completes"
sip_expect gw1 30 "gw1 gets the transformed call"
inv=$(sed -n '/^INVITE /,/^$/p' "$TL_TMP/gw1.msgs")
grep -q "^INVITE sip:+441234567@127.0.0.1:$SIP_GW1_PORT;user=phone SIP/2.0" <<<"$inv" || tl_fail "request-URI not transformed: $(head -1 <<<"$inv")"
grep -qi '^P-Asserted-Identity: <sip:+44201234567@edge.example>' <<<"$inv" || tl_fail "no PAI with the calling number: $inv"
grep -qi '^From: "Trunkline" <sip:anonymous@edge.example>' <<<"$inv" || tl_fail "From not customized: $(grep -i '^From:' <<<"$inv")"
grep -qi '^To: <sip:+441234567@' <<<"$inv" || tl_fail "To not transformed"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.numbers == {"called_in":"01234567","calling_in":"0201234567","called":"441234567","calling":"+44201234567","called_out":"+441234567","calling_out":"+44201234567"}' "CDR numbers before and after transforms"

jq '.gateways[0].caller_id = "rpid" | .gateways[0].from_user = ""' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" &&
	mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload to rpid"
sip_uas gw1b uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller2 uac_call.xml 127.0.0.2 -d 200
sip_expect caller2 30 "the rpid call completes"
sip_expect gw1b 30 "gw1 gets the rpid call"
inv=$(sed -n '/^INVITE /,/^$/p' "$TL_TMP/gw1b.msgs")
grep -qi '^Remote-Party-ID: <sip:+44201234567@edge.example>;party=calling' <<<"$inv" || tl_fail "no Remote-Party-ID: $inv"
grep -qi '^P-Asserted-Identity' <<<"$inv" && tl_fail "PAI sent in rpid mode"
grep -qi '^From: "Trunkline" <sip:+44201234567@edge.example>' <<<"$inv" || tl_fail "From should carry the calling number: $(grep -i '^From:' <<<"$inv")"
sip_cdr_wait 2

tl_log "max_calls 1"
jq '.trunks[0].max_calls = 1' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" && mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload with max_calls"
sip_uas gw1c uas_answer.xml "$SIP_GW1_PORT"
sip_uac held uac_waitbye.xml 127.0.0.2
one_call() { [ "$(sip_ctl --json status | jq .calls)" = 1 ] && sip_answered_call; }
tl_wait_for 10 "the first call to be up" one_call
tl_spawn second - sipp -sf "$SIP_SCEN/uac_503.xml" -i 127.0.0.2 -p "$SIP_UAC2_PORT" -m 1 -nostdin \
	-timeout 30s -s 441234567 -set mport "$SIP_CALLER_RTP" -trace_msg -message_file "$TL_TMP/second.msgs" \
	-trace_err -error_file "$TL_TMP/second.errors" "127.0.0.1:$SIP_CTL_PORT"
sip_expect second 20 "a second call over max_calls gets 503"
grep -qi '^Retry-After: [0-9]' "$TL_TMP/second.msgs" || tl_fail "503 without Retry-After"
tl_assert_json "$(sip_ctl --json trunks)" '.trunks[0].active == 1 and .trunks[0].rejected == 1' "trunks shows the limit at work"
sip_ctl hangup "$SIP_CALL_ID" >/dev/null || tl_fail "hangup of the held call"
sip_expect held 20 "the held call ends"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "max_cps 1"
jq '.trunks[0].max_calls = 0 | .trunks[0].max_cps = 1' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" &&
	mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload with max_cps"
sip_uas gw1d uas_answer.xml "$SIP_GW1_PORT"
sip_uac first uac_waitbye.xml 127.0.0.2
tl_wait_for 10 "the first call to be up" one_call
tl_spawn third - sipp -sf "$SIP_SCEN/uac_503.xml" -i 127.0.0.2 -p "$SIP_UAC2_PORT" -m 1 -nostdin \
	-timeout 30s -s 441234567 -set mport "$SIP_CALLER_RTP" -trace_msg -message_file "$TL_TMP/third.msgs" \
	-trace_err -error_file "$TL_TMP/third.errors" "127.0.0.1:$SIP_CTL_PORT"
# It must come within the same second as the first to be refused; on a
# slow host the bucket may have refilled: accept 200 only if >1 s passed.
tl_reap third 20
if [ "$TL_RC" != 0 ]; then
	grep -q '^SIP/2.0 200' "$TL_TMP/third.msgs" || tl_fail "the second call within a second was neither refused nor routed"
	tl_log "host too slow for the CPS check (the bucket refilled)"
else
	grep -qi '^Retry-After: [0-9]' "$TL_TMP/third.msgs" || tl_fail "CPS 503 without Retry-After"
fi
sip_ctl hangup "$SIP_CALL_ID" >/dev/null
sip_expect first 20 "the first call ends"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
