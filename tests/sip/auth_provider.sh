#!/bin/bash
# run-also: asan
#
# Trunks registered at providers (issue 12). "host" registers at a
# registrar given by hostname (provider.invalid: it never resolves, which
# does not matter here); "num" at a SIPp registrar on 127.0.0.1. An
# attacker at 127.0.0.6 sending INVITE sip:<contact user>@controller is
# not taken as either provider (403, nothing reaches the gateway), not
# even with a guessed tlr= secret. An INVITE to the Contact as we
# registered it (with its secret), from another host of the provider
# (127.0.0.8), comes in on the trunk.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
DDI1=3120999888
DDI2=3120999777
REGPORT=$SIP_GW3_PORT
# A registrar that accepts one REGISTER for an hour.
awk '/<recv request="REGISTER" timeout/ {exit} {print}' "$SIP_SCEN/reg_200.xml" |
	sed 's/expires=4/expires=3600/' >"$TL_TMP/reg_once.xml"
echo '</scenario>' >>"$TL_TMP/reg_once.xml"
tl_spawn registrar - sipp -sf "$TL_TMP/reg_once.xml" -i 127.0.0.1 -p "$REGPORT" -m 1 -nostdin -timeout 60s \
	-trace_err -error_file "$TL_TMP/registrar.errors" -trace_msg -message_file "$TL_TMP/registrar.msgs"
tl_wait_for 20 "the registrar on 127.0.0.1:$REGPORT" sip_listening "$REGPORT"
sip_controller_start ".trunks += [
	{name: \"host\", register: {username: \"acc55\", password: \"s3cret\",
		registrar: \"sip:provider.invalid:$REGPORT\", contact_user: \"$DDI1\", expires: 3600}},
	{name: \"num\", register: {username: \"acc66\", password: \"s3cret\",
		registrar: \"sip:127.0.0.1:$REGPORT\", contact_user: \"$DDI2\", expires: 3600}}]
	| .routes = [{name: \"all\", carriers: [\"c1\"]}]"
digest() {
	python3 "$TL_ROOT/tests/lib/sipdigest.py" "$1" "$2" 127.0.0.1 "$SIP_CTL_PORT" "${@:3}"
}
reg_state() {
	sip_trunks ".trunks[] | select(.name == \"$1\") | .registration | $2"
}
tl_wait_for 15 "trunk num registered" reg_state num '.state == "registered"'
sip_expect registrar 10 "the registrar saw our REGISTER"
contact=$(grep -m1 '^Contact: ' "$TL_TMP/registrar.msgs" | tr -d '\r')
tl_log "our $contact"
secret=$(sed -n 's/.*;tlr=\([0-9a-f]*\).*/\1/p' <<<"$contact")
[ ${#secret} = 32 ] || tl_fail "our Contact carries no 128-bit secret parameter: $contact"

tl_spawn sink1 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW1_PORT"
tl_spawn sink2 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW2_PORT"
tl_wait_for 20 "the gateway sinks" bash -c "ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q . && ss -ulnH 'sport = :$SIP_GW2_PORT' | grep -q ."

tl_log "an attacker calls the contact users"
r=$(digest send 127.0.0.6 --ruri "sip:$DDI1@127.0.0.1:$SIP_CTL_PORT" --wait 2)
tl_assert_json "$r" '.final == 403' "INVITE to the contact user of a registrar given by hostname, from a non-provider: 403 ($r)"
r=$(digest send 127.0.0.6 --ruri "sip:$DDI1@127.0.0.1:$SIP_CTL_PORT;tlr=00000000000000000000000000000000" --wait 2)
tl_assert_json "$r" '.final == 403' "... with a guessed secret: 403 ($r)"
r=$(digest send 127.0.0.6 --ruri "sip:$DDI1@127.0.0.1:$SIP_CTL_PORT;tlr=$secret" --wait 2)
tl_assert_json "$r" '.final == 403' "... with the other registration's secret: 403 ($r)"
r=$(digest send 127.0.0.6 --ruri "sip:$DDI2@127.0.0.1:$SIP_CTL_PORT" --wait 2)
tl_assert_json "$r" '.final == 403' "INVITE to the contact user of a numeric registrar from another address: 403 ($r)"
for s in sink1 sink2; do
	[ -s "$TL_TMP/$s.out" ] && tl_fail "gateway $s received: $(head -3 "$TL_TMP/$s.out")"
done
st=$(sip_ctl --json status) || tl_fail "status"
tl_assert_json "$st" '.calls_total == 0 and .rejected_unknown == 4' "no call, four refusals"
[ "$(grep -c "INVITE .* from 127.0.0.6:[0-9]*: no trunk: 403" "$TL_TMP/controller.log")" = 4 ] ||
	tl_fail "the four refusals are not logged with their reason"
tl_wait_for 5 "four refusal records" bash -c "[ \"\$(wc -l <'$TL_TMP/refused.jsonl')\" -ge 4 ]"
jq -s -e 'map(select(.final_code == 403 and .reason == "no trunk" and (.source | startswith("127.0.0.6:")))) | length == 4' \
	"$TL_TMP/refused.jsonl" >/dev/null || tl_fail "no refusal record per attempt: $(cat "$TL_TMP/refused.jsonl")"

tl_log "the provider calls the registered Contact from another of its hosts"
r=$(digest send 127.0.0.8 --ruri "sip:$DDI2@127.0.0.1:$SIP_CTL_PORT;tlr=$secret" --wait 6)
tl_assert_json "$r" '.codes[0] == 100' "the INVITE to our Contact with its secret is taken ($r)"
grep -q '^INVITE ' "$TL_TMP/sink1.out" || tl_fail "the provider's call did not reach the gateway"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "num"' "the call came in on trunk num"
tl_wait_for 10 "the call to end" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
