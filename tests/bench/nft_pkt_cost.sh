#!/bin/bash
# exclusive
#
# nft_pkt_cost.sh: smoke run of bench/nft/pkt-cost.sh (200 streams, one
# repetition, 20,000 packets), so the per-packet bench keeps working; its
# numbers mean nothing. Checks that every flooded packet was delivered on
# both paths.
#
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${TL_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
for t in jq nft ethtool taskset; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PKTS=20000 "$ROOT/bench/nft/pkt-cost.sh" -b "$BUILD" -o "$OUT" -r 1 -s 1 200 || exit 1
[ "$(wc -l <"$OUT/pkt-cost.jsonl")" = 4 ] || { echo "FAIL: expected 4 measurements"; cat "$OUT/pkt-cost.jsonl"; exit 1; }
jq -es 'all(.[]; .delivered >= .sent and .ns_per_pkt > 0)' "$OUT/pkt-cost.jsonl" >/dev/null ||
	{ echo "FAIL: packets lost or no CPU measured"; cat "$OUT/pkt-cost.jsonl"; exit 1; }
grep -q '^| 200 | nft |' "$OUT/pkt-cost.md" || { echo "FAIL: no table"; exit 1; }
echo "PASS: nft_pkt_cost smoke"
