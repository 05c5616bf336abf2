#!/bin/bash
# run-also: asan
#
# Who ends a call, and how both legs learn it:
#  - the callee hangs up: its BYE is answered and the caller gets a BYE;
#  - media timeout: the relay (setup/inactivity 1.5 s, no RTP sent) ends
#    the session and tells the controller, which sends BYE with a Reason
#    header to both legs;
#  - max duration (1.5 s): the controller sends BYE to both legs.
# One CDR line each, with hangup_by and reason.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start '.timeouts.setup = 1.5 | .timeouts.inactivity = 1.5'
sip_controller_start

tl_log "callee hangs up"
sip_uas gw1 uas_bye.xml "$SIP_GW1_PORT" -d 300
sip_uac caller uac_waitbye.xml 127.0.0.2
sip_expect caller 30 "the caller gets the callee's BYE"
sip_expect gw1 30 "the callee's BYE is answered"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "callee" and .reason == "bye" and .final_code == 200' "CDR: callee hung up"

tl_log "media timeout"
sip_uas gw2 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller2 uac_waitbye.xml 127.0.0.2
sip_expect caller2 30 "the caller gets a BYE on media timeout"
sip_expect gw2 30 "the gateway gets a BYE on media timeout"
grep -A12 '^BYE ' "$TL_TMP/caller2.msgs" | grep -qi '^Reason: .*media timeout' || tl_fail "caller's BYE has no Reason: media timeout"
grep -A12 '^BYE ' "$TL_TMP/gw2.msgs" | grep -qi '^Reason: .*media timeout' || tl_fail "gateway's BYE has no Reason: media timeout"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "relay" and (.reason | startswith("media timeout")) and .media != null' "CDR: relay ended it"

tl_log "max duration"
jq '.max_duration = 1.5' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" && mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload with max_duration"
timeout 5 "$TL_CTL" -s "$TL_SOCK" --json raw '{"cmd":"ping"}' >/dev/null || tl_fail "relay ping"
sip_uas gw3 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller3 uac_waitbye.xml 127.0.0.2
# keep the media alive so that only the duration limit can end the call
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_gen keepalive - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -t 4 -r 50
sip_expect caller3 30 "the caller gets a BYE at max duration"
sip_expect gw3 30 "the gateway gets a BYE at max duration"
grep -A12 '^BYE ' "$TL_TMP/caller3.msgs" | grep -qi '^Reason: .*max duration' || tl_fail "caller's BYE has no Reason: max duration"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "controller" and .reason == "max duration" and .duration >= 1.4 and .duration < 5' "CDR: max duration"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
