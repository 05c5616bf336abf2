#!/bin/bash
# run-also: asan
#
# A web user's call to the SIP world (issue 14), with a WebSocket client
# in place of a browser (Chromium 156's offer): web user -> LCR -> a SIPp
# gateway, through the normal pipeline (CDR with the account's trunk).
#   - The SIP side never sees WebRTC: the gateway's INVITE has RTP/AVP,
#     c= the relay, G.711/telephone-event only, and no a=ice-*,
#     a=fingerprint, a=setup, a=candidate, a=mid/BUNDLE, rtcp-mux.
#   - The browser gets an ICE-lite answer: a=ice-lite, the relay's
#     candidate only, a fingerprint, rtcp-mux, a=mid:0 and BUNDLE, and
#     nothing of the gateway (its media port).
#   - Its hangup sends BYE to the gateway; a closed WebSocket ends its call.
# The answer needs the relay's WebRTC legs (relayd's hello feature
# "webrtc", the other half of issue 14). Without it the relay refuses the
# offer: the test then checks that the web user gets a clear "ended" 503,
# the gateway gets nothing, a CDR is written, and skips the rest, saying so.
. "$(dirname "$0")/../lib/sip.sh"
PY=/usr/bin/python3
$PY -c 'import websockets' 2>/dev/null || tl_skip "python3-websockets not installed"
sip_init
WEB=127.0.0.1:$((SIP_BASE + 8))
WC="$PY $TL_ROOT/tests/lib/webclient.py ws://$WEB/ws"
sip_relayd_start
tl_rpc_ok '{"cmd":"hello"}' "relay hello"
webrtc=$(jq -r '.features | index("webrtc") != null' <<<"$TL_REPLY")
[ "$webrtc" = true ] && sip_relay_webrtc_ready	# before the controller: tests/lib/sip.sh
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
$WC call alice apass 441234 "$TL_TMP/call1.jsonl" 1 || tl_fail "the web call has no outcome"
tl_log "web client got: $(tr '\n' ' ' <"$TL_TMP/call1.jsonl" | cut -c1-600)"
head -n1 "$TL_TMP/call1.jsonl" | jq -e '.type == "calling" and .call == "c1" and .seq == 10' >/dev/null ||
	tl_fail "the call's first reply is not calling"

if [ "$webrtc" != true ]; then
	jq -se 'map(select(.type == "ended")) | length == 1 and .[0].code == 503 and (.[0].reason | test("relay"))' \
		"$TL_TMP/call1.jsonl" >/dev/null || tl_fail "without a WebRTC relay the call does not end with a clear 503"
	sip_cdr_wait 1
	tl_assert_json "$SIP_CDR_LAST" '.trunk == "alice" and .final_code == 503 and (.call_id | startswith("web-"))' \
		"the CDR of the refused web call"
	grep -q "INVITE" "$TL_TMP/gw1.msgs" 2>/dev/null && tl_fail "the gateway got an INVITE although the relay refused the offer"
	tl_skip "relayd's hello features lack \"webrtc\" (the relay half of issue 14): checked the refusal path (503 to the web user, CDR, nothing to the gateway); the INVITE/answer checks need it"
fi

# The relay speaks WebRTC: the call was answered and hung up.
jq -se 'map(select(.type == "answered")) | length == 1' "$TL_TMP/call1.jsonl" >/dev/null ||
	tl_fail "the web call was not answered"
answer=$(jq -sr 'map(select(.type == "answered"))[0].sdp' "$TL_TMP/call1.jsonl")
for want in 'a=ice-lite' 'a=group:BUNDLE 0' 'a=mid:0' 'a=rtcp-mux' 'a=ice-ufrag:' 'a=ice-pwd:' \
	'a=fingerprint:sha-256 ' 'a=setup:' 'a=candidate:' 'UDP/TLS/RTP/SAVPF'; do
	grep -qF "$want" <<<"$answer" || tl_fail "the browser's answer lacks $want: $answer"
done
jq -se '.[-1].type == "ended" and .[-1].code == 200 and .[-1].reason == "hangup"' "$TL_TMP/call1.jsonl" >/dev/null ||
	tl_fail "the hangup was not confirmed with ended 200"
jq -se 'map(select(.type == "dtmf" and .digits == "1#")) | length == 1' "$TL_TMP/call1.jsonl" >/dev/null ||
	tl_fail "dtmf was not echoed: $(cat "$TL_TMP/call1.jsonl" | cut -c1-200)"
grep -q "$SIP_CALLEE_RTP" <<<"$answer" && tl_fail "the browser's answer names the gateway's media port"
grep -qE 'transport-cc|extmap|AYc8' <<<"$answer" && tl_fail "the browser's answer has attributes we do not implement or the browser's own"
tl_wait_for 10 "the gateway's BYE" grep -q "^BYE " "$TL_TMP/gw1.msgs"
sip_expect gw1 20 "the gateway's call completes (INVITE, ACK, BYE)"
sdp=$(sed -n '/^INVITE /,/^-----/p' "$TL_TMP/gw1.msgs" | sed -n '/^v=0/,/^-*$/p')
[ -n "$sdp" ] || tl_fail "no SDP in the gateway's INVITE"
for bad in 'a=ice' 'a=fingerprint' 'a=candidate' 'a=setup' 'a=mid' 'BUNDLE' 'SAVPF' 'rtcp-mux' 'opus' 'extmap' 'msid'; do
	grep -q "$bad" <<<"$sdp" && tl_fail "the gateway's INVITE SDP has $bad: $sdp"
done
grep -q '^m=audio [0-9]* RTP/AVP 0 8 126' <<<"$sdp" || tl_fail "the gateway's offer is not G.711 + telephone-event: $sdp"
grep -q '^c=IN IP4 127.0.0.1' <<<"$sdp" || tl_fail "the gateway's offer does not name the relay: $sdp"
grep -q "41808" <<<"$sdp" && tl_fail "the gateway's offer names the browser's port"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "alice" and .final_code == 200 and .gateway == "gw1"' "CDR of the web call"

# A WebSocket that closes during the call ends it (BYE to the gateway).
sip_uas gw1b uas_answer.xml "$SIP_GW1_PORT"
$WC drop alice apass 441234 "$TL_TMP/call2.jsonl" || tl_fail "the second web call failed"
tl_wait_for 10 "the CANCEL or BYE after the WebSocket closed" grep -qE "^(BYE|CANCEL) " "$TL_TMP/gw1b.msgs"
sip_cdr_wait 2
tl_wait_for 10 "no call left" sip_no_calls
sip_controller_stop
tl_pass
