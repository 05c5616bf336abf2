#!/bin/bash
# run-also: asan
#
# Glare (RFC 3261 14.2), one offer/answer at a time on a call. (1) On
# one leg: the caller's re-INVITE (a=sendonly) reaches the gateway, which
# holds it and sends a re-INVITE of its own: 491 (the SIP stack sees both
# on that dialog). (2) Across the legs: the relay is held (SIGSTOP) so
# the caller's re-offer waits there and the gateway's leg has nothing in
# progress yet; the gateway's re-INVITE must still get 491 (reinvite.c:
# the call has a re-offer in progress), then the caller's re-offer goes
# on once the relay runs again. Each time the gateway ACKs the 491 and
# answers the caller's re-INVITE (a=recvonly), which reaches the caller
# through the relay; nothing of the refused offer (a=inactive) reaches
# the caller; the calls end normally.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.relay_timeout = 10'
sip_uas gw1 uas_glare.xml "$SIP_GW1_PORT"
sip_uac caller uac_reinvite.xml 127.0.0.2 -d 300
sip_expect gw1 30 "the gateway's re-INVITE gets 491, its answer to ours goes through"
sip_expect caller 30 "the caller's re-INVITE is answered"
grep -q '^SIP/2.0 491 ' "$TL_TMP/gw1.msgs" || tl_fail "no 491 to the gateway's re-INVITE"
sed -n '/CSeq: 2 INVITE/,/^---/p' "$TL_TMP/caller.msgs" | grep -q 'a=recvonly' || tl_fail "the caller did not get the gateway's answer"
grep -q 'a=inactive' "$TL_TMP/caller.msgs" && tl_fail "the refused offer reached the caller"
[ "$(grep -c '^INVITE ' "$TL_TMP/caller.msgs")" = 2 ] || tl_fail "the caller got an INVITE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .reason == "bye"' "CDR"
tl_wait_for 5 "no call left" sip_no_calls

tl_log "glare across the legs, the caller's re-offer held at the relay"
sip_uas gw2 uas_glare_early.xml "$SIP_GW1_PORT"
sip_uac caller2 uac_reinvite.xml 127.0.0.2 -d 1500
tl_wait_for 10 "the relay to hold an answered session" sip_answered_call
kill -STOP "$TL_RELAYD_PID"
tl_wait_for 10 "the caller's re-offer at the (held) relay" \
	bash -c "[ \$(grep -c 're-offer from the caller: to relay' '$TL_TMP/controller.log') = 2 ]"
tl_wait_for 10 "the gateway's re-INVITE refused with 491" grep -q '^SIP/2.0 491 ' "$TL_TMP/gw2.msgs"
kill -CONT "$TL_RELAYD_PID"
sip_expect gw2 30 "the gateway's re-INVITE gets 491, then the caller's reaches it"
sip_expect caller2 30 "the caller's re-INVITE is answered after the relay runs again"
# received: the first INVITE and the caller's re-offer; sent: its own
[ "$(grep -c '^INVITE ' "$TL_TMP/gw2.msgs")" = 3 ] || tl_fail "the caller's re-offer did not reach the gateway"
grep -q 're-INVITE from the callee while another offer is in progress or the call is not up: 491' "$TL_TMP/controller.log" ||
	tl_fail "the 491 did not come from the call's one-offer-at-a-time rule"
sed -n '/CSeq: 2 INVITE/,/^---/p' "$TL_TMP/caller2.msgs" | grep -q 'a=recvonly' || tl_fail "the caller did not get the gateway's answer"
grep -q 'a=inactive' "$TL_TMP/caller2.msgs" && tl_fail "the refused offer reached the caller"
sip_cdr_wait 2
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
