#!/bin/bash
# run-also: asan
#
# Registered contacts may not send calls anywhere (issue 12). A hostile
# account ("mallory", with her own valid password) registers contacts
# that name a configured carrier gateway (00900123@carrier), the
# controller itself, and a host outside registrar.contact_networks: each
# REGISTER gets 403 with the reason logged, the location stays empty, and
# a call to mallory gets 480 while the carrier (a UDP sink on 127.0.8.1)
# receives nothing. Then alice registers from 127.0.7.2 a Contact naming
# 127.0.7.3: the call to alice goes to the REGISTER's flow (127.0.7.2,
# the port it came from), and 127.0.7.3 (another sink) receives nothing.
# Over TCP (tests/lib/tcp_phone.py), bob's call comes back on the very
# connection his REGISTER came on.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
CARRIER=127.0.8.1
PHONE=127.0.7.2
ELSEWHERE=127.0.7.3
sip_relayd_start
sip_controller_start ".accounts = [
		{username: \"mallory\", password: \"mpass\"},
		{username: \"alice\", password: \"apass\"},
		{username: \"bob\", password: \"bpass\"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600,
		contact_networks: [\"127.0.7.0/24\"]}
	| .gateways += [{name: \"carrier\", host: \"$CARRIER\", port: $SIP_GW2_PORT}]"

registered() {
	[ "$(sip_ctl --json locations | jq "[.locations[] | select(.account == \"$1\")] | length")" = "$2" ]
}
sink_quiet() {
	[ ! -s "$TL_TMP/$1.out" ] || tl_fail "$2 received: $(head -n 3 "$TL_TMP/$1.out")"
}

tl_spawn carrier - python3 "$TL_ROOT/tests/lib/sipudp.py" sink "$CARRIER" "$SIP_GW2_PORT"
tl_wait_for 20 "the carrier sink" sip_listening "$SIP_GW2_PORT"

# 1. Hostile contacts: the carrier gateway, us, outside the networks.
n=0
for t in "00900123@$CARRIER:$SIP_GW2_PORT|is gateway carrier" \
	"00900123@127.0.0.1:$SIP_CTL_PORT|is our own address" \
	"00900123@127.0.9.9:5060|is outside registrar.contact_networks"; do
	contact=${t%%|*} why=${t#*|}
	n=$((n + 1))
	sed -e 's|<recv response="200"/>|<recv response="403"/>|' \
		-e 's|<Global variables="cport,exp"/>|<Global variables="exp"/>|' \
		-e "s|Contact: <sip:\\[service\\]@\\[local_ip\\]:\\[\\\$cport\\]>|Contact: <sip:$contact>|" \
		"$SIP_SCEN/uac_register.xml" >"$TL_TMP/evil$n.xml"
	grep -q "Contact: <sip:$contact>" "$TL_TMP/evil$n.xml" || tl_fail "cannot build the REGISTER for $contact"
	tl_spawn "evil$n" - sipp -sf "$TL_TMP/evil$n.xml" -i "$PHONE" -p "$SIP_GW3_PORT" -m 1 -nostdin \
		-timeout 20s -s mallory -au mallory -ap mpass -set exp 60 \
		-trace_err -error_file "$TL_TMP/evil$n.errors" -trace_msg -message_file "$TL_TMP/evil$n.msgs" \
		"127.0.0.1:$SIP_CTL_PORT"
	sip_expect "evil$n" 20 "REGISTER of contact $contact gets 403"
	grep -q "REGISTER .*account mallory: contact host .* $why: 403" "$TL_TMP/controller.log" ||
		tl_fail "the refusal of $contact is not logged with its reason ('$why')"
done
registered mallory 0 || tl_fail "a refused contact is in the location"
tl_assert_json "$(sip_ctl --json status)" '.trust.contacts_refused == 3' "status counts the three refused contacts"

# A call to mallory: not registered (480), and nothing reaches the carrier.
sed -e 's/response="403"/response="480"/' "$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_480.xml"
sip_uac_from call_mallory "$TL_TMP/uac_480.xml" 127.0.0.2 mallory
sip_expect call_mallory 20 "a call to mallory gets 480"
sink_quiet carrier "the carrier gateway"

# 2. A Contact naming another host: the call goes to the REGISTER's flow.
sed -e "s|Contact: <sip:\\[service\\]@\\[local_ip\\]:\\[\\\$cport\\]>|Contact: <sip:[service]@$ELSEWHERE:[\$cport]>|" \
	"$SIP_SCEN/uac_register.xml" >"$TL_TMP/reg_else.xml"
tl_spawn reg_alice - sipp -sf "$TL_TMP/reg_else.xml" -i "$PHONE" -p "$SIP_GW3_PORT" -m 1 -nostdin \
	-timeout 20s -s alice -au alice -ap apass -set cport "$SIP_GW3_PORT" -set exp 60 \
	-trace_err -error_file "$TL_TMP/reg_alice.errors" -trace_msg -message_file "$TL_TMP/reg_alice.msgs" \
	"127.0.0.1:$SIP_CTL_PORT"
sip_expect reg_alice 20 "alice registers a contact on $ELSEWHERE"
loc=$(sip_ctl --json locations)
tl_assert_json "$loc" "[.locations[] | select(.account == \"alice\" and .contact == \"sip:alice@$ELSEWHERE:$SIP_GW3_PORT\" and .source == \"$PHONE:$SIP_GW3_PORT\" and .transport == \"udp\")] | length == 1" \
	"the location keeps alice's contact and the flow it came on"
tl_spawn elsewhere - python3 "$TL_ROOT/tests/lib/sipudp.py" sink "$ELSEWHERE" "$SIP_GW3_PORT"
sip_phone phone uas_answer.xml $PHONE "$SIP_GW3_PORT"
tl_wait_for 20 "both $PHONE and $ELSEWHERE to listen on $SIP_GW3_PORT" \
	bash -c "[ \$(ss -ulnH 'sport = :$SIP_GW3_PORT' | wc -l) -ge 2 ]"
SIP_SERVICE=alice sip_uac call_alice uac_call.xml 127.0.0.2
sip_expect call_alice 30 "the call to alice completes"
sip_expect phone 30 "the phone at the REGISTER's source gets the call"
grep -q "^INVITE sip:alice@$PHONE:$SIP_GW3_PORT" "$TL_TMP/phone.msgs" ||
	tl_fail "the INVITE is not for the REGISTER's flow $PHONE:$SIP_GW3_PORT"
sink_quiet elsewhere "the Contact's host $ELSEWHERE"
sink_quiet carrier "the carrier gateway"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.gateway == "account:alice" and .final_code == 200' "CDR of the call to alice"

# 3. Over TCP: bob registers from $PHONE (Contact on $ELSEWHERE) and keeps
# the connection; the call comes back on it (bob answers 486).
tl_spawn tcpbob - python3 "$TL_ROOT/tests/lib/tcp_phone.py" "$PHONE" "$SIP_UAC2_PORT" 127.0.0.1 "$SIP_CTL_PORT" \
	bob bpass "$ELSEWHERE"
tl_wait_for 10 "bob to register over TCP" grep -q REGISTERED "$TL_TMP/tcpbob.out"
loc=$(sip_ctl --json locations)
tl_assert_json "$loc" "[.locations[] | select(.account == \"bob\" and .source == \"$PHONE:$SIP_UAC2_PORT\" and .transport == \"tcp\")] | length == 1" \
	"the location keeps bob's TCP flow"
sed -e 's/response="403"/response="486"/' "$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_486.xml"
sip_uac_from call_bob "$TL_TMP/uac_486.xml" 127.0.0.2 bob
sip_expect call_bob 20 "the call to bob gets bob's 486"
tl_reap tcpbob 10
[ "$TL_RC" = 0 ] || tl_fail "the TCP phone: $(cat "$TL_TMP/tcpbob.out")"
grep -q "^INVITE sip:bob@$PHONE:$SIP_UAC2_PORT;transport=tcp" "$TL_TMP/tcpbob.out" ||
	tl_fail "bob's INVITE did not come on the REGISTER's TCP connection: $(cat "$TL_TMP/tcpbob.out")"
sink_quiet elsewhere "the Contact's host $ELSEWHERE"
sip_controller_stop
tl_relayd_stop
tl_pass
