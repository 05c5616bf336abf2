#!/bin/bash
#
# scale_smoke.sh: bench/scale/scale.sh with tiny counts (600 streams in
# waves of 200, media checked on 100), so the scale bench never rots: a
# relay at RLIMIT_NOFILE 20,000 whose nft streams hold no sockets, RSS and
# fds measured, media checked per packet. Its figures mean nothing here.
#
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
SCALE_OUT=$OUT "$ROOT/bench/scale/scale.sh" 600 200 100 || exit $?
jq -e '.ok and .relay_streams == 600 and .relay_sockets == 0 and
	.streams_without_sockets == 600 and .fds_all_in_kernel <= .fds_start + 2 and
	.media_a_to_b.received == 500 and .media_b_to_a.received == 500' "$OUT" >/dev/null ||
	{ echo "FAIL: scale_smoke: $(cat "$OUT")"; exit 1; }
echo "PASS: scale_smoke: $(jq -c '{fds_start, fds_all_in_kernel, bytes_per_stream}' "$OUT")"
