#!/bin/bash
# run-also: asan
#
# Dialog CSeq poisoning (issue 12): Sofia matches a request without To
# tag to the dialog with the same Call-ID and From tag and takes its
# CSeq as the dialog's remote CSeq before the controller sees it, even
# when the controller refuses the request. One who saw a victim's INVITE
# sends such requests with high CSeqs, from a source that is no trunk
# (127.0.0.7) and from the victim's own trunk address (127.0.0.2, any
# port); then the victim's own BYE (CSeq 2) got "500 out of order", the
# call could not be hung up and kept billing. The controller's SIP filter
# now drops them before the stack: the attacker gets nothing, the victim's
# BYE gets 200, the gateway gets its BYE, the CDR says the caller hung
# up, and the drops are counted and logged. The victim's INVITE itself
# (a retransmission, the INVITE's CSeq) still passes.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
CID=poison-call@victim
sed -e 's/tag=\[pid\]SIPpTag00\[call_number\]/tag=victimtag/' "$SIP_SCEN/uac_call.xml" >"$TL_TMP/uac_victim.xml"
grep -q 'tag=victimtag' "$TL_TMP/uac_victim.xml" || tl_fail "cannot build the fixed From-tag scenario"
raw() {
	python3 "$TL_ROOT/tests/lib/sipraw.py" "$1" 127.0.0.1 "$SIP_CTL_PORT" \
		--call-id "$CID" --from-tag victimtag --wait 0.5 "${@:2}"
}
connected() {
	sip_ctl --json calls | jq -e --arg cid "$CID" \
		'.calls | length == 1 and .[0].call_id == $cid and .[0].state == "connected"' >/dev/null
}

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac_from victim "$TL_TMP/uac_victim.xml" 127.0.0.2 441234567 -d 20000 -cid_str "$CID"
tl_wait_for 10 "the victim's call to be connected" connected

n=0
for a in "127.0.0.7 BYE 1000" "127.0.0.7 INFO 2000" "127.0.0.2 OPTIONS 3000" "127.0.0.2 BYE 4000" \
	"127.0.0.7 INVITE 5000"; do
	set -- $a
	r=$(raw "$1" --method "$2" --cseq "$3")
	n=$((n + 1))
	tl_log "$2 without To tag, CSeq $3, from $1: $r"
	tl_assert_json "$r" '.codes == []' "$2 without To tag from $1 gets no answer"
	connected || tl_fail "the victim's call is gone after $2 from $1"
done
st=$(sip_ctl --json status)
tl_assert_json "$st" ".sip_filter.dropped_no_to_tag == $n and .sip_filter.held_in_stack == 0" \
	"the filter dropped all $n before the stack"
grep -q "BYE $CID from 127.0.0.7: no To tag in call $CID's dialog (CSeq 1000): dropped before the stack" \
	"$TL_TMP/controller.log" || tl_fail "the poisoning attempt is not logged"

# The victim hangs up after its 20 s with CSeq 2: 200, not 500.
sip_expect victim 30 "the victim's own BYE (CSeq 2) gets 200 after the poisoning attempts"
sip_expect gw1 30 "the gateway gets the controller's BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.call_id == "'"$CID"'" and .hangup_by == "caller" and .reason == "bye" and .duration >= 19.5' \
	"the CDR names the caller's BYE after the full call"
tl_wait_for 5 "no call left in the controller and the relay" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
