#!/bin/bash
# run-also: asan
#
# The trust model for caller identities (issue 12). The gateways are
# SIPp UASs that check the INVITE they receive (ereg check_it /
# check_it_inverse: a failed check fails the call):
#  1. a digest account (untrusted, owns 4930222) presents another
#     customer's number 4930999 in From and a forged P-Asserted-Identity:
#     the gateway sees only 4930222 (the account's default CLI);
#  2. the same account with its own From and a forged PAI: the PAI is
#     ignored, the gateway sees 4930222;
#  3. a trusted PBX (source 127.0.6.2, owns 4930111*) sends PAI
#     4930111777 with "Privacy: id": an untrusted gateway gets an
#     anonymous call (no PAI, no number anywhere);
#  4. the same to a trusted gateway: From anonymous, PAI 4930111777
#     kept, "Privacy: id";
#  5. the trusted PBX asserting a number it does not own: its default CLI;
#  6. a trunk without owned numbers is not screened: Remote-Party-ID says
#     screen=no (it used to claim screen=yes);
#  7. privacy asked by the untrusted account is honoured (hiding needs
#     no trust);
#  8. the trusted trunk's digest login from another address: its PAI
#     is not believed (trust is the source address, not the password);
# and the CDRs record the presented and the asserted identity.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start "
	.trunks = [
		{name: \"pbx\", sources: [\"$SIP_NET6.2\"], trusted: true,
		 digest: {username: \"pbx3\", password: \"p3\"},
		 numbers: [\"4930111*\"], default_cli: \"4930111000\"},
		{name: \"acct\", digest: {username: \"pbx2\", password: \"s3cret\"},
		 numbers: [\"4930222\"]},
		{name: \"plain\", sources: [\"127.0.0.2\"]}]
	| .gateways = [
		{name: \"gw1\", host: \"127.0.0.1\", port: $SIP_GW1_PORT, caller_id: \"pai\"},
		{name: \"gw2\", host: \"127.0.0.1\", port: $SIP_GW2_PORT, caller_id: \"pai\", trusted: true},
		{name: \"gw3\", host: \"127.0.0.1\", port: $SIP_GW3_PORT, caller_id: \"rpid\"}]
	| .carriers = [{name: \"c1\", gateways: [\"gw1\"]}, {name: \"c2\", gateways: [\"gw2\"]},
		{name: \"c3\", gateways: [\"gw3\"]}]
	| .lcr = [{name: \"lcr\", prefixes: [{prefix: \"44\", carriers: [\"c1\"]},
		{prefix: \"45\", carriers: [\"c2\"]}, {prefix: \"46\", carriers: [\"c3\"]}]}]"

# must REGEX / mustnot REGEX: one check on the whole INVITE (POSIX ERE;
# XML metacharacters are escaped here).
xml_esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' <<<"$1"; }
must() { echo "<ereg regexp=\"$(xml_esc "$1")\" search_in=\"msg\" check_it=\"true\" assign_to=\"chk\"/>"; }
mustnot() { echo "<ereg regexp=\"$(xml_esc "$1")\" search_in=\"msg\" check_it_inverse=\"true\" assign_to=\"chk\"/>"; }

# gw NAME PORT CHECK...: a checking gateway on 127.0.0.1:PORT.
gw() {
	local name=$1 port=$2 checks
	shift 2
	checks=$(printf '%s' "$@")
	python3 -c 'import sys; print(open(sys.argv[1]).read().replace("<!--CHECKS-->", sys.argv[2]), end="")' \
		"$SIP_SCEN/uas_check.xml" "$checks" >"$TL_TMP/$name.xml"
	sip_phone "$name" "$TL_TMP/$name.xml" 127.0.0.1 "$port"
}

# call NAME SCENARIO SRC SERVICE CLI PAI PRIVACY [sipp args...]
call() {
	local name=$1 scen=$2 src=$3 svc=$4 cli=$5 pai=$6 priv=$7
	shift 7
	sip_uac_from "$name" "$SIP_SCEN/$scen" "$src" "$svc" -set cli "$cli" \
		-set pai "$pai" -set privacy "$priv" -d 100 "$@"
}

tl_log "1. an account presents a number it does not own, with a forged PAI"
gw g1 "$SIP_GW1_PORT" "$(must 'From: <sip:4930222@')" \
	"$(must 'P-Asserted-Identity: <sip:4930222@')" "$(mustnot '4930999')"
call c1 uac_ident_auth.xml 127.0.0.4 441234567 4930999 4930999 none -au pbx2 -ap s3cret
sip_expect g1 30 "the gateway sees the account's default CLI only"
sip_expect c1 30 "the call completes"
sip_cdr_wait 1
tl_assert_json "$SIP_CDR_LAST" '.trunk == "acct" and .identity == {presented: "4930999", pai: "4930999", asserted: "4930222", screening: "replaced", privacy: false}' "CDR: presented and asserted identity"

tl_log "2. its own number in From, a forged PAI"
gw g2 "$SIP_GW1_PORT" "$(must 'From: <sip:4930222@')" \
	"$(must 'P-Asserted-Identity: <sip:4930222@')" "$(mustnot '4930999')"
call c2 uac_ident_auth.xml 127.0.0.4 441234567 4930222 4930999 none -au pbx2 -ap s3cret
sip_expect g2 30 "the forged PAI is stripped"
sip_expect c2 30 "the call completes"
sip_cdr_wait 2
tl_assert_json "$SIP_CDR_LAST" '.identity == {presented: "4930222", pai: "4930999", asserted: "4930222", screening: "owned", privacy: false}' "CDR: the forged PAI is recorded, not asserted"
tl_assert_json "$(sip_ctl --json status)" '.trust.pai_ignored == 2 and .trust.cli_replaced == 1' \
	"status counts the two forged PAIs ignored and the number replaced"
grep -q "P-Asserted-Identity '4930999' from .* (trunk acct, not trusted there): ignored" "$TL_TMP/controller.log" ||
	tl_fail "the ignored PAI is not logged with its reason"
grep -q "trunk acct does not own '4930999': presented as 4930222" "$TL_TMP/controller.log" ||
	tl_fail "the replaced number is not logged with its reason"

tl_log "3. a trusted PBX asks for privacy: an untrusted gateway gets an anonymous call"
gw g3 "$SIP_GW1_PORT" "$(must 'From: "Anonymous" <sip:anonymous@anonymous\.invalid>')" \
	"$(mustnot 'P-Asserted-Identity')" "$(mustnot 'Remote-Party-ID')" "$(mustnot '4930111')"
call c3 uac_ident.xml "$SIP_NET6.2" 441234567 4930111555 4930111777 id
sip_expect g3 30 "the untrusted gateway sees an anonymous caller"
sip_expect c3 30 "the call completes"
sip_cdr_wait 3
tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .identity == {presented: "4930111555", pai: "4930111777", asserted: "4930111777", screening: "trusted", privacy: true}' "CDR: the private call's identities"

tl_log "4. the same to a trusted gateway: PAI kept, Privacy: id"
gw g4 "$SIP_GW2_PORT" "$(must 'From: "Anonymous" <sip:anonymous@anonymous\.invalid>')" \
	"$(must 'P-Asserted-Identity: <sip:4930111777@')" "$(must 'Privacy: id')" \
	"$(mustnot '4930111555')"
call c4 uac_ident.xml "$SIP_NET6.2" 451234567 4930111555 4930111777 id
sip_expect g4 30 "the trusted gateway gets the asserted identity and Privacy: id"
sip_expect c4 30 "the call completes"

tl_log "5. a trusted PBX asserting a number it does not own"
gw g5 "$SIP_GW2_PORT" "$(must 'From: <sip:4930111555@')" \
	"$(must 'P-Asserted-Identity: <sip:4930111000@')" "$(mustnot '4930999')" "$(mustnot 'Privacy')"
call c5 uac_ident.xml "$SIP_NET6.2" 451234567 4930111555 4930999 none
sip_expect g5 30 "an unowned PAI becomes the default CLI"
sip_expect c5 30 "the call completes"

tl_log "6. no owned numbers: the identity is passed on unscreened"
gw g6 "$SIP_GW3_PORT" "$(must 'Remote-Party-ID: <sip:0201234567@[^>]*>;party=calling;screen=no;privacy=off')"
call c6 uac_ident.xml 127.0.0.2 461234567 0201234567 4930999 none
sip_expect g6 30 "Remote-Party-ID tells the truth about screening"
sip_expect c6 30 "the call completes"
sip_cdr_wait 6
tl_assert_json "$SIP_CDR_LAST" '.trunk == "plain" and .identity.screening == "unverified" and .identity.asserted == "0201234567"' "CDR: unverified identity"

tl_log "7. privacy from an untrusted account"
gw g7 "$SIP_GW2_PORT" "$(must 'From: "Anonymous" <sip:anonymous@anonymous\.invalid>')" \
	"$(must 'P-Asserted-Identity: <sip:4930222@')" "$(must 'Privacy: id')" "$(mustnot '4930999')"
call c7 uac_ident_auth.xml 127.0.0.4 451234567 4930222 4930999 id -au pbx2 -ap s3cret
sip_expect g7 30 "the account's call is private, its screened identity asserted to the trusted gateway"
sip_expect c7 30 "the call completes"

tl_log "8. the trusted trunk's password from another address"
gw g8 "$SIP_GW2_PORT" "$(must 'P-Asserted-Identity: <sip:4930111555@')" "$(mustnot '4930111777')"
call c8 uac_ident_auth.xml 127.0.0.4 451234567 4930111555 4930111777 none -au pbx3 -ap p3
sip_expect g8 30 "a PAI over a digest login is not believed"
sip_expect c8 30 "the call completes"
sip_cdr_wait 8
tl_assert_json "$SIP_CDR_LAST" '.trunk == "pbx" and .identity.screening == "owned" and .identity.pai == "4930111777"' "CDR: the PAI was not trusted"

tl_log "bad trust config: file:line: field"
jq '.trunks[2].trusted = true | .trunks[2].sources = []' "$TL_TMP/controller.json" >"$TL_TMP/bad.json"
jq '.trunks[2] += {digest: {username: "x", password: "y"}}' "$TL_TMP/bad.json" >"$TL_TMP/bad2.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad2.json" 2>&1) && tl_fail "a trusted trunk without sources was accepted"
grep -Eq 'bad2.json:[0-9]+: trunks\[2\]\.trusted: .*cannot be trusted' <<<"$out" || tl_fail "unexpected error: $out"
jq '.trunks[1].numbers = ["49*1"]' "$TL_TMP/controller.json" >"$TL_TMP/bad3.json"
out=$("$TL_CONTROLLER" -n -f "$TL_TMP/bad3.json" 2>&1) && tl_fail "a bad owned number was accepted"
grep -Eq 'bad3.json:[0-9]+: trunks\[1\]\.numbers\[0\]: ' <<<"$out" || tl_fail "unexpected error: $out"
tl_wait_for 5 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
