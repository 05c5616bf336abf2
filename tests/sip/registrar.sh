#!/bin/bash
# run-also: asan
#
# Registrar for local accounts (issue 6): REGISTER is challenged (401)
# and then accepted, the location shows the contact (control socket and
# trunklinectl); a call from a trunk to the account, and to its alias,
# reaches the SIPp UAS at the registered contact; the account's own call
# is challenged and routed outwards, with its quick-dial prefix completing
# the number the gateway sees; Expires: 0 unregisters (then 480), and a
# short registration expires by itself. Phones live on 127.0.7.x.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.accounts = [
		{username: "alice", password: "apass", aliases: ["3120555"], quick_dial: "0031"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}
	| .lcr[0].prefixes += [{prefix: "0031", carriers: ["c1"]}]'

PHONE=127.0.7.2
alice_registered() {
	[ "$(sip_ctl --json locations | jq '[.locations[] | select(.account == "alice")] | length')" = "$1" ]
}
# 1. Register; the location has the contact.
sip_register reg1 alice apass $PHONE $SIP_GW3_PORT 60
grep -q "^SIP/2.0 401" "$TL_TMP/reg1.msgs" || tl_fail "REGISTER was not challenged with 401"
loc=$(sip_ctl --json locations)
tl_assert_json "$loc" "[.locations[] | select(.account == \"alice\" and .contact == \"sip:alice@$PHONE:$SIP_GW3_PORT\" and .expires > 50)] | length == 1" \
	"the location holds alice's contact"
sip_ctl locations | grep -q "^alice .*sip:alice@$PHONE:$SIP_GW3_PORT" || tl_fail "trunklinectl locations does not show alice"
grep -q "^Contact: .*sip:alice@$PHONE:$SIP_GW3_PORT.*expires=" "$TL_TMP/reg1.msgs" || tl_fail "the 200 does not list the binding"

# 1b. A wrong password gets 403, a contact that is no sip: URI 400; an
# unknown account is challenged and refused exactly like a wrong
# password (401, then 403: accounts cannot be probed, issue 12). None of
# them changes the location.
cp "$SIP_SCEN/uac_register.xml" "$TL_TMP/reg403.xml"
sed -i 's|<recv response="200"/>|<recv response="403"/>|' "$TL_TMP/reg403.xml"
sed -e 's|<recv response="200"/>|<recv response="400"/>|' \
	-e 's|Contact: <sip:\[service\]@\[local_ip\]:\[\$cport\]>|Contact: <tel:+3120555>;x-port=[$cport]|' \
	"$SIP_SCEN/uac_register.xml" >"$TL_TMP/reg400.xml"
cp "$TL_TMP/reg403.xml" "$TL_TMP/regnobody.xml"
for t in 403:apass2:alice 400:apass:alice nobody:apass:nobody; do
	code=${t%%:*}
	user=${t##*:}
	pass=${t#*:}
	pass=${pass%:*}
	tl_spawn "reg$code" - sipp -sf "$TL_TMP/reg$code.xml" -i "$PHONE" -p "$SIP_UAC_PORT" -m 1 -nostdin \
		-timeout 20s -s "$user" -au "$user" -ap "$pass" -set cport 5999 -set exp 60 \
		-trace_err -error_file "$TL_TMP/reg$code.errors" -trace_msg -message_file "$TL_TMP/reg$code.msgs" \
		"127.0.0.1:$SIP_CTL_PORT"
	sip_expect "reg$code" 20 "a bad REGISTER ($user) gets ${code/nobody/401 then 403}"
done
# More than 8 contacts for one account: 403.
many=$(for i in 1 2 3 4 5 6 7 8; do printf '<sip:p%s@%s:[$cport]>, ' "$i" "$PHONE"; done)
sed -e 's|<recv response="200"/>|<recv response="403"/>|' \
	-e "s|Contact: <sip:\\[service\\]@\\[local_ip\\]:\\[\\\$cport\\]>|Contact: ${many}<sip:p9@$PHONE:[\$cport]>|" \
	"$SIP_SCEN/uac_register.xml" >"$TL_TMP/regmany.xml"
grep -q "p9@" "$TL_TMP/regmany.xml" || tl_fail "cannot build the many-contacts REGISTER"
tl_spawn regmany - sipp -sf "$TL_TMP/regmany.xml" -i "$PHONE" -p "$SIP_UAC_PORT" -m 1 -nostdin \
	-timeout 20s -s alice -au alice -ap apass -set cport 5999 -set exp 60 \
	-trace_err -error_file "$TL_TMP/regmany.errors" -trace_msg -message_file "$TL_TMP/regmany.msgs" \
	"127.0.0.1:$SIP_CTL_PORT"
sip_expect regmany 20 "a REGISTER for more than 8 contacts gets 403"
alice_registered 1 || tl_fail "a refused REGISTER changed the location"
# The table lives in the daemon: a reload keeps it.
sip_ctl reload >/dev/null || tl_fail "reload failed"
alice_registered 1 || tl_fail "a reload lost the registration"

# 2. A call from the trunk to alice and one to her alias reach the phone.
n=0
for dial in alice 3120555; do
	sip_phone "phone_$dial" uas_answer.xml $PHONE "$SIP_GW3_PORT"
	SIP_SERVICE=$dial sip_uac "call_$dial" uac_call.xml 127.0.0.2
	sip_expect "call_$dial" 30 "the call to $dial completes"
	sip_expect "phone_$dial" 30 "the phone gets the call to $dial"
	grep -q "^INVITE sip:alice@$PHONE:$SIP_GW3_PORT" "$TL_TMP/phone_$dial.msgs" ||
		tl_fail "the phone's INVITE is not for its contact"
	n=$((n + 1))
	sip_cdr_wait $n
	tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .final_code == 200 and .gateway == "account:alice"' "CDR of the call to $dial"
done

# 3. alice calls out: challenged (407), "20123" completed to "003120123".
sed -e 's/sip:0201234567@/sip:alice@/g' "$SIP_SCEN/uac_auth.xml" >"$TL_TMP/uac_alice.xml"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac_from out "$TL_TMP/uac_alice.xml" $PHONE 20123 -au alice -ap apass
sip_expect out 30 "alice's own call completes"
sip_expect gw1 30 "the gateway gets alice's call"
grep -q "^INVITE sip:003120123@" "$TL_TMP/gw1.msgs" || tl_fail "quick dial did not complete 20123 to 003120123 at the gateway"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.trunk == "alice" and .gateway == "gw1" and .numbers.called_in == "20123" and .numbers.called == "003120123"' \
	"CDR of alice's quick-dial call"

# 4. Expires: 0 unregisters; a call to alice then gets 480.
sip_register unreg alice apass $PHONE $SIP_GW3_PORT 0
tl_wait_for 5 "alice to be unregistered" alice_registered 0
sed -e 's/response="403"/response="480"/' "$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_480.xml"
sip_uac_from call480 "$TL_TMP/uac_480.xml" 127.0.0.2 alice
sip_expect call480 20 "a call to an unregistered account gets 480"

# 5. A registration for 2 s expires by itself.
sip_register short alice apass $PHONE $SIP_GW3_PORT 2
alice_registered 1 || tl_fail "the short registration is not in the location"
tl_wait_for 8 "alice's 2 s registration to expire (logged)" grep -q "registrar: alice: .* expired" "$TL_TMP/controller.log"
alice_registered 0 || tl_fail "the expired contact is still in the location"
sip_controller_stop
tl_relayd_stop
tl_pass
