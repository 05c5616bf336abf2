#!/bin/bash
# run-also: asan
#
# re-INVITE (and then UPDATE): the caller puts the call on hold with a new offer
# (a=sendonly); it goes through the relay (offer again: the gateway sees
# the relay's same port, a new o= version, a=sendonly), the gateway's
# answer (a=recvonly) goes through the relay back to the caller with the
# relay's A-leg port; the ACK is passed on; the call then ends normally.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_reinvite.xml "$SIP_GW1_PORT"
sip_uac caller uac_reinvite.xml 127.0.0.2 -d 300
sip_expect caller 30 "the caller's re-INVITE is answered"
sip_expect gw1 30 "the gateway gets the re-INVITE with a=sendonly"
invs=$(grep -c '^INVITE ' "$TL_TMP/gw1.msgs")
[ "$invs" = 2 ] || tl_fail "the gateway saw $invs INVITEs, expected 2"
# the two offers the gateway got: same relay port, o= version 1 then 2
ports=$(grep '^m=audio' "$TL_TMP/gw1.msgs" | grep -v "$SIP_CALLEE_RTP" | awk '{print $2}' | sort -u)
[ "$(wc -w <<<"$ports")" = 1 ] || tl_fail "the relay port changed on re-INVITE: $ports"
# o= is ours (sdp.c): one session id on this leg, version 1 then 2
ovs=$(grep '^o=- [0-9]* [0-9]* IN IP4 127.0.0.1' "$TL_TMP/gw1.msgs" | awk '{print $2, $3}' | sort -u)
sid=${ovs%% *}
[ "$ovs" = "$sid 1"$'\n'"$sid 2" ] || tl_fail "the gateway's offers have o= (id version) '$ovs', expected one id with versions 1 and 2"
# the caller's second 200 carries a=recvonly and the relay's A-leg port
sed -n '/CSeq: 2 INVITE/,/^---/p' "$TL_TMP/caller.msgs" | grep -q 'a=recvonly' || tl_fail "the caller did not get the gateway's answer"
[ "$(grep -c '^ACK ' "$TL_TMP/gw1.msgs")" = 2 ] || tl_fail "the re-INVITE's ACK was not passed on"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller"' "CDR"

tl_log "UPDATE"
sip_uas gw1u uas_update.xml "$SIP_GW1_PORT"
sip_uac calleru uac_update.xml 127.0.0.2 -d 300
sip_expect calleru 30 "the caller's UPDATE is answered"
sip_expect gw1u 30 "the gateway gets the UPDATE with a=sendonly"
grep -q '^UPDATE ' "$TL_TMP/gw1u.msgs" || tl_fail "no UPDATE reached the gateway"
sed -n '/^UPDATE /,/^---/p' "$TL_TMP/gw1u.msgs" | grep -q '^o=- [0-9]* 2 IN IP4 127.0.0.1' || tl_fail "the UPDATE's offer was not rewritten"
sed -n '/CSeq: 2 UPDATE/,/^---/p' "$TL_TMP/calleru.msgs" | grep -q 'a=recvonly' || tl_fail "the caller did not get the UPDATE's answer"
sip_cdr_wait 2
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
