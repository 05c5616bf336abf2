#!/bin/bash
#
# relay_ports_random.sh: one call's ports do not tell the next call's.
#
# An attacker who sees one call's SDP (its own call to the relay, say)
# must not be able to predict the ports of the calls that follow: leg A's
# ports are bound at offer but told to the caller only in the answer, and
# a stranger who knows them can race the caller (relay_latch_race.sh).
# Ten calls are set up one after the other; from each call's ports the
# sequential guess for the next (the next pair of the interface's pool)
# must fail for almost all of them, and leg B's port (in the SDP sent to
# the callee at offer) must not be leg A's. On the sequential allocator
# of the parent commit every guess was right.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

CALLS=10

tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" '.ports = {min: 30000, max: 35999}'
tl_relayd_start "$TL_TMP/relayd.json"

A=() B=()
for ((i = 0; i < CALLS; i++)); do
	tl_offer_answer "ports-$i" 1
	A+=("${TL_A_PORTS[0]}")
	B+=("${TL_B_PORTS[0]}")
done
tl_log "leg A ports: ${A[*]}"
tl_log "leg B ports: ${B[*]}"

# Each interface has its own pool: the sequential guess is "the next
# pair of the same pool", and both legs' ports are drawn apart.
guess_a=0 guess_b=0 same=0
for ((i = 0; i < CALLS; i++)); do
	[ "${A[i]}" = "${B[i]}" ] && same=$((same + 1))
	((i == 0)) && continue
	[ "${A[i]}" = $((A[i - 1] + 2)) ] && guess_a=$((guess_a + 1))
	[ "${B[i]}" = $((B[i - 1] + 2)) ] && guess_b=$((guess_b + 1))
done
tl_log "sequential guesses right: leg A $guess_a, leg B $guess_b of $((CALLS - 1)); A = B in $same of $CALLS"
# 1500 equally likely pairs per take: one hit is already unlikely.
[ "$guess_a" -le 1 ] || tl_fail "the next call's leg A port was guessed from the previous call's in $guess_a of $((CALLS - 1)) calls"
[ "$guess_b" -le 1 ] || tl_fail "the next call's leg B port was guessed from the previous call's in $guess_b of $((CALLS - 1)) calls"
[ "$same" -le 1 ] || tl_fail "leg A and leg B had the same port in $same of $CALLS calls (leg B's tells leg A's)"

# Per interface every port is distinct and even (no pair handed out twice).
for side in A B; do
	eval "ports=(\"\${$side[@]}\")"
	[ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" = "$CALLS" ] ||
		tl_fail "leg $side: a port pair was handed out twice: ${ports[*]}"
	for p in "${ports[@]}"; do
		[ $((p % 2)) = 0 ] && [ "$p" -ge 30000 ] && [ "$p" -le 35998 ] ||
			tl_fail "port $p is not an even port of the range"
	done
done

tl_relayd_stop
tl_pass
