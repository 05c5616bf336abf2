/*
 * test_relay_journal.c: the session journal round trip. A relay journals
 * a session whose identifiers need JSON escaping, "crashes" (its sessions
 * vanish without a drop line), and a second relay on the same journal
 * gets the session back on the same ports with its latched peer; a
 * dropped session stays gone; a torn last line is skipped. A session
 * older than the machine's uptime keeps its age and times out.
 */
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"

#define PMIN 41100
#define PMAX 41107	/* four pairs */

static const char weird_id[] = "we\"ird\\id\x01@host";

struct fixture {
	char		 dir[64];
	struct relayd	*rd;
};

static struct relayd *
relay_new(const char *journal_dir)
{
	struct relayd *rd = calloc(1, sizeof(*rd));
	char err[256];

	assert_non_null(rd);
	config_defaults(&rd->conf);
	rd->conf.log_level = LL_ERROR;
	rd->conf.port_min = PMIN;
	rd->conf.port_max = PMAX;
	snprintf(rd->conf.journal, sizeof(rd->conf.journal), "%s", journal_dir);
	assert_int_equal(ports_init(&rd->pools[0], PMIN, PMAX), 0);
	assert_int_equal(session_table_init(&rd->sessions, 4), 0);
	rd->epfd = epoll_create1(0);
	assert_true(rd->epfd >= 0);
	assert_int_equal(backend_select(rd, "userspace", err, sizeof(err)), 0);
	assert_int_equal(journal_open(rd), 0);
	assert_non_null(rd->journal);
	return rd;
}

/* Without a journal, so nothing is dropped: what a crash leaves. */
static void
relay_crash(struct relayd *rd)
{
	journal_close(rd);
	while (rd->sessions.first != NULL)
		session_destroy(rd, rd->sessions.first);
	graveyard_empty(rd);
	backend_close(rd);
	session_table_free(&rd->sessions);
	ports_free(&rd->pools[0]);
	close(rd->epfd);
	free(rd);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/tl-journal-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct session *
journalled_session(struct relayd *rd, const char *call_id, uint16_t *port_a)
{
	struct proto_error perr;
	struct session *s = session_create(rd, call_id, "ft\"1", 0, 0);
	struct leg *a;
	struct sockaddr_storage peer;

	assert_non_null(s);
	assert_int_equal(session_add_streams(rd, s, 1, &perr), 0);
	assert_int_equal(session_set_str(&s->label, "tab\there"), 0);
	a = &s->streams[0]->leg[SIDE_A];
	assert_int_equal(addr_parse("192.0.2.7", 4000, &peer), 0);
	raddr_from(&a->latched[SK_RTP], &peer);
	a->is_latched[SK_RTP] = true;
	*port_a = a->port;
	journal_save(rd, s);
	return s;
}

static void
test_session_survives_a_crash(void **state)
{
	struct fixture *f = *state;
	struct relayd *rd = relay_new(f->dir);
	struct session *s;
	struct leg *a;
	uint16_t port_a, port_gone;
	char buf[64], path[128];
	int fd;

	s = journalled_session(rd, weird_id, &port_a);
	s->ringing = true;	/* issue 13: a ringing call stays ringing */
	journal_save(rd, s);
	s = journalled_session(rd, "gone", &port_gone);
	session_destroy(rd, s);		/* a drop line */
	journal_flush(rd);
	relay_crash(rd);

	/* a write cut short by the crash */
	snprintf(path, sizeof(path), "%s/journal.log", f->dir);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"v\":1,\"call_i", 14), 14);
	close(fd);

	rd = relay_new(f->dir);
	assert_int_equal(journal_restore(rd), 0);
	assert_int_equal(rd->sessions.count, 1);
	assert_null(session_find(&rd->sessions, "gone"));
	s = session_find(&rd->sessions, weird_id);
	assert_non_null(s);
	assert_string_equal(s->tag[SIDE_A], "ft\"1");
	assert_string_equal(s->label, "tab\there");
	assert_true(s->ringing);
	assert_int_equal(s->nstreams, 1);
	a = &s->streams[0]->leg[SIDE_A];
	assert_int_equal(a->port, port_a);
	assert_true(a->is_latched[SK_RTP]);
	assert_string_equal(addr_fmt(RADDR_SS(&a->latched[SK_RTP]), buf,
	    sizeof(buf)),
	    "192.0.2.7:4000");
	relay_crash(rd);
}

/*
 * A session older than the machine's uptime (the relay comes back after
 * a reboot, its journal from before): it keeps its age and reaches its
 * timeout. Before relayd's clock had an origin before boot, "now minus
 * the age" wrapped around to a time far in the future: the session was
 * never expired, a call leaked until the next restart.
 */
static void
test_session_older_than_the_uptime_times_out(void **state)
{
	struct fixture *f = *state;
	struct relayd *rd = relay_new(f->dir);
	struct session *s;
	struct timespec mono;
	uint16_t port;
	int64_t age;
	uint64_t now;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &mono), 0);
	age = (int64_t)mono.tv_sec + 2 * 3600;	/* two hours before boot */
	s = journalled_session(rd, "before-boot", &port);
	s->created_wall = (int64_t)time(NULL) - age;
	journal_save(rd, s);
	journal_flush(rd);
	relay_crash(rd);

	rd = relay_new(f->dir);
	rd->conf.max_duration = 3600;
	assert_int_equal(journal_restore(rd), 0);
	s = session_find(&rd->sessions, "before-boot");
	assert_non_null(s);
	now = now_ms();
	assert_true(now >= s->created_ms);
	/* its age survived (a second of slack for the clock's edges) */
	assert_true((int64_t)((now - s->created_ms) / 1000) >= age - 1);
	assert_true((int64_t)((now - s->created_ms) / 1000) <= age + 2);
	assert_non_null(session_expired(rd, s, now));
	assert_string_equal(session_expired(rd, s, now), "max_duration");
	assert_true(session_deadline(rd, s, now) <= now);
	relay_crash(rd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_survives_a_crash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_session_older_than_the_uptime_times_out, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
