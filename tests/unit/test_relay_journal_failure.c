/*
 * test_relay_journal_failure.c: the journal fails safe.
 *   - A write cut short (RLIMIT_FSIZE: the kernel writes up to the limit,
 *     then refuses, as a full /run does) leaves no torn line: the log is
 *     cut back, appends stop instead of growing it, `stats` counts the
 *     failure, and once writing works again the log is rewritten whole:
 *     every line parses and a restart finds the sessions as they are now
 *     (a session ended meanwhile stays gone).
 *   - A compaction that cannot open its new file (EMFILE: RLIMIT_NOFILE)
 *     does not append the live set to the log on every round; it is
 *     retried, and works once a descriptor is free again.
 * Only the daemon's API and `stats` are used, so the test runs against
 * older relays too.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"

#define PMIN 41200	/* four pairs per test: a failed test leaks its own */

struct fixture {
	char		 dir[64];
	char		 log[96];
};

static struct relayd *
relay_new(const char *journal_dir, uint16_t pmin)
{
	struct relayd *rd = calloc(1, sizeof(*rd));
	char err[256];

	assert_non_null(rd);
	config_defaults(&rd->conf);
	rd->conf.log_level = LL_ERROR;
	rd->conf.port_min = pmin;
	rd->conf.port_max = (uint16_t)(pmin + 7);
	snprintf(rd->conf.journal, sizeof(rd->conf.journal), "%s", journal_dir);
	assert_int_equal(ports_init(&rd->pools[0], pmin, pmin + 7), 0);
	assert_int_equal(session_table_init(&rd->sessions, 4), 0);
	rd->epfd = epoll_create1(0);
	assert_true(rd->epfd >= 0);
	assert_int_equal(backend_select(rd, "userspace", err, sizeof(err)), 0);
	assert_int_equal(journal_open(rd), 0);
	assert_non_null(rd->journal);
	return rd;
}

/* Sessions vanish without a drop line: what a crash leaves. */
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

	snprintf(f->dir, sizeof(f->dir), "/tmp/tl-journal-fail.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/journal.log", f->dir);
	signal(SIGXFSZ, SIG_IGN);	/* EFBIG instead of death */
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	char cmd[128];

	setrlimit(RLIMIT_FSIZE, &unlimited);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct session *
new_session(struct relayd *rd, const char *call_id)
{
	struct proto_error perr;
	struct session *s = session_create(rd, call_id, "ft-1", 0, 0);
	struct leg *a;
	struct sockaddr_storage peer;

	assert_non_null(s);
	assert_int_equal(session_add_streams(rd, s, 1, &perr), 0);
	a = &s->streams[0]->leg[SIDE_A];
	assert_int_equal(addr_parse("192.0.2.7", 4000, &peer), 0);
	raddr_from(&a->latched[SK_RTP], &peer);
	a->is_latched[SK_RTP] = true;
	journal_save(rd, s);
	return s;
}

static void
relabel(struct relayd *rd, struct session *s, const char *label)
{
	assert_int_equal(session_set_str(&s->label, label), 0);
	journal_save(rd, s);
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* The stats reply's member `key` (a new reference), NULL if absent. */
static json_t *
stat_of(struct relayd *rd, const char *key)
{
	json_t *reply = command_run(rd, NULL, "stats", NULL, NULL);
	json_t *v = json_incref(json_object_get(reply, key));

	json_decref(reply);
	return v;
}

static json_int_t
journal_errors(struct relayd *rd)
{
	json_t *v = stat_of(rd, "journal_errors");
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;

	json_decref(v);
	return n;
}

/* Every line of the log is a whole journal line (none torn or glued). */
static void
assert_whole_lines(const char *path, int min_lines)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	assert_non_null(fp);
	while (getline(&line, &cap, fp) > 0) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);

		if (o == NULL)
			fail_msg("journal line %d does not parse (%s): %.200s",
			    n + 1, err.text, line);
		assert_true(json_object_get(o, "call_id") != NULL ||
		    json_object_get(o, "drop") != NULL);
		json_decref(o);
		n++;
	}
	free(line);
	fclose(fp);
	assert_true(n >= min_lines);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Loop rounds until cond(path) holds; at most 40 s (retries back off). */
static bool
rounds_until(struct relayd *rd, const char *path,
    bool (*cond)(const char *, off_t), off_t arg)
{
	uint64_t deadline = mono_ms() + 40000;
	const struct timespec tick = { 0, 50 * 1000000L };

	for (int i = 0; i < 800 && mono_ms() < deadline; i++) {
		journal_flush(rd);
		if (cond(path, arg))
			return true;
		nanosleep(&tick, NULL);
	}
	return false;
}

static bool
holds_label(const char *path, off_t unused)
{
	char buf[8192];
	FILE *fp = fopen(path, "r");
	size_t n;

	(void)unused;
	if (fp == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return strstr(buf, "after-the-failure") != NULL;
}

static void
test_failed_write_leaves_no_torn_line(void **state)
{
	struct fixture *f = *state;
	struct relayd *rd = relay_new(f->dir, PMIN);
	struct session *s1, *s2;
	struct rlimit lim = { 0, RLIM_INFINITY };
	off_t good;
	json_t *behind;

	s1 = new_session(rd, "call-1");
	s2 = new_session(rd, "call-2");
	journal_flush(rd);
	good = file_size(f->log);
	assert_true(good > 0);

	/* Room for 40 more bytes: the next line is written in part. */
	lim.rlim_cur = (rlim_t)good + 40;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	relabel(rd, s1, "during-the-failure");
	journal_flush(rd);
	assert_int_equal(file_size(f->log), good);	/* cut back */

	/* More rounds, more changes: the log does not grow. */
	for (int i = 0; i < 20; i++) {
		relabel(rd, s1, "still-failing");
		journal_flush(rd);
	}
	session_destroy(rd, s2);		/* ended while the log is behind */
	journal_flush(rd);
	graveyard_empty(rd);
	assert_int_equal(file_size(f->log), good);
	assert_true(journal_errors(rd) >= 1);
	behind = stat_of(rd, "journal_behind");
	assert_true(json_is_true(behind));
	json_decref(behind);

	/* Writing works again: the log catches up, in whole lines. */
	lim.rlim_cur = RLIM_INFINITY;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	relabel(rd, s1, "after-the-failure");
	assert_true(rounds_until(rd, f->log, holds_label, 0));
	behind = stat_of(rd, "journal_behind");
	assert_true(json_is_false(behind));
	json_decref(behind);
	assert_whole_lines(f->log, 1);
	relay_crash(rd);

	rd = relay_new(f->dir, PMIN);
	assert_int_equal(journal_restore(rd), 0);
	assert_int_equal(rd->sessions.count, 1);
	assert_null(session_find(&rd->sessions, "call-2"));
	s1 = session_find(&rd->sessions, "call-1");
	assert_non_null(s1);
	assert_string_equal(s1->label, "after-the-failure");
	relay_crash(rd);
}

static bool
smaller_than(const char *path, off_t size)
{
	return file_size(path) < size;
}

static void
test_failed_compaction_does_not_grow_the_log(void **state)
{
	struct fixture *f = *state;
	struct relayd *rd = relay_new(f->dir, PMIN + 8);
	struct rlimit old, lim;
	struct session *s1, *s2;
	char label[64];
	off_t size;
	int fd;

	s1 = new_session(rd, "call-1");
	s2 = new_session(rd, "call-2");
	journal_flush(rd);

	/* No descriptor left: the compaction cannot open its new file. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	fd = dup(0);
	assert_true(fd >= 0);
	close(fd);
	lim = old;
	lim.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	assert_int_equal(dup(0), -1);

	/* Past 1 MiB of lines: compaction is due on every round now. */
	for (int i = 0; file_size(f->log) < (2 << 20) && i < 100000; i++) {
		snprintf(label, sizeof(label), "change-%d", i);
		relabel(rd, i % 2 ? s1 : s2, label);
		if (i % 16 == 15)
			journal_flush(rd);
	}
	journal_flush(rd);
	size = file_size(f->log);
	assert_true(size >= (2 << 20));

	/* Rounds with nothing to journal leave the log as it is. */
	for (int i = 0; i < 30; i++)
		journal_flush(rd);
	assert_int_equal(file_size(f->log), size);
	assert_true(journal_errors(rd) >= 1);

	/* A descriptor again: the retried compaction shrinks the log. */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(rounds_until(rd, f->log, smaller_than, 1 << 20));
	assert_whole_lines(f->log, 2);
	relay_crash(rd);

	rd = relay_new(f->dir, PMIN + 8);
	assert_int_equal(journal_restore(rd), 0);
	assert_int_equal(rd->sessions.count, 2);
	relay_crash(rd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_failed_write_leaves_no_torn_line, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_compaction_does_not_grow_the_log, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
