#!/bin/bash
# run-also: asan
#
# unknown_source "drop" is silent for every method (issue 12). A scanner
# on 127.0.0.6 (no trunk) sends INVITE, OPTIONS, REGISTER, BYE, MESSAGE,
# INFO and a datagram that is not SIP, each three times (the INVITE's
# retransmissions included): nothing at all comes back within 1.5 s, not
# even the stack's "100 Trying" (sent at 200 ms to any INVITE it holds).
# The controller's SIP filter read them off the socket before the stack
# did: its counters say so (datagrams; rejected_unknown counts requests,
# once each), the INVITE is in the log and in the refusal CDRs, and no
# request is held in the stack (held_in_stack 0: no server transaction,
# so nothing can answer 480 when it would have expired, 40 s later).
# Meanwhile the trunk on 127.0.0.2, on the same listener, places a call
# that completes, while the scanner keeps probing.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
REF=$TL_TMP/refused.jsonl
sip_controller_start ".unknown_source = \"drop\" | .refusals = {file: \"$REF\"}"
ATT=127.0.0.6
probe() {
	python3 "$TL_ROOT/tests/lib/sipsilent.py" $ATT 127.0.0.1 "$SIP_CTL_PORT" "$@"
}

r=$(probe --repeat 3 --wait 1.5)
tl_log "scanner: $r"
tl_assert_json "$r" '.sent == 21 and .answers == []' \
	"nothing at all comes back to a source that is no trunk, whatever the method"
st=$(sip_ctl --json status) || tl_fail "status"
tl_log "sip_filter: $(jq -c .sip_filter <<<"$st")"
tl_assert_json "$st" '.sip_filter.sockets >= 1 and
	.sip_filter.dropped_unknown == 18 and .sip_filter.dropped_garbage == 3 and
	.sip_filter.dropped_unknown_by_method == {INVITE: 3, OPTIONS: 3, REGISTER: 3, BYE: 3, MESSAGE: 3, other: 3} and
	.rejected_unknown == 6 and .sip_filter.held_in_stack == 0 and .calls_total == 0' \
	"the filter counted every datagram, each request once, and the stack holds none"
grep -q "INVITE scan-.* from $ATT: no trunk source: dropped before the stack" "$TL_TMP/controller.log" ||
	tl_fail "the dropped INVITE is not logged"
grep -q "no trunk source: dropped$" "$TL_TMP/controller.log" &&
	tl_fail "a request from $ATT reached the stack: $(grep 'no trunk source: dropped$' "$TL_TMP/controller.log" | head -3)"
tl_wait_for 5 "the refusal CDR" test -s "$REF"
tl_assert_json "$(head -n 1 "$REF")" '.final_code == 0 and .reason == "no trunk" and (.source | startswith("127.0.0.6"))' \
	"the dropped INVITE has a refusal CDR (code 0: unanswered)"
[ "$(wc -l <"$REF")" = 1 ] || tl_fail "one refusal line per INVITE, not per retransmission: $(cat "$REF")"

# No collateral: the trunk's call on the same listener, while the scanner
# keeps going.
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml 127.0.0.2 -d 2000
tl_spawn scanner - bash -c "for i in 1 2 3 4 5; do python3 '$TL_ROOT/tests/lib/sipsilent.py' $ATT 127.0.0.1 $SIP_CTL_PORT --wait 0.3; done"
sip_expect caller 30 "the trunk's call completes next to the scanner"
sip_expect gw1 30 "the gateway gets the trunk's call"
tl_reap scanner 30
grep -q '"answers": \[\]' "$TL_TMP/scanner.out" || tl_fail "no scanner output"
grep -v '"answers": \[\]' "$TL_TMP/scanner.out" | grep -q answers &&
	tl_fail "the scanner got answers during the call: $(cat "$TL_TMP/scanner.out")"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller"' "the trunk's call has its CDR"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.sip_filter.passed > 0 and .sip_filter.dropped_unknown == 48 and .sip_filter.held_in_stack == 0' \
	"the trunk's datagrams passed, the scanner's did not"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
