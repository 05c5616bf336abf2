#!/bin/bash
# run-also: asan
#
# Calls to a web user (issue 14), with WebSocket clients in place of
# browsers: a logged-in web user is reachable like a registered phone.
#   1. A trunk's SIP call to the account rings the browser ("incoming"
#      with an ICE-lite offer: the relay's candidate, fingerprint,
#      rtcp-mux, mid 0, BUNDLE, G.711/telephone-event only); the browser
#      answers; the SIP caller's 200 has plain RTP/AVP SDP with no WebRTC
#      attribute; the caller's BYE ends the browser's call.
#   2. The account also has a registered SIP phone, which rings along
#      with the browser (offered the relay's B port as plain RTP): the
#      browser goes away while ringing (480) and the phone answers (or
#      the phone answers first and the browser loses).
#   3. Web user to web user: browser-relay-browser, both sides get
#      ICE-lite SDP, the caller's hangup ends the callee's call.
#   4. A late offer (an INVITE without SDP, lateoffer.c) to the account:
#      the browser has no offer to answer and is skipped (480 in the CDR,
#      never rung), the registered phone offers and answers. (The
#      controller crashed here before: strlen() of the missing offer.)
# Needs the relay's WebRTC legs (hello feature "webrtc"); skipped with the
# reason otherwise.
. "$(dirname "$0")/../lib/sip.sh"
PY=/usr/bin/python3
$PY -c 'import websockets' 2>/dev/null || tl_skip "python3-websockets not installed"
sip_init
WEB=127.0.0.1:$((SIP_BASE + 8))
WC="$PY $TL_ROOT/tests/lib/webclient.py ws://$WEB/ws"
sip_relayd_start
tl_rpc_ok '{"cmd":"hello"}' "relay hello"
jq -e '.features | index("webrtc") != null' >/dev/null <<<"$TL_REPLY" ||
	tl_skip "relayd's hello features lack \"webrtc\" (the relay half of issue 14): calls to a browser need WebRTC legs on the relay"
sip_relay_webrtc_ready	# before the first call: tests/lib/sip.sh
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}, {username: \"bob\", password: \"bpass\"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

# 1. SIP -> browser.
tl_spawn web1 - $WC incoming alice apass "$TL_TMP/in1.jsonl" answer "$TL_TMP/ready1"
tl_wait_for 10 "the browser to log in" test -e "$TL_TMP/ready1"
SIP_SERVICE=alice sip_uac caller1 uac_call.xml 127.0.0.2
sip_expect caller1 30 "the SIP call to the web user completes"
tl_reap web1 30 || tl_fail "the browser side failed: $(cat "$TL_TMP/web1.err")"
jq -se '.[0].type == "incoming" and .[0].to == "alice" and .[-1].type == "ended"' "$TL_TMP/in1.jsonl" >/dev/null ||
	tl_fail "the browser did not get incoming then ended: $(cat "$TL_TMP/in1.jsonl")"
offer=$(jq -sr '.[0].sdp' "$TL_TMP/in1.jsonl")
for want in 'a=ice-lite' 'a=group:BUNDLE 0' 'a=mid:0' 'a=rtcp-mux' 'a=ice-ufrag:' 'a=fingerprint:sha-256 ' \
	'a=setup:' 'a=candidate:' 'UDP/TLS/RTP/SAVPF 0 101'; do
	grep -qF "$want" <<<"$offer" || tl_fail "the browser's offer lacks $want: $offer"
done
grep -q "$SIP_CALLER_RTP" <<<"$offer" && tl_fail "the browser's offer names the caller's media port"
answer=$(sed -n '/^SIP\/2.0 200/,/^-----/p' "$TL_TMP/caller1.msgs" | sed -n '/^v=0/,/^-*$/p' | head -30)
[ -n "$answer" ] || tl_fail "no SDP in the caller's 200"
for bad in 'a=ice' 'a=fingerprint' 'a=candidate' 'a=setup' 'a=mid' 'BUNDLE' 'SAVPF' 'rtcp-mux'; do
	grep -q "$bad" <<<"$answer" && tl_fail "the SIP caller's answer has $bad: $answer"
done
grep -q '^m=audio [0-9]* RTP/AVP 0' <<<"$answer" || tl_fail "the SIP caller's answer is not RTP/AVP PCMU: $answer"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .final_code == 200 and .gateway == "web:alice"' "CDR of the call to the browser"

# 2. The browser goes away while ringing: the registered phone gets the call.
PHONE=127.0.7.2
sip_register reg1 alice apass $PHONE $SIP_GW3_PORT 60
sip_phone phone2 uas_answer.xml $PHONE "$SIP_GW3_PORT"
tl_spawn web2 - $WC incoming alice apass "$TL_TMP/in2.jsonl" close "$TL_TMP/ready2"
tl_wait_for 10 "the browser to log in" test -e "$TL_TMP/ready2"
SIP_SERVICE=alice sip_uac caller2 uac_call.xml 127.0.0.2
sip_expect caller2 30 "the call completes on the phone"
sip_expect phone2 30 "the phone gets the call after the browser"
tl_reap web2 10 || tl_fail "the browser side failed: $(cat "$TL_TMP/web2.err")"
jq -se '.[0].type == "incoming"' "$TL_TMP/in2.jsonl" >/dev/null || tl_fail "the browser was not rung first"
grep -q "^INVITE sip:alice@$PHONE:$SIP_GW3_PORT" "$TL_TMP/phone2.msgs" || tl_fail "the phone's INVITE is not for its contact"
sdp=$(sed -n '/^INVITE /,/^-----/p' "$TL_TMP/phone2.msgs" | sed -n '/^v=0/,/^-*$/p')
grep -qE 'a=ice|fingerprint|SAVPF|a=candidate' <<<"$sdp" && tl_fail "the phone's offer has WebRTC attributes: $sdp"
sip_cdr_wait 2
# They ring together (fork.c): the browser either went away first (480)
# or lost to the phone's answer (487, completed elsewhere).
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "account:alice" and (.attempts | length == 2)
	and .attempts[0].gateway == "web:alice" and (.attempts[0].code == 480 or .attempts[0].code == 487)' \
	"CDR: the browser, and the phone that answered"
sip_ctl --json status | jq -e '.calls == 0' >/dev/null || tl_wait_for 10 "no call left" sip_no_calls

# 3. Web user to web user.
$WC web2web bob bpass alice apass "$TL_TMP/w2w.jsonl" || tl_fail "web to web failed: $(cat "$TL_TMP/w2w.jsonl")"
jq -se 'map(select(.side == "caller" and .type == "answered")) | length == 1' "$TL_TMP/w2w.jsonl" >/dev/null ||
	tl_fail "the calling browser was not answered: $(cat "$TL_TMP/w2w.jsonl")"
jq -se 'map(select(.side == "callee" and .type == "ended")) | length == 1' "$TL_TMP/w2w.jsonl" >/dev/null ||
	tl_fail "the called browser did not see the end"
for side in caller callee; do
	sdp=$(jq -sr "map(select(.side == \"$side\" and (.type == \"answered\" or .type == \"incoming\")))[0].sdp" "$TL_TMP/w2w.jsonl")
	grep -q 'a=ice-lite' <<<"$sdp" && grep -q 'a=candidate:' <<<"$sdp" || tl_fail "$side's SDP is not ICE-lite from the relay: $sdp"
	grep -qE 'AYc8|BRWs' <<<"$sdp" && tl_fail "$side's SDP carries the other browser's ICE credentials"
done
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.trunk == "bob" and .final_code == 200 and .gateway == "web:alice"' "CDR of the web to web call"

# 4. A late offer: the browser is skipped, the phone offers.
sip_register reg4 alice apass $PHONE $SIP_GW3_PORT 60
sip_phone phone4 uas_lateoffer.xml $PHONE "$SIP_GW3_PORT"
tl_spawn web4 - $WC incoming alice apass "$TL_TMP/in4.jsonl" answer "$TL_TMP/ready4"
tl_wait_for 10 "the browser to log in" test -e "$TL_TMP/ready4"
SIP_SERVICE=alice sip_uac caller4 uac_lateoffer.xml 127.0.0.2 -d 500
sip_expect caller4 30 "the late-offer call completes on the phone"
sip_expect phone4 30 "the phone gets the INVITE without SDP and offers"
sip_cdr_wait 4
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "account:alice" and (.attempts | length == 2)
	and .attempts[0].gateway == "web:alice" and .attempts[0].code == 480' "CDR: the browser skipped, then the phone"
kill -0 "${TL_PID[web4]}" || tl_fail "the browser's client ended: was it rung? $(cat "$TL_TMP/web4.err")"
tl_kill_pid "${TL_PID[web4]}"
sip_controller_stop
tl_pass
