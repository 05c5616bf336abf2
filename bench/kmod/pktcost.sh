#!/bin/bash
#
# bench/kmod/pktcost.sh: the relay step of trunkline.ko at MANY entries
# against FEW (issue 16: the cost at 50,000 streams at most 1.1x the cost
# at 1,000), measured inside the module by its hook probe (probe=1,
# kmod/tl_probe.c) in one qemu guest (pktcost-guest.sh says how): hook
# ns per forwarded packet per table, the per-round ratio MANY/FEW, its
# median and spread over interleaved rounds. Also, from the same rounds,
# the whole path (sender + ksoftirqd CPU per packet, the metric of
# bench/README.md) at MANY/FEW and with the probe on/off.
# Writes build/bench/kmod-pktcost.json, .md and -runs.jsonl.
#
# Usage: bench/kmod/pktcost.sh [ROUNDS [RATE [SECS [FEW [MANY]]]]]
#        (default 9 rounds, 250 packets/s for 4 s, 1,000 and 50,000
#        entries; 1,000 flows on each table)
# Env: KMOD_BENCH_OUT (output directory), KMOD_ICOUNT=SHIFT (qemu
# -icount: the guest clock counts instructions, 2^SHIFT ns each, so host
# load does not reach the figures; what is left is what the guest
# executes), KMOD_TABLE_ONLY=1 (only redraw json/md from -runs.jsonl).
# Needs what tests/kmod needs (root, qemu, busybox-static, the headers).
set -u -o pipefail
ROUNDS=${1:-9}
RATE=${2:-250}
SECS=${3:-4}
FEW=${4:-1000}
MANY=${5:-50000}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/kmod/lib/host.sh
. "$HERE/../../tests/kmod/lib/host.sh"
TK_NAME=kmod-pktcost

OUT=${KMOD_BENCH_OUT:-$TK_ROOT/build/bench}
ICOUNT=${KMOD_ICOUNT:-}
RUNS=$OUT/kmod-pktcost-runs.jsonl
mkdir -p "$OUT"
if [ -z "${KMOD_TABLE_ONLY:-}" ]; then
	tk_prepare
	wrapper=$(mktemp "${TMPDIR:-/tmp}/tl-pktcost.XXXXXX")
	trap 'rm -f "$wrapper"' EXIT
	echo "sh /test/pktcost.sh $ROUNDS $RATE $SECS $FEW $MANY" >"$wrapper"
	log=$OUT/kmod-pktcost-console.log
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	t0=$(date -u +%H:%M)
	# bounded: setup about a minute, then 3 measurements of SECS a round
	limit=$((300 + ROUNDS * 3 * (SECS + 10)))
	[ -n "$ICOUNT" ] && limit=$((limit * 3))
	"$TK_DIR/lib/qemu.sh" --kroot "$KROOT" --kver "$KVER" --ko "$TK_KO" --test "$wrapper" \
		--file "$HERE/pktcost-guest.sh:/test/pktcost.sh" --bin "$TK_BUILD/kmod-tools/tlk" \
		--bin "$TK_BUILD/tools/rtpgen" --bin "$(command -v ip)" --bin "$(command -v nft)" \
		--modules nf_tables --mem 1024 ${ICOUNT:+--icount "$ICOUNT"} \
		--timeout "$limit" --log "$log" >/dev/null || tk_fail "the guest run failed: see $log"
	grep -q '^PKTCOST-DONE' "$log" || tk_fail "the guest bench did not finish: see $log"
	grep '^PKTCOST-RUN ' "$log" | sed 's/^PKTCOST-RUN //' | tr -d '\r' >"$RUNS"
	printf '{"load_before":"%s","load_after":"%s","start_utc":"%s","end_utc":"%s","icount":"%s"}\n' \
		"$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" "$t0" "$(date -u +%H:%M)" "$ICOUNT" \
		>"$OUT/kmod-pktcost-host.json"
fi

# Every round is kept; a round whose paths did not all deliver what they
# sent is listed and left out of the ratios (the guest run then fails
# anyway). A ratio is "within noise" when its spread covers 1.
jq -s --slurpfile host "$OUT/kmod-pktcost-host.json" '
	def med: sort | if length == 0 then null
		elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def r2: . * 100 | round / 100;
	def stat: {median: med, min: min, max: max, n: length};
	def verdict: if length < 3 then "not resolved: \(length) round(s)"
		elif min <= 1 and max >= 1 then "within noise: median \(med | r2), per round \(min | r2)-\(max | r2)"
		else "\(med | r2)x (per round \(min | r2)-\(max | r2))" end;
	def whole: (.gen_ns + .ksoftirqd_ns) / .delivered;
	. as $runs
	| [$runs[] | .round] | unique | map(. as $r
		| [$runs[] | select(.round == $r)] as $x
		| ($x | map({(.path): .}) | add) as $p
		| {round: $r,
		   ok: (($x | length) == 3 and ([$x[] | .sent > 0 and .delivered == .sent] | all)),
		   hook_p50_ns: {k1k: $p.k1k.probe_p50_ns, k50k: $p.k50k.probe_p50_ns},
		   hook_p10_p90_ns: {k1k: [$p.k1k.probe_p10_ns, $p.k1k.probe_p90_ns], k50k: [$p.k50k.probe_p10_ns, $p.k50k.probe_p90_ns]},
		   hook_mean_ns: {k1k: ($p.k1k.probe_ns / $p.k1k.probe_packets), k50k: ($p.k50k.probe_ns / $p.k50k.probe_packets)},
		   whole_ns: {k1k: ($p.k1k | whole), k50k: ($p.k50k | whole), k1k_off: ($p.k1k_off | whole)},
		   packets: {k1k: $p.k1k.probe_packets, k50k: $p.k50k.probe_packets, k1k_off: $p.k1k_off.delivered}}
		| . + {hook_ratio: (.hook_p50_ns.k50k / .hook_p50_ns.k1k),
		       hook_mean_ratio: (.hook_mean_ns.k50k / .hook_mean_ns.k1k),
		       whole_ratio: (.whole_ns.k50k / .whole_ns.k1k),
		       probe_ratio: (.whole_ns.k1k / .whole_ns.k1k_off)}) as $rounds
	| [$rounds[] | select(.ok)] as $ok
	| {bench: "kmod-pktcost", rounds: ($rounds | length), rounds_used: ($ok | length),
	   rate: $runs[0].rate, secs: $runs[0].secs, flows: $runs[0].flows,
	   entries: {few: ([$runs[] | select(.path == "k1k")][0].entries),
		     many: ([$runs[] | select(.path == "k50k")][0].entries)},
	   host: $host[0],
	   hook_p50_ns: {k1k: ($ok | map(.hook_p50_ns.k1k) | stat), k50k: ($ok | map(.hook_p50_ns.k50k) | stat)},
	   hook_mean_ns: {k1k: ($ok | map(.hook_mean_ns.k1k) | stat), k50k: ($ok | map(.hook_mean_ns.k50k) | stat)},
	   hook_many_vs_few: ($ok | map(.hook_ratio) | stat + {text: verdict}),
	   hook_mean_many_vs_few: ($ok | map(.hook_mean_ratio) | stat + {text: verdict}),
	   target_met: (($ok | length) >= 3 and ($ok | map(.hook_ratio) | med) <= 1.1),
	   target_met_every_round: (($ok | length) >= 3 and ($ok | map(.hook_ratio) | max) <= 1.1),
	   whole_many_vs_few: ($ok | map(.whole_ratio) | stat + {text: verdict}),
	   whole_probe_on_vs_off: ($ok | map(.probe_ratio) | stat + {text: verdict}),
	   per_round: $rounds}' "$RUNS" >"$OUT/kmod-pktcost.json" || tk_fail "bad results in $RUNS"
jq -r 'def r2: . * 100 | round / 100;
	def f0: . | round;
	"# trunkline.ko relay step at \(.entries.many) vs \(.entries.few) entries (hook probe, qemu TCG guest\(if .host.icount != "" then ", -icount shift=\(.host.icount)" else "" end))\n",
	"Each round: \(.flows) flows at \(.rate) packets/s for \(.secs) s through a table of \(.entries.few) entries and through one of \(.entries.many) (the same flows spread over it, the rest idle), and the first again with the probe off; the order rotates. Hook ns per packet: the module'"'"'s own time from the hook'"'"'s start to ip_local_out() (lookup, source check, route, rewrite, counters), local_clock() in the guest, for every forwarded packet (kmod/tl_probe.c); a measurement'"'"'s figure is the median packet (from the probe'"'"'s histogram, interpolated within its 1/16-octave slot), which leaves out the packets an interrupt or the host'"'"'s scheduler held up; the mean (total ns / packets) is shown too. \(.rounds_used) of \(.rounds) rounds used (every packet delivered, the probe counted each). Host load average \(.host.load_before) at the start (\(.host.start_utc) UTC), \(.host.load_after) at the end (\(.host.end_utc) UTC).\n",
	"| comparison | median | per-round spread | rounds |",
	"|---|---|---|---|",
	"| hook ns per packet (median packet), \(.entries.many) / \(.entries.few) entries | **\(.hook_many_vs_few.median | r2)x** | \(.hook_many_vs_few.min | r2)-\(.hook_many_vs_few.max | r2) | \(.hook_many_vs_few.n) |",
	"| hook ns per packet (mean), \(.entries.many) / \(.entries.few) entries | \(.hook_mean_many_vs_few.median | r2)x | \(.hook_mean_many_vs_few.min | r2)-\(.hook_mean_many_vs_few.max | r2) | \(.hook_mean_many_vs_few.n) |",
	"| whole path (sender + ksoftirqd per packet), \(.entries.many) / \(.entries.few) | \(.whole_many_vs_few.median | r2)x | \(.whole_many_vs_few.min | r2)-\(.whole_many_vs_few.max | r2) | \(.whole_many_vs_few.n) |",
	"| whole path at \(.entries.few), probe on / off | \(.whole_probe_on_vs_off.median | r2)x | \(.whole_probe_on_vs_off.min | r2)-\(.whole_probe_on_vs_off.max | r2) | \(.whole_probe_on_vs_off.n) |",
	"",
	"Hook ns of the median packet (emulated), median over rounds (spread): \(.entries.few) entries \(.hook_p50_ns.k1k.median | f0) (\(.hook_p50_ns.k1k.min | f0)-\(.hook_p50_ns.k1k.max | f0)), \(.entries.many) entries \(.hook_p50_ns.k50k.median | f0) (\(.hook_p50_ns.k50k.min | f0)-\(.hook_p50_ns.k50k.max | f0)). Mean: \(.hook_mean_ns.k1k.median | f0) (\(.hook_mean_ns.k1k.min | f0)-\(.hook_mean_ns.k1k.max | f0)) and \(.hook_mean_ns.k50k.median | f0) (\(.hook_mean_ns.k50k.min | f0)-\(.hook_mean_ns.k50k.max | f0)).\n",
	"Target (cost at \(.entries.many) <= 1.1x the cost at \(.entries.few), relay step): \(if .target_met_every_round then "met in every round" elif .target_met then "met by the median; not in every round (\(.hook_many_vs_few.text))" else "not met (\(.hook_many_vs_few.text))" end).\n",
	"| round | hook ns \(.entries.few): p50 (p10-p90), mean | hook ns \(.entries.many): p50 (p10-p90), mean | ratio p50 | ratio mean | whole ns \(.entries.few) | whole ns \(.entries.many) | whole ns \(.entries.few), probe off | used |",
	"|---|---|---|---|---|---|---|---|---|",
	(.per_round[] | "| \(.round) | \(.hook_p50_ns.k1k) (\(.hook_p10_p90_ns.k1k[0])-\(.hook_p10_p90_ns.k1k[1])), \(.hook_mean_ns.k1k | f0) | \(.hook_p50_ns.k50k) (\(.hook_p10_p90_ns.k50k[0])-\(.hook_p10_p90_ns.k50k[1])), \(.hook_mean_ns.k50k | f0) | \(.hook_ratio | r2) | \(.hook_mean_ratio | r2) | \(.whole_ns.k1k | f0) | \(.whole_ns.k50k | f0) | \(.whole_ns.k1k_off | f0) | \(if .ok then "yes" else "no" end) |")' \
	"$OUT/kmod-pktcost.json" >"$OUT/kmod-pktcost.md"
cat "$OUT/kmod-pktcost.md"
