#!/bin/bash
#
# bench/kmod/run.sh: trunkline.ko's per-packet cost in one qemu guest
# (guest-bench.sh says how): the relay step against plain IP forwarding,
# and at MANY entries against FEW, as ratios per interleaved round, their
# median and spread. A ratio whose spread covers 1 is reported as "within
# noise", not as a figure. Writes build/bench/kmod.json and kmod.md.
#
# Usage: bench/kmod/run.sh [ROUNDS [RATE [SECS [FEW [MANY]]]]]
#        (default 5 rounds, 200 packets/s, 4 s, 1,000 and 50,000 entries:
#        under TCG on a loaded host a packet costs the guest ~0.5 ms, and
#        the rate must stay below what every path carries)
# Env: KMOD_BENCH_OUT (output directory), KMOD_ICOUNT (see below).
# Needs what tests/kmod needs (root, qemu, busybox-static, the headers;
# the kernel image is fetched into /var/cache/trunkline-kmod).
set -u -o pipefail
ROUNDS=${1:-5}
RATE=${2:-200}
SECS=${3:-4}
FEW=${4:-1000}
MANY=${5:-50000}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/kmod/lib/host.sh
. "$HERE/../../tests/kmod/lib/host.sh"
TK_NAME=kmod-bench

OUT=${KMOD_BENCH_OUT:-$TK_ROOT/build/bench}
# KMOD_ICOUNT=SHIFT: qemu -icount, the guest's clock counts instructions,
# so host load does not inflate guest CPU times; off by default: it
# forces single-threaded emulation, and on the loaded VM even a one-round
# run did not finish within the 900 s limit
ICOUNT=${KMOD_ICOUNT:-}
mkdir -p "$OUT"
# KMOD_TABLE_ONLY=1: only redraw kmod.json/kmod.md from OUT's kmod-runs.jsonl
# and kmod-mem.json (a finished run's)
if [ -z "${KMOD_TABLE_ONLY:-}" ]; then
tk_prepare
wrapper=$(mktemp "${TMPDIR:-/tmp}/tl-bench.XXXXXX")
trap 'rm -f "$wrapper"' EXIT
echo "sh /test/bench.sh $ROUNDS $RATE $SECS $FEW $MANY" >"$wrapper"
log=$OUT/kmod-console.log
"$TK_DIR/lib/qemu.sh" --kroot "$KROOT" --kver "$KVER" --ko "$TK_KO" --test "$wrapper" \
	--file "$HERE/guest-bench.sh:/test/bench.sh" --bin "$TK_BUILD/kmod-tools/tlk" \
	--bin "$TK_BUILD/tools/rtpgen" --bin "$(command -v ip)" --bin "$(command -v nft)" \
	--modules nf_tables \
	--mem 1024 ${ICOUNT:+--icount "$ICOUNT"} --timeout 900 --log "$log" >/dev/null || tk_fail "the guest run failed: see $log"
grep -q '^BENCH-DONE' "$log" || tk_fail "the guest bench did not finish: see $log"
grep '^BENCH-RUN ' "$log" | sed 's/^BENCH-RUN //' | tr -d '\r' >"$OUT/kmod-runs.jsonl"
grep '^BENCH-MEM ' "$log" | sed 's/^BENCH-MEM //' | tr -d '\r' | jq -s . >"$OUT/kmod-mem.json"
fi
jq -s --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --slurpfile mem "$OUT/kmod-mem.json" '
	def med: sort | if length == 0 then null else .[length / 2 | floor] end;
	def cost: (.gen_ns + .ksoftirqd_ns) / (if .path == "bh" then .sent else .delivered end);
	def verdict: if length < 3 then {median: null, min: min, max: max, n: length,
			text: "not resolved: \(length) usable round(s), fewer than 3 (noise)"}
		else {median: med, min: min, max: max, n: length,
		      text: (if min <= 1 and max >= 1
			     then "within noise (per-round ratios \(min * 100 | round / 100)-\(max * 100 | round / 100))"
			     else "\(med * 100 | round / 100)x (per-round \(min * 100 | round / 100)-\(max * 100 | round / 100))" end)} end;
	. as $runs
	| [$runs[] | .round] | unique | map(. as $r
		| [$runs[] | select(.round == $r and .delivered + .sent > 0)] as $x
		| ($x | map({(.path): cost}) | add) as $c
		| {round: $r, cost_ns: $c,
		   ok: (([$x[] | select(.path != "bh") | .delivered >= 0.99 * .sent] | all) and
			([$x[] | .sent >= 0.9 * .rate * .secs] | all) and ($x | length) == 4),
		   step: {plain: ($c.plain - $c.bh), k1k: ($c.k1k - $c.bh), k50k: ($c.k50k - $c.bh)}}) as $rounds
	| [$rounds[] | select(.ok)] as $okr
	| [$okr[] | select(.step.plain > 0 and .step.k1k > 0 and .step.k50k > 0)] as $good
	| {bench: "kmod-guest", rounds: ($rounds | length), rounds_ok: ($okr | length), rounds_used: ($good | length),
	   rate: $runs[0].rate, secs: $runs[0].secs,
	   entries: {few: ([$runs[] | select(.path == "k1k")][0].entries), many: ([$runs[] | select(.path == "k50k")][0].entries)},
	   host_load_average: $load,
	   kernel_memory: ($mem[0] | map(. + {bytes_per_entry: (.slab_vmalloc_kb * 1024 / .entries | floor),
		memfree_bytes_per_entry: (.memfree_drop_kb * 1024 / .entries | floor)})),
	   cost_ns_median: ($runs | group_by(.path) | map({(.[0].path): (map(cost) | med)}) | add),
	   kmod_vs_plain: ($good | map(.step.k1k / .step.plain) | verdict),
	   many_vs_few: ($good | map(.step.k50k / .step.k1k) | verdict),
	   total_kmod_vs_plain: ($okr | map(.cost_ns.k1k / .cost_ns.plain) | verdict),
	   total_many_vs_few: ($okr | map(.cost_ns.k50k / .cost_ns.k1k) | verdict),
	   per_round: $rounds}' "$OUT/kmod-runs.jsonl" >"$OUT/kmod.json" || tk_fail "bad results in $OUT/kmod-runs.jsonl"
jq -r '"# trunkline.ko per-packet cost (qemu TCG guest: only ratios within a round mean anything)\n",
	"Metric: bench/README.md, \"The per-packet metric\", in the guest: \(.rate) packets/s offered on every path for \(.secs) s; sender CPU (its context runs the whole veth path) + ksoftirqd per delivered packet; relay step = that minus the blackhole baseline in the same round. \(.rounds_ok) of \(.rounds) rounds complete (every path sent at least 90 % of the offered rate and delivered what it sent: the whole-path column), \(.rounds_used) of them with every relay step positive (the relay-step column; a baseline that costs more than forwarding is noise). The host was shared with other users (load average \(.host_load_average)), which slows the emulation unevenly.\n",
	"| comparison | relay step only | whole path (sender + step + sink ingress) |",
	"|---|---|---|",
	"| trunkline.ko (\(.entries.few) entries) vs plain forwarding | \(.kmod_vs_plain.text) | \(.total_kmod_vs_plain.text) |",
	"| trunkline.ko at \(.entries.many) vs \(.entries.few) entries | \(.many_vs_few.text) | \(.total_many_vs_few.text) |",
	"",
	"Kernel memory per entry (slab + vmalloc growth over the install; MemFree fall in parentheses, an upper bound): \(.kernel_memory | map("\(.entries) entries: \(.bytes_per_entry) B (\(.memfree_bytes_per_entry) B)") | join(", ")).\n",
	"Median cost per packet (emulated ns): \(.cost_ns_median | to_entries | map("\(.key) \(.value | floor)") | join(", ")) (bh = the baseline without relay step)."' \
	"$OUT/kmod.json" >"$OUT/kmod.md"
cat "$OUT/kmod.md"
