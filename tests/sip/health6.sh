#!/bin/bash
# run-also: asan
#
# IPv6 gateways: probes and calls leave by the IPv6 listener (stack6.c),
# also through an IPv6 outbound proxy (steered by the proxy's family).
#   - gw6 ([::1], answers OPTIONS 200; the responder listens on ::1
#     only) is probed and marked up;
#   - gw6dead ([::1], nothing listens) is marked down;
#   - gwpx (host carrier.invalid behind proxy sip:[::1]:PORT, where a
#     responder answers 200) is probed through the proxy and marked up;
#   - a call from the IPv4 trunk to gwcall (carrier.invalid behind the
#     IPv6 proxy sip:[::1]:PORT2, a SIPp UAS) is set up through the proxy,
#     Via naming [::1].
. "$(dirname "$0")/../lib/sip.sh"
ip -6 addr show dev lo | grep -q '::1/128' || tl_skip "no ::1 on lo"
sip_init
PX_CALL=$((SIP_BASE + 6))
sip_scen6 uas_answer.xml
sip_gw_mode "$TL_TMP/gw.mode" 200
tl_spawn gw6 - python3 "$TL_ROOT/tests/lib/sipudp.py" gw ::1 "$SIP_GW1_PORT" "$TL_TMP/gw.mode"
tl_spawn px - python3 "$TL_ROOT/tests/lib/sipudp.py" gw ::1 "$SIP_GW3_PORT" "$TL_TMP/gw.mode"
tl_wait_for 20 "the IPv6 OPTIONS responders" bash -c "ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q . && ss -ulnH 'sport = :$SIP_GW3_PORT' | grep -q ."
sip_relayd_start '.interfaces += [{name: "lo6", bind: "::1"}]'
probe='{interval: 1, timeout: 0.5, up_after: 1}'
sip_controller_start ".sip.listen6 = \"::1\" | .relays[0].interfaces = [\"lo\", \"lo\"]
	| .gateways += [{name: \"gw6\", host: \"[::1]\", port: $SIP_GW1_PORT, relay_interface: \"lo6\", probe: $probe},
		{name: \"gw6dead\", host: \"[::1]\", port: $SIP_GW2_PORT, relay_interface: \"lo6\", probe: $probe},
		{name: \"gwpx\", host: \"carrier.invalid\", proxy: \"sip:[::1]:$SIP_GW3_PORT\", relay_interface: \"lo6\", probe: $probe},
		{name: \"gwcall\", host: \"carrier.invalid\", proxy: \"sip:[::1]:$PX_CALL\", relay_interface: \"lo6\"}]
	| .carriers += [{name: \"cpx\", gateways: [{gateway: \"gwcall\"}]}]
	| .routes = [{name: \"px\", carriers: [\"cpx\"]}]"
gw_state() {	# gw_state NAME JQ-CONDITION
	sip_trunks ".gateways[] | select(.name == \"$1\") | $2"
}
tl_wait_for 20 "gw6 up" gw_state gw6 '.state == "up" and .last_code == 200'
tl_wait_for 20 "gwpx up through its IPv6 proxy" gw_state gwpx '.state == "up" and .last_code == 200'
tl_wait_for 20 "gw6dead down" gw_state gw6dead '.state == "down"'
grep -q '^OPTIONS ' "$TL_TMP/gw6.out" || tl_fail "gw6 saw no OPTIONS"
grep -q '^OPTIONS ' "$TL_TMP/px.out" || tl_fail "the proxy saw no OPTIONS"

tl_log "a call through the IPv6 outbound proxy"
tl_spawn pxcall - sipp -sf "$TL_TMP/uas_answer.xml" -i ::1 -p "$PX_CALL" -m 1 -nostdin -timeout 30s \
	-set mport "$SIP_CALLEE_RTP" -set mip ::1 -trace_err -error_file "$TL_TMP/pxcall.errors" \
	-trace_msg -message_file "$TL_TMP/pxcall.msgs"
tl_wait_for 15 "SIPp pxcall to listen" sip_listening "$PX_CALL"
sip_uac caller uac_call.xml 127.0.0.2 -d 200
sip_expect caller 30 "the call through the IPv6 proxy"
sip_expect pxcall 30 "the proxy's side of the call"
inv=$(tr -d '\r' <"$TL_TMP/pxcall.msgs" | awk '/^INVITE sip:/{p=1} p&&/^$/{exit} p')
grep -q '^INVITE sip:441234567@carrier.invalid' <<<"$inv" || tl_fail "the INVITE's request-URI is not the gateway's: $(head -1 <<<"$inv")"
grep -qiE "^Route: <sip:\[::1\]:$PX_CALL;lr>" <<<"$inv" || tl_fail "no Route to the proxy: $(grep -i '^route' <<<"$inv")"
grep -qE "^Via: SIP/2.0/UDP \[::1\]:$SIP_CTL_PORT" <<<"$inv" || tl_fail "the INVITE did not leave by the IPv6 listener: $(grep -i '^via' <<<"$inv")"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gwcall" and .final_code == 200' "CDR: the call went through gwcall"
sip_controller_stop
tl_relayd_stop
tl_pass
