#!/bin/bash
#
# relay_control_bulk.sh: the control plane at scale. As many sessions as
# relayd's descriptor limit allows (one stream each, 255-byte call id and
# tags): `trunklinectl list` returns every one (the relay pages its reply,
# a single reply would pass the connection's 4 MB cap); then they all time
# out within a second or two while a subscriber reads nothing (an
# upstream outage with a slow controller): once it reads, it gets every
# timeout event, with contiguous sequence numbers and no resync.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CLIENT=$(dirname "$0")/../lib/ctlclient.py
tl_init
command -v python3 >/dev/null 2>&1 || tl_skip "python3 not installed"
# Each session takes two port pairs (four sockets); the descriptor limit
# bounds the count (20000 here: 4,900 sessions, a list of 4.2 MB).
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
N=$(( (NOFILE - 360) / 4 ))
[ "$N" -gt 4900 ] && N=4900
[ "$N" -ge 3000 ] || tl_skip "descriptor limit $NOFILE allows only $N sessions (3000 needed)"
PMIN=20000
SETUP=20	# s: more than creating the sessions and listing them takes
PMAX=$((PMIN + 4 * N - 1))
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" \
	".interfaces = [{name: \"caller\", bind: \"$TL_RELAY_A_IP\"}] | .ports = {min: $PMIN, max: $PMAX} | .timeouts.setup = $SETUP | .log_level = \"info\""
tl_relayd_start "$TL_TMP/relayd.json"

tl_spawn sub - python3 "$CLIENT" slowsub "$TL_SOCK" "$TL_TMP/go" "$N" 60
tl_wait_for 5 "the subscriber" grep -q subscribed "$TL_TMP/sub.out"

T0=$SECONDS
python3 "$CLIENT" offers "$TL_SOCK" "$N" bulk >"$TL_TMP/offers.out" 2>"$TL_TMP/offers.err" ||
	tl_fail "offers: $(cat "$TL_TMP/offers.err")"
tl_log "$N sessions created in $((SECONDS - T0)) s"
T_CREATED=$(tl_now_us)

# list: every session, each once.
timeout 60 "$TL_CTL" -s "$TL_SOCK" -t 30 --json list >"$TL_TMP/list.json" 2>"$TL_TMP/list.err" ||
	tl_fail "list with $N sessions failed: $(cat "$TL_TMP/list.err")"
tl_log "list: $(wc -c <"$TL_TMP/list.json") bytes"
tl_assert_json "$(cat "$TL_TMP/list.json")" \
	".ok == true and (.calls | length) == $N and ([.calls[].call_id] | unique | length) == $N and .total == $N" \
	"list returns all $N sessions once"
OUT=$(tl_ctl --json raw '{"cmd":"list","offset":10,"limit":5}') || tl_fail "one page of list"
tl_assert_json "$OUT" '(.calls | length) == 5 and .next == 15' "a page of 5 from offset 10"
OUT=$(tl_ctl --json hello) || tl_fail "hello"
tl_assert_json "$OUT" '(.features | index("event-seq")) and (.features | index("list-pages"))' "hello names event-seq and list-pages"

# An outage, as the relay sees it: its loop stalls (SIGSTOP) until every
# session is past its setup timeout, so they all end in the first tick
# after SIGCONT; the subscriber still reads nothing.
kill -STOP "$TL_RELAYD_PID"
DUE=$((T_CREATED + (SETUP + 1) * 1000000))
until tl_past "$DUE"; do sleep 0.1; done
kill -CONT "$TL_RELAYD_PID"
tl_wait_for 120 "all $N sessions to time out" \
	bash -c "\"$TL_CTL\" -s \"$TL_SOCK\" --json stats | jq -e '.sessions == 0'"
tl_log "all timed out $((SECONDS - T0)) s after the first offer"
# one tick: the log's first and last "ended by the relay" lines
SPREAD=$(grep 'ended by the relay' "$TL_TMP/relayd.log" | sed -n '1s/Z.*//p;$s/Z.*//p' |
	while read -r t; do date -d "$t" +%s.%N; done | awk 'NR == 1 { a = $1 } END { printf "%.2f", $1 - a }')
tl_log "$N timeouts within ${SPREAD} s (one timer tick)"
touch "$TL_TMP/go"
tl_expect_ok sub 90 "slow subscriber"
SUM=$(tl_summary sub)
tl_log "subscriber: $SUM"
tl_assert_json "$SUM" ".events == $N and .distinct == $N and .contiguous == true and (.resync | length) == 0 and .closed == false" \
	"the slow subscriber got all $N timeout events in sequence"
tl_rpc_ok '{"cmd":"ping"}' "relay alive"
tl_relayd_stop
tl_pass
