#!/bin/bash
# run-also: asan
#
# A re-offer the far side refuses leaves the relay as the peers are: the
# caller re-INVITEs with its media moved to another port; the relay takes
# that offer before the gateway sees it; the gateway answers 491 (then,
# in a second call, 488). The caller must get that code, and the relay
# must hold the caller's old endpoint again (its `query` shows the SDP
# address of leg A back at the first port), so RTP from the caller's
# first port still reaches the gateway through the relay.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
MOVED=$((SIP_CALLER_RTP + 4))

leg_a_sdp() {
	timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$SIP_CALL_ID" |
		jq -r '.streams[0].legs[] | select(.side == "A") | .sdp'
}
# leg_a_is ADDR: the relay's leg A expects the caller at ADDR (now)
leg_a_is() {
	[ "$(leg_a_sdp)" = "$1" ]
}

for code in 491 488; do
	tl_log "the gateway refuses the re-INVITE with $code"
	sip_uas "gw$code" "uas_reinvite_$code.xml" "$SIP_GW1_PORT"
	# 5 s before the re-INVITE: the checks of the session before it must
	# not race with it on a loaded host (likewise the 8 s before the BYE
	# in the scenario, for the RTP after the refusal).
	sip_uac "caller$code" "uac_reinvite_$code.xml" 127.0.0.2 -d 5000 -set mport2 "$MOVED"
	tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
	tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
	[ "$(leg_a_sdp)" = "127.0.0.2:$SIP_CALLER_RTP" ] || tl_fail "leg A before the re-offer: $(leg_a_sdp)"
	tl_wait_for 10 "the caller's $code" grep -q "^SIP/2.0 $code " "$TL_TMP/caller$code.msgs"
	tl_wait_for 5 "the relay's leg A back at the caller's first port" \
		leg_a_is "127.0.0.2:$SIP_CALLER_RTP"
	tl_sink "sink$code" - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 5
	tl_gen "gen$code" - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 50
	tl_expect_ok "gen$code" 10 "rtpgen caller"
	tl_expect_ok "sink$code" 10 "caller -> callee RTP from the first port after the refused re-offer"
	sip_expect "caller$code" 30 "the caller gets $code and hangs up"
	sip_expect "gw$code" 30 "the gateway refuses with $code"
	[ "$(grep -c '^INVITE ' "$TL_TMP/gw$code.msgs")" = 2 ] || tl_fail "the gateway did not get the re-offer"
	grep -q "^m=audio $MOVED " "$TL_TMP/gw$code.msgs" && tl_fail "the caller's port reached the gateway"
	tl_wait_for 5 "no call left" sip_no_calls
done
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller"' "CDR"
sip_controller_stop
tl_relayd_stop
tl_pass
