#!/bin/bash
# run-also: asan
#
# Call diversion of local accounts (issue 6). alice diverts everything to
# 442000 (routed by LCR to gw1); bob, registered at 127.0.7.4, diverts to
# carol (registered at 127.0.7.5) when busy (486) or when he does not
# answer within 1 s. The target sees a Diversion header naming the
# diverting account with the reason, and the CDR charges that account
# (diverted_by). dave, never registered, diverts at once (unavailable).
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
BOB=127.0.7.4
CAROL=127.0.7.5
sip_controller_start '.accounts = [
		{username: "alice", password: "apass", diversion: {unconditional: "442000"}},
		{username: "bob", password: "bpass", diversion: {busy: "carol", no_answer: "carol", no_answer_timeout: 1}},
		{username: "carol", password: "cpass"},
		{username: "dave", password: "dpass", diversion: {no_answer: "442001"}}]
	| .invite_timeout = 5'
sip_register regbob bob bpass $BOB "$SIP_GW3_PORT" 60
sip_register regcarol carol cpass $CAROL "$SIP_GW2_PORT" 60
sed -e 's/503 Service Unavailable/486 Busy Here/' "$SIP_SCEN/uas_503.xml" >"$TL_TMP/uas_486.xml"

# 1. Unconditional: alice's call goes to 442000 at gw1.
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac_from c1 uac_call.xml 127.0.0.2 alice
sip_expect c1 30 "the call to alice completes (diverted)"
sip_expect gw1 30 "gw1 gets alice's diverted call"
grep -q "^INVITE sip:442000@" "$TL_TMP/gw1.msgs" || tl_fail "the diverted call is not for 442000"
grep -qi "^Diversion: <sip:alice@[^>]*>;reason=unconditional" "$TL_TMP/gw1.msgs" || tl_fail "no unconditional Diversion header at the target"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.diverted_by == "alice" and .gateway == "gw1" and .final_code == 200 and .numbers.called == "442000"' "CDR of the unconditional diversion"

# 2. Busy: bob answers 486, carol gets the call.
sip_phone bob1 "$TL_TMP/uas_486.xml" $BOB "$SIP_GW3_PORT"
sip_phone carol1 uas_answer.xml $CAROL "$SIP_GW2_PORT"
sip_uac_from c2 uac_call.xml 127.0.0.2 bob
sip_expect c2 30 "the call to busy bob completes at carol"
sip_expect bob1 30 "bob's phone was tried and said busy"
sip_expect carol1 30 "carol gets bob's busy diversion"
grep -qi "^Diversion: <sip:bob@[^>]*>;reason=user-busy" "$TL_TMP/carol1.msgs" || tl_fail "no user-busy Diversion header at carol"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.diverted_by == "bob" and .gateway == "account:carol" and .final_code == 200 and ([.attempts[].code] == [486, 200])' "CDR of the busy diversion"

# 3. No answer: bob rings, after 1 s he is cancelled and carol answers.
sip_phone bob2 uas_ring.xml $BOB "$SIP_GW3_PORT"
sip_phone carol2 uas_answer.xml $CAROL "$SIP_GW2_PORT"
sip_uac_from c3 uac_call.xml 127.0.0.2 bob
sip_expect c3 30 "the call to bob completes at carol after no answer"
sip_expect bob2 30 "bob's ringing phone is cancelled"
sip_expect carol2 30 "carol gets bob's no-answer diversion"
grep -qi "^Diversion: <sip:bob@[^>]*>;reason=no-answer" "$TL_TMP/carol2.msgs" || tl_fail "no no-answer Diversion header at carol"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.diverted_by == "bob" and .gateway == "account:carol" and .final_code == 200' "CDR of the no-answer diversion"

# 4. Unavailable: dave has no phone registered; his no-answer target now.
sip_uas gw1b uas_answer.xml "$SIP_GW1_PORT"
sip_uac_from c4 uac_call.xml 127.0.0.2 dave
sip_expect c4 30 "the call to unregistered dave completes at 442001"
sip_expect gw1b 30 "gw1 gets dave's diversion"
grep -qi "^Diversion: <sip:dave@[^>]*>;reason=unavailable" "$TL_TMP/gw1b.msgs" || tl_fail "no unavailable Diversion header"
sip_cdr_wait 4
tl_assert_json "$SIP_CDR_LAST" '.diverted_by == "dave" and .gateway == "gw1" and .numbers.called == "442001"' "CDR of the unavailable diversion"
sip_controller_stop
tl_relayd_stop
tl_pass
