#!/bin/bash
# run-also: asan
#
# Parallel forking (issue 15): three phones registered to one account
# (127.0.7.2, .3, .4) all get the INVITE at once; .3 answers, the other
# two get CANCEL with Reason "Call completed elsewhere"; RTP flows
# through the relay to .3 only (and back from it); the CDR names .3's
# contact and 3 forks. Then two phones answer at the same moment: one
# wins, the other gets ACK and BYE.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.accounts = [{username: "alice", password: "apass"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}'

P=127.0.7
for i in 2 3 4; do
	sip_register "reg$i" alice apass "$P.$i" "$SIP_GW3_PORT" 60
done

# invited NAME: NAME got the INVITE for its own contact.
invited() {
	grep -q "^INVITE sip:alice@$2:$SIP_GW3_PORT" "$TL_TMP/$1.msgs"
}

# 1. .2 and .4 ring until cancelled; .3 rings, then answers after 0.5 s.
sed 's|<send retrans="500">|<pause milliseconds="500"/>\n  <send retrans="500">|' \
	"$SIP_SCEN/uas_answer.xml" >"$TL_TMP/uas_answer_slow.xml"
sip_phone ph2 uas_ring.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3 "$TL_TMP/uas_answer_slow.xml" $P.3 "$SIP_GW3_PORT"
sip_phone ph4 uas_ring.xml $P.4 "$SIP_GW3_PORT"
# The caller stays on until the media check is done (sip_hangup).
sip_held uac_call.xml
SIP_SERVICE=alice sip_uac caller "$SIP_HELD" 127.0.0.2

tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
for i in 2 3 4; do
	invited "ph$i" "$P.$i" || tl_fail "phone .$i did not get the INVITE"
done
sip_expect ph2 10 "phone .2 rings and is cancelled"
sip_expect ph4 10 "phone .4 rings and is cancelled"
sip_elsewhere ph2 || tl_fail "phone .2's CANCEL has no Reason: SIP;cause=200 (Call completed elsewhere)"
sip_elsewhere ph4 || tl_fail "phone .4's CANCEL has no Reason: SIP;cause=200 (Call completed elsewhere)"
grep -q "^CANCEL " "$TL_TMP/ph3.msgs" && tl_fail "the phone that answered got a CANCEL"

# RTP through the relay reaches .3 only, from the relay's B port, and
# .3's RTP reaches the caller.
tl_sink rx2 - -b "$P.2:$SIP_CALLEE_RTP" -e 0 -t 2.5
tl_sink rx4 - -b "$P.4:$SIP_CALLEE_RTP" -e 0 -t 2.5
sip_media_both "$P.3" "phone .3"
for i in 2 4; do
	tl_reap "rx$i" 10
	[ "$(jq .received "$TL_TMP/rx$i.out")" = 0 ] || tl_fail "phone .$i got RTP: $(cat "$TL_TMP/rx$i.out")"
done

sip_hangup caller
sip_expect caller 30 "the caller's call (INVITE/200/ACK/BYE)"
sip_expect ph3 30 "phone .3 answers and gets the BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" ".final_code == 200 and .gateway == \"account:alice\" and .contact == \"sip:alice@$P.3:$SIP_GW3_PORT\" and .forks == 3" \
	"CDR: answered by .3's contact, 3 forks"
tl_assert_json "$SIP_CDR_LAST" '[.attempts[].code] | sort == [200, 487, 487]' "CDR: one 200, two 487"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

# 2. .2 and .3 answer at once, .4 rings: the first 2xx wins, the other
# gets ACK then BYE (Reason: completed elsewhere), .4 a CANCEL.
sip_fork_race uas_answer_any.xml uac_call.xml "the caller's call"
grep -q "^ACK " "$TL_TMP/$SIP_FORK_LOSER.msgs" || tl_fail "the late 2xx was not ACKed"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
