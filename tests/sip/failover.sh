#!/bin/bash
# run-also: asan
#
# Failover along the candidate list (carrier c1: gw1 priority 1, gw2
# priority 2): gw1 answers 503 -> gw2 answers; gw1 is silent -> after
# invite_timeout (2 s) gw2 answers; gw1 answers 603 -> the caller gets
# 603 and gw2 is never tried (6xx is final).
# The silent gateway comes last: the controller's INVITE transaction to it
# goes on retransmitting after the failover (RFC 3261 timer A, until timer
# B), and once it is gone from the port, the ICMP port unreachable that a
# retransmission draws is queued on the controller's socket and taken by
# Sofia as the answer to the next INVITE to that address: the 603 part
# used to fail so (gw1: 503 "Connection refused", then gw2 silent: 408).
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start

tl_log "gw1 503 -> gw2"
sip_uas gw1 uas_503.xml "$SIP_GW1_PORT"
sip_uas gw2 uas_answer.xml "$SIP_GW2_PORT"
sip_uac caller uac_call.xml 127.0.0.2 -d 300
sip_expect caller 30 "the call completes through gw2"
sip_expect gw1 10 "gw1 refused with 503"
sip_expect gw2 10 "gw2 took the call"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gw2" and .final_code == 200 and
	.attempts == [{"gateway":"gw1","carrier":"c1","code":503},{"gateway":"gw2","carrier":"c1","code":200}]' \
	"CDR: 503 from gw1, then gw2"

tl_log "gw1 603 -> final"
sed -e 's/503 Service Unavailable/603 Decline/' -e 's/uas_503/uas_603/' "$SIP_SCEN/uas_503.xml" >"$TL_TMP/uas_603.xml"
sed -e 's/response="403"/response="603"/' "$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_603.xml"
tl_spawn gw1d - sipp -sf "$TL_TMP/uas_603.xml" -i 127.0.0.1 -p "$SIP_GW1_PORT" -m 1 -nostdin -timeout 30s
tl_wait_for 20 "gw1 (603) to listen" sip_listening "$SIP_GW1_PORT"
sip_blackhole gw2watch "$SIP_GW2_PORT"
tl_spawn caller3 - sipp -sf "$TL_TMP/uac_603.xml" -i 127.0.0.2 -p "$SIP_UAC_PORT" -m 1 -nostdin \
	-timeout 30s -s 441234567 -set mport "$SIP_CALLER_RTP" -trace_err -error_file "$TL_TMP/caller3.errors" \
	"127.0.0.1:$SIP_CTL_PORT"
sip_expect caller3 30 "the caller gets the gateway's 603"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 603 and (.attempts | length) == 1' "CDR: 603 ends the call"
[ -s "$TL_TMP/gw2watch.out" ] && tl_fail "gw2 was tried after a 6xx"
# The silent part binds both ports again: wait until the 603 gateway and
# gw2's watcher are gone.
tl_reap gw1d 10
tl_kill_pid "${TL_PID[gw2watch]}" 1
port_free() { ! sip_listening "$1"; }
tl_wait_for 5 "gw1's port to close" port_free "$SIP_GW1_PORT"
tl_wait_for 5 "gw2's port to close" port_free "$SIP_GW2_PORT"

tl_log "gw1 silent -> timeout -> gw2"
sip_blackhole gw1silent "$SIP_GW1_PORT"
sip_uas gw2b uas_answer.xml "$SIP_GW2_PORT"
t0=$(tl_now_us)
sip_uac caller2 uac_call.xml 127.0.0.2 -d 300
sip_expect caller2 30 "the call completes through gw2 after gw1's timeout"
sip_expect gw2b 10 "gw2 took the call"
t1=$(tl_now_us)
[ $((t1 - t0)) -ge 2000000 ] || tl_fail "failover came before invite_timeout (2 s)"
[ -s "$TL_TMP/gw1silent.out" ] || tl_fail "the silent gateway never got the INVITE"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gw2" and .attempts[0] == {"gateway":"gw1","carrier":"c1","code":408} and .attempts[1].code == 200' \
	"CDR: timeout on gw1, then gw2"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
