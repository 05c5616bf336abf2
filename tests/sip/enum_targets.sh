#!/bin/bash
# run-also: asan
#
# ENUM answers may not send calls anywhere (issue 12). A test DNS server
# on 127.0.7.54 answers NAPTR records whose URIs name a configured carrier
# gateway (00900123@carrier, 127.0.8.2), a host outside enum.domains
# (127.0.7.9) and the controller itself: each is refused with the reason
# logged, the rules decide (no rule routes +3120..., so the caller gets
# 404), and the carrier and 127.0.7.9 (UDP sinks) receive nothing. Then,
# with enum.gateways, an answer naming gateway carrier2 goes through that
# gateway as configured: the INVITE is for the called number, not the
# answer's 00900123, and the CDR names carrier2.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
DNS=127.0.7.54
ss -ulnH "src $DNS:53" | grep -q . && tl_skip "$DNS:53 is in use"
CARRIER=127.0.8.2
CARRIER2=127.0.8.3
OUTSIDE=127.0.7.9
zone=$(jq -nc --arg gw "sip:00900123@$CARRIER:$SIP_GW2_PORT" --arg out "sip:00900123@$OUTSIDE:$SIP_GW3_PORT" \
	--arg self "sip:00900123@127.0.0.1:$SIP_CTL_PORT" --arg gw2 "sip:00900123@$CARRIER2:$SIP_GW3_PORT" '{
	"1.6.5.4.3.2.1.0.2.1.3.e164.test": [[10, 10, "u", "E2U+sip", ("!^.*$!" + $gw + "!")]],
	"2.6.5.4.3.2.1.0.2.1.3.e164.test": [[10, 10, "u", "E2U+sip", ("!^.*$!" + $out + "!")]],
	"3.6.5.4.3.2.1.0.2.1.3.e164.test": [[10, 10, "u", "E2U+sip", ("!^.*$!" + $self + "!")]],
	"5.6.5.4.3.2.1.0.2.1.3.e164.test": [[10, 10, "u", "E2U+sip", ("!^.*$!" + $gw2 + "!")]]}')
tl_spawn dns - python3 "$TL_ROOT/tests/lib/naptr_dns.py" "$DNS" 53 "$zone"
tl_wait_for 20 "the test DNS server" grep -q READY "$TL_TMP/dns.out"
printf 'nameserver %s\noptions timeout:5 attempts:1\n' "$DNS" >"$TL_TMP/resolv.conf"
GWS=".gateways += [{name: \"carrier\", host: \"$CARRIER\", port: $SIP_GW2_PORT},
	{name: \"carrier2\", host: \"$CARRIER2\", port: $SIP_GW3_PORT}]"
sip_relayd_start
sip_controller_start "$GWS
	| .enum = {suffix: \"e164.test\", resolv_conf: \"$TL_TMP/resolv.conf\", timeout: 2, domains: [\"127.0.7.6\"]}"

tl_spawn carrier - python3 "$TL_ROOT/tests/lib/sipudp.py" sink "$CARRIER" "$SIP_GW2_PORT"
tl_wait_for 20 "the carrier sink" sip_listening "$SIP_GW2_PORT"
tl_spawn outside - python3 "$TL_ROOT/tests/lib/sipudp.py" sink "$OUTSIDE" "$SIP_GW3_PORT"
tl_wait_for 20 "the sink on $OUTSIDE" sip_listening "$SIP_GW3_PORT"
sed -e 's/response="403"/response="404"/' "$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_404.xml"

# 1. Refused answers: the rules decide (404), nothing reaches the targets.
for t in "1|is gateway carrier (enum.gateways is off)" "2|$OUTSIDE is not in enum.domains" \
	"3|127.0.0.1 is our own address"; do
	n=${t%%|*} why=${t#*|}
	sip_uac_from "call$n" "$TL_TMP/uac_404.xml" 127.0.0.2 "+3120123456$n"
	sip_expect "call$n" 20 "the call to +3120123456$n (refused ENUM answer, no rule) gets 404"
	grep -q "QUERY $n.6.5.4.3.2.1.0.2.1.3.e164.test 35" "$TL_TMP/dns.out" || tl_fail "no NAPTR query for +3120123456$n"
	grep -qF "ENUM $n.6.5.4.3.2.1.0.2.1.3.e164.test -> " "$TL_TMP/controller.log" &&
		grep -F "ENUM $n.6.5.4.3.2.1.0.2.1.3.e164.test -> " "$TL_TMP/controller.log" | grep -qF "refused: " &&
		grep -F "ENUM $n.6.5.4.3.2.1.0.2.1.3.e164.test -> " "$TL_TMP/controller.log" | grep -qF "$why" ||
		tl_fail "the refusal of the answer for +3120123456$n is not logged with '$why'"
done
[ ! -s "$TL_TMP/carrier.out" ] || tl_fail "the carrier received: $(head -n 3 "$TL_TMP/carrier.out")"
[ ! -s "$TL_TMP/outside.out" ] || tl_fail "$OUTSIDE received: $(head -n 3 "$TL_TMP/outside.out")"
tl_assert_json "$(sip_ctl --json status)" '.trust.enum_refused == 3' "status counts the three refused ENUM answers"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.final_code == 404 and .gateway == null' "the call after a refused ENUM answer has its CDR (404, no gateway)"
n=$(grep -c "attempt 1: " "$TL_TMP/controller.log")
[ "$n" = 0 ] || tl_fail "$n B-leg INVITEs were sent for refused ENUM answers"

# 2. enum.gateways: an answer on gateway carrier2 uses it as configured.
sip_controller_config "$GWS
	| .enum = {suffix: \"e164.test\", resolv_conf: \"$TL_TMP/resolv.conf\", timeout: 2, domains: [\"127.0.7.6\"], gateways: true}"
sip_ctl reload >/dev/null || tl_fail "reload with enum.gateways failed"
sip_uas_at carrier2 uas_answer.xml "$CARRIER2" "$SIP_GW3_PORT" -set mport "$SIP_CALLEE_RTP"
SIP_SERVICE=+31201234565 sip_uac mapped uac_call.xml 127.0.0.2
sip_expect mapped 30 "the call whose ENUM answer names carrier2 completes"
sip_expect carrier2 30 "carrier2 gets the call"
grep -q "^INVITE sip:+31201234565@$CARRIER2:$SIP_GW3_PORT" "$TL_TMP/carrier2.msgs" ||
	tl_fail "carrier2's INVITE is not for the called number: $(grep '^INVITE' "$TL_TMP/carrier2.msgs")"
grep -q "00900123" "$TL_TMP/carrier2.msgs" && tl_fail "the ENUM answer's user reached carrier2"
grep -q "ENUM 5.6.5.4.3.2.1.0.2.1.3.e164.test -> .*: gateway carrier2" "$TL_TMP/controller.log" || tl_fail "the mapping is not logged"
sip_cdr_wait 4
tl_assert_json "$SIP_CDR_LAST" '.gateway == "carrier2" and .final_code == 200' "CDR of the mapped ENUM call"
[ ! -s "$TL_TMP/carrier.out" ] || tl_fail "the carrier received: $(head -n 3 "$TL_TMP/carrier.out")"
sip_controller_stop
tl_relayd_stop
tl_pass
