#!/bin/bash
# run-also: asan
#
# The SBC's public address (issue 15): behind 1:1 NAT the listener's own
# address is private, and what we write about ourselves must be the
# public one. With sip.advertise "192.0.2.10" (listening on 127.0.0.1),
# the INVITE the gateway receives names 192.0.2.10:<port> in its Via
# sent-by, Contact and From, and the listen address nowhere in them; the
# caller's 200 carries the same Contact. The SDP names the relay's
# advertised address (relayd's interfaces[].advertise, here 192.0.2.20),
# never the caller's. The call completes (the far ends answer to the
# source of our packets, as behind a real 1:1 NAT).
. "$(dirname "$0")/../lib/sip.sh"
sip_init
PUB=192.0.2.10
sip_relayd_start '.interfaces[0].advertise = "192.0.2.20"'
sip_controller_start ".sip.advertise = \"$PUB\""
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml 127.0.0.2 -d 500
sip_expect caller 30 "the caller's call"
sip_expect gw1 30 "the gateway's call"
inv=$(awk '/^INVITE sip:/{p=1} p&&/^$/{exit} p' "$TL_TMP/gw1.msgs")
[ -n "$inv" ] || tl_fail "no INVITE in gw1's trace"
grep -q "^Via: SIP/2.0/UDP $PUB:$SIP_CTL_PORT" <<<"$inv" || tl_fail "Via does not name $PUB:$SIP_CTL_PORT: $(grep -i '^via' <<<"$inv")"
grep -qi "^Contact: <sip:[^@]*@$PUB:$SIP_CTL_PORT[;>]" <<<"$inv" || grep -qi "^Contact: <sip:$PUB:$SIP_CTL_PORT[;>]" <<<"$inv" ||
	tl_fail "Contact does not name $PUB:$SIP_CTL_PORT: $(grep -i '^contact' <<<"$inv")"
grep -qi "^From: .*@$PUB[:>;]" <<<"$inv" || tl_fail "From does not name $PUB: $(grep -i '^from' <<<"$inv")"
grep -Ei "^(Via|Contact|From|Record-Route):" <<<"$inv" | grep -q "127\.0\.0\.1" &&
	tl_fail "the listen address leaks into the INVITE: $(grep -Ei '^(via|contact|from)' <<<"$inv")"
grep -q "^c=IN IP4 192.0.2.20" "$TL_TMP/gw1.msgs" || tl_fail "the SDP does not name the relay's advertised address"
ok=$(awk '/^SIP\/2.0 200/{p=1} p&&/^$/{exit} p' "$TL_TMP/caller.msgs")
grep -qi "^Contact: <sip:[^>]*$PUB:$SIP_CTL_PORT[;>]" <<<"$ok" || tl_fail "the caller's 200 Contact does not name $PUB: $(grep -i '^contact' <<<"$ok")"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "gw1"' "CDR: the call connected"
# Bad values are configuration errors with the field.
jq '.sip.advertise = "192.0.2.10:99999"' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
"$TL_CONTROLLER" -n -f "$TL_TMP/bad.json" >"$TL_TMP/bad.out" 2>&1 && tl_fail "a bad advertise port was accepted"
grep -q "sip.advertise: '192.0.2.10:99999': port must be 1..65535" "$TL_TMP/bad.out" || tl_fail "no clear error: $(cat "$TL_TMP/bad.out")"
sip_controller_stop
tl_relayd_stop
tl_pass
