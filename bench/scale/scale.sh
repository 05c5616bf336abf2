#!/bin/bash
#
# scale.sh: concurrent streams in ONE relayd whose RLIMIT_NOFILE (20,000,
# not raisable: CAP_SYS_RESOURCE dropped) is far below the four sockets
# per stream a userspace relay needs. The nft backend carries each stream
# once it is learned, and relayd closes its sockets (relayd/legsock.c).
#
#   bench/scale/scale.sh [STREAMS [WAVE [SAMPLE]]]    (default 100000 3000 1000)
#
# One relay address per side holds at most ~30,000 port pairs, so the
# relay has 4 addresses per side (8 interfaces) and call i uses pair
# i % 4. bench/scale/scale.py offers in waves of WAVE calls (each wave
# needs 4 sockets per stream until it is learned), learns each leg with
# one packet, waits until relayd holds no socket, then measures RSS and
# fds and checks media per packet on SAMPLE streams. The relay range is
# reserved in the relay namespace (net.ipv4.ip_local_reserved_ports), as
# the systemd unit does.
#
# Output: one JSON line on stdout (and in $SCALE_OUT if set); exit 0 when
# every check passed. Needs root (namespaces, nft).
set -u -o pipefail
TL_NAME=scale
# shellcheck source=../../tests/lib/netns.sh
. "$(dirname "$0")/../../tests/lib/netns.sh"

STREAMS=${1:-100000}
WAVE=${2:-3000}
SAMPLE=${3:-1000}
NOFILE=${SCALE_NOFILE:-20000}
PMIN=2000 PMAX=61999
K=4

tl_init
tl_netns_setup
tl_nft_prepare
IPS_A="" IPS_B=""
for i in $(seq 1 $K); do
	ip -n "$TL_NS_RELAY" addr add "10.0.1.$((10 + i))/24" dev r1 || tl_fail "address 10.0.1.$((10 + i))"
	ip -n "$TL_NS_RELAY" addr add "10.0.2.$((10 + i))/24" dev r2 || tl_fail "address 10.0.2.$((10 + i))"
	IPS_A+="10.0.1.$((10 + i)),"
	IPS_B+="10.0.2.$((10 + i)),"
done
IPS_A=${IPS_A%,} IPS_B=${IPS_B%,}
ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv4.ip_local_reserved_ports="$PMIN-$PMAX" ||
	tl_fail "reserving $PMIN-$PMAX in the relay ns"

tl_relayd_config "$TL_TMP/relayd.json" "
	.backend = \"nft\" | .log_level = \"info\" | (if env.SCALE_NO_JOURNAL then .journal = null else . end) |
	.ports = {min: $PMIN, max: $PMAX} |
	.timeouts = {setup: 3600, inactivity: 3600, hold: 3600, max_duration: 14400} |
	.interfaces = ([range($K)] | map({name: \"c\(.)\", bind: \"10.0.1.\(11 + .)\"}) +
		([range($K)] | map({name: \"e\(.)\", bind: \"10.0.2.\(11 + .)\"})))"
TL_SOCK=$(jq -r .control.socket "$TL_TMP/relayd.json")
# The limit as an unprivileged relay meets it: no CAP_SYS_RESOURCE.
ip netns exec "$TL_NS_RELAY" prlimit --nofile="$NOFILE:$NOFILE" -- \
	setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource -- \
	"$TL_RELAYD" -f "$TL_TMP/relayd.json" -d >"$TL_TMP/relayd.out" 2>"$TL_TMP/relayd.log" &
TL_RELAYD_PID=$!
tl_wait_for 10 "relayd to answer ping" tl_ping
# prlimit and setpriv exec: the pid is relayd's.
[ "$(readlink "/proc/$TL_RELAYD_PID/exe")" = "$(readlink -f "$TL_RELAYD")" ] ||
	tl_fail "pid $TL_RELAYD_PID is not relayd"
tl_log "relayd up (pid $TL_RELAYD_PID, RLIMIT_NOFILE $NOFILE, $((2 * K)) interfaces)"

python3 "$(dirname "$0")/scale.py" --sock "$TL_SOCK" --pid "$TL_RELAYD_PID" \
	--streams "$STREAMS" --wave "$WAVE" --sample "$SAMPLE" \
	--ips-a "$IPS_A" --ips-b "$IPS_B" --ns-caller "$TL_NS_CALLER" \
	--ns-callee "$TL_NS_CALLEE" --caller "$TL_CALLER_IP:7000" \
	--callee "$TL_CALLEE_IP:9000" >"$TL_TMP/scale.json" 2>"$TL_TMP/scale.err"
RC=$?
[ -s "$TL_TMP/scale.json" ] || tl_fail "scale.py printed nothing (exit $RC): $(tail -5 "$TL_TMP/scale.err")"
cat "$TL_TMP/scale.json"
[ -n "${SCALE_OUT:-}" ] && cp "$TL_TMP/scale.json" "$SCALE_OUT"
[ "$RC" = 0 ] || tl_fail "scale check failed: $(cat "$TL_TMP/scale.json")"
tl_relayd_stop
tl_pass
