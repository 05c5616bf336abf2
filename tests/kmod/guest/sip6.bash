#!/bin/bash
#
# sip6.bash (runs in the qemu guest): the whole chain of issue 15 with
# trunkline.ko loaded: an IPv6 SIP caller (SIPp on [fd00:1::2]) calls
# through trunkline-controller (listening on [fd00:1::1] and 10.0.1.1) an
# IPv4 gateway (SIPp on 10.0.2.2); trunkline-relayd (kmod backend, chosen
# automatically) bridges the families in the kernel (kmod/tl_ipv6.c).
#   1. each side's SIP names only its own family (SDP c=/o=, Contact);
#   2. RTP both ways arrives complete and intact from the relay's address
#      of each side's family; the module's entries (tlk, netlink dump)
#      counted every packet, each entry translating to the other family;
#      relayd's sockets received none of them (Udp and Udp6 InDatagrams of
#      the relay namespace flat), query says path kmod;
#   3. strict source: a stranger (IPv6 and IPv4) sending to the relay's
#      ports is dropped by the kernel (the entries' mismatch counters), the
#      ends receive nothing of it;
#   4. the controller hangs up: both ends get BYE, the entries go; rmmod.
# Meanwhile the controller probes an IPv6 gateway (OPTIONS over the IPv6
# listener, answered once by a SIPp) and marks it up.
# The kernel command line may say trunkline_test.backend=NAME (the host's
# TL_KMOD_SIP6_BACKEND) to force relayd's backend: with "userspace" the
# test must fail (the negative control).
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_sip6 \
	TL_CONTROLLER=/sbin/trunkline-controller
# shellcheck source=../../lib/sip.sh
. /test/tests/lib/sip.sh
# shellcheck source=../../lib/netns6.sh
. /test/tests/lib/netns6.sh

BACKEND=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^trunkline_test\.backend=//p')
insmod /test/trunkline.ko || tl_fail "insmod trunkline.ko"
tl_init
trap sip_teardown EXIT
tl_netns_setup
tl_netns6_setup
SIP_CTL_SOCK=$TL_TMP/controller.sock SIP_CDR=$TL_TMP/cdr.jsonl
CTL_PORT=5060 UAC_PORT=5061 GW_PORT=5062 GW6_PORT=5063 CALLER_RTP=4000 GW_RTP=5000
ACCESS6=$TL_RELAY_A6 CORE=$TL_RELAY_B_IP CUST6=$TL_CALLER6 GW=$TL_CALLEE_IP

tl_relayd_config "$TL_TMP/relayd.json" \
	".interfaces = [{name: \"access6\", bind: \"$ACCESS6\"}, {name: \"core\", bind: \"$CORE\"}]
	  | .timeouts.inactivity = 600 | .timeouts.setup = 600
	  | if \"$BACKEND\" != \"\" then .backend = \"$BACKEND\" else . end"
mkdir -p "$TL_TMP/journal"
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_log "relayd backend: $(jq -c '{backend, backend_reason}' <<<"$TL_REPLY")"

jq -n --arg sock "$SIP_CTL_SOCK" --arg rsock "$TL_SOCK" --arg cdr "$SIP_CDR" \
	--arg listen "$TL_RELAY_A_IP:$CTL_PORT" --arg listen6 "$ACCESS6" \
	--arg cust6 "$CUST6/128" --arg gw "$GW" --argjson gwport "$GW_PORT" \
	--arg gw6 "[$TL_CALLEE6]" --argjson gw6port "$GW6_PORT" '{
	sip: {listen: $listen, listen6: $listen6},
	control: {socket: $sock},
	relays: [{name: "r1", socket: $rsock, interfaces: ["access6", "core"]}],
	cdr: $cdr,
	log_level: "debug",
	invite_timeout: 10,
	trunks: [{name: "customer6", sources: [$cust6], relay_interface: "access6"}],
	gateways: [{name: "gw4", host: $gw, port: $gwport, relay_interface: "core"},
		{name: "gw6", host: $gw6, port: $gw6port, probe: {interval: 2, timeout: 1.5, up_after: 1}}],
	carriers: [{name: "c4", gateways: [{gateway: "gw4"}]}],
	routes: [{name: "out", trunk: "customer6", carriers: ["c4"]}]
}' >"$TL_TMP/controller.json" || tl_fail "cannot write controller.json"
# listening NS PORT: a UDP socket on PORT in NS (no ss(8) in the guest).
listening() {
	ip netns exec "$1" cat /proc/net/udp /proc/net/udp6 |
		awk -v p="$(printf ':%04X' "$2")" '$2 ~ p"$" { f = 1 } END { exit !f }'
}
# The IPv6 gateway answers the first probe only: later probes meet a
# closed port (ICMP), so no SIP reaches the relay ns during the media.
tl_spawn opt "$TL_NS_CALLEE" /sbin/sipp -sf /test/uas_options.xml -i "$TL_CALLEE6" -p "$GW6_PORT" -m 1 \
	-nostdin -timeout 120s -trace_err -error_file "$TL_TMP/opt.errors" -trace_msg -message_file "$TL_TMP/opt.msgs"
tl_wait_for 30 "the IPv6 gateway (SIPp) to listen" listening "$TL_NS_CALLEE" "$GW6_PORT"
ip netns exec "$TL_NS_RELAY" "$TL_CONTROLLER" -f "$TL_TMP/controller.json" \
	>"$TL_TMP/controller.out" 2>"$TL_TMP/controller.log" &
SIP_CTL_PID=$!
TL_PIDS+=("$SIP_CTL_PID")
tl_wait_for 30 "the controller to be ready" sip_ctl_ready
tl_wait_for 30 "the controller to connect to the relay" grep -q 'relay r1 connected' "$TL_TMP/controller.log"

# The SIPp scenarios with the SDP address set by -set mip (SIPp writes
# [local_ip] of an IPv6 address in brackets, which is no SDP address).
mkdir -p "$TL_TMP/scen"
for f in uac_waitbye.xml uas_answer.xml; do
	sed -e 's/<Global variables="mport"\/>/<Global variables="mport,mip"\/>/' \
		-e 's/^\( *[oc]=.*IN IP\[[a-z_]*\]\) \[local_ip\]$/\1 [$mip]/' \
		"$SIP_SCEN/$f" >"$TL_TMP/scen/$f" && grep -q '\[\$mip\]' "$TL_TMP/scen/$f" ||
		tl_fail "cannot rewrite the SDP address of $f"
done
sipp_in() {	# sipp_in NAME NS SCENARIO IP PORT [args...]
	local name=$1 ns=$2 scen=$3 ip=$4 port=$5
	shift 5
	tl_spawn "$name" "$ns" /sbin/sipp -sf "$TL_TMP/scen/$scen" -i "$ip" -p "$port" -m 1 -nostdin \
		-timeout 120s -trace_err -error_file "$TL_TMP/$name.errors" \
		-trace_msg -message_file "$TL_TMP/$name.msgs" -set mip "$ip" "$@"
}
sipp_in gw "$TL_NS_CALLEE" uas_answer.xml "$GW" "$GW_PORT" -set mport "$GW_RTP"
tl_wait_for 30 "the gateway (SIPp) to listen" listening "$TL_NS_CALLEE" "$GW_PORT"
sipp_in caller "$TL_NS_CALLER" uac_waitbye.xml "$CUST6" "$UAC_PORT" -s 441234567 \
	-set mport "$CALLER_RTP" "[$ACCESS6]:$CTL_PORT"
tl_wait_for 40 "an answered session at the relay" sip_answered_call
CALL=$SIP_CALL_ID
# the relay's leg facing each side: A the caller's (IPv6), B the gateway's
legs() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" || return 1
	A_EP=$(jq -r '.streams[0].legs[] | select(.side == "A") | .local' <<<"$TL_REPLY")
	B_EP=$(jq -r '.streams[0].legs[] | select(.side == "B") | .local' <<<"$TL_REPLY")
	[ -n "$A_EP" ] && [ -n "$B_EP" ]
}
tl_wait_for 10 "the session's legs" legs
tl_log "call $CALL: [$CUST6]:$CALLER_RTP <-> $A_EP | $B_EP <-> $GW:$GW_RTP"
case $A_EP in "[$ACCESS6]:"*) ;; *) tl_fail "leg A not on [$ACCESS6]: $A_EP" ;; esac
case $B_EP in "$CORE:"*) ;; *) tl_fail "leg B not on $CORE: $B_EP" ;; esac
A_PORT=${A_EP##*:} B_PORT=${B_EP##*:}

# ---- 1. each side's SIP names only its own family ------------------------------
received() {	# what SIPp received (the messages after "received")
	tr -d '\r' <"$1" | awk '/ message received/ { r = 1; next } / message sent/ { r = 0 } r'
}
tl_wait_for 20 "the caller's 200 OK with the relay's port" grep -q "m=audio $A_PORT " "$TL_TMP/caller.msgs"
grep -q "m=audio $B_PORT " "$TL_TMP/gw.msgs" || tl_fail "the gateway's INVITE lacks port $B_PORT"
R=$(received "$TL_TMP/caller.msgs")
grep -qE '10\.0\.[0-9]+\.[0-9]+|IN IP4' <<<"$R" &&
	tl_fail "the IPv6 caller received an IPv4 address: $(grep -E '10\.0\.|IN IP4' <<<"$R" | head -3)"
grep -qx "c=IN IP6 $ACCESS6" <<<"$R" && grep -qE "^o=.* IN IP6 $ACCESS6\$" <<<"$R" ||
	tl_fail "the caller's SDP does not name [$ACCESS6] in c= and o=: $R"
grep -qiE "^(Contact|m):.*\[$ACCESS6\]:$CTL_PORT" <<<"$R" || tl_fail "the caller's Contact is not [$ACCESS6]:$CTL_PORT"
R=$(received "$TL_TMP/gw.msgs")
grep -qiE 'fd00:|IN IP6' <<<"$R" &&
	tl_fail "the IPv4 gateway received an IPv6 address: $(grep -iE 'fd00:|IN IP6' <<<"$R" | head -3)"
grep -qx "c=IN IP4 $CORE" <<<"$R" && grep -qE "^o=.* IN IP4 ${CORE//./\\.}\$" <<<"$R" ||
	tl_fail "the gateway's SDP does not name $CORE in c= and o=: $R"
tl_log "SIP: the caller's side names only IPv6 ($ACCESS6), the gateway's only IPv4 ($CORE)"
sip_expect opt 60 "the IPv6 gateway gets an OPTIONS probe"
grep -qE '10\.0\.[0-9]+\.[0-9]+' <<<"$(received "$TL_TMP/opt.msgs")" && tl_fail "the IPv6 probe names an IPv4 address"
# (the log line: the probes after it, unanswered, mark it down again)
tl_wait_for 30 "the controller to mark the IPv6 gateway up" \
	grep -qE 'gateway gw6: [a-z]+ -> up \(last probe: 200\)' "$TL_TMP/controller.log"
tl_log "OPTIONS probe over IPv6: gw6 up"

# ---- 2. media both ways in the kernel ------------------------------------------------
# media TAG N SEQ [SINK]: N packets each way from counter SEQ (200 pps);
# with SINK=1 each end checks every packet (source, SSRC, sequence, payload).
media() {
	local tag=$1 n=$2 seq=$3
	if [ "${4:-0}" = 1 ]; then
		tl_sink "${tag}s_gw" "$TL_NS_CALLEE" -b "$GW:$GW_RTP" -f "$B_EP" -S 0x1000 --start-seq "$seq" -e "$n" -l 0.3 -t 60
		tl_sink "${tag}s_cl" "$TL_NS_CALLER" -b "[$CUST6]:$CALLER_RTP" -f "$A_EP" -S 0x2000 --start-seq "$seq" -e "$n" -l 0.3 -t 60
	fi
	tl_gen "${tag}g_cl" "$TL_NS_CALLER" -b "[$CUST6]:$CALLER_RTP" -d "$A_EP" -S 0x1000 --start-seq "$seq" -c "$n" -r 200
	tl_gen "${tag}g_gw" "$TL_NS_CALLEE" -b "$GW:$GW_RTP" -d "$B_EP" -S 0x2000 --start-seq "$seq" -c "$n" -r 200
	tl_expect_ok "${tag}g_cl" 60 "$tag: rtpgen caller"
	tl_expect_ok "${tag}g_gw" 60 "$tag: rtpgen gateway"
	if [ "${4:-0}" = 1 ]; then	# judged by sinks_ok, after the kernel's counters
		tl_reap "${tag}s_gw" 60
		SINK_RC[${tag}s_gw]=$TL_RC
		tl_reap "${tag}s_cl" 60
		SINK_RC[${tag}s_cl]=$TL_RC
	fi
}
declare -A SINK_RC
sinks_ok() {	# sinks_ok TAG: both ends got every packet of media TAG
	local s
	for s in "${1}s_gw:the gateway got every packet, intact, from $B_EP (IPv4)" \
		"${1}s_cl:the caller got every packet, intact, from $A_EP (IPv6)"; do
		[ "${SINK_RC[${s%%:*}]}" = 0 ] && continue
		cat "$TL_TMP/${s%%:*}.err" >&2
		tl_fail "$1: ${s#*:}: rtpsink exited ${SINK_RC[${s%%:*}]}: $(jq -c 'del(.flows)' "$TL_TMP/${s%%:*}.out")"
	done
}
# Few processes: each costs about a second in the emulated guest of a
# loaded host.
udp_in() {	# datagrams delivered to sockets of the relay ns (IPv6, IPv4)
	ip netns exec "$TL_NS_RELAY" awk '$1 == "Udp6InDatagrams" || /^Udp: [0-9]/ { print $2 }' \
		/proc/net/snmp6 /proc/net/snmp
}
# kstate: one netlink dump of trunkline.ko's table; for each entry, by its
# local endpoint as relayd names it ("[v6]:port", "v4:port"): KE the
# dump's line, KP its packets, KM its mismatches (strangers dropped).
declare -A KE KP KM
kstate() {
	local line ep
	KE=() KP=() KM=()
	while read -r line; do
		[[ $line =~ (^| )local=([^ ]+)\ lport=([0-9]+) ]] || continue
		case ${BASH_REMATCH[2]} in
		*:*) ep="[${BASH_REMATCH[2]}]:${BASH_REMATCH[3]}" ;;
		*) ep="${BASH_REMATCH[2]}:${BASH_REMATCH[3]}" ;;
		esac
		KE[$ep]=" $line "
		[[ $line =~ \ packets=([0-9]+) ]] && KP[$ep]=${BASH_REMATCH[1]}
		[[ $line =~ \ mismatch=([0-9]+) ]] && KM[$ep]=${BASH_REMATCH[1]}
	done < <(ip netns exec "$TL_NS_RELAY" /sbin/tlk dump)
}
latched() {
	legs && jq -e '[.streams[0].legs[].latched | select(. != null)] | length == 2' <<<"$TL_REPLY"
}
# A few packets first: each leg learns its peer (exact SDP match: fixed at once).
media p1 10 0
tl_wait_for 30 "both legs latched" latched
tl_assert_json "$TL_REPLY" ".streams[0].legs[] | select(.side == \"A\") | .latched == \"[$CUST6]:$CALLER_RTP\"" \
	"leg A latched to the IPv6 caller"
tl_assert_json "$TL_REPLY" ".streams[0].legs[] | select(.side == \"B\") | .latched == \"$GW:$GW_RTP\"" \
	"leg B latched to the IPv4 gateway"
kstate
K_A0=${KP[$A_EP]:-} K_B0=${KP[$B_EP]:-}
U0=$(udp_in)
N=200
media p2 "$N" 10 1
U1=$(udp_in)
# Ordered so that a relay carrying the media in userspace fails on what
# proves it (its sockets received the packets), not on a status field.
[ "$U0" = "$U1" ] || tl_fail "relayd's sockets received datagrams during the call's media: Udp6/Udp InDatagrams $(echo $U0) -> $(echo $U1)"
[ -n "$K_A0" ] && [ -n "$K_B0" ] || tl_fail "no kernel entry for $A_EP or $B_EP: ${KE[*]}"
kstate
K_A1=${KP[$A_EP]} K_B1=${KP[$B_EP]}
sinks_ok p2
[ ${#KE[@]} = 4 ] || tl_fail "want 4 kernel entries (RTP and RTCP of each leg), found ${#KE[@]}"
[ $((K_A1 - K_A0)) = "$N" ] && [ $((K_B1 - K_B0)) = "$N" ] ||
	tl_fail "trunkline.ko's entries counted $((K_A1 - K_A0)) (caller -> gateway) and $((K_B1 - K_B0)) (gateway -> caller) of $N packets"
printf '%s\n' "${KE[@]}"
# The entries translate: the IPv6 leg's out to the gateway over IPv4 from
# leg B's port, the IPv4 leg's out to the caller over IPv6 from leg A's,
# each taking only its peer (strict source).
[[ ${KE[$A_EP]} == *" family=10 "* && ${KE[$A_EP]} == *" osrc=$CORE osport=$B_PORT odst=$GW odport=$GW_RTP "* &&
	${KE[$A_EP]} == *" src=$CUST6 sport=$CALLER_RTP "* ]] ||
	tl_fail "caller-side entry: want IPv6, src [$CUST6]:$CALLER_RTP, out $CORE:$B_PORT -> $GW:$GW_RTP: ${KE[$A_EP]}"
[[ ${KE[$B_EP]} == *" family=2 "* && ${KE[$B_EP]} == *" osrc=$ACCESS6 osport=$A_PORT odst=$CUST6 odport=$CALLER_RTP "* &&
	${KE[$B_EP]} == *" src=$GW sport=$GW_RTP "* ]] ||
	tl_fail "gateway-side entry: want IPv4, src $GW:$GW_RTP, out [$ACCESS6]:$A_PORT -> [$CUST6]:$CALLER_RTP: ${KE[$B_EP]}"
tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$CALL\"}" "query"
tl_assert_json "$TL_REPLY" '.streams[0].path == "kmod"' "query: path kmod"
tl_assert_json "$TL_REPLY" "[.streams[0].legs[] | .stats.packets >= $N and .sockets == false] | all" \
	"query: each leg counts the kernel's packets and holds no socket"
tl_log "IPv6 caller <-> IPv4 gateway: $((2 * N)) packets in trunkline.ko, none through relayd's sockets"

# ---- 3. strict source: strangers are dropped in the kernel --------------------------
INJ=25
M_A0=${KM[$A_EP]} M_B0=${KM[$B_EP]}
tl_sink p3s_gw "$TL_NS_CALLEE" -b "$GW:$GW_RTP" -f "$B_EP" -e 0 -i 1.5 -t 15
tl_sink p3s_cl "$TL_NS_CALLER" -b "[$CUST6]:$CALLER_RTP" -f "$A_EP" -e 0 -i 1.5 -t 15
tl_gen p3g6 "$TL_NS_ATTACKER" -b "[$TL_ATTACKER6]:$CALLER_RTP" -d "$A_EP" -S 0x6666 -c "$INJ" -r 200
tl_gen p3g4 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:$GW_RTP" -d "$B_EP" -S 0x6667 -c "$INJ" -r 200
tl_expect_ok p3g6 30 "stranger (IPv6) to the caller's leg"
tl_expect_ok p3g4 30 "stranger (IPv4) to the gateway's leg"
for s in p3s_gw p3s_cl; do
	tl_reap $s 30
	tl_assert_json "$(tl_summary $s)" '.received == 0 and .unexpected == 0 and .bad_ssrc == 0' "$s: nothing of the stranger's forwarded"
done
kstate
[ "${KM[$A_EP]}/${KM[$B_EP]}" = "$((M_A0 + INJ))/$((M_B0 + INJ))" ] ||
	tl_fail "the kernel's mismatch counters: ${KM[$A_EP]}/${KM[$B_EP]}, want $((M_A0 + INJ))/$((M_B0 + INJ))"
[ "${KP[$A_EP]}/${KP[$B_EP]}" = "$K_A1/$K_B1" ] || tl_fail "the kernel forwarded a stranger's packets"
tl_log "strict source: $((2 * INJ)) strangers' packets (IPv6 and IPv4) dropped by trunkline.ko"

# ---- 4. hangup: BYE both ways, the entries go --------------------------------------
sip_ctl hangup "$CALL" >/dev/null || tl_fail "controller hangup $CALL"
sip_expect caller 30 "the IPv6 caller gets BYE"
sip_expect gw 30 "the IPv4 gateway gets BYE"
tl_wait_for 20 "no call left" sip_no_calls
[ "$(ip netns exec "$TL_NS_RELAY" /sbin/tlk count)" = 0 ] ||
	tl_fail "entries left after the hangup: $(ip netns exec "$TL_NS_RELAY" /sbin/tlk dump)"
sip_controller_stop
tl_relayd_stop
rmmod trunkline || tl_fail "rmmod"
if dmesg | grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace'; then
	tl_fail "kernel log has a warning or oops"
fi
tl_pass
