#!/bin/bash
# run-also: asan
#
# A relay that refuses our `auth` (wrong shared secret over TCP) is down:
# `status` says so with the reason, it stays down (it is not used between
# a reconnect and the refusal), and a call gets 503 at once without the
# gateway hearing of it.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
TCP=127.0.0.1:$((SIP_BASE + 7))
sip_relayd_start ".control.tcp = {listen: \"$TCP\", secret: \"the-right-secret-of-some-length\"}"
sip_controller_start ".relays = [{name: \"r1\", address: \"$TCP\", secret: \"a-wrong-secret-of-some-length\"}]"

refused() {
	sip_ctl --json status | jq -e '.relays[0].up == false and .relays[0].last_error == "auth refused"' >/dev/null
}
tl_wait_for 5 "status: r1 down, auth refused" refused
# It reconnects every second and is refused again each time: it must never
# look usable meanwhile.
for ((i = 0; i < 20; i++)); do
	s=$(sip_ctl --json status) || tl_fail "status"
	jq -e '.relays[0].up == false' <<<"$s" >/dev/null ||
		tl_fail "r1 shows up although it refuses our secret: $(jq -c .relays <<<"$s")"
	sleep 0.15
done
grep -q 'relay r1 refused our secret' "$TL_TMP/controller.log" || tl_fail "no log line for the refusal"

sip_blackhole gw1 "$SIP_GW1_PORT"
sip_uac c1 uac_503.xml 127.0.0.2
sip_expect c1 15 "a call gets 503 while the only relay refuses us"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 503' "CDR: 503"
[ -s "$TL_TMP/gw1.out" ] && tl_fail "the gateway got a request"
tl_wait_for 5 "no call left" bash -c "[ \"\$(timeout 5 '$TL_CTL' -s '$SIP_CTL_SOCK' --json status | jq .calls)\" = 0 ]"
sip_controller_stop
tl_relayd_stop
tl_pass
