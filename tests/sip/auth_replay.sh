#!/bin/bash
# run-also: asan
#
# Digest replay (issue 12). A real call from the digest account pbx2
# (SIPp, 407 then the answer) completes; its Proxy-Authorization, as
# sniffed from the wire, is then replayed unchanged by an attacker at
# 127.0.0.6 with a premium request-URI (refused: uri= is not the
# request-URI) and with the same request-URI (refused: its nc was used).
# An answer without qop, with the right password, is refused. A phone's
# REGISTER Authorization replayed with the attacker's Contact (and with
# the phone's own) is refused and the location keeps only the phone.
# The gateways are UDP sinks by then: they must receive no INVITE at all.
# An honest python client (the same digest code as the attacks) logs in
# with REGISTER, so the refusals are not the client's arithmetic, and
# refreshes twice on the same nonce with nc 2 and 3 (accepted).
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.trunks += [
	{name: "acct", digest: {username: "pbx2", password: "s3cret", realm: "trunkline"}}]
	| .accounts = [{username: "alice", password: "apass"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}'
ATT=127.0.0.6
PHONE=127.0.7.2
digest() {
	python3 "$TL_ROOT/tests/lib/sipdigest.py" "$1" "$2" 127.0.0.1 "$SIP_CTL_PORT" "${@:3}"
}

tl_log "an honest call from pbx2, then its answer is captured"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac good uac_auth.xml 127.0.0.4 -au pbx2 -ap s3cret -d 200
sip_expect good 30 "the honest call (407, then the answer) completes"
sip_expect gw1 30 "the gateway got the honest call"
sip_cdr_wait 1
auth=$(grep -m1 '^Proxy-Authorization: ' "$TL_TMP/good.msgs" | tr -d '\r')
[ -n "$auth" ] || tl_fail "no Proxy-Authorization in the honest call"
tl_log "captured: $auth"

# From now on the gateways take nothing: both are sinks.
tl_spawn sink1 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW1_PORT"
tl_spawn sink2 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW2_PORT"
tl_wait_for 20 "the gateway sinks" bash -c "ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q . && ss -ulnH 'sport = :$SIP_GW2_PORT' | grep -q ."

tl_log "replay with a premium request-URI"
r=$(digest send $ATT --ruri "sip:4490012345@127.0.0.1:$SIP_CTL_PORT" --header "$auth" --wait 3)
tl_log "replay, other URI: $r"
tl_assert_json "$r" '.final == 403 or .final == 407' "a replayed answer with another request-URI is refused"
tl_assert_json "$r" '[.codes[] | select(. == 100 or . == 180 or . == 183 or . == 200)] | length == 0' "the replay made no call (no 100/18x/200)"

tl_log "replay with the same request-URI"
r=$(digest send $ATT --ruri "sip:441234567@127.0.0.1:$SIP_CTL_PORT" --header "$auth" --wait 3)
tl_log "replay, same URI: $r"
tl_assert_json "$r" '.final == 403 or .final == 407' "a replayed answer with the same request-URI is refused"
tl_assert_json "$r" '[.codes[] | select(. == 100 or . == 200)] | length == 0' "the replay made no call"

tl_log "an answer without qop, right password"
r=$(digest login $ATT --user pbx2 --password s3cret --from-user pbx2 --no-qop --wait 3)
tl_log "no qop: $r"
tl_assert_json "$r" '.first.final == 407 and (.second.final == 403 or .second.final == 407)' "an answer without qop is refused"
tl_assert_json "$r" '[.second.codes[] | select(. == 100 or . == 200)] | length == 0' "the answer without qop made no call"

tl_log "REGISTER: the phone registers, its answer is replayed with a foreign Contact"
sip_register reg1 alice apass $PHONE 5999 60
regauth=$(grep -m1 '^Authorization: ' "$TL_TMP/reg1.msgs" | tr -d '\r')
[ -n "$regauth" ] || tl_fail "no Authorization in the phone's REGISTER"
r=$(digest send $ATT --method REGISTER --from-user alice --to-user alice \
	--contact "sip:alice@$ATT:5999" --header "$regauth" --wait 2)
tl_log "REGISTER replay, foreign Contact: $r"
tl_assert_json "$r" '.final != null and .final != 200 and .final >= 400' "a replayed REGISTER with a foreign Contact is refused"
r=$(digest send $ATT --method REGISTER --from-user alice --to-user alice \
	--contact "sip:alice@$PHONE:5999" --header "$regauth" --wait 2)
tl_log "REGISTER replay, same Contact: $r"
tl_assert_json "$r" '.final != null and .final != 200 and .final >= 400' "a replayed REGISTER is refused"
loc=$(sip_ctl --json locations) || tl_fail "locations"
tl_assert_json "$loc" "[.locations[] | select(.account == \"alice\")] | length == 1 and .[0].contact == \"sip:alice@$PHONE:5999\"" \
	"the location holds only the phone's contact"

tl_log "control: the same client, honest (qop=auth), registers, then refreshes twice on the same nonce (nc 2, 3)"
r=$(digest login 127.0.7.3 --method REGISTER --user alice --password apass --contact "sip:alice@127.0.7.3:5998" --again 2 --wait 3)
tl_log "honest REGISTER: $r"
tl_assert_json "$r" '.first.final == 401 and .second.final == 200' "the honest python client registers (its digest is right)"
tl_assert_json "$r" '[.again[].final] == [200, 200]' "a client that keeps its nonce with a rising nc needs no new challenge"

st=$(sip_ctl --json status) || tl_fail "status"
tl_assert_json "$st" '.calls_total == 1 and .rejected_auth >= 2 and .auth.replayed >= 2' "status: one call, the refusals and replays counted"
grep -q "digest login 'pbx2': uri= is not the request-URI: 403" "$TL_TMP/controller.log" ||
	tl_fail "the replay with another request-URI is not logged with its reason"
grep -q "digest login 'pbx2': nc already used with this nonce (a replay): challenged again" "$TL_TMP/controller.log" ||
	tl_fail "the replay with the same request-URI is not logged with its reason"
REF=$TL_TMP/refused.jsonl
tl_wait_for 5 "the refusal records" test -s "$REF"
jq -s -e 'map(select(.final_code == 403 and .reason == "authentication failed: uri= is not the request-URI" and .account == "pbx2"
	and .numbers.called_in == "4490012345")) | length == 1' "$REF" >/dev/null ||
	tl_fail "no refusal record for the replay with another request-URI: $(cat "$REF")"
jq -s -e 'map(select(.final_code == 407 and .reason == "authentication replayed" and .account == "pbx2")) | length >= 1' "$REF" >/dev/null ||
	tl_fail "no refusal record for the replay with the same request-URI: $(cat "$REF")"
for s in sink1 sink2; do
	[ -s "$TL_TMP/$s.out" ] && tl_fail "gateway $s received: $(head -3 "$TL_TMP/$s.out")"
done
sip_cdr_lines 2 && tl_fail "a refused request made a CDR: $(tail -n 1 "$SIP_CDR")"
sip_controller_stop
tl_relayd_stop
tl_pass
