# shellcheck shell=bash
#
# netns.sh: network namespaces, daemons and polling helpers for the relay's
# integration tests and the demo. Source it from bash; it defines functions
# and variables prefixed tl_/TL_ and installs a trap that tears everything
# down on exit, whatever the exit path.
#
# The topology (names are unique per run, so runs can overlap):
#
#   caller ns              relay ns                callee ns
#   10.0.1.2 (c0) ------ (r1) 10.0.1.1
#                             10.0.2.1 (r2) ------ (e0) 10.0.2.2
#   attacker ns
#   10.0.3.2 (a0) ------ (r3) 10.0.3.1
#
# The relay ns does not forward IP: traffic between the sides passes only
# through trunkline-relayd. The attacker reaches the relay's caller-side
# address 10.0.1.1 over its own link (a default route via 10.0.3.1): it
# can hit the caller-facing ports but is not the caller.
#
# Typical use:
#   . "$(dirname "$0")/../lib/netns.sh"
#   tl_init                       # root? tools? temp dir, trap
#   tl_netns_setup
#   tl_relayd_config "$TL_TMP/relayd.json" '.timeouts.inactivity = 2'
#   tl_relayd_start "$TL_TMP/relayd.json"
#   tl_rpc_ok '{"cmd":"ping"}' "ping"
#   ...
#   tl_relayd_stop                # checks exit status 0 and no sanitizer report
#   tl_pass
#
# Exit codes: 0 pass, 77 skip (tl_skip), 1 fail (tl_fail).

TL_ROOT=${TL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TL_BUILD=${TL_BUILD:-build}
case $TL_BUILD in
/*) TL_BUILD_DIR=$TL_BUILD ;;
*) TL_BUILD_DIR=$TL_ROOT/$TL_BUILD ;;
esac
TL_RELAYD=${TL_RELAYD:-$TL_BUILD_DIR/trunkline-relayd}
TL_CTL=${TL_CTL:-$TL_BUILD_DIR/trunklinectl}
TL_RTPGEN=${TL_RTPGEN:-$TL_BUILD_DIR/tools/rtpgen}
TL_RTPSINK=${TL_RTPSINK:-$TL_BUILD_DIR/tools/rtpsink}

# Sanitizer reports must fail a test: abort at the first one, with a stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=23}
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=23}

# Addresses of the topology.
TL_CALLER_IP=10.0.1.2
TL_RELAY_A_IP=10.0.1.1
TL_RELAY_B_IP=10.0.2.1
TL_CALLEE_IP=10.0.2.2
TL_ATTACKER_IP=10.0.3.2
TL_RELAY_X_IP=10.0.3.1

TL_NAME=${TL_NAME:-$(basename "$0" .sh)}
TL_TMP=
TL_NETNS=()		# namespaces to delete
TL_PIDS=()		# background processes to end
declare -A TL_PID=()	# name -> pid of tl_spawn'ed processes
TL_RELAYD_PID=
TL_SOCK=
TL_REPLY=
TL_RC=0
TL_T0=${EPOCHREALTIME}

tl_log() {
	printf '[%6.2fs] %s\n' "$(tl_elapsed)" "$*" >&2
}

tl_elapsed() {
	local now=${EPOCHREALTIME}
	awk -v a="$TL_T0" -v b="$now" 'BEGIN { printf "%.2f", b - a }'
}

tl_fail() {
	printf 'FAIL: %s: %s\n' "$TL_NAME" "$*" >&2
	exit 1
}

tl_skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

tl_pass() {
	printf 'PASS: %s (%ss)\n' "$TL_NAME" "$(tl_elapsed)" >&2
	exit 0
}

# Is the line a sanitizer report? Prints the report's first lines if so.
tl_sanitizer_report() {
	local f=$1
	[ -s "$f" ] || return 1
	if grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$f"; then
		grep -E -A 25 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f" | head -60 >&2
		return 0
	fi
	return 1
}

# Check the preconditions and set up the temp dir and the exit trap.
tl_init() {
	[ "$(id -u)" = 0 ] || tl_skip "needs root (network namespaces)"
	command -v ip >/dev/null 2>&1 || tl_skip "iproute2 (ip) not installed"
	command -v jq >/dev/null 2>&1 || tl_fail "jq is required (apt-get install jq)"
	local b
	for b in "$TL_RELAYD" "$TL_CTL" "$TL_RTPGEN" "$TL_RTPSINK"; do
		[ -x "$b" ] || tl_fail "$b is not built (make, or make asan for build/asan)"
	done
	TL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tl-$TL_NAME.XXXXXX") ||
		tl_fail "mktemp failed"
	trap tl_teardown EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	tl_log "build $TL_BUILD_DIR, work dir $TL_TMP"
}

# Stop a process by pid: TERM, then KILL after a grace period.
tl_kill_pid() {
	local pid=$1 grace=${2:-3} i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	tl_log "pid $pid ignored SIGTERM for ${grace}s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	return 0
}

tl_teardown() {
	local rc=$? pid ns
	trap - EXIT INT TERM HUP
	if [ -n "$TL_RELAYD_PID" ] && kill -0 "$TL_RELAYD_PID" 2>/dev/null; then
		tl_kill_pid "$TL_RELAYD_PID" 5
		wait "$TL_RELAYD_PID" 2>/dev/null
	fi
	for pid in "${TL_PIDS[@]}"; do
		tl_kill_pid "$pid" 2
	done
	wait 2>/dev/null
	# A sanitizer report from the daemon fails the test even when the
	# script did not look (e.g. it failed earlier, or the daemon crashed).
	if [ -n "$TL_TMP" ] && tl_sanitizer_report "$TL_TMP/relayd.log"; then
		printf 'FAIL: %s: sanitizer report in the relayd log (above)\n' "$TL_NAME" >&2
		case $rc in 0 | 77) rc=1 ;; esac
	fi
	for ns in "${TL_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "$TL_TMP" ] && [ -d "$TL_TMP" ]; then
		if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "$TL_TMP/relayd.log" ]; then
			echo "--- last lines of the relayd log:" >&2
			tail -n 40 "$TL_TMP/relayd.log" >&2
		fi
		if [ -n "${TL_ARTIFACTS:-}" ]; then
			mkdir -p "$TL_ARTIFACTS" && cp -r "$TL_TMP/." "$TL_ARTIFACTS/" 2>/dev/null
		fi
		if [ "${TL_KEEP:-0}" = 1 ]; then
			echo "kept $TL_TMP" >&2
		else
			rm -rf "$TL_TMP"
		fi
	fi
	exit "$rc"
}

# Create the four namespaces and their links.
tl_netns_setup() {
	local id="tl$$x$RANDOM" ns
	TL_NS_CALLER=$id-caller
	TL_NS_RELAY=$id-relay
	TL_NS_CALLEE=$id-callee
	TL_NS_ATTACKER=$id-attacker
	for ns in "$TL_NS_CALLER" "$TL_NS_RELAY" "$TL_NS_CALLEE" "$TL_NS_ATTACKER"; do
		ip netns add "$ns" 2>"$TL_TMP/netns.err" || {
			if [ ${#TL_NETNS[@]} = 0 ]; then
				tl_skip "cannot create network namespaces: $(cat "$TL_TMP/netns.err")"
			fi
			tl_fail "ip netns add $ns: $(cat "$TL_TMP/netns.err")"
		}
		TL_NETNS+=("$ns")
		ip -n "$ns" link set lo up || tl_fail "lo up in $ns"
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0 >/dev/null 2>&1
	done
	tl_veth "$TL_NS_CALLER" c0 "$TL_CALLER_IP" "$TL_NS_RELAY" r1 "$TL_RELAY_A_IP"
	tl_veth "$TL_NS_CALLEE" e0 "$TL_CALLEE_IP" "$TL_NS_RELAY" r2 "$TL_RELAY_B_IP"
	tl_veth "$TL_NS_ATTACKER" a0 "$TL_ATTACKER_IP" "$TL_NS_RELAY" r3 "$TL_RELAY_X_IP"
	ip -n "$TL_NS_CALLER" route add default via "$TL_RELAY_A_IP" || tl_fail "caller route"
	ip -n "$TL_NS_CALLEE" route add default via "$TL_RELAY_B_IP" || tl_fail "callee route"
	ip -n "$TL_NS_ATTACKER" route add default via "$TL_RELAY_X_IP" || tl_fail "attacker route"
	tl_log "namespaces $id-{caller,relay,callee,attacker} up"
}

# tl_veth NS1 IF1 IP1 NS2 IF2 IP2: a /24 veth link between two namespaces.
tl_veth() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" ||
		tl_fail "veth $1/$2 <-> $4/$5"
	ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$1" link set "$2" up &&
		ip -n "$4" addr add "$6/24" dev "$5" && ip -n "$4" link set "$5" up ||
		tl_fail "addresses on $2/$5"
}

# tl_in NS CMD...: run in a namespace ("-" for the current one).
tl_in() {
	local ns=$1
	shift
	if [ "$ns" = - ]; then
		"$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# tl_spawn NAME NS CMD...: start in the background; stdout to
# $TL_TMP/NAME.out, stderr to $TL_TMP/NAME.err. TL_PID[NAME] is its pid
# (ip netns exec execs the command, so it is the command's own).
tl_spawn() {
	local name=$1 ns=$2
	shift 2
	if [ "$ns" = - ]; then
		"$@" >"$TL_TMP/$name.out" 2>"$TL_TMP/$name.err" &
	else
		ip netns exec "$ns" "$@" >"$TL_TMP/$name.out" 2>"$TL_TMP/$name.err" &
	fi
	TL_PID[$name]=$!
	TL_PIDS+=("$!")
}

# tl_reap NAME TIMEOUT: wait (bounded) for a spawned process; its exit
# status is returned and left in TL_RC (124 if it had to be killed).
tl_reap() {
	local name=$1 timeout=${2:-10} pid=${TL_PID[$1]} deadline
	deadline=$(tl_deadline "$timeout")
	while kill -0 "$pid" 2>/dev/null; do
		if tl_past "$deadline"; then
			tl_log "$name (pid $pid) still running after ${timeout}s: killing it"
			tl_kill_pid "$pid" 2
			wait "$pid" 2>/dev/null
			TL_RC=124
			return 124
		fi
		sleep 0.05
	done
	wait "$pid"
	TL_RC=$?
	return "$TL_RC"
}

# Deadlines in microseconds since the epoch, from bash's EPOCHREALTIME.
tl_now_us() {
	local t=${EPOCHREALTIME}
	echo "${t/./}"
}

tl_deadline() {
	local us
	us=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000000 }')
	echo $(($(tl_now_us) + us))
}

tl_past() {
	[ "$(tl_now_us)" -ge "$1" ]
}

# tl_wait_for SECS DESCRIPTION CMD...: poll CMD every 50 ms until it
# succeeds; fail the test if it has not by the deadline.
tl_wait_for() {
	local secs=$1 desc=$2 deadline
	shift 2
	deadline=$(tl_deadline "$secs")
	until "$@" >/dev/null; do
		tl_past "$deadline" && tl_fail "timed out after ${secs}s waiting for $desc"
		sleep 0.05
	done
}

# tl_try_for SECS CMD...: like tl_wait_for but returns 1 instead of failing.
tl_try_for() {
	local secs=$1 deadline
	shift
	deadline=$(tl_deadline "$secs")
	until "$@" >/dev/null; do
		tl_past "$deadline" && return 1
		sleep 0.05
	done
}

# ---- the relay ----

# tl_relayd_config FILE [JQ-FILTER]: write the test config; the filter
# adjusts it, e.g. '.ports = {min: 30000, max: 30007}'.
tl_relayd_config() {
	local file=$1 filter=${2:-.}
	TL_SOCK=$TL_TMP/relayd.sock
	jq -n --arg sock "$TL_SOCK" --arg a "$TL_RELAY_A_IP" --arg b "$TL_RELAY_B_IP" \
		--arg journal "$TL_TMP/journal" '{
		control: {socket: $sock, mode: "0660"},
		journal: $journal,
		interfaces: [
			{name: "caller", bind: $a, advertise: $a},
			{name: "callee", bind: $b}
		],
		ports: {min: 30000, max: 30099},
		timeouts: {setup: 60, inactivity: 30, hold: 3600, max_duration: 14400},
		backend: "auto",
		log_level: "debug"
	}' | jq "$filter" >"$file" || tl_fail "cannot write $file (jq filter '$filter')"
}

tl_ping() {
	timeout 5 "$TL_CTL" -s "$TL_SOCK" --json ping >/dev/null 2>&1
}

# tl_relayd_start CONFIG: start the relay in the relay ns, log to
# $TL_TMP/relayd.log, and wait (at most 30 s) until it answers ping.
tl_relayd_start() {
	local conf=$1 deadline
	TL_SOCK=${TL_SOCK:-$(jq -r .control.socket "$conf")}
	ip netns exec "$TL_NS_RELAY" "$TL_RELAYD" -n -f "$conf" >"$TL_TMP/relayd-check.log" 2>&1 ||
		tl_fail "relayd -n rejects the config: $(cat "$TL_TMP/relayd-check.log")"
	ip netns exec "$TL_NS_RELAY" "$TL_RELAYD" -f "$conf" -d >"$TL_TMP/relayd.out" 2>"$TL_TMP/relayd.log" &
	TL_RELAYD_PID=$!
	deadline=$(tl_deadline 30)
	until tl_ping; do
		if ! kill -0 "$TL_RELAYD_PID" 2>/dev/null; then
			wait "$TL_RELAYD_PID"
			local rc=$?
			TL_RELAYD_PID=
			tl_fail "relayd exited with status $rc before answering ping: $(tail -n 20 "$TL_TMP/relayd.log")"
		fi
		tl_past "$deadline" && tl_fail "relayd did not answer ping within 30s"
		sleep 0.05
	done
	tl_log "relayd up (pid $TL_RELAYD_PID, socket $TL_SOCK)"
}

# tl_relayd_stop: SIGTERM; it must exit 0 within 5 s without a sanitizer
# report in its log.
tl_relayd_stop() {
	local pid=$TL_RELAYD_PID rc i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		tl_kill_pid "$pid" 1
		wait "$pid" 2>/dev/null
		TL_RELAYD_PID=
		tl_fail "relayd did not exit within 5s of SIGTERM"
	fi
	wait "$pid"
	rc=$?
	TL_RELAYD_PID=
	if tl_sanitizer_report "$TL_TMP/relayd.log"; then
		tl_fail "sanitizer report in the relayd log (exit status $rc)"
	fi
	[ "$rc" = 0 ] || tl_fail "relayd exited with status $rc after SIGTERM (expected 0)"
	tl_log "relayd stopped cleanly"
}

# ---- the control protocol ----

# tl_ctl ARGS...: trunklinectl on the test socket, bounded in time.
tl_ctl() {
	timeout 10 "$TL_CTL" -s "$TL_SOCK" "$@"
}

# tl_rpc JSON: send one raw request; the reply is left in TL_REPLY (the
# last line trunklinectl printed), its stderr in TL_REPLY_ERR; returns
# trunklinectl's exit status.
tl_rpc() {
	local rc
	TL_REPLY=$(tl_ctl --json raw "$1" 2>"$TL_TMP/ctl.err")
	rc=$?
	TL_REPLY=${TL_REPLY##*$'\n'}
	TL_REPLY_ERR=$(cat "$TL_TMP/ctl.err")
	return $rc
}

# tl_rpc_ok JSON DESCRIPTION: the request must succeed (ok:true, exit 0).
tl_rpc_ok() {
	tl_rpc "$1"
	local rc=$?
	[ "$rc" = 0 ] || tl_fail "$2: trunklinectl exited $rc: reply '$TL_REPLY' stderr '$TL_REPLY_ERR' (request ${1:0:300})"
	jq -e '.ok == true' >/dev/null 2>&1 <<<"$TL_REPLY" ||
		tl_fail "$2: no ok:true reply: '$TL_REPLY' (request ${1:0:300})"
}

# tl_rpc_err JSON CODE DESCRIPTION: the request must fail with CODE
# (trunklinectl exits 1; the reply's error.code is CODE).
tl_rpc_err() {
	tl_rpc "$1"
	local rc=$? code
	[ "$rc" = 1 ] || tl_fail "$3: trunklinectl exited $rc, expected 1: reply '$TL_REPLY' stderr '$TL_REPLY_ERR'"
	code=$(jq -r '.error.code // empty' 2>/dev/null <<<"$TL_REPLY")
	if [ -z "$code" ]; then
		# no JSON on stdout: accept the code in the error message
		grep -qw -- "$2" <<<"$TL_REPLY_ERR" ||
			tl_fail "$3: expected error $2: stdout '$TL_REPLY' stderr '$TL_REPLY_ERR'"
		return 0
	fi
	[ "$code" = "$2" ] || tl_fail "$3: expected error $2, got $code: $TL_REPLY"
	jq -e '.ok == false and (.error.message | type == "string")' >/dev/null <<<"$TL_REPLY" ||
		tl_fail "$3: malformed error reply: $TL_REPLY"
}

# tl_assert_json JSON JQ-EXPR DESCRIPTION: the expression must be true.
tl_assert_json() {
	jq -e "$2" >/dev/null 2>&1 <<<"$1" ||
		tl_fail "$3 (jq: $2) in: $(jq -c . <<<"$1" 2>/dev/null | cut -c1-1500 || echo "$1")"
}

# tl_offer_answer CALLID NSTREAMS: offer (caller 10.0.1.2:4000+2i) and
# answer (callee 10.0.2.2:5000+2i) NSTREAMS audio streams. Sets
# TL_A_PORTS / TL_B_PORTS (arrays of the relay's RTP ports, A-leg facing
# the caller, B-leg facing the callee) and TL_A_LIST / TL_B_LIST
# ("ip:port,ip:port" for rtpgen --dest and rtpsink --from).
tl_offer_answer() {
	local call=$1 n=$2 media_a media_b
	media_a=$(jq -nc --arg ip "$TL_CALLER_IP" --argjson n "$n" \
		'[range($n) | {type: "audio", address: $ip, rtp_port: (4000 + 2 * .)}]')
	media_b=$(jq -nc --arg ip "$TL_CALLEE_IP" --argjson n "$n" \
		'[range($n) | {type: "audio", address: $ip, rtp_port: (5000 + 2 * .)}]')
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"interfaces\":[\"caller\",\"callee\"],\"media\":$media_a}" "offer $call"
	tl_assert_json "$TL_REPLY" ".media | length == $n" "offer reply has $n media"
	tl_assert_json "$TL_REPLY" "all(.media[]; .address == \"$TL_RELAY_B_IP\" and .rtp_port % 2 == 0 and .rtcp_port == .rtp_port + 1)" \
		"offer reply: B-leg on $TL_RELAY_B_IP, even RTP port, RTCP = RTP + 1"
	mapfile -t TL_B_PORTS < <(jq -r '.media[].rtp_port' <<<"$TL_REPLY")
	tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"to_tag\":\"tt-$call\",\"media\":$media_b}" "answer $call"
	tl_assert_json "$TL_REPLY" ".media | length == $n" "answer reply has $n media"
	tl_assert_json "$TL_REPLY" "all(.media[]; .address == \"$TL_RELAY_A_IP\" and .rtp_port % 2 == 0 and .rtcp_port == .rtp_port + 1)" \
		"answer reply: A-leg on $TL_RELAY_A_IP, even RTP port, RTCP = RTP + 1"
	mapfile -t TL_A_PORTS < <(jq -r '.media[].rtp_port' <<<"$TL_REPLY")
	TL_A_LIST=$(printf "$TL_RELAY_A_IP:%s," "${TL_A_PORTS[@]}")
	TL_A_LIST=${TL_A_LIST%,}
	TL_B_LIST=$(printf "$TL_RELAY_B_IP:%s," "${TL_B_PORTS[@]}")
	TL_B_LIST=${TL_B_LIST%,}
	tl_log "call $call: caller <-> $TL_A_LIST | $TL_B_LIST <-> callee"
}

# ---- RTP tools ----

# tl_sink NAME NS RTPSINK-ARGS...: start rtpsink and wait until its ports
# are bound (its ready file), at most 15 s (start-up on a loaded machine).
tl_sink() {
	local name=$1 ns=$2 deadline
	shift 2
	rm -f "$TL_TMP/$name.ready"
	tl_spawn "$name" "$ns" "$TL_RTPSINK" --ready-file "$TL_TMP/$name.ready" "$@"
	deadline=$(tl_deadline 15)
	until [ -e "$TL_TMP/$name.ready" ]; do
		kill -0 "${TL_PID[$name]}" 2>/dev/null ||
			tl_fail "rtpsink $name exited before it was ready: $(cat "$TL_TMP/$name.err")"
		tl_past "$deadline" && tl_fail "rtpsink $name not ready after 15s"
		sleep 0.02
	done
}

# tl_gen NAME NS RTPGEN-ARGS...: start rtpgen in the background.
tl_gen() {
	local name=$1 ns=$2
	shift 2
	tl_spawn "$name" "$ns" "$TL_RTPGEN" "$@"
}

# tl_expect_ok NAME TIMEOUT WHAT: a spawned tool must exit 0 in time; on
# failure show its stderr and summary.
tl_expect_ok() {
	tl_reap "$1" "$2"
	[ "$TL_RC" = 0 ] && return 0
	{
		echo "--- $1 stderr:"
		cat "$TL_TMP/$1.err"
		echo "--- $1 summary:"
		jq -c 'del(.flows)' "$TL_TMP/$1.out" 2>/dev/null || cat "$TL_TMP/$1.out"
	} >&2
	tl_fail "$3 (${1} exited $TL_RC)"
}

# tl_summary NAME: the JSON summary line a tool printed.
tl_summary() {
	tail -n 1 "$TL_TMP/$1.out"
}

# tl_rcvbuf_errors NS: the UDP datagrams the kernel dropped in namespace NS
# because a socket's receive buffer was full (its reader stalled): what a
# test logs next to a packet count, to tell loss on a loaded machine from
# a relay that dropped or misrouted.
tl_rcvbuf_errors() {
	ip netns exec "$1" awk '/^Udp:/ && $6 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp
}

# ---- the nft backend (tests/integration/nft_*.sh) ----

# tl_nft_prepare: what the nft backend needs in the relay ns (IP forwarding,
# conntrack accounting), and full checksums on the end hosts' veths: with
# tx offload off every packet carries a real UDP checksum (CHECKSUM_NONE)
# and with rx offload off the receiver verifies it, so a wrong checksum
# after the kernel's rewrite is a lost packet, not a hidden bug.
tl_nft_prepare() {
	command -v nft >/dev/null 2>&1 || tl_skip "nft (nftables) not installed"
	command -v conntrack >/dev/null 2>&1 || tl_skip "conntrack not installed"
	ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_forward=1 ||
		tl_fail "ip_forward=1 in the relay ns"
	ip netns exec "$TL_NS_RELAY" sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null ||
		tl_skip "no conntrack in this kernel (net.netfilter.nf_conntrack_acct)"
	if command -v ethtool >/dev/null 2>&1; then
		local pair
		for pair in "$TL_NS_CALLER c0" "$TL_NS_CALLEE e0" "$TL_NS_ATTACKER a0"; do
			set -- $pair
			ip netns exec "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 ||
				tl_fail "ethtool -K $2 tx off rx off in $1"
		done
	else
		tl_log "ethtool missing: checksum offload stays on (checksums unverified)"
	fi
}

# tl_nft_table_exists: our table is in the relay ns.
tl_nft_table_exists() {
	ip netns exec "$TL_NS_RELAY" nft list table ip trunkline >/dev/null 2>&1
}

# tl_nft_flows: the number of dnat4 elements (kernel flows) now.
tl_nft_flows() {
	ip netns exec "$TL_NS_RELAY" nft -j list map ip trunkline dnat4 2>/dev/null |
		jq '[.nftables[] | select(.map) | .map.elem // [] | length] | add // 0'
}

# tl_ct_ours: conntrack entries carrying the relay's mark (0x544c4b31).
tl_ct_ours() {
	ip netns exec "$TL_NS_RELAY" conntrack -L -m 0x544c4b31 2>/dev/null | grep -c udp
}

# tl_udp_in: datagrams delivered to sockets in the relay ns so far.
tl_udp_in() {
	ip netns exec "$TL_NS_RELAY" awk '/^Udp:/ { n++; if (n == 2) print $2 }' /proc/net/snmp
}
