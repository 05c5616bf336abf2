#!/bin/bash
# run-also: asan
#
# NAT keepalives and calls to a registered IPv6 phone behind NAT leave by
# the IPv6 listener (issue 15, stack6.c). The controller and relayd run
# in the relay namespace (sip.listen 10.0.1.1, sip.listen6 fd00:1::1);
# the phone binds [fd00:1::2] (caller namespace) and registers a Contact
# naming a private address it cannot be reached at ([fd00:99::2], as a
# NAT'd phone does; tests/lib/udp_phone.py --contact-host), so its
# location is "natted" with the source [fd00:1::2]:PORT:
#   - with registrar.nat_keepalive 1 the controller sends OPTIONS to that
#     flow every second (the phone answers and counts them);
#   - a call from the IPv4 carrier (10.0.2.2, callee namespace) to alice
#     reaches the phone at its flow, from [fd00:1::1]:<our port>, is
#     answered and ends with a BYE.
. "$(dirname "$0")/../lib/sip.sh"
# shellcheck source=../lib/netns6.sh
. "$(dirname "$0")/../lib/netns6.sh"
sip_init
tl_netns_setup
tl_netns6_setup
jq -n --arg sock "$TL_SOCK" --argjson min "$SIP_MEDIA_MIN" --argjson max "$SIP_MEDIA_MAX" \
	--arg a6 "$TL_RELAY_A6" --arg b4 "$TL_RELAY_B_IP" --arg journal "$TL_TMP/journal" '{
	control: {socket: $sock, mode: "0660"}, journal: $journal,
	interfaces: [{name: "access6", bind: $a6}, {name: "core", bind: $b4}],
	ports: {min: $min, max: $max}, backend: "userspace", log_level: "debug"
}' >"$TL_TMP/relayd.json" || tl_fail "cannot write relayd.json"
mkdir -p "$TL_TMP/journal"
tl_relayd_start "$TL_TMP/relayd.json"
jq -n --arg sock "$SIP_CTL_SOCK" --arg rsock "$TL_SOCK" --arg cdr "$SIP_CDR" \
	--arg listen "$TL_RELAY_A_IP:$SIP_CTL_PORT" --arg listen6 "$TL_RELAY_A6" --arg carr "$TL_CALLEE_IP" '{
	sip: {listen: $listen, listen6: $listen6},
	control: {socket: $sock}, cdr: $cdr, log_level: "debug", invite_timeout: 5,
	relays: [{name: "r1", socket: $rsock, interfaces: ["access6", "core"]}],
	trunks: [{name: "carrier", sources: [$carr], relay_interface: "core"}],
	gateways: [{name: "unused", host: $carr, port: 5999}],
	carriers: [{name: "c1", gateways: [{gateway: "unused"}]}],
	routes: [{name: "all", carriers: ["c1"]}],
	accounts: [{username: "alice", password: "apass", relay_interface: "access6"}],
	registrar: {min_expires: 1, default_expires: 60, max_expires: 3600, nat_keepalive: 1}
}' >"$TL_TMP/controller.json" || tl_fail "cannot write controller.json"
ip netns exec "$TL_NS_RELAY" "$TL_CONTROLLER" -f "$TL_TMP/controller.json" \
	>"$TL_TMP/controller.out" 2>"$TL_TMP/controller.log" &
SIP_CTL_PID=$!
TL_PIDS+=("$SIP_CTL_PID")
tl_wait_for 20 "the controller to be ready" sip_ctl_ready
tl_wait_for 20 "the controller to connect to the relay" grep -q 'relay r1 connected' "$TL_TMP/controller.log"

PPORT=$((SIP_BASE + 6))
tl_spawn phone "$TL_NS_CALLER" python3 "$TL_ROOT/tests/lib/udp_phone.py" "$TL_CALLER6" "$PPORT" \
	"$TL_RELAY_A6" "$SIP_CTL_PORT" alice apass "$SIP_CALLEE_RTP" --timeout 40 --contact-host fd00:99::2
sip_phone_registered "sip:alice@[fd00:99::2]:$PPORT" "[$TL_CALLER6]:"
tl_wait_for 20 "three keepalives answered by the IPv6 phone" sip_phone_options 3

tl_spawn caller "$TL_NS_CALLEE" sipp -sf "$SIP_SCEN/uac_call.xml" -i "$TL_CALLEE_IP" -p "$SIP_UAC_PORT" \
	-m 1 -nostdin -timeout 30s -s alice -set mport "$SIP_CALLER_RTP" -d 300 \
	-trace_err -error_file "$TL_TMP/caller.errors" -trace_msg -message_file "$TL_TMP/caller.msgs" \
	"$TL_RELAY_A_IP:$SIP_CTL_PORT"
tl_wait_for 20 "the phone to ring at its flow" grep -q '^INVITE' "$TL_TMP/phone.out"
grep -q "^INVITE \[$TL_RELAY_A6\]:$SIP_CTL_PORT\$" "$TL_TMP/phone.out" ||
	tl_fail "the INVITE did not come from [$TL_RELAY_A6]:$SIP_CTL_PORT: $(grep INVITE "$TL_TMP/phone.out")"
sip_expect caller 30 "the call to the IPv6 phone"
tl_reap phone 10
grep -q '^BYE' "$TL_TMP/phone.out" || tl_fail "the phone did not get the BYE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .gateway == "account:alice"' "CDR: the call went to alice's registration"
sip_controller_stop
tl_relayd_stop
tl_pass
