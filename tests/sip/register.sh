#!/bin/bash
# run-also: asan
#
# Outbound registrations (trunk "prov", registrar = SIPp on 127.0.6.10):
#  1. 200 for 4 s: registered, refreshed before expiry (same Call-ID);
#     a call from the registrar's address to the registered contact user
#     (the DDI) is matched to trunk prov and routed; the same from
#     another address is not.
#  2. 401 challenge, then 200 for the right auth user/password; on
#     shutdown the registration is removed (REGISTER with Expires: 0).
#  3. 403: failed, backing off (retry_in on the control socket), retried.
#  4. no answer: each attempt ends after its timeout, retries back off
#     exponentially up to retry_max (attempts bounded, never stopped).
# Where the registrar answers, the controller waits 5 s for it (a loaded
# host's SIPp can be slower than 0.5 s, which would count a timeout and
# a second attempt); the no-answer part keeps the 0.5 s it measures.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
REG=$SIP_NET6.10
REGPORT=$SIP_GW3_PORT
DDI=4420001

# reg_config JQ-REGISTER-OBJECT-ADDITIONS: trunk prov with a registration.
reg_filter() {
	echo ".trunks += [{name: \"prov\", register: ({username: \"acc55\", password: \"s3cret\",
		registrar: \"sip:$REG:$REGPORT\", domain: \"provider.example\", contact_user: \"$DDI\",
		expires: 60, timeout: 5, retry_min: 0.5, retry_max: 2} + $1)}]"
}
reg_state() {
	sip_trunks ".trunks[] | select(.name == \"prov\") | .registration | $1"
}

tl_log "1. 200, refresh, inbound call to the contact"
sip_uas_at registrar reg_200.xml "$REG" "$REGPORT"
sip_controller_start "$(reg_filter '{}')"
tl_wait_for 10 "registered" reg_state '.state == "registered" and .last_code == 200 and .attempts == 1'
grep -q "trunk prov: registered at sip:$REG:$REGPORT for 4s (contact user $DDI)" "$TL_TMP/controller.log" ||
	tl_fail "registration not logged"
sip_expect registrar 15 "the registrar saw the REGISTER and its refresh"
# (its 200 may still be on its way to the controller)
tl_try_for 10 reg_state '.state == "registered" and .refreshes >= 1 and .attempts == 1' ||
	tl_fail "the refresh is not counted: $(sip_ctl --json trunks)"
grep -q "Contact: <sip:$DDI@" "$TL_TMP/registrar.msgs" || tl_fail "our Contact does not carry the DDI"
grep -q "From: <sip:acc55@provider.example>" "$TL_TMP/registrar.msgs" || tl_fail "From is not username@domain"
sip_ctl trunks >"$TL_TMP/trunks.txt"
grep -Eq '^prov +registered +200 ' "$TL_TMP/trunks.txt" || tl_fail "trunklinectl trunks: $(cat "$TL_TMP/trunks.txt")"

sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
SIP_SERVICE=$DDI sip_uac caller uac_call.xml "$REG" -d 200
sip_expect caller 30 "a call from the provider to the DDI is routed"
sip_expect gw1 10 "gw1 took the provider's call"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "prov" and .final_code == 200' "CDR: the call came in on trunk prov"
SIP_SERVICE=$DDI sip_uac stranger uac_403.xml "$SIP_NET6.11"
sip_expect stranger 30 "the DDI from another address is not trunk prov (403)"
sip_controller_stop

tl_log "2. 401 challenge, then 200"
sip_uas_at registrar2 reg_401.xml "$REG" "$REGPORT"
sip_controller_start "$(reg_filter '{auth_user: "auth55", realm: "provider.example"}')"
tl_wait_for 10 "registered after the challenge" reg_state '.state == "registered" and .last_code == 200'
grep -q 'username="auth55"' "$TL_TMP/registrar2.msgs" || tl_fail "credentials not for auth_user"
sip_controller_stop
sip_expect registrar2 10 "the registrar accepted our credentials, then our un-REGISTER"

tl_log "3. 403: backoff and retry"
sip_uas_at registrar3 reg_403.xml "$REG" "$REGPORT" -m 2
# backoffs of 2 and 4 s: long enough for the test to see each on a
# loaded host
sip_controller_start "$(reg_filter '{retry_min: 2, retry_max: 8}')"
tl_wait_for 10 "failed with 403, backing off" reg_state '.state == "backoff" and .last_code == 403 and .retry_in > 0 and .retry_in <= 2 and .retry_at > now - 5'
sip_expect registrar3 10 "a second REGISTER after the backoff"
tl_wait_for 10 "second failure, longer backoff" reg_state '.last_code == 403 and .failures == 2 and .attempts == 2'
grep -q 'trunk prov: registration at .* failed: 403; retrying in 4s' "$TL_TMP/controller.log" ||
	tl_fail "the doubled backoff is not logged"
sip_controller_stop

tl_log "4. no answer: timeouts, backoff up to the cap"
tl_spawn sink - python3 "$TL_ROOT/tests/lib/sipudp.py" sink "$REG" "$REGPORT"
tl_wait_for 20 "the silent registrar" sip_listening "$REGPORT"
t0=$(tl_now_us)
sip_controller_start "$(reg_filter '{timeout: 0.5}')"
tl_wait_for 30 "four attempts" reg_state '.attempts >= 4'
t1=$(tl_now_us)
reg_state '.state != "registered" and .last_code == 0' || tl_fail "state after no answer: $(sip_ctl --json trunks)"
# 4 attempts: 3 timeouts (0.5 s) and backoffs 0.5 + 1 + 2 s = 5 s at least.
[ $((t1 - t0)) -ge 4500000 ] || tl_fail "4 attempts in $(((t1 - t0) / 1000)) ms: no backoff"
tl_wait_for 10 "backoff at the cap" reg_state '.state == "backoff" and .retry_in <= 2'
grep -q 'no reply within 0.5s; retrying in 2s' "$TL_TMP/controller.log" || tl_fail "the capped backoff is not logged"
n=$(awk '$1 == "REGISTER" {print $2}' "$TL_TMP/sink.out" | sort -u | wc -l)
a=$(sip_ctl --json trunks | jq '.trunks[] | select(.name == "prov") | .registration.attempts')
tl_log "$n distinct REGISTER transactions, $a attempts"
if [ "$n" -lt 4 ] || [ "$n" -gt $((a + 1)) ]; then tl_fail "the registrar saw $n registrations for $a attempts"; fi

tl_log "bad registrar: file:line: field"
jq '.trunks[1].register.registrar = "http://x"' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad.json" 2>&1) && tl_fail "a bad registrar URI was accepted"
grep -Eq 'bad.json:[0-9]+: trunks\[1\]\.register\.registrar: ' <<<"$out" || tl_fail "unexpected error: $out"
sip_controller_stop
tl_relayd_stop
tl_pass
