#!/bin/bash
#
# run.sh: the test runner behind `make check`, which builds build/,
# build/asan/ and build/fuzz/ first. It runs
#   - every unit test binary build/tests/test_* and build/asan/tests/test_*,
#   - every tests/integration/*.sh against the sanitizer build
#     (TL_BUILD=build/asan), and those marked "# run-also: build" also
#     against the normal build,
#   - every tests/{sip,kmod,bench}/*.sh against the normal build, and
#     those marked "# run-also: asan" also against the sanitizer build
#     (the kernel module tests run in a qemu guest; the bench scripts run
#     as smoke tests with tiny counts),
#   - the protocol and SDP fuzz targets for a bounded time, if built.
# Each test runs under timeout with its output in build/test-logs/; a
# sanitizer report in a log fails the test even if it exited 0. One line
# per test as it finishes, then exactly "N passed, N failed, N skipped";
# the exit status is non-zero if anything failed.
#
# Parallel runs: the unit tests run one after another; then up to TL_JOBS
# scripts and fuzz targets run at once (most of a SIP or relay test is
# waiting on timers and the network, so two at once roughly halve the
# suite). A script and its run-also variant never run at the same time
# (they share the script's fixed names). A script with a line
# "# exclusive" runs alone, with nothing else running: the qemu guest
# tests, Chromium, the bench smoke tests, and whatever is CPU-heavy or
# timing-sensitive enough to flake next to another test. The exclusive
# scripts run first, then the rest. A test that runs next to others must
# not use fixed host resources: namespaces and veths named per run
# (netns.sh), SIP and media ports from a locked slot (sip.sh), its own
# files under $TL_TMP, nothing in the root namespace's nft, conntrack or
# sysctls.
#
# Environment: TL_TEST_TIMEOUT (s, default 120; a script's own "# timeout:"
# line may raise it), TL_FUZZ_TIME (s, default
# 20), TL_TEST_FILTER (a regex: run only the tests whose name matches),
# TL_JOBS (tests at once, default 2; 1 runs everything in order, as
# before).
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
LOGS=build/test-logs
TIMEOUT=${TL_TEST_TIMEOUT:-120}
FUZZ_TIME=${TL_FUZZ_TIME:-20}
FILTER=${TL_TEST_FILTER:-}

# Sanitizers: stop at the first error, with a stack, and find leaks.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1:exitcode=23
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=23
export LSAN_OPTIONS=exitcode=23
# The integration scripts run the sanitizer build unless told otherwise;
# a TL_BUILD from the caller's environment must not leak into them.
unset TL_BUILD TL_RELAYD TL_CTL TL_RTPGEN TL_RTPSINK

JOBS=${TL_JOBS:-2}
if ! [[ $JOBS =~ ^[1-9][0-9]*$ ]]; then
	echo "run.sh: TL_JOBS must be a positive number of tests, not '$JOBS'" >&2
	exit 2
fi

rm -rf "$LOGS"
mkdir -p "$LOGS"
passed=0
failed=0
skipped=0

sanitizer_report() {
	grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$@" 2>/dev/null
}

logname() {
	local n=${1//\//_}
	n=${n//[/_}
	n=${n//]/_}
	echo "$LOGS/$n.log"
}

# test_timeout CMD...: the time limit of a test. A script may ask for more
# than the default with a line "# timeout: SECS" (the qemu guest tests:
# software emulation on a loaded machine); TL_TEST_TIMEOUT above the
# script's own figure wins.
test_timeout() {
	local own="" a
	for a in "$@"; do
		case $a in
		*.sh) [ -f "$a" ] && own=$(grep -m1 -oP '^# timeout: \K[0-9]+$' "$a") ;;
		esac
		[ -n "$own" ] && break
	done
	if [ -n "$own" ] && [ "$own" -gt "$TIMEOUT" ]; then
		echo "$own"
	else
		echo "$TIMEOUT"
	fi
}

# run_test NAME CMD...: run one test and print its report (one line, and
# the log's tail if it failed). Returns 0 (passed), 77 (skipped) or 1.
run_test() {
	local name=$1 log t0 t1 rc secs reason limit
	shift
	log=$(logname "$name")
	limit=$(test_timeout "$@")
	t0=${EPOCHREALTIME}
	timeout -k 10 "$limit" "$@" </dev/null >"$log" 2>&1
	rc=$?
	t1=${EPOCHREALTIME}
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" = 0 ] && sanitizer_report "$log" "${log%.log}.d/relayd.log"; then
		echo "sanitizer report in the output (exit status was 0)" >>"$log"
		rc=1
	fi
	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		return 0
		;;
	77)
		reason=$(grep -m1 -oP '^SKIP: \K.*' "$log" || tail -n 1 "$log")
		echo "SKIP $name: ${reason:-no reason given}"
		return 77
		;;
	esac
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "FAIL $name (timed out after ${limit}s)"
	else
		echo "FAIL $name (exit status $rc, ${secs}s)"
	fi
	tail -n 30 "$log" | sed 's/^/    /'
	return 1
}

# count RC: add a finished test (run_test's status) to the totals.
count() {
	case $1 in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
}

skip_test() {
	if [ -n "$FILTER" ] && ! [[ $1 =~ $FILTER ]]; then
		return 0
	fi
	echo "SKIP $1: $2"
	skipped=$((skipped + 1))
}

filtered_out() {
	[ -n "$FILTER" ] && ! [[ $1 =~ $FILTER ]]
}

# The queue of scripts and fuzz targets: name, group (the script: its
# variants never run at the same time), exclusive or not, the command.
Q_NAME=()
Q_GROUP=()
Q_EXCL=()
Q_CMD=()

# queue NAME GROUP CMD...: a test for the scheduler below.
queue() {
	local name=$1 group=$2
	shift 2
	filtered_out "$name" && return 0
	Q_NAME+=("$name")
	Q_GROUP+=("$group")
	Q_CMD+=("$(printf '%q ' "$@")")
	if [[ $group == *.sh ]] && grep -q '^# exclusive$' "$group"; then
		Q_EXCL+=(1)
	else
		Q_EXCL+=(0)
	fi
}

# run_now I: queued test I in the foreground.
run_now() {
	eval "run_test $(printf '%q' "${Q_NAME[$1]}") ${Q_CMD[$1]}"
	count $?
}

# The running background tests: pid -> queue index, group -> pid.
declare -A RUN_IDX=()
declare -A RUN_GROUP=()
RESULTS=$LOGS/.reports
mkdir -p "$RESULTS"

start_job() {
	local i=$1
	(eval "run_test $(printf '%q' "${Q_NAME[$i]}") ${Q_CMD[$i]}") >"$RESULTS/$i" 2>&1 &
	RUN_IDX[$!]=$i
	RUN_GROUP[${Q_GROUP[$i]}]=$!
}

# reap_job: wait for any background test, print its report, count it.
reap_job() {
	local pid="" rc i
	wait -n -p pid "${!RUN_IDX[@]}"
	rc=$?
	[ -n "$pid" ] && [ -n "${RUN_IDX[$pid]:-}" ] || return 0
	i=${RUN_IDX[$pid]}
	unset "RUN_IDX[$pid]"
	unset "RUN_GROUP[${Q_GROUP[$i]}]"
	cat "$RESULTS/$i"
	count "$rc"
}

# run_queue: the exclusive tests one by one, then the others, up to JOBS
# at once, the scripts that ask for a longer timeout first (the longest
# tests: started early, they do not end the suite alone).
run_queue() {
	local i pending=() rest=()
	for i in "${!Q_NAME[@]}"; do
		if [ "${Q_EXCL[$i]}" = 1 ]; then
			run_now "$i"
		elif [ "$(test_timeout "${Q_GROUP[$i]}")" != "$TIMEOUT" ]; then
			pending+=("$i")
		else
			rest+=("$i")
		fi
	done
	pending+=("${rest[@]}")
	while [ ${#pending[@]} -gt 0 ] || [ ${#RUN_IDX[@]} -gt 0 ]; do
		for i in "${!pending[@]}"; do
			[ ${#RUN_IDX[@]} -lt "$JOBS" ] || break
			[ -z "${RUN_GROUP[${Q_GROUP[${pending[$i]}]}]:-}" ] || continue
			start_job "${pending[$i]}"
			unset "pending[$i]"
		done
		pending=("${pending[@]}")
		reap_job
	done
}

# Unit tests, normal and sanitizer builds: fast, one after another.
for dir in build/tests build/asan/tests; do
	found=0
	for bin in "$dir"/test_*; do
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		found=1
		case $dir in
		build/asan/*) name="asan/$(basename "$bin")" ;;
		*) name="unit/$(basename "$bin")" ;;
		esac
		filtered_out "$name" && continue
		run_test "$name" "$bin"
		count $?
	done
	[ "$found" = 1 ] || skip_test "$dir/test_*" "no unit test binaries built"
done

# Integration tests: the sanitizer build always, the normal build where the
# script asks for it.
for script in tests/integration/*.sh; do
	[ -f "$script" ] || continue
	base=$(basename "$script" .sh)
	queue "integration/${base}[asan]" "$script" \
		env TL_BUILD=build/asan TL_ARTIFACTS="$LOGS/integration_${base}_asan_.d" \
		bash "$script"
	if grep -q '^# run-also: build$' "$script"; then
		queue "integration/$base" "$script" \
			env TL_BUILD=build TL_ARTIFACTS="$LOGS/integration_${base}.d" \
			bash "$script"
	fi
done

# SIP, kernel module and bench smoke tests: the normal build, and the
# sanitizer build where the script asks for it.
for script in tests/sip/*.sh tests/kmod/*.sh tests/bench/*.sh; do
	[ -f "$script" ] || continue
	suite=$(basename "$(dirname "$script")")
	base=$(basename "$script" .sh)
	queue "$suite/$base" "$script" \
		env TL_BUILD=build TL_ARTIFACTS="$LOGS/${suite}_${base}.d" \
		bash "$script"
	if grep -q '^# run-also: asan$' "$script"; then
		queue "$suite/${base}[asan]" "$script" \
			env TL_BUILD=build/asan TL_ARTIFACTS="$LOGS/${suite}_${base}_asan_.d" \
			bash "$script"
	fi
done

# The protocol fuzzer, bounded in time, on a scratch copy of the corpus
# (libFuzzer adds what it finds to the corpus directory it is given). A
# crash must fail, not skip: libFuzzer exits 77 by default, our skip code.
if [ -x build/fuzz/fuzz_proto ]; then
	queue fuzz/fuzz_proto fuzz_proto bash -c '
		corpus=$(mktemp -d "${TMPDIR:-/tmp}/tl-corpus.XXXXXX") || exit 2
		trap "rm -rf \"$corpus\"" EXIT
		if [ -d tests/fuzz/corpus ]; then cp -r tests/fuzz/corpus/. "$corpus/"; fi
		build/fuzz/fuzz_proto -max_total_time="$1" -timeout=10 -error_exitcode=1 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$2/fuzz_proto-" "$corpus"' _ "$FUZZ_TIME" "$LOGS"
else
	skip_test fuzz/fuzz_proto "build/fuzz/fuzz_proto not built (make fuzz needs clang)"
fi

# The controller's SDP fuzz target, the same way.
if [ -x build/fuzz/fuzz_sdp ]; then
	queue fuzz/fuzz_sdp fuzz_sdp bash -c '
		corpus=$(mktemp -d "${TMPDIR:-/tmp}/tl-corpus.XXXXXX") || exit 2
		trap "rm -rf \"$corpus\"" EXIT
		if [ -d tests/fuzz/corpus-sdp ]; then cp -r tests/fuzz/corpus-sdp/. "$corpus/"; fi
		# tens of thousands of runs a second: a small quarantine keeps
		# the RSS flat (the default one grows past the RSS limit)
		ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=16 build/fuzz/fuzz_sdp -max_total_time="$1" -timeout=10 -error_exitcode=1 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$2/fuzz_sdp-" "$corpus"' _ "$FUZZ_TIME" "$LOGS"
else
	skip_test fuzz/fuzz_sdp "build/fuzz/fuzz_sdp not built (make fuzz needs clang)"
fi

# relayd's STUN parser (ICE-lite on WebRTC legs), the same way.
if [ -x build/fuzz/fuzz_stun ]; then
	queue fuzz/fuzz_stun fuzz_stun bash -c '
		corpus=$(mktemp -d "${TMPDIR:-/tmp}/tl-corpus.XXXXXX") || exit 2
		trap "rm -rf \"$corpus\"" EXIT
		if [ -d tests/fuzz/corpus-stun ]; then cp -r tests/fuzz/corpus-stun/. "$corpus/"; fi
		build/fuzz/fuzz_stun -max_total_time="$1" -timeout=10 -error_exitcode=1 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$2/fuzz_stun-" "$corpus"' _ "$FUZZ_TIME" "$LOGS"
else
	skip_test fuzz/fuzz_stun "build/fuzz/fuzz_stun not built (make fuzz needs clang)"
fi

run_queue
rm -rf "$RESULTS"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
