#!/bin/bash
# run-also: asan
#
# A multi-homed relay (issue 15): relayd has an "access" interface on the
# customers' network (10.0.1.1) and a "core" one on the carrier's
# (10.0.2.1). Trunks and gateways name the interface their side uses, so
# whichever way a call goes, the customer's SDP names only the access
# address and the carrier's only the core address, and RTP flows both
# ways. A local account's phone registered on the access network is
# called from the carrier on the access side too (the account's
# relay_interface). relays[].interfaces (["access", "core"]) is only the default: on
# its own it fits calls from customers, and a call from the carrier would
# offer the core address to the customer. An interface the relay does
# not have fails the call with 503 and relayd's reason in the log; a
# relay_interface with a relay that names no interfaces is a config
# error with file:line and the field.
#
#   caller ns "access"    relay ns (relayd, controller)    callee ns "core"
#   customer 10.0.1.2 ---- 10.0.1.1 access | core 10.0.2.1 ---- 10.0.2.2 carrier
. "$(dirname "$0")/../lib/sip.sh"
sip_init
tl_netns_setup
ACCESS=$TL_RELAY_A_IP CORE=$TL_RELAY_B_IP CUST=$TL_CALLER_IP CARR=$TL_CALLEE_IP
PHONE=10.0.1.3	# alice's phone, on the access network (no trunk's source)
ip -n "$TL_NS_CALLER" addr add "$PHONE/24" dev c0 || tl_fail "phone address"

jq -n --arg sock "$TL_SOCK" --argjson min "$SIP_MEDIA_MIN" --argjson max "$SIP_MEDIA_MAX" \
	--arg a "$ACCESS" --arg b "$CORE" '{
	control: {socket: $sock, mode: "0660"},
	interfaces: [{name: "access", bind: $a, advertise: $a},
		{name: "core", bind: $b, advertise: $b}],
	ports: {min: $min, max: $max},
	backend: "userspace",
	log_level: "debug"
}' >"$TL_TMP/relayd.json" || tl_fail "cannot write relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

# The controller listens on the access address; the carrier reaches it
# through the relay namespace (a local address there).
jq -n --arg sock "$SIP_CTL_SOCK" --arg rsock "$TL_SOCK" --arg cdr "$SIP_CDR" \
	--arg listen "$ACCESS:$SIP_CTL_PORT" --arg cust "$CUST" --arg carr "$CARR" \
	--argjson p1 "$SIP_GW1_PORT" --argjson p2 "$SIP_GW2_PORT" --argjson p3 "$SIP_GW3_PORT" '{
	sip: {listen: $listen},
	control: {socket: $sock},
	relays: [{name: "r1", socket: $rsock, interfaces: ["access", "core"]}],
	cdr: $cdr,
	log_level: "debug",
	invite_timeout: 5,
	trunks: [{name: "customer", sources: [$cust], relay_interface: "access"},
		{name: "carrier", sources: [$carr], relay_interface: "core"}],
	gateways: [
		{name: "carrier-gw", host: $carr, port: $p2, relay_interface: "core"},
		{name: "customer-gw", host: $cust, port: $p1, relay_interface: "access"},
		{name: "bad-gw", host: $carr, port: $p3, relay_interface: "nowhere"}],
	carriers: [{name: "c-carrier", gateways: [{gateway: "carrier-gw"}]},
		{name: "c-customer", gateways: [{gateway: "customer-gw"}]},
		{name: "c-bad", gateways: [{gateway: "bad-gw"}]}],
	accounts: [{username: "alice", password: "apass", relay_interface: "access"}],
	routes: [
		{name: "bad", trunk: "customer", ruri: "^sips?:999@", carriers: ["c-bad"]},
		{name: "out", trunk: "customer", carriers: ["c-carrier"]},
		{name: "in", trunk: "carrier", carriers: ["c-customer"]}]
}' >"$TL_TMP/controller.json" || tl_fail "cannot write controller.json"

# A relay_interface needs the relays' interfaces (the other side's default).
jq '.relays[0] |= del(.interfaces)' "$TL_TMP/controller.json" >"$TL_TMP/noifs.json"
if "$TL_CONTROLLER" -n -f "$TL_TMP/noifs.json" >"$TL_TMP/noifs.log" 2>&1; then
	tl_fail "relay_interface without relays[].interfaces was accepted"
fi
grep -qE 'noifs\.json:[0-9]+: trunks\[0\]\.relay_interface: .*needs .interfaces.' "$TL_TMP/noifs.log" ||
	tl_fail "no file:line and field in the config error: $(cat "$TL_TMP/noifs.log")"

ip netns exec "$TL_NS_RELAY" "$TL_CONTROLLER" -n -f "$TL_TMP/controller.json" \
	>"$TL_TMP/controller-check.log" 2>&1 ||
	tl_fail "controller -n rejects the config: $(cat "$TL_TMP/controller-check.log")"
ip netns exec "$TL_NS_RELAY" "$TL_CONTROLLER" -f "$TL_TMP/controller.json" \
	>"$TL_TMP/controller.out" 2>"$TL_TMP/controller.log" &
SIP_CTL_PID=$!
TL_PIDS+=("$SIP_CTL_PID")
tl_wait_for 10 "the controller to be ready" sip_ctl_ready
tl_wait_for 10 "the controller to connect to the relay" \
	grep -q 'relay r1 connected' "$TL_TMP/controller.log"

# sipp_in NAME NS SCENARIO IP PORT [args...]: SIPp in a namespace.
sipp_in() {
	local name=$1 ns=$2 scen=$3 ip=$4 port=$5
	shift 5
	tl_spawn "$name" "$ns" sipp -sf "$SIP_SCEN/$scen" -i "$ip" -p "$port" -m 1 -nostdin \
		-timeout 60s -trace_err -error_file "$TL_TMP/$name.errors" \
		-trace_msg -message_file "$TL_TMP/$name.msgs" "$@"
}
listening_in() { ip netns exec "$1" ss -ulnH "sport = :$2" | grep -q .; }

# sdp_names FILE ADDR: an SDP line (c= or o=) in FILE names ADDR.
sdp_names() {
	tr -d '\r' <"$1" | grep -qE "^(c|o)=.* IN IP4 ${2//./\\.}\$"
}

# one_call N CALLER-NS CALLER-IP CALLEE-NS CALLEE-IP CALLEE-PORT
#   CALLER-RELAY CALLEE-RELAY: a call through the relay; each side's SDP
#   names only its own relay address; RTP both ways.
one_call() {
	local n=$1 cns=$2 cip=$3 ens=$4 eip=$5 eport=$6 crelay=$7 erelay=$8 c=uac$1 e=uas$1
	sipp_in "$e" "$ens" uas_answer.xml "$eip" "$eport" -set mport "$SIP_CALLEE_RTP"
	tl_wait_for 20 "SIPp $e to listen" listening_in "$ens" "$eport"
	sipp_in "$c" "$cns" uac_call.xml "$cip" "$SIP_UAC_PORT" -s "${SVC:-441234567}" \
		-set mport "$SIP_CALLER_RTP" -d 6000 "$ACCESS:$SIP_CTL_PORT"
	tl_wait_for 10 "call $n: an answered session" sip_answered_call
	tl_wait_for 5 "call $n: the session's ports" sip_session_ports "$SIP_CALL_ID"
	tl_wait_for 5 "call $n: the caller's 200 OK" grep -q "m=audio $SIP_A_PORT " "$TL_TMP/$c.msgs"
	grep -q "m=audio $SIP_B_PORT " "$TL_TMP/$e.msgs" || tl_fail "call $n: the callee did not get port $SIP_B_PORT"
	sdp_names "$TL_TMP/$c.msgs" "$crelay" || tl_fail "call $n: the caller's SDP does not name $crelay"
	sdp_names "$TL_TMP/$c.msgs" "$erelay" && tl_fail "call $n: the caller's SDP names the other side's $erelay"
	sdp_names "$TL_TMP/$e.msgs" "$erelay" || tl_fail "call $n: the callee's SDP does not name $erelay"
	sdp_names "$TL_TMP/$e.msgs" "$crelay" && tl_fail "call $n: the callee's SDP names the other side's $crelay"
	tl_sink sink_e$n "$ens" -b "$eip:$SIP_CALLEE_RTP" -f "$erelay:$SIP_B_PORT" -e 40 -t 10
	tl_sink sink_c$n "$cns" -b "$cip:$SIP_CALLER_RTP" -f "$crelay:$SIP_A_PORT" -e 40 -t 10
	tl_gen gen_c$n "$cns" -d "$crelay:$SIP_A_PORT" -b "$cip:$SIP_CALLER_RTP" -c 40 -r 100
	tl_gen gen_e$n "$ens" -d "$erelay:$SIP_B_PORT" -b "$eip:$SIP_CALLEE_RTP" -c 40 -r 100
	tl_expect_ok gen_c$n 10 "call $n: rtpgen caller"
	tl_expect_ok gen_e$n 10 "call $n: rtpgen callee"
	tl_expect_ok sink_e$n 15 "call $n: caller -> callee RTP"
	tl_expect_ok sink_c$n 15 "call $n: callee -> caller RTP"
	sip_expect "$c" 30 "call $n: the caller's call"
	sip_expect "$e" 30 "call $n: the callee's call"
	tl_wait_for 10 "call $n: no call left" sip_no_calls
}

tl_log "call 1: customer -> carrier"
one_call 1 "$TL_NS_CALLER" "$CUST" "$TL_NS_CALLEE" "$CARR" "$SIP_GW2_PORT" "$ACCESS" "$CORE"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "customer" and .gateway == "carrier-gw" and .final_code == 200' "CDR 1"
tl_log "call 2: carrier -> customer"
one_call 2 "$TL_NS_CALLEE" "$CARR" "$TL_NS_CALLER" "$CUST" "$SIP_GW1_PORT" "$CORE" "$ACCESS"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.trunk == "carrier" and .gateway == "customer-gw" and .final_code == 200' "CDR 2"

tl_log "call 3: carrier -> alice's registered phone on the access side"
sipp_in reg "$TL_NS_CALLER" uac_register.xml "$PHONE" "$SIP_GW3_PORT" -s alice -au alice -ap apass \
	-set cport "$SIP_GW3_PORT" -set exp 60 "$ACCESS:$SIP_CTL_PORT"
sip_expect reg 20 "alice registers"
SVC=alice one_call 3 "$TL_NS_CALLEE" "$CARR" "$TL_NS_CALLER" "$PHONE" "$SIP_GW3_PORT" "$CORE" "$ACCESS"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.trunk == "carrier" and .final_code == 200' "CDR 3"

tl_log "call 4: a gateway names an interface the relay does not have"
sipp_in uac4 "$TL_NS_CALLER" uac_503.xml "$CUST" "$SIP_UAC_PORT" -s 999 -set mport "$SIP_CALLER_RTP" "$ACCESS:$SIP_CTL_PORT"
sip_expect uac4 20 "call 4 is refused with 503"
grep -q "no interface named 'nowhere'" "$TL_TMP/controller.log" ||
	tl_fail "the controller log does not say which interface is missing"
sip_cdr_wait 4
tl_assert_json "$SIP_CDR_LAST" '.final_code == 503' "CDR 4: 503"
tl_wait_for 10 "no call left" sip_no_calls

sip_controller_stop
tl_relayd_stop
tl_pass
