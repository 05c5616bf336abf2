#!/bin/bash
# run-also: asan
#
# Parallel forking, early media and the ring time (issue 15), phones of
# one account on 127.0.7.2, .3 (.4 registered, but not there: its fork
# fails at once):
#  1. .2 sends 183 with SDP at once, .3 a second later: the caller hears
#     the latest one (the relay's B side follows .3: the caller's RTP
#     reaches .3, not .2); .3 then answers, .2 is cancelled;
#  2. ring_timeout (2 s) runs for the whole set from the first 18x: two
#     ringing phones, the caller gets 480, both get CANCEL with
#     Reason cause=480.
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
# .3: 183 with SDP after 1 s, 200 after 2.5 s more.
sed -e 's|<send>|<pause milliseconds="1000"/>\n  <send>|' -e 's|<pause/>|<pause milliseconds="2500"/>|' \
	"$SIP_SCEN/uas_early.xml" >"$TL_TMP/uas_early_late.xml"
grep -q 'milliseconds="2500"' "$TL_TMP/uas_early_late.xml" || tl_fail "cannot build .3's scenario"

# 1. Early media from the latest 18x with SDP.
sip_phone ph2 uas_early_ring.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3 "$TL_TMP/uas_early_late.xml" $P.3 "$SIP_GW3_PORT"
sed -e 's|<recv response="180" optional="true"/>|<recv response="180" optional="true"/>\n  <recv response="183" optional="true"/>|' \
	"$SIP_SCEN/uac_call.xml" >"$TL_TMP/uac_call_2x183.xml"
sip_uac_from caller "$TL_TMP/uac_call_2x183.xml" 127.0.0.2 alice -d 1000
# .3's contact is the call's second candidate (newest registration first).
tl_wait_for 10 "the caller to hear .3's early media" \
	grep -q "the caller hears contact 2's early media" "$TL_TMP/controller.log"
grep -q "the caller hears contact 3's early media" "$TL_TMP/controller.log" ||
	tl_fail "the caller never heard .2's early media first"
q=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json list) || tl_fail "relay list"
SIP_CALL_ID=$(jq -r '.calls[0].call_id' <<<"$q")
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
tl_sink rx3 - -b "$P.3:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 20 -t 5
tl_sink rx2 - -b "$P.2:$SIP_CALLEE_RTP" -e 0 -t 2
tl_gen gena - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 20 -r 100
tl_expect_ok gena 10 "rtpgen caller"
tl_expect_ok rx3 10 "early: caller -> .3 (the latest 183) through the relay"
tl_reap rx2 10
[ "$(jq .received "$TL_TMP/rx2.out")" = 0 ] || tl_fail ".2 still gets the caller's RTP after .3's 183: $(cat "$TL_TMP/rx2.out")"
[ "$(grep -c '^SIP/2.0 183' "$TL_TMP/caller.msgs")" -ge 2 ] || tl_fail "the caller did not get a 183 per early fork"
sip_expect caller 30 "the call answered by .3"
sip_expect ph2 10 ".2 is cancelled"
sip_expect ph3 10 ".3 answers"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" ".final_code == 200 and .contact == \"sip:alice@$P.3:$SIP_GW3_PORT\" and .forks == 3" "CDR: .3 answered"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

# 2. The ring time of the set: 480 after 2 s, CANCEL cause=480 to both.
sip_controller_config "$CONF | .ring_timeout = 2"
sip_ctl reload >/dev/null || tl_fail "reload with ring_timeout 2 failed"
sed -e 's|<recv response="403"/>|<recv response="180" optional="true"/>\n  <recv response="480"/>|' \
	"$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_480.xml"
sip_phone ph2b uas_ring.xml $P.2 "$SIP_GW3_PORT"
sip_phone ph3b uas_ring.xml $P.3 "$SIP_GW3_PORT"
t0=$(date +%s.%N)
sip_uac_from caller2 "$TL_TMP/uac_480.xml" 127.0.0.2 alice
sip_expect caller2 20 "the caller gets 480 at the ring timeout"
t=$(echo "$(date +%s.%N) - $t0" | bc)
tl_log "480 after ${t}s"
[ "$(echo "$t >= 1.8" | bc)" = 1 ] || tl_fail "480 came after ${t}s, before the 2 s ring time"
for p in ph2b ph3b; do
	sip_expect $p 10 "$p is cancelled at the ring timeout"
	awk '/^CANCEL /{c=1} c && /^Reason: SIP;cause=480/{f=1} /^$/{c=0} END{exit !f}' "$TL_TMP/$p.msgs" ||
		tl_fail "$p's CANCEL has no Reason cause=480"
done
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.final_code == 480 and .reason == "ring timeout" and .hangup_by == "controller"' "CDR: ring timeout"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
