#!/bin/bash
# run-also: asan
#
# relay_grace: a relay that comes back in time keeps its calls.
#  - kill -9 relayd during a call and start it again at once (it restores
#    the session from its journal, as under systemd's Restart=): the call
#    outlives the grace period, the relay still holds its session, and
#    the caller's BYE ends it normally (CDR: hangup by the caller);
#  - kill -9 relayd during a call and leave it dead: the call ends when
#    the grace period is over, not before (BYE with a Reason to both legs,
#    CDR: hangup by the relay).
# Fails where any relay disconnect ends every call on it at once.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
GRACE=3
sip_controller_start ".relay_grace = $GRACE"

ctl_calls() { sip_ctl --json status | jq .calls; }
relay_up() { sip_ctl --json status | jq -e '.relays[0].up' >/dev/null; }
relay_is_down() { sip_ctl --json status | jq -e '.relays[0].up == false' >/dev/null; }
kill_relayd() {
	kill -KILL "$TL_RELAYD_PID"
	wait "$TL_RELAYD_PID" 2>/dev/null
	TL_RELAYD_PID=
	KILLED_AT=$(tl_now_us)
	tl_wait_for 5 "the controller to see the relay down" relay_is_down
}
# past SECS: true once SECS seconds have gone by since the kill
past() { [ $(($(tl_now_us) - KILLED_AT)) -ge $(($1 * 1000000)) ]; }

tl_log "relay killed and restarted during a call: the call goes on"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
# the caller hangs up by itself 12 s after the answer
sip_uac c1 uac_call.xml 127.0.0.2 -d 12000
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
KEY=$SIP_CALL_ID
kill_relayd
sip_relayd_start
grep -q "journal: restored 1 session" "$TL_TMP/relayd.log" ||
	tl_fail "the restarted relayd did not restore the call: $(grep journal "$TL_TMP/relayd.log")"
tl_wait_for 10 "the controller to reconnect" relay_up
# the grace period is over: the call must still be up on both sides
tl_wait_for $((GRACE + 5)) "the grace period to pass" past $((GRACE + 1))
[ "$(ctl_calls)" = 1 ] || tl_fail "the call ended although the relay came back within relay_grace"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$KEY\"}" "query the restored session"
tl_assert_json "$TL_REPLY" '.state == "answered"' "the relay still holds the call's session"
grep -q '^BYE ' "$TL_TMP/gw1.msgs" 2>/dev/null && tl_fail "the gateway got a BYE before the caller hung up"
sip_expect c1 30 "the caller hangs up normally after the relay's restart"
sip_expect gw1 15 "the gateway gets the caller's BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller"' \
	"CDR: the caller ended the call, not the relay"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "relay killed and not restarted: the call ends after relay_grace"
sip_uas gw2 uas_answer.xml "$SIP_GW1_PORT"
sip_uac c2 uac_waitbye.xml 127.0.0.2
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
kill_relayd
sip_expect c2 $((GRACE + 15)) "the caller gets a BYE once relay_grace is over"
past "$GRACE" || tl_fail "the call ended before relay_grace ($GRACE s) was over"
sip_expect gw2 15 "the gateway gets a BYE"
for leg in c2 gw2; do
	grep -A12 '^BYE ' "$TL_TMP/$leg.msgs" | grep -qi '^Reason: Q.850;cause=41;text="media relay failed' ||
		tl_fail "$leg's BYE has no Reason: media relay failed"
done
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "relay" and (.reason | startswith("media relay failed"))' \
	"CDR: the relay's failure ended the call"
sip_controller_stop
tl_pass
