#!/bin/bash
#
# relay_tcp_auth.sh: the optional TCP control socket requires the shared
# secret. Commands before auth are refused with unauthorized, a wrong
# secret is refused and the connection closed, the right one lets every
# command through; the Unix socket keeps working without auth.
# trunklinectl takes the secret from a file (-K, TRUNKLINE_SECRET_FILE)
# or the environment, and a malformed -s address is a clean error.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

SECRET=correct-horse-battery-staple
TCP=$TL_RELAY_A_IP:2224
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".control.tcp = {listen: \"$TCP\", secret: \"$SECRET\"}"
chmod 644 "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"
grep -q "holds the control TCP secret but its mode is 0644" "$TL_TMP/relayd.log" ||
	tl_fail "no warning about a secret in a world-readable config"

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

# The secret from a file (kept out of argv, which /proc shows to all) or
# from the environment; a file others can read is refused.
printf '%s\n' "$SECRET" >"$TL_TMP/secret"
chmod 600 "$TL_TMP/secret"
OUT=$(relay_ctl -s "$TCP" -K "$TL_TMP/secret" --json ping) || tl_fail "secret from -K FILE: ping failed"
tl_assert_json "$OUT" '.pong == true' "ping over TCP with -K FILE"
OUT=$(TRUNKLINE_SECRET_FILE=$TL_TMP/secret relay_ctl -s "$TCP" --json ping) ||
	tl_fail "secret from TRUNKLINE_SECRET_FILE: ping failed"
tl_assert_json "$OUT" '.pong == true' "ping over TCP with TRUNKLINE_SECRET_FILE"
chmod 644 "$TL_TMP/secret"
relay_ctl -s "$TCP" -K "$TL_TMP/secret" --json ping >/dev/null 2>"$TL_TMP/mode.err"
RC=$?
[ "$RC" = 2 ] && grep -q "chmod 600" "$TL_TMP/mode.err" ||
	tl_fail "a world-readable secret file: exit $RC, expected 2 with advice: $(cat "$TL_TMP/mode.err")"
relay_ctl -s "$TCP" -K "$TL_TMP/none" --json ping >/dev/null 2>"$TL_TMP/none.err"
RC=$?
[ "$RC" = 2 ] && grep -q "No such file" "$TL_TMP/none.err" ||
	tl_fail "a missing secret file: exit $RC, expected 2: $(cat "$TL_TMP/none.err")"

# A malformed bracketed address is an error, not a stack underflow (ASan).
for bad in '[:5' '[' '[]:5' '[::1:5'; do
	timeout 5 "$TL_CTL" -s "$bad" ping >/dev/null 2>"$TL_TMP/bad.err"
	RC=$?
	[ "$RC" = 2 ] || tl_fail "trunklinectl -s '$bad': exit $RC, expected 2: $(cat "$TL_TMP/bad.err")"
	tl_sanitizer_report "$TL_TMP/bad.err" && tl_fail "trunklinectl -s '$bad': sanitizer report"
done

tl_rpc_ok '{"cmd":"ping"}' "the Unix socket needs no auth"
tl_relayd_stop
tl_pass
