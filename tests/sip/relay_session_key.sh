#!/bin/bash
# run-also: asan
#
# Relay sessions are keyed on an id the controller makes (issue 12), not
# on the caller's Call-ID. A victim on 127.0.0.2 is in a call with RTP
# flowing through the relay. From 127.0.0.5 (the same trunk) come a
# second call with the victim's Call-ID (another From-tag): it gets its
# own relay session (two in `list`), is answered and hung up, and its
# delete leaves the victim's session alone; then an INVITE with the
# victim's Call-ID and From-tag, which Sofia matches to the victim's
# dialog: dropped before the SIP stack, it re-offers nothing. After each, the
# victim's session is still there (`query` by the key the controller's
# `calls` shows), latched to the victim, its counters growing, and every
# RTP packet the victim sends reaches the gateway's side.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.trunks[0].sources += ["127.0.0.5"]'
CID=collide-call@victim
sed -e 's/tag=\[pid\]SIPpTag00\[call_number\]/tag=victimtag/' "$SIP_SCEN/uac_call.xml" >"$TL_TMP/uac_same.xml"
sed -e 's/tag=\[pid\]SIPpTag00\[call_number\]/tag=othertag/' "$SIP_SCEN/uac_call.xml" >"$TL_TMP/uac_other.xml"
grep -q 'tag=victimtag' "$TL_TMP/uac_same.xml" || tl_fail "cannot build the fixed From-tag scenario"

relay_sessions() {
	[ "$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json list | jq '.calls | length')" = "$1" ]
}
ctl_calls() {
	[ "$(sip_ctl --json calls | jq '.calls | length')" = "$1" ]
}
a_packets() {
	timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$KEY" |
		jq '[.streams[0].legs[] | select(.side == "A") | .stats.packets] | add'
}
a_packets_above() {
	local n
	n=$(a_packets) && [ -n "$n" ] && [ "$n" != null ] && [ "$n" -gt "$1" ]
}

# The victim's session is there, latched to the victim, its counters grow,
# its call is connected.
check_victim() {
	local q p1
	q=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$KEY") ||
		tl_fail "the victim's relay session $KEY is gone after $1"
	tl_assert_json "$q" '[.streams[0].legs[] | select(.side == "A") | .latched] == ["127.0.0.2:'"$SIP_CALLER_RTP"'"]' \
		"the victim's A leg is still latched to the victim after $1"
	p1=$(a_packets)
	tl_wait_for 5 "the victim's packet counter to grow after $1" a_packets_above "$p1"
	sip_ctl --json calls | jq -e --arg cid "$CID" '.calls[0].call_id == $cid and .calls[0].state == "connected"' >/dev/null ||
		tl_fail "the victim's call is not connected any more after $1"
}

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT" -m 2
# 1. The victim's call, up for 14 s, and its relay session.
sip_uac_from victim "$TL_TMP/uac_same.xml" 127.0.0.2 441234567 -d 14000 -cid_str "$CID"
tl_wait_for 10 "the relay to hold the victim's answered session" sip_answered_call
# The key the controller gave the relay (older controllers: the Call-ID).
KEY=$(sip_ctl --json calls | jq -r '.calls[0] | .relay_session // .call_id')
[ "$(sip_ctl --json calls | jq -r '.calls[0].call_id')" = "$CID" ] || tl_fail "the victim's call does not have Call-ID $CID"
tl_wait_for 5 "the victim's session ports" sip_session_ports "$KEY"
tl_log "victim: Call-ID $CID, relay session $KEY, ports A $SIP_A_PORT B $SIP_B_PORT"

# The victim's RTP, 100 packets/s for 10 s, all of it must arrive.
tl_sink sink_callee - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 1000 -t 20
tl_gen gen_victim - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 1000 -r 100
tl_wait_for 5 "the victim's media to reach the relay" a_packets_above 0

# 2. Same Call-ID, another From-tag, from 127.0.0.5: a call of its own,
# with its own relay session; answered, then hung up.
sip_uac_from other "$TL_TMP/uac_other.xml" 127.0.0.5 441234567 -d 1000 -cid_str "$CID"
tl_wait_for 10 "both calls to be up" ctl_calls 2
relay_sessions 2 || tl_fail "the second call shares the victim's relay session: $(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json list)"
sip_expect other 20 "the second call (answered, then BYE)"
tl_wait_for 10 "the second call to end" ctl_calls 1
tl_wait_for 5 "the second call's session to be deleted" relay_sessions 1
check_victim "the second call's teardown"

# 3. Same Call-ID and From-tag from 127.0.0.5: Sofia would take it for a
# request in the victim's dialog; the SIP filter drops it before the
# stack (sipfilter.c; no answer), nothing is relayed.
r=$(python3 "$TL_ROOT/tests/lib/sipraw.py" 127.0.0.5 127.0.0.1 "$SIP_CTL_PORT" --method INVITE \
	--call-id "$CID" --from-tag victimtag --cseq 2 --wait 1.5)
tl_assert_json "$r" '.codes == []' "an INVITE reusing the victim's Call-ID and From-tag gets no answer"
grep -q "INVITE $CID from 127.0.0.5: no To tag in call $CID's dialog (CSeq 2): dropped before the stack" \
	"$TL_TMP/controller.log" || tl_fail "the refusal is not logged"
tl_assert_json "$(sip_ctl --json status)" '.sip_filter.dropped_no_to_tag >= 1' "status counts the dropped INVITE"
ctl_calls 1 || tl_fail "the reused identifiers made a call"
check_victim "the INVITE reusing its identifiers"

# 4. The victim's media all arrived and its call ends normally.
tl_expect_ok gen_victim 15 "rtpgen victim"
tl_expect_ok sink_callee 20 "every victim packet reaches the gateway side"
sip_expect victim 30 "the victim's call ends normally with its BYE"
sip_expect gw1 30 "the gateway's two calls"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "caller" and .reason == "bye" and .media.caller_to_callee.packets >= 1000' \
	"the victim's CDR carries all its media"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
