#!/bin/bash
# run-also: asan
#
# The clock of a gateway attempt (issue 13, "Timers"; controller/attempt.c):
# - gw1 answers 100 Trying and then nothing: after invite_timeout (2 s)
#   gw1 gets a CANCEL and gw2 takes the call (Sofia consumes the 100, so
#   it cannot stop the timer);
# - gw1 rings (180) and never answers: after the route's ring_timeout
#   (3 s) the caller gets 480, gw1 a CANCEL, and gw2 is never tried;
# - the caller cancels while gw1 rings, and gw1 ignores our CANCEL and
#   keeps sending 180: the late provisionals must not cancel the 5 s
#   guard; gw1's leg is dropped and the call ends with its CDR.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.routes[0].ring_timeout = 3'

tl_log "gw1: 100 then silence -> invite_timeout -> gw2"
sip_uas gw1 uas_100.xml "$SIP_GW1_PORT"
sip_uas gw2 uas_answer.xml "$SIP_GW2_PORT"
t0=$(tl_now_us)
sip_uac caller uac_call.xml 127.0.0.2 -d 300
sip_expect caller 30 "the call completes through gw2 after gw1's timeout"
t1=$(tl_now_us)
sip_expect gw1 10 "gw1 (100 only) got a CANCEL"
sip_expect gw2 10 "gw2 took the call"
[ $((t1 - t0)) -ge 2000000 ] || tl_fail "failover after $(((t1 - t0) / 1000)) ms: before invite_timeout (2 s)"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gw2" and .final_code == 200 and
	.attempts == [{"gateway":"gw1","carrier":"c1","code":408},{"gateway":"gw2","carrier":"c1","code":200}]' \
	"CDR: gw1 timed out, gw2 answered"

tl_log "gw1: 180 then nothing -> ring_timeout -> 480, CANCEL"
tl_wait_for 5 "gw1's port to close" bash -c "! ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q ."
tl_wait_for 5 "gw2's port to close" bash -c "! ss -ulnH 'sport = :$SIP_GW2_PORT' | grep -q ."
sip_uas gw1b uas_ring.xml "$SIP_GW1_PORT"
sip_blackhole gw2watch "$SIP_GW2_PORT"
t0=$(tl_now_us)
sip_uac caller2 uac_480.xml 127.0.0.2
sip_expect caller2 20 "the caller gets 480 after the ring time"
t1=$(tl_now_us)
sip_expect gw1b 10 "gw1 got a CANCEL (then 487, ACK)"
[ $((t1 - t0)) -ge 3000000 ] || tl_fail "480 after $(((t1 - t0) / 1000)) ms: before ring_timeout (3 s)"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 480 and .hangup_by == "controller" and
	.reason == "ring timeout" and (.attempts | length) == 1 and .attempts[0].gateway == "gw1"' \
	"CDR: ring timeout, one attempt"
[ -s "$TL_TMP/gw2watch.out" ] && tl_fail "gw2 was tried after the ring timeout"
tl_kill_pid "${TL_PID[gw2watch]}" 1

tl_log "caller cancels; gw1 ignores the CANCEL and keeps ringing -> guard"
tl_wait_for 5 "gw1's port to close" bash -c "! ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q ."
sip_uas gw1c uas_ring_deaf.xml "$SIP_GW1_PORT"
sip_uac caller3 uac_cancel.xml 127.0.0.2
sip_expect caller3 15 "the caller's CANCEL is answered 200 and 487"
# Guard 5 s after the CANCEL; the gateway sends 180s for 5.5 s after it.
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.final_code == 487 and .hangup_by == "caller"' "CDR: the caller cancelled"
grep -q "CANCEL sip:" "$TL_TMP/gw1c.msgs" || tl_fail "gw1 never got our CANCEL"
n180=$(grep -c "SIP/2.0 180 Ringing" "$TL_TMP/gw1c.msgs")
[ "$n180" -ge 3 ] || tl_fail "gw1 sent only $n180 180s: the late provisionals were not tested"
tl_wait_for 10 "no call left" sip_no_calls
tl_reap gw1c 15
sip_controller_stop
tl_relayd_stop
tl_pass
