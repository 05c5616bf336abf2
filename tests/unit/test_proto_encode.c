/*
 * test_proto_encode.c: proto_encode (proto/encode.c, written by hand for
 * speed) gives the same text as json_dumps(JSON_COMPACT) with a newline,
 * for the kinds of values messages hold: escapes, UTF-8, integer limits,
 * reals, nesting, empty containers; and refuses what json_dumps refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static void
same_as_jansson(json_t *msg)
{
	char *want = json_dumps(msg, JSON_COMPACT), *got;
	size_t len = 0;

	assert_non_null(want);
	got = proto_encode(msg, &len);
	assert_non_null(got);
	assert_int_equal(len, strlen(want) + 1);
	assert_int_equal(got[len - 1], '\n');
	got[len - 1] = '\0';
	assert_string_equal(got, want);
	free(got);
	free(want);
	json_decref(msg);
}

static void
test_encode_matches_jansson_for_replies(void **state)
{
	same_as_jansson(json_pack("{s:i, s:b, s:s, s:[{s:s, s:i, s:i, s:b}]}",
	    "id", 7, "ok", 1, "call_id", "abc@host", "media", "type", "audio",
	    "rtp_port", 30000, "rtcp_port", 30001, "rtcp_mux", 0));
	same_as_jansson(json_pack("{s:n, s:b, s:{s:s, s:s}}", "id", "ok", 0,
	    "error", "code", "invalid_value", "message", "offer: 'x' \"y\""));
	same_as_jansson(json_pack("{s:s, s:o, s:[], s:{}}", "id", "a string id",
	    "nested", json_pack("[[[{s:[i]}]]]", "k", -1), "empty_a",
	    "empty_o"));
}

static void
test_encode_escapes_like_jansson(void **state)
{
	same_as_jansson(json_pack("{s:s}", "s",
	    "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f "
	    "ctl\x01\x1f del\x7f"));
	same_as_jansson(json_pack("{s:s}", "utf8", "\xc3\xa9t\xc3\xa9 "
	    "\xe2\x80\xa8 \xf0\x9f\x98\x80"));
	same_as_jansson(json_pack("{s:s}", "k\"ey\n", "v"));
	same_as_jansson(json_pack("{s:s%}", "nul", "a\0b", (size_t)3));
}

static void
test_encode_numbers_like_jansson(void **state)
{
	same_as_jansson(json_pack("{s:I, s:I, s:I, s:I}", "min",
	    (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX, "zero",
	    (json_int_t)0, "neg", (json_int_t)-42));
	same_as_jansson(json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
	    "a", 0.0, "b", 1.5, "c", 3.0, "d", 1e20, "e", 1.25e-7,
	    "f", -123456.789, "g", 1e300));
}

static void
test_encode_refuses_what_jansson_refuses(void **state)
{
	size_t len;
	json_t *s = json_string("bare");

	assert_null(proto_encode(NULL, &len));
	assert_null(proto_encode(s, &len));
	json_decref(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_jansson_for_replies),
		cmocka_unit_test(test_encode_escapes_like_jansson),
		cmocka_unit_test(test_encode_numbers_like_jansson),
		cmocka_unit_test(test_encode_refuses_what_jansson_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
