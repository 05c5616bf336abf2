#!/bin/bash
# run-also: asan
#
# Sources that are no trunk: 403 (the default), and silence when the
# config says unknown_source: drop. A known trunk with no route gets 404.
# Nothing reaches the gateway, no relay session is created.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start
sip_uac unknown uac_403.xml 127.0.0.3
sip_expect unknown 20 "an unknown source gets 403"
sip_cdr_lines 1 && tl_fail "a refused source must not make a CDR"
st=$(sip_ctl --json status) || tl_fail "status"
tl_assert_json "$st" '.rejected_unknown == 1 and .calls_total == 0' "status counts the refusal"
r=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json stats)
tl_assert_json "$r" '.sessions == 0' "no relay session for a refused call"

# A trunk's call that no route matches: 404, one CDR line.
sip_ctl reload >/dev/null || tl_fail "reload"
jq '.routes = [{name: "other", ruri: "^sip:99", lcr: "lcr"}]' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" &&
	mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload with a route that does not match"
sed -e 's/response="403"/response="404"/' -e 's/uac_403/uac_404/' "$SIP_SCEN/uac_403.xml" >"$TL_TMP/uac_404.xml"
tl_spawn noroute - sipp -sf "$TL_TMP/uac_404.xml" -i 127.0.0.2 -p "$SIP_UAC_PORT" -m 1 -nostdin \
	-timeout 30s -s 441234567 -set mport "$SIP_CALLER_RTP" -trace_err -error_file "$TL_TMP/noroute.errors" \
	"127.0.0.1:$SIP_CTL_PORT"
sip_expect noroute 20 "no route: 404"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 404 and .reason == "no route" and .gateway == null' "CDR of the unrouted call"

# unknown_source: drop -> no answer at all (SIPp gives up after its timeout).
jq '.unknown_source = "drop"' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" && mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload with unknown_source drop"
tl_spawn silent - sipp -sf "$SIP_SCEN/uac_403.xml" -i 127.0.0.3 -p "$SIP_UAC_PORT" -m 1 -nostdin \
	-timeout 4s -recv_timeout 3000 -s 441234567 -set mport "$SIP_CALLER_RTP" \
	-trace_msg -message_file "$TL_TMP/silent.msgs" "127.0.0.1:$SIP_CTL_PORT"
tl_reap silent 20
[ "$TL_RC" != 0 ] || tl_fail "with unknown_source drop the caller must get no answer"
# nta itself answers a retransmitted INVITE with 100 Trying (RFC 3261
# 17.2.1); no final response may go out before SIPp gives up and
# CANCELs (which the stack answers, as it must).
sed '/^CANCEL sip:/,$d' "$TL_TMP/silent.msgs" | grep -q "^SIP/2.0 [2-6]" && tl_fail "a final response was sent to a dropped source: $(grep '^SIP/2.0' "$TL_TMP/silent.msgs" | head -3)"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.rejected_unknown == 2' "the dropped request is counted"
sip_controller_stop
tl_relayd_stop
tl_pass
