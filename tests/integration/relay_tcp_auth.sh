#!/bin/bash
#
# relay_tcp_auth.sh: the optional TCP control socket requires the shared
# secret. Commands before auth are refused with unauthorized, a wrong
# secret is refused and the connection closed, the right one lets every
# command through; the Unix socket keeps working without auth.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

SECRET=correct-horse-battery-staple
TCP=$TL_RELAY_A_IP:2224
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".control.tcp = {listen: \"$TCP\", secret: \"$SECRET\"}"
tl_relayd_start "$TL_TMP/relayd.json"

relay_ctl() {
	ip netns exec "$TL_NS_RELAY" timeout 10 "$TL_CTL" "$@"
}

# A request without auth, by hand: unauthorized, and the daemon goes on.
OUT=$(ip netns exec "$TL_NS_RELAY" timeout 5 bash -c \
	"exec 3<>/dev/tcp/${TCP%:*}/${TCP#*:}; echo '{\"id\":1,\"cmd\":\"stats\"}' >&3; head -n 1 <&3")
tl_assert_json "$OUT" '.id == 1 and .ok == false and .error.code == "unauthorized"' "stats before auth"

relay_ctl -s "$TCP" -k wrong-secret-wrong-secret --json ping >"$TL_TMP/wrong.out" 2>"$TL_TMP/wrong.err"
RC=$?
[ "$RC" = 1 ] || tl_fail "wrong secret: trunklinectl exited $RC, expected 1 ($(cat "$TL_TMP/wrong.err"))"
grep -q unauthorized "$TL_TMP/wrong.err" || tl_fail "wrong secret: no unauthorized error: $(cat "$TL_TMP/wrong.err")"

relay_ctl -s "$TCP" --json ping >/dev/null 2>"$TL_TMP/nosecret.err"
RC=$?
[ "$RC" = 2 ] || tl_fail "no secret: trunklinectl exited $RC, expected 2"

OUT=$(relay_ctl -s "$TCP" -k "$SECRET" --json stats) || tl_fail "right secret: stats failed"
tl_assert_json "$OUT" '.ok == true and .backend == "userspace"' "stats over TCP with the secret"
OUT=$(TRUNKLINE_SECRET=$SECRET relay_ctl -s "$TCP" --json ping) || tl_fail "secret from TRUNKLINE_SECRET: ping failed"
tl_assert_json "$OUT" '.pong == true' "ping over TCP"

tl_rpc_ok '{"cmd":"ping"}' "the Unix socket needs no auth"
tl_relayd_stop
tl_pass
