#!/bin/bash
# exclusive
#
# nft_pkt_cost.sh: smoke run of bench/nft/pkt-cost.sh (plain forwarding and
# the nft backend at 200 streams, one round at 5,000 packets/s for 1 s, a
# 10,000-packet flood), so the per-packet bench keeps working.
# Not timing-sensitive: it asserts that every packet was delivered on both
# paths, that CPU time was read, and that the table was written; the
# figures themselves are not checked (they mean nothing at these counts).
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
FLOOD_PKTS=10000 "$ROOT/bench/nft/pkt-cost.sh" -b "$BUILD" -o "$OUT" -r 1 -s 1 -R 5000 fwd:200 nft:200 || exit 1
[ "$(wc -l <"$OUT/pkt-cost.jsonl")" = 4 ] || { echo "FAIL: expected 4 measurements"; cat "$OUT/pkt-cost.jsonl"; exit 1; }
jq -es 'all(.[]; .delivered >= .sent and .ns_per_pkt > 0) and
	([.[] | select(.mode == "rate")] | length == 2) and ([.[] | select(.mode == "flood")] | length == 2)' \
	"$OUT/pkt-cost.jsonl" >/dev/null ||
	{ echo "FAIL: packets lost or no CPU measured"; cat "$OUT/pkt-cost.jsonl"; exit 1; }
grep -q '^| nft | 200 |' "$OUT/pkt-cost.md" || { echo "FAIL: no table"; cat "$OUT/pkt-cost.md"; exit 1; }
grep -q '^| fwd | 200 | .* | 1 (reference) |' "$OUT/pkt-cost.md" || { echo "FAIL: no fwd reference row"; cat "$OUT/pkt-cost.md"; exit 1; }
echo "PASS: nft_pkt_cost smoke"
