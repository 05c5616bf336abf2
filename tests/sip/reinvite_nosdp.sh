#!/bin/bash
# run-also: asan
#
# A re-INVITE without SDP (RFC 3261 14.2; how RFC 4028 session refreshes
# are often sent) in the middle of a call with RTP both ways: the caller
# gets a 200 carrying our current SDP for its leg (the relay's same c=
# and m= port, the same o= line: nothing changed), answers in the ACK
# with its unchanged SDP; the gateway hears nothing (one INVITE, one
# ACK); RTP keeps flowing through the relay before, during and after
# (every packet arrives; CDR counters); the call then ends normally.
# In a second call the ACK's answer moves the caller's media to another
# port: that goes to the relay (its leg A endpoint moves, RTP from the
# new port reaches the gateway) and still not to the gateway.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_reinvite_nosdp.xml 127.0.0.2 -d 3000

tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
# 200 packets at 50/s each way: 4 s, across the re-INVITE at 3 s; the
# BYE comes 7 s after it, so a loaded host's slow start does not cut them
tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 200 -t 12
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 200 -t 12
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 200 -r 50
tl_gen gen_callee - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 200 -r 50

sip_expect caller 30 "the caller's offerless re-INVITE is answered with SDP and ACKed"
sip_expect gw1 30 "the gateway's call"
tl_expect_ok gen_caller 10 "rtpgen caller"
tl_expect_ok gen_callee 10 "rtpgen callee"
tl_expect_ok sink_callee 15 "caller -> callee RTP through the relay across the re-INVITE"
tl_expect_ok sink_caller 15 "callee -> caller RTP through the relay across the re-INVITE"

# The two 200s the caller got offer the same media: the relay's A port,
# the relay's address, and one unchanged o= line (same version).
m=$(grep -c "^m=audio $SIP_A_PORT RTP/AVP" "$TL_TMP/caller.msgs")
[ "$m" = 2 ] || tl_fail "the caller got $m SDPs with the relay's port $SIP_A_PORT, expected 2 (the answer and the re-INVITE's offer)"
c=$(grep "^c=" "$TL_TMP/caller.msgs" | tr -d "\r" | grep -v 127.0.0.2 | sort -u)
[ "$c" = "c=IN IP4 127.0.0.1" ] || tl_fail "c= lines the caller got: '$c'"
o=$(grep "^o=- " "$TL_TMP/caller.msgs" | tr -d "\r")
[ "$(wc -l <<<"$o")" = 2 ] && [ "$(sort -u <<<"$o" | wc -l)" = 1 ] ||
	tl_fail "the re-INVITE's offer must repeat the answer's o= line (same version): '$o'"
sed -n '/^SIP\/2.0 200/,/^-----/p' "$TL_TMP/caller.msgs" | grep -q 'CSeq: 2 INVITE' ||
	tl_fail "no 200 to the re-INVITE in the caller's trace"
# The gateway saw nothing of it.
[ "$(grep -c '^INVITE ' "$TL_TMP/gw1.msgs")" = 1 ] || tl_fail "the re-INVITE reached the gateway"
[ "$(grep -c '^ACK ' "$TL_TMP/gw1.msgs")" = 1 ] || tl_fail "the gateway got more than one ACK"
grep -q 'telephone-event' "$TL_TMP/gw1.msgs" || tl_fail "gw1's trace has no offer"

sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .reason == "bye"' "CDR"
tl_assert_json "$SIP_CDR_LAST" '.media.caller_to_callee.packets >= 200 and .media.callee_to_caller.packets >= 200' "CDR: media counters"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "the ACK's answer moves the caller's media"
MOVED=$((SIP_CALLER_RTP + 4))
sip_uas gw1m uas_answer.xml "$SIP_GW1_PORT"
sip_uac callerm uac_reinvite_nosdp_moved.xml 127.0.0.2 -d 1000 -set mport2 "$MOVED"
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
leg_a_sdp() {
	timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$SIP_CALL_ID" |
		jq -r '.streams[0].legs[] | select(.side == "A") | .sdp'
}
# leg_a_is ADDR: the relay's leg A expects the caller at ADDR (now)
leg_a_is() {
	[ "$(leg_a_sdp)" = "$1" ]
}
tl_wait_for 10 "the relay's leg A at the port the ACK named" leg_a_is "127.0.0.2:$MOVED"
tl_sink sink_moved - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 5
tl_gen gen_moved - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$MOVED" -c 40 -r 50
tl_expect_ok gen_moved 10 "rtpgen from the moved port"
tl_expect_ok sink_moved 10 "RTP from the caller's new port reaches the gateway"
sip_expect callerm 30 "the caller's offerless re-INVITE, ACK with moved media"
sip_expect gw1m 30 "the gateway's call"
[ "$(grep -c '^INVITE ' "$TL_TMP/gw1m.msgs")" = 1 ] || tl_fail "the moved media reached the gateway as a re-INVITE"
sip_cdr_wait 2
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
