/*
 * relay_fixture.h: a relay context for the unit tests that drive relayd's
 * sessions, timers and commands without a daemon (test_relay_timers,
 * _sessions, _offerhold, _finish, _ctlplane). Set up and torn down once,
 * here, in relayd/main.c's order: each test used to carry its own copy,
 * and a copy that forgot timers_close() or atoms_free() leaked (LSan in
 * the sanitizer build). Include after cmocka.h and relayd.h.
 */
#ifndef TL_RELAY_FIXTURE_H
#define TL_RELAY_FIXTURE_H

#include <sys/epoll.h>
#include <unistd.h>

struct relay_fixture {
	uint16_t		 port_min;	/* 0, 0: no port pool */
	uint16_t		 port_max;
	size_t			 buckets;	/* session table size */
	const char		*backend;	/* backend_select()'s name, or */
	const struct backend_ops *ops;	/* a test's fake backend */
};

/* A relay with interface 0's port pool, an epoll set, no journal, no
 * timerfd (-1: timers_close() must not close descriptor 0) and errors
 * only in the log. */
static inline struct relayd *
relay_fixture_new(const struct relay_fixture *f)
{
	struct relayd *rd = calloc(1, sizeof(*rd));
	char err[256];

	assert_non_null(rd);
	config_defaults(&rd->conf);
	rd->conf.log_level = LL_ERROR;
	rd->conf.journal[0] = '\0';
	rd->timerfd = -1;
	if (f->port_max != 0) {
		rd->conf.port_min = f->port_min;
		rd->conf.port_max = f->port_max;
		assert_int_equal(ports_init(&rd->pools[0], f->port_min,
		    f->port_max), 0);
	}
	assert_int_equal(session_table_init(&rd->sessions, f->buckets), 0);
	rd->epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(rd->epfd >= 0);
	if (f->ops != NULL)
		rd->backend.ops = f->ops;
	else
		assert_int_equal(backend_select(rd, f->backend, err,
		    sizeof(err)), 0);
	return rd;
}

/* Everything a test's relay may still hold: its calls, the graveyard,
 * the backend with its hold and unbind queues, timers, atoms, ports. */
static inline void
relay_fixture_free(struct relayd *rd)
{
	while (rd->sessions.first != NULL)
		session_destroy(rd, rd->sessions.first);
	graveyard_empty(rd);
	backend_close(rd);
	session_table_free(&rd->sessions);
	ports_free(&rd->pools[0]);
	timers_close(rd);
	atoms_free(&rd->atoms);
	close(rd->epfd);
	free(rd);
}

#endif
