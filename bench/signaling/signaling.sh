#!/bin/bash
#
# signaling.sh: SIPp call-rate ramp through trunkline-controller +
# trunkline-relayd with media anchoring.
#
#   bench/signaling/signaling.sh [--build DIR] [--out FILE.json]
#       [--rates 100,200,500,1000,1500,2000] [--secs N] [--hold MS] [--smoke]
#
# For each rate (calls/s, ascending) a SIPp UAC (trunk "pbx", 127.0.0.2)
# places rate*secs calls through the controller to a SIPp UAS gateway; each
# call is INVITE (with SDP) / 200 / ACK, held --hold ms, BYE. The controller
# anchors every call's media in relayd (offer/answer over the control
# socket), so a call succeeds only if the relay allocated its ports. It
# reports, per rate: calls attempted, successful, failed, the UAC's rate,
# and the CPU time (ns per call) of the controller and of relayd; the
# result is the highest rate with zero failed calls, and each daemon's CPU
# share at 1,000 calls/s (target: >= 1,000 calls/s, zero failures). The
# ramp stops at the first rate with a failure.
#
# It uses the SIP test library (tests/lib/sip.sh: sip_init,
# sip_relayd_start, sip_controller_start, SIPp scenarios in
# tests/sip/scenarios) and its loopback addresses and port ranges. Until
# build/trunkline-controller and that library exist it exits 77 (skip) and
# writes a JSON document that says why (--out).
#
# Exit: 0 measured (target met or not: the JSON says), 77 skipped,
# 1 the benchmark itself failed.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=build
OUT=
RATES=100,200,500,1000,1500,2000
SECS=5
HOLD=100
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--out) OUT=$2; shift ;;
	--rates) RATES=$2; shift ;;
	--secs) SECS=$2; shift ;;
	--hold) HOLD=$2; shift ;;
	--smoke) RATES=20,50; SECS=1 ;;
	*) echo "usage: $0 [--build DIR] [--out FILE] [--rates LIST] [--secs N] [--hold MS] [--smoke]" >&2; exit 2 ;;
	esac
	shift
done
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

# skip REASON: say why, leave a JSON document that says it too, exit 77.
skip() {
	echo "SKIP: $1"
	if [ -n "$OUT" ]; then
		jq -n --arg r "$1" --arg rates "$RATES" '{bench: "signaling", skipped: true,
			reason: $r, rates: ($rates | split(",") | map(tonumber)),
			max_rate_zero_failures: null, target_met: null,
			note: ("not measured: " + $r)}' >"$OUT"
	fi
	exit 77
}

command -v jq >/dev/null 2>&1 || { echo "signaling: jq is required" >&2; exit 1; }
[ -x "$BUILD/trunkline-controller" ] ||
	skip "$BUILD/trunkline-controller is not built yet (controller/, a separate issue): bench/signaling will ramp SIPp calls through controller + relayd once it exists"
[ -f "$ROOT/tests/lib/sip.sh" ] ||
	skip "tests/lib/sip.sh (the SIP test library that comes with the controller) is missing"
command -v sipp >/dev/null 2>&1 || skip "sipp not installed (sip-tester: scripts/install-bench-deps.sh)"
[ "$(id -u)" = 0 ] || skip "needs root"

export TL_BUILD=$BUILD TL_NAME=bench-signaling
# shellcheck source=/dev/null
. "$ROOT/tests/lib/sip.sh"
sip_init

# A port range for thousands of concurrent calls (2 pairs each), not the
# test suite's forty ports; relayd and the controller log at notice only.
# relayd holds two sockets per port pair: size the range to RLIMIT_NOFILE
# (FINDINGS pitfall 12); each call takes two pairs.
pairs=$((($(ulimit -Hn) - 400) / 2))
[ "$pairs" -gt 10000 ] && pairs=10000
RELAY_MIN=40000
RELAY_MAX=$((RELAY_MIN + 2 * pairs - 1))
relay_filter=".ports = {min: $RELAY_MIN, max: $RELAY_MAX} | .log_level = \"notice\" | .timeouts.setup = 600"
# A relayd with a session journal gets its own directory (the default is
# shared by every relayd on the host); one without the field runs as is.
mkdir -p "$TL_TMP/journal"
jq -n --arg j "$TL_TMP/journal" '{journal: $j}' >"$TL_TMP/journal-probe.json"
probe=$("$TL_RELAYD" -n -f "$TL_TMP/journal-probe.json" 2>&1)
if ! grep -q "journal: unknown field" <<<"$probe"; then
	relay_filter="$relay_filter | .journal = \"$TL_TMP/journal\""
fi
sip_relayd_start "$relay_filter"
sip_controller_start '.log_level = "info" | .invite_timeout = 10'

cpu_ns() { # all threads of a pid, ns (schedstat)
	local t sum=0 v
	for t in /proc/"$1"/task/*/schedstat; do
		read -r v _ <"$t" 2>/dev/null && sum=$((sum + v))
	done
	echo "$sum"
}

# stat_field FILE NAME: last value of a SIPp -trace_stat CSV column.
stat_field() {
	awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		c { v = $c } END { print (v == "" ? 0 : v) + 0 }' "$1"
}

results=()
best=0
at1000=null
for rate in ${RATES//,/ }; do
	calls=$((rate * SECS))
	uas=uas_$rate
	uac=uac_$rate
	tl_spawn "$uas" - sipp -sf "$SIP_SCEN/uas_answer.xml" -i 127.0.0.1 -p "$SIP_GW1_PORT" \
		-m "$calls" -nostdin -timeout $((SECS * 4 + 30))s -set mport "$SIP_CALLEE_RTP" \
		-trace_err -error_file "$TL_TMP/$uas.errors"
	tl_wait_for 5 "SIPp $uas to listen" sip_listening "$SIP_GW1_PORT"
	c0=$(cpu_ns "$SIP_CTL_PID")
	r0=$(cpu_ns "$TL_RELAYD_PID")
	t0=${EPOCHREALTIME}
	tl_spawn "$uac" - sipp -sf "$SIP_SCEN/uac_call.xml" -i 127.0.0.2 -p "$SIP_UAC_PORT" \
		-r "$rate" -m "$calls" -l $((rate * (HOLD + 2000) / 1000 + 100)) -d "$HOLD" \
		-nostdin -timeout $((SECS * 4 + 30))s -s 441234567 -set mport "$SIP_CALLER_RTP" \
		-trace_stat -stf "$TL_TMP/$uac.csv" -fd 1 \
		-trace_err -error_file "$TL_TMP/$uac.errors" "127.0.0.1:$SIP_CTL_PORT"
	tl_reap "$uac" $((SECS * 4 + 60))
	uac_rc=$TL_RC
	t1=${EPOCHREALTIME}
	c1=$(cpu_ns "$SIP_CTL_PID")
	r1=$(cpu_ns "$TL_RELAYD_PID")
	tl_reap "$uas" 30
	ok=$(stat_field "$TL_TMP/$uac.csv" "SuccessfulCall(C)")
	failed=$(stat_field "$TL_TMP/$uac.csv" "FailedCall(C)")
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	one=$(jq -n --argjson rate "$rate" --argjson calls "$calls" --argjson ok "$ok" \
		--argjson failed "$failed" --argjson wall "$wall" --argjson rc "$uac_rc" \
		--argjson cns $((c1 - c0)) --argjson rns $((r1 - r0)) '{
		rate: $rate, calls: $calls, successful: $ok, failed: $failed,
		sipp_exit: $rc, wall_s: $wall,
		controller_ns_per_call: (if $ok > 0 then $cns / $ok else null end),
		relayd_ns_per_call: (if $ok > 0 then $rns / $ok else null end),
		controller_cpu_share: ($cns / 1e9 / $wall), relayd_cpu_share: ($rns / 1e9 / $wall)}')
	results+=("$one")
	tl_log "rate $rate/s: $ok of $calls calls ok, $failed failed, controller $(jq -r .controller_cpu_share <<<"$one") CPU, relayd $(jq -r .relayd_cpu_share <<<"$one") CPU"
	[ "$rate" = 1000 ] && at1000=$one
	if [ "$failed" != 0 ] || [ "$ok" != "$calls" ]; then
		break
	fi
	best=$rate
	tl_wait_for 30 "no call left in the controller and the relay" sip_no_calls
done

doc=$(printf '%s\n' "${results[@]}" | jq -s --argjson best "$best" --argjson at1000 "$at1000" \
	--argjson hold "$HOLD" --argjson secs "$SECS" '{
	bench: "signaling", skipped: false, hold_ms: $hold, secs_per_rate: $secs,
	steps: ., max_rate_zero_failures: $best, at_1000_cps: $at1000,
	target_met: ($best >= 1000),
	note: ("highest rate with zero failed calls: \($best)/s" +
		(if $at1000 then ", at 1000/s controller \($at1000.controller_cpu_share * 100 | floor)% and relayd \($at1000.relayd_cpu_share * 100 | floor)% of a CPU" else "" end))}')
if [ -n "$OUT" ]; then
	echo "$doc" >"$OUT"
fi
echo "$doc"
sip_controller_stop
tl_relayd_stop
tl_pass
