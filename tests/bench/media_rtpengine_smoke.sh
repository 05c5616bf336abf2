#!/bin/bash
# exclusive
#
# media_rtpengine_smoke.sh: bench/media's rtpengine path with tiny counts:
# rtpengine (userspace, --table=-1) started by hand in the bench's relay
# namespace, 64 calls set up over NG (bencode/UDP), every packet verified
# per stream, a flood run measured. Skips when rtpengine is not installed.
# Not timing-sensitive: the figures are not checked, only that they exist.
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

command -v rtpengine >/dev/null 2>&1 ||
	tl_skip "rtpengine not installed (Debian rtpengine-daemon: scripts/install-bench-deps.sh)"
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed (scripts/install-bench-deps.sh)"
command -v nft >/dev/null 2>&1 || tl_skip "nft not installed"
tl_init

OUT=$TL_TMP/media.json
python3 "$TL_ROOT/bench/media/media.py" --build "$TL_BUILD" --out "$OUT" \
	--streams 64 --reps 1 --secs 0.3 --warmup 0.2 --drain 0.2 --backends '' --rate 3000 \
	--compare rtpengine --ladder '' --verify-rate 3200 --verify-secs 0.5 2>"$TL_TMP/media.log"
rc=$?
cat "$TL_TMP/media.log" >&2
[ "$rc" = 0 ] || tl_fail "media.py exited $rc"
tl_assert_json "$(cat "$OUT")" '[.skipped[] | select(.path == "rtpengine")] | length == 0' "rtpengine was not skipped"
tl_assert_json "$(cat "$OUT")" '[.verify[] | select(.path == "rtpengine" and .ok and .sink.received == 64 * .per_stream and .sink.bad_source == 0)] | length == 1' \
	"rtpengine: every packet of every stream arrived from its B-leg port"
# Under flood rtpengine may deliver nothing in the window and even use no
# CPU in it (its overload protection stops reading once a stream's queue
# overflowed; seen in CI): the run must exist with packets sent, and its
# CPU figure must be a number. That rtpengine relays is the check above.
tl_assert_json "$(cat "$OUT")" '[.runs[] | select(.path == "rtpengine" and .sent > 0 and (.relay_proc_ns | type == "number"))] | length == 1' \
	"rtpengine: a flood run, with rtpengine's CPU time read"
tl_assert_json "$(cat "$OUT")" '[.install[] | select(.path == "rtpengine" and .streams == 64 and .streams_per_s > 0)] | length == 1' \
	"rtpengine: NG setup rate"
tl_pass
