#!/bin/bash
#
# offer-rate.sh: offer+answer streams/s end to end through the control
# protocol, for each relayd backend that runs natively (userspace, nft),
# with the C load client build/tools/offerload (bench/offerload.c:
# pipelined requests, replies read as they come).
#
#   bench/offer-rate.sh [-b BUILD] [-o OUT.json] [-n STREAMS] [-r ROUNDS]
#                       [-c CONNS] [-w WINDOW] [-B BACKENDS] [-X BUILD2]
#                       [-H HOLD_S] [-F [-D DELAY_S]]
#
# -X BUILD2: a second relayd build (another commit's build/ directory) runs
# as well, its backends named BACKEND@x, interleaved round by round with
# the first: a before/after ratio from one run on a shared machine.
# -H HOLD_S: the calls stay up HOLD_S seconds between the answers and the
# deletes; relayd's CPU over that idle hold is reported (its timers).
# -F: every round on a freshly started relayd (as after a restart), the
# load sent as soon as its control socket answers; each round also says
# how long the start took (start_ms: exec to the control socket). A fresh
# relayd's round also says when it began (since_start_ms, from the exec).
# -D DELAY_S (with -F): the load comes DELAY_S after the control socket
# answers, not at once (the controller reconnects to a relay within its
# 1 s retry: controller/relay.c).
# relayd runs in its own network namespace (two relay addresses on lo),
# pinned to CPU 1, the client to CPU 0. A round = STREAMS calls offered
# and answered (one audio stream each), then all deleted. STREAMS defaults
# to 4,000: relayd opens a socket per port of its range (2 ports per stream
# and interface) and RLIMIT_NOFILE is 20,000 here. Rounds of the backends are interleaved; the result per
# backend is the median and spread over rounds, plus relayd's own CPU time
# per stream (what the daemon could do if the client cost nothing) and
# its RSS growth per stream in the first round (fresh relayd).
set -eu -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUTF=$ROOT/build/bench/offer-rate.json
N=4000 ROUNDS=5 CONNS=1 WINDOW=1024 BACKENDS=userspace,nft XBUILD= HOLD=0 FRESH=0 DELAY=0
while getopts b:o:n:r:c:w:B:X:H:FD: opt; do
	case $opt in
	b) BUILD=$(cd "$OPTARG" && pwd) ;;
	o) OUTF=$OPTARG ;;
	n) N=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	w) WINDOW=$OPTARG ;;
	B) BACKENDS=$OPTARG ;;
	X) XBUILD=$(cd "$OPTARG" && pwd) ;;
	H) HOLD=$OPTARG ;;
	F) FRESH=1 ;;
	D) DELAY=$OPTARG ;;
	*) echo "usage: $0 [-b BUILD] [-o OUT.json] [-n STREAMS] [-r ROUNDS] [-c CONNS] [-w WINDOW] [-B BACKENDS] [-X BUILD2] [-H HOLD_S] [-F [-D DELAY_S]]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace)" >&2; exit 77; }
for t in "$BUILD/trunkline-relayd" "$BUILD/tools/offerload" ${XBUILD:+"$XBUILD/trunkline-relayd"}; do
	[ -x "$t" ] || { echo "$t not built (make)" >&2; exit 1; }
done
mkdir -p "$(dirname "$OUTF")"
TMP=$(mktemp -d)
NS=tlor$$
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
# each backend its own pair of relay addresses (both relayds bind the same ports)
for i in 1 2 3 4 5; do
	ip -n "$NS" addr add 10.77.1.$i/32 dev lo
	ip -n "$NS" addr add 10.77.2.$i/32 dev lo
done
ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NS" sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
CPU_D=1 CPU_C=0
[ "$(nproc)" -gt 1 ] || CPU_D=0

# start NAME K [BUILD]: relayd for backend NAME (BACKEND or BACKEND@x) in
# the namespace, on 10.77.{1,2}.K; sets PID_<name>, START_MS_<name>
start() {
	local be=${1%@x} k=$2 bin=${3:-$BUILD} conf=$TMP/$1.json sock=$TMP/$1.sock
	local name=$1 var=PID_${1/@/_} t0
	rm -f "$sock"
	t0=$(date +%s%N)
	mkdir -p "$TMP/$name.journal"
	jq -n --arg s "$sock" --arg be "$be" --arg a "10.77.1.$k" --arg b "10.77.2.$k" --arg j "$TMP/$name.journal" --argjson n "$N" '{
		control: {socket: $s, mode: "0600"},
		interfaces: [{name: "caller", bind: $a, advertise: $a}, {name: "callee", bind: $b}],
		ports: {min: 20000, max: (20000 + 2 * $n + 99)},
		timeouts: {setup: 3600, inactivity: 3600, hold: 3600, max_duration: 14400},
		backend: $be, log_level: "warning", journal: $j}' >"$conf"
	ip netns exec "$NS" taskset -c "$CPU_D" "$bin/trunkline-relayd" -f "$conf" -d \
		>/dev/null 2>"$TMP/$name.log" &
	local pid=$!
	PIDS+=("$pid")
	# -F sends at once: poll finely (10 s at most either way)
	for _ in $(seq 1000); do [ -S "$sock" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
	[ -S "$sock" ] || { echo "relayd ($name) did not start: $(tail -n 3 "$TMP/$name.log")" >&2; return 1; }
	eval "$var=$pid START_MS_${1/@/_}=$((($(date +%s%N) - t0) / 1000000)) T0_${1/@/_}=$t0"
}

# restart NAME K [BUILD]: stop NAME's relayd (SIGTERM, bounded) and start
# a fresh one in its place (-F)
restart() {
	local pid_var=PID_${1/@/_}
	kill "${!pid_var}" 2>/dev/null
	for _ in $(seq 100); do kill -0 "${!pid_var}" 2>/dev/null || break; sleep 0.05; done
	start "$@"
}

live=()
k=0
declare -A SLOT=() BIN=()
for be in ${BACKENDS//,/ }; do
	k=$((k + 1))
	SLOT[$be]=$k BIN[$be]=$BUILD
	if start "$be" "$k"; then live+=("$be"); else echo "offer-rate: $be skipped" >&2; fi
	[ -n "$XBUILD" ] || continue
	k=$((k + 1))
	SLOT[$be@x]=$k BIN[$be@x]=$XBUILD
	if start "$be@x" "$k" "$XBUILD"; then live+=("$be@x"); else echo "offer-rate: $be@x skipped" >&2; fi
done
[ ${#live[@]} -gt 0 ] || { echo "offer-rate: no backend started" >&2; exit 1; }
: >"$TMP/rounds.jsonl"
for r in $(seq "$ROUNDS"); do
	for be in "${live[@]}"; do
		if [ "$FRESH" = 1 ]; then
			restart "$be" "${SLOT[$be]}" "${BIN[$be]}" || exit 1
			sleep "$DELAY"
		fi
		pid_var=PID_${be/@/_} start_var=START_MS_${be/@/_} t0_var=T0_${be/@/_}
		since=$((($(date +%s%N) - ${!t0_var}) / 1000000))
		taskset -c "$CPU_C" "$BUILD/tools/offerload" -s "$TMP/$be.sock" -n "$N" -c "$CONNS" \
			-w "$WINDOW" -p "${!pid_var}" -A 10.77.9.2 -B 10.77.9.3 -i caller,callee -H "$HOLD" |
			jq -c --arg be "$be" --argjson r "$r" --argjson fresh "$FRESH" --argjson sms "${!start_var}" --argjson since "$since" \
				'. + {backend: $be, round: $r} + (if $fresh == 1 or $r == 1 then {fresh_relayd: true, start_ms: $sms, since_start_ms: $since} else {} end)' >>"$TMP/rounds.jsonl"
		echo "offer-rate: round $r $be: $(tail -n 1 "$TMP/rounds.jsonl" | jq -r '"\(.streams_per_s) streams/s, relayd CPU allows \(.streams_per_relayd_cpu_s)/s\(if .relayd_cpu_hold_ms then ", relayd CPU over the idle hold \(.relayd_cpu_hold_ms) ms" else "" end)"')" >&2
	done
done
jq -s --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg x "$XBUILD" --argjson n "$N" --argjson c "$CONNS" --argjson w "$WINDOW" '
	def med: sort | .[length / 2 | floor];
	{bench: "offer-rate", streams_per_round: $n, conns: $c, window: $w,
	 load_average: $load, build_x: $x,
	 what: "offer+answer per stream over the control protocol (C client, pipelined), end to end: first request written to last reply read; then every call deleted",
	 backends: (group_by(.backend) | map({
		backend: .[0].backend, rounds: length,
		streams_per_s: (map(.streams_per_s) | med), streams_per_s_min: (map(.streams_per_s) | min),
		streams_per_s_max: (map(.streams_per_s) | max),
		streams_per_relayd_cpu_s: (map(.streams_per_relayd_cpu_s) | med),
		deletes_per_s: (map(.deletes_per_s) | med),
		relayd_cpu_hold_ms: (map(.relayd_cpu_hold_ms // empty) | if length > 0 then med else null end),
		# memory: growth over the first round (a fresh relayd; later rounds
		# reuse what the deletes freed)
		rss_bytes_per_stream: (map(select(.round == 1)) | .[0].rss_bytes_per_stream),
		# a fresh relayd (round 1, every round with -F) and one whose
		# pairs have all been used (the other rounds), apart
		fresh: (map(select(.fresh_relayd)) | if length == 0 then null else {rounds: length,
			streams_per_s: (map(.streams_per_s) | med),
			streams_per_relayd_cpu_s: (map(.streams_per_relayd_cpu_s) | med),
			start_ms: (map(.start_ms) | med)} end),
		warm: (map(select(.fresh_relayd | not)) | if length == 0 then null else {rounds: length,
			streams_per_s: (map(.streams_per_s) | med),
			streams_per_relayd_cpu_s: (map(.streams_per_relayd_cpu_s) | med)} end)})),
	 rounds: .}' "$TMP/rounds.jsonl" >"$OUTF"
jq -r '.backends[] | "\(.backend): \(.streams_per_s) streams/s (\(.streams_per_s_min)-\(.streams_per_s_max)), relayd CPU allows \(.streams_per_relayd_cpu_s)/s, RSS \(.rss_bytes_per_stream) B/stream\(if .relayd_cpu_hold_ms then ", idle hold: \(.relayd_cpu_hold_ms) ms CPU" else "" end)\(if .fresh then "; fresh relayd (\(.fresh.rounds) rounds): \(.fresh.streams_per_s)/s, CPU allows \(.fresh.streams_per_relayd_cpu_s)/s, start \(.fresh.start_ms) ms" else "" end)\(if .warm then "; others (\(.warm.rounds)): \(.warm.streams_per_s)/s, CPU allows \(.warm.streams_per_relayd_cpu_s)/s" else "" end)"' "$OUTF"
