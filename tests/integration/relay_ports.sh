#!/bin/bash
#
# relay_ports.sh: with a port range of 4 pairs per interface, offers
# succeed until the pool is empty, then fail with ports_exhausted without
# leaving anything behind; the daemon keeps serving, a repeated offer
# reuses its ports, and delete returns ports to the pool.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

PAIRS=4
tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".ports = {min: 30000, max: $((30000 + 2 * PAIRS - 1))}"
tl_relayd_start "$TL_TMP/relayd.json"

offer_json() { # CALL NSTREAMS
	local media
	media=$(jq -nc --argjson n "$2" '[range($n) | {type: "audio", address: "10.0.1.2", rtp_port: (4000 + 2 * .)}]')
	echo "{\"cmd\":\"offer\",\"call_id\":\"$1\",\"from_tag\":\"ft\",\"interfaces\":[\"caller\",\"callee\"],\"media\":$media}"
}

tl_rpc_ok '{"cmd":"stats"}' "stats"
TOTAL=$(jq .ports_total <<<"$TL_REPLY")
tl_assert_json "$TL_REPLY" '.ports_free == .ports_total and .ports_total > 0' "all ports free at start"
tl_log "ports_total $TOTAL"

ok=0
declare -A PORT_OF=()
for ((i = 1; i <= PAIRS + 4; i++)); do
	if tl_rpc "$(offer_json "c$i" 1)"; then
		tl_assert_json "$TL_REPLY" '.ok == true' "offer c$i"
		PORT_OF[c$i]=$(jq '.media[0].rtp_port' <<<"$TL_REPLY")
		ok=$((ok + 1))
		continue
	fi
	code=$(jq -r '.error.code // empty' 2>/dev/null <<<"$TL_REPLY")
	[ "$code" = ports_exhausted ] || grep -qw ports_exhausted <<<"$TL_REPLY_ERR" ||
		tl_fail "offer c$i failed with '$code' ($TL_REPLY $TL_REPLY_ERR), expected ports_exhausted"
	break
done
[ "$ok" = "$PAIRS" ] || tl_fail "$ok offers succeeded before ports_exhausted, expected $PAIRS (one pair per interface each, $PAIRS pairs per interface)"
[ "$i" -le $((PAIRS + 1)) ] || tl_fail "no ports_exhausted after $((i - 1)) offers"
tl_log "$ok offers took every pair; the next one: ports_exhausted"

tl_rpc_ok '{"cmd":"ping"}' "ping after ports_exhausted"
tl_rpc_err "{\"cmd\":\"query\",\"call_id\":\"c$i\"}" not_found "the failed offer left no session"
tl_rpc_ok '{"cmd":"stats"}' "stats when exhausted"
tl_assert_json "$TL_REPLY" ".ports_free == 0 and .sessions == $PAIRS" "stats: no free port, $PAIRS sessions"

# A repeated offer of an existing call takes no new ports.
tl_rpc_ok "$(offer_json c2 1)" "repeated offer of c2 while the pool is empty"
tl_assert_json "$TL_REPLY" ".media[0].rtp_port == ${PORT_OF[c2]}" "a repeated offer returns the same port"

# delete frees the pair; the next offer gets it.
tl_rpc_ok '{"cmd":"delete","call_id":"c1"}' "delete c1"
tl_rpc_ok '{"cmd":"stats"}' "stats after one delete"
tl_assert_json "$TL_REPLY" '.ports_free > 0 and .sessions == '$((PAIRS - 1)) "delete c1 freed its ports"
tl_rpc_ok "$(offer_json c-new 1)" "offer after delete"
tl_rpc_err "$(offer_json c-more 1)" ports_exhausted "offer when the pool is empty again"

# A two-stream offer that fits only half: exhausted, nothing leaked.
for c in c2 c3; do
	tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$c\"}" "delete $c"
done
tl_rpc_ok '{"cmd":"stats"}' "stats"
FREE=$(jq .ports_free <<<"$TL_REPLY")
tl_rpc_err "$(offer_json c-big 3)" ports_exhausted "a 3-stream offer with 2 free pairs"
tl_rpc_err '{"cmd":"query","call_id":"c-big"}' not_found "the failed 3-stream offer left no session"
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" ".ports_free == $FREE" "the failed 3-stream offer returned the ports it took"
tl_rpc_ok "$(offer_json c-two 2)" "a 2-stream offer with 2 free pairs"

# Delete everything: the pool is whole again.
tl_rpc_ok '{"cmd":"list"}' "list"
mapfile -t CALLS < <(jq -r '.calls[].call_id' <<<"$TL_REPLY")
for c in "${CALLS[@]}"; do
	tl_rpc_ok "{\"cmd\":\"delete\",\"call_id\":\"$c\"}" "delete $c"
done
tl_rpc_ok '{"cmd":"stats"}' "stats after deleting everything"
tl_assert_json "$TL_REPLY" ".sessions == 0 and .streams == 0 and .ports_free == $TOTAL" "every port back after the deletes"

tl_relayd_stop
tl_pass
