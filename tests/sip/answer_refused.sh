#!/bin/bash
# run-also: asan
#
# Our side fails after the callee's 2xx (issue 13): gw1 answers 200 with
# SDP the relay refuses (two m= lines for an offer of one). The 2xx is
# still ACKed, then gw1 gets a BYE (a dialog is never left half open on
# the gateway), the caller gets 503, and the CDR says the relay refused.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_answer_bad.xml "$SIP_GW1_PORT"
sip_blackhole gw2watch "$SIP_GW2_PORT"
sip_uac caller uac_503_ring.xml 127.0.0.2
sip_expect caller 20 "the caller gets 503"
sip_expect gw1 20 "gw1's 200 is ACKed, then gw1 gets a BYE"
grep -q "^ACK " "$TL_TMP/gw1.msgs" || tl_fail "gw1's 200 was not ACKed"
grep -q "^BYE " "$TL_TMP/gw1.msgs" || tl_fail "gw1 got no BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 503 and .hangup_by == "relay" and
	(.reason | startswith("media relay failed (answer refused)")) and .connect == null' \
	"CDR: 503, the relay refused the answer, never connected"
[ -s "$TL_TMP/gw2watch.out" ] && tl_fail "gw2 was tried after gw1 answered"
tl_wait_for 5 "no call left" sip_no_calls
# The relay is still up for the next call.
r=$(sip_ctl --json status) || tl_fail "status"
tl_assert_json "$r" '[.relays[] | select(.name == "r1" and .up == true)] | length == 1' "relay r1 still up (an answer it refused is not a relay failure)"
sip_controller_stop
tl_relayd_stop
tl_pass
