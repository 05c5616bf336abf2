#!/bin/bash
# run-also: asan
#
# Our side fails after the far side's 2xx to a relayed re-INVITE (its
# SDP is unusable): that 2xx is still ACKed (RFC 3261 13.2.2.4; the
# re-offerer's ACK of our 500 never reaches us, so nothing else would),
# the caller gets 500, and since the gateway now uses media we cannot
# follow, the call ends: BYE to both with a Reason, CDR reason.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_reinvite_badsdp.xml "$SIP_GW1_PORT" -timeout 20s
sip_uac caller uac_reinvite_500.xml 127.0.0.2 -d 500 -timeout 20s
sip_expect gw1 25 "the gateway's 200 to the re-INVITE is ACKed, then BYE with a Reason"
sip_expect caller 25 "the caller gets 500, then BYE"
[ "$(grep -c '^ACK ' "$TL_TMP/gw1.msgs")" = 2 ] || tl_fail "the gateway's 2xx to the re-INVITE was not ACKed"
grep -q '^Reason: Q.850;cause=[0-9]*;text="unusable SDP in the answer to a re-offer"' "$TL_TMP/caller.msgs" ||
	tl_fail "the caller's BYE has no Reason"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "controller" and .reason == "unusable SDP in the answer to a re-offer"' "CDR"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
