/*
 * test_relay_sessions.c: the session table, port pairs bound for real on
 * loopback, exhaustion and release, and the timers' verdicts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"
#include "relay_fixture.h"

#define PMIN 41000
#define PMAX 41007	/* four pairs */

static int
setup(void **state)
{
	*state = relay_fixture_new(&(struct relay_fixture){
	    .port_min = PMIN, .port_max = PMAX, .buckets = 4,
	    .backend = "auto" });
	return 0;
}

static int
teardown(void **state)
{
	relay_fixture_free(*state);
	return 0;
}

static void
test_table_grows_and_finds_every_call(void **state)
{
	struct relayd *rd = *state;
	char id[32];

	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "call-%d", i);
		assert_non_null(session_create(rd, id, "ft", 0, 0));
	}
	assert_true(rd->sessions.nbuckets >= 3000);
	for (int i = 0; i < 3000; i += 7) {
		snprintf(id, sizeof(id), "call-%d", i);
		assert_string_equal(session_find(&rd->sessions, id)->call_id, id);
	}
	assert_null(session_find(&rd->sessions, "call-3000"));
	session_destroy(rd, session_find(&rd->sessions, "call-5"));
	assert_null(session_find(&rd->sessions, "call-5"));
	assert_int_equal(rd->sessions.count, 2999);
}

static uint16_t
bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static void
test_streams_bind_even_rtp_and_odd_rtcp(void **state)
{
	struct relayd *rd = *state;
	struct proto_error err;
	struct session *s = session_create(rd, "c1", "ft", 0, 0);
	struct leg *leg;

	assert_int_equal(session_add_streams(rd, s, 1, &err), 0);
	leg = &s->streams[0]->leg[SIDE_A];
	assert_int_equal(bound_port(leg->sock[SK_RTP].fd) % 2, 0);
	assert_int_equal(bound_port(leg->sock[SK_RTCP].fd),
	    bound_port(leg->sock[SK_RTP].fd) + 1);
	assert_int_equal(leg->port, bound_port(leg->sock[SK_RTP].fd));
	assert_int_not_equal(s->streams[0]->leg[SIDE_B].port, leg->port);
}

static void
test_exhaustion_is_an_error_and_delete_returns_ports(void **state)
{
	struct relayd *rd = *state;
	struct proto_error err;
	struct session *s1 = session_create(rd, "c1", "ft", 0, 0);
	struct session *s2 = session_create(rd, "c2", "ft", 0, 0);

	assert_int_equal(session_add_streams(rd, s1, 2, &err), 0);
	assert_int_equal(ports_available(&rd->pools[0]), 0);
	assert_int_equal(session_add_streams(rd, s2, 1, &err), -1);
	assert_int_equal(err.code, PROTO_E_EXHAUSTED);
	assert_int_equal(s2->nstreams, 0);
	session_destroy(rd, s1);
	graveyard_empty(rd);
	assert_int_equal(ports_available(&rd->pools[0]), 4);
	assert_int_equal(session_add_streams(rd, s2, 1, &err), 0);
}

static void
test_port_held_by_another_socket_is_skipped(void **state)
{
	struct relayd *rd = *state;
	struct proto_error err;
	struct sockaddr_storage lo;
	struct session *s = session_create(rd, "c1", "ft", 0, 0);
	int fd;

	addr_parse("127.0.0.1", 0, &lo);
	fd = udp_bind(&lo, PMIN + 1);	/* the RTCP port of the first pair */
	assert_true(fd >= 0);
	assert_int_equal(session_add_streams(rd, s, 1, &err), 0);
	assert_int_not_equal(s->streams[0]->leg[SIDE_A].port, PMIN);
	assert_int_not_equal(s->streams[0]->leg[SIDE_B].port, PMIN);
	close(fd);
}

/* A session with one stream, built by hand for the timer rules. */
static struct session *
timed_session(uint64_t created, enum session_state state, uint64_t last)
{
	struct session *s = calloc(1, sizeof(*s));

	s->streams = calloc(1, sizeof(*s->streams));
	s->streams[0] = calloc(1, sizeof(**s->streams));
	s->nstreams = 1;
	s->created_ms = created;
	s->state = state;
	s->streams[0]->leg[SIDE_A].stats.last_seen_ms = last;
	return s;
}

static void
free_timed(struct session *s)
{
	free(s->streams[0]);
	free(s->streams);
	free(s);
}

static void
test_timers_setup_inactivity_hold_max_duration(void **state)
{
	struct relayd *rd = *state;
	const uint64_t t0 = 1000000;
	struct session *s;
	const char *r;

	rd->conf.setup_timeout = 10;
	rd->conf.inactivity_timeout = 5;
	rd->conf.hold_timeout = 20;
	rd->conf.max_duration = 100;

	s = timed_session(t0, SS_OFFERED, 0);
	assert_null(session_expired(rd, s, t0 + 9999));
	assert_string_equal(session_expired(rd, s, t0 + 10000), "setup");
	s->state = SS_ANSWERED;		/* answered, but no packet yet */
	assert_string_equal(session_expired(rd, s, t0 + 10000), "setup");
	s->streams[0]->leg[SIDE_A].stats.last_seen_ms = t0 + 20000;
	assert_null(session_expired(rd, s, t0 + 24900));
	r = session_expired(rd, s, t0 + 25000);
	assert_non_null(r);
	assert_string_equal(r, "inactivity");
	s->streams[0]->leg[SIDE_B].sdp.direction = DIR_SENDONLY;
	assert_null(session_expired(rd, s, t0 + 39999));
	assert_string_equal(session_expired(rd, s, t0 + 40000), "hold");
	rd->conf.hold_timeout = 0;	/* held calls may stay silent */
	assert_null(session_expired(rd, s, t0 + 99999));
	assert_string_equal(session_expired(rd, s, t0 + 100000), "max_duration");
	free_timed(s);
}

/* Issue 13: a session offered as ringing is timed by its controller. */
static void
test_timers_ringing_session_waits_for_the_final_answer(void **state)
{
	struct relayd *rd = *state;
	const uint64_t t0 = 1000000;
	struct session *s;

	rd->conf.setup_timeout = 10;
	rd->conf.inactivity_timeout = 5;
	rd->conf.ringing_timeout = 300;
	rd->conf.max_duration = 1000;

	s = timed_session(t0, SS_OFFERED, 0);
	s->ringing = true;
	assert_null(session_expired(rd, s, t0 + 90000));	/* 90 s ringing */
	s->state = SS_ANSWERED;	/* early media that stopped */
	s->streams[0]->leg[SIDE_A].stats.last_seen_ms = t0 + 1000;
	assert_null(session_expired(rd, s, t0 + 90000));
	assert_string_equal(session_expired(rd, s, t0 + 300000), "ringing");
	/* The final answer at 90 s: setup and inactivity from then on. */
	s->ringing = false;
	s->answered_ms = t0 + 90000;
	s->streams[0]->leg[SIDE_A].stats.last_seen_ms = 0;
	assert_null(session_expired(rd, s, t0 + 99999));
	assert_string_equal(session_expired(rd, s, t0 + 100000), "setup");
	free_timed(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table_grows_and_finds_every_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streams_bind_even_rtp_and_odd_rtcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion_is_an_error_and_delete_returns_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_held_by_another_socket_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_setup_inactivity_hold_max_duration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_ringing_session_waits_for_the_final_answer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
