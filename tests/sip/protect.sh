#!/bin/bash
# run-also: asan
#
# Edge protection (rate 10/s, burst 10, ban 120 s, max_body 1024):
#  - an OPTIONS with User-Agent friendly-scanner (or sipvicious) gets no
#    answer; the same from the same address with another agent gets 200;
#  - a flood of OPTIONS from 127.0.6.20 (300 at 300/s) is answered only
#    up to its burst, then the source is banned (status.protection) and
#    gets nothing, while a call from the trunk at 127.0.6.2, placed during
#    the flood, completes, and another source (127.0.6.21) is served;
#  - a body over max_body gets 413; a message over max_message gets no 200.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start ".trunks[0].sources = [\"$SIP_NET6.2\"] |
	.protection = {rate: 10, burst: 10, ban: 120, max_body: 1024, max_message: 4096}"
opts() {
	sip_udp options "$1" 127.0.0.1 "$SIP_CTL_PORT" "${@:2}"
}

tl_log "scanners get no answer"
r=$(opts "$SIP_NET6.30" --ua "friendly-scanner") || tl_fail "sipudp failed"
tl_assert_json "$r" '.answered == 0' "friendly-scanner: no answer ($r)"
r=$(opts "$SIP_NET6.30" --ua "SIPVicious 0.3.4" --wait 0.5)
tl_assert_json "$r" '.answered == 0' "sipvicious: no answer ($r)"
# (an answer expected: wait up to 10 s for it, a loaded host may be slow)
r=$(opts "$SIP_NET6.30" --ua "Polycom VVX" --wait 10 --expect 1)
tl_assert_json "$r" '.codes["200"] == 1' "another agent from the same address: 200 ($r)"

tl_log "a flood from $SIP_NET6.20 during a call from $SIP_NET6.2"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
tl_spawn flood - python3 "$TL_ROOT/tests/lib/sipudp.py" options "$SIP_NET6.20" 127.0.0.1 "$SIP_CTL_PORT" \
	--count 300 --rate 300 --wait 1
tl_wait_for 5 "the ban" grep -q "source $SIP_NET6.20: more than 10 requests/s: banned for 120s" "$TL_TMP/controller.log"
sip_uac caller uac_call.xml "$SIP_NET6.2" -d 300
sip_expect caller 30 "the trunk's call completes during the flood"
sip_expect gw1 10 "gw1 took the call"
tl_reap flood 20 || tl_fail "the flood sender failed"
r=$(cat "$TL_TMP/flood.out")
tl_log "flood: $r"
tl_assert_json "$r" '.answered >= 5 and .answered <= 14' "the flood is answered only up to its burst"
r=$(opts "$SIP_NET6.21" --wait 10 --expect 1)
tl_assert_json "$r" '.codes["200"] == 1' "another source is served ($r)"
r=$(opts "$SIP_NET6.20" --wait 1)
tl_assert_json "$r" '.answered == 0' "the banned source gets nothing ($r)"
s=$(sip_ctl --json status) || tl_fail "status failed"
tl_assert_json "$s" ".protection.bans == 1 and .protection.dropped_scanners == 2 and
	.protection.dropped_flood >= 286 and
	(.protection.banned | length == 1 and .[0].source == \"$SIP_NET6.20\" and .[0].remaining > 60)" \
	"status.protection: one ban, the scanners and the flood counted"
sip_ctl status | grep -q "^protection .*\"source\":\"$SIP_NET6.20\"" ||
	tl_fail "trunklinectl status does not show the ban: $(sip_ctl status)"

tl_log "size limits"
r=$(opts "$SIP_NET6.22" --body 2000 --wait 10 --expect 1)
tl_assert_json "$r" '.codes["413"] == 1' "a 2000-byte body over max_body 1024: 413 ($r)"
r=$(opts "$SIP_NET6.22" --pad 5000 --wait 1)
tl_assert_json "$r" '(.codes["200"] // 0) == 0' "a message over max_message 4096 is not served ($r)"
r=$(opts "$SIP_NET6.22" --wait 10 --expect 1)
tl_assert_json "$r" '.codes["200"] == 1' "a normal OPTIONS still gets 200 ($r)"

tl_log "bad protection config: file:line: field"
jq '.protection.drop_user_agents = ["ok", ""]' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad.json" 2>&1) && tl_fail "an empty user agent was accepted"
grep -Eq 'bad.json:[0-9]+: protection\.drop_user_agents\[1\]: ' <<<"$out" || tl_fail "unexpected error: $out"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
