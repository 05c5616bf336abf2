#!/bin/bash
#
# A re-INVITE from the SIP side of a browser's call (issue 14): aiortc as
# the browser (tests/lib/webrtc_browser.py) calls a SIPp gateway
# (scenarios/uas_reinvite_out.xml) that answers, echoes RTP, then puts
# the call on hold (a=sendonly) and resumes it with a new codec order.
# Each re-INVITE is answered through the relay, the browser's leg as it
# is: 200 with a=recvonly, then a=sendrecv with the call's codec (PCMU),
# the relay's address, a new o= version; the browser hears nothing of it
# and its DTLS/SRTP session carries on (media after the resume).
#
# On the parent commit each re-INVITE got 488 (SIPp fails: unexpected 488).
. "$(dirname "$0")/../lib/sip.sh"
sip_web_init
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

sip_uas gw1 uas_reinvite_out.xml "$SIP_GW1_PORT" -mp "$SIP_CALLEE_RTP" -rtp_echo
$PY "$TL_ROOT/tests/lib/webrtc_browser.py" "ws://$WEB/ws" call alice apass 441234 \
	--secs 5 --out "$TL_TMP/b.json" 2>"$TL_TMP/b.err" ||
	tl_fail "the aiortc browser failed: $(cat "$TL_TMP/b.json") $(tail -n 5 "$TL_TMP/b.err")"
B=$(cat "$TL_TMP/b.json")
tl_log "browser: $B"
sip_expect gw1 20 "the gateway's hold and resume re-INVITEs got their 200s (recvonly, then sendrecv)"
tl_assert_json "$B" '.answered == true and .dtls == "connected" and .frames > 50' "the browser's call kept its media"
tl_assert_json "$B" '[.messages[].type] == ["calling", "ringing", "answered", "ended"] or [.messages[].type] == ["calling", "answered", "ended"]' \
	"the browser saw nothing of the re-INVITEs"
# The answers: the relay's address, new o= versions, never a WebRTC attribute.
grep -c '^SIP/2.0 200' "$TL_TMP/gw1.msgs" | grep -q '^[2-9]' || tl_fail "the gateway got fewer than two 200s"
answers=$(awk '/^SIP\/2.0 200/ {p=1} p {print} /^-----/ {p=0}' "$TL_TMP/gw1.msgs")
tl_log "answers to the gateway: $(grep -E '^(CSeq|o=|m=|a=(sendrecv|sendonly|recvonly|inactive))' <<<"$answers" | tr '\n' '|')"
for bad in 'a=ice' 'a=fingerprint' 'a=candidate' 'a=setup' 'SAVPF' 'rtcp-mux'; do
	grep -q "$bad" <<<"$answers" && tl_fail "an answer to the gateway has $bad: $answers"
done
grep '^o=' <<<"$answers" | awk '{print $3}' | sort -u | wc -l | grep -q '^[3-9]' ||
	tl_fail "the answers' o= versions did not grow: $(grep '^o=' <<<"$answers")"
grep -q '^c=IN IP4 127.0.0.1' <<<"$answers" || tl_fail "the answers do not name the relay"
# An answer's formats are among the offer's (RFC 3264 6.1): the hold
# offered 0 101, the resume 8 0 101.
hold=$(awk '/^CSeq: 2 INVITE/ {p=1} p && /^m=/ {print; exit}' <<<"$answers" | tr -d '\r')
resume=$(awk '/^CSeq: 3 INVITE/ {p=1} p && /^m=/ {print; exit}' <<<"$answers" | tr -d '\r')
grep -qE '^m=audio [0-9]+ RTP/AVP 0( 101)?$' <<<"$hold" || tl_fail "the hold's answer has formats the offer lacks: $hold"
grep -qE '^m=audio [0-9]+ RTP/AVP 0( (8|101))*$' <<<"$resume" || tl_fail "the resume's answer: $resume"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "gw1"' "the CDR of the call"
sip_controller_stop
tl_pass
