#!/bin/bash
# run-also: asan
#
# Outbound registration to an IPv6 registrar (issue 15): trunk "prov"
# registers at sip:[::1]:PORT (SIPp). The REGISTER leaves by the IPv6
# listener (stack6.c): Via and Contact name [::1] and our port, never
# the IPv4 listener; the registration is refreshed before its 4 s expiry
# (same Call-ID, counted); a call from the registrar's address to the
# registered contact user (the DDI) is matched to trunk prov and routed
# to the IPv4 gateway. A registrar given as a bare IPv6 address without
# brackets is a config error with file:line.
. "$(dirname "$0")/../lib/sip.sh"
ip -6 addr show dev lo | grep -q '::1/128' || tl_skip "no ::1 on lo"
sip_init
sip_relayd_start '.interfaces += [{name: "lo6", bind: "::1"}]'
REGPORT=$SIP_GW3_PORT
DDI=4420001
sip_scen6 uac_call.xml
reg_state() {
	sip_trunks ".trunks[] | select(.name == \"prov\") | .registration | $1"
}

sip_uas_at registrar reg_200.xml ::1 "$REGPORT"
sip_controller_start ".sip.listen6 = \"::1\" | .relays[0].interfaces = [\"lo\", \"lo\"]
	| .trunks += [{name: \"prov\", relay_interface: \"lo6\", register: {username: \"acc55\", password: \"s3cret\",
		registrar: \"sip:[::1]:$REGPORT\", domain: \"provider.example\", contact_user: \"$DDI\",
		expires: 60, timeout: 1, retry_min: 0.5, retry_max: 2}}]"
tl_wait_for 20 "registered at [::1]" reg_state '.state == "registered" and .last_code == 200 and .attempts == 1'
sip_expect registrar 15 "the IPv6 registrar saw the REGISTER and its refresh"
reg_state '.state == "registered" and .refreshes >= 1 and .attempts == 1' ||
	tl_fail "the refresh is not counted: $(sip_ctl --json trunks)"
r=$(tr -d '\r' <"$TL_TMP/registrar.msgs" | awk '/ message received/ { r = 1; next } / message sent/ { r = 0 } r')
[ "$(grep -c '^REGISTER ' <<<"$r")" -ge 2 ] || tl_fail "fewer than two REGISTERs received"
[ "$(grep -i '^Call-ID:' <<<"$r" | sort -u | wc -l)" = 1 ] || tl_fail "the refresh is a new registration (Call-ID changed)"
grep -qE "^Via: SIP/2.0/UDP \[::1\]:$SIP_CTL_PORT" <<<"$r" ||
	tl_fail "the REGISTER did not leave by the IPv6 listener: $(grep -i '^via' <<<"$r" | head -2)"
grep -qE "^Contact: <sip:$DDI@\[::1\]:$SIP_CTL_PORT[;>]" <<<"$r" ||
	tl_fail "our Contact does not name [::1]:$SIP_CTL_PORT: $(grep -i '^contact' <<<"$r" | head -2)"
grep -q '127\.0\.0\.1' <<<"$(grep -iE '^(Via|Contact|From):' <<<"$r")" && tl_fail "IPv4 in the IPv6 REGISTER"

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
tl_spawn caller - sipp -sf "$TL_TMP/uac_call.xml" -i ::1 -p "$SIP_UAC_PORT" -m 1 -nostdin -timeout 30s \
	-s "$DDI" -set mport "$SIP_CALLER_RTP" -set mip ::1 -d 200 \
	-trace_err -error_file "$TL_TMP/caller.errors" -trace_msg -message_file "$TL_TMP/caller.msgs" \
	"[::1]:$SIP_CTL_PORT"
sip_expect caller 30 "a call from the IPv6 registrar to the DDI is routed"
sip_expect gw1 10 "gw1 took the provider's call"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "prov" and .final_code == 200 and (.source | startswith("[::1]:"))' \
	"CDR: the call came in on trunk prov from [::1]"
sip_controller_stop

jq '.trunks[1].register.registrar = "sip:::1:5060"' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad.json" 2>&1) && tl_fail "a registrar with a bare IPv6 address was accepted"
grep -Eq 'bad.json:[0-9]+: trunks\[1\]\.register\.registrar: ' <<<"$out" || tl_fail "unexpected error: $out"
tl_relayd_stop
tl_pass
