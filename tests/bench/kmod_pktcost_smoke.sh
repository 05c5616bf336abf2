#!/bin/bash
#
# kmod_pktcost_smoke.sh: bench/kmod/pktcost.sh with tiny counts (2
# rounds, 100 flows per table, 50 vs 2,000 entries, 1 s windows) in the
# qemu guest, so the relay-step bench never rots: every packet arrives,
# the hook probe counts each one per table, and the report has a ratio
# for every round. Its figures mean nothing here.
# timeout: 180
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
KMOD_BENCH_OUT=$OUT "$ROOT/bench/kmod/pktcost.sh" 2 200 1 100 2000 >"$OUT/out" 2>&1
rc=$?
[ "$rc" = 77 ] && { cat "$OUT/out"; exit 77; }
[ "$rc" = 0 ] || { tail -n 30 "$OUT/out"; echo "FAIL: kmod_pktcost_smoke: exit $rc"; exit 1; }
jq -e '.rounds == 2 and .rounds_used == 2 and .entries == {few: 100, many: 2000} and
	([.per_round[] | .ok and .packets.k1k > 0 and .packets.k50k > 0 and
	  .hook_ratio > 0 and .hook_p50_ns.k1k > 0] | all) and
	(.hook_many_vs_few.median | type) == "number"' "$OUT/kmod-pktcost.json" >/dev/null ||
	{ echo "FAIL: kmod_pktcost_smoke: $(cat "$OUT/kmod-pktcost.json")"; exit 1; }
echo "PASS: kmod_pktcost_smoke: $(jq -c '{rounds_used, hook_many_vs_few: .hook_many_vs_few.median}' "$OUT/kmod-pktcost.json")"
