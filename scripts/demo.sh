#!/bin/bash
#
# demo.sh: the README's demo of trunkline-relayd (make demo; needs root).
#
# It builds a caller, a relay and a callee network namespace (the test
# topology of tests/lib/netns.sh), starts the relay from build/, sets up
# one call with offer/answer the way a SIP proxy would, sends 3 s of RTP
# both ways at 50 packets per second, shows what arrived, the relay's view
# of the call (trunklinectl query) and its totals (trunklinectl stats),
# deletes the call and tears everything down. Exit 0 if every packet
# arrived both ways.
#
# TL_BUILD=build/asan scripts/demo.sh runs the sanitizer build instead.
set -u -o pipefail

TL_NAME=demo
TL_BUILD=${TL_BUILD:-build}
# shellcheck source=../tests/lib/netns.sh
. "$(dirname "$0")/../tests/lib/netns.sh"

CALL=demo-call-1
SECS=3
RATE=50
COUNT=$((SECS * RATE))

say() {
	printf '\n== %s\n' "$*"
}

[ "$(id -u)" = 0 ] || { echo "demo.sh: needs root (it creates network namespaces)" >&2; exit 1; }
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" '.log_level = "info"'

say "trunkline-relayd in namespace $TL_NS_RELAY: caller side $TL_RELAY_A_IP, callee side $TL_RELAY_B_IP"
jq -c '{interfaces, ports, timeouts}' "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

say "offer: the caller ($TL_CALLER_IP:4000) calls; the relay answers with the address to give the callee"
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$CALL\",\"from_tag\":\"alice\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}" offer
jq -c '.media[0] | {address, rtp_port, rtcp_port}' <<<"$TL_REPLY"
B_PORT=$(jq '.media[0].rtp_port' <<<"$TL_REPLY")

say "answer: the callee ($TL_CALLEE_IP:5000) answers; the relay gives the address to give the caller"
tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"$CALL\",\"from_tag\":\"alice\",\"to_tag\":\"bob\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":5000}]}" answer
jq -c '.media[0] | {address, rtp_port, rtcp_port}' <<<"$TL_REPLY"
A_PORT=$(jq '.media[0].rtp_port' <<<"$TL_REPLY")

say "RTP both ways for ${SECS}s at $RATE packets/s (and RTCP every 10 packets)"
tl_sink caller_rx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -R -f "$TL_RELAY_A_IP:$A_PORT" \
	-S 0x2000 -e "$COUNT" --expect-rtcp $((COUNT / 10)) -t $((SECS + 10))
tl_sink callee_rx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -R -f "$TL_RELAY_B_IP:$B_PORT" \
	-S 0x1000 -e "$COUNT" --expect-rtcp $((COUNT / 10)) -t $((SECS + 10))
tl_gen caller_tx "$TL_NS_CALLER" -b "$TL_CALLER_IP:4000" -d "$TL_RELAY_A_IP:$A_PORT" -R \
	-S 0x1000 -c "$COUNT" -r "$RATE"
tl_gen callee_tx "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:5000" -d "$TL_RELAY_B_IP:$B_PORT" -R \
	-S 0x2000 -c "$COUNT" -r "$RATE"
status=0
for t in caller_tx callee_tx caller_rx callee_rx; do
	tl_reap "$t" $((SECS + 15)) || status=1
done

report() { # SINK FROM TO
	jq -r --arg from "$2" --arg to "$3" '.flows[] |
		"\($from) -> \($to): \(.received)/\(.expected) \(.kind | ascii_upcase) packets on \(.local), sent by the relay from \(.from); lost \(.lost), wrong source \(.bad_source), damaged \(.bad_payload + .bad_header)"' \
		"$TL_TMP/$1.out" 2>/dev/null || echo "$2 -> $3: no summary from rtpsink: $(cat "$TL_TMP/$1.err")"
}
say "what arrived"
report callee_rx caller callee
report caller_rx callee caller
if [ "$status" != 0 ]; then
	cat "$TL_TMP/caller_rx.err" "$TL_TMP/callee_rx.err" "$TL_TMP/caller_tx.err" "$TL_TMP/callee_tx.err" >&2
fi

say "trunklinectl query $CALL"
tl_ctl query "$CALL" || status=1
say "trunklinectl stats"
tl_ctl stats || status=1
say "trunklinectl delete $CALL"
tl_ctl delete "$CALL" >/dev/null || status=1
tl_ctl list || status=1

tl_relayd_stop
if [ "$status" = 0 ]; then
	say "demo OK: every packet arrived both ways through the relay"
else
	say "demo FAILED: see above"
fi
exit "$status"
