#!/bin/bash
# run-also: asan
#
# Refusal CDRs (issue 12): INVITEs refused at the door write one line
# each, with the reason, in the refusals file:
#  - an unknown source (127.0.0.3): 403 "no trunk";
#  - a digest account answering the challenge with a wrong password:
#    403 "authentication failed" with the account (the first 407
#    challenge, the normal flow, writes nothing);
#  - the trunk over its limit: 503 "trunk limits";
#  - a source the edge protection bans (127.0.0.5, 1 request/s): its
#    dropped INVITEs, final_code 0 "protection";
# and a flood (300 INVITEs from the unknown source at 300/s) writes a
# bounded number of lines (rate 2/s, burst 10): every refusal is either a
# line or counted as suppressed, and a summary line reports the count.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
REF=$TL_TMP/refused.jsonl
base=".refusals = {file: \"$REF\", rate: 2, burst: 10} | .trunks[0].max_cps = 0.001"
# With a digest account an unknown source is challenged, not refused:
# the account is there only for its part (a reload keeps the limits).
sip_controller_start "$base"

ref_lines() { [ -f "$REF" ] && [ "$(wc -l <"$REF")" -ge "$1" ]; }
ref_wait() {
	tl_wait_for 10 "$1 refusal line(s)" ref_lines "$1"
	REF_LAST=$(tail -n 1 "$REF")
	tl_log "refusal: $REF_LAST"
}

tl_log "403: unknown source"
sip_uac unknown uac_403.xml 127.0.0.3
sip_expect unknown 30 "the unknown source gets 403"
ref_wait 1
tl_assert_json "$REF_LAST" '.refused == true and .final_code == 403 and .reason == "no trunk" and .trunk == null and (.source | startswith("127.0.0.3:")) and .numbers.called_in == "441234567" and .numbers.calling_in == "0201234567" and (.call_id | length > 0)' "refusal line for the unknown source"

tl_log "503: the trunk's limit"
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac first uac_call.xml 127.0.0.2 -d 100
sip_expect first 30 "the trunk's first call completes"
sip_expect gw1 30 "the gateway gets it"
sip_uac limited uac_503.xml 127.0.0.2
sip_expect limited 30 "the second call is over the limit: 503"
ref_wait 2
tl_assert_json "$REF_LAST" '.final_code == 503 and .reason == "trunk limits" and .trunk == "pbx"' "refusal line for the limit"
sip_cdr_wait 1
[ "$(wc -l <"$SIP_CDR")" = 1 ] || tl_fail "refusals went to the call CDR file"

sip_controller_config "$base | .trunks += [{name: \"acct\", digest: {username: \"pbx2\", password: \"s3cret\"}}]"
sip_ctl reload >/dev/null || tl_fail "reload with the account"
tl_log "407 answered with a wrong password"
sip_uac bad uac_auth_bad.xml 127.0.0.4 -au pbx2 -ap wrong
sip_expect bad 30 "a wrong password is refused with 403"
ref_wait 3
tl_assert_json "$REF_LAST" '.final_code == 403 and .reason == "authentication failed: wrong credentials" and .trunk == "acct" and .account == "pbx2"' "refusal line for the failed digest"
[ "$(wc -l <"$REF")" = 3 ] || tl_fail "the 407 challenge itself wrote a line: $(cat "$REF")"

tl_log "a banned source"
sip_controller_config "$base | .protection = {rate: 1, burst: 1, ban: 60}"
sip_ctl reload >/dev/null || tl_fail "reload with the protection"
# Three INVITEs at once: the first passes the protection (403, no trunk),
# the second gets the source banned, the third meets the ban.
python3 - "$SIP_CTL_PORT" <<'PY' || tl_fail "cannot send the INVITEs"
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.5", 0))
lp = s.getsockname()[1]
for i in range(3):
    m = ("INVITE sip:441234567@127.0.0.1:%d SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.5:%d;branch=z9hG4bK-ban%d\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:0201234567@127.0.0.5>;tag=b%d\r\n"
         "To: <sip:441234567@127.0.0.1>\r\nCall-ID: ban-%d@127.0.0.5\r\n"
         "CSeq: 1 INVITE\r\nContact: <sip:0201234567@127.0.0.5:%d>\r\n"
         "Content-Length: 0\r\n\r\n") % (port, lp, i, i, i, lp)
    s.sendto(m.encode(), ("127.0.0.1", port))
PY
ref_wait 6
tl_assert_json "$(tail -n 3 "$REF" | jq -s .)" '[.[] | {final_code, reason}] == [{final_code: 403, reason: "no trunk"},
	{final_code: 0, reason: "protection"}, {final_code: 0, reason: "protection"}] and all(.[]; .source | startswith("127.0.0.5:"))' "refusal lines for the banned source"

sip_controller_config "$base"
sip_ctl reload >/dev/null || tl_fail "reload without the account and the protection"

tl_log "a flood of 300 refusals"
t0=$EPOCHREALTIME
tl_spawn flood - sipp -sf "$SIP_SCEN/uac_403.xml" -i 127.0.0.3 -p "$SIP_UAC2_PORT" -m 300 -r 300 -l 300 \
	-nostdin -timeout 60s -s 441234567 -set mport "$SIP_CALLER_RTP" \
	-trace_err -error_file "$TL_TMP/flood.errors" "127.0.0.1:$SIP_CTL_PORT"
sip_expect flood 60 "300 refused calls"
t1=$EPOCHREALTIME
summary() { grep -q '"reason":"summary"' "$REF"; }
tl_wait_for 10 "the summary of the suppressed lines" summary
lines=$(($(wc -l <"$REF") - 6))
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a + 1 }')
tl_log "flood: $lines lines in about ${secs}s ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s sending)"
# burst 10 + 2/s + one summary a second
max=$((10 + 2 * secs + secs))
[ "$lines" -le "$max" ] || tl_fail "the flood wrote $lines lines (at most $max expected)"
[ "$lines" -ge 2 ] || tl_fail "the flood wrote only $lines lines (a line and a summary at least)"
# Every refusal is accounted for: a line of its own, or suppressed.
tl_assert_json "$(jq -s '{own: ([.[] | select(.reason != "summary")] | length),
	suppressed: ([.[].suppressed // 0] | add)}' "$REF")" '.own + .suppressed == 306' "lines + suppressed = refusals"
tl_assert_json "$(sip_ctl --json status)" '.refusals.suppressed >= 250 and .refusals.written == ('"$(wc -l <"$REF")"')' "status counts the suppressed lines"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
