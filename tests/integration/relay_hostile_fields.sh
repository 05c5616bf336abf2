#!/bin/bash
#
# relay_hostile_fields.sh: a hostile control client sends fields that the
# relay must cut or refuse. An unknown command whose name is cut inside a
# multibyte character still gets its error member; an offer whose
# transport is cut to fit (31 bytes) inside a character keeps its media
# entry, and query and the journal (a restart restores the call) agree;
# call ids and tags with control characters are refused with
# invalid_value and never reach the session table; rtp_port 65535 without
# rtcp_port (RTCP would be port 0, "any port" to the kernel's source
# check) and an explicit rtcp_port 0 are invalid_value, rtcp_mux is fine.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

EURO=$(printf '\xe2\x82\xac')
NAME="x$(printf "$EURO%.0s" $(seq 1 40))"	# byte 64 falls inside a €
tl_rpc "{\"id\":1,\"cmd\":\"$NAME\"}"
tl_assert_json "$TL_REPLY" '.ok == false and .error.code == "unknown_command" and (.error.message | length) > 10' \
	"unknown command with a multibyte name cut at 64 bytes: the error member is there"

TRANSPORT="RTP/AVPx$(printf "$EURO%.0s" $(seq 1 10))"	# 31 bytes end inside a €
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"u1\",\"from_tag\":\"f\",\"media\":[{\"type\":\"audio\",\"transport\":\"$TRANSPORT\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}" \
	"offer with a long multibyte transport"
tl_assert_json "$TL_REPLY" '(.media | length) == 1 and (.media[0].transport | startswith("RTP/AVPx"))' \
	"the offer reply keeps its media entry"

for bad in 'a\nb' 'a\u001b[2J' 'tab\there' 'del\u007f'; do
	tl_rpc_err "{\"cmd\":\"offer\",\"call_id\":\"$bad\",\"from_tag\":\"f\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}" \
		invalid_value "call id with a control character ($bad)"
	tl_rpc_err "{\"cmd\":\"offer\",\"call_id\":\"ok\",\"from_tag\":\"$bad\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":4000}]}" \
		invalid_value "from tag with a control character ($bad)"
done
MEDIA='"type":"audio","address":"'$TL_CALLER_IP'"'
tl_rpc_err "{\"cmd\":\"offer\",\"call_id\":\"p1\",\"from_tag\":\"f\",\"media\":[{$MEDIA,\"rtp_port\":65535}]}" \
	invalid_value "rtp_port 65535 without rtcp_port"
tl_rpc_err "{\"cmd\":\"offer\",\"call_id\":\"p2\",\"from_tag\":\"f\",\"media\":[{$MEDIA,\"rtp_port\":4000,\"rtcp_port\":0}]}" \
	invalid_value "rtcp_port 0"
tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"p3\",\"from_tag\":\"f\",\"media\":[{$MEDIA,\"rtp_port\":65535,\"rtcp_mux\":true}]}" \
	"rtp_port 65535 with rtcp_mux"
tl_rpc_ok '{"cmd":"delete","call_id":"p3"}' "delete p3"
OUT=$(tl_ctl --json list) || tl_fail "list"
tl_assert_json "$OUT" '[.calls[].call_id] == ["u1"]' "only the valid call is in the table"

# The journal line of u1 is restored by a relay restarted after a crash.
kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
tl_relayd_start "$TL_TMP/relayd.json"
tl_rpc_ok '{"cmd":"query","call_id":"u1"}' "u1 restored from the journal"
tl_assert_json "$TL_REPLY" '.streams | length == 1' "u1 has its stream after the restart"
tl_relayd_stop
tl_pass
