#!/bin/bash
# run-also: asan
#
# BYE hijack (issue 12): Sofia matches an in-dialog request without a To
# tag to the dialog with the same Call-ID and From tag. A victim on
# 127.0.0.2 (trunk source) is in a call for 15 s; attackers, from a source
# that is no trunk (127.0.0.7) and from another source of the victim's own
# trunk (127.0.0.5), send BYEs without To tag carrying the victim's
# Call-ID and From tag (CSeqs up to the victim's next, as one who watched
# the INVITE would). Neither gets a 200 (no answer at all while the call is
# up), the call stays connected, the gateway gets no BYE before the
# victim's own, and the CDR shows the victim's BYE after the full 15 s.
# A BYE with the right tags but from a source outside the victim's trunk
# gets nothing either. BYEs without To tag are dropped before the SIP
# stack (sipfilter.c: logged, never held). Then, on a second call, 33
# BYEs with the right tags from outside the trunk: the controller hangs
# that call up rather than let the stack hold more.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.trunks[0].sources += ["127.0.0.5"]'
CID=hijack-call@victim
sed -e 's/tag=\[pid\]SIPpTag00\[call_number\]/tag=victimtag/' "$SIP_SCEN/uac_call.xml" >"$TL_TMP/uac_victim.xml"
grep -q 'tag=victimtag' "$TL_TMP/uac_victim.xml" || tl_fail "cannot build the fixed From-tag scenario"

bye() {
	python3 "$TL_ROOT/tests/lib/sipraw.py" "$1" 127.0.0.1 "$SIP_CTL_PORT" --method BYE \
		--call-id "$CID" --from-tag victimtag --wait 1.5 "${@:2}"
}
connected() {
	sip_ctl --json calls | jq -e --arg cid "$CID" \
		'.calls | length == 1 and .[0].call_id == $cid and .[0].state == "connected"' >/dev/null
}

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT" -m 2
t0=$(date +%s.%N)
sip_uac_from victim "$TL_TMP/uac_victim.xml" 127.0.0.2 441234567 -d 15000 -cid_str "$CID"
tl_wait_for 10 "the victim's call to be connected" connected

# CSeq 1 and 2 (higher ones: cseq_poison.sh).
cseq=1
for src in 127.0.0.7 127.0.0.5; do
	r=$(bye $src --cseq $cseq)
	cseq=$((cseq + 1))
	tl_log "BYE without To tag from $src: $r"
	tl_assert_json "$r" '[.codes[] | select(. >= 200 and . < 300)] == []' \
		"a BYE without To tag from $src does not end the victim's dialog"
	connected || tl_fail "the victim's call is gone after a BYE without To tag from $src"
done
# The controller's own tag, as an eavesdropper would learn it from the 200.
TOTAG=$(grep -m1 -A12 '^SIP/2.0 200' "$TL_TMP/victim.msgs" | sed -n 's/^To:.*;tag=\([^; ]*\).*/\1/p' | tr -d '\r')
if [ -n "$TOTAG" ]; then
	r=$(bye 127.0.0.7 --to-tag "$TOTAG" --cseq 2)
	tl_log "BYE with the right tags from 127.0.0.7: $r"
	tl_assert_json "$r" '[.codes[] | select(. >= 200 and . < 300)] == []' \
		"a BYE with the right tags from outside the victim's trunk does not end the call"
	connected || tl_fail "the victim's call is gone after a BYE from outside its trunk"
else
	tl_log "no To tag found in the victim's messages: the source check is not exercised"
fi
grep -q "BYE $CID from 127.0.0.7: no To tag in call $CID's dialog (CSeq 1): dropped before the stack" \
	"$TL_TMP/controller.log" || tl_fail "the refused BYE is not logged"

# The victim hangs up after its 15 s, normally.
sip_expect victim 30 "the victim's call ends normally with its own BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "caller" and .reason == "bye" and .duration >= 14.5' \
	"the CDR shows the victim's BYE after the full call"
el=$(echo "$(date +%s.%N) - $t0" | bc)
tl_log "victim's call took ${el}s"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls

# BYEs without To tag never reach the stack (sipfilter.c): many of them
# leave the call up and the stack holds none.
CID=flood-call@victim
sip_uac_from victim2 "$TL_TMP/uac_victim.xml" 127.0.0.2 441234567 -d 90000 -cid_str "$CID"
tl_wait_for 10 "the second call to be connected" connected
for ((i = 1; i <= 5; i++)); do
	bye 127.0.0.7 --cseq $((i + 1)) --wait 0.02 >/dev/null
done
tl_wait_for 5 "5 BYEs without To tag dropped" eval \
	'[ "$(grep -c "BYE $CID from 127.0.0.7: no To tag" "$TL_TMP/controller.log")" -ge 5 ]'
connected || tl_fail "the call is gone after 5 BYEs without To tag"
# BYEs with the right tags from outside the trunk do reach the stack and
# stay pending there while their call lasts: past 32 on one call, the
# controller hangs the call up rather than hold more.
TOTAG=$(grep -m1 -A12 '^SIP/2.0 200' "$TL_TMP/victim2.msgs" | sed -n 's/^To:.*;tag=\([^; ]*\).*/\1/p' | tr -d '\r')
[ -n "$TOTAG" ] || tl_fail "no To tag in the second victim's messages"
for ((i = 1; i <= 32; i++)); do
	bye 127.0.0.7 --to-tag "$TOTAG" --cseq $((i + 1)) --wait 0.02 >/dev/null
done
tl_wait_for 5 "32 refused BYEs logged" eval \
	'[ "$(grep -c "call $CID: BYE from 127.0.0.7, not a source" "$TL_TMP/controller.log")" -ge 32 ]'
connected || tl_fail "the call is gone after 32 refused BYEs"
r=$(bye 127.0.0.7 --to-tag "$TOTAG" --cseq 40 --wait 1)
tl_log "the 33rd BYE: $r"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.call_id == "'"$CID"'" and .hangup_by == "controller" and (.reason | test("too many BYEs"))' \
	"the 33rd refused BYE makes the controller hang the call up"
tl_reap victim2 30 || true
sip_expect gw1 30 "the gateway gets the controller's BYE"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
