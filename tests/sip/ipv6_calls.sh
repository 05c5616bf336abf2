#!/bin/bash
# run-also: asan
#
# SIP and media over IPv6 end to end (issue 15). The controller listens
# on an IPv4 address (sip.listen) and an IPv6 one (sip.listen6, the same
# port); relayd (nft backend) has an interface per side and family.
#
#   call 1: an IPv6 customer (SIPp on [fd00:1::2]) calls an IPv4 carrier
#     (10.0.2.2): the customer's side of the call names only IPv6
#     addresses (Via, Contact, SDP c=/o=), the carrier's only IPv4 ones;
#     RTP both ways through the relay, which bridges the families in
#     userspace (nftables cannot translate families: path "userspace").
#   call 2: the same customer calls an IPv6 carrier (sip:[fd00:2::2]):
#     IPv6 on both legs, the stream is carried by the kernel (table ip6
#     trunkline: dnat6 elements, path "nft", relayd's sockets see none of
#     the packets sent after the switch).
#   call 3: alice registers from an IPv6 contact; the IPv4 carrier calls
#     her: the carrier's leg IPv4, hers IPv6, RTP both ways.
#
#   caller ns                    relay ns (relayd, controller)        callee ns
#   10.0.1.2 fd00:1::2 (cust)   10.0.1.1 fd00:1::1 | 10.0.2.1 fd00:2::1   10.0.2.2 fd00:2::2
#   fd00:1::3 (alice's phone)
. "$(dirname "$0")/../lib/sip.sh"
# shellcheck source=../lib/netns6.sh
. "$(dirname "$0")/../lib/netns6.sh"
sip_init
tl_netns_setup
tl_nft_prepare
tl_netns6_setup
CORE=$TL_RELAY_B_IP CARR=$TL_CALLEE_IP
ACCESS6=$TL_RELAY_A6 CORE6=$TL_RELAY_B6 CUST6=$TL_CALLER6 CARR6=$TL_CALLEE6
PHONE6=fd00:1::3	# alice's phone: no trunk's source
ip -n "$TL_NS_CALLER" -6 addr add "$PHONE6/64" dev c0 nodad || tl_fail "phone address"

jq -n --arg sock "$TL_SOCK" --argjson min "$SIP_MEDIA_MIN" --argjson max "$SIP_MEDIA_MAX" \
	--arg a4 "$TL_RELAY_A_IP" --arg b4 "$CORE" --arg a6 "$ACCESS6" --arg b6 "$CORE6" \
	--arg journal "$TL_TMP/journal" '{
	control: {socket: $sock, mode: "0660"},
	journal: $journal,
	interfaces: [{name: "access", bind: $a4}, {name: "core", bind: $b4},
		{name: "access6", bind: $a6}, {name: "core6", bind: $b6}],
	ports: {min: $min, max: $max},
	backend: "nft",
	log_level: "debug"
}' >"$TL_TMP/relayd.json" || tl_fail "cannot write relayd.json"
mkdir -p "$TL_TMP/journal"
tl_relayd_start "$TL_TMP/relayd.json"

jq -n --arg sock "$SIP_CTL_SOCK" --arg rsock "$TL_SOCK" --arg cdr "$SIP_CDR" \
	--arg listen "$TL_RELAY_A_IP:$SIP_CTL_PORT" --arg listen6 "$ACCESS6" \
	--arg cust6 "$CUST6/128" --arg carr "$CARR" --arg carr6 "[$CARR6]" \
	--argjson p1 "$SIP_GW1_PORT" --argjson p2 "$SIP_GW2_PORT" '{
	sip: {listen: $listen, listen6: $listen6},
	control: {socket: $sock},
	relays: [{name: "r1", socket: $rsock, interfaces: ["access6", "core"]}],
	cdr: $cdr,
	log_level: "debug",
	invite_timeout: 5,
	trunks: [{name: "customer6", sources: [$cust6], relay_interface: "access6"},
		{name: "carrier", sources: [$carr], relay_interface: "core"}],
	gateways: [
		{name: "carrier-gw", host: $carr, port: $p2, relay_interface: "core"},
		{name: "carrier6-gw", host: $carr6, port: $p2, relay_interface: "core6"}],
	carriers: [{name: "c4", gateways: [{gateway: "carrier-gw"}]},
		{name: "c6", gateways: [{gateway: "carrier6-gw"}]}],
	accounts: [{username: "alice", password: "apass", relay_interface: "access6"}],
	routes: [
		{name: "v6", trunk: "customer6", ruri: "^sip:6", carriers: ["c6"]},
		{name: "out", trunk: "customer6", carriers: ["c4"]}]
}' >"$TL_TMP/controller.json" || tl_fail "cannot write controller.json"

# IPv6 literals in the config: errors name the file, line and field.
bad_conf() {	# bad_conf NAME JQ-FILTER FIELD-REGEX
	jq "$2" "$TL_TMP/controller.json" >"$TL_TMP/$1.json" || tl_fail "jq $2"
	if "$TL_CONTROLLER" -n -f "$TL_TMP/$1.json" >"$TL_TMP/$1.log" 2>&1; then
		tl_fail "$1: accepted ($2)"
	fi
	grep -qE "$1\.json:[0-9]+: $3" "$TL_TMP/$1.log" ||
		tl_fail "$1: no file:line and field: $(cat "$TL_TMP/$1.log")"
}
bad_conf bad_listen6 '.sip.listen6 = "fd00:1::1:5060:x"' 'sip\.listen6: .*not an IPv6 address'
bad_conf v4_listen6 '.sip.listen6 = "::ffff:10.0.1.1"' 'sip\.listen6: .*v4-mapped'
bad_conf listen6_v6 '.sip.listen = "[fd00:1::1]:5060"' 'sip\.listen6: .*needs an IPv4'
bad_conf gw_bracket '.gateways[1].host = "[fd00:2::2"' 'gateways\[1\]\.host: .*not an IPv6 address'
bad_conf gw_literal '.gateways[1].host = "fd00:2::2::9"' 'gateways\[1\]\.host: .*is no host'
jq '.gateways[1].host = "fd00:2::2"' "$TL_TMP/controller.json" >"$TL_TMP/bare.json"
"$TL_CONTROLLER" -n -f "$TL_TMP/bare.json" >"$TL_TMP/bare.log" 2>&1 ||
	tl_fail "a bare IPv6 gateway host is refused: $(cat "$TL_TMP/bare.log")"

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
sip_scen6 uac_call.xml uas_answer.xml uac_waitbye.xml uas_bye.xml
listening_in() { ip netns exec "$1" ss -ulnH "sport = :$2" | grep -q .; }
# ports CALLID: the relay's leg A and leg B RTP ports (IPv6 "[a]:p" too).
ports() {
	local q
	q=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$1") || return 1
	A_PORT=$(jq -r '.streams[0].legs[] | select(.side == "A") | .local | split(":") | last' <<<"$q")
	B_PORT=$(jq -r '.streams[0].legs[] | select(.side == "B") | .local | split(":") | last' <<<"$q")
	[ -n "$A_PORT" ] && [ -n "$B_PORT" ]
}
# received FILE: what SIPp received (the messages after "received").
received() {
	tr -d '\r' <"$1" | awk '/ message received/ { r = 1; next } / message sent/ { r = 0 } r'
}
# one_family FILE FAM OURS: the messages FILE received name addresses of
# family FAM (4 or 6) only, OURS (the relay's) in c= and o=, and our SIP
# listener of that family in Contact. IPv4 addresses are 10.0.x.x here,
# IPv6 ones fd00:x::x.
one_family() {
	local file=$1 fam=$2 ours=$3 r
	r=$(received "$file")
	[ -n "$r" ] || tl_fail "$file: nothing received"
	if [ "$fam" = 6 ]; then
		grep -qE '10\.0\.[0-9]+\.[0-9]+' <<<"$r" &&
			tl_fail "$file: an IPv6 side received an IPv4 address: $(grep -E '10\.0\.' <<<"$r" | head -3)"
		grep -q "IN IP4" <<<"$r" && tl_fail "$file: IN IP4 on the IPv6 side"
		grep -qE "^c=IN IP6 $ours\$" <<<"$r" || tl_fail "$file: no c=IN IP6 $ours"
		grep -qE "^o=.* IN IP6 $ours\$" <<<"$r" || tl_fail "$file: no o= ... IN IP6 $ours"
		grep -qiE "^(Contact|m):.*\[$ACCESS6\]:$SIP_CTL_PORT" <<<"$r" ||
			tl_fail "$file: no Contact naming [$ACCESS6]:$SIP_CTL_PORT"
	else
		grep -qiE 'fd00:' <<<"$r" && tl_fail "$file: an IPv4 side received an IPv6 address: $(grep -i fd00: <<<"$r" | head -3)"
		grep -q "IN IP6" <<<"$r" && tl_fail "$file: IN IP6 on the IPv4 side"
		grep -qE "^c=IN IP4 ${ours//./\\.}\$" <<<"$r" || tl_fail "$file: no c=IN IP4 $ours"
		grep -qE "^o=.* IN IP4 ${ours//./\\.}\$" <<<"$r" || tl_fail "$file: no o= ... IN IP4 $ours"
		grep -qiE "^(Contact|m):.*${TL_RELAY_A_IP//./\\.}:$SIP_CTL_PORT" <<<"$r" ||
			tl_fail "$file: no Contact naming $TL_RELAY_A_IP:$SIP_CTL_PORT"
	fi
	return 0
}

# one_call N CNS CIP CPORT TARGET SVC ENS EIP EPORT CFAM CRELAY EFAM ERELAY:
# a call through the controller; each side's messages name only its own
# family; RTP both ways. Leaves the call's id in CALL.
one_call() {
	local n=$1 cns=$2 cip=$3 cport=$4 target=$5 svc=$6 ens=$7 eip=$8 eport=$9
	local cfam=${10} crelay=${11} efam=${12} erelay=${13} c=uac$1 e=uas$1
	SIP_SCEN=$TL_TMP sipp_in "$e" "$ens" "${UAS:-uas_answer.xml}" "$eip" "$eport" -d "${DUR:-6000}" \
		-set mport "$SIP_CALLEE_RTP" -set mip "$eip"
	tl_wait_for 20 "SIPp $e to listen" listening_in "$ens" "$eport"
	SIP_SCEN=$TL_TMP sipp_in "$c" "$cns" "${UAC:-uac_call.xml}" "$cip" "$cport" -s "$svc" \
		-set mport "$SIP_CALLER_RTP" -set mip "$cip" -d "${DUR:-6000}" "$target"
	tl_wait_for 10 "call $n: an answered session" sip_answered_call
	CALL=$SIP_CALL_ID
	tl_wait_for 5 "call $n: the session's ports" ports "$CALL"
	# RTP at once (the caller hangs up after DUR ms), the headers meanwhile
	tl_sink sink_e$n "$ens" -b "$(tl_ep "$eip" "$SIP_CALLEE_RTP")" -f "$(tl_ep "$erelay" "$B_PORT")" -e 40 -t 10
	tl_sink sink_c$n "$cns" -b "$(tl_ep "$cip" "$SIP_CALLER_RTP")" -f "$(tl_ep "$crelay" "$A_PORT")" -e 40 -t 10
	tl_gen gen_c$n "$cns" -d "$(tl_ep "$crelay" "$A_PORT")" -b "$(tl_ep "$cip" "$SIP_CALLER_RTP")" -c 40 -r 100
	tl_gen gen_e$n "$ens" -d "$(tl_ep "$erelay" "$B_PORT")" -b "$(tl_ep "$eip" "$SIP_CALLEE_RTP")" -c 40 -r 100
	tl_wait_for 5 "call $n: the caller's 200 OK" grep -q "m=audio $A_PORT " "$TL_TMP/$c.msgs"
	grep -q "m=audio $B_PORT " "$TL_TMP/$e.msgs" || tl_fail "call $n: the callee did not get port $B_PORT"
	one_family "$TL_TMP/$c.msgs" "$cfam" "$crelay"
	one_family "$TL_TMP/$e.msgs" "$efam" "$erelay"
	tl_expect_ok gen_c$n 10 "call $n: rtpgen caller"
	tl_expect_ok gen_e$n 10 "call $n: rtpgen callee"
	tl_expect_ok sink_e$n 15 "call $n: caller -> callee RTP"
	tl_expect_ok sink_c$n 15 "call $n: callee -> caller RTP"
}
finish_call() {
	sip_expect "uac$1" 30 "call $1: the caller's call"
	sip_expect "uas$1" 30 "call $1: the callee's call"
	tl_wait_for 10 "call $1: no call left" sip_no_calls
}
path_of() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$1\"}" && jq -r '.streams[0].path' <<<"$TL_REPLY"
}

tl_log "call 1: IPv6 customer -> IPv4 carrier (bridged by the relay); the carrier hangs up"
UAS=uas_bye.xml UAC=uac_waitbye.xml one_call 1 "$TL_NS_CALLER" "$CUST6" "$SIP_UAC_PORT" "[$ACCESS6]:$SIP_CTL_PORT" 441234567 \
	"$TL_NS_CALLEE" "$CARR" "$SIP_GW2_PORT" 6 "$ACCESS6" 4 "$CORE"
[ "$(path_of "$CALL")" = userspace ] || tl_fail "call 1: a bridged stream is not in userspace: $TL_REPLY"
tl_assert_json "$TL_REPLY" '.streams[0].path_reason | test("famil")' "call 1: path_reason says why (families)"
[ "$(tl_nft6_flows)" = 0 ] || tl_fail "call 1: dnat6 elements for a bridged stream"
finish_call 1
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "customer6" and .gateway == "carrier-gw" and .final_code == 200' "CDR 1"
# our BYE reached the IPv6 caller (it leaves by the IPv6 listener)
tl_assert_json "$SIP_CDR_LAST" '.hangup_by == "callee"' "CDR 1: the carrier hung up"
tl_assert_json "$SIP_CDR_LAST" ".source == \"[$CUST6]:$SIP_UAC_PORT\"" "CDR 1: the IPv6 source, bracketed"

tl_log "call 2: IPv6 customer -> IPv6 carrier (sip:[$CARR6]): media in the kernel"
# 12 s: the kernel phase must end before the caller hangs up, on a
# loaded machine and under ASan too
DUR=12000 one_call 2 "$TL_NS_CALLER" "$CUST6" "$SIP_UAC_PORT" "[$ACCESS6]:$SIP_CTL_PORT" 661234567 \
	"$TL_NS_CALLEE" "$CARR6" "$SIP_GW2_PORT" 6 "$ACCESS6" 6 "$CORE6"
in_kernel() { [ "$(path_of "$CALL")" = nft ]; }
tl_wait_for 10 "call 2: the IPv6 stream in the kernel" in_kernel
[ "$(tl_nft6_flows)" -ge 2 ] || tl_fail "call 2: no dnat6 elements: $(tl_nft6_flows)"
U0=$(tl_udp6_in)
tl_sink ksink_e "$TL_NS_CALLEE" -b "[$CARR6]:$SIP_CALLEE_RTP" -f "[$CORE6]:$B_PORT" -e 100 -t 10
tl_sink ksink_c "$TL_NS_CALLER" -b "[$CUST6]:$SIP_CALLER_RTP" -f "[$ACCESS6]:$A_PORT" -e 100 -t 10
tl_gen kgen_c "$TL_NS_CALLER" -d "[$ACCESS6]:$A_PORT" -b "[$CUST6]:$SIP_CALLER_RTP" -c 100 -r 200
tl_gen kgen_e "$TL_NS_CALLEE" -d "[$CORE6]:$B_PORT" -b "[$CARR6]:$SIP_CALLEE_RTP" -c 100 -r 200
for p in kgen_c kgen_e ksink_e ksink_c; do tl_expect_ok "$p" 15 "call 2 in the kernel: $p"; done
U1=$(tl_udp6_in)
# SIP over IPv6 goes on meanwhile (the UACs' OPTIONS-free calls send
# nothing); the RTP sent after the switch never reached relayd's sockets.
[ $((U1 - U0)) -lt 20 ] || tl_fail "call 2: $((U1 - U0)) IPv6 datagrams reached the relay ns' sockets while in the kernel"
kcounted() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" &&
		jq -e '[.streams[0].legs[].stats.packets] | min >= 140' <<<"$TL_REPLY" >/dev/null
}
tl_wait_for 5 "call 2: the kernel's counters in query" kcounted
finish_call 2
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.gateway == "carrier6-gw" and .final_code == 200' "CDR 2"

tl_log "call 3: alice registers from [$PHONE6]; the IPv4 carrier calls her"
sipp_in reg "$TL_NS_CALLER" uac_register.xml "$PHONE6" "$SIP_GW3_PORT" -s alice -au alice -ap apass \
	-set cport "$SIP_GW3_PORT" -set exp 60 -auth_uri "[$ACCESS6]:$SIP_CTL_PORT" \
	"[$ACCESS6]:$SIP_CTL_PORT"	# SIPp's own uri= drops the brackets
sip_expect reg 20 "alice registers over IPv6"
one_call 3 "$TL_NS_CALLEE" "$CARR" "$SIP_UAC_PORT" "$TL_RELAY_A_IP:$SIP_CTL_PORT" alice \
	"$TL_NS_CALLER" "$PHONE6" "$SIP_GW3_PORT" 4 "$CORE" 6 "$ACCESS6"
finish_call 3
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.trunk == "carrier" and .final_code == 200' "CDR 3"

sip_controller_stop
tl_relayd_stop
tl_pass
