/*
 * test_protocol.c: the protocol library: framing limits, request
 * validation errors with the field named, reply shapes, field location.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static void
feed(struct proto_framer *f, const char *s)
{
	assert_int_equal(proto_framer_feed(f, s, strlen(s)), 0);
}

static void
test_lines_split_across_feeds_and_crlf(void **state)
{
	struct proto_framer f;
	char *line;
	size_t len;

	proto_framer_init(&f, 64);
	feed(&f, "{\"a\":1}\r\n\n{\"b\"");
	assert_int_equal(proto_framer_next(&f, &line, &len), 1);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(proto_framer_next(&f, &line, &len), 0);
	feed(&f, ":2}\n");
	assert_int_equal(proto_framer_next(&f, &line, &len), 1);
	assert_string_equal(line, "{\"b\":2}");
	assert_int_equal(len, 7);
	assert_int_equal(proto_framer_next(&f, &line, &len), 0);
	proto_framer_free(&f);
}

static void
test_line_at_limit_accepted_over_limit_rejected(void **state)
{
	struct proto_framer f;
	char *buf = malloc(PROTO_MAX_LINE + 2), *line;
	size_t len;

	memset(buf, 'x', PROTO_MAX_LINE + 1);
	buf[PROTO_MAX_LINE - 1] = '\n';		/* exactly the limit */
	proto_framer_init(&f, PROTO_MAX_LINE);
	assert_int_equal(proto_framer_feed(&f, buf, PROTO_MAX_LINE), 0);
	assert_int_equal(proto_framer_next(&f, &line, &len), 1);
	assert_int_equal(len, PROTO_MAX_LINE - 1);
	proto_framer_free(&f);

	buf[PROTO_MAX_LINE - 1] = 'x';
	buf[PROTO_MAX_LINE] = '\n';		/* one byte over */
	proto_framer_init(&f, PROTO_MAX_LINE);
	assert_int_equal(proto_framer_feed(&f, buf, PROTO_MAX_LINE + 1), 0);
	assert_int_equal(proto_framer_next(&f, &line, &len), -EMSGSIZE);
	proto_framer_free(&f);
	free(buf);
}

/* Parse as the relay; return the error code (PROTO_OK on success). */
static enum proto_err
parse(const char *line, char *msg, size_t msglen, json_t **idp)
{
	struct proto_error err = { 0 };
	const char *cmd;
	json_t *id, *req;

	req = proto_parse_request(line, strlen(line), PROTO_ROLE_RELAY, &id,
	    &cmd, &err);
	if (msg != NULL)
		snprintf(msg, msglen, "%s", err.message);
	if (idp != NULL)
		*idp = id;
	else
		json_decref(id);
	if (req == NULL)
		return err.code;
	json_decref(req);
	return PROTO_OK;
}

static void
test_validation_errors_name_the_field(void **state)
{
	char msg[256];

	assert_int_equal(parse("{not json", NULL, 0, NULL), PROTO_E_PARSE);
	assert_int_equal(parse("[1,2]", NULL, 0, NULL), PROTO_E_PARSE);
	assert_int_equal(parse("{\"id\":1}", NULL, 0, NULL), PROTO_E_INVALID);
	assert_int_equal(parse("{\"id\":[1],\"cmd\":\"ping\"}", NULL, 0, NULL),
	    PROTO_E_INVALID);
	assert_int_equal(parse("{\"cmd\":\"fly\"}", NULL, 0, NULL),
	    PROTO_E_UNKNOWN_CMD);
	assert_int_equal(parse("{\"cmd\":\"status\"}", NULL, 0, NULL),
	    PROTO_E_UNKNOWN_CMD);	/* a controller command */
	assert_int_equal(parse("{\"cmd\":\"query\"}", msg, sizeof(msg), NULL),
	    PROTO_E_MISSING);
	assert_non_null(strstr(msg, "call_id"));
	assert_int_equal(parse("{\"cmd\":\"ping\",\"bogus\":1}", msg,
	    sizeof(msg), NULL), PROTO_E_UNKNOWN_FIELD);
	assert_non_null(strstr(msg, "'bogus'"));
	assert_int_equal(parse("{\"cmd\":\"offer\",\"call_id\":\"c\","
	    "\"from_tag\":\"f\",\"media\":[{\"type\":\"audio\",\"address\":"
	    "\"1.2.3.4\",\"rtp_port\":\"4000\"}]}", msg, sizeof(msg), NULL),
	    PROTO_E_TYPE);
	assert_non_null(strstr(msg, "media[0].rtp_port"));
	assert_int_equal(parse("{\"cmd\":\"offer\",\"call_id\":\"c\","
	    "\"from_tag\":\"f\",\"media\":[{\"type\":\"audio\",\"address\":"
	    "\"1.2.3.4\",\"rtp_port\":70000}]}", NULL, 0, NULL), PROTO_E_VALUE);
	assert_int_equal(parse("{\"cmd\":\"offer\",\"call_id\":\"c\","
	    "\"from_tag\":\"f\",\"media\":[{\"type\":\"audio\",\"address\":"
	    "\"1.2.3.4\",\"rtp_port\":4000,\"extra\":1}]}", msg, sizeof(msg),
	    NULL), PROTO_E_UNKNOWN_FIELD);
	assert_non_null(strstr(msg, "media[0].extra"));
	assert_int_equal(parse("{\"cmd\":\"offer\",\"call_id\":\"c\","
	    "\"from_tag\":\"f\",\"media\":[]}", NULL, 0, NULL), PROTO_E_VALUE);
	assert_int_equal(parse("{\"cmd\":\"ping\",\"cmd\":\"ping\"}", NULL, 0,
	    NULL), PROTO_E_PARSE);	/* duplicate keys */
}

/* The whole message, path included, as clients and logs see it. */
static void
test_validation_error_paths_are_exact(void **state)
{
	static const struct {
		const char *req, *msg;
	} cases[] = {
		{ "{\"cmd\":\"query\"}",
		  "query: missing required field 'call_id'" },
		{ "{\"cmd\":\"offer\",\"call_id\":\"c\",\"from_tag\":\"f\","
		  "\"media\":[{\"type\":\"audio\",\"address\":\"1.2.3.4\","
		  "\"rtp_port\":4},{\"type\":\"audio\",\"rtp_port\":4}]}",
		  "offer: missing required field 'media[1].address'" },
		{ "{\"cmd\":\"offer\",\"call_id\":\"c\",\"from_tag\":\"f\","
		  "\"media\":[5]}",
		  "offer: media[0]: expected object, got integer" },
		{ "{\"cmd\":\"offer\",\"call_id\":\"c\",\"from_tag\":\"f\","
		  "\"media\":[{\"type\":\"audio\",\"address\":\"1.2.3.4\","
		  "\"rtp_port\":4}],\"interfaces\":[\"a\",7]}",
		  "offer: interfaces[1]: expected string, got integer" },
		{ "{\"cmd\":\"offer\",\"call_id\":\"c\\u0001\",\"from_tag\":"
		  "\"f\",\"media\":[{\"type\":\"audio\",\"address\":\"1.2.3.4\","
		  "\"rtp_port\":4}]}",
		  "offer: call_id: control character 0x01 at byte 1" },
		{ "{\"cmd\":\"offer\",\"call_id\":\"c\",\"from_tag\":\"f\","
		  "\"media\":[{\"type\":\"audio\",\"address\":\"1.2.3.4\","
		  "\"rtp_port\":4,\"direction\":\"up\"}]}",
		  "offer: media[0].direction: 'up' is not an allowed value" },
		{ "{\"cmd\":\"offer\",\"call_id\":\"c\",\"from_tag\":\"f\","
		  "\"media\":[{\"type\":\"audio\",\"address\":\"1.2.3.4\","
		  "\"rtp_port\":4,\"ice_ufrag\":\"ab\"}]}",
		  "offer: media[0].ice_ufrag: length must be 4..256" },
		{ "{\"cmd\":\"subscribe\",\"events\":[\"timeout\",\"x\"]}",
		  "subscribe: events[1]: 'x' is not an allowed value" },
		{ "{\"cmd\":\"list\",\"limit\":0}",
		  "list: limit: must be 1..2000" },
	};
	char msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(parse(cases[i].req, msg, sizeof(msg), NULL) != 0);
		assert_string_equal(msg, cases[i].msg);
	}
}

/* addr_fmt prints without printf now: the same text as inet_ntop. */
static void
test_addr_fmt_ipv4_and_ipv6(void **state)
{
	struct sockaddr_storage ss;
	char buf[64], small[8];

	(void)state;
	assert_int_equal(addr_parse("0.0.0.0", 0, &ss), 0);
	assert_string_equal(addr_fmt(&ss, buf, sizeof(buf)), "0.0.0.0:0");
	assert_int_equal(addr_parse("255.255.255.255", 65535, &ss), 0);
	assert_string_equal(addr_fmt(&ss, buf, sizeof(buf)),
	    "255.255.255.255:65535");
	assert_int_equal(addr_parse("10.1.20.3", 7, &ss), 0);
	assert_string_equal(addr_fmt(&ss, buf, sizeof(buf)), "10.1.20.3:7");
	/* cut like snprintf */
	assert_string_equal(addr_fmt(&ss, small, sizeof(small)), "10.1.20");
	assert_int_equal(addr_parse("2001:db8::1", 5060, &ss), 0);
	assert_string_equal(addr_fmt(&ss, buf, sizeof(buf)),
	    "[2001:db8::1]:5060");
	ss.ss_family = AF_UNSPEC;
	assert_string_equal(addr_fmt(&ss, buf, sizeof(buf)), "-");
}

static void
test_valid_offer_accepted(void **state)
{
	assert_int_equal(parse("{\"id\":\"a\",\"cmd\":\"offer\",\"call_id\":"
	    "\"c\",\"from_tag\":\"f\",\"interfaces\":[\"x\",\"y\"],\"media\":"
	    "[{\"type\":\"audio\",\"address\":\"1.2.3.4\",\"rtp_port\":4000,"
	    "\"rtcp_mux\":true,\"direction\":\"sendonly\"}]}", NULL, 0, NULL),
	    PROTO_OK);
}

static void
test_error_reply_carries_id_and_code(void **state)
{
	struct proto_error err;
	json_t *id, *reply;
	size_t len;
	char *line;

	assert_int_equal(parse("{\"id\":7,\"cmd\":\"query\",\"call_id\":5}",
	    NULL, 0, &id), PROTO_E_TYPE);
	proto_errorf(&err, PROTO_E_TYPE, "query: call_id: expected string");
	reply = proto_reply_error(id, &err);
	line = proto_encode(reply, &len);
	assert_string_equal(line, "{\"id\":7,\"ok\":false,\"error\":{\"code\":"
	    "\"wrong_type\",\"message\":\"query: call_id: expected string\"}}\n");
	assert_int_equal(len, strlen(line));
	free(line);
	json_decref(reply);
	json_decref(id);

	reply = proto_reply_ok(NULL);
	line = proto_encode(reply, &len);
	assert_string_equal(line, "{\"id\":null,\"ok\":true}\n");
	free(line);
	json_decref(reply);
}

static void
test_locate_finds_nested_fields_lines(void **state)
{
	const char *text = "{\n  \"ports\": {\n    \"min\": 1,\n    \"max\": 2\n"
	    "  },\n  \"interfaces\": [\n    {\"bind\": \"a\"},\n    {\n"
	    "      \"bind\": \"b\"\n    }\n  ]\n}\n";

	assert_int_equal(proto_json_locate(text, strlen(text), "ports.min"), 3);
	assert_int_equal(proto_json_locate(text, strlen(text), "ports.max"), 4);
	assert_int_equal(proto_json_locate(text, strlen(text),
	    "interfaces[0].bind"), 7);
	assert_int_equal(proto_json_locate(text, strlen(text),
	    "interfaces[1].bind"), 9);
	assert_int_equal(proto_json_locate(text, strlen(text), "nope"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_split_across_feeds_and_crlf),
		cmocka_unit_test(test_line_at_limit_accepted_over_limit_rejected),
		cmocka_unit_test(test_validation_errors_name_the_field),
		cmocka_unit_test(test_validation_error_paths_are_exact),
		cmocka_unit_test(test_addr_fmt_ipv4_and_ipv6),
		cmocka_unit_test(test_valid_offer_accepted),
		cmocka_unit_test(test_error_reply_carries_id_and_code),
		cmocka_unit_test(test_locate_finds_nested_fields_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
