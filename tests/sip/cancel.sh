#!/bin/bash
# run-also: asan
#
# CANCEL before answer: the caller cancels while gw1 rings; the CANCEL is
# propagated to gw1 (which answers 200 + 487), the caller gets 487, the
# relay session is deleted and the CDR says the caller cancelled.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_ring.xml "$SIP_GW1_PORT"
sip_uac caller uac_cancel.xml 127.0.0.2
sip_expect caller 30 "the caller's CANCEL is answered 200 and the INVITE 487"
sip_expect gw1 30 "gw1 receives the CANCEL"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 487 and .hangup_by == "caller" and .reason == "cancel" and .connect == null' "CDR of the cancelled call"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
