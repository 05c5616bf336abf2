#!/bin/bash
# run-also: asan
#
# INFO mid-call (DTMF, RFC 6086) is passed to the other leg: the gateway
# gets the caller's INFO with the same Content-Type and body
# (application/dtmf-relay "Signal=5 Duration=160", then application/dtmf
# "5"), and the caller gets the gateway's own answers (200, then 415:
# not an answer made up on the way). The call then ends normally.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uas gw1 uas_info.xml "$SIP_GW1_PORT"
sip_uac caller uac_info.xml 127.0.0.2 -d 500
sip_expect gw1 30 "the gateway gets both INFOs with their Content-Type and body"
sip_expect caller 30 "the caller gets the gateway's 200 and 415"
[ "$(grep -c '^INFO ' "$TL_TMP/gw1.msgs")" = 2 ] || tl_fail "the gateway got $(grep -c '^INFO ' "$TL_TMP/gw1.msgs") INFOs, expected 2"
body=$(sed -n '/^INFO /,/^-----/p' "$TL_TMP/gw1.msgs" | tr -d '\r' | grep -E '^(Signal|Duration)=')
[ "$body" = $'Signal=5\nDuration=160' ] || tl_fail "the dtmf-relay body the gateway got: '$body'"
types=$(tr -d '\r' <"$TL_TMP/gw1.msgs" | grep '^Content-Type: application/dtmf')
[ "$types" = $'Content-Type: application/dtmf-relay\nContent-Type: application/dtmf' ] ||
	tl_fail "the INFOs' Content-Types at the gateway: '$types'"
grep -q '^SIP/2.0 415 ' "$TL_TMP/caller.msgs" || tl_fail "the caller did not get the gateway's 415"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .hangup_by == "caller" and .reason == "bye"' "CDR"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
