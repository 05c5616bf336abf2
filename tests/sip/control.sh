#!/bin/bash
# run-also: asan
#
# The controller's control socket through trunklinectl: status, calls,
# trunks during a call; reload (control socket and SIGHUP) while the call
# is up, which keeps it; a bad config is refused with file:line and the
# running one stays; hangup ends both legs with the given Reason; errors
# for an unknown call and an unknown command.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_waitbye.xml 127.0.0.2

calls_connected() {
	CALLS=$(sip_ctl --json calls) && [ "$(jq '[.calls[] | select(.state == "connected")] | length' <<<"$CALLS")" = 1 ]
}
tl_wait_for 10 "one connected call in 'calls'" calls_connected
call=$(jq -r '.calls[0].call_id' <<<"$CALLS")
tl_assert_json "$CALLS" '.calls[0].trunk == "pbx" and .calls[0].gateway == "gw1" and .calls[0].called == "441234567" and .calls[0].relay == "r1"' "calls"
sip_ctl calls | grep -q "^$call .*connected" || tl_fail "calls table"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.calls == 1 and .calls_total == 1 and (.relays[0].up == true)' "status during the call"
tr=$(sip_ctl --json trunks)
tl_assert_json "$tr" '(.trunks[] | select(.name == "pbx") | .active) == 1 and (.gateways | length) == 2 and .relays[0].name == "r1"' "trunks"
sip_ctl trunks | grep -q "^pbx " || tl_fail "trunks table"

# reload while the call is up: a new trunk appears, the call stays
jq '.trunks += [{name: "late", sources: ["127.0.0.9"]}]' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" &&
	mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload over the control socket"
tr=$(sip_ctl --json trunks)
tl_assert_json "$tr" '[.trunks[].name] == ["pbx", "late"]' "the reloaded config is in use"
tl_assert_json "$(sip_ctl --json calls)" '.calls | length == 1' "the call survives the reload"

# a bad config is refused with file:line: field; nothing changes
cp "$TL_TMP/controller.json" "$TL_TMP/good.json"
printf '{\n  "trunks": [\n    {"name": "x", "sources": ["999.1.1.1"]}\n  ]\n}\n' >"$TL_TMP/controller.json"
out=$(sip_ctl reload 2>&1) && tl_fail "a bad config was accepted"
grep -q "controller.json:3: trunks\[0\].sources\[0\]: '999.1.1.1' is not an address" <<<"$out" ||
	tl_fail "reload error without file:line: field: $out"
tl_assert_json "$(sip_ctl --json trunks)" '[.trunks[].name] == ["pbx", "late"]' "the running config stays after a refused reload"

# SIGHUP reloads too
mv "$TL_TMP/good.json" "$TL_TMP/controller.json"
kill -HUP "$SIP_CTL_PID"
reloads2() { [ "$(sip_ctl --json status | jq .reloads)" = 2 ]; }
tl_wait_for 5 "SIGHUP to reload" reloads2
tl_assert_json "$(sip_ctl --json status)" '.reload_errors == 1 and .calls == 1' "status after the reloads"

# errors
out=$(sip_ctl hangup nosuchcall 2>&1) && tl_fail "hangup of an unknown call succeeded"
grep -q "not_found" <<<"$out" || tl_fail "hangup unknown: $out"
out=$(sip_ctl raw '{"cmd":"offer"}' 2>&1) && tl_fail "a relay command was accepted by the controller"
grep -q "unknown_command" <<<"$out" || tl_fail "relay command on the controller: $out"

# hangup: both legs get BYE with the reason
sip_ctl hangup "$call" "operator test" >/dev/null || tl_fail "hangup $call"
sip_expect caller 20 "the caller gets BYE on hangup"
sip_expect gw1 20 "the gateway gets BYE on hangup"
grep -A12 '^BYE ' "$TL_TMP/caller.msgs" | grep -qi '^Reason: .*operator test' || tl_fail "no Reason in the caller's BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "controller" and .reason == "operator test"' "CDR after hangup"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
