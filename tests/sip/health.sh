#!/bin/bash
# run-also: asan
#
# Gateway health (OPTIONS probing). gw1 (127.0.6.1) is probed every 1 s
# (timeout 0.5 s, down after 1 failure, up after 2 successes) and
# answers OPTIONS as its mode file says; gw2 is not probed. gw1 is up
# with code and latency on the control socket; when it goes silent it is
# marked down within two probe intervals (plus the timeout), and a call
# then goes straight to gw2 without trying gw1; when it answers again it
# comes back after two successes; a 503 (not an accepted code) takes it
# down too. Transitions are logged.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
GW1=$SIP_NET6.1
sip_gw_mode "$TL_TMP/gw1.mode" 200
sip_controller_start ".trunks[0].sources = [\"$SIP_NET6.2\"] |
	.gateways[0].host = \"$GW1\" |
	.gateways[0].probe = {interval: 1, timeout: 0.5, up_after: 2, codes: [200, 404]}"
tl_spawn gw1 - python3 "$TL_ROOT/tests/lib/sipudp.py" gw "$GW1" "$SIP_GW1_PORT" "$TL_TMP/gw1.mode"
tl_wait_for 20 "gw1 (OPTIONS responder) to listen" sip_listening "$SIP_GW1_PORT"

tl_wait_for 10 "gw1 up with code 200" sip_trunks \
	'.gateways[] | select(.name == "gw1") | .state == "up" and .last_code == 200 and .latency_ms > 0 and .probes >= 1'
sip_trunks '.gateways[] | select(.name == "gw2") | .state == "unprobed"' || tl_fail "gw2 is not probed"
# The table says so too. Polled: on a loaded machine one probe may miss
# its 0.5 s between the two reads (gw1 was down again for 2 s).
trunks_text_up() {
	sip_ctl trunks >"$TL_TMP/trunks.txt" && grep -Eq '^gw1 .* up +200 ' "$TL_TMP/trunks.txt"
}
tl_try_for 10 trunks_text_up ||
	tl_fail "trunklinectl trunks: no 'gw1 ... up 200': $(cat "$TL_TMP/trunks.txt")"

tl_log "gw1 goes silent"
sip_gw_mode "$TL_TMP/gw1.mode" silent
t0=$(tl_now_us)
tl_wait_for 10 "gw1 down" sip_trunks '.gateways[] | select(.name == "gw1") | .state == "down" and .last_code == 0'
t1=$(tl_now_us)
tl_log "gw1 down after $(((t1 - t0) / 1000)) ms"
# Within two intervals (the next probe's timeout: at most 1.5 s), with
# 1 s for a loaded machine.
[ $((t1 - t0)) -le 3000000 ] || tl_fail "gw1 took $(((t1 - t0) / 1000)) ms to be marked down"
grep -q 'gateway gw1: up -> down (last probe: no reply)' "$TL_TMP/controller.log" || tl_fail "transition not logged"

tl_log "a call skips gw1 (down) and goes to gw2"
invites_before=$(grep -c '^INVITE' "$TL_TMP/gw1.out")
sip_uas gw2 uas_answer.xml "$SIP_GW2_PORT"
t0=$(tl_now_us)
sip_uac caller uac_call.xml "$SIP_NET6.2" -d 200
sip_expect caller 30 "the call completes through gw2"
sip_expect gw2 10 "gw2 took the call"
t1=$(tl_now_us)
[ $((t1 - t0)) -lt 2000000 ] || tl_fail "the call took $(((t1 - t0) / 1000)) ms: gw1 was tried (invite_timeout 2 s)"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.gateway == "gw2" and .final_code == 200 and .attempts == [{"gateway":"gw2","carrier":"c1","code":200}]' \
	"CDR: only gw2 was tried"
[ "$(grep -c '^INVITE' "$TL_TMP/gw1.out")" = "$invites_before" ] || tl_fail "gw1 got an INVITE while down"

tl_log "gw1 answers again: up after two successes"
sip_gw_mode "$TL_TMP/gw1.mode" 404	# an accepted code (codes: [200, 404])
tl_wait_for 10 "gw1 up again" sip_trunks '.gateways[] | select(.name == "gw1") | .state == "up" and .last_code == 404'
grep -q 'gateway gw1: down -> up' "$TL_TMP/controller.log" || tl_fail "down -> up not logged"

tl_log "gw1 answers 503 (not accepted): down"
sip_gw_mode "$TL_TMP/gw1.mode" 503
tl_wait_for 10 "gw1 down on 503" sip_trunks '.gateways[] | select(.name == "gw1") | .state == "down" and .last_code == 503'

tl_log "all gateways of the route down: 503 to the caller"
sip_controller_config ".trunks[0].sources = [\"$SIP_NET6.2\"] |
	.gateways[0].host = \"$GW1\" |
	.gateways[0].probe = {interval: 1, timeout: 0.5, down_after: 2, up_after: 2} |
	.carriers[0].gateways = [\"gw1\"]"
sip_ctl reload >/dev/null || tl_fail "reload failed"
sip_trunks '.gateways[] | select(.name == "gw1") | .state == "down"' || tl_fail "reload lost gw1's state"
sip_uac caller503 uac_503.xml "$SIP_NET6.2"
sip_expect caller503 30 "the caller gets 503 when every gateway is down"

tl_log "bad probe config: file:line: field"
jq '.gateways[0].probe = {interval: 1, timeout: 2}' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad.json" 2>&1) && tl_fail "a timeout longer than the interval was accepted"
grep -Eq 'bad.json:[0-9]+: gateways\[0\]\.probe\.timeout: ' <<<"$out" || tl_fail "unexpected error: $out"

tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
