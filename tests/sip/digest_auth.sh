#!/bin/bash
# run-also: asan
#
# Trunk identified by digest account (source 127.0.0.4 is no trunk):
# the first INVITE is challenged with 407, the answer with the right
# password gets through to the gateway and the call completes; a wrong
# password is refused with 403 after the challenge; an account given by
# HA1 instead of a password works too.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
ha1=$(printf '%s' "acct2:carrier.example:pa55" | md5sum | cut -d' ' -f1)
sip_controller_start ".trunks += [
	{name: \"acct\", digest: {username: \"pbx2\", password: \"s3cret\", realm: \"trunkline\"}},
	{name: \"acct2\", digest: {username: \"acct2\", ha1: \"$ha1\", realm: \"carrier.example\"}}]"

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac good uac_auth.xml 127.0.0.4 -au pbx2 -ap s3cret -d 500
sip_expect good 30 "challenge, then the authenticated call completes"
sip_expect gw1 30 "the gateway gets the authenticated call"
grep -q "^SIP/2.0 407" "$TL_TMP/good.msgs" || tl_fail "no 407 challenge seen"
grep -qi '^Proxy-Authenticate: Digest.*realm="trunkline"' "$TL_TMP/good.msgs" || tl_fail "challenge without the trunk's realm"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "acct" and .final_code == 200 and .gateway == "gw1"' "CDR of the authenticated call"

sip_uac bad uac_auth_bad.xml 127.0.0.4 -au pbx2 -ap wrong
sip_expect bad 30 "a wrong password is refused with 403"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.rejected_auth >= 1 and .calls_total == 1' "the refusal is counted and made no call"

# An HA1 account; From names it, so the challenge carries its realm.
sed -e 's/sip:0201234567@/sip:acct2@/g' "$SIP_SCEN/uac_auth.xml" >"$TL_TMP/uac_auth_acct2.xml"
sip_uas gw1b uas_answer.xml "$SIP_GW1_PORT"
tl_spawn ha1 - sipp -sf "$TL_TMP/uac_auth_acct2.xml" -i 127.0.0.4 -p "$SIP_UAC_PORT" -m 1 -nostdin \
	-timeout 30s -s 441234567 -set mport "$SIP_CALLER_RTP" -au acct2 -ap pa55 -d 300 \
	$(sip_auth_uri 441234567 -au) \
	-trace_err -error_file "$TL_TMP/ha1.errors" -trace_msg -message_file "$TL_TMP/ha1.msgs" \
	"127.0.0.1:$SIP_CTL_PORT"
sip_expect ha1 30 "the HA1 account authenticates"
grep -qi 'realm="carrier.example"' "$TL_TMP/ha1.msgs" || tl_fail "the HA1 account's realm was not used"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.trunk == "acct2" and .final_code == 200' "CDR of the HA1 call"
sip_controller_stop
tl_relayd_stop
tl_pass
