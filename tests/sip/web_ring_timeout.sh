#!/bin/bash
# run-also: asan
#
# A SIP call to a web user that does not answer (issue 14): the browser
# rings ("incoming") and never answers; after ring_timeout (3 s here,
# attempt.c's clock, the same as a gateway's ringing) the caller gets 480,
# the browser gets "ended" (487, "ring timeout"), the relay session goes
# and the CDR says 480, "ring timeout", attempt web:alice 480.
#
# On the parent commit the browser's ringing had no clock: the browser
# rang until the caller gave up (SIPp times out waiting for the 480).
. "$(dirname "$0")/../lib/sip.sh"
PY=/usr/bin/python3
$PY -c 'import websockets' 2>/dev/null || tl_skip "python3-websockets not installed"
sip_init
WEB=127.0.0.1:$((SIP_BASE + 8))
sip_relayd_start
tl_rpc_ok '{"cmd":"hello"}' "relay hello"
jq -e '.features | index("webrtc") != null' >/dev/null <<<"$TL_REPLY" ||
	tl_skip "relayd's hello features lack \"webrtc\": calls to a browser need WebRTC legs on the relay"
sip_relay_webrtc_ready	# before the first call: tests/lib/sip.sh
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .ring_timeout = 3 | .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

tl_spawn web - $PY "$TL_ROOT/tests/lib/webrtc_browser.py" "ws://$WEB/ws" incoming alice apass \
	--wait 15 --out "$TL_TMP/web.json"
tl_wait_for 10 "the browser to log in" grep -q "logged in as alice" "$TL_TMP/controller.log"
SIP_SERVICE=alice sip_uac caller uac_480.xml 127.0.0.2
sip_expect caller 20 "the caller gets 480 after the ring timeout"
tl_reap web 20 || tl_fail "the browser side failed: $(cat "$TL_TMP/web.json") $(cat "$TL_TMP/web.err")"
W=$(cat "$TL_TMP/web.json")
tl_log "browser: $W"
tl_assert_json "$W" '.incoming == true and .messages[-1].type == "ended" and .messages[-1].code == 487
	and .messages[-1].reason == "ring timeout"' "the browser rang, then got ended 487 \"ring timeout\""
# From the caller's INVITE (SIPp's clock) to the browser's "ended" (the
# same host's): the ring started after the one and a late reading only
# delays the other, so 3 s is a floor; from the browser's own reading of
# "incoming", late under load, it was not (fork_web_phones: 1 s read as
# 0.77 s).
T_INV=$(sip_msg_time caller '^INVITE ')
tl_assert_json "$W" ".ended_wall - $T_INV >= 2.9 and .ended_wall - $T_INV < 10" "the browser rang for the ring timeout (3 s)"
grep -q '^SIP/2.0 180' "$TL_TMP/caller.msgs" || tl_fail "the caller never heard ringing"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 480 and .reason == "ring timeout" and .hangup_by == "controller"
	and .attempts[-1].gateway == "web:alice" and .attempts[-1].code == 480' "the CDR: 480, ring timeout"
tl_wait_for 10 "no call left" sip_no_calls
tl_rpc_ok '{"cmd":"stats"}' "relay stats"
tl_assert_json "$TL_REPLY" '.sessions == 0' "the relay session is gone"
sip_controller_stop
tl_pass
