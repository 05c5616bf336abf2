/*
 * test_proto_conn.c: a connection's byte plumbing (proto/conn.c): the
 * outgoing buffer's cap, flushing until the socket would block and then
 * the rest, reading into the framer, end of stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto.h"

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
}

static void
test_append_refuses_over_cap_and_keeps_queue(void **state)
{
	struct proto_outbuf o;

	proto_outbuf_init(&o, 40);
	assert_int_equal(proto_outbuf_append(&o, json_pack("{s:i}", "a", 1)), 0);
	assert_int_equal(o.len, strlen("{\"a\":1}\n"));
	assert_int_equal(proto_outbuf_append(&o, json_pack("{s:s}", "b",
	    "0123456789012345678901234567890123456789")), -EMSGSIZE);
	assert_int_equal(o.len, strlen("{\"a\":1}\n"));
	assert_int_equal(proto_outbuf_append(&o, NULL), -EINVAL);
	assert_memory_equal(o.buf, "{\"a\":1}\n", o.len);
	proto_outbuf_free(&o);
	assert_null(o.buf);
	assert_int_equal(o.max, 40);
}

static void
test_flush_until_full_then_rest_then_lines_read(void **state)
{
	struct proto_outbuf o;
	struct proto_framer f;
	int sv[2], rc, more, lines = 0;
	char *line;
	size_t len, total;

	pair(sv);
	proto_outbuf_init(&o, 64u << 20);
	proto_framer_init(&f, PROTO_MAX_LINE);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(proto_outbuf_append(&o, json_pack("{s:i,s:s}",
		    "n", i, "pad", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")), 0);
	total = o.len;
	assert_int_equal(proto_outbuf_flush(&o, sv[0]), 1);
	assert_true(o.len > 0 && o.len < total);	/* the socket took part */
	do {
		more = proto_outbuf_flush(&o, sv[0]);
		assert_true(more >= 0);
		while ((rc = proto_framer_recv(&f, sv[1])) == 1)
			while (proto_framer_next(&f, &line, &len) == 1)
				lines++;
		assert_int_equal(rc, 0);
	} while (more == 1);
	assert_int_equal(more, 0);
	assert_int_equal(lines, 20000);
	close(sv[0]);
	assert_int_equal(proto_framer_recv(&f, sv[1]), -EPIPE);
	close(sv[1]);
	proto_framer_free(&f);
	proto_outbuf_free(&o);
}

static void
test_flush_to_closed_peer_fails(void **state)
{
	struct proto_outbuf o;
	int sv[2];

	pair(sv);
	close(sv[1]);
	proto_outbuf_init(&o, 1024);
	assert_int_equal(proto_outbuf_append(&o, proto_event("x")), 0);
	assert_int_equal(proto_outbuf_flush(&o, sv[0]), -EPIPE);
	close(sv[0]);
	proto_outbuf_free(&o);
}

static void
test_too_long_reply_text(void **state)
{
	json_t *r = proto_reply_too_long();
	json_t *e = json_object_get(r, "error");

	assert_string_equal(json_string_value(json_object_get(e, "code")),
	    "line_too_long");
	assert_string_equal(json_string_value(json_object_get(e, "message")),
	    "line longer than 65536 bytes; closing the connection");
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_refuses_over_cap_and_keeps_queue),
		cmocka_unit_test(test_flush_until_full_then_rest_then_lines_read),
		cmocka_unit_test(test_flush_to_closed_peer_fails),
		cmocka_unit_test(test_too_long_reply_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
