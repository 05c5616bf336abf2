#!/bin/bash
#
# offer_rate_smoke.sh: bench/offer-rate.sh with tiny counts (200 calls, one
# round, userspace and nft backends), so the offer+answer load client
# (bench/offerload.c) and its script never rot: every offer, answer and
# delete is answered ok, and the JSON carries the fields the README reads.
# Not timing-sensitive: the rates are not checked, only that they exist.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${TL_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace)"; exit 77; }
for t in jq taskset; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$ROOT/bench/offer-rate.sh" -b "$BUILD" -o "$OUT/or.json" -n 200 -r 1 -w 64 >"$OUT/log" 2>&1 ||
	{ echo "FAIL: offer-rate.sh failed"; cat "$OUT/log"; exit 1; }
jq -e '[.backends[] | select(.streams_per_s > 0 and .streams_per_relayd_cpu_s > 0 and .rss_bytes_per_stream != null)] | length == 2' \
	"$OUT/or.json" >/dev/null || { echo "FAIL: expected both backends measured"; cat "$OUT/or.json" "$OUT/log"; exit 1; }
jq -e 'all(.rounds[]; .errors == 0 and .streams == 200)' "$OUT/or.json" >/dev/null ||
	{ echo "FAIL: error replies"; cat "$OUT/or.json"; exit 1; }
# a refused request is counted and fails the client (no relayd behind it:
# the connection error must fail, not hang)
if "$BUILD/tools/offerload" -s "$OUT/nonexistent.sock" -n 1 2>/dev/null; then
	echo "FAIL: offerload succeeded without a relay"; exit 1
fi
echo "PASS: offer_rate smoke"
