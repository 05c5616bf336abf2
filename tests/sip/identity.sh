#!/bin/bash
# run-also: asan
#
# Identity mapping on trunk pbx (callers from 127.0.6.2, From user
# 0201234567): one to one ("map": the gateway sees From "Sales Desk"
# <sip:4930111@...>), one shared account for everybody unmapped, and
# "unmapped": "reject" (403). Each variant is loaded with a reload.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
base=".trunks[0].sources = [\"$SIP_NET6.2\"]"

tl_log "one to one"
sip_controller_start "$base | .trunks[0].identity = {map: [
	{local: \"0201234567\", user: \"4930111\", display: \"Sales Desk\"},
	{local: \"0209999999\", user: \"4930222\"}]}"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml "$SIP_NET6.2" -d 200
sip_expect caller 30 "the call completes"
sip_expect gw1 10 "gw1 took the call"
grep -q '^From: "Sales Desk" <sip:4930111@' "$TL_TMP/gw1.msgs" ||
	tl_fail "gw1 did not see the mapped From: $(grep '^From:' "$TL_TMP/gw1.msgs" | head -1)"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200' "CDR: answered"

tl_log "one shared account"
sip_controller_config "$base | .trunks[0].identity = {map: [{local: \"1001\", user: \"4930111\"}],
	shared: {user: \"4930999\", display: \"ACME Ltd\"}}"
sip_ctl reload >/dev/null || tl_fail "reload failed"
sip_uas gw1b uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller2 uac_call.xml "$SIP_NET6.2" -d 200
sip_expect caller2 30 "the call completes"
sip_expect gw1b 10 "gw1 took the call"
grep -q '^From: "ACME Ltd" <sip:4930999@' "$TL_TMP/gw1b.msgs" ||
	tl_fail "gw1 did not see the shared account: $(grep '^From:' "$TL_TMP/gw1b.msgs" | head -1)"

tl_log "unmapped identities refused"
sip_controller_config "$base | .trunks[0].identity = {map: [{local: \"1001\", user: \"4930111\"}], unmapped: \"reject\"}"
sip_ctl reload >/dev/null || tl_fail "reload failed"
sip_uac caller3 uac_403.xml "$SIP_NET6.2"
sip_expect caller3 30 "an unmapped identity gets 403"

tl_log "bad identity config: file:line: field"
jq '.trunks[0].identity = {map: [{local: "1", user: "a"}, {local: "1", user: "b"}]}' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad.json" 2>&1) && tl_fail "a duplicate mapping was accepted"
grep -Eq 'bad.json:[0-9]+: trunks\[0\]\.identity\.map\[1\]\.local: .1. is mapped twice' <<<"$out" || tl_fail "unexpected error: $out"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
