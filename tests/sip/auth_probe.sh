#!/bin/bash
#
# Username probing (issue 12). From a source that is no trunk, a known
# and an unknown username must look the same: the same status codes for
# an INVITE without credentials (407), with a wrong answer (407 then
# 403), for a REGISTER (401 then 403; an unknown account used to get
# 404), answered as fast, with the same challenges but for the nonce
# (the digest trunk and the local account have different realms). With
# unknown_source "drop" such a source gets nothing at all, whatever the
# method (OPTIONS, INVITE, REGISTER, with or without credentials), not
# even when the held request is let go after 40 s, while a trunk's source
# is still served.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.trunks += [
	{name: "acct", digest: {username: "pbx2", password: "s3cret", realm: "carrier.example"}}]
	| .accounts = [{username: "alice", password: "apass"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}'
ATT=127.0.0.6
digest() {
	python3 "$TL_ROOT/tests/lib/sipdigest.py" "$1" "$2" 127.0.0.1 "$SIP_CTL_PORT" "${@:3}"
}
# same KNOWN UNKNOWN WHAT: identical status codes, both answered within
# a second and within 0.2 s of each other.
same() {
	local k u
	k=$(jq -c '[.. | objects | select(has("codes")) | .codes]' <<<"$1")
	u=$(jq -c '[.. | objects | select(has("codes")) | .codes]' <<<"$2")
	tl_log "$3: known $k, unknown $u"
	[ "$k" = "$u" ] || tl_fail "$3: a known username gets $k, an unknown one $u"
	[ "$k" != "[[]]" ] || tl_fail "$3: no answer at all in reject mode"
	# the challenges too, but for their nonces
	k=$(jq -c '[.. | objects | select(has("challenge")) | .challenge // "" | sub("nonce=\"[0-9a-f]*\""; "")]' <<<"$1")
	u=$(jq -c '[.. | objects | select(has("challenge")) | .challenge // "" | sub("nonce=\"[0-9a-f]*\""; "")]' <<<"$2")
	[ "$k" = "$u" ] || tl_fail "$3: the challenges differ: $k / $u"
	jq -e -n --argjson a "$1" --argjson b "$2" '
		def t(x): [x | .. | objects | select(has("elapsed")) | .elapsed];
		def abs: if . < 0 then -. else . end;
		(t($a) + t($b) | max) < 1 and ((t($a) | add) - (t($b) | add) | abs) < 0.2' >/dev/null ||
		tl_fail "$3: answered at different speeds: $1 / $2"
}

tl_log "reject mode: known and unknown usernames"
k=$(digest send $ATT --from-user pbx2)
u=$(digest send $ATT --from-user nobody)
same "$k" "$u" "INVITE without credentials"
k=$(digest login $ATT --user pbx2 --password guess1)
u=$(digest login $ATT --user nobody --password guess1)
same "$k" "$u" "INVITE with a wrong answer"
k=$(digest login $ATT --method REGISTER --user alice --password guess1)
u=$(digest login $ATT --method REGISTER --user nobody --password guess1)
same "$k" "$u" "REGISTER"
tl_assert_json "$k" '.first.final == 401 and .second.final == 403' "REGISTER with a wrong password: 401 then 403"

# The refusal records of the wrong answers: the same reason, known or not
# (the account field says which username was tried).
REF=$TL_TMP/refused.jsonl
tl_wait_for 5 "the refusal records" test -s "$REF"
k=$(jq -s -c 'map(select(.account == "pbx2") | [.final_code, .reason])' "$REF")
u=$(jq -s -c 'map(select(.account == "nobody") | [.final_code, .reason])' "$REF")
tl_log "refusal records: known $k, unknown $u"
[ "$k" = "$u" ] && [ "$k" = '[[403,"authentication failed: wrong credentials"]]' ] ||
	tl_fail "the refusal records of a known and an unknown username differ or are missing: $k / $u"
[ "$(grep -c "INVITE .*: digest login 'pbx2': wrong credentials: 403" "$TL_TMP/controller.log")" = \
	"$(grep -c "INVITE .*: digest login 'nobody': wrong credentials: 403" "$TL_TMP/controller.log")" ] ||
	tl_fail "the log tells a known from an unknown username"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.auth.failed >= 4 and .protection.auth_failed >= 4' "status counts the failed logins"

tl_log "drop mode: silence for every method from a source that is no trunk"
jq '.unknown_source = "drop"' "$TL_TMP/controller.json" >"$TL_TMP/c2.json" && mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
sip_ctl reload >/dev/null || tl_fail "reload with unknown_source drop"
before=$(sip_ctl --json status | jq .rejected_unknown)
# Held unanswered requests are let go after 40 s: an OPTIONS or a
# REGISTER must not get the stack's 500 then either.
for m in OPTIONS REGISTER; do
	tl_spawn "late$m" - python3 "$TL_ROOT/tests/lib/sipdigest.py" send "$ATT" 127.0.0.1 "$SIP_CTL_PORT" \
		--method "$m" --from-user pbx2 --wait 44
done
# Not even the stack's "100 Trying" to an INVITE (timer N1, 200 ms): the
# SIP filter discards them before the stack reads them (sipfilter.c).
for m in OPTIONS INVITE REGISTER; do
	r=$(digest send $ATT --method "$m" --from-user pbx2 --wait 1.5)
	tl_assert_json "$r" ".codes == []" \
		"drop mode: $m from a source that is no trunk gets no answer"
done
r=$(digest login $ATT --user pbx2 --password s3cret --wait 1.5)
tl_assert_json "$r" '.first.final == null and .first.codes == []' "drop mode: no challenge either"
r=$(digest send $ATT --method REGISTER --from-user nobody --wait 1.5)
tl_assert_json "$r" '.codes == []' "drop mode: REGISTER for an unknown account gets no answer"
r=$(digest send 127.0.0.2 --method OPTIONS --wait 2)
tl_assert_json "$r" '.final == 200' "drop mode: the trunk's source is still answered"
st=$(sip_ctl --json status) || tl_fail "status"
tl_assert_json "$st" ".rejected_unknown >= $before + 7" "the dropped requests are counted"
for m in OPTIONS REGISTER; do
	tl_reap "late$m" 60 || tl_fail "sipdigest late$m failed"
	r=$(cat "$TL_TMP/late$m.out")
	tl_assert_json "$r" '.codes == []' "drop mode: no answer to $m even when it is let go after 40 s"
done
sip_controller_stop
tl_relayd_stop
tl_pass
