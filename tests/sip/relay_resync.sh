#!/bin/bash
# run-also: asan
#
# Lost relay events are not lost calls: between the controller and the
# relay sits a proxy that drops every `timeout` event and passes the
# `resync` event a relay sends after dropping events for a subscriber
# that fell behind. The call's media times out at the relay (1.5 s, no
# RTP); the controller, told only "events were lost", queries its calls
# on that relay, finds this one gone and hangs it up: BYE to both legs,
# CDR hangup_by relay.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
sip_relayd_start '.timeouts.setup = 1.5 | .timeouts.inactivity = 1.5'
PROXY=$TL_TMP/proxy.sock
tl_spawn proxy - python3 "$(dirname "$0")/../lib/evproxy.py" "$PROXY" "$TL_SOCK" 90
tl_wait_for 5 "the event proxy" test -S "$PROXY"
sip_controller_start ".relays[0].socket = \"$PROXY\""

sip_uas gw uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_waitbye.xml 127.0.0.2
sip_expect caller 30 "the caller gets a BYE although the timeout event was lost"
sip_expect gw 30 "the gateway gets a BYE although the timeout event was lost"
grep -q dropped "$TL_TMP/proxy.out" || tl_fail "the proxy dropped no timeout event"
grep -q 'resync' "$TL_TMP/controller.log" || tl_fail "the controller did not log the resync"
grep -A12 '^BYE ' "$TL_TMP/caller.msgs" | grep -qi '^Reason: .*media timeout' ||
	tl_fail "caller's BYE has no Reason: media timeout"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "relay" and (.reason | startswith("media timeout"))' \
	"CDR: the relay's timeout, found by resync"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
