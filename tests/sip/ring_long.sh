#!/bin/bash
# A call that rings three times relayd's setup timeout and is then
# answered (issue 13, "Timers"): the setup timeout (default 60 s, here
# 8 s so the test takes seconds) used to end the still-ringing session
# and the call with it (480 to the caller). The
# controller offers the session as ringing; the relay does not time it
# until the final answer. Then RTP flows both ways through the relay,
# the caller hangs up, and the CDR has the media counters.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start '.timeouts.setup = 8 | .timeouts.inactivity = 30'
sip_controller_start
sip_uas gw1 uas_ring_long.xml "$SIP_GW1_PORT" -timeout 60s
# The caller stays on until the media check is done (sip_hangup).
sip_held uac_call.xml
sip_uac caller "$SIP_HELD" 127.0.0.2 -timeout 60s

ringing_session() {
	local l
	l=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json list) || return 1
	jq -e '.calls | length == 1 and .[0].ringing == true and .[0].state == "offered"' <<<"$l" >/dev/null
}
tl_wait_for 10 "the relay to hold a ringing session" ringing_session
# Twice relayd's setup timeout (8 s): still ringing. The gateway answers
# at 24 s, so the setup timeout (counted from the answer until the first
# packet) leaves 8 s for the RTP below to start.
deadline=$(tl_deadline 16)
while ! tl_past "$deadline"; do
	kill -0 "${TL_PID[caller]}" 2>/dev/null || tl_fail "the caller's call ended while ringing"
	sleep 2
done
ringing_session || tl_fail "the relay no longer holds the ringing session after 16 s"
tl_log "still ringing after 16 s"

tl_wait_for 40 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
q=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$SIP_CALL_ID") || tl_fail "query"
tl_assert_json "$q" '.ringing == false and .state == "answered"' "the final answer ended the ringing"

tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
tl_gen gen_callee - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 40 -r 100
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok gen_callee 10 "rtpgen callee"
tl_expect_ok sink_callee 15 "caller -> callee RTP through the relay"
tl_expect_ok sink_caller 15 "callee -> caller RTP through the relay"

sip_hangup caller
sip_expect caller 20 "the caller's call (INVITE/180 for 24 s/200/ACK/BYE)"
sip_expect gw1 10 "the gateway's call"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .reason == "bye" and
	.media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' \
	"CDR: answered after 24 s of ringing, media both ways"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
