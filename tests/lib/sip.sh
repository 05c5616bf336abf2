# shellcheck shell=bash
#
# sip.sh: trunkline-controller + trunkline-relayd + SIPp on loopback, for
# the SIP tests. Source it from bash after nothing else; it sources
# netns.sh for the polling, spawning and teardown helpers (tl_*).
#
# Everything runs in the current namespace on 127.0.0.x: the controller
# listens on 127.0.0.1, callers are SIPp UACs bound to 127.0.0.2 (a known
# trunk), 127.0.0.3 (unknown) or 127.0.0.4 (digest account), gateways
# are SIPp UASs on 127.0.0.1; registered phones, emergency and ENUM
# destinations of the local-account tests live on 127.0.7.x (the same
# ports: another address). Ports come from this suite's ranges only:
# SIP 16000-16999 (ten per run, chosen from the PID), relay media
# 36000-36999 (forty per run). Processes are killed by PID only.
#
#   . "$(dirname "$0")/../lib/sip.sh"
#   sip_init
#   sip_relayd_start
#   sip_controller_start '.routes = [...]'    # jq filter on the default config
#   sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
#   sip_uac caller uac_call.xml 127.0.0.2
#   tl_expect_ok caller 30 "the call completes"
#   sip_cdr_wait 1
#   tl_pass

. "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

SIP_SCEN=$TL_ROOT/tests/sip/scenarios
TL_CONTROLLER=${TL_CONTROLLER:-$TL_BUILD_DIR/trunkline-controller}
SIP_CTL_PID=

sip_teardown() {
	local rc=$?
	if [ -n "$SIP_CTL_PID" ] && kill -0 "$SIP_CTL_PID" 2>/dev/null; then
		tl_kill_pid "$SIP_CTL_PID" 5
		wait "$SIP_CTL_PID" 2>/dev/null
	fi
	if [ -n "$TL_TMP" ] && tl_sanitizer_report "$TL_TMP/controller.log"; then
		echo "FAIL: $TL_NAME: sanitizer report in the controller log" >&2
		case $rc in 0 | 77) rc=1 ;; esac
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "$TL_TMP/controller.log" ]; then
		echo "--- last lines of the controller log:" >&2
		tail -n 40 "$TL_TMP/controller.log" >&2
	fi
	(exit "$rc")
	tl_teardown
}

# sip_init: tools, temp dir, ports, trap.
sip_init() {
	command -v sipp >/dev/null 2>&1 || tl_skip "sipp not installed (apt-get install sip-tester)"
	[ -x "$TL_CONTROLLER" ] || tl_fail "$TL_CONTROLLER is not built"
	tl_init
	trap sip_teardown EXIT
	sip_slot
	SIP_CTL_PORT=$SIP_BASE
	SIP_UAC_PORT=$((SIP_BASE + 1))
	SIP_GW1_PORT=$((SIP_BASE + 2))
	SIP_GW2_PORT=$((SIP_BASE + 3))
	SIP_GW3_PORT=$((SIP_BASE + 4))
	SIP_UAC2_PORT=$((SIP_BASE + 5))
	# endpoint media ports (SDP of the SIPp scripts, rtpgen/rtpsink)
	SIP_CALLER_RTP=$((SIP_MEDIA_MIN + 20))
	SIP_CALLEE_RTP=$((SIP_MEDIA_MIN + 30))
	TL_SOCK=$TL_TMP/relayd.sock
	SIP_CTL_SOCK=$TL_TMP/controller.sock
	SIP_CDR=$TL_TMP/cdr.jsonl
	tl_log "SIP ports $SIP_BASE-$((SIP_BASE + 9)), media $SIP_MEDIA_MIN-$((SIP_MEDIA_MIN + 39))"
}

# sip_ports_free LO HI: no socket of any kind on a port in LO..HI (not
# even in TIME_WAIT: a TCP connection of an earlier run on the listen
# port blocks the bind).
sip_ports_free() {
	[ -z "$(ss -Htuan "( sport >= :$1 and sport <= :$2 )" 2>/dev/null)" ]
}

# sip_slot: this test's ports, from one of 25 slots locked with flock(1)
# in $TL_SLOTS (default /tmp/trunkline-test-slots) for the test's life:
# tests running at once (tests/run.sh TL_JOBS, or another checkout's
# suite on the same host) never share ports. Slot S owns media ports
# 36000+40S..+39 (relayd's twenty, then the endpoints') and SIP slots S,
# S+25, S+50, S+75 of ten ports each from 16000: the first without a
# socket is taken. The lock fd is inherited by the test's daemons, which
# the trap ends. Sets SIP_BASE, SIP_MEDIA_MIN, SIP_MEDIA_MAX.
sip_slot() {
	local dir=${TL_SLOTS:-/tmp/trunkline-test-slots} pass i j s fd
	mkdir -p "$dir" || tl_fail "cannot create $dir"
	for ((pass = 0; pass < 60; pass++)); do
		for ((i = 0; i < 25; i++)); do
			s=$((($$ + i) % 25))
			exec {fd}>"$dir/slot$s.lock" || continue
			if flock -n "$fd" && sip_ports_free $((36000 + s * 40)) $((36000 + s * 40 + 39)); then
				for ((j = 0; j < 4; j++)); do
					SIP_BASE=$((16000 + (s + 25 * j) * 10))
					if sip_ports_free "$SIP_BASE" $((SIP_BASE + 9)); then
						SIP_SLOT_FD=$fd
						SIP_MEDIA_MIN=$((36000 + s * 40))
						SIP_MEDIA_MAX=$((SIP_MEDIA_MIN + 19))
						return 0
					fi
				done
			fi
			exec {fd}>&-
		done
		sleep 1
	done
	tl_fail "no free port slot in $dir after 60 s (25 tests running?)"
}

# sip_web_init: the start of a test with an aiortc browser
# (tests/lib/webrtc_browser.py): skips without aiortc, sip_init, WEB (the
# controller's web listener to configure), relayd started, skips if its
# hello lacks WebRTC legs. Sets PY.
sip_web_init() {
	PY=/usr/bin/python3
	$PY -c 'import aiortc, websockets' 2>/dev/null || tl_skip "python3-aiortc or python3-websockets not installed"
	sip_init
	WEB=127.0.0.1:$((SIP_BASE + 8))
	sip_relayd_start
	tl_rpc_ok '{"cmd":"hello"}' "relay hello"
	jq -e '.features | index("webrtc") != null' >/dev/null <<<"$TL_REPLY" ||
		tl_skip "relayd's hello features lack \"webrtc\""
	sip_relay_webrtc_ready
}

# sip_relay_webrtc_ready: the relay started its WebRTC library (OpenSSL,
# libsrtp, a new DTLS certificate) at its own start, before any request.
# Made inside the first WebRTC offer instead (the relay's old behaviour,
# now webrtc.start "first_leg"), that offer took 0.5 s here for the normal
# build and 1.2 s for the sanitizer one on a loaded machine, past the
# controller's relay_timeout (1 s), and the first browser call failed as
# "relay r1: no reply" (fork_web_phones, web_call).
sip_relay_webrtc_ready() {
	tl_rpc_ok '{"cmd":"stats"}' "relay stats"
	tl_assert_json "$TL_REPLY" '.webrtc.state == "ready" and .webrtc.legs == 0' \
		"the relay's WebRTC library started at its start, before any leg"
}

# sip_relayd_start [JQ-FILTER]: relayd on 127.0.0.1, userspace backend.
sip_relayd_start() {
	local filter=${1:-.} conf=$TL_TMP/relayd.json
	# The test's own journal: a restarted relayd finds its sessions there,
	# and no other test's.
	mkdir -p "$TL_TMP/journal"
	jq -n --arg sock "$TL_SOCK" --argjson min "$SIP_MEDIA_MIN" --argjson max "$SIP_MEDIA_MAX" \
		--arg journal "$TL_TMP/journal" '{
		control: {socket: $sock, mode: "0660"},
		interfaces: [{name: "lo", bind: "127.0.0.1", advertise: "127.0.0.1"}],
		ports: {min: $min, max: $max},
		timeouts: {setup: 60, inactivity: 30, hold: 3600, max_duration: 14400},
		backend: "userspace",
		journal: $journal,
		log_level: "debug"
	}' | jq "$filter" >"$conf" || tl_fail "cannot write $conf"
	"$TL_RELAYD" -f "$conf" -d >"$TL_TMP/relayd.out" 2>"$TL_TMP/relayd.log" &
	TL_RELAYD_PID=$!
	tl_wait_for 30 "relayd to answer ping" tl_ping
	tl_log "relayd up (pid $TL_RELAYD_PID)"
}

# sip_controller_config [JQ-FILTER]: write $TL_TMP/controller.json: trunk
# "pbx" = 127.0.0.2, gateways gw1/gw2 (SIPp UASs), carrier "c1" with both
# (gw1 first), LCR table "lcr" with prefix 44 -> c1, one route to it.
sip_controller_config() {
	local filter=${1:-.}
	jq -n --arg sock "$SIP_CTL_SOCK" --arg rsock "$TL_SOCK" --arg cdr "$SIP_CDR" \
		--arg listen "127.0.0.1:$SIP_CTL_PORT" \
		--argjson gw1 "$SIP_GW1_PORT" --argjson gw2 "$SIP_GW2_PORT" '{
		sip: {listen: $listen, user_agent: "trunkline-test"},
		control: {socket: $sock},
		relays: [{name: "r1", socket: $rsock}],
		cdr: $cdr,
		log_level: "debug",
		invite_timeout: 2,
		trunks: [{name: "pbx", sources: ["127.0.0.2"]}],
		gateways: [
			{name: "gw1", host: "127.0.0.1", port: $gw1},
			{name: "gw2", host: "127.0.0.1", port: $gw2}
		],
		carriers: [{name: "c1", gateways: [
			{gateway: "gw1", priority: 1}, {gateway: "gw2", priority: 2}]}],
		lcr: [{name: "lcr", prefixes: [{prefix: "44", carriers: ["c1"]}]}],
		routes: [{name: "all", lcr: "lcr"}]
	}' | jq "$filter" >"$TL_TMP/controller.json" || tl_fail "cannot write controller.json (filter '$filter')"
}

sip_ctl_ping() {
	timeout 5 "$TL_CTL" -s "$SIP_CTL_SOCK" --json ping >/dev/null 2>&1
}

sip_ctl_ready() {
	grep -q 'trunkline-controller .* ready' "$TL_TMP/controller.log"
}

# sip_controller_start [JQ-FILTER]: write the config, check it with -n,
# start, wait until ready and connected to the relay.
sip_controller_start() {
	sip_controller_config "${1:-.}"
	"$TL_CONTROLLER" -n -f "$TL_TMP/controller.json" >"$TL_TMP/controller-check.log" 2>&1 ||
		tl_fail "controller -n rejects the config: $(cat "$TL_TMP/controller-check.log")"
	"$TL_CONTROLLER" -f "$TL_TMP/controller.json" >"$TL_TMP/controller.out" 2>"$TL_TMP/controller.log" &
	SIP_CTL_PID=$!
	TL_PIDS+=("$SIP_CTL_PID")
	tl_wait_for 30 "the controller to be ready" sip_ctl_ready
	tl_wait_for 30 "the controller to answer ping" sip_ctl_ping
	tl_wait_for 30 "the controller to connect to the relay" \
		grep -q 'relay r1 connected' "$TL_TMP/controller.log"
	tl_log "controller up (pid $SIP_CTL_PID, SIP 127.0.0.1:$SIP_CTL_PORT)"
}

# sip_controller_stop: SIGTERM; exit 0 within 10 s, no sanitizer report.
sip_controller_stop() {
	local pid=$SIP_CTL_PID rc
	[ -n "$pid" ] || return 0
	kill -TERM "$pid"
	tl_try_for 10 bash -c "! kill -0 $pid 2>/dev/null" ||
		tl_fail "controller did not exit within 10s of SIGTERM"
	wait "$pid"
	rc=$?
	SIP_CTL_PID=
	tl_sanitizer_report "$TL_TMP/controller.log" &&
		tl_fail "sanitizer report in the controller log"
	[ "$rc" = 0 ] || tl_fail "controller exited with status $rc after SIGTERM"
	tl_log "controller stopped cleanly"
}

# sip_ctl ARGS...: trunklinectl on the controller's socket.
sip_ctl() {
	timeout 10 "$TL_CTL" -s "$SIP_CTL_SOCK" "$@"
}

# sip_uas NAME SCENARIO PORT [sipp args...]: a gateway (SIPp UAS) on
# 127.0.0.1:PORT, one call, answering with media port SIP_CALLEE_RTP.
sip_uas() {
	local name=$1 scen=$2 port=$3
	shift 3
	tl_spawn "$name" - sipp -sf "$SIP_SCEN/$scen" -i 127.0.0.1 -p "$port" \
		-m 1 -nostdin -timeout 60s -set mport "$SIP_CALLEE_RTP" \
		-trace_err -error_file "$TL_TMP/$name.errors" \
		-trace_msg -message_file "$TL_TMP/$name.msgs" "$@"
	tl_wait_for 15 "SIPp $name to listen on $port" sip_listening "$port"
}

# sip_listening PORT: something listens there (UDP, or TCP for SIPp -t t1).
sip_listening() {
	ss -ulnH "sport = :$1" | grep -q . || ss -tlnH "sport = :$1" | grep -q .
}

# sip_auth_uri SERVICE SIPP-ARGS...: "-auth_uri URI" when the args hold
# credentials (-au). SIPp's digest answer says uri=remote_ip:port by
# default, not the request-URI its scenarios send, and the controller
# requires the request-URI (a replayed answer must not fit another
# destination); real phones answer with the request-URI.
sip_auth_uri() {
	local svc=$1
	shift
	case " $* " in
	*" -au "*) echo "-auth_uri $svc@127.0.0.1:$SIP_CTL_PORT" ;;
	esac
}

# sip_uac NAME SCENARIO SRC-IP [sipp args...]: a caller (SIPp UAC) from
# SRC-IP to the controller, one call to service 441234567.
sip_uac() {
	local name=$1 scen=$2 ip=$3
	shift 3
	[ -f "$scen" ] || scen=$SIP_SCEN/$scen
	# shellcheck disable=SC2046
	tl_spawn "$name" - sipp -sf "$scen" -i "$ip" -p "$SIP_UAC_PORT" \
		-m 1 -nostdin -timeout 60s -s "${SIP_SERVICE:-441234567}" -set mport "$SIP_CALLER_RTP" \
		-trace_err -error_file "$TL_TMP/$name.errors" \
		-trace_msg -message_file "$TL_TMP/$name.msgs" \
		$(sip_auth_uri "${SIP_SERVICE:-441234567}" "$@") "$@" "127.0.0.1:$SIP_CTL_PORT"
}

# sip_expect NAME TIMEOUT WHAT: a SIPp must exit 0 in time.
sip_expect() {
	tl_reap "$1" "$2"
	[ "$TL_RC" = 0 ] && return 0
	{
		echo "--- $1 stderr/stdout:"
		tail -n 20 "$TL_TMP/$1.err" "$TL_TMP/$1.out"
		echo "--- $1 errors:"
		tail -n 40 "$TL_TMP/$1.errors" 2>/dev/null
		echo "--- $1 messages:"
		tail -n 80 "$TL_TMP/$1.msgs" 2>/dev/null
	} >&2
	tl_fail "$3 (sipp $1 exited $TL_RC)"
}

sip_cdr_lines() {
	[ -f "$SIP_CDR" ] && [ "$(wc -l <"$SIP_CDR")" -ge "$1" ]
}

# sip_cdr_wait N: wait for N CDR lines; SIP_CDR_LAST is the last one.
sip_cdr_wait() {
	tl_wait_for 10 "$1 CDR line(s)" sip_cdr_lines "$1"
	SIP_CDR_LAST=$(tail -n 1 "$SIP_CDR")
	tl_log "CDR: $SIP_CDR_LAST"
}

# sip_no_calls: the controller and the relay hold no call any more.
sip_no_calls() {
	local s r
	s=$(sip_ctl --json status) || return 1
	r=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json stats) || return 1
	[ "$(jq .calls <<<"$s")" = 0 ] && [ "$(jq .sessions <<<"$r")" = 0 ]
}

# sip_blackhole NAME PORT: a UDP socket on 127.0.0.1:PORT that reads and
# never answers (a silent gateway).
sip_blackhole() {
	tl_spawn "$1" - python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1)
end = time.time() + 60
n = 0
while time.time() < end:
    try:
        s.recv(65536); n += 1
        print(n, flush=True)
    except socket.timeout:
        pass
' "$2"
	tl_wait_for 15 "blackhole $1 on $2" sip_listening "$2"
}

# sip_session_ports CALLID: the relay's A-leg and B-leg RTP ports of a
# call (SIP_A_PORT faces the caller, SIP_B_PORT the callee).
sip_session_ports() {
	local q
	q=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json query "$1") || return 1
	SIP_A_PORT=$(jq -r '.streams[0].legs[] | select(.side == "A") | .local | split(":")[1]' <<<"$q")
	SIP_B_PORT=$(jq -r '.streams[0].legs[] | select(.side == "B") | .local | split(":")[1]' <<<"$q")
	[ -n "$SIP_A_PORT" ] && [ -n "$SIP_B_PORT" ]
}

# sip_answered_call: the relay has one answered session; SIP_CALL_ID.
sip_answered_call() {
	local l
	l=$(timeout 5 "$TL_CTL" -s "$TL_SOCK" --json list) || return 1
	SIP_CALL_ID=$(jq -r '[.calls[] | select(.state == "answered")][0].call_id // empty' <<<"$l")
	[ -n "$SIP_CALL_ID" ]
}

# ---- issue 6 (health, registrations, identity, protection): these tests
# put their callers, gateways and registrars on 127.0.6.x (the registrar/
# ENUM half uses 127.0.7.x), on this run's ports.
SIP_NET6=127.0.6

# sip_udp ARGS...: tests/lib/sipudp.py (OPTIONS gateway, sink, sender).
sip_udp() {
	python3 "$TL_ROOT/tests/lib/sipudp.py" "$@"
}

# sip_uas_at NAME SCENARIO IP PORT [sipp args...]: a SIPp UAS (a registrar
# or a gateway) on another address; one call unless -m is given. Pass
# "-set mport $SIP_CALLEE_RTP" for scenarios with media.
sip_uas_at() {
	local name=$1 scen=$2 ip=$3 port=$4
	shift 4
	tl_spawn "$name" - sipp -sf "$SIP_SCEN/$scen" -i "$ip" -p "$port" \
		-m 1 -nostdin -timeout 60s \
		-trace_err -error_file "$TL_TMP/$name.errors" \
		-trace_msg -message_file "$TL_TMP/$name.msgs" "$@"
	tl_wait_for 15 "SIPp $name to listen on $ip:$port" sip_listening "$port"
}

# sip_gw_mode FILE MODE: what a sipudp.py gateway answers OPTIONS with
# ("silent" or a code), replaced in one rename so the responder never
# reads a truncated file.
sip_gw_mode() {
	printf '%s\n' "$2" >"$1.new" && mv -f "$1.new" "$1"
}

# sip_trunks JQ-EXPR: the controller's `trunks` reply satisfies it.
sip_trunks() {
	local r
	r=$(sip_ctl --json trunks) || return 1
	jq -e "$1" <<<"$r" >/dev/null
}

# ---- local accounts (registrar, issue 6): phones on 127.0.7.x ----

# sip_register NAME USER PASSWORD IP CONTACT-PORT EXPIRES: a phone at IP
# registers USER with contact IP:CONTACT-PORT (401 challenge, then 200),
# from that port: calls go back to the REGISTER's flow (issue 12).
sip_register() {
	local name=$1 user=$2 pass=$3 ip=$4 cport=$5 exp=$6
	tl_spawn "$name" - sipp -sf "$SIP_SCEN/uac_register.xml" -i "$ip" -p "$cport" -m 1 -nostdin \
		-timeout 20s -s "$user" -au "$user" -ap "$pass" -set cport "$cport" -set exp "$exp" \
		-trace_err -error_file "$TL_TMP/$name.errors" -trace_msg -message_file "$TL_TMP/$name.msgs" \
		"127.0.0.1:$SIP_CTL_PORT"
	sip_expect "$name" 20 "REGISTER $user (expires $exp): 401 then 200"
}

# sip_phone NAME SCENARIO IP PORT: a registered phone (SIPp UAS) at IP:PORT.
sip_phone() {
	local name=$1 scen=$2 ip=$3 port=$4
	[ -f "$scen" ] || scen=$SIP_SCEN/$scen
	tl_spawn "$name" - sipp -sf "$scen" -i "$ip" -p "$port" -m 1 -nostdin \
		-timeout 30s -set mport "$SIP_CALLEE_RTP" -trace_err -error_file "$TL_TMP/$name.errors" \
		-trace_msg -message_file "$TL_TMP/$name.msgs"
	tl_wait_for 15 "phone $name on $ip:$port" sip_listening "$port"
}

# sip_elsewhere NAME [METHOD]: the CANCEL (or METHOD: a late 2xx's BYE)
# that NAME, a fork that lost, received carries Reason: SIP;cause=200
# "Call completed elsewhere".
sip_elsewhere() {
	awk -v m="^${2:-CANCEL} " '$0 ~ m {c=1} c && /^Reason: SIP;cause=200;text="Call completed elsewhere"/{f=1} /^$/{c=0} END{exit !f}' \
		"$TL_TMP/$1.msgs"
}

# sip_held SCENARIO: a copy of a caller scenario (uac_call.xml,
# uac_lateoffer.xml) that stays on the line until sip_hangup, not for a
# fixed -d: a test that checks media during the call must not race the
# caller's BYE (under load fork_web_phones' 4 s ran out before its RTP
# check did: 1 of 40 packets). Sets SIP_HELD to the copy, for sip_uac.
sip_held() {
	SIP_HELD=$TL_TMP/held_$1
	sed 's|<pause/>|<recv request="INFO" timeout="30000"/>|' "$SIP_SCEN/$1" >"$SIP_HELD" ||
		tl_fail "cannot write $SIP_HELD"
	grep -q '<recv request="INFO"' "$SIP_HELD" || tl_fail "$1 has no <pause/> to hold the call at"
}

# sip_hangup NAME: the held caller NAME (sip_held) hangs up now; its BYE
# follows. The signal is an INFO from the test straight to SIPp's port,
# matched by the call's Call-ID: the controller never sees it. After the
# caller's ACK only (an INFO before it would be an unexpected message).
sip_hangup() {
	local name=$1 cid
	tl_wait_for 30 "$name's ACK" grep -q '^ACK ' "$TL_TMP/$name.msgs"
	# its own INVITE's: the trace may open with a stray retransmission
	# for the previous caller on this port
	cid=$(awk '/^INVITE / {f = 1} f && /^Call-ID:/ {sub(/\r$/, ""); print $2; exit}' "$TL_TMP/$name.msgs")
	[ -n "$cid" ] || tl_fail "no INVITE with a Call-ID in $name's messages"
	python3 "$TL_ROOT/tests/lib/sipraw.py" 127.0.0.1 127.0.0.2 "$SIP_UAC_PORT" --method INFO \
		--call-id "$cid" --from-tag hangup --cseq 9 --wait 0 >/dev/null ||
		tl_fail "could not tell $name to hang up"
}

# sip_msg_time NAME REGEX: when SIPp NAME sent or received its first
# message whose first line matches REGEX (awk), in seconds since the epoch
# from its -trace_msg file; fails if there is none. For tests that check
# an order of events rather than a duration a loaded machine stretches.
sip_msg_time() {
	local t
	t=$(awk -v re="$2" '/^-+ [0-9-]+ [0-9:.]+$/ {t = $2 " " $3; first = 1; next}
		first && NF && !/^[A-Z]+ message (sent|received)/ {first = 0; if ($0 ~ re) {print t; exit}}' \
		"$TL_TMP/$1.msgs")
	[ -n "$t" ] || tl_fail "$1 has no message matching '$2'"
	date -d "$t" +%s.%6N
}

# sip_media_both IP WHAT: 40 RTP packets each way between the caller
# (127.0.0.2) and the phone at IP through the relay's A and B ports of
# the answered call (sip_session_ports), each from the relay's port.
sip_media_both() {
	local ip=$1 what=$2
	tl_sink rxp - -b "$ip:$SIP_CALLEE_RTP" -f "127.0.0.1:$SIP_B_PORT" -e 40 -t 10
	tl_sink rxa - -b "127.0.0.2:$SIP_CALLER_RTP" -f "127.0.0.1:$SIP_A_PORT" -e 40 -t 10
	tl_gen gena - -d "127.0.0.1:$SIP_A_PORT" -b "127.0.0.2:$SIP_CALLER_RTP" -c 40 -r 100
	tl_gen genp - -d "127.0.0.1:$SIP_B_PORT" -b "$ip:$SIP_CALLEE_RTP" -c 40 -r 100
	tl_expect_ok gena 10 "rtpgen caller"
	tl_expect_ok genp 10 "rtpgen $what"
	tl_expect_ok rxp 15 "caller -> $what RTP through the relay"
	tl_expect_ok rxa 15 "$what -> caller RTP through the relay"
}

# sip_fork_race UAS UAC WHAT: phones .2 and .3 of $P (an account's three
# registered contacts) answer at once with scenario UAS, .4 rings; the
# caller (scenario UAC) gets the first 2xx, the late one is hung up with
# BYE (completed elsewhere), .4 gets a CANCEL (completed elsewhere), and
# the CDR has two 200s and a 487. Sets SIP_FORK_WINNER and
# SIP_FORK_LOSER (ph2b or ph3b) for the caller's own checks.
sip_fork_race() {
	local uas=$1 uac=$2 what=$3 contact
	sip_phone ph2b "$uas" "$P.2" "$SIP_GW3_PORT"
	sip_phone ph3b "$uas" "$P.3" "$SIP_GW3_PORT"
	sip_phone ph4b uas_ring.xml "$P.4" "$SIP_GW3_PORT"
	SIP_SERVICE=alice sip_uac caller2 "$uac" 127.0.0.2 -d 2000
	sip_expect caller2 30 "$what with two answers"
	sip_expect ph2b 15 "phone .2 answers (and wins or is hung up)"
	sip_expect ph3b 15 "phone .3 answers (and wins or is hung up)"
	sip_expect ph4b 15 "phone .4 rings and is cancelled"
	sip_elsewhere ph4b || tl_fail "phone .4's CANCEL has no Reason"
	sip_cdr_wait 2
	contact=$(jq -r '.contact' <<<"$SIP_CDR_LAST")
	case $contact in
	"sip:alice@$P.2:$SIP_GW3_PORT") SIP_FORK_LOSER=ph3b SIP_FORK_WINNER=ph2b ;;
	"sip:alice@$P.3:$SIP_GW3_PORT") SIP_FORK_LOSER=ph2b SIP_FORK_WINNER=ph3b ;;
	*) tl_fail "CDR contact '$contact' is neither .2 nor .3" ;;
	esac
	tl_log "winner $contact; $SIP_FORK_LOSER answered too late"
	sip_elsewhere "$SIP_FORK_LOSER" BYE ||
		tl_fail "the late 2xx was not hung up with BYE (Reason: completed elsewhere)"
	tl_assert_json "$SIP_CDR_LAST" '.final_code == 200 and .forks == 3 and ([.attempts[].code] | sort == [200, 200, 487])' \
		"CDR: two 200s (one late), one 487"
}

# sip_uac_from NAME SCENARIO SRC-IP SERVICE [sipp args...]: like sip_uac,
# to SERVICE.
sip_uac_from() {
	local name=$1 scen=$2 ip=$3 svc=$4
	shift 4
	[ -f "$scen" ] || scen=$SIP_SCEN/$scen
	# shellcheck disable=SC2046
	tl_spawn "$name" - sipp -sf "$scen" -i "$ip" -p "$SIP_UAC_PORT" -m 1 -nostdin \
		-timeout 30s -s "$svc" -set mport "$SIP_CALLER_RTP" \
		-trace_err -error_file "$TL_TMP/$name.errors" -trace_msg -message_file "$TL_TMP/$name.msgs" \
		$(sip_auth_uri "$svc" "$@") "$@" "127.0.0.1:$SIP_CTL_PORT"
}

# ---- IPv6 and NAT'd phones (the *6.sh tests, nat_phone) ----

# sip_scen6 SCENARIO...: copies in $TL_TMP whose SDP names [$mip] (-set
# mip ADDR): SIPp writes [local_ip] of an IPv6 address in brackets, which
# is no SDP. Use them as $TL_TMP/SCENARIO.
sip_scen6() {
	local f
	for f in "$@"; do
		sed -e 's/<Global variables="mport"\/>/<Global variables="mport,mip"\/>/' \
			-e 's/^\( *[oc]=.*IN IP\[[a-z_]*\]\) \[local_ip\]$/\1 [$mip]/' \
			"$SIP_SCEN/$f" >"$TL_TMP/$f" || tl_fail "cannot write $TL_TMP/$f"
		grep -q '\[\$mip\]' "$TL_TMP/$f" || tl_fail "$f: no SDP address replaced"
	done
}

# sip_route6 GW-PORT: a controller config filter (for sip_controller_start)
# with an IPv6 trunk pbx6 (::1) routed to an IPv6 gateway gw6 ([::1]:
# GW-PORT) through carrier c6, both on the relay interface lo6; the other
# calls keep the default route.
sip_route6() {
	echo ".relays[0].interfaces = [\"lo\", \"lo\"]
	| .trunks += [{name: \"pbx6\", sources: [\"::1/128\"], relay_interface: \"lo6\"}]
	| .gateways += [{name: \"gw6\", host: \"[::1]\", port: $1, relay_interface: \"lo6\"}]
	| .carriers += [{name: \"c6\", gateways: [{gateway: \"gw6\"}]}]
	| .routes = [{name: \"v6\", trunk: \"pbx6\", carriers: [\"c6\"]}, {name: \"all\", lcr: \"lcr\"}]"
}

# sip_conf_bad NAME JQ-FILTER REGEX: the controller's config with FILTER
# applied must be refused with "NAME.json:LINE: " and REGEX (the field).
sip_conf_bad() {
	jq "$2" "$TL_TMP/controller.json" >"$TL_TMP/$1.json" || tl_fail "jq $2"
	"$TL_CONTROLLER" -n -f "$TL_TMP/$1.json" >"$TL_TMP/$1.log" 2>&1 && tl_fail "$1: accepted"
	grep -qE "$1\.json:[0-9]+: $3" "$TL_TMP/$1.log" || tl_fail "$1: no file:line and field: $(cat "$TL_TMP/$1.log")"
}

# sip_phone_registered CONTACT SOURCE-PREFIX: the udp_phone.py phone
# (spawned as "phone") registered, and alice's location holds CONTACT,
# natted, seen from a source starting with SOURCE-PREFIX.
sip_phone_registered() {
	local loc
	tl_wait_for 20 "the phone to register" grep -q REGISTERED "$TL_TMP/phone.out"
	loc=$(sip_ctl --json locations) || tl_fail "locations"
	tl_assert_json "$loc" "[.locations[] | select(.account == \"alice\" and .contact == \"$1\" and (.source | startswith(\"$2\")) and .natted == true)] | length == 1" \
		"the location holds the private contact $1, the source $2..., natted"
}

# sip_phone_options N: the phone has answered at least N keepalives.
sip_phone_options() {
	[ "$(grep -c '^OPTIONS' "$TL_TMP/phone.out")" -ge "$1" ]
}
