#!/bin/bash
#
# demo-sip.sh: a full SIP call through trunkline-controller and
# trunkline-relayd on loopback (make demo-sip; needs sipp).
#
# A PBX (SIPp at 127.0.0.2, trunk "pbx" by source address) calls
# 441234567; the LCR table sends it to carrier gateway gw1 (SIPp at
# 127.0.0.1), which answers. Both SDPs are rewritten to the relay; 3 s of
# RTP flow each way through the relay (rtpgen/rtpsink), the call shows in
# `trunklinectl calls` and in the relay's `query`, the caller hangs up and
# the CDR line is printed. Exit 0 if the call and all the media went
# through.
#
# TL_BUILD=build/asan scripts/demo-sip.sh runs the sanitizer build.
set -u -o pipefail
TL_NAME=demo-sip
TL_BUILD=${TL_BUILD:-build}
# shellcheck source=../tests/lib/sip.sh
. "$(dirname "$0")/../tests/lib/sip.sh"

say() {
	printf '\n== %s\n' "$*"
}

sip_init
say "relayd on 127.0.0.1 (media ports $SIP_MEDIA_MIN-$SIP_MEDIA_MAX), controller on 127.0.0.1:$SIP_CTL_PORT"
sip_relayd_start
sip_controller_start
jq -c '{trunks, gateways, carriers, lcr, routes}' "$TL_TMP/controller.json"

say "gateway gw1 (SIPp UAS) answers; the PBX (SIPp UAC from 127.0.0.2) calls 441234567"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml 127.0.0.2 -d 5000
tl_wait_for 10 "the call to be answered" sip_answered_call
tl_wait_for 5 "the session's ports" sip_session_ports "$SIP_CALL_ID"
sip_ctl calls

say "SDP the gateway received (the relay's address and port, not the PBX's)"
sed -n '/^INVITE /,/^a=sendrecv/p' "$TL_TMP/gw1.msgs" | grep -E '^(INVITE|From|To|c=|m=|o=)'

say "3 s of RTP each way: PBX -> relay:$SIP_A_PORT ... relay:$SIP_B_PORT -> gateway, and back"
tl_sink sink_gw - -b "127.0.0.1:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 150 -t 10
tl_sink sink_pbx - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 150 -t 10
tl_gen gen_pbx - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 150 -r 50
tl_gen gen_gw - -d "127.0.0.1:$SIP_B_PORT" -b "127.0.0.1:$SIP_CALLEE_RTP" -c 150 -r 50
tl_expect_ok gen_pbx 10 "rtpgen PBX"
tl_expect_ok gen_gw 10 "rtpgen gateway"
tl_expect_ok sink_gw 15 "PBX -> gateway RTP"
tl_expect_ok sink_pbx 15 "gateway -> PBX RTP"
echo "PBX -> gateway: $(tl_summary sink_gw | jq -c '{received, lost, bad_source}')"
echo "gateway -> PBX: $(tl_summary sink_pbx | jq -c '{received, lost, bad_source}')"
timeout 5 "$TL_CTL" -s "$TL_SOCK" query "$SIP_CALL_ID"

say "the PBX hangs up; the CDR"
sip_expect caller 30 "the PBX's call"
sip_expect gw1 30 "the gateway's call"
sip_cdr_wait 1
jq . <<<"$SIP_CDR_LAST"
sip_controller_stop
tl_relayd_stop
say "done"
tl_pass
