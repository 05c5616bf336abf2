#!/bin/bash
# run-also: asan
#
# SDP that hides the network (controller/sdp.c): a hostile caller on
# trunk "pbx" (127.0.0.2) sends an INVITE whose SDP names itself in o=
# and s=, carries its address in a=rtcp, real and private addresses in
# ICE candidates, and a private c= on a rejected second m= line
# (scenarios/uac_leaky.xml). The gateway (scenarios/uas_leaky.xml)
# checks with ereg on the INVITE body that none of that reached it and
# that o= and every c= name the relay; it answers with SDP as leaky, and
# the caller checks the 200 OK the same way. A failed check fails that
# SIPp's call. Then: the o= session ids of the two legs differ, and the
# call ends cleanly.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_leaky.xml "$SIP_GW1_PORT" -set rport "$((SIP_CALLEE_RTP + 1))"
sip_uac caller uac_leaky.xml 127.0.0.2 -d 500 -set rport "$((SIP_CALLER_RTP + 1))"

sip_expect gw1 30 "the gateway's INVITE hid the caller (ereg checks), call completed"
sip_expect caller 30 "the caller's 200 OK hid the gateway (ereg checks), call completed"

# One o= of ours on each leg, with session ids that differ.
oa=$(grep -o '^o=- [0-9]* ' "$TL_TMP/caller.msgs" | sort -u)
ob=$(grep -o '^o=- [0-9]* ' "$TL_TMP/gw1.msgs" | sort -u)
[ "$(printf '%s\n' "$oa" | grep -c .)" = 1 ] || tl_fail "caller: expected one o= of ours, got '$oa'"
[ "$(printf '%s\n' "$ob" | grep -c .)" = 1 ] || tl_fail "gateway: expected one o= of ours, got '$ob'"
[ "$oa" != "$ob" ] || tl_fail "both legs got the same o= session id: $oa"
tl_log "o= per leg: caller '$oa', gateway '$ob'"

sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller"' "CDR: answered, caller hung up"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
