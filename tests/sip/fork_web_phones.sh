#!/bin/bash
# run-also: asan
#
# A browser and a SIP phone of one account ring together (issue 15): one
# relay session whose B leg is WebRTC while they ring (the browser's
# offer) and the same B port as plain RTP in the phone's offer.
#   1. Phone .2 is busy at once (the others ring on); phone .3 answers
#      after 1 s: the browser (aiortc test peer, never answers) gets
#      "ended" 487 "completed elsewhere", the
#      phone's plain answer makes the relay's B leg plain, RTP flows both
#      ways caller <-> phone through the relay; CDR: web:alice 487, the
#      contact 200.
#   2. The browser (WebSocket client) answers at once: both phones get
#      CANCEL with Reason "Call completed elsewhere", the caller's 200 is
#      plain RTP/AVP, the caller's BYE ends the browser's call (200);
#      CDR: web:alice 200, the contacts 487. (No media check here: that
#      client does no ICE; web_incoming and web_browser cover a browser's
#      media.)
# On the parent the browser rang first and alone: case 1 fails (the
# browser never gets "completed elsewhere", the phones ring only after
# its 15 s wait).
. "$(dirname "$0")/../lib/sip.sh"
sip_web_init
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"
P=127.0.7
sip_register reg3 alice apass $P.3 "$SIP_GW3_PORT" 60
sip_register reg2 alice apass $P.2 "$SIP_GW3_PORT" 60

# 1. The phone wins.
sed 's|<send retrans="500">|<pause milliseconds="1000"/>\n  <send retrans="500">|' \
	"$SIP_SCEN/uas_answer.xml" >"$TL_TMP/uas_answer_slow.xml"
# .2 refuses at once (busy): the set rings on with the browser and .3.
sed -e 's/503 Service Unavailable/486 Busy Here/' "$SIP_SCEN/uas_503.xml" >"$TL_TMP/uas_486.xml"
sip_phone ph2 "$TL_TMP/uas_486.xml" $P.2 "$SIP_GW3_PORT"
sip_phone ph3 "$TL_TMP/uas_answer_slow.xml" $P.3 "$SIP_GW3_PORT"
tl_spawn web - $PY "$TL_ROOT/tests/lib/webrtc_browser.py" "ws://$WEB/ws" incoming alice apass \
	--wait 15 --out "$TL_TMP/web.json"
tl_wait_for 10 "the browser to log in" grep -q "logged in as alice" "$TL_TMP/controller.log"
# The caller stays on until the media check is done (sip_hangup).
sip_held uac_call.xml
SIP_SERVICE=alice sip_uac caller "$SIP_HELD" 127.0.0.2
tl_reap web 20 || tl_fail "the browser side failed: $(cat "$TL_TMP/web.json") $(cat "$TL_TMP/web.err")"
W=$(cat "$TL_TMP/web.json")
tl_log "browser: $W"
tl_assert_json "$W" '.incoming == true and .messages[-1].type == "ended" and .messages[-1].code == 487
	and .messages[-1].reason == "completed elsewhere"' 'the browser rang, then got ended 487 "completed elsewhere"'
# It rang until phone .3 answered: its "ended" came after .3 sent the 200
# (wall clocks of one host; a late reading only makes "ended" later). Not
# a duration: a browser slow to read "incoming" under load shortened it.
T200=$(sip_msg_time ph3 '^SIP/2.0 200')
tl_assert_json "$W" ".ended_wall >= $T200" "the browser rang until phone .3 answered (its 200 at $T200)"
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_log "call $SIP_CALL_ID: caller <-> 127.0.0.1:$SIP_A_PORT | 127.0.0.1:$SIP_B_PORT <-> phone .3"
inv=$(sed -n '/^INVITE /,/^---/p' "$TL_TMP/ph3.msgs")
grep -q "^m=audio $SIP_B_PORT RTP/AVP " <<<"$inv" || tl_fail "phone .3's offer is not plain RTP on the relay's B port $SIP_B_PORT: $inv"
grep -qE 'a=ice|fingerprint|SAVPF|a=candidate|rtcp-mux' <<<"$inv" && tl_fail "phone .3's offer has WebRTC attributes: $inv"
sed -n '/^SIP\/2.0 200/,/^---/p' "$TL_TMP/caller.msgs" | grep -q "^m=audio $SIP_A_PORT RTP/AVP" ||
	tl_fail "the caller's 200 is not plain RTP on the relay's A port $SIP_A_PORT"
sip_media_both "$P.3" "phone .3"
sip_hangup caller
sip_expect caller 30 "the caller's call completes on phone .3"
sip_expect ph3 30 "phone .3 answers"
sip_expect ph2 30 "phone .2 refuses (busy)"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" ".final_code == 200 and .contact == \"sip:alice@$P.3:$SIP_GW3_PORT\"
	and ([.attempts[] | [.gateway, .code]] | sort == [[\"account:alice\", 200], [\"account:alice\", 486], [\"web:alice\", 487]])
	and .attempts[0].gateway == \"web:alice\"" "CDR: the browser 487 (completed elsewhere), phone .3 200"
tl_wait_for 10 "no call left in the controller and the relay" sip_no_calls

# 2. The browser wins; both phones ring and are cancelled.
WC="$PY $TL_ROOT/tests/lib/webclient.py ws://$WEB/ws"
sip_phone ph2b uas_ring.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3b uas_ring.xml $P.3 "$SIP_GW3_PORT"
rm -f "$TL_TMP/ready"
tl_spawn web2 - $WC incoming alice apass "$TL_TMP/in2.jsonl" answer "$TL_TMP/ready"
tl_wait_for 10 "the browser to log in" test -e "$TL_TMP/ready"
SIP_SERVICE=alice sip_uac caller2 uac_call.xml 127.0.0.2 -d 1000
sip_expect caller2 30 "the caller's call completes on the browser"
sip_expect ph2b 15 "phone .2 rings and is cancelled"
sip_expect ph3b 15 "phone .3 rings and is cancelled"
for i in 2 3; do
	sip_elsewhere "ph${i}b" || tl_fail "phone .$i's CANCEL has no Reason: completed elsewhere"
done
tl_reap web2 20 || tl_fail "the browser side failed: $(cat "$TL_TMP/web2.err")"
jq -se '.[0].type == "incoming" and .[-1].type == "ended" and .[-1].code == 200' "$TL_TMP/in2.jsonl" >/dev/null ||
	tl_fail "the browser's answered call did not end normally (200) after the caller's BYE: $(cat "$TL_TMP/in2.jsonl")"
sed -n '/^SIP\/2.0 200/,/^---/p' "$TL_TMP/caller2.msgs" | grep -q '^m=audio [1-9][0-9]* RTP/AVP' ||
	tl_fail "the caller's 200 is not plain RTP/AVP"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "web:alice"
	and ([.attempts[] | [.gateway, .code]] == [["web:alice", 200], ["account:alice", 487], ["account:alice", 487]])' \
	"CDR: the browser 200, both phones 487"
tl_wait_for 10 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
