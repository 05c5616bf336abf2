#!/bin/bash
#
# srtp-cost.sh: what a WebRTC leg costs the relay per packet, next to
# plain relaying, in one run on the same relay (userspace backend, the
# only path a WebRTC leg takes).
#
#   plain: rtpgen caller -> leg A -> callee and callee -> leg B -> caller,
#          COUNT packets each way at RATE, rtpsink counting both ends;
#   srtp:  webrtc_blast (relayd's own DTLS/SRTP code as the browser)
#          sends COUNT SRTP packets at RATE to the WebRTC leg (the relay
#          authenticates and decrypts each), rtpgen sends COUNT plain
#          packets from the SIP side (the relay encrypts each toward the
#          browser); rtpsink and webrtc_blast check delivery.
#
# relayd's CPU time (utime + stime from /proc) is read around each phase;
# the result is CPU microseconds per packet the relay received and relayed
# (its own counters: a loaded host may lose a few) for both, and their
# ratio; and, for scale, the SRTP work alone (protect + unprotect per
# packet, no sockets) from webrtc_blast --crypto. Usage: srtp-cost.sh [--count N] [--rate PPS] [--out FILE]
# (defaults 50000 and 5000 per direction). Needs root (network namespaces).
#
set -u -o pipefail
TL_NAME=srtp-cost
# shellcheck source=../../tests/lib/netns.sh
. "$(dirname "$0")/../../tests/lib/netns.sh"

COUNT=50000
RATE=5000
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--count) COUNT=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) echo "usage: $0 [--count N] [--rate PPS] [--out FILE]" >&2; exit 2 ;;
	esac
done
BLAST=$TL_BUILD_DIR/tools/webrtc_blast
SECS=$(( COUNT / RATE + 20 ))

tl_init
[ -x "$BLAST" ] || tl_fail "$BLAST is not built (make)"
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" '.backend = "userspace" | .log_level = "info"'
tl_relayd_start "$TL_TMP/relayd.json"

cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$TL_RELAYD_PID/stat"
}
HZ=$(getconf CLK_TCK)

# ---- plain ----
tl_offer_answer plain 1
tl_sink plain_rx_b "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -f "$TL_B_LIST" -e "$COUNT" -t "$SECS" -i 3
tl_sink plain_rx_a "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -f "$TL_A_LIST" -e "$COUNT" -t "$SECS" -i 3
C0=$(cpu_ticks)
tl_gen plain_tx_a "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_A_LIST" -c "$COUNT" -r "$RATE" --max-time "$SECS"
tl_gen plain_tx_b "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_B_LIST" -c "$COUNT" -r "$RATE" --max-time "$SECS" -S 0x2000
tl_expect_ok plain_tx_a "$SECS" "plain: caller's rtpgen"
tl_expect_ok plain_tx_b "$SECS" "plain: callee's rtpgen"
# Under load a few packets may be lost: the cost is per packet relayed
# (the relay's own counters); the sinks' counts are reported.
tl_reap plain_rx_b "$SECS"
tl_reap plain_rx_a "$SECS"
C1=$(cpu_ticks)
tl_rpc_ok '{"cmd":"query","call_id":"plain"}' "query plain"
P_RELAYED=$(jq '[.streams[0].legs[].stats.packets] | add' <<<"$TL_REPLY")
P_RX=$(( $(tl_summary plain_rx_a | jq .received) + $(tl_summary plain_rx_b | jq .received) ))
tl_rpc_ok '{"cmd":"delete","call_id":"plain"}' "delete plain"

# ---- srtp ----
rm -f "$TL_TMP/go"
tl_spawn blast "$TL_NS_CALLER" "$BLAST" --sock "$TL_SOCK" --call srtp \
	--bind "$TL_CALLER_IP:4100" --sink "$TL_CALLEE_IP:5100" --ifaces caller,callee \
	--count "$COUNT" --rate "$RATE" --ready "$TL_TMP/blast.ready" --go "$TL_TMP/go"
tl_wait_for 15 "webrtc_blast: ICE and DTLS done" test -s "$TL_TMP/blast.ready"
B_PORT=$(jq .leg_b_port "$TL_TMP/blast.ready")
tl_sink srtp_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5100" -f "$TL_RELAY_B_IP:$B_PORT" -e "$COUNT" -t "$SECS" -i 3
C2=$(cpu_ticks)
touch "$TL_TMP/go"
tl_gen srtp_tx_b "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5100" -d "$TL_RELAY_B_IP:$B_PORT" -c "$COUNT" -r "$RATE" --max-time "$SECS" -S 0x3000
tl_expect_ok srtp_tx_b "$SECS" "srtp: the SIP side's rtpgen"
tl_expect_ok blast "$SECS" "srtp: webrtc_blast"
tl_reap srtp_rx "$SECS"
C3=$(cpu_ticks)
S_RX=$(( $(tl_summary srtp_rx | jq .received) ))
tl_assert_json "$(tl_summary srtp_rx)" '.bad_payload == 0 and .bad_header == 0 and .bad_source == 0 and .received > 0' \
	"srtp: what reached the SIP side was decrypted intact (rtpgen's pattern), from leg B"
BL=$(tail -n 1 "$TL_TMP/blast.out")
tl_rpc_ok '{"cmd":"query","call_id":"srtp"}' "query srtp"
Q=$TL_REPLY
tl_assert_json "$BL" ".received_ok == .received and .received > 0" "srtp: the browser authenticated every packet the relay encrypted"
tl_assert_json "$Q" ".streams[0].legs[0].webrtc | .srtp_auth_fail == 0 and .srtp_in > 0 and .srtp_out > 0" \
	"srtp: no authentication failure"
S_RELAYED=$(jq '[.streams[0].legs[].stats.packets] | add' <<<"$Q")

CRYPTO=$("$BLAST" --crypto 200000) || tl_fail "webrtc_blast --crypto failed"
RES=$(jq -n --argjson crypto "$CRYPTO" --argjson count "$COUNT" --argjson rate "$RATE" --argjson hz "$HZ" \
	--argjson plain $((C1 - C0)) --argjson srtp $((C3 - C2)) --argjson blast "$BL" \
	--argjson prel "$P_RELAYED" --argjson srel "$S_RELAYED" \
	--argjson prx "$P_RX" --argjson srx "$((S_RX + $(jq .received_ok <<<"$BL")))" \
	--arg profile "$(jq -r '.streams[0].legs[0].webrtc.srtp_profile' <<<"$Q")" '{
	count_per_direction: $count, rate_pps: $rate, srtp_profile: $profile,
	handshake_ms: $blast.handshake_ms,
	plain_cpu_s: ($plain / $hz), srtp_cpu_s: ($srtp / $hz),
	plain_relayed: $prel, plain_delivered: $prx,
	srtp_relayed: $srel, srtp_delivered: $srx,
	plain_us_per_pkt: ($plain / $hz * 1e6 / $prel),
	srtp_us_per_pkt: ($srtp / $hz * 1e6 / $srel),
	ratio: (if $plain > 0 then ($srtp / $srel) / ($plain / $prel) else null end),
	crypto_only: $crypto}
	# Per core: a G.711 call at 20 ms is 50 packets/s each way, 100 relayed
	# a second; a WebRTC call has one WebRTC leg (the browser) and one plain
	# one, and each of its packets is decrypted or encrypted once. Linear in
	# the CPU per packet measured here (not a saturation test).
	| .pps_per_call = 100
	| .plain_calls_per_core = (if .plain_us_per_pkt > 0 then 1e6 / (.plain_us_per_pkt * 100) else null end)
	| .webrtc_legs_per_core = (if .srtp_us_per_pkt > 0 then 1e6 / (.srtp_us_per_pkt * 100) else null end)
	| .legs_per_core_vs_plain = (if .ratio != null and .ratio > 0 then 1 / .ratio else null end)')
[ -n "$OUT" ] && echo "$RES" >"$OUT"
echo "$RES"
tl_log "per relayed packet: plain $(jq .plain_us_per_pkt <<<"$RES") us, SRTP leg $(jq .srtp_us_per_pkt <<<"$RES") us, ratio $(jq .ratio <<<"$RES")"
tl_log "per core: $(jq '.webrtc_legs_per_core | floor' <<<"$RES") WebRTC calls (one WebRTC leg each), $(jq '.plain_calls_per_core | floor' <<<"$RES") plain calls; $(jq .legs_per_core_vs_plain <<<"$RES") of plain"
tl_relayd_stop
tl_pass
