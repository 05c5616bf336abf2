#!/bin/bash
#
# relay_startup.sh: what an operator meets when starting relayd. A bad
# config is refused with file:line: field; a port range that needs more
# file descriptors than RLIMIT_NOFILE allows is refused with what to do;
# a backend this build lacks is refused by name; a good start reports the
# backend and why in hello and stats.
#
# run-also: build
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

tl_init
tl_netns_setup

# expect_refusal NAME CONFIG PATTERN [PRLIMIT-ARGS]: relayd must exit 1 and
# say PATTERN on stderr.
expect_refusal() {
	local name=$1 conf=$2 pattern=$3 rc
	shift 3
	# Without CAP_SYS_RESOURCE even root cannot raise the hard limit.
	ip netns exec "$TL_NS_RELAY" timeout 10 prlimit "$@" -- \
		setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource -- "$TL_RELAYD" -f "$conf" \
		>"$TL_TMP/$name.out" 2>"$TL_TMP/$name.err"
	rc=$?
	[ "$rc" = 1 ] || tl_fail "$name: relayd exited $rc, expected 1: $(cat "$TL_TMP/$name.err")"
	grep -qE -- "$pattern" "$TL_TMP/$name.err" ||
		tl_fail "$name: stderr lacks /$pattern/: $(cat "$TL_TMP/$name.err")"
	tl_log "$name: refused: $(grep -m1 -E -- "$pattern" "$TL_TMP/$name.err")"
}

printf '{\n  "ports": {\n    "min": 30000,\n    "max": "30099"\n  }\n}\n' >"$TL_TMP/bad.json"
expect_refusal config "$TL_TMP/bad.json" "bad.json:4: ports.max: expected a number"

tl_relayd_config "$TL_TMP/big.json" '.ports = {min: 20000, max: 39999}'
expect_refusal nofile "$TL_TMP/big.json" "needs [0-9]+ file descriptors .*RLIMIT_NOFILE allows 1000" --nofile=1000:1000

tl_relayd_config "$TL_TMP/nft.json" '.backend = "nft"'
expect_refusal backend "$TL_TMP/nft.json" "no usable backend for 'nft' .*net.ipv4.ip_forward is 0"

tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"hello","protocol":1}' "hello"
tl_assert_json "$TL_REPLY" '.protocol == 1 and .server == "trunkline-relayd" and .backend == "userspace" and (.backend_reason | test("kmod")) and (.features | index("strict-source"))' \
	"hello: protocol, server, backend and why"
tl_rpc_err '{"cmd":"hello","protocol":2}' invalid_value "hello with a protocol the relay does not speak"
tl_rpc_ok '{"cmd":"stats"}' "stats"
# 50 pairs in 30000-30099 on each of the two interfaces.
tl_assert_json "$TL_REPLY" '.backend == "userspace" and .ports_total == 100 and .ports_free == 100 and .sessions == 0' "stats at start"
tl_relayd_stop
tl_pass
