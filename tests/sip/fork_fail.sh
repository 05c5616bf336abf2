#!/bin/bash
# run-also: asan
#
# Parallel forking when contacts fail (issue 15), three phones of one
# account on 127.0.7.2, .3, .4:
#  1. all three refuse (486, 480, 503): the caller gets the best answer
#     of RFC 3261 16.7 (the lowest class; 486 before 480), once all are in;
#  2. one declines with 603 while two ring: the caller gets 603 at once,
#     the two ringing get CANCEL;
#  3. the caller cancels mid-fork: one phone ignores our CANCEL and
#     answers 200 (it gets ACK and BYE), one ends with 487, one never
#     ends its INVITE (dropped 5 s later), one has no listener at all
#     (its transport fails); the call ends cleanly (487 to the caller,
#     nothing left, no sanitizer report);
#  3b. the controller hangs up mid-fork (control socket): 480 to the
#     caller, CANCEL with the operator's Q.850 Reason to every phone;
#  4. "forking": "sequential" still rings one contact after another.
#  5. every contact busy with diversion on busy: diverted once, on the
#     set's answer.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
CONF='.accounts = [{username: "alice", password: "apass"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}'
sip_controller_start "$CONF"

P=127.0.7
for i in 2 3 4; do
	sip_register "reg$i" alice apass "$P.$i" "$SIP_GW3_PORT" 60
done
# uas_code CODE: a phone that refuses with CODE at once.
uas_code() {
	sed -e "s|SIP/2.0 503 Service Unavailable|SIP/2.0 $1 Refused|" "$SIP_SCEN/uas_503.xml" >"$TL_TMP/uas_$1.xml"
}
# uac_code CODE: a caller that expects CODE (after ringing, maybe).
uac_code() {
	sed -e "s|<recv response=\"403\"/>|<recv response=\"180\" optional=\"true\"/>\n  <recv response=\"$1\"/>|" \
		"$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_$1.xml"
}
n=0

# 1. 486, 480, 503: the caller gets 486.
for c in 486 480 503 603; do uas_code $c; done
uac_code 486
uac_code 603
sip_phone ph2 "$TL_TMP/uas_486.xml" $P.2 "$SIP_GW3_PORT"
sip_phone ph3 "$TL_TMP/uas_480.xml" $P.3 "$SIP_GW3_PORT"
sip_phone ph4 "$TL_TMP/uas_503.xml" $P.4 "$SIP_GW3_PORT"
sip_uac_from caller1 "$TL_TMP/uac_486.xml" 127.0.0.2 alice
sip_expect caller1 20 "the caller gets 486 (the best of 486, 480, 503)"
for i in 2 3 4; do sip_expect "ph$i" 10 "phone .$i refuses"; done
n=$((n + 1))
sip_cdr_wait $n
tl_assert_json "$SIP_CDR_LAST" '.final_code == 486 and .forks == 3 and ([.attempts[].code] | sort == [480, 486, 503])' \
	"CDR: 486 to the caller, each fork's code"

# 2. .2 declines with 603 while .3 and .4 ring: 603 at once, CANCELs.
sip_phone ph2b "$TL_TMP/uas_603.xml" $P.2 "$SIP_GW3_PORT"
sip_phone ph3b uas_ring.xml $P.3 "$SIP_GW3_PORT"
sip_phone ph4b uas_ring.xml $P.4 "$SIP_GW3_PORT"
sip_uac_from caller2 "$TL_TMP/uac_603.xml" 127.0.0.2 alice
sip_expect caller2 20 "the caller gets 603"
sip_expect ph3b 10 "phone .3 is cancelled after the 603"
sip_expect ph4b 10 "phone .4 is cancelled after the 603"
n=$((n + 1))
sip_cdr_wait $n
tl_assert_json "$SIP_CDR_LAST" '.final_code == 603 and ([.attempts[].code] | sort == [487, 487, 603])' "CDR: 603, two cancelled"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

# 3. The caller cancels while .2 ignores CANCEL (then answers), .3 rings,
# .5 (registered for this part only) never ends its INVITE and .4 is not
# there at all.
sip_register reg5 alice apass "$P.5" "$SIP_GW3_PORT" 60
sip_phone ph2c uas_ring_answer_late.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3c uas_ring.xml $P.3 "$SIP_GW3_PORT"
sip_phone ph5c uas_ring_deaf.xml $P.5 "$SIP_GW3_PORT"
sip_uac_from caller3 uac_cancel.xml 127.0.0.2 alice
sip_expect caller3 20 "the caller's CANCEL gets 200 and 487"
sip_expect ph2c 15 "the phone answering after CANCEL gets ACK and BYE"
sip_expect ph3c 15 "phone .3 is cancelled"
n=$((n + 1))
sip_cdr_wait $n
tl_assert_json "$SIP_CDR_LAST" '.final_code == 487 and .hangup_by == "caller" and .connect == null' "CDR: the caller cancelled"
tl_assert_json "$SIP_CDR_LAST" "[.attempts[] | select(.contact == \"sip:alice@$P.4:$SIP_GW3_PORT\") | .code] == [503]" \
	"CDR: the contact without a listener failed with 503 (transport error)"
tl_wait_for 10 "no call left in the controller and the relay" sip_no_calls
grep -q "contact .*answered 200 too late: ACK and BYE" "$TL_TMP/controller.log" ||
	tl_fail "the controller did not log the late 2xx"
grep -q "contact .*: no final answer to our CANCEL in time: dropped" "$TL_TMP/controller.log" ||
	tl_fail "the deaf contact was not dropped by the guard"
tl_assert_json "$SIP_CDR_LAST" "[.attempts[] | select(.contact == \"sip:alice@$P.5:$SIP_GW3_PORT\") | .code] == [487]" \
	"CDR: the deaf contact counts as cancelled"
tl_kill_pid "${TL_PID[ph5c]}" 1
sip_register unreg5 alice apass "$P.5" "$SIP_GW3_PORT" 0

# 3b. The controller hangs up mid-fork (control socket): 480 to the
# caller, both ringing phones get CANCEL with the Q.850 Reason.
sed -e 's|<recv response="403"/>|<recv response="180" optional="true"/>\n  <recv response="480"/>|' \
	"$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_480r.xml"
sip_phone ph2e uas_ring.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3e uas_ring.xml $P.3 "$SIP_GW3_PORT"
sip_uac_from caller5 "$TL_TMP/uac_480r.xml" 127.0.0.2 alice
ringing() { grep -q "^SIP/2.0 180" "$TL_TMP/ph2e.msgs" 2>/dev/null && grep -q "^SIP/2.0 180" "$TL_TMP/ph3e.msgs" 2>/dev/null; }
tl_wait_for 10 "both phones to ring" ringing
call=$(sip_ctl --json calls | jq -r '.calls[0].call_id')
sip_ctl hangup "$call" "operator test" >/dev/null || tl_fail "hangup $call"
sip_expect caller5 20 "the caller gets 480 on the controller's hangup"
for p in ph2e ph3e; do
	sip_expect $p 10 "$p is cancelled on the controller's hangup"
	awk '/^CANCEL /{c=1} c && /^Reason: Q.850;cause=16;text="operator test"/{f=1} /^$/{c=0} END{exit !f}' "$TL_TMP/$p.msgs" ||
		tl_fail "$p's CANCEL has no Reason with the operator's text"
done
n=$((n + 1))
sip_cdr_wait $n
tl_assert_json "$SIP_CDR_LAST" '.final_code == 480 and .hangup_by == "controller" and .reason == "operator test"' "CDR: controller hangup"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

# 4. Sequential: the newest contact (.4) first; its 480 moves on to .3,
# which answers; .2 is never tried.
sip_controller_config "$CONF | .accounts[0].forking = \"sequential\""
sip_ctl reload >/dev/null || tl_fail "reload with forking sequential failed"
uas_code 480
sip_phone ph4d "$TL_TMP/uas_480.xml" $P.4 "$SIP_GW3_PORT"
sip_phone ph3d uas_answer.xml $P.3 "$SIP_GW3_PORT"
sip_uac_from caller4 uac_call.xml 127.0.0.2 alice
sip_expect caller4 20 "the sequential call completes"
sip_expect ph4d 10 "phone .4 refuses with 480"
sip_expect ph3d 10 "phone .3 answers"
n=$((n + 1))
sip_cdr_wait $n
tl_assert_json "$SIP_CDR_LAST" ".final_code == 200 and .forks == null and .contact == \"sip:alice@$P.3:$SIP_GW3_PORT\" and ([.attempts[].code] == [480, 200])" \
	"CDR: .4 (480), then .3 (200), one after another"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

# 5. Parallel again, with diversion on busy: all three say 486, the set's
# answer (486) diverts the call once to 441234567, which gw1 answers.
sip_controller_config "$CONF | .accounts[0].diversion = {busy: \"441234567\"}"
sip_ctl reload >/dev/null || tl_fail "reload with diversion failed"
for i in 2 3 4; do sip_phone "ph${i}f" "$TL_TMP/uas_486.xml" $P.$i "$SIP_GW3_PORT"; done
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac_from caller6 uac_call.xml 127.0.0.2 alice
sip_expect caller6 20 "the busy call is diverted and answered"
sip_expect gw1 10 "the diversion target gets the call"
grep -q "^Diversion: .*reason=user-busy" "$TL_TMP/gw1.msgs" || tl_fail "the diverted INVITE has no Diversion (user-busy)"
n=$((n + 1))
sip_cdr_wait $n
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .diverted_by == "alice" and .gateway == "gw1"
	and ([.attempts[].code] == [486, 486, 486, 200])' "CDR: three busy forks, then the diversion"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
