#!/bin/bash
#
# run.sh: what `make bench` runs. The media benchmark (bench/media), the
# signaling benchmark (bench/signaling; skipped until the controller is
# built), then the report: bench/results/<date>-<host>.{json,md} and
# -pps.png/-cpu.png, the Benchmarks section of README.md; the nft backend's
# kernel path at 1,000 vs 50,000 streams (bench/nft/pkt-cost.sh,
# -pkt-cost.{jsonl,md}), offer+answer streams/s with the C load client
# (bench/offer-rate.sh, -offer-rate.json), and trunkline.ko in a qemu guest
# (bench/kmod, -kmod.json, its relay step alone at 50,000 vs 1,000
# entries, -kmod-pktcost.json, and at scale, -kmod-scale.json); their tables
# are appended to the .md. The
# metric of every cost comparison: bench/README.md, "The per-packet metric".
#
#   bench/run.sh [--quick | --long] [-- extra arguments for bench/media/media.py]
#
# Default profile: 1,000 / 10,000 / 50,000 streams, 5 interleaved
# repetitions of 2 s (a cost run at an equal rate and a flood run each), a
# loss-free ladder at 1,000 streams, then pkt-cost (5 rounds), offer-rate
# (5 rounds), the kmod guest (5 rounds) and its relay step (9 rounds, about
# 5 minutes): about 25 minutes on a 2-core machine. --quick: 1,000
# streams, 2 repetitions of 1 s, 2 rounds elsewhere (3 for the relay
# step; about 6 minutes). --long: 7 repetitions of 3 s (11 rounds).
# Environment: BUILD (default build), BENCH_BACKENDS (default
# userspace,nft,kmod), BENCH_OUT (results directory, default bench/results).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
OUTDIR=${BENCH_OUT:-bench/results}
BACKENDS=${BENCH_BACKENDS:-userspace,nft,kmod}

profile=(--streams 1000,10000,50000 --reps 5 --secs 2)
rounds=5 kmod_rounds=5 kpkt_rounds=9 kscale_streams=100000
while [ $# -gt 0 ]; do
	case $1 in
	--quick) profile=(--streams 1000 --reps 2 --secs 1 --ladder-reps 1); rounds=2 kmod_rounds=2 kpkt_rounds=3 kscale_streams=5000 ;;
	--long) profile=(--streams 1000,10000,50000 --reps 7 --secs 3 --ladder-reps 3); rounds=7 kmod_rounds=7 kpkt_rounds=11 ;;
	--) shift; break ;;
	*) echo "usage: bench/run.sh [--quick|--long] [-- media.py args]" >&2; exit 2 ;;
	esac
	shift
done

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (network namespaces)" >&2
	exit 1
fi
for b in trunkline-relayd tools/rtpgen tools/rtpsink tools/flowblast tools/offerload; do
	[ -x "$BUILD/$b" ] || { echo "bench: $BUILD/$b not built (make)" >&2; exit 1; }
done

stamp=$(date -u +%Y-%m-%d)-$(hostname -s)
mkdir -p "$OUTDIR"
media=$OUTDIR/$stamp.json
sig=$OUTDIR/$stamp-signaling.json
t0=$(date +%s)
echo "bench: media -> $media (load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 bench/media/media.py "${profile[@]}" --backends "$BACKENDS" \
	--build "$BUILD" --out "$media" "$@"
echo "bench: signaling -> $sig"
rc=0
bench/signaling/signaling.sh --build "$BUILD" --out "$sig" || rc=$?
case $rc in
0) ;;
77) echo "bench: signaling skipped (see $sig)" ;;
*) echo "bench: signaling failed (exit $rc)" >&2 ;;
esac
# WebRTC legs per core (SRTP per packet) next to plain relaying, one run
# (bench/webrtc); before the report, whose targets table carries it.
echo "bench: webrtc (SRTP leg vs plain) -> $OUTDIR/$stamp-webrtc.json"
rm -f "$OUTDIR/$stamp-webrtc.json"
if TL_BUILD=$BUILD bench/webrtc/srtp-cost.sh --out "$OUTDIR/$stamp-webrtc.json" \
	>"$OUTDIR/$stamp-webrtc.log" 2>&1; then
	rm -f "$OUTDIR/$stamp-webrtc.log"
else
	echo "bench: webrtc failed or skipped: see $OUTDIR/$stamp-webrtc.log" >&2
fi
python3 bench/report.py "$media" --signaling "$sig" --webrtc "$OUTDIR/$stamp-webrtc.json" \
	--readme README.md
# The nft backend's kernel path, 1,000 vs 50,000 streams, in one run.
echo "bench: nft per-packet cost -> $OUTDIR/$stamp-pkt-cost.md"
pc=$(mktemp -d)
if bench/nft/pkt-cost.sh -b "$BUILD" -o "$pc" -r "$rounds" >"$OUTDIR/$stamp-pkt-cost.log" 2>&1; then
	cp "$pc/pkt-cost.jsonl" "$OUTDIR/$stamp-pkt-cost.jsonl"
	cp "$pc/pkt-cost.md" "$OUTDIR/$stamp-pkt-cost.md"
	{ echo; cat "$pc/pkt-cost.md"; } >>"$OUTDIR/$stamp.md"
	rm -f "$OUTDIR/$stamp-pkt-cost.log"
else
	echo "bench: pkt-cost failed: see $OUTDIR/$stamp-pkt-cost.log" >&2
fi
rm -rf "$pc"
# Offer+answer through the control protocol (C client, pipelined).
echo "bench: offer+answer rate -> $OUTDIR/$stamp-offer-rate.json"
if bench/offer-rate.sh -b "$BUILD" -o "$OUTDIR/$stamp-offer-rate.json" -r "$rounds" \
	>"$OUTDIR/$stamp-offer-rate.log" 2>&1; then
	{ echo; echo "# offer+answer through the control protocol (bench/offer-rate.sh)"; echo
	  jq -r '.backends[] | "- relayd-\(.backend): \(.streams_per_s) streams/s end to end (spread \(.streams_per_s_min)-\(.streams_per_s_max)), relayd CPU allows \(.streams_per_relayd_cpu_s)/s, RSS \(.rss_bytes_per_stream) bytes/stream (first round, fresh relayd)"' \
		"$OUTDIR/$stamp-offer-rate.json"; } >>"$OUTDIR/$stamp.md"
	rm -f "$OUTDIR/$stamp-offer-rate.log"
else
	echo "bench: offer-rate failed: see $OUTDIR/$stamp-offer-rate.log" >&2
fi
# trunkline.ko runs only in a qemu guest: its ratio to plain forwarding in
# the same guest, appended to the results (skipped where it cannot boot).
if [[ ,$BACKENDS, == *,kmod,* ]]; then
	echo "bench: kmod (qemu guest) -> $OUTDIR/$stamp-kmod.json"
	if TL_BUILD=$BUILD bench/kmod/run.sh "$kmod_rounds" >"$OUTDIR/$stamp-kmod.log" 2>&1; then
		cp build/bench/kmod.json "$OUTDIR/$stamp-kmod.json"
		{ echo; cat build/bench/kmod.md; } >>"$OUTDIR/$stamp.md"
		rm -f "$OUTDIR/$stamp-kmod.log"
	else
		echo "bench: kmod guest run failed or skipped: see $OUTDIR/$stamp-kmod.log" >&2
	fi
fi
# trunkline.ko's relay step alone, timed in the module by its hook probe
# (bench/kmod/pktcost.sh): 50,000 vs 1,000 entries, interleaved rounds.
if [[ ,$BACKENDS, == *,kmod,* ]]; then
	echo "bench: kmod relay step (qemu guest, hook probe) -> $OUTDIR/$stamp-kmod-pktcost.json"
	if TL_BUILD=$BUILD bench/kmod/pktcost.sh "$kpkt_rounds" >"$OUTDIR/$stamp-kmod-pktcost.log" 2>&1; then
		cp build/bench/kmod-pktcost.json "$OUTDIR/$stamp-kmod-pktcost.json"
		{ echo; cat build/bench/kmod-pktcost.md; } >>"$OUTDIR/$stamp.md"
		rm -f "$OUTDIR/$stamp-kmod-pktcost.log"
	else
		echo "bench: kmod pktcost failed or skipped: see $OUTDIR/$stamp-kmod-pktcost.log" >&2
	fi
fi
# The same with the kmod backend, in a qemu guest (bench/kmod/scale.sh;
# bounded by KSCALE_TIMEOUT, 1 h here; --quick: 5,000 streams).
if [[ ,$BACKENDS, == *,kmod,* ]]; then
	echo "bench: kmod scale (qemu guest, $kscale_streams streams) -> $OUTDIR/$stamp-kmod-scale.json"
	if TL_BUILD=$BUILD KSCALE_TIMEOUT=${KSCALE_TIMEOUT:-3600} bench/kmod/scale.sh "$kscale_streams" \
		>"$OUTDIR/$stamp-kmod-scale.log" 2>&1; then
		cp build/bench/kmod-scale.json "$OUTDIR/$stamp-kmod-scale.json"
		{ echo; cat build/bench/kmod-scale.md; } >>"$OUTDIR/$stamp.md"
		rm -f "$OUTDIR/$stamp-kmod-scale.log"
	else
		echo "bench: kmod scale failed or skipped: see $OUTDIR/$stamp-kmod-scale.log" >&2
	fi
fi
# 100,000 streams in one relay at RLIMIT_NOFILE 20,000 (bench/scale).
echo "bench: scale (100,000 nft streams) -> $OUTDIR/$stamp-scale.json"
if TL_BUILD=$BUILD SCALE_OUT="$OUTDIR/$stamp-scale.json" bench/scale/scale.sh \
	>"$OUTDIR/$stamp-scale.log" 2>&1; then
	rm -f "$OUTDIR/$stamp-scale.log"
else
	echo "bench: scale failed or skipped: see $OUTDIR/$stamp-scale.log" >&2
fi
echo "bench: done in $(($(date +%s) - t0)) s: $OUTDIR/$stamp.md"
