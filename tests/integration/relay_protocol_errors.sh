#!/bin/bash
#
# relay_protocol_errors.sh: every malformed or invalid request gets an
# ok:false reply with the error code PROTOCOL.md gives it, ids are echoed,
# the line limit holds at its exact boundary, and the daemon keeps
# answering after each.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

tl_init
tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"

still_alive() {
	tl_rpc_ok '{"cmd":"ping"}' "ping after $1"
	tl_assert_json "$TL_REPLY" '.pong == true' "ping after $1"
}

# expect_err JSON CODE WHAT
expect_err() {
	tl_rpc_err "$1" "$2" "$3"
	still_alive "$3"
}

tl_rpc_ok '{"cmd":"hello","client":"relay_protocol_errors"}' "hello"
tl_assert_json "$TL_REPLY" '.protocol == 1 and .server == "trunkline-relayd" and (.version | type == "string") and (.features | type == "array") and (.backend | type == "string")' \
	"hello reply"
tl_rpc_ok '{"cmd":"hello","protocol":1}' "hello protocol 1"

# ids are copied to the reply, null when absent
tl_rpc_ok '{"id":"abc","cmd":"ping"}' "ping with a string id"
tl_assert_json "$TL_REPLY" '.id == "abc" and .pong == true' "string id echoed"
tl_rpc_ok '{"id":7,"cmd":"ping"}' "ping with an integer id"
tl_assert_json "$TL_REPLY" '.id == 7' "integer id echoed"
tl_rpc_ok '{"cmd":"ping"}' "ping without id"
tl_assert_json "$TL_REPLY" 'has("id") and .id == null' "no id: \"id\": null"

expect_err 'this is not json' parse_error "malformed JSON"
expect_err '{"cmd":"ping"' parse_error "truncated JSON"
expect_err '{"cmd":"ping",}' parse_error "trailing comma"
expect_err '[1,2,3]' parse_error "a JSON array, not an object"
expect_err '"ping"' parse_error "a JSON string, not an object"
expect_err '{"id":1}' invalid_request "no cmd"
expect_err '{"cmd":5}' invalid_request "cmd not a string"
expect_err '{"id":[1],"cmd":"ping"}' invalid_request "id of a wrong type"
expect_err '{"cmd":"frobnicate"}' unknown_command "unknown command"
tl_rpc_err '{"id":9,"cmd":"frobnicate"}' unknown_command "unknown command with an id"
tl_assert_json "$TL_REPLY" '.id == 9' "error replies echo the id"
expect_err '{"cmd":"hangup","call_id":"x"}' unknown_command "a controller command sent to the relay"
expect_err '{"cmd":"query","call_id":42}' wrong_type "call_id of the wrong type"
expect_err '{"cmd":"offer","call_id":"c","from_tag":"f","media":{"type":"audio"}}' wrong_type "media not an array"
expect_err '{"cmd":"offer","call_id":"c","from_tag":"f","media":[{"type":"audio","address":"10.0.1.2","rtp_port":"4000"}]}' \
	wrong_type "rtp_port given as a string"
expect_err '{"cmd":"query"}' missing_field "query without call_id"
expect_err '{"cmd":"offer","call_id":"c","media":[{"type":"audio","address":"10.0.1.2","rtp_port":4000}]}' \
	missing_field "offer without from_tag"
expect_err '{"cmd":"ping","bogus":1}' unknown_field "an unknown field"
expect_err '{"cmd":"hello","protocol":99}' invalid_value "hello with a protocol the relay does not speak"
expect_err '{"cmd":"offer","call_id":"c","from_tag":"f","media":[{"type":"audio","address":"10.0.1.2","rtp_port":70000}]}' \
	invalid_value "rtp_port out of range"
expect_err '{"cmd":"offer","call_id":"c","from_tag":"f","media":[{"type":"hologram","address":"10.0.1.2","rtp_port":4000}]}' \
	invalid_value "media type not in the set"
LONG_ID=$(printf 'x%.0s' {1..256})
expect_err "{\"cmd\":\"query\",\"call_id\":\"$LONG_ID\"}" invalid_value "call_id longer than 255 bytes"
MEDIA17=$(jq -nc '[range(17) | {type: "audio", address: "10.0.1.2", rtp_port: (4000 + 2 * .)}]')
expect_err "{\"cmd\":\"offer\",\"call_id\":\"c\",\"from_tag\":\"f\",\"media\":$MEDIA17}" invalid_value "17 media entries"
expect_err '{"cmd":"query","call_id":"no-such-call"}' not_found "query of an unknown call"
expect_err '{"cmd":"delete","call_id":"no-such-call"}' not_found "delete of an unknown call"
# The failed offers left nothing behind.
tl_rpc_ok '{"cmd":"stats"}' "stats"
tl_assert_json "$TL_REPLY" '.sessions == 0 and .ports_free == .ports_total' "failed requests created nothing"

# The line limit: 65536 bytes including the newline. Whitespace pads a
# valid request to the exact size (trunklinectl adds the newline).
pad_ping() {
	local n=$(($1 - 14)) # {"cmd":"ping"} is 14 bytes
	printf '{"cmd":"ping"%*s}' "$((n))" ''
}
LINE=$(pad_ping 65535)
[ ${#LINE} = 65535 ] || tl_fail "test bug: padded line is ${#LINE} bytes"
tl_rpc_ok "$LINE" "a request of exactly 65536 bytes with its newline"
tl_assert_json "$TL_REPLY" '.pong == true' "the longest allowed line is served"
LINE=$(pad_ping 65536)
tl_rpc_err "$LINE" line_too_long "a line of 65537 bytes"
tl_assert_json "$TL_REPLY" 'has("id") and .id == null' "line_too_long carries \"id\": null"
still_alive "a line one byte too long"
LINE=$(pad_ping 100000)
tl_rpc_err "$LINE" line_too_long "a line of 100001 bytes"
still_alive "an oversized line"

tl_relayd_stop
tl_pass
