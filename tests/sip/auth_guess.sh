#!/bin/bash
# run-also: asan
#
# Password guessing (issue 12), protection.auth_failures 5 in 60 s, ban
# 60 s:
#  - one source trying 5 usernames with wrong passwords is banned: its
#    next request, even an OPTIONS, gets no answer;
#  - 5 sources each trying pbx2 with a wrong password ban the username:
#    the right password from a sixth source is refused (403) and nothing
#    reaches the gateway; an unknown username is banned the same way;
#  - another account still logs in;
#  - status.protection counts the failures and shows both bans.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.trunks += [
	{name: "acct", digest: {username: "pbx2", password: "s3cret", realm: "trunkline"}}]
	| .accounts = [{username: "alice", password: "apass"}]
	| .registrar = {min_expires: 1, default_expires: 60, max_expires: 3600}
	| .protection = {auth_failures: 5, auth_window: 60, auth_ban: 60}'
digest() {
	python3 "$TL_ROOT/tests/lib/sipdigest.py" "$1" "$2" 127.0.0.1 "$SIP_CTL_PORT" "${@:3}"
}
tl_spawn sink1 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW1_PORT"
tl_spawn sink2 - python3 "$TL_ROOT/tests/lib/sipudp.py" sink 127.0.0.1 "$SIP_GW2_PORT"
tl_wait_for 20 "the gateway sinks" bash -c "ss -ulnH 'sport = :$SIP_GW1_PORT' | grep -q . && ss -ulnH 'sport = :$SIP_GW2_PORT' | grep -q ."

tl_log "one source, five usernames, wrong passwords"
for i in 1 2 3 4 5; do
	r=$(digest login 127.0.0.6 --user "guess$i" --password nope --wait 2)
	tl_assert_json "$r" '.first.final == 407 and .second.final == 403' "failed login $i from 127.0.0.6: 407 then 403"
done
r=$(digest send 127.0.0.6 --method OPTIONS --wait 1.5)
tl_assert_json "$r" '.codes == []' "the source is banned after 5 failed logins: even OPTIONS gets nothing"
r=$(digest login 127.0.0.6 --user pbx2 --password s3cret --wait 1.5)
tl_assert_json "$r" '.first.final == null and ([.first.codes[] | select(. != 100)] == [])' "the banned source cannot log in with the right password either"
grep -q "source 127.0.0.6: 5 failed logins in 60s: banned for 60s" "$TL_TMP/controller.log" ||
	tl_fail "the source ban is not logged"

tl_log "five sources, one username (pbx2), wrong passwords"
for i in 11 12 13 14 15; do
	r=$(digest login "127.0.0.$i" --user pbx2 --password "nope$i" --wait 2)
	tl_assert_json "$r" '.second.final == 403' "failed login for pbx2 from 127.0.0.$i: 403"
done
r=$(digest login 127.0.0.16 --user pbx2 --password s3cret --wait 2)
tl_log "the right password after the ban: $r"
tl_assert_json "$r" '.first.final == 407 and .second.final == 403' "the banned username is refused even with the right password"
tl_log "an unknown username is banned the same way"
for i in 21 22 23 24 25; do
	digest login "127.0.0.$i" --user ghost --password "nope$i" --wait 2 >/dev/null
done

tl_log "another account still logs in"
r=$(digest login 127.0.7.3 --method REGISTER --user alice --password apass --contact "sip:alice@127.0.7.3:5998" --wait 3)
tl_assert_json "$r" '.second.final == 200' "alice registers"

st=$(sip_ctl --json status) || tl_fail "status"
tl_log "protection: $(jq -c .protection <<<"$st")"
tl_assert_json "$st" '.protection.auth_failed >= 15 and .protection.auth_bans == 1 and
	.protection.auth_user_bans == 2 and .protection.auth_user_refused >= 1 and
	([.protection.banned[] | select(.source == "127.0.0.6")] | length == 1) and
	([.protection.banned_users[] | .username] | sort == ["ghost", "pbx2"]) and
	.rejected_auth >= 16 and .calls_total == 0' "status shows the failures, the source ban and the username bans"
sip_ctl status | grep -q '"username":"pbx2"' || tl_fail "trunklinectl status does not show the username ban: $(sip_ctl status)"
for s in sink1 sink2; do
	[ -s "$TL_TMP/$s.out" ] && tl_fail "gateway $s received: $(head -3 "$TL_TMP/$s.out")"
done
sip_controller_stop
tl_relayd_stop
tl_pass
