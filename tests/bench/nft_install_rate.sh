#!/bin/bash
# exclusive
#
# nft_install_rate.sh: smoke run of bench/nft/install-rate.sh with tiny
# counts, so the bench script never rots; its numbers mean nothing here.
#
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${TL_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace)"; exit 77; }
command -v jq >/dev/null || { echo "FAIL: jq missing"; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$ROOT/bench/nft/install-rate.sh" -b "$BUILD" -o "$OUT" -r 2 200 || exit 1
[ "$(wc -l <"$OUT/install-rate.jsonl")" = 2 ] || { echo "FAIL: expected 2 rounds"; exit 1; }
jq -e 'select(.streams == 200 and .install_per_s > 0 and .remove_per_s > 0)' \
	"$OUT/install-rate.jsonl" >/dev/null || { echo "FAIL: bad results"; exit 1; }
grep -q '^| 200 | 2 |' "$OUT/install-rate.md" || { echo "FAIL: no table"; exit 1; }
echo "PASS: nft_install_rate smoke"
