#!/bin/bash
# exclusive
#
# kmod_scale_smoke.sh: bench/kmod/scale.sh with tiny counts (1,000 streams
# in waves of 500, media checked on 50 x 3 packets each way) in the qemu
# guest, so the kmod scale bench never rots: relayd with the kmod backend
# at RLIMIT_NOFILE 20,000 holds no leg socket once a wave is answered,
# four kernel entries per stream, media checked per packet, the deletes
# free every entry. Its figures mean nothing here.
# timeout: 180
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
KSCALE_OUT=$OUT KSCALE_TIMEOUT=150 KSCALE_MEM=1024 "$ROOT/bench/kmod/scale.sh" 1000 500 50 3 >"$OUT/out" 2>&1
rc=$?
[ "$rc" = 77 ] && { cat "$OUT/out"; exit 77; }
[ "$rc" = 0 ] || { tail -n 30 "$OUT/out"; echo "FAIL: kmod_scale_smoke: exit $rc"; exit 1; }
jq -e '.ok and .relay_streams == 1000 and .relay_sockets == 0 and .entries_all == 4000 and
	.fds_all_in_kernel <= .fds_start + 2 and .rlimit_nofile == 20000 and
	.media_a_to_b == {sent: 150, received: 150, bad: 0} and
	.media_b_to_a == {sent: 150, received: 150, bad: 0} and
	.entries_after_delete == 0 and .relay_streams_after_delete == 0' "$OUT/kmod-scale.json" >/dev/null ||
	{ echo "FAIL: kmod_scale_smoke: $(cat "$OUT/kmod-scale.json")"; exit 1; }
echo "PASS: kmod_scale_smoke: $(jq -c '{fds_start, fds_max_during_setup, fds_all_in_kernel, entries_all, kernel_bytes_per_entry}' "$OUT/kmod-scale.json")"
