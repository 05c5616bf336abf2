#!/bin/bash
# exclusive
#
# media_smoke.sh: bench/media with tiny counts, so the benchmark never rots:
# the namespaces come up, plain forwarding and relayd's userspace backend
# (and every other backend relayd can open here) carry 64 streams, the
# per-stream verification (rtpsink: source, port, sequence of every packet)
# passes, the flood and loss-free runs produce numbers, and report.py turns
# the JSON into the markdown table (and the plots when gnuplot is there).
# rtpengine is left to media_rtpengine_smoke.sh.
# Not timing-sensitive: it asserts that every path ran and delivered, that
# the equal-rate metric was computed for each (fwd and fwd_ct in their own
# namespaces), and that the tables were written; the figures are not checked.
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed (scripts/install-bench-deps.sh)"
command -v nft >/dev/null 2>&1 || tl_skip "nft not installed"
command -v taskset >/dev/null 2>&1 || tl_skip "taskset not installed (util-linux)"
tl_init

OUT=$TL_TMP/media.json
python3 "$TL_ROOT/bench/media/media.py" --build "$TL_BUILD" --out "$OUT" \
	--streams 64 --reps 1 --secs 0.3 --warmup 0.2 --drain 0.2 --compare '' --rate 3000 \
	--ladder 5000 --ladder-streams 64 --ladder-reps 1 --ladder-secs 0.3 \
	--verify-rate 3200 --verify-secs 0.5 2>"$TL_TMP/media.log"
rc=$?
cat "$TL_TMP/media.log" >&2
[ "$rc" = 0 ] || tl_fail "media.py exited $rc"

for p in rdrop fwd relayd-userspace; do
	tl_assert_json "$(cat "$OUT")" "[.summary[] | select(.path == \"$p\" and .streams == 64 and .delivered_pps > 0)] | length == 1" \
		"$p: a flood row with delivered packets"
done
for p in rdrop fwd fwd_ct relayd-userspace; do
	tl_assert_json "$(cat "$OUT")" "[.eqrate_summary[] | select(.path == \"$p\" and .streams == 64 and .offered_pps == 3000 and .cost_ns_pkt > 0)] | length == 1" \
		"$p: an equal-rate row (the metric) with a CPU figure"
done
tl_assert_json "$(cat "$OUT")" '[.eqrate_summary[] | select(.path == "fwd") | .vs_fwd.text] == ["1 (reference)"]' \
	"fwd is the reference of the metric"
tl_assert_json "$(cat "$OUT")" '.verify as $v | [$v[] | select(.ok and .sink.received == 64 * .per_stream and .sink.bad_source == 0 and .sink.lost == 0)] | length == ($v | length) and ($v | length) >= 2' \
	"per-stream verification: every packet of every stream, from the right source"
tl_assert_json "$(cat "$OUT")" '[.summary[] | select(.path == "fwd") | .loss] | all(. == 0)' \
	"kernel forwarding loses nothing at flood (the whole path runs in the sender's softirq)"
tl_assert_json "$(cat "$OUT")" '.lossfree["relayd-userspace"].median_pps > 0' "loss-free ladder: userspace carried 5 kpps"
tl_assert_json "$(cat "$OUT")" '[.install[] | select(.path == "relayd-userspace" and .streams == 64 and .installed and .streams_per_s > 0 and .rss_kb > 0 and .reps == 3)] | length == 1' \
	"install rate and memory of relayd-userspace"
tl_assert_json "$(cat "$OUT")" '[.skipped[] | select(.path == "relayd-kmod")] | length == 1' "kmod has its slot, skipped with a reason"
tl_assert_json "$(cat "$OUT")" '.targets | length >= 6' "targets evaluated"

python3 "$TL_ROOT/bench/report.py" "$OUT" >&2 || tl_fail "report.py failed"
grep -q '^| relayd-userspace | 64 |' "$TL_TMP/media.md" || tl_fail "no userspace row in the markdown table"
grep -q '^| fwd_ct | 64 | 3k |' "$TL_TMP/media.md" || tl_fail "no fwd_ct row in the equal-rate table"
if command -v gnuplot >/dev/null 2>&1; then
	for f in media-pps.png media-cpu.png; do
		[ -s "$TL_TMP/$f" ] || tl_fail "gnuplot did not draw $f"
	done
else
	tl_log "gnuplot not installed: plots not checked (scripts/install-bench-deps.sh)"
fi
tl_pass
