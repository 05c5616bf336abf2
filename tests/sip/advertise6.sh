#!/bin/bash
# run-also: asan
#
# The IPv6 listeners' public address (issue 15), like sip.advertise for
# IPv4: behind 1:1 NAT (or a NAT66 prefix translation) the IPv6 listener's
# own address is private. With sip.listen6 "::1" and sip.advertise6
# "2001:db8::10" (and sip.advertise "192.0.2.10" for the IPv4 stack at
# the same time), an IPv6 caller's call to an IPv6 gateway:
#   - the gateway's INVITE names [2001:db8::10]:<port> in Via sent-by,
#     Contact and the From host, and ::1 nowhere in them;
#   - the caller's 200 Contact names [2001:db8::10]:<port>;
#   - SDP names the relay interface's advertised IPv6 address
#     (relayd's interfaces[].advertise, 2001:db8::20);
#   - the call completes, with a CDR.
# No Record-Route anywhere: the controller writes none (both dialogs end
# here). Bad values are config errors with file:line and the field.
. "$(dirname "$0")/../lib/sip.sh"
ip -6 addr show dev lo | grep -q '::1/128' || tl_skip "no ::1 on lo"
sip_init
PUB=192.0.2.10 PUB6=2001:db8::10 RELAY6=2001:db8::20
sip_scen6 uac_call.xml uas_answer.xml
sip_relayd_start ".interfaces[0].advertise = \"192.0.2.20\" | .interfaces += [{name: \"lo6\", bind: \"::1\", advertise: \"$RELAY6\"}]"
sip_controller_start ".sip.listen6 = \"::1\" | .sip.advertise = \"$PUB\" | .sip.advertise6 = \"$PUB6\"
	| $(sip_route6 "$SIP_GW1_PORT")"
grep -q "SIP on sip:\[$PUB6\]:$SIP_CTL_PORT;maddr=::1 " "$TL_TMP/controller.log" ||
	tl_fail "the IPv6 stack does not bind [$PUB6];maddr=::1: $(grep 'SIP on' "$TL_TMP/controller.log")"

tl_spawn gw6 - sipp -sf "$TL_TMP/uas_answer.xml" -i ::1 -p "$SIP_GW1_PORT" -m 1 -nostdin -timeout 30s \
	-set mport "$SIP_CALLEE_RTP" -set mip ::1 -trace_err -error_file "$TL_TMP/gw6.errors" \
	-trace_msg -message_file "$TL_TMP/gw6.msgs"
tl_wait_for 15 "SIPp gw6 to listen" sip_listening "$SIP_GW1_PORT"
tl_spawn caller - sipp -sf "$TL_TMP/uac_call.xml" -i ::1 -p "$SIP_UAC_PORT" -m 1 -nostdin -timeout 30s \
	-s 441234567 -set mport "$SIP_CALLER_RTP" -set mip ::1 -d 500 \
	-trace_err -error_file "$TL_TMP/caller.errors" -trace_msg -message_file "$TL_TMP/caller.msgs" \
	"[::1]:$SIP_CTL_PORT"
sip_expect caller 30 "the IPv6 caller's call"
sip_expect gw6 30 "the IPv6 gateway's call"

inv=$(tr -d '\r' <"$TL_TMP/gw6.msgs" | awk '/^INVITE sip:/{p=1} p&&/^$/{exit} p')
[ -n "$inv" ] || tl_fail "no INVITE in gw6's trace"
grep -q "^Via: SIP/2.0/UDP \[$PUB6\]:$SIP_CTL_PORT" <<<"$inv" ||
	tl_fail "Via does not name [$PUB6]:$SIP_CTL_PORT: $(grep -i '^via' <<<"$inv")"
grep -qiE "^Contact: <sip:([^@]*@)?\[$PUB6\]:$SIP_CTL_PORT[;>]" <<<"$inv" ||
	tl_fail "Contact does not name [$PUB6]:$SIP_CTL_PORT: $(grep -i '^contact' <<<"$inv")"
grep -qi "^From: .*@\[$PUB6\][:>;]" <<<"$inv" || tl_fail "From does not name [$PUB6]: $(grep -i '^from' <<<"$inv")"
grep -Ei "^(Via|Contact|From|Record-Route):" <<<"$inv" | grep -qE "::1\]|$PUB[:>;]" &&
	tl_fail "the listen address or the IPv4 one in the INVITE: $(grep -Ei '^(via|contact|from)' <<<"$inv")"
grep -qi "^Record-Route:" <<<"$inv" && tl_fail "a Record-Route in the INVITE"
grep -q "^c=IN IP6 $RELAY6" <<<"$(tr -d '\r' <"$TL_TMP/gw6.msgs")" || tl_fail "the SDP does not name the relay's advertised $RELAY6"
ok=$(tr -d '\r' <"$TL_TMP/caller.msgs" | awk '/^SIP\/2.0 200/{p=1} p&&/^$/{exit} p')
grep -qi "^Contact: <sip:[^>]*\[$PUB6\]:$SIP_CTL_PORT[;>]" <<<"$ok" ||
	tl_fail "the caller's 200 Contact does not name [$PUB6]: $(grep -i '^contact' <<<"$ok")"
grep -q "^c=IN IP6 $RELAY6" <<<"$(tr -d '\r' <"$TL_TMP/caller.msgs")" || tl_fail "the caller's SDP does not name $RELAY6"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "gw6" and .trunk == "pbx6"' "CDR: the IPv6 call connected"
tl_wait_for 10 "no call left" sip_no_calls
sip_controller_stop

sip_conf_bad adv6_v4 '.sip.advertise6 = "192.0.2.10"' "sip\.advertise6: .*not an IPv6 address"
sip_conf_bad adv6_port '.sip.advertise6 = "[2001:db8::10]:70000"' "sip\.advertise6: .*port must be"
sip_conf_bad adv6_alone 'del(.sip.listen6)' "sip\.advertise6: .*needs sip\.listen6"
tl_relayd_stop
tl_pass
