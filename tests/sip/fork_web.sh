#!/bin/bash
# run-also: asan
#
# Parallel forking with a logged-in browser (issues 14 and 15): a call to
# the account rings the browser and the two registered phones (127.0.7.2,
# .3) together; the browser goes away while ringing (480) and the phones
# ring on (their offer is plain RTP on the relay's B port); .3 answers,
# .2 is cancelled.
# Needs the relay's WebRTC legs; skipped otherwise.
. "$(dirname "$0")/../lib/sip.sh"
PY=/usr/bin/python3
$PY -c 'import websockets' 2>/dev/null || tl_skip "python3-websockets not installed"
sip_init
WEB=127.0.0.1:$((SIP_BASE + 8))
WC="$PY $TL_ROOT/tests/lib/webclient.py ws://$WEB/ws"
sip_relayd_start
tl_rpc_ok '{"cmd":"hello"}' "relay hello"
jq -e '.features | index("webrtc") != null' >/dev/null <<<"$TL_REPLY" ||
	tl_skip "relayd's hello features lack \"webrtc\": calls to a browser need WebRTC legs on the relay"
sip_relay_webrtc_ready	# before the first call: tests/lib/sip.sh
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

P=127.0.7
for i in 2 3; do
	sip_register "reg$i" alice apass "$P.$i" "$SIP_GW3_PORT" 60
done
sed 's|<send retrans="500">|<pause milliseconds="300"/>\n  <send retrans="500">|' \
	"$SIP_SCEN/uas_answer.xml" >"$TL_TMP/uas_answer_slow.xml"
sip_phone ph2 uas_ring.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3 "$TL_TMP/uas_answer_slow.xml" $P.3 "$SIP_GW3_PORT"
tl_spawn web - $WC incoming alice apass "$TL_TMP/in.jsonl" close "$TL_TMP/ready"
tl_wait_for 10 "the browser to log in" test -e "$TL_TMP/ready"
SIP_SERVICE=alice sip_uac caller uac_call.xml 127.0.0.2
sip_expect caller 30 "the call completes on phone .3 after the browser"
sip_expect ph2 15 "phone .2 rings and is cancelled"
sip_expect ph3 15 "phone .3 answers"
tl_reap web 10 || tl_fail "the browser side failed: $(cat "$TL_TMP/web.err")"
jq -se '.[0].type == "incoming"' "$TL_TMP/in.jsonl" >/dev/null || tl_fail "the browser was not rung first"
for i in 2 3; do
	sdp=$(sed -n '/^INVITE /,/^-----/p' "$TL_TMP/ph$i.msgs" | sed -n '/^v=0/,/^-*$/p')
	grep -q '^m=audio [0-9]* RTP/AVP' <<<"$sdp" || tl_fail "phone .$i's offer is not plain RTP: $sdp"
	grep -qE 'a=ice|fingerprint|SAVPF|a=candidate' <<<"$sdp" && tl_fail "phone .$i's offer has WebRTC attributes: $sdp"
done
sip_elsewhere ph2 || tl_fail "phone .2's CANCEL has no Reason: completed elsewhere"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" ".final_code == 200 and .forks == 2 and .contact == \"sip:alice@$P.3:$SIP_GW3_PORT\"
	and .attempts[0].gateway == \"web:alice\" and .attempts[0].code == 480 and (.attempts | length == 3)" \
	"CDR: the browser (480), then two phones in parallel, .3 answered"
tl_wait_for 10 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
