/*
 * test_relay_ctlplane.c: the small pieces behind the control-plane fixes:
 * UTF-8-safe truncation (proto/utf8.c) and the error replies built on it,
 * identifiers with control characters refused, moving queued event lines
 * into a connection's output (proto/conn.c), the ephemeral-range
 * check of the relay's ports (relayd/net.c), the keyed session hash
 * (crafted colliding call ids), and a leg whose epoll registration fails
 * during restore (its port returned once, no descriptor left open).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <cmocka.h>

#include "relayd.h"
#include "relay_fixture.h"

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

/* The reference vector of the SipHash paper (key 00..0f, 15 bytes). */
static void
test_siphash_reference_vector(void **state)
{
	uint8_t k[16], m[15];
	uint64_t key[2] = { 0, 0 };

	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		m[i] = (uint8_t)i;
	for (int i = 7; i >= 0; i--) {
		key[0] = key[0] << 8 | k[i];
		key[1] = key[1] << 8 | k[8 + i];
	}
	assert_true(siphash24(m, sizeof(m), key) == 0xa129ca6149be45e5ull);
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s != '\0') {
		h ^= (uint8_t)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

static size_t
longest_chain(const struct session_table *t)
{
	size_t best = 0;

	for (size_t b = 0; b < t->nbuckets; b++) {
		size_t n = 0;
		for (const struct session *s = t->buckets[b]; s; s = s->hnext)
			n++;
		if (n > best)
			best = n;
	}
	return best;
}

static struct relayd *
relay_new(uint16_t pmin, uint16_t pmax, size_t nbuckets)
{
	return relay_fixture_new(&(struct relay_fixture){ .port_min = pmin,
	    .port_max = pmax, .buckets = nbuckets, .backend = "userspace" });
}

/* 64 call ids that share one FNV-1a bucket spread out under the key. */
static void
test_crafted_call_ids_do_not_share_a_chain(void **state)
{
	struct relayd *rd = relay_new(41200, 41207, 4096);
	char id[32];
	int found = 0;

	for (unsigned i = 0; found < 64 && i < 4000000; i++) {
		snprintf(id, sizeof(id), "c%u@pbx", i);
		if (fnv1a(id) % 4096 != 0)
			continue;
		assert_non_null(session_create(rd, id, "ft", 0, 0));
		found++;
	}
	assert_int_equal(found, 64);
	assert_int_equal(rd->sessions.nbuckets, 4096);
	/* unkeyed FNV: one chain of 64; keyed: a handful at most */
	assert_true(longest_chain(&rd->sessions) <= 6);
	relay_fixture_free(rd);
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
test_restore_epoll_failure_returns_port_once_and_closes_fds(void **state)
{
	struct relayd *rd = relay_new(41300, 41307, 64);	/* 4 pairs */
	uint16_t ports[1][2];
	struct session *busy, *s;
	struct proto_error err;
	int epfd = rd->epfd, before, rc;
	uint16_t got[4];
	size_t n = 0;

	/* a call holds two pairs, so the pool is not full (a full ring
	 * would hide a double release) */
	busy = session_create(rd, "busy", "ft", 0, 0);
	assert_non_null(busy);
	assert_int_equal(session_add_streams(rd, busy, 1, &err), 0);
	assert_int_equal(ports_available(&rd->pools[0]), 2);
	session_destroy(rd, busy);
	graveyard_empty(rd);
	busy = session_create(rd, "busy2", "ft", 0, 0);
	assert_int_equal(session_add_streams(rd, busy, 1, &err), 0);
	assert_int_equal(ports_available(&rd->pools[0]), 2);
	/* the two pairs busy2 does not hold are the ones to restore */
	for (uint16_t p = 41300; p < 41308 && n < 2; p += 2)
		if (p != busy->streams[0]->leg[SIDE_A].port &&
		    p != busy->streams[0]->leg[SIDE_B].port)
			ports[0][n++] = p;
	assert_int_equal(n, 2);
	n = 0;

	s = session_create(rd, "restored", "ft", 0, 0);
	assert_non_null(s);
	before = open_fds();
	/* restore takes the ports and binds nothing (legsock.c: a stream
	 * the kernel still carries needs no socket) */
	rc = session_restore_streams(rd, s, 1,
	    (const uint16_t (*)[2])ports);
	assert_int_equal(rc, 0);
	assert_int_equal(open_fds(), before);
	assert_int_equal(ports_available(&rd->pools[0]), 0);
	/* epoll_ctl on a descriptor that is not an epoll one fails */
	rd->epfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(rd->epfd >= 0);
	before = open_fds();
	rc = stream_sockets_open(rd, s->streams[0]);
	assert_true(rc < 0);
	assert_int_equal(open_fds(), before);	/* RTP and RTCP closed */
	assert_int_equal(rd->totals.rebind_failures, 4);
	assert_true(s->streams[0]->leg[SIDE_A].bind_err < 0);
	/* the ports stay the legs' until the call ends: nothing is free */
	assert_int_equal(ports_available(&rd->pools[0]), 0);
	close(rd->epfd);
	rd->epfd = epfd;
	session_destroy(rd, s);
	graveyard_empty(rd);
	/* the pairs that were free before are free again, each once */
	while (n < 4 && ports_take(&rd->pools[0], &got[n]) == 0)
		n++;
	assert_int_equal(n, 2);
	assert_true(got[0] != got[1]);
	ports_release(&rd->pools[0], got[0]);
	ports_release(&rd->pools[0], got[1]);
	relay_fixture_free(rd);
}

/*
 * `list` with 100,000 sessions (no streams: descriptors are not the
 * point here) and the longest ids: every page fits a connection's output
 * cap with room to spare, and the pages cover every session once.
 */
static void
test_list_pages_cover_100000_sessions(void **state)
{
	struct relayd *rd = relay_new(41400, 41407, 1024);
	char id[PROTO_MAX_STRING + 1], tag[PROTO_MAX_STRING + 1];
	size_t seen = 0, biggest = 0, pages = 0, len;
	json_int_t offset = 0;
	const int n = 100000;

	memset(tag, 't', PROTO_MAX_STRING);
	tag[PROTO_MAX_STRING] = '\0';
	for (int i = 0; i < n; i++) {
		struct session *s;

		memset(id, 'c', PROTO_MAX_STRING);
		id[PROTO_MAX_STRING] = '\0';
		snprintf(id, sizeof(id), "%07d", i);
		id[7] = 'c';	/* keep the padding after the number */
		s = session_create(rd, id, tag, 0, 0);
		assert_non_null(s);
		assert_int_equal(session_set_str(&s->tag[SIDE_B], tag), 0);
	}
	for (;;) {
		json_t *req = json_pack("{s:s, s:I}", "cmd", "list", "offset",
		    offset);
		json_t *r = command_run(rd, NULL, "list", req, NULL);
		char *line = proto_encode(r, &len);

		assert_non_null(line);
		free(line);
		if (len > biggest)
			biggest = len;
		assert_true(json_is_true(json_object_get(r, "ok")));
		assert_int_equal(json_integer_value(json_object_get(r, "total")), n);
		seen += json_array_size(json_object_get(r, "calls"));
		pages++;
		json_t *next = json_object_get(r, "next");
		if (next == NULL) {
			json_decref(r);
			json_decref(req);
			break;
		}
		assert_true(json_integer_value(next) > offset);
		offset = json_integer_value(next);
		json_decref(r);
		json_decref(req);
		assert_true(pages < 1000);
	}
	assert_int_equal(seen, (size_t)n);
	assert_int_equal(pages, (n + PROTO_LIST_MAX - 1) / PROTO_LIST_MAX);
	assert_true(biggest < RELAYD_CONN_OUTBUF_MAX / 2);
	print_message("list: %d sessions, %zu pages, largest page %zu bytes\n",
	    n, pages, biggest);
	relay_fixture_free(rd);
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
		cmocka_unit_test(test_siphash_reference_vector),
		cmocka_unit_test(test_crafted_call_ids_do_not_share_a_chain),
		cmocka_unit_test(test_restore_epoll_failure_returns_port_once_and_closes_fds),
		cmocka_unit_test(test_list_pages_cover_100000_sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
