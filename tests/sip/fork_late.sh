#!/bin/bash
# run-also: asan
#
# Parallel forking of a delayed-offer call (issue 15; fork.c and
# lateoffer.c): the caller's INVITE has no SDP. Three phones registered
# to one account (127.0.7.2, .3, .4) all get an INVITE without SDP at
# once; .3 offers in its 200 a second later, the other two get CANCEL
# with Reason "Call completed elsewhere". .3's offer reaches the caller
# in our 200 with the relay's A-leg port, the caller's answer reaches .3
# in its ACK with the relay's B-leg port, and RTP flows both ways
# through the relay to .3 only. Then two phones answer at the same
# moment: one wins, the other's offer is declined in its ACK (m=audio 0)
# and it gets a BYE; the third gets a CANCEL.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.accounts = [{username: "alice", password: "apass"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}'

P=127.0.7
for i in 2 3 4; do
	sip_register "reg$i" alice apass "$P.$i" "$SIP_GW3_PORT" 60
done

# invited NAME IP: NAME got an INVITE without SDP for its own contact.
invited() {
	sed -n "/^INVITE sip:alice@$2:$SIP_GW3_PORT/,/^---/p" "$TL_TMP/$1.msgs" 2>/dev/null |
		grep -qi '^Content-Length: *0'
}
all_invited() {
	invited ph2 $P.2 && invited ph3 $P.3 && invited ph4 $P.4
}

# 1. .2 and .4 ring until cancelled; .3 rings, then offers after 2.5 s
# (the ring window: all three must have the INVITE by then).
sed 's|<send retrans="500">|<pause milliseconds="2500"/>\n  <send retrans="500">|' \
	"$SIP_SCEN/uas_lateoffer.xml" >"$TL_TMP/uas_lateoffer_slow.xml"
sip_phone ph2 uas_ring.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3 "$TL_TMP/uas_lateoffer_slow.xml" $P.3 "$SIP_GW3_PORT"
sip_phone ph4 uas_ring.xml $P.4 "$SIP_GW3_PORT"
# The caller stays on until the media check is done (sip_hangup).
sip_held uac_lateoffer.xml
SIP_SERVICE=alice sip_uac caller "$SIP_HELD" 127.0.0.2
tl_wait_for 15 "all three phones to get an INVITE without SDP" all_invited

tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
# Within the ring window: .2 and .4 had their INVITE before .3 answered
# (an order of SIPp's timestamps; a 2.5 s deadline from the test's side
# also counted SIPp's start on a loaded machine).
T200=$(sip_msg_time ph3 '^SIP/2.0 200')
for i in 2 4; do
	T=$(sip_msg_time "ph$i" '^INVITE ')
	awk -v a="$T" -v b="$T200" 'BEGIN { exit !(a < b) }' ||
		tl_fail "phone .$i got its INVITE ($T) only after .3 answered ($T200)"
done
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_log "call $SIP_CALL_ID: caller <-> 127.0.0.1:$SIP_A_PORT | 127.0.0.1:$SIP_B_PORT <-> phone .3"
sip_expect ph2 10 "phone .2 rings and is cancelled"
sip_expect ph4 10 "phone .4 rings and is cancelled"
sip_elsewhere ph2 || tl_fail "phone .2's CANCEL has no Reason: SIP;cause=200 (Call completed elsewhere)"
sip_elsewhere ph4 || tl_fail "phone .4's CANCEL has no Reason: SIP;cause=200 (Call completed elsewhere)"
grep -q "^CANCEL " "$TL_TMP/ph3.msgs" && tl_fail "the phone that answered got a CANCEL"

# .3's offer reached the caller on the relay's A leg; the caller's answer
# reached .3 on the relay's B leg; neither side saw the other's address.
tl_wait_for 5 "phone .3's ACK in its trace" grep -q '^ACK ' "$TL_TMP/ph3.msgs"
sed -n '/^SIP\/2.0 200/,/^---/p' "$TL_TMP/caller.msgs" | grep -q "^m=audio $SIP_A_PORT RTP/AVP 0 8" ||
	tl_fail "the caller's 200 does not offer the relay's A-leg port $SIP_A_PORT with phone .3's codecs"
sed -n '/^SIP\/2.0 200/,/^---/p' "$TL_TMP/caller.msgs" | grep -q "$P.3" &&
	tl_fail "phone .3's address reached the caller"
sed -n '/^ACK /,/^---/p' "$TL_TMP/ph3.msgs" | grep -q "^m=audio $SIP_B_PORT RTP/AVP 0" ||
	tl_fail "phone .3's ACK does not answer with the relay's B-leg port $SIP_B_PORT"
sed -n '/^ACK /,/^---/p' "$TL_TMP/ph3.msgs" | grep -q "127.0.0.2" &&
	tl_fail "the caller's address reached phone .3's ACK"

tl_sink rx2 - -b "$P.2:$SIP_CALLEE_RTP" -e 0 -t 2.5
tl_sink rx4 - -b "$P.4:$SIP_CALLEE_RTP" -e 0 -t 2.5
sip_media_both "$P.3" "phone .3"
for i in 2 4; do
	tl_reap "rx$i" 10
	[ "$(jq .received "$TL_TMP/rx$i.out")" = 0 ] || tl_fail "phone .$i got RTP: $(cat "$TL_TMP/rx$i.out")"
done

sip_hangup caller
sip_expect caller 30 "the late-offer caller: 200 with .3's offer, ACK with the answer, BYE"
sip_expect ph3 30 "phone .3: INVITE without SDP, 200 with the offer, ACK with the relay's answer, BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" ".final_code == 200 and .gateway == \"account:alice\" and .contact == \"sip:alice@$P.3:$SIP_GW3_PORT\" and .forks == 3" \
	"CDR: answered by .3's contact, 3 forks"
tl_assert_json "$SIP_CDR_LAST" '[.attempts[].code] | sort == [200, 487, 487]' "CDR: one 200, two 487"
tl_assert_json "$SIP_CDR_LAST" '.media.caller_to_callee.packets >= 40 and .media.callee_to_caller.packets >= 40' \
	"CDR: media counters from the relay"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

# 2. .2 and .3 offer in a 200 at once, .4 rings: the first 2xx wins, the
# other's ACK declines its offer, then BYE (completed elsewhere); .4 gets
# a CANCEL.
sip_fork_race uas_lateoffer_any.xml uac_lateoffer.xml "the late-offer caller's call"
ack=$(sed -n '/^ACK /,/^---/p' "$TL_TMP/$SIP_FORK_LOSER.msgs")
grep -q '^m=audio 0 RTP/AVP' <<<"$ack" || tl_fail "the late 2xx's ACK does not decline its offer (m=audio 0): $ack"
grep -E '^[a-z]=' <<<"$ack" | grep -qE '127\.0\.0\.(1|2)' && tl_fail "the late 2xx's ACK SDP names the relay or the caller: $ack"
sed -n '/^ACK /,/^---/p' "$TL_TMP/$SIP_FORK_WINNER.msgs" | grep -q '^m=audio [1-9][0-9]* RTP/AVP 0' ||
	tl_fail "the winner's ACK does not answer with a relay port"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
