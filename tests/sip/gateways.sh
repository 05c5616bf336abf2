#!/bin/bash
# run-also: asan
#
# Outgoing leg options of a gateway:
#  - an outbound proxy and credentials: the gateway "carrier.invalid" is
#    reached through the proxy (SIPp on 127.0.0.1), whose 401 challenge
#    is answered with the gateway's username/password (verified by SIPp),
#    and the call completes; the request-URI keeps the gateway's host;
#  - TCP transport: the gateway listens on TCP only and gets the call.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start ".gateways = [
	{name: \"viaproxy\", host: \"carrier.invalid\", proxy: \"sip:127.0.0.1:$SIP_GW1_PORT\",
	 username: \"acct\", password: \"pw\"},
	{name: \"tcp\", host: \"127.0.0.1\", port: $SIP_GW2_PORT, transport: \"tcp\"}] |
	.carriers = [{name: \"c1\", gateways: [\"viaproxy\"]}, {name: \"c2\", gateways: [\"tcp\"]}] |
	.lcr[0].prefixes += [{prefix: \"45\", carriers: [\"c2\"]}]"

sip_uas proxy uas_auth.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml 127.0.0.2 -d 200
sip_expect caller 30 "the call through the proxy with the gateway's credentials"
sip_expect proxy 30 "the proxy's side"
grep -q '^INVITE sip:441234567@carrier.invalid' "$TL_TMP/proxy.msgs" || tl_fail "the request-URI does not name the gateway: $(grep -m1 '^INVITE' "$TL_TMP/proxy.msgs")"
grep -qi '^Authorization: Digest username="acct", realm="carrier.example"' "$TL_TMP/proxy.msgs" || tl_fail "no Authorization with the gateway's account"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.gateway == "viaproxy" and .final_code == 200 and (.attempts | length) == 1' "CDR via the proxy"

tl_spawn gwtcp - sipp -sf "$SIP_SCEN/uas_answer.xml" -t t1 -i 127.0.0.1 -p "$SIP_GW2_PORT" -m 1 -nostdin \
	-timeout 30s -set mport "$SIP_CALLEE_RTP" -trace_msg -message_file "$TL_TMP/gwtcp.msgs" \
	-trace_err -error_file "$TL_TMP/gwtcp.errors"
tl_wait_for 20 "the TCP gateway to listen" sip_listening "$SIP_GW2_PORT"
SIP_SERVICE=451234 sip_uac caller2 uac_call.xml 127.0.0.2 -d 200
sip_expect caller2 30 "the call to the TCP gateway"
sip_expect gwtcp 30 "the TCP gateway's side"
grep -q 'TCP message received' "$TL_TMP/gwtcp.msgs" || tl_fail "the gateway did not get the INVITE over TCP"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.gateway == "tcp" and .final_code == 200' "CDR of the TCP call"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
