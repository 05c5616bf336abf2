/*
 * test_relay_ctlplane.c: the small pieces behind the control-plane fixes:
 * UTF-8-safe truncation (proto/utf8.c) and the error replies built on it,
 * identifiers with control characters refused, moving queued event lines
 * into a connection's output (proto/conn.c), and the ephemeral-range
 * check of the relay's ports (relayd/net.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "relayd.h"

/* "é" is 2 bytes, "€" 3, "𝄞" 4. */
static void
test_utf8_prefix_stops_on_boundaries(void **state)
{
	const char *s = "ab\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e";	/* ab é € 𝄞 */

	assert_int_equal(proto_utf8_prefix(s, 2), 2);
	assert_int_equal(proto_utf8_prefix(s, 3), 2);	/* inside é */
	assert_int_equal(proto_utf8_prefix(s, 4), 4);
	assert_int_equal(proto_utf8_prefix(s, 5), 4);	/* inside € */
	assert_int_equal(proto_utf8_prefix(s, 6), 4);
	assert_int_equal(proto_utf8_prefix(s, 7), 7);
	for (size_t n = 8; n < 11; n++)
		assert_int_equal(proto_utf8_prefix(s, n), 7);	/* inside 𝄞 */
	assert_int_equal(proto_utf8_prefix(s, 11), 11);
	assert_int_equal(proto_utf8_prefix(s, 64), 11);
	assert_int_equal(proto_utf8_prefix("", 64), 0);
}

static void
test_utf8_trim_cuts_incomplete_tail(void **state)
{
	char a[] = "x\xe2\x82";		/* € cut after 2 of 3 bytes */
	char b[] = "x\xe2\x82\xac";	/* complete */
	char c[] = "x\xf0\x9d\x84";	/* 𝄞 cut after 3 of 4 */
	char d[] = "plain";
	char e[] = "\xc3";

	proto_utf8_trim(a);
	proto_utf8_trim(b);
	proto_utf8_trim(c);
	proto_utf8_trim(d);
	proto_utf8_trim(e);
	assert_string_equal(a, "x");
	assert_string_equal(b, "x\xe2\x82\xac");
	assert_string_equal(c, "x");
	assert_string_equal(d, "plain");
	assert_string_equal(e, "");
}

/* Every cut of a long multibyte text still makes a valid JSON string. */
static void
test_error_reply_keeps_error_member_whatever_the_cut(void **state)
{
	char text[600];
	size_t n = 0;

	while (n + 3 < sizeof(text) - 1) {
		memcpy(text + n, "\xe2\x82\xac", 3);
		n += 3;
	}
	text[n] = '\0';
	for (int shift = 0; shift < 3; shift++) {
		struct proto_error err;
		json_t *r;

		/* the prefix moves the cut through all positions of a € */
		proto_errorf(&err, PROTO_E_VALUE, "%.*s%s", shift, "ab", text);
		r = proto_reply_error(NULL, &err);
		assert_non_null(json_object_get(r, "error"));
		assert_non_null(json_object_get(json_object_get(r, "error"),
		    "message"));
		json_decref(r);
		/* a message filled by hand, cut at the buffer's end */
		memset(&err, 0, sizeof(err));
		memcpy(err.message, "ab", (size_t)shift);
		memcpy(err.message + shift, text,
		    sizeof(err.message) - 1 - (size_t)shift);
		r = proto_reply_error(NULL, &err);
		assert_non_null(json_object_get(r, "error"));
		json_decref(r);
	}
}

static void
test_unknown_command_name_cut_stays_valid(void **state)
{
	char line[512], name[300];
	struct proto_error err;
	const char *cmd;
	json_t *id, *req, *r, *j;
	size_t n = 0;

	name[n++] = 'x';	/* 64 bytes lands inside a € */
	while (n + 3 < sizeof(name) - 1) {
		memcpy(name + n, "\xe2\x82\xac", 3);
		n += 3;
	}
	name[n] = '\0';
	snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", name);
	req = proto_parse_request(line, strlen(line), PROTO_ROLE_RELAY, &id,
	    &cmd, &err);
	assert_null(req);
	assert_int_equal(err.code, PROTO_E_UNKNOWN_CMD);
	r = proto_reply_error(id, &err);
	j = json_string(err.message);	/* NULL if not valid UTF-8 */
	assert_non_null(j);
	json_decref(j);
	assert_non_null(json_object_get(r, "error"));
	json_decref(r);
	json_decref(id);
}

static void
test_control_characters_in_ids_refused(void **state)
{
	static const char *const bad[] = {
		"{\"cmd\":\"query\",\"call_id\":\"a\\nb\"}",
		"{\"cmd\":\"query\",\"call_id\":\"a\\u001b[31m\"}",
		"{\"cmd\":\"delete\",\"call_id\":\"c\",\"from_tag\":\"t\\u007f\"}",
	};
	struct proto_error err;
	const char *cmd;
	json_t *id, *req;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req = proto_parse_request(bad[i], strlen(bad[i]),
		    PROTO_ROLE_RELAY, &id, &cmd, &err);
		assert_null(req);
		assert_int_equal(err.code, PROTO_E_VALUE);
		assert_non_null(strstr(err.message, "control character"));
		json_decref(id);
	}
	req = proto_parse_request("{\"cmd\":\"query\",\"call_id\":\"ok\xc3\xa9\"}",
	    strlen("{\"cmd\":\"query\",\"call_id\":\"ok\xc3\xa9\"}"),
	    PROTO_ROLE_RELAY, &id, &cmd, &err);
	assert_non_null(req);
	json_decref(req);
	json_decref(id);
}

static void
test_move_lines_whole_lines_under_limit(void **state)
{
	struct proto_outbuf out, q;

	proto_outbuf_init(&out, 100);
	proto_outbuf_init(&q, 1000);
	assert_int_equal(proto_outbuf_append_raw(&q, "aaaa\nbbbb\ncccc\n", 15), 0);
	/* limit 12: two lines (10 bytes) fit, the third would pass it */
	assert_int_equal(proto_outbuf_move_lines(&out, &q, 12), 10);
	assert_int_equal(out.len, 10);
	assert_memory_equal(out.buf, "aaaa\nbbbb\n", 10);
	assert_int_equal(q.len, 5);
	assert_int_equal(proto_outbuf_move_lines(&out, &q, 12), 0);
	out.len = 0;	/* "sent" */
	assert_int_equal(proto_outbuf_move_lines(&out, &q, 3), 5);	/* alone */
	assert_int_equal(q.len, 0);
	proto_outbuf_free(&out);
	proto_outbuf_free(&q);
}

static void
test_ephemeral_overlap_counts_unreserved(void **state)
{
	unsigned lo, hi;

	/* the old default against Linux's default range: 7232 exposed */
	assert_int_equal(ports_ephemeral_unreserved(30000, 39999,
	    "32768\t60999\n", "\n", &lo, &hi), 7232);
	assert_int_equal(lo, 32768);
	assert_int_equal(hi, 39999);
	/* reserved entirely */
	assert_int_equal(ports_ephemeral_unreserved(30000, 39999,
	    "32768\t60999\n", "30000-39999\n", &lo, &hi), 0);
	/* partly, with single ports and other ranges around */
	assert_int_equal(ports_ephemeral_unreserved(30000, 39999,
	    "32768\t60999\n", "5060,32768-35000,39999,50000-50010\n", &lo,
	    &hi), 7232 - 2233 - 1);
	/* the new default is outside */
	assert_int_equal(ports_ephemeral_unreserved(20000, 29999,
	    "32768\t60999\n", "", &lo, &hi), 0);
	assert_int_equal(ports_ephemeral_unreserved(20000, 29999, "junk", "",
	    &lo, &hi), -EINVAL);
	assert_int_equal(ports_ephemeral_unreserved(30000, 39999,
	    "32768 60999", "1-x", &lo, &hi), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_prefix_stops_on_boundaries),
		cmocka_unit_test(test_utf8_trim_cuts_incomplete_tail),
		cmocka_unit_test(test_error_reply_keeps_error_member_whatever_the_cut),
		cmocka_unit_test(test_unknown_command_name_cut_stays_valid),
		cmocka_unit_test(test_control_characters_in_ids_refused),
		cmocka_unit_test(test_move_lines_whole_lines_under_limit),
		cmocka_unit_test(test_ephemeral_overlap_counts_unreserved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
