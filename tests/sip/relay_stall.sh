#!/bin/bash
# run-also: asan
#
# A relay that stalls mid-call (SIGSTOP): after relay_timeout it is taken
# down and the call on it ends (BYE with a Reason to both legs, CDR
# hangup_by relay, slot released) although the relay process still holds
# the session. When it answers again (SIGCONT) the controller reconnects
# and reconciles: the relay's `list` shows a session of ours whose call
# is over, and it is deleted.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.trunks[0].max_calls = 1 | .relay_grace = 0 | .relay_timeout = 1'

relay_sessions() { timeout 5 "$TL_CTL" -s "$TL_SOCK" --json stats | jq .sessions; }
released() {
	[ "$(sip_ctl --json status | jq .calls)" = 0 ] &&
		sip_ctl --json trunks | jq -e '.trunks[] | select(.name == "pbx") | .active == 0' >/dev/null
}

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac c1 uac_waitbye.xml 127.0.0.2
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
kill -STOP "$TL_RELAYD_PID"
sip_expect c1 15 "the caller gets a BYE when the relay stalls"
sip_expect gw1 15 "the gateway gets a BYE when the relay stalls"
for leg in c1 gw1; do
	grep -A12 '^BYE ' "$TL_TMP/$leg.msgs" | grep -qi '^Reason: Q.850;cause=41;text="media relay failed (no reply within relay_timeout)' ||
		tl_fail "$leg's BYE has no Reason: media relay failed"
done
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "relay" and .final_code == 200 and (.reason | startswith("media relay failed"))' "CDR: the stalled relay"
tl_wait_for 5 "no call and a free slot" released
kill -CONT "$TL_RELAYD_PID"
[ "$(relay_sessions)" = 1 ] || tl_log "the relay holds $(relay_sessions) sessions after SIGCONT"
tl_wait_for 10 "the reconnected controller to delete the ended call's session" bash -c \
	"[ \"\$(timeout 5 '$TL_CTL' -s '$TL_SOCK' --json stats | jq .sessions)\" = 0 ]"
grep -q 'relay r1: reconcile: 1 sessions of ended calls deleted' "$TL_TMP/controller.log" ||
	tl_fail "no reconcile log line"

sip_uas gw2 uas_answer.xml "$SIP_GW1_PORT"
sip_uac c2 uac_call.xml 127.0.0.2 -d 200
sip_expect c2 30 "the next call goes through"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by != "relay"' "CDR: the next call"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
