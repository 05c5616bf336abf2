#!/bin/bash
# exclusive
#
# nft_pkt_cost.sh: smoke run of bench/nft/pkt-cost.sh (plain forwarding,
# the nft backend and the stateless prototype at 200 streams, one round at 5,000 packets/s for 1 s, a
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
FLOOD_PKTS=10000 "$ROOT/bench/nft/pkt-cost.sh" -b "$BUILD" -o "$OUT" -r 1 -s 1 -R 5000 fwd:200 nft:200 sl:200 || exit 1
[ "$(wc -l <"$OUT/pkt-cost.jsonl")" = 6 ] || { echo "FAIL: expected 6 measurements"; cat "$OUT/pkt-cost.jsonl"; exit 1; }
jq -es 'all(.[]; .delivered >= .sent and .ns_per_pkt > 0) and
	([.[] | select(.mode == "rate")] | length == 3) and ([.[] | select(.mode == "flood")] | length == 3)' \
	"$OUT/pkt-cost.jsonl" >/dev/null ||
	{ echo "FAIL: packets lost or no CPU measured"; cat "$OUT/pkt-cost.jsonl"; exit 1; }
grep -q '^| nft | 200 |' "$OUT/pkt-cost.md" && grep -q '^| sl | 200 |' "$OUT/pkt-cost.md" || { echo "FAIL: no table"; cat "$OUT/pkt-cost.md"; exit 1; }
grep -q '^| fwd | 200 | .* | 1 (reference) |' "$OUT/pkt-cost.md" || { echo "FAIL: no fwd reference row"; cat "$OUT/pkt-cost.md"; exit 1; }
# The table's growth lines, from a synthetic run (-T: the table only):
# conntrack alone 1.2x, nft 1.32x from 1,000 to 50,000 -> nft beyond it 1.1x.
T=$OUT/table
mkdir -p "$T"
for r in 1 2 3; do
	for p in fwd-1000:1000 fwd_ct-1000:1100 fwd_ct-50000:1320 nft-1000:1200 nft-50000:1584; do
		printf '{"path":"%s","kind":"%s","mode":"rate","streams":%s,"round":%s,"pps":5000,"loss":0,"ns_per_pkt":%s}\n' \
		    "${p%%:*}" "${p%%-*}" "$(echo "$p" | cut -d- -f2 | cut -d: -f1)" "$r" "${p#*:}"
	done
done >"$T/pkt-cost.jsonl"
"$ROOT/bench/nft/pkt-cost.sh" -T -o "$T" -R 5000 >/dev/null || { echo "FAIL: -T"; exit 1; }
grep -q '^nft at 50000 streams vs 1000 streams, per round: 1.32 ' "$T/pkt-cost.md" &&
grep -q '^conntrack alone (fwd_ct) at 50000 vs 1000 flows, per round: 1.2 ' "$T/pkt-cost.md" &&
grep -q "^nft's growth beyond conntrack's .*: 1.1 " "$T/pkt-cost.md" ||
	{ echo "FAIL: growth lines"; cat "$T/pkt-cost.md"; exit 1; }
echo "PASS: nft_pkt_cost smoke"
