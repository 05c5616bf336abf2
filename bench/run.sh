#!/bin/bash
#
# run.sh: what `make bench` runs. The media benchmark (bench/media), the
# signaling benchmark (bench/signaling; skipped until the controller is
# built), then the report: bench/results/<date>-<host>.{json,md} and
# -pps.png/-cpu.png, the Benchmarks section of README.md, and the kernel
# module's ratio from a qemu guest (bench/kmod, -kmod.json and a table
# appended to the .md).
#
#   bench/run.sh [--quick | --long] [-- extra arguments for bench/media/media.py]
#
# Default profile: 1,000 / 10,000 / 50,000 streams, 5 interleaved
# repetitions of 2 s, a loss-free ladder at 1,000 streams: about 8 minutes
# on a 2-core machine. --quick: 1,000 streams, 2 repetitions of 1 s (about
# 1 minute). --long: 7 repetitions of 3 s (about 20 minutes).
# Environment: BUILD (default build), BENCH_BACKENDS (default
# userspace,nft,kmod), BENCH_OUT (results directory, default bench/results).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
OUTDIR=${BENCH_OUT:-bench/results}
BACKENDS=${BENCH_BACKENDS:-userspace,nft,kmod}

profile=(--streams 1000,10000,50000 --reps 5 --secs 2)
while [ $# -gt 0 ]; do
	case $1 in
	--quick) profile=(--streams 1000 --reps 2 --secs 1 --ladder-reps 1) ;;
	--long) profile=(--streams 1000,10000,50000 --reps 7 --secs 3 --ladder-reps 3) ;;
	--) shift; break ;;
	*) echo "usage: bench/run.sh [--quick|--long] [-- media.py args]" >&2; exit 2 ;;
	esac
	shift
done

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (network namespaces)" >&2
	exit 1
fi
for b in trunkline-relayd tools/rtpgen tools/rtpsink; do
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
python3 bench/report.py "$media" --signaling "$sig" --readme README.md
# trunkline.ko runs only in a qemu guest: its ratio to plain forwarding in
# the same guest, appended to the results (skipped where it cannot boot).
if [[ ,$BACKENDS, == *,kmod,* ]]; then
	echo "bench: kmod (qemu guest) -> $OUTDIR/$stamp-kmod.json"
	if TL_BUILD=$BUILD bench/kmod/run.sh >"$OUTDIR/$stamp-kmod.log" 2>&1; then
		cp build/bench/kmod.json "$OUTDIR/$stamp-kmod.json"
		{ echo; cat build/bench/kmod.md; } >>"$OUTDIR/$stamp.md"
		rm -f "$OUTDIR/$stamp-kmod.log"
	else
		echo "bench: kmod guest run failed or skipped: see $OUTDIR/$stamp-kmod.log" >&2
	fi
fi
# WebRTC legs: SRTP per packet next to plain relaying (bench/webrtc).
echo "bench: webrtc (SRTP leg vs plain) -> $OUTDIR/$stamp-webrtc.json"
if TL_BUILD=$BUILD bench/webrtc/srtp-cost.sh --out "$OUTDIR/$stamp-webrtc.json" \
	>"$OUTDIR/$stamp-webrtc.log" 2>&1; then
	rm -f "$OUTDIR/$stamp-webrtc.log"
else
	echo "bench: webrtc failed or skipped: see $OUTDIR/$stamp-webrtc.log" >&2
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
