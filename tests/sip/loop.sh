#!/bin/bash
# run-also: asan
#
# Routing loops (issue 12). A route whose gateway is the controller
# itself (and a trunk that admits the controller's own address, the
# misconfiguration that makes it a loop): the INVITE that comes back
# carries our own Via and is refused with 482, the caller hears 482, and
# exactly one B-leg INVITE was sent (before, every B-leg restarted at
# Max-Forwards 70 and each hop made a new billable call). Max-Forwards
# is copied minus one onto the B-leg (70 in, 69 at the gateway), and an
# INVITE arriving with Max-Forwards 0 gets 483 and reaches no gateway.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start ".trunks[0].sources += [\"127.0.0.1\"]
	| .gateways += [{name: \"self\", host: \"127.0.0.1\", port: $SIP_CTL_PORT}]
	| .carriers += [{name: \"cself\", gateways: [{gateway: \"self\", priority: 1}]}]
	| .routes = [{name: \"loop\", ruri: \"^sip:99\", carriers: [\"cself\"]}] + .routes"

calls_total() {
	sip_ctl --json status | jq .calls_total
}

# 1. The loop: 482 for the caller, one B-leg INVITE, one call.
sed -e 's/response="403"/response="482"/' "$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_482.xml"
sip_uac_from loop "$TL_TMP/uac_482.xml" 127.0.0.2 991234
sip_expect loop 20 "a call routed back to the controller gets 482"
tl_wait_for 10 "the looped call to end" sip_no_calls
n=$(grep -c "attempt 1: self -> " "$TL_TMP/controller.log")
[ "$n" = 1 ] || tl_fail "expected 1 B-leg INVITE to ourselves, saw $n"
grep -q "INVITE .* from 127.0.0.1:$SIP_CTL_PORT: our own Via 127.0.0.1:$SIP_CTL_PORT in the request: 482" "$TL_TMP/controller.log" ||
	tl_fail "the loop is not logged with its reason"
[ "$(calls_total)" = 1 ] || tl_fail "the loop made $(calls_total) calls, expected 1"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 482 and .attempts == [{"gateway":"self","carrier":"cself","code":482}]' \
	"CDR of the looped call"
tl_assert_json "$(sip_ctl --json status)" '.trust.loops_refused == 1' "status counts the loop"
tl_wait_for 5 "the loop's refusal record" test -s "$TL_TMP/refused.jsonl"
tl_assert_json "$(tail -n 1 "$TL_TMP/refused.jsonl")" '.final_code == 482 and .reason == "loop: our own Via"' \
	"the INVITE that came back has a refusal record with the reason"

# 2. Max-Forwards 70 from the caller: the gateway sees 69.
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml 127.0.0.2
sip_expect caller 30 "the normal call completes"
sip_expect gw1 30 "gw1 gets the call"
grep -q "^Max-Forwards: 69" "$TL_TMP/gw1.msgs" || tl_fail "gw1's INVITE does not carry Max-Forwards 69: $(grep -i '^Max-Forwards' "$TL_TMP/gw1.msgs" | head -n 1)"

# 3. Max-Forwards 0: 483, and nothing reaches the gateway.
tl_spawn gwsink - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW1_PORT"
tl_wait_for 20 "the gateway sink" sip_listening "$SIP_GW1_PORT"
sed -e 's/response="403"/response="483"/' -e '0,/Max-Forwards: 70/s//Max-Forwards: 0/' \
	"$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_483.xml"
grep -q "Max-Forwards: 0" "$TL_TMP/uac_483.xml" || tl_fail "cannot build the Max-Forwards 0 INVITE"
sip_uac_from mf0 "$TL_TMP/uac_483.xml" 127.0.0.2 441234567
sip_expect mf0 20 "an INVITE with Max-Forwards 0 gets 483"
grep -q "Max-Forwards is 0: 483" "$TL_TMP/controller.log" || tl_fail "the 483 is not logged with its reason"
tl_assert_json "$(sip_ctl --json status)" '.trust.loops_refused == 2' "status counts the Max-Forwards 0 INVITE"
tl_wait_for 5 "the 483's refusal record" bash -c "[ \"\$(wc -l <'$TL_TMP/refused.jsonl')\" -ge 2 ]"
tl_assert_json "$(tail -n 1 "$TL_TMP/refused.jsonl")" '.final_code == 483 and .reason == "loop: Max-Forwards 0"' \
	"the Max-Forwards 0 INVITE has a refusal record with the reason"
[ ! -s "$TL_TMP/gwsink.out" ] || tl_fail "the gateway received: $(head -n 3 "$TL_TMP/gwsink.out")"
[ "$(calls_total)" = 2 ] || tl_fail "the Max-Forwards 0 INVITE made a call"
sip_controller_stop
tl_relayd_stop
tl_pass
