#!/bin/bash
#
# bench/kmod/pktcost.sh: the relay step of trunkline.ko at MANY entries
# against FEW (issue 16: the cost at 50,000 streams at most 1.1x the cost
# at 1,000), measured inside the module by its hook probe (probe=1,
# kmod/tl_probe.c) in one qemu guest (pktcost-guest.sh says how): the
# median packet's hook ns per table, both tables fed alternately in the
# same window, the per-round ratio MANY/FEW, its median and spread over
# rounds. Also, from the same rounds, the whole path (sender + ksoftirqd
# CPU per packet, the metric of bench/README.md) with the probe on/off.
# Writes build/bench/kmod-pktcost.json, .md and -runs.jsonl.
#
# Usage: bench/kmod/pktcost.sh [ROUNDS [RATE [SECS [FEW [MANY]]]]]
#        (default 9 rounds, 400 packets/s in all for 5 s a window,
#        1,000 and 50,000 entries; 1,000 flows on each table)
# Env: KMOD_BENCH_OUT (output directory), KMOD_INSMOD_ARGS (module
# parameters, e.g. "hash_bits=10": a control whose chains are long, to
# show the bench sees a chain walk), KMOD_ENTRY_ARGS (tlk add options
# for every entry, e.g. "--rtp --drop --learn 10.9.1.2:4000 3000": as
# relayd installs a stream's entries), KMOD_ICOUNT=SHIFT (qemu
# -icount: the guest clock counts instructions, 2^SHIFT ns each, so host
# load does not reach the figures; what is left is what the guest
# executes), KMOD_TABLE_ONLY=1 (only redraw json/md from -runs.jsonl).
# Needs what tests/kmod needs (root, qemu, busybox-static, the headers).
set -u -o pipefail
ROUNDS=${1:-9}
RATE=${2:-400}
SECS=${3:-5}
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
	echo "sh /test/pktcost.sh $ROUNDS $RATE $SECS $FEW $MANY '${KMOD_INSMOD_ARGS:-}' '${KMOD_ENTRY_ARGS:-}'" >"$wrapper"
	log=$OUT/kmod-pktcost-console.log
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	t0=$(date -u +%H:%M)
	# bounded: setup about a minute, then 2 windows of SECS a round
	limit=$((300 + ROUNDS * 2 * (SECS + 15)))
	[ -n "$ICOUNT" ] && limit=$((limit * 3))
	"$TK_DIR/lib/qemu.sh" --kroot "$KROOT" --kver "$KVER" --ko "$TK_KO" --test "$wrapper" \
		--file "$HERE/pktcost-guest.sh:/test/pktcost.sh" --bin "$TK_BUILD/kmod-tools/tlk" \
		--bin "$TK_BUILD/tools/rtpgen" --bin "$(command -v ip)" --bin "$(command -v nft)" \
		--modules nf_tables --mem 1024 ${ICOUNT:+--icount "$ICOUNT"} \
		--timeout "$limit" --log "$log" >/dev/null || tk_fail "the guest run failed: see $log"
	grep -q '^PKTCOST-DONE' "$log" || tk_fail "the guest bench did not finish: see $log"
	grep '^PKTCOST-RUN ' "$log" | sed 's/^PKTCOST-RUN //' | tr -d '\r' >"$RUNS"
	printf '{"load_before":"%s","load_after":"%s","start_utc":"%s","end_utc":"%s","icount":"%s","insmod_args":"%s","entry_args":"%s"}\n' \
		"$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" "$t0" "$(date -u +%H:%M)" "$ICOUNT" "${KMOD_INSMOD_ARGS:-}" "${KMOD_ENTRY_ARGS:-}" \
		>"$OUT/kmod-pktcost-host.json"
fi

# Every round is kept; a round whose windows did not all deliver what
# they sent is listed and left out of the ratios (the guest run then
# fails anyway). A ratio is "within noise" when its spread covers 1.
jq -s --slurpfile host "$OUT/kmod-pktcost-host.json" '
	def med: sort | if length == 0 then null
		elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def r2: . * 100 | round / 100 | tostring | if test("\\.") then (if test("\\.[0-9]$") then . + "0" else . end) else . + ".00" end;
	def stat: {median: med, min: min, max: max, n: length};
	def verdict: if length < 3 then "not resolved: \(length) round(s)"
		elif min <= 1 and max >= 1 then "within noise: median \(med | r2), per round \(min | r2)-\(max | r2)"
		else "\(med | r2)x (per round \(min | r2)-\(max | r2))" end;
	def whole: (.gen_ns + .ksoftirqd_ns) / .sent;
	. as $runs
	| [$runs[] | .round] | unique | map(. as $r
		| [$runs[] | select(.round == $r)] as $x
		| ($x | map({("\(.window)_\(.table)"): .}) | add) as $p
		| {round: $r,
		   ok: (($x | length) == 4 and
			($x | group_by(.window) | map(.[0].sent > 0 and (map(.delivered) | add) == .[0].sent) | all) and
			([$x[] | select(.window == "on") | .probe_packets == .delivered] | all)),
		   hook_p50_ns: {k1k: $p.on_k1k.probe_p50_ns, k50k: $p.on_k50k.probe_p50_ns},
		   hook_p10_p90_ns: {k1k: [$p.on_k1k.probe_p10_ns, $p.on_k1k.probe_p90_ns],
				     k50k: [$p.on_k50k.probe_p10_ns, $p.on_k50k.probe_p90_ns]},
		   hook_mean_ns: {k1k: ($p.on_k1k.probe_ns / $p.on_k1k.probe_packets),
				  k50k: ($p.on_k50k.probe_ns / $p.on_k50k.probe_packets)},
		   packets: {k1k: $p.on_k1k.probe_packets, k50k: $p.on_k50k.probe_packets},
		   whole_ns: {on: ($p.on_k1k | whole), off: ($p.off_k1k | whole)}}
		| . + {hook_ratio: (.hook_p50_ns.k50k / .hook_p50_ns.k1k),
		       hook_mean_ratio: (.hook_mean_ns.k50k / .hook_mean_ns.k1k),
		       probe_ratio: (.whole_ns.on / .whole_ns.off)}) as $rounds
	| [$rounds[] | select(.ok)] as $ok
	| {bench: "kmod-pktcost", rounds: ($rounds | length), rounds_used: ($ok | length),
	   rate: $runs[0].rate, secs: $runs[0].secs, flows: $runs[0].flows,
	   entries: {few: ([$runs[] | select(.table == "k1k")][0].entries),
		     many: ([$runs[] | select(.table == "k50k")][0].entries)},
	   host: $host[0],
	   hook_p50_ns: {k1k: ($ok | map(.hook_p50_ns.k1k) | stat), k50k: ($ok | map(.hook_p50_ns.k50k) | stat)},
	   hook_mean_ns: {k1k: ($ok | map(.hook_mean_ns.k1k) | stat), k50k: ($ok | map(.hook_mean_ns.k50k) | stat)},
	   hook_many_vs_few: ($ok | map(.hook_ratio) | stat + {text: verdict}),
	   hook_mean_many_vs_few: ($ok | map(.hook_mean_ratio) | stat + {text: verdict}),
	   target_met: (($ok | length) >= 3 and ($ok | map(.hook_ratio) | med) <= 1.1),
	   target_met_every_round: (($ok | length) >= 3 and ($ok | map(.hook_ratio) | max) <= 1.1),
	   whole_probe_on_vs_off: ($ok | map(.probe_ratio) | stat + {text: verdict}),
	   per_round: $rounds}' "$RUNS" >"$OUT/kmod-pktcost.json" || tk_fail "bad results in $RUNS"
jq -r 'def r2: . * 100 | round / 100 | tostring | if test("\\.") then (if test("\\.[0-9]$") then . + "0" else . end) else . + ".00" end;
	def f0: . | round;
	def row(t; x): "| \(t) | \(x.median | r2)x | \(x.min | r2)-\(x.max | r2) | \(x.n) |";
	"# trunkline.ko relay step at \(.entries.many) vs \(.entries.few) entries (hook probe, qemu TCG guest\(if .host.icount != "" then ", -icount shift=\(.host.icount)" else "" end)\(if (.host.insmod_args // "") != "" then ", insmod \(.host.insmod_args)" else "" end)\(if (.host.entry_args // "") != "" then ", entries: tlk add \(.host.entry_args)" else "" end))\n",
	"Two relays in one guest, one with \(.entries.few) entries and one with \(.entries.many); one sender alternates packets between them, \(.flows) flows each (at \(.entries.many) every \(.entries.many / .entries.few)-th entry, the rest idle), \(.rate) packets/s in all for \(.secs) s a window; a round is a window with the probe on and one with it off, in alternating order. Hook ns: the module'"'"'s own time per forwarded packet, from the hook'"'"'s start to ip_local_out() (lookup, source check, route, rewrite, counters), local_clock() in the guest (kmod/tl_probe.c); a table'"'"'s figure in a window is its median packet (the probe'"'"'s histogram, interpolated within a 1/16-octave slot), which an interrupt or a stalled vCPU in one packet does not move; the mean is shown too. Both tables'"'"' packets pass in the same seconds, so host load falls on both alike. \(.rounds_used) of \(.rounds) rounds used (every packet delivered, the probe counted each). Host load average \(.host.load_before) at the start (\(.host.start_utc) UTC), \(.host.load_after) at the end (\(.host.end_utc) UTC).\n",
	"| comparison | median | per-round spread | rounds |",
	"|---|---|---|---|",
	row("hook ns per packet (median packet), \(.entries.many) / \(.entries.few) entries"; .hook_many_vs_few),
	row("hook ns per packet (mean), \(.entries.many) / \(.entries.few) entries"; .hook_mean_many_vs_few),
	row("whole path (sender + ksoftirqd CPU per packet, both tables), probe on / off"; .whole_probe_on_vs_off),
	"",
	"Hook ns of the median packet (emulated), median over rounds (spread): \(.entries.few) entries \(.hook_p50_ns.k1k.median | f0) (\(.hook_p50_ns.k1k.min | f0)-\(.hook_p50_ns.k1k.max | f0)), \(.entries.many) entries \(.hook_p50_ns.k50k.median | f0) (\(.hook_p50_ns.k50k.min | f0)-\(.hook_p50_ns.k50k.max | f0)). Mean: \(.hook_mean_ns.k1k.median | f0) (\(.hook_mean_ns.k1k.min | f0)-\(.hook_mean_ns.k1k.max | f0)) and \(.hook_mean_ns.k50k.median | f0) (\(.hook_mean_ns.k50k.min | f0)-\(.hook_mean_ns.k50k.max | f0)).\n",
	"Target (relay step at \(.entries.many) <= 1.1x at \(.entries.few)): \(if .target_met_every_round then "met in every round" elif .target_met then "met by the median; not in every round (\(.hook_many_vs_few.text))" else "not met (\(.hook_many_vs_few.text))" end).\n",
	"| round | hook ns \(.entries.few): p50 (p10-p90), mean | hook ns \(.entries.many): p50 (p10-p90), mean | ratio p50 | ratio mean | whole ns, probe on | whole ns, probe off | used |",
	"|---|---|---|---|---|---|---|---|",
	(.per_round[] | "| \(.round) | \(.hook_p50_ns.k1k) (\(.hook_p10_p90_ns.k1k[0])-\(.hook_p10_p90_ns.k1k[1])), \(.hook_mean_ns.k1k | f0) | \(.hook_p50_ns.k50k) (\(.hook_p10_p90_ns.k50k[0])-\(.hook_p10_p90_ns.k50k[1])), \(.hook_mean_ns.k50k | f0) | \(.hook_ratio | r2) | \(.hook_mean_ratio | r2) | \(.whole_ns.on | f0) | \(.whole_ns.off | f0) | \(if .ok then "yes" else "no" end) |")' \
	"$OUT/kmod-pktcost.json" >"$OUT/kmod-pktcost.md"
cat "$OUT/kmod-pktcost.md"
