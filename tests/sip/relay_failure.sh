#!/bin/bash
# run-also: asan
#
# A relay that dies under its calls (kill -9): the calls on it end
# cleanly and release what they hold. The trunk has max_calls 1, so a
# call that is never freed blocks the next one.
#  - during set-up: relayd is stopped (SIGSTOP) so that the offer stays
#    unanswered, the INVITE comes, then relayd is killed: the caller gets
#    503;
#  - while the gateway rings (180, no answer): the caller gets 503 and the
#    gateway a CANCEL;
#  - during the call: both legs get a BYE with a Reason header.
#  - during a re-INVITE from the caller (its offer unanswered): the
#    re-INVITE gets 503, both legs a BYE.
# Each time: a CDR line (hangup_by relay, reason "media relay failed
# ..."), no call left in `status`, the trunk's slot free; after relayd is
# back, the next call goes through.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
# relay_timeout 10: only the kill may end the offer, not a timeout
sip_controller_start '.trunks[0].max_calls = 1 | .relay_grace = 0 | .relay_timeout = 10'

ctl_calls() { sip_ctl --json status | jq .calls; }
one_call() { [ "$(ctl_calls)" = 1 ]; }
# nothing held: no call, the trunk's slot free
released() {
	[ "$(ctl_calls)" = 0 ] &&
		sip_ctl --json trunks | jq -e '.trunks[] | select(.name == "pbx") | .active == 0' >/dev/null
}
relay_up() { sip_ctl --json status | jq -e '.relays[0].up' >/dev/null; }
relay_is_down() { sip_ctl --json status | jq -e '.relays[0].up == false' >/dev/null; }
kill_relayd() {
	kill -KILL "$TL_RELAYD_PID"
	wait "$TL_RELAYD_PID" 2>/dev/null
	TL_RELAYD_PID=
	tl_wait_for 5 "the controller to see the relay down" relay_is_down
}
restart_relayd() {
	sip_relayd_start
	tl_wait_for 10 "the controller to reconnect" relay_up
}
# check_end N CODE WHAT: the Nth CDR line is a relay failure with CODE,
# and nothing is held any more
check_end() {
	sip_cdr_wait "$1"
	tl_assert_json "$SIP_CDR_LAST" ".hangup_by == \"relay\" and (.reason | startswith(\"media relay failed\")) and .final_code == $2" \
		"CDR: $3"
	tl_wait_for 5 "no call and a free slot after: $3" released
}

tl_log "relay killed during set-up (offer unanswered)"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
kill -STOP "$TL_RELAYD_PID"
sip_uac c1 uac_503.xml 127.0.0.2
tl_wait_for 10 "the call to wait for its offer" one_call
kill_relayd
sip_expect c1 15 "the caller gets 503 when the relay dies during set-up"
tl_kill_pid "${TL_PID[gw1]}" 1
wait "${TL_PID[gw1]}" 2>/dev/null
grep -q '^INVITE ' "$TL_TMP/gw1.msgs" 2>/dev/null && tl_fail "the gateway got an INVITE without a relay"
check_end 1 503 "set-up"
restart_relayd

tl_log "relay killed while the gateway rings"
sip_uas gw2 uas_ring.xml "$SIP_GW1_PORT"
sip_uac c2 uac_503_ring.xml 127.0.0.2
tl_wait_for 10 "the gateway to ring" grep -q '^SIP/2.0 180' "$TL_TMP/gw2.msgs"
kill_relayd
sip_expect c2 15 "the caller gets 503 when the relay dies while ringing"
sip_expect gw2 15 "the ringing gateway gets a CANCEL"
check_end 2 503 "ringing"
restart_relayd

tl_log "relay killed during the call"
sip_uas gw3 uas_answer.xml "$SIP_GW1_PORT"
sip_uac c3 uac_waitbye.xml 127.0.0.2
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
kill_relayd
sip_expect c3 15 "the caller gets a BYE when the relay dies during the call"
sip_expect gw3 15 "the gateway gets a BYE when the relay dies during the call"
for leg in c3 gw3; do
	grep -A12 '^BYE ' "$TL_TMP/$leg.msgs" | grep -qi '^Reason: Q.850;cause=41;text="media relay failed' ||
		tl_fail "$leg's BYE has no Reason: media relay failed"
done
check_end 3 200 "connected"
restart_relayd

tl_log "relay killed during the caller's re-INVITE (its offer unanswered)"
sip_uas gw4 uas_answer.xml "$SIP_GW1_PORT"
sip_uac c4 uac_reinvite_503.xml 127.0.0.2 -d 1000
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
kill -STOP "$TL_RELAYD_PID"
tl_wait_for 10 "the re-offer to go to the stopped relay" grep -q 're-offer from the caller: to relay r1' "$TL_TMP/controller.log"
kill_relayd
sip_expect c4 15 "the re-INVITE gets 503 and the caller a BYE when the relay dies"
sip_expect gw4 15 "the gateway gets a BYE when the relay dies during a re-INVITE"
[ "$(grep -c '^INVITE ' "$TL_TMP/gw4.msgs")" = 1 ] || tl_fail "the gateway got the re-INVITE without a relay"
grep -A14 '^SIP/2.0 503' "$TL_TMP/c4.msgs" | grep -q '^CSeq: 2 INVITE' || tl_fail "the 503 is not the re-INVITE's"
check_end 4 200 "re-INVITE"
restart_relayd

tl_log "after the relay is back, the next call goes through (max_calls 1)"
sip_uas gw5 uas_answer.xml "$SIP_GW1_PORT"
sip_uac c5 uac_call.xml 127.0.0.2 -d 200
sip_expect c5 30 "a call after the relay restarts"
sip_expect gw5 30 "the gateway answers the call after the restart"
sip_cdr_wait 5
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by != "relay"' "CDR: the call after the restart"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
