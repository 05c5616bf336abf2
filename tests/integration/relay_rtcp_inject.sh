#!/bin/bash
#
# relay_rtcp_inject.sh: RTCP sent to a leg's RTCP port by anyone but the
# leg's RTP peer is dropped, never forwarded, and never moves the stream.
#
# Two calls, both latched on RTP (neither side has sent RTCP yet, as with
# endpoints that send it rarely): one without rtcp-mux, one where both
# sides mux RTCP onto the RTP port. The attacker, in its own namespace,
# then sends RTCP sender reports to leg A's RTCP port of each, and the
# calls go on (the plain call's peers send RTCP now). The attacker gets
# nothing back, caller and callee get exactly each other's packets (on
# the muxed call an RTCP packet on the RTP port is a bad header to the
# sink), and leg A drops exactly the injected packets (in userspace; in
# the kernel the stream has no socket for them to reach).
#
# With TL_RTCP_BACKEND=nft (nft_rtcp_inject.sh) the streams are in the
# kernel before the attack: the peers' RTCP never reaches relayd there,
# and the kernel's flows must stay as they were (no re-install toward the
# attacker).
#
# On the parent commit the plain leg's open RTCP latch took the attacker
# (its RTCP reached the callee, the caller's was dropped; with nft the
# stream was installed again toward the attacker), and the muxed leg's
# RTCP port forwarded the attacker's packets to the callee's RTP port.
#
# run-also: build
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

BACKEND=${TL_RTCP_BACKEND:-userspace}
N1=50		# RTP per direction to latch
N2=100		# RTP per direction during the attack
EVERY=10
INJ=30		# RTCP packets injected per call

tl_init
tl_netns_setup
[ "$BACKEND" = nft ] && tl_nft_prepare
tl_relayd_config "$TL_TMP/relayd.json" ".backend = \"$BACKEND\""
tl_relayd_start "$TL_TMP/relayd.json"

declare -A A B
# offer_answer CALL CALLER_PORT CALLEE_PORT MUX
offer_answer() {
	local call=$1 cp=$2 ep=$3 mux=$4
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":$cp,\"rtcp_mux\":$mux}]}" "offer $call"
	B[$call]=$(jq '.media[0].rtp_port' <<<"$TL_REPLY")
	tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"to_tag\":\"tt-$call\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE_IP\",\"rtp_port\":$ep,\"rtcp_mux\":$mux}]}" "answer $call"
	A[$call]=$(jq '.media[0].rtp_port' <<<"$TL_REPLY")
	tl_log "call $call (rtcp-mux $mux): caller $cp <-> $TL_RELAY_A_IP:${A[$call]} | $TL_RELAY_B_IP:${B[$call]} <-> callee $ep"
}
query() {
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"$1\"}" "query $1"
}
in_kernel() {
	tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$1\"}" &&
		jq -e ".streams[0].path == \"$BACKEND\"" <<<"$TL_REPLY"
}

offer_answer plain 4000 5000 false
offer_answer mux 4100 5100 true

# run_call TAG CALL CALLER_PORT CALLEE_PORT SSRC_OFFSET START COUNT RTCP(0|1)
run_call() {
	local tag=$1 call=$2 cp=$3 ep=$4 off=$5 start=$6 n=$7 rtcp=$8 r=() e=()
	if [ "$rtcp" = 1 ]; then
		r=(-R --rtcp-every "$EVERY")
		e=(-R --expect-rtcp $((n / EVERY)))
	fi
	tl_sink "${tag}_erx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:$ep" -f "$TL_RELAY_B_IP:${B[$call]}" \
		-p 0 -S $((0x1000 + off)) --start-seq "$start" -e "$n" "${e[@]}" -l 0.5 -t 15
	tl_sink "${tag}_crx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$cp" -f "$TL_RELAY_A_IP:${A[$call]}" \
		-p 0 -S $((0x2000 + off)) --start-seq "$start" -e "$n" "${e[@]}" -l 0.5 -t 15
	tl_gen "${tag}_ctx" "$TL_NS_CALLER" -b "$TL_CALLER_IP:$cp" -d "$TL_RELAY_A_IP:${A[$call]}" \
		"${r[@]}" -S $((0x1000 + off)) --start-seq "$start" -c "$n" -r 200
	tl_gen "${tag}_etx" "$TL_NS_CALLEE" -b "$TL_CALLEE_IP:$ep" -d "$TL_RELAY_B_IP:${B[$call]}" \
		"${r[@]}" -S $((0x2000 + off)) --start-seq "$start" -c "$n" -r 200
}
reap_call() {
	local tag=$1
	tl_expect_ok "${tag}_ctx" 15 "$tag: caller's rtpgen"
	tl_expect_ok "${tag}_etx" 15 "$tag: callee's rtpgen"
	tl_expect_ok "${tag}_erx" 20 "$tag: the callee must get exactly the caller's packets, none of the attacker's"
	tl_expect_ok "${tag}_crx" 20 "$tag: the caller must get exactly the callee's packets"
}

# Phase 1: RTP only; both legs of both calls latch.
run_call p1plain plain 4000 5000 0 0 "$N1" 0
run_call p1mux mux 4100 5100 256 0 "$N1" 0
reap_call p1plain
reap_call p1mux
if [ "$BACKEND" != userspace ]; then
	tl_wait_for 5 "call plain in $BACKEND" in_kernel plain
	tl_wait_for 5 "call mux in $BACKEND" in_kernel mux
	FLOWS0=$(tl_nft_flows)
	[ "$FLOWS0" = 6 ] || tl_fail "expected 6 kernel flows (4 plain, 2 muxed), found $FLOWS0"
fi
for c in plain mux; do
	query "$c"
	tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched == \"$TL_CALLER_IP:$([ $c = plain ] && echo 4000 || echo 4100)\" and .streams[0].legs[0].latched_rtcp == null" \
		"$c: leg A latched the caller's RTP, no RTCP yet"
	eval "DROPS0_$c=\$(jq '.streams[0].legs[0].stats.drops' <<<\"\$TL_REPLY\")"
done

# Phase 2: the attacker injects RTCP into leg A's RTCP port of each call,
# and listens; then the calls go on (the plain one with RTCP).
tl_sink att_rx1 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4000" -R -e 0 -t 8
tl_sink att_rx2 "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4100" -R -e 0 -t 8
tl_gen inj_plain "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4001" -d "$TL_RELAY_A_IP:$((A[plain] + 1))" \
	--rtcp-only -S 0x6666 -c "$INJ" -r 200
tl_gen inj_mux "$TL_NS_ATTACKER" -b "$TL_ATTACKER_IP:4101" -d "$TL_RELAY_A_IP:$((A[mux] + 1))" \
	--rtcp-only -S 0x6667 -c "$INJ" -r 200
tl_expect_ok inj_plain 10 "injector (plain)"
tl_expect_ok inj_mux 10 "injector (mux)"
run_call p2plain plain 4000 5000 0 "$N1" "$N2" 1
run_call p2mux mux 4100 5100 256 "$N1" "$N2" 0
reap_call p2plain
reap_call p2mux
for s in att_rx1 att_rx2; do
	tl_expect_ok "$s" 15 "the attacker must receive nothing ($s)"
	tl_assert_json "$(tl_summary "$s")" '.received == 0' "the attacker received packets ($s)"
done
tl_log "$BACKEND: 2 x $INJ injected RTCP packets, none forwarded, the attacker got nothing"

for c in plain mux; do
	eval "d0=\$DROPS0_$c"
	if [ "$BACKEND" != userspace ]; then
		# In the kernel the stream holds no sockets (legsock.c): the
		# injected RTCP matches no NAT element and reaches no socket.
		query "$c"
		tl_assert_json "$TL_REPLY" ".streams[0].path == \"$BACKEND\" and .streams[0].legs[0].sockets == false and .streams[0].legs[0].stats.drops == $d0 and .streams[0].legs[0].latched_rtcp == null" \
			"$c: still in $BACKEND, no sockets, the injected RTCP neither counted nor latched"
		continue
	fi
	dropped() {
		tl_rpc "{\"cmd\":\"query\",\"call_id\":\"$c\"}" &&
			jq -e ".streams[0].legs[0].stats.drops >= $((d0 + INJ))" <<<"$TL_REPLY"
	}
	tl_wait_for 5 "$c: leg A to drop the $INJ injected packets" dropped
	query "$c"
	tl_assert_json "$TL_REPLY" ".streams[0].legs[0].stats.drops == $((d0 + INJ))" \
		"$c: leg A dropped exactly the $INJ injected packets"
	tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched_rtcp != \"$TL_ATTACKER_IP:$([ $c = plain ] && echo 4001 || echo 4101)\"" \
		"$c: leg A's RTCP must not latch the attacker"
	[ "$BACKEND" = userspace ] || tl_assert_json "$TL_REPLY" ".streams[0].path == \"$BACKEND\"" "$c: still in $BACKEND"
done
query mux
tl_assert_json "$TL_REPLY" ".streams[0].legs[0].latched_rtcp == null" "mux: leg A's RTCP port latches nothing"
if [ "$BACKEND" != userspace ]; then
	[ "$(tl_nft_flows)" = "$FLOWS0" ] || tl_fail "the kernel flows changed: $(tl_nft_flows) (were $FLOWS0)"
fi

tl_relayd_stop
tl_pass
