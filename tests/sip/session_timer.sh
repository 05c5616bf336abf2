#!/bin/bash
# timeout: 200
#
# RFC 4028 session timers over a call of about 105 s, each leg on its
# own: the caller asks Session-Expires: 60;refresher=uac and refreshes
# every 30 s (a re-INVITE with its unchanged SDP, an UPDATE without SDP,
# a re-INVITE without SDP); each 200 carries Session-Expires:
# 60;refresher=uac and Require: timer and the SDP we sent before (same
# o= line), and none of it reaches the gateway. Our INVITE to the gateway
# asks Session-Expires: 60;refresher=uac with Min-SE; the gateway agrees
# and allows UPDATE: it gets our UPDATE refreshes, every 13 s (before the
# SIP stack's own timer could refresh: session_timer.c), each with
# Session-Expires: 60;refresher=uac, and never an INVITE of the stack's.
# RTP flows both ways all along (every packet arrives; relay and CDR
# counters grow).
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.session_expires = 60 | .min_se = 30'
sip_uas gw1 uas_st_refresh.xml "$SIP_GW1_PORT" -timeout 180s
sip_uac caller uac_st_refresh.xml 127.0.0.2 -timeout 180s

tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
# 20 packets/s each way for 100 s: across every refresh on both legs
tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 2000 -t 120
tl_sink sink_caller - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 2000 -t 120
tl_gen gen_caller - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 2000 -r 20 --max-time 115
tl_gen gen_callee - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 2000 -r 20 --max-time 115

# Halfway: the relay's counters grow (the refreshes did not reset them).
tl_wait_for 60 "the caller's first refresh answered" grep -q 'CSeq: 2 INVITE' "$TL_TMP/caller.msgs"
relay_packets() {
	timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$SIP_CALL_ID" |
		jq '[.streams[0].legs[].stats.packets] | add'
}
p1=$(relay_packets) || tl_fail "relay query"
tl_wait_for 60 "the UPDATE refresh answered" grep -q 'CSeq: 3 UPDATE' "$TL_TMP/caller.msgs"
p2=$(relay_packets) || tl_fail "relay query"
[ "$p2" -gt "$p1" ] || tl_fail "the relay's packet counters did not grow across the refreshes ($p1 then $p2)"
tl_log "relay packets: $p1 after the first refresh, $p2 after the second"

sip_expect caller 150 "the caller's refreshes (each 200 with Session-Expires: 60;refresher=uac, Require: timer)"
sip_expect gw1 30 "the gateway's call: INVITE with Session-Expires and Min-SE, three UPDATE refreshes, BYE"
tl_expect_ok gen_caller 20 "rtpgen caller"
tl_expect_ok gen_callee 20 "rtpgen callee"
tl_expect_ok sink_callee 20 "caller -> callee RTP for the whole call"
tl_expect_ok sink_caller 20 "callee -> caller RTP for the whole call"

# The caller's refreshes stayed on its leg: one INVITE at the gateway, no
# re-INVITE; the UPDATEs it got are ours (From/To are the B-leg's).
[ "$(grep -c '^INVITE ' "$TL_TMP/gw1.msgs")" = 1 ] || tl_fail "a caller's refresh reached the gateway as an INVITE"
n=$(grep -c '^UPDATE ' "$TL_TMP/gw1.msgs")
[ "$n" -ge 6 ] && [ "$n" -le 9 ] || tl_fail "the gateway got $n UPDATE refreshes in ~105 s, expected 6..9 (one per 13 s)"
[ "$(sed -n '/^UPDATE /,/^-----/p' "$TL_TMP/gw1.msgs" | grep -c '^Session-Expires: 60;refresher=uac')" = "$n" ] ||
	tl_fail "an UPDATE to the gateway lacks Session-Expires: 60;refresher=uac"
grep -q '^Min-SE: 30' "$TL_TMP/gw1.msgs" || tl_fail "our INVITE to the gateway has no Min-SE: 30"
# The SDP the caller got in the refreshes' 200s is the answer's, unchanged.
o=$(grep "^o=- " "$TL_TMP/caller.msgs" | tr -d "\r")
[ "$(wc -l <<<"$o")" = 3 ] && [ "$(sort -u <<<"$o" | wc -l)" = 1 ] ||
	tl_fail "the refreshes' 200s must repeat the answer's o= line: '$o'"
[ "$(grep -c "^m=audio $SIP_A_PORT " "$TL_TMP/caller.msgs")" = 3 ] || tl_fail "the caller's 200s do not all name the relay's port $SIP_A_PORT"

sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .reason == "bye" and .duration > 100' "CDR"
tl_assert_json "$SIP_CDR_LAST" '.media.caller_to_callee.packets >= 2000 and .media.callee_to_caller.packets >= 2000' "CDR: media counters"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
