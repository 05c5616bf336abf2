#!/bin/bash
# run-also: asan
#
# Emergency numbers (issue 6): 112 from a local account goes to its
# region's destination (a SIPp UAS on 127.0.7.3) even when the account
# is over its call-rate limit, and its CDR says so. (112 from a trunk:
# trunk_emergency.sh; it used to be refused with 403.)
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
PSAP=127.0.7.3
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\", region: \"nl\", max_cps: 0.001}]
	| .emergency = {numbers: [\"112\", \"911\"], regions: [
		{name: \"de\", destination: \"sip:110@127.0.7.9:5060\"},
		{name: \"nl\", destination: \"sip:112@$PSAP:$SIP_GW3_PORT\"}]}"
sed -e 's/sip:0201234567@/sip:alice@/g' "$SIP_SCEN/uac_auth.xml" >"$TL_TMP/uac_alice.xml"

# 1. alice's ordinary call uses her one call of rate budget.
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac_from first "$TL_TMP/uac_alice.xml" 127.0.7.2 441234567 -au alice -ap apass
sip_expect first 30 "alice's first call completes"
sip_expect gw1 30 "the gateway gets alice's first call"

# 2. 112 still goes through, to the region's destination.
sip_phone psap uas_answer.xml $PSAP "$SIP_GW3_PORT"
sip_uac_from em "$TL_TMP/uac_alice.xml" 127.0.7.2 112 -au alice -ap apass
sip_expect em 30 "alice's 112 call completes despite her rate limit"
sip_expect psap 30 "the region's destination gets the 112 call"
grep -q "^INVITE sip:112@$PSAP:$SIP_GW3_PORT" "$TL_TMP/psap.msgs" || tl_fail "112 did not go to the nl destination"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.trunk == "alice" and .emergency == true and .gateway == "emergency:nl" and .final_code == 200' "CDR of the 112 call"
tl_assert_json "$(sip_ctl --json status)" '.rejected_limits == 0' "the 112 call was not counted against the limits"

# 3. An ordinary call now is over the limit: the limit is really there.
# (The SIPp caller fails on the 503: its exit status is not the point.)
sip_uac_from limited "$TL_TMP/uac_alice.xml" 127.0.7.2 441234567 -au alice -ap apass
tl_reap limited 30
grep -q "^SIP/2.0 503" "$TL_TMP/limited.msgs" || tl_fail "alice's second ordinary call was not refused with 503"
tl_assert_json "$(sip_ctl --json status)" '.rejected_limits == 1' "the refusal is counted"

sip_controller_stop
tl_relayd_stop
tl_pass
