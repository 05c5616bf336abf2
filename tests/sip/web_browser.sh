#!/bin/bash
# exclusive
# timeout: 180
#
# Real browsers (issue 14): headless Chromium with a fake microphone loads
# the web phone from the controller and logs in (digest challenge in the
# page). Three calls, one browser process at a time:
#   1. the page calls a number routed to a SIPp gateway that echoes RTP,
#      holds 4 s, sends a DTMF tone and hangs up;
#   2. a SIPp caller (echoing RTP) calls the web user, the page answers;
#   3. two pages (bob and alice) call each other through the gateway.
# Each page's getStats() must show RTP sent and received over a connected
# DTLS transport, and each call's CDR (the relay's counters) packets both
# ways. Needs the relay's WebRTC legs (relayd hello feature "webrtc");
# skipped with the reason otherwise. About 0.5 GB and 5 CPU-s per browser
# (/work/shared/recipes/webrtc-browser/FINDINGS.md); bounded by timeouts.
. "$(dirname "$0")/../lib/sip.sh"
CHROME=${TL_CHROMIUM:-/usr/lib/chromium/chromium}
[ -x "$CHROME" ] || tl_skip "chromium not installed ($CHROME)"
sip_init
WEB=127.0.0.1:$((SIP_BASE + 8))
sip_relayd_start
tl_rpc_ok '{"cmd":"hello"}' "relay hello"
jq -e '.features | index("webrtc") != null' >/dev/null <<<"$TL_REPLY" ||
	tl_skip "relayd's hello features lack \"webrtc\" (the relay half of issue 14): a browser call needs ICE-lite and DTLS-SRTP on the relay"
sip_relay_webrtc_ready	# before the first call: tests/lib/sip.sh
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}, {username: \"bob\", password: \"bpass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\"}"

# chrome NAME URL...: one headless Chromium per page (the recipe's flags;
# the binary, not Debian's wrapper; a page per process: a second URL on
# one command line is not opened in headless mode), until each page
# printed its RESULT line; then SIGTERM. Results: $TL_TMP/NAME.results.
chrome() {
	local name=$1 i=0 pids=() pid
	shift
	for url in "$@"; do
		i=$((i + 1))
		mkdir -p "$TL_TMP/profile-$name-$i"
		tl_log "chromium $name-$i: $url"
		timeout -k 5 60 "$CHROME" --headless=new --no-sandbox --user-data-dir="$TL_TMP/profile-$name-$i" \
			--no-first-run --no-default-browser-check --disable-gpu \
			--disable-background-networking --disable-component-update --disable-sync --disable-extensions \
			--mute-audio --autoplay-policy=no-user-gesture-required \
			--use-fake-device-for-media-stream --use-fake-ui-for-media-stream \
			--allow-loopback-in-peer-connection --disable-features=WebRtcHideLocalIpsWithMdns \
			--enable-logging=stderr --v=0 "$url" >"$TL_TMP/$name-$i.out" 2>"$TL_TMP/$name-$i.err" &
		pids+=("$!")
		TL_PIDS+=("$!")
	done
	tl_wait_for 50 "$i RESULT line(s) from $name" \
		bash -c "[ \$(cat '$TL_TMP/$name'-*.err | grep -c '\"RESULT ') -ge $i ]"
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
		tl_try_for 10 bash -c "! kill -0 $pid 2>/dev/null" || tl_fail "chromium did not exit after SIGTERM"
		wait "$pid" 2>/dev/null
	done
	cat "$TL_TMP/$name"-*.err | grep -o '"RESULT .*", source:' |
		sed -e 's/^"RESULT //' -e 's/", source:$//' -e 's/\\"/"/g' >"$TL_TMP/$name.results"
	cat "$TL_TMP/$name"-*.err | grep -E 'LOG (error|state|pc|ended)' | sed 's/.*"LOG /page: /; s/", source.*//' | head -20
}

# page_ok NAME USER: that page's first result shows a call with media.
page_ok() {
	local r
	r=$(jq -c "select(.user == \"$2\")" "$TL_TMP/$1.results" | head -n1)
	tl_log "$1/$2: $r"
	tl_assert_json "$r" '.logged_in == true and .answered == true' "$1: $2's page logged in and the call was answered"
	tl_assert_json "$r" '.ok == true and .dtlsState == "connected"' "$1: $2's DTLS connected"
	tl_assert_json "$r" '.packetsSent > 50 and .packetsReceived > 50' "$1: RTP both ways in $2's getStats()"
}

media_both_ways() {
	tl_assert_json "$SIP_CDR_LAST" '.media.caller_to_callee.packets > 50 and .media.callee_to_caller.packets > 50' \
		"$1: the relay carried media both ways"
}

# 1. The page calls a SIP gateway that echoes RTP.
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT" -mp "$SIP_CALLEE_RTP" -rtp_echo
chrome out "http://$WEB/?user=alice&pass=apass&call=441234&hold=4000&deadline=25000"
page_ok out alice
tl_wait_for 10 "the gateway's BYE" grep -q "^BYE " "$TL_TMP/gw1.msgs"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "alice" and .final_code == 200 and .gateway == "gw1"' "the CDR of the browser's call"
media_both_ways "browser to SIP"

# 2. A SIP caller (echoing RTP, hanging up after 4 s) calls the web user.
sed 's|<pause/>|<pause milliseconds="4000"/>|' "$SIP_SCEN/uac_call.xml" >"$TL_TMP/uac_hold.xml"
chrome in "http://$WEB/?user=alice&pass=apass&autoanswer=1&deadline=30000" &
CHROME_IN=$!
tl_wait_for 20 "the page to log in" \
	bash -c "[ \$(grep -c 'logged in as alice' '$TL_TMP/controller.log') -ge 2 ]"
tl_spawn caller - sipp -sf "$TL_TMP/uac_hold.xml" -i 127.0.0.2 -p "$SIP_UAC_PORT" -m 1 -nostdin -timeout 40s \
	-s alice -set mport "$SIP_CALLER_RTP" -mp "$SIP_CALLER_RTP" -rtp_echo \
	-trace_err -error_file "$TL_TMP/caller.errors" -trace_msg -message_file "$TL_TMP/caller.msgs" \
	"127.0.0.1:$SIP_CTL_PORT"
sip_expect caller 40 "the SIP call to the web user completes"
wait "$CHROME_IN" || tl_fail "the answering page failed"
page_ok in alice
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .final_code == 200 and .gateway == "web:alice"' "the CDR of the call to the browser"
media_both_ways "SIP to browser"

# 3. Two browsers: bob calls alice, alice answers.
chrome w2w "http://$WEB/?user=alice&pass=apass&autoanswer=1&deadline=30000" \
	"http://$WEB/?user=bob&pass=bpass&call=alice&delay=2500&hold=4000&deadline=30000"
page_ok w2w bob
page_ok w2w alice
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.trunk == "bob" and .final_code == 200 and .gateway == "web:alice"' "the CDR of the web to web call"
media_both_ways "browser to browser"
sip_controller_stop
tl_pass
