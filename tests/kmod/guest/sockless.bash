#!/bin/bash
#
# sockless.bash (runs in the qemu guest): with the kmod backend an offer
# opens no socket (relayd/offerhold.c, kmod_hold.c). relayd runs with
# RLIMIT_NOFILE 512, which bound sockets (4 per offered stream) would
# exhaust at about 120 offers.
#   1. an offered call: its four ports hold TL_F_HOLD entries and relayd
#      no socket; the callee's early packets to the published leg B port
#      are dropped and counted in the kernel (query: leg B's drops), and
#      draw no ICMP port unreachable (Icmp OutDestUnreachs; a packet to a
#      port with neither entry nor socket, the control, draws one);
#   2. 2,000 more offers (pipelined, unanswered): every one ok, relayd's
#      descriptors stay what they were, 4 held entries each;
#   3. the first call's answer: its entries learn in the kernel (replaced
#      in place, the early packets carried over into leg B's drops); media
#      both ways, every packet from the relay's own address and port; an
#      attacker after the caller is dropped in the kernel (mismatch) and
#      hears nothing;
#   4. the 2,000 answers: ok, descriptors unchanged, 4 learning entries
#      each; deleting every call leaves no entry; no hold was refused.
set -u -o pipefail
export TL_RELAYD=/sbin/trunkline-relayd TL_CTL=/sbin/trunklinectl \
	TL_RTPGEN=/sbin/rtpgen TL_RTPSINK=/sbin/rtpsink TL_NAME=kmod_sockless
# shellcheck source=../../lib/netns.sh
. /test/tests/lib/netns.sh

N=2000
NOFILE=512
insmod /test/trunkline.ko || tl_fail "insmod trunkline.ko"
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" '.ports = {min: 20000, max: 29999} | .timeouts.setup = 600 | .timeouts.inactivity = 600 | .log_level = "info" | .endpoint_learning = {mode: "heuristic", window: 2}'
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_local_reserved_ports=20000-29999
# relayd raises its limit as far as it may: without CAP_SYS_RESOURCE
# (dropped from the bounding set) not beyond the hard limit, NOFILE
printf '#!/sbin/bash\nulimit -n %s || exit 1\nexec /sbin/setpriv --bounding-set -sys_resource /sbin/trunkline-relayd "$@"\n' "$NOFILE" >"$TL_TMP/relayd-nofile"
chmod +x "$TL_TMP/relayd-nofile"
TL_RELAYD=$TL_TMP/relayd-nofile
tl_relayd_start "$TL_TMP/relayd.json"
PID=$TL_RELAYD_PID
grep -q "^Max open files *$NOFILE " "/proc/$PID/limits" ||
	tl_fail "relayd's RLIMIT_NOFILE is not $NOFILE: $(grep 'open files' "/proc/$PID/limits")"
tl_rpc_ok '{"cmd":"hello"}' "hello"
tl_assert_json "$TL_REPLY" '.backend == "kmod"' "hello: backend kmod"

fds() { ls "/proc/$PID/fd" | wc -l; }
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
entries() { ip netns exec "$TL_NS_RELAY" tlk count; }
tlk_get() { ip netns exec "$TL_NS_RELAY" tlk get "$1"; }
unreach() { ip netns exec "$TL_NS_RELAY" awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["OutDestUnreachs"] }' /proc/net/snmp; }
query() { tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$1\"}" "query $1"; }
sink_field() { jq -r ".$2" "$TL_TMP/$1.out"; }

# ---- 1. an offered call holds its ports in the kernel, no sockets ----------
CALL=early
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}" "offer $CALL"
B_PORT=$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")
query "$CALL"
tl_assert_json "$TL_REPLY" '.streams[0].path_reason | startswith("offered; 4 ports held in trunkline.ko")' "offer: 4 ports held in the kernel"
tl_assert_json "$TL_REPLY" 'all(.streams[0].legs[]; .sockets == false)' "offer: no leg has a socket"
A_PORT=$(jq -r '.streams[0].legs[0].local | split(":")[1]' <<<"$TL_REPLY")
[ "$(entries)" = 4 ] || tl_fail "offer: $(entries) entries, expected 4"
GET=$(tlk_get "$TL_RELAY_B_IP:$B_PORT") || tl_fail "offer: no entry on leg B's port $B_PORT"
[ $(($(field flags "$GET") & 16)) = 16 ] || tl_fail "offer: leg B's entry is not held (TL_F_HOLD): $GET"
tl_log "offer $CALL: leg A port $A_PORT, leg B port $B_PORT; entry: $GET"

# the control: a port with neither entry nor socket draws an ICMP error
U0=$(unreach)
tl_gen ctl_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP" -d "$TL_RELAY_B_IP:19998" -c 1 -r 50
tl_expect_ok ctl_tx 30 "control packet sent"
U1=$(unreach)
[ "$U1" -gt "$U0" ] || tl_fail "the control packet to an unused port drew no ICMP (OutDestUnreachs $U0 -> $U1): the counter tells nothing"
EARLY=20
tl_gen early_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B_PORT" -c "$EARLY" -r 100 -R --rtcp-every 2
tl_expect_ok early_tx 30 "early packets sent to the offered leg B port"
U2=$(unreach)
[ "$U2" = "$U1" ] || tl_fail "early packets drew $((U2 - U1)) ICMP port unreachable"
RTP_MM=$(field mismatch "$(tlk_get "$TL_RELAY_B_IP:$B_PORT")")
RTCP_MM=$(field mismatch "$(tlk_get "$TL_RELAY_B_IP:$((B_PORT + 1))")")
[ "$RTP_MM" = "$EARLY" ] && [ "$RTCP_MM" = $((EARLY / 2)) ] ||
	tl_fail "early packets: the held entries counted $RTP_MM RTP and $RTCP_MM RTCP, expected $EARLY and $((EARLY / 2))"
tl_log "early: $EARLY RTP + $((EARLY / 2)) RTCP packets dropped and counted in the kernel, no ICMP (OutDestUnreachs stays $U2)"
query "$CALL"
tl_assert_json "$TL_REPLY" ".streams[0].legs[1].stats.drops == $((EARLY + EARLY / 2)) and .streams[0].legs[0].stats.drops == 0" \
	"offer: the early packets are leg B's drops in query"

# ---- 2. 2,000 offers: no descriptor more ---------------------------------------
F0=$(fds)
offerhold -s "$TL_SOCK" -n "$N" -m offer -P load -A 192.0.2.10 -B 192.0.2.20 >"$TL_TMP/offers.json" ||
	tl_fail "$N offers with RLIMIT_NOFILE $NOFILE: $(cat "$TL_TMP/offers.json"); relayd: $(grep -iE 'warn|error' "$TL_TMP/relayd.log" | tail -n 3)"
F1=$(fds)
tl_log "$N offers: $(cat "$TL_TMP/offers.json"); relayd's descriptors $F0 -> $F1"
[ "$F1" -le "$F0" ] || tl_fail "relayd's descriptors grew over $N offers: $F0 -> $F1"
[ "$(entries)" = $((4 * (N + 1))) ] || tl_fail "$(entries) entries after $N offers, expected $((4 * (N + 1)))"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" ".streams == $((N + 1)) and .sockets == 0 and .streams_without_sockets == $((N + 1)) and .hold_failures == 0" \
	"stats: $((N + 1)) streams, no socket, none refused"

# ---- 3. the answer: learning in place, media both ways -------------------------
tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"$CALL\",\"from_tag\":\"ft-$CALL\",\"to_tag\":\"tt-$CALL\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":5000}]}" "answer $CALL"
[ "$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")" = "$A_PORT" ] || tl_fail "answer: leg A's port changed"
query "$CALL"
tl_assert_json "$TL_REPLY" '.streams[0].path == "kmod" and (.streams[0].path_reason | startswith("learning in trunkline.ko"))' \
	"answer: the held entries became learning ones"
GET=$(tlk_get "$TL_RELAY_B_IP:$B_PORT")
[ $(($(field flags "$GET") & 16)) = 0 ] || tl_fail "answer: leg B's entry still held: $GET"
COUNT=200
A_LIST=$TL_RELAY_A_IP:$A_PORT B_LIST=$TL_RELAY_B_IP:$B_PORT
tl_sink crx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -f "$A_LIST" -S 0x2000 -e "$COUNT" -t 120 -l 1 --allow-reorder
tl_sink erx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$B_LIST" -S 0x1000 -e "$COUNT" -t 120 -l 1 --allow-reorder
tl_sink arx "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -t 300
tl_gen ctx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$A_LIST" -S 0x1000 -c "$COUNT" -r 100
tl_gen etx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$B_LIST" -S 0x2000 -c "$COUNT" -r 100
fixed() { query "$CALL" && jq -e --arg a "$TL_CALLER_IP:4000" '.streams[0].legs[0].learning.state == "fixed" and .streams[0].legs[0].latched == $a' <<<"$TL_REPLY"; }
tl_wait_for 60 "answer: the caller's SDP endpoint is fixed" fixed
ATT=50
tl_gen att "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -d "$A_LIST" -S 0x6666 -c "$ATT" -r 100
tl_expect_ok att 30 "attacker's packets sent"
tl_expect_ok ctx 60 "caller's rtpgen"
tl_expect_ok etx 60 "callee's rtpgen"
tl_reap crx 60
tl_reap erx 60
for s in crx erx; do
	[ "$(sink_field $s received)" = "$COUNT" ] && [ "$(sink_field $s bad_ssrc)" = 0 ] &&
		[ "$(sink_field $s bad_source)" = 0 ] ||
		tl_fail "$s: not exactly the $COUNT packets from the relay's own address and port: $(jq -c 'del(.flows)' "$TL_TMP/$s.out")"
done
tl_log "media: $COUNT packets each way, each from the relay's own address and port"
kill -TERM "${TL_PID[arx]}"
tl_reap arx 30
[ "$(sink_field arx received)" = 0 ] || tl_fail "the attacker heard media: $(jq -c 'del(.flows)' "$TL_TMP/arx.out")"
A_MM=$(field mismatch "$(tlk_get "$TL_RELAY_A_IP:$A_PORT")")
[ "$A_MM" = "$ATT" ] || tl_fail "leg A's entry counted $A_MM mismatches, expected the attacker's $ATT"
query "$CALL"
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.drops == $ATT and .streams[0].legs[1].stats.drops == $((EARLY + EARLY / 2))" \
	"the attacker's $ATT packets are leg A's drops; the $((EARLY + EARLY / 2)) early ones leg B's"
[ "$(unreach)" = "$U2" ] || tl_fail "ICMP port unreachable sent during the call"

# ---- 4. the 2,000 answers; deletes leave nothing ------------------------------
offerhold -s "$TL_SOCK" -n "$N" -m answer -P load -A 192.0.2.10 -B 192.0.2.20 >"$TL_TMP/answers.json" ||
	tl_fail "$N answers: $(cat "$TL_TMP/answers.json")"
F2=$(fds)
tl_log "$N answers: $(cat "$TL_TMP/answers.json"); relayd's descriptors $F2"
[ "$F2" -le "$F0" ] || tl_fail "relayd's descriptors grew over $N answers: $F0 -> $F2"
[ "$(entries)" = $((4 * (N + 1))) ] || tl_fail "$(entries) entries after the answers, expected $((4 * (N + 1)))"
HELD=$(ip netns exec "$TL_NS_RELAY" tlk dump | grep -c 'flags=17 ')
[ "$HELD" = 0 ] || tl_fail "$HELD entries still held after every answer"
offerhold -s "$TL_SOCK" -n "$N" -m delete -P load >"$TL_TMP/deletes.json" ||
	tl_fail "$N deletes: $(cat "$TL_TMP/deletes.json")"
tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$CALL\"}" "delete $CALL"
[ "$(entries)" = 0 ] || tl_fail "$(entries) entries left after every delete"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.streams == 0 and .hold_failures == 0' "stats: no stream left, no hold refused"
tl_log "deletes: no entry left; relayd's descriptors $(fds)"
tl_relayd_stop
rmmod trunkline || tl_fail "rmmod trunkline"
tl_pass
