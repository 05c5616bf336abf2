#!/bin/bash
# exclusive
#
# signaling_smoke.sh: bench/signaling with tiny rates (20 and 50 calls/s
# for 1 s): every call through controller + relayd succeeds and the JSON
# result has the fields the report reads. Skips (with the script's reason)
# until trunkline-controller is built.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp "${TMPDIR:-/tmp}/tl-sig.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT
"$ROOT/bench/signaling/signaling.sh" --build "${TL_BUILD:-build}" --out "$out" --smoke
rc=$?
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || { echo "FAIL: signaling.sh exited $rc"; exit 1; }
jq -e '.skipped == false and .max_rate_zero_failures == 50 and
	(.steps | length == 2) and all(.steps[]; .failed == 0 and .successful == .calls)' "$out" >/dev/null ||
	{ echo "FAIL: unexpected result: $(cat "$out")"; exit 1; }
echo "PASS: signaling_smoke"
