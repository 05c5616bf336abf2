#!/bin/bash
# run-also: asan
#
# ENUM (issue 6): a DNS server started by the test on 127.0.7.53 answers
# NAPTR for one number under the private suffix e164.test; the controller
# (Sofia's resolver, pointed at it by enum.resolv_conf) sends a call to
# +31201234567 to the URI of the best E2U+sip record (a SIPp UAS on
# 127.0.7.6, in enum.domains), and a call to +441234567 (NXDOMAIN) through the normal LCR
# route to gw1, as does one to +447700, unanswered by the DNS server,
# after enum.timeout.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
ss -ulnH 'src 127.0.7.53:53' | grep -q . && tl_skip "127.0.7.53:53 is in use"
ENUMUA=127.0.7.6
zone=$(jq -nc --arg hit "sip:\\1@$ENUMUA:$SIP_GW3_PORT" '{
	"7.6.5.4.3.2.1.0.2.1.3.e164.test": [
		[20, 10, "u", "E2U+sip", "!^.*$!sip:wrong@127.0.7.9!"],
		[10, 10, "u", "E2U+email", "!^.*$!mailto:x@example.com!"],
		[10, 20, "u", "E2U+sip", ("!^\\+31(.*)$!" + $hit + "!")]],
	"0.0.7.7.4.4.e164.test": "drop"}')
tl_spawn dns - python3 "$TL_ROOT/tests/lib/naptr_dns.py" 127.0.7.53 53 "$zone"
tl_wait_for 20 "the test DNS server" grep -q READY "$TL_TMP/dns.out"
printf 'nameserver 127.0.7.53\noptions timeout:5 attempts:1\n' >"$TL_TMP/resolv.conf"
sip_relayd_start
sip_controller_start ".enum = {suffix: \"e164.test\", resolv_conf: \"$TL_TMP/resolv.conf\", timeout: 1, domains: [\"$ENUMUA\"]}"

# 1. Hit: the call goes to the NAPTR's URI.
sip_phone enumua uas_answer.xml $ENUMUA "$SIP_GW3_PORT"
SIP_SERVICE=+31201234567 sip_uac hit uac_call.xml 127.0.0.2
sip_expect hit 30 "the call to +31201234567 completes"
sip_expect enumua 30 "the NAPTR's URI gets the call"
grep -q "^INVITE sip:201234567@$ENUMUA:$SIP_GW3_PORT" "$TL_TMP/enumua.msgs" || tl_fail "the INVITE is not for the NAPTR's URI"
grep -q "QUERY 7.6.5.4.3.2.1.0.2.1.3.e164.test 35" "$TL_TMP/dns.out" || tl_fail "no NAPTR query seen by the DNS server"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.gateway == "enum" and .final_code == 200' "CDR of the ENUM call"

# 2. Miss (NXDOMAIN): LCR routes +441234567 to gw1.
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
SIP_SERVICE=+441234567 sip_uac miss uac_call.xml 127.0.0.2
sip_expect miss 30 "the call to +441234567 completes"
sip_expect gw1 30 "gw1 gets the ENUM miss"
grep -q "QUERY 7.6.5.4.3.2.1.4.4.e164.test 35" "$TL_TMP/dns.out" || tl_fail "no NAPTR query for the miss"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gw1" and .final_code == 200' "CDR of the ENUM miss"

# 3. No answer within enum.timeout (1 s): LCR routes +447700 to gw1.
sip_uas gw1b uas_answer.xml "$SIP_GW1_PORT"
SIP_SERVICE=+447700 sip_uac late uac_call.xml 127.0.0.2
sip_expect late 30 "the call to +447700 completes after the ENUM timeout"
sip_expect gw1b 30 "gw1 gets the call whose ENUM lookup timed out"
grep -q "ENUM 0.0.7.7.4.4.e164.test: no answer within 1s" "$TL_TMP/controller.log" || tl_fail "the ENUM timeout is not logged"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gw1" and .final_code == 200' "CDR of the ENUM timeout"
sip_controller_stop
tl_relayd_stop
tl_pass
