/*
 * test_proto_jsonfast.c: jsonfast.c (the request fast path) parses a line
 * exactly as json_loadb does, or leaves it to json_loadb: on the requests
 * controllers send, on the edge cases of the grammar, and on 200,000
 * mutations of real requests (bytes flipped, cut, inserted, duplicated).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

/* 1: parsed alike; 0: left to jansson. Fails if they differ. */
static int
agree(const char *s, size_t len)
{
	json_t *fast = proto_json_fast(s, len);
	json_t *slow = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = fast != NULL;

	if (fast != NULL) {
		if (slow == NULL || !json_equal(fast, slow)) {
			fprintf(stderr, "differs: %.*s\n", (int)len, s);
			fail();
		}
	}
	json_decref(fast);
	json_decref(slow);
	return rc;
}

static const char *const requests[] = {
	"{\"id\":1,\"cmd\":\"offer\",\"call_id\":\"ol0-17\",\"from_tag\":\"f17\","
	"\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\","
	"\"address\":\"10.77.9.2\",\"rtp_port\":20034}]}",
	"{\"id\":2,\"cmd\":\"answer\",\"call_id\":\"ol0-17\",\"from_tag\":\"f17\","
	"\"to_tag\":\"t17\",\"media\":[{\"type\":\"audio\",\"address\":"
	"\"10.77.9.3\",\"rtp_port\":40034,\"rtcp_mux\":true,\"direction\":"
	"\"sendonly\"}],\"early\":false}",
	"{\"id\":\"x-3\",\"cmd\":\"delete\",\"call_id\":\"ol0-17\"}",
	"  {\"cmd\":\"ping\"}\r\n",
	"{\"cmd\":\"list\",\"offset\":0,\"limit\":-5,\"x\":null,\"y\":[],\"z\":{}}",
	"{\"a\":[1,[2,[3,{\"b\":[true,false,null]}]]],\"c\":-0,\"d\":"
	"999999999999999999,\"e\":-999999999999999999}",
};

static void
test_plain_requests_take_the_fast_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		assert_int_equal(agree(requests[i], strlen(requests[i])), 1);
}

/* Each of these is jansson's to parse or to refuse. */
static void
test_edge_cases_are_left_to_jansson(void **state)
{
	static const char *const left[] = {
		"", " ", "[1]", "\"s\"", "1", "{", "{\"a\"}", "{\"a\":}",
		"{\"a\":1,}", "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":01}",
		"{\"a\":-}", "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":1E3}",
		"{\"a\":1234567890123456789}", "{\"a\":\"\\n\"}",
		"{\"a\":\"caf\xc3\xa9\"}", "{\"a\":\"\x01\"}", "{\"a\":1,\"a\":2}",
		"{\"a\":tru}", "{\"a\":nul}", "{\"a\":[1 2]}", "{\"a\":[1,]}",
		"{\"a\" 1}", "{'a':1}", "{\"a\":\"x}", "{\"a\":\"\x7f\"}",
		"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
		"{\"a\":1}\0",
	};
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
		len = strlen(left[i]);
		if (i == sizeof(left) / sizeof(left[0]) - 1)
			len++;	/* the NUL after the object */
		assert_int_equal(agree(left[i], len), 0);
	}
	/* empty containers and whitespace of every kind are plain */
	assert_int_equal(agree("\t{ \"a\" : [ ] ,\n\"b\":{ } }\n", 24), 1);
}

static void
test_mutated_requests_parse_alike_or_are_left(void **state)
{
	static const char alphabet[] = "{}[]\",:\\ 0123456789-+.eEtrufalsn\x01"
	    "\x7f\x80\xc3\xa9\n\t";
	char buf[1024];
	size_t fast = 0, total = 0;

	(void)state;
	srandom(16);
	for (int k = 0; k < 200000; k++) {
		const char *r = requests[random() % (sizeof(requests) /
		    sizeof(requests[0]))];
		size_t len = strlen(r), pos;
		int edits = 1 + (int)(random() % 3);

		memcpy(buf, r, len);
		for (int e = 0; e < edits && len > 1; e++) {
			pos = (size_t)random() % len;
			switch (random() % 4) {
			case 0:	/* replace */
				buf[pos] = alphabet[random() %
				    (sizeof(alphabet) - 1)];
				break;
			case 1:	/* cut */
				len = pos;
				break;
			case 2:	/* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos,
					    len - pos);
					buf[pos] = alphabet[random() %
					    (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			default:	/* delete a byte */
				memmove(buf + pos, buf + pos + 1,
				    len - pos - 1);
				len--;
			}
		}
		fast += (size_t)agree(buf, len);
		total++;
	}
	printf("# %zu of %zu mutated lines took the fast path\n", fast, total);
	assert_true(fast > 1000);	/* the fast path was exercised */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_requests_take_the_fast_path),
		cmocka_unit_test(test_edge_cases_are_left_to_jansson),
		cmocka_unit_test(test_mutated_requests_parse_alike_or_are_left),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
