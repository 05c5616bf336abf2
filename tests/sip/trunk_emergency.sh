#!/bin/bash
# run-also: asan
#
# Emergency calls from a trunk (issue 12; they used to get 403): the PBX
# trunk (127.0.0.2, region "de", owns 4930111*, one call per 1000 s) has
# used its rate budget and an ordinary call is refused with 503; its
# user then dials 112 with "Privacy: id": the call reaches the de
# region's destination (a checking SIPp on 127.0.7.3; the first region,
# nl, is somewhere else), past the full limit, and the emergency service
# sees the caller's number in From and P-Asserted-Identity, not an
# anonymous caller. The CDR says emergency, and the limits did not count
# it.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
PSAP=127.0.7.3
sip_controller_start ".trunks[0] += {region: \"de\", max_cps: 0.001, numbers: [\"4930111*\"], default_cli: \"4930111000\"}
	| .emergency = {numbers: [\"112\", \"911\"], regions: [
		{name: \"nl\", destination: \"sip:112@127.0.7.9:$SIP_GW3_PORT\"},
		{name: \"de\", destination: \"sip:110@$PSAP:$SIP_GW3_PORT\"}]}"

# 1. The trunk's one call of rate budget, then a refused one.
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac first uac_call.xml 127.0.0.2 -d 100
sip_expect first 30 "the trunk's first call completes"
sip_expect gw1 30 "the gateway gets it"
sip_uac limited uac_503.xml 127.0.0.2
sip_expect limited 30 "the trunk's second ordinary call is over its limit: 503"
tl_assert_json "$(sip_ctl --json status)" '.rejected_limits == 1' "the limit is full"

# 2. 112 with privacy asked: to the de destination, with the identity.
esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' <<<"$1"; }
checks="<ereg regexp=\"$(esc '^INVITE sip:110@127\.0\.7\.3:')\" search_in=\"msg\" check_it=\"true\" assign_to=\"chk\"/>"
checks+="<ereg regexp=\"$(esc 'From: <sip:4930111555@')\" search_in=\"msg\" check_it=\"true\" assign_to=\"chk\"/>"
checks+="<ereg regexp=\"$(esc 'P-Asserted-Identity: <sip:4930111555@')\" search_in=\"msg\" check_it=\"true\" assign_to=\"chk\"/>"
checks+="<ereg regexp=\"anonymous\" search_in=\"msg\" check_it_inverse=\"true\" assign_to=\"chk\"/>"
python3 -c 'import sys; print(open(sys.argv[1]).read().replace("<!--CHECKS-->", sys.argv[2]), end="")' \
	"$SIP_SCEN/uas_check.xml" "$checks" >"$TL_TMP/psap.xml"
sip_phone psap "$TL_TMP/psap.xml" $PSAP "$SIP_GW3_PORT"
sip_uac_from em "$SIP_SCEN/uac_ident.xml" 127.0.0.2 112 -set cli 4930111555 -set pai 4930111555 \
	-set privacy id -d 100
sip_expect em 30 "the trunk's 112 call completes despite the full limit"
sip_expect psap 30 "the de destination gets the 112 call with the caller's identity"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .emergency == true and .gateway == "emergency:de" and .final_code == 200 and .identity.asserted == "4930111555"' "CDR of the 112 call"
tl_assert_json "$(sip_ctl --json status)" '.rejected_limits == 1' "the 112 call was not counted against the limits"

tl_log "bad region: file:line: field"
jq '.trunks[0].region = "fr"' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad.json" 2>&1) && tl_fail "an unknown region was accepted"
grep -Eq "bad.json: trunks\[0\]\.region: no emergency region 'fr'|bad.json:[0-9]+: trunks\[0\]\.region: no emergency region 'fr'" <<<"$out" || tl_fail "unexpected error: $out"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
