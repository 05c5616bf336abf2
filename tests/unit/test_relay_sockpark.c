/*
 * test_relay_sockpark.c: the sockets of an ended call are kept bound for
 * the next leg that takes the pair (sockpark.c), on loopback for real:
 * the same sockets come back, what was sent to the free port is never
 * read by the new leg, epoll hands a parked socket's readiness to no leg,
 * a port leaving the ring without a socket drops them, and without
 * parking (a small fd limit) the ports are closed as before. A fresh
 * relay binds and parks every free pair (sockwarm.c): a port taken back
 * from the journal is left alone, one that another process holds is
 * counted and stays in the pool, and what reaches a pair parked so is
 * dropped like any other parked pair's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"

#define PMIN 41600
#define PMAX 41603	/* two pairs: one stream, both legs on interface 0 */

static int
setup(void **state)
{
	struct relayd *rd = calloc(1, sizeof(*rd));
	char err[256];

	config_defaults(&rd->conf);
	rd->conf.log_level = LL_ERROR;
	rd->conf.port_min = PMIN;
	rd->conf.port_max = PMAX;
	assert_int_equal(ports_init(&rd->pools[0], PMIN, PMAX), 0);
	assert_int_equal(session_table_init(&rd->sessions, 4), 0);
	assert_int_equal(forward_init(rd), 0);
	rd->epfd = epoll_create1(0);
	assert_true(rd->epfd >= 0);
	assert_int_equal(backend_select(rd, "userspace", err, sizeof(err)), 0);
	rd->park_on = true;
	*state = rd;
	return 0;
}

static int
teardown(void **state)
{
	struct relayd *rd = *state;

	while (rd->sessions.first != NULL)
		session_destroy(rd, rd->sessions.first);
	graveyard_empty(rd);
	backend_close(rd);
	session_table_free(&rd->sessions);
	atoms_free(&rd->atoms);
	park_free(rd);
	warm_free(rd);
	ports_free(&rd->pools[0]);
	forward_free(rd);
	close(rd->epfd);
	free(rd);
	return 0;
}

static struct session *
call(struct relayd *rd, const char *id)
{
	struct proto_error err;
	struct session *s = session_create(rd, id, "ft", 0, 0);

	assert_non_null(s);
	assert_int_equal(session_add_streams(rd, s, 1, &err), 0);
	return s;
}

static void
end(struct relayd *rd, struct session *s)
{
	session_destroy(rd, s);
	graveyard_empty(rd);
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Can someone else bind 127.0.0.1:port now? */
static bool
port_bindable(uint16_t port)
{
	struct sockaddr_storage lo;
	int fd;

	addr_parse("127.0.0.1", 0, &lo);
	fd = udp_bind(&lo, port);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void
send_to(uint16_t port, int n)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
	    .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	for (int i = 0; i < n; i++)
		assert_int_equal(sendto(fd, "stale", 5, 0,
		    (struct sockaddr *)&to, sizeof(to)), 5);
	close(fd);
}

static bool
queued(int fd)
{
	char b[16];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK);

	return n >= 0;
}

static void
test_ended_call_parks_and_next_leg_takes_them(void **state)
{
	struct relayd *rd = *state;
	struct session *s = call(rd, "c1");
	struct leg *a = &s->streams[0]->leg[SIDE_A];
	uint16_t port = a->port;
	int fd = a->sock[SK_RTP].fd, fd_rtcp = a->sock[SK_RTCP].fd;

	end(rd, s);
	assert_int_equal(rd->pools[0].parked, 2);
	assert_int_equal(park_count(rd), 2);
	assert_int_equal(ports_available(&rd->pools[0]), 2);
	assert_true(fd_open(fd) && fd_open(fd_rtcp));
	assert_false(port_bindable(port));	/* still ours */

	s = call(rd, "c2");
	assert_int_equal(park_count(rd), 0);
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		struct leg *l = &s->streams[0]->leg[side];
		if (l->port != port)
			continue;
		assert_int_equal(l->sock[SK_RTP].fd, fd);
		assert_int_equal(l->sock[SK_RTCP].fd, fd_rtcp);
	}
}

/* Sent to a free port before the offer: the new leg never reads it. */
static void
test_taken_pair_is_drained(void **state)
{
	struct relayd *rd = *state;
	struct session *s = call(rd, "c1");
	uint16_t pa = s->streams[0]->leg[SIDE_A].port;
	uint16_t pb = s->streams[0]->leg[SIDE_B].port;

	end(rd, s);
	send_to(pa, 40);	/* more than one recvmmsg batch */
	send_to(pa + 1, 3);
	send_to(pb, 1);
	s = call(rd, "c2");
	for (int side = SIDE_A; side <= SIDE_B; side++)
		for (int k = SK_RTP; k <= SK_RTCP; k++)
			assert_false(queued(s->streams[0]->leg[side].sock[k].fd));
	/* live: what comes now is the new leg's */
	send_to(s->streams[0]->leg[SIDE_A].port, 1);
	assert_true(queued(s->streams[0]->leg[SIDE_A].sock[SK_RTP].fd));
}

/* epoll names a parked socket by port; its data goes nowhere. */
static void
test_parked_socket_readable_is_dropped(void **state)
{
	struct relayd *rd = *state;
	struct session *s = call(rd, "c1");
	struct leg *a = &s->streams[0]->leg[SIDE_A];
	uint16_t port = a->port;
	int fd = a->sock[SK_RTP].fd;
	struct epoll_event ev[8];
	int n, seen = 0;

	end(rd, s);
	send_to(port, 2);
	n = epoll_wait(rd->epfd, ev, 8, 1000);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		assert_true(ev[i].data.u64 & PARK_TOKEN_BIT);
		if ((ev[i].data.u64 >> 8 & 0xffff) == port)
			seen++;
		port_readable(rd, ev[i].data.u64);
	}
	assert_int_equal(seen, 1);
	assert_false(queued(fd));
	assert_int_equal(rd->totals.packets, 0);
	/* a stale token for a port outside the range is ignored */
	port_readable(rd, PARK_TOKEN_BIT | (uint64_t)(PMAX + 2) << 8);
	port_readable(rd, PARK_TOKEN_BIT | (uint64_t)5 << 1 | (uint64_t)PMIN << 8);
}

/* The next round: what its epoll_wait named, its pre-pass drained. */
static int
next_round(struct relayd *rd, bool full)
{
	struct epoll_event ev[16];
	int n = epoll_wait(rd->epfd, ev, 16, 1000);

	assert_true(n >= 0);
	rd->loop_round++;
	/* no dispatch after it: a command may come first in the batch */
	park_prepass(rd, ev, n, full);
	return n;
}

/*
 * A pair parked in an earlier round: the round's pre-pass drained it, so
 * taking it needs no recv; what arrives after the epoll_wait is the new
 * leg's, as with a socket bound then.
 */
static void
test_prepass_drains_before_take(void **state)
{
	struct relayd *rd = *state;
	struct session *s = call(rd, "c1");
	uint16_t pa = s->streams[0]->leg[SIDE_A].port;

	end(rd, s);
	send_to(pa, 40);	/* more than one recvmmsg batch */
	send_to(pa + 1, 2);
	assert_true(next_round(rd, false) >= 2);
	assert_false(rd->park_unsure);
	s = call(rd, "c2");
	for (int side = SIDE_A; side <= SIDE_B; side++)
		for (int k = SK_RTP; k <= SK_RTCP; k++)
			assert_false(queued(s->streams[0]->leg[side].sock[k].fd));
}

/* Where the round cannot vouch for a pair, taking it drains it. */
static void
test_take_drains_when_unsure(void **state)
{
	struct relayd *rd = *state;
	struct session *s = call(rd, "c1");
	uint16_t pa = s->streams[0]->leg[SIDE_A].port;

	/* a full batch: a ready socket may not have been named */
	end(rd, s);
	next_round(rd, true);
	send_to(pa, 3);	/* after the epoll_wait */
	assert_true(rd->park_unsure);
	s = call(rd, "c2");
	assert_false(queued(s->streams[0]->leg[SIDE_A].sock[SK_RTP].fd));
	assert_false(queued(s->streams[0]->leg[SIDE_B].sock[SK_RTP].fd));

	/* parked in this very round: its call's last packets are unread */
	next_round(rd, false);
	assert_false(rd->park_unsure);
	pa = s->streams[0]->leg[SIDE_A].port;
	send_to(pa, 3);
	end(rd, s);
	s = call(rd, "c3");
	assert_false(queued(s->streams[0]->leg[SIDE_A].sock[SK_RTP].fd));
	assert_false(queued(s->streams[0]->leg[SIDE_B].sock[SK_RTP].fd));
}

/* A held offer or a restart takes a port without a socket. */
static void
test_drop_closes_parked_sockets(void **state)
{
	struct relayd *rd = *state;
	struct session *s = call(rd, "c1");
	uint16_t port = s->streams[0]->leg[SIDE_A].port;
	int fd = s->streams[0]->leg[SIDE_A].sock[SK_RTP].fd;

	end(rd, s);
	park_drop(rd, 0, port);
	assert_false(fd_open(fd));
	assert_int_equal(park_count(rd), 1);
	assert_true(port_bindable(port) && port_bindable(port + 1));
	park_drop(rd, 0, port);		/* twice: nothing left */
	assert_int_equal(park_count(rd), 1);
	/* the next call binds the dropped pair afresh */
	s = call(rd, "c2");
	assert_int_equal(park_count(rd), 0);
}

static void
test_no_parking_closes_as_before(void **state)
{
	struct relayd *rd = *state;
	struct session *s;
	uint16_t port;
	int fd;

	rd->park_on = false;
	s = call(rd, "c1");
	port = s->streams[0]->leg[SIDE_A].port;
	fd = s->streams[0]->leg[SIDE_A].sock[SK_RTP].fd;
	end(rd, s);
	assert_int_equal(park_count(rd), 0);
	assert_false(fd_open(fd));
	assert_true(port_bindable(port));
}

/* Many calls through two pairs: the sockets never leak or multiply. */
static void
test_reuse_keeps_fd_count(void **state)
{
	struct relayd *rd = *state;
	int fd0 = -1;

	for (int i = 0; i < 500; i++) {
		char id[16];
		struct session *s;
		snprintf(id, sizeof(id), "c%d", i);
		s = call(rd, id);
		if (fd0 < 0)
			fd0 = s->streams[0]->leg[SIDE_A].sock[SK_RTP].fd;
		end(rd, s);
	}
	assert_int_equal(park_count(rd), 2);
	/* the next free fd number is what it was after the first call */
	int probe = dup(0);
	assert_true(probe >= 0);
	assert_true(probe <= fd0 + 4);
	close(probe);
}

/*
 * Out of descriptors (a limit lowered under the relay): a leg whose pair
 * is not parked gets the descriptors of a parked pair instead of failing.
 */
static void
test_emfile_evicts_parked(void **state)
{
	struct relayd *rd = *state;
	struct proto_error err;
	struct rlimit old, low;
	struct session *s;
	int next, rc;

	ports_free(&rd->pools[0]);	/* three pairs: one never parked */
	assert_int_equal(ports_init(&rd->pools[0], PMIN, PMAX + 2), 0);
	end(rd, call(rd, "c1"));
	assert_int_equal(park_count(rd), 2);
	next = dup(0);
	assert_true(next >= 0);
	close(next);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)next;	/* no descriptor more */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	s = session_create(rd, "c2", "ft", 0, 0);
	rc = session_add_streams(rd, s, 1, &err);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, 0);
	for (int side = SIDE_A; side <= SIDE_B; side++)
		assert_true(leg_bound(&s->streams[0]->leg[side]));
	assert_true(park_count(rd) <= 1);
	/* nothing parked left to give: the error is the bind's */
	park_evict_one(rd);
	assert_int_equal(park_evict_one(rd), 0);
}

/* Warm-up to the end, a pair a slice: how many slices it took. */
static int
warm_all(struct relayd *rd)
{
	int n = 0;

	while (warm_pending(rd) && n < 100) {
		warm_slice(rd, 1);
		n++;
	}
	assert_false(warm_pending(rd));
	return n;
}

/* Every free pair bound and parked; a port a restored leg owns is not. */
static void
test_warm_parks_every_free_pair(void **state)
{
	struct relayd *rd = *state;
	struct session *s;
	int probe, fd0;

	ports_free(&rd->pools[0]);	/* three pairs, one a restored leg's */
	assert_int_equal(ports_init(&rd->pools[0], PMIN, PMAX + 2), 0);
	rd->conf.port_max = PMAX + 2;
	assert_int_equal(ports_take_port(&rd->pools[0], PMIN + 2), 0);
	warm_start(rd);
	assert_true(warm_pending(rd));
	assert_int_equal(warm_left(rd), 3);
	assert_int_equal(warm_all(rd), 2);	/* the taken pair costs none */
	assert_int_equal(park_count(rd), 2);
	assert_int_equal(rd->warm.bound, 2);
	assert_int_equal(rd->warm.held, 0);
	assert_int_equal(warm_left(rd), 0);
	assert_false(port_bindable(PMIN) || port_bindable(PMIN + 1));
	assert_false(port_bindable(PMIN + 4) || port_bindable(PMIN + 5));
	assert_true(port_bindable(PMIN + 2) && port_bindable(PMIN + 3));

	/* the first call binds nothing: it takes the parked sockets */
	fd0 = dup(0);
	assert_true(fd0 >= 0);
	close(fd0);
	s = call(rd, "c1");
	assert_int_equal(park_count(rd), 0);
	for (int side = SIDE_A; side <= SIDE_B; side++)
		assert_true(leg_bound(&s->streams[0]->leg[side]));
	probe = dup(0);
	assert_int_equal(probe, fd0);	/* no descriptor more */
	close(probe);
	ports_release(&rd->pools[0], PMIN + 2);
}

/* A port another process holds: counted, and its pair stays free. */
static void
test_warm_held_port_stays_in_pool(void **state)
{
	struct relayd *rd = *state;
	struct sockaddr_storage lo;
	struct session *s;
	int other;
	bool got = false;

	addr_parse("127.0.0.1", 0, &lo);
	other = udp_bind(&lo, PMIN + 1);	/* the RTCP port of pair 0 */
	assert_true(other >= 0);
	warm_start(rd);
	warm_all(rd);
	assert_int_equal(rd->warm.held, 1);
	assert_int_equal(rd->warm.held_port[0][0], PMIN + 1);
	assert_int_equal(park_count(rd), 1);
	assert_int_equal(ports_available(&rd->pools[0]), 2);
	assert_true(port_bindable(PMIN));	/* its RTP socket was closed */
	close(other);
	/* once the other process let go, a call binds the pair */
	s = call(rd, "c1");
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		assert_true(leg_bound(&s->streams[0]->leg[side]));
		got |= s->streams[0]->leg[side].port == PMIN;
	}
	assert_true(got);
	assert_int_equal(park_count(rd), 0);
}

/* What reaches a pair parked at start is dropped, never the new leg's. */
static void
test_warm_pair_is_drained(void **state)
{
	struct relayd *rd = *state;
	struct session *s;

	warm_start(rd);
	warm_all(rd);
	send_to(PMIN, 40);
	send_to(PMIN + 3, 2);
	/* the round after the warm-up: its pre-pass drains them */
	assert_true(next_round(rd, false) >= 2);
	s = call(rd, "c1");
	for (int side = SIDE_A; side <= SIDE_B; side++)
		for (int k = SK_RTP; k <= SK_RTCP; k++)
			assert_false(queued(s->streams[0]->leg[side].sock[k].fd));
	end(rd, s);
	/* parked in the round that takes them: drained at the take */
	park_free(rd);
	ports_free(&rd->pools[0]);
	assert_int_equal(ports_init(&rd->pools[0], PMIN, PMAX), 0);
	warm_start(rd);
	warm_all(rd);
	send_to(PMIN, 3);
	send_to(PMIN + 2, 3);
	s = call(rd, "c2");
	for (int side = SIDE_A; side <= SIDE_B; side++)
		assert_false(queued(s->streams[0]->leg[side].sock[SK_RTP].fd));
}

static int
fake_hold(struct relayd *rd, void *priv, struct stream **v, size_t n,
    int *rcs)
{
	return 0;
}

/* No warm-up without parking, nor when the backend holds the offers. */
static void
test_warm_off(void **state)
{
	struct relayd *rd = *state;
	const struct backend_ops *real = rd->backend.ops;
	struct backend_ops holding = *real;

	rd->park_on = false;
	warm_start(rd);
	assert_false(warm_pending(rd));
	assert_int_equal(warm_left(rd), 0);
	rd->park_on = true;
	holding.hold = fake_hold;
	rd->backend.ops = &holding;
	warm_start(rd);
	rd->backend.ops = real;
	assert_false(warm_pending(rd));
	assert_int_equal(park_count(rd), 0);
	assert_true(port_bindable(PMIN));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ended_call_parks_and_next_leg_takes_them, setup, teardown),
		cmocka_unit_test_setup_teardown(test_taken_pair_is_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_socket_readable_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_closes_parked_sockets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_parking_closes_as_before, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_keeps_fd_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emfile_evicts_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepass_drains_before_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_drains_when_unsure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warm_parks_every_free_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warm_held_port_stays_in_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warm_pair_is_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warm_off, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
