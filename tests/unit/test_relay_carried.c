/*
 * test_relay_carried.c: the counter sync walks the streams a backend
 * carries (backend.c's set), not every session. A fake backend records
 * what each sync hands it: exactly the installed and held streams,
 * whatever the number of userspace ones; a stream the backend hands back
 * (its entries lost) leaves the set at that sync and binds its sockets
 * again; a freed stream leaves at once (ASan: no dangling pointer); one
 * installed again comes back; a stream that could not enter (no memory)
 * is found by the next sync's walk; while a dump pins the set, a stream
 * that leaves makes a hole and the others keep their places, and the
 * holes close at unpin; a backend without read_all gets the set in
 * batches of read_counters.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"

#define PMIN	41500
#define PMAX	41899
#define NCALLS	40

static int priv_marker;
static struct stream *seen[NCALLS];
static size_t nseen, ncalls_all, ncalls_batch;
static struct stream *lose;		/* read_all hands this one back */

static int
fake_open(struct relayd *rd, void **priv, char *why, size_t len)
{
	*priv = NULL;
	return 0;
}

static int
fake_install(struct relayd *rd, void *priv, struct stream *st)
{
	st->backend_priv = &priv_marker;
	return 0;
}

static int
fake_remove(struct relayd *rd, void *priv, struct stream *st)
{
	st->backend_priv = NULL;
	return 0;
}

static void
record(struct stream **sts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (sts[i] == NULL)
			continue;	/* a hole: the set is pinned */
		assert_true(nseen < NCALLS);
		assert_true(sts[i]->path == PATH_KERNEL || sts[i]->held);
		seen[nseen++] = sts[i];
		if (sts[i] == lose) {	/* as kmod's entries_lost does */
			sts[i]->backend_priv = NULL;
			sts[i]->path = PATH_USERSPACE;
		}
	}
}

static int
fake_read_all(struct relayd *rd, void *priv, struct stream **sts, size_t n)
{
	ncalls_all++;
	record(sts, n);
	return 0;
}

static int
fake_read_counters(struct relayd *rd, void *priv, struct stream **sts,
    size_t n)
{
	ncalls_batch++;
	record(sts, n);
	return 0;
}

static const struct backend_ops dump_ops = {
	.name = "fake-dump", .open = fake_open, .install = fake_install,
	.remove = fake_remove, .read_counters = fake_read_counters,
	.read_all = fake_read_all,
};
static const struct backend_ops batch_ops = {
	.name = "fake-batch", .open = fake_open, .install = fake_install,
	.remove = fake_remove, .read_counters = fake_read_counters,
};

static struct relayd *
setup(const struct backend_ops *ops, struct session **calls)
{
	struct relayd *rd = calloc(1, sizeof(*rd));
	struct proto_error perr;

	assert_non_null(rd);
	config_defaults(&rd->conf);
	rd->conf.journal[0] = '\0';
	assert_int_equal(ports_init(&rd->pools[0], PMIN, PMAX), 0);
	assert_int_equal(session_table_init(&rd->sessions, 64), 0);
	rd->epfd = epoll_create1(0);
	assert_true(rd->epfd >= 0);
	rd->backend.ops = ops;
	for (int i = 0; i < NCALLS; i++) {
		char id[16];

		snprintf(id, sizeof(id), "call-%d", i);
		calls[i] = session_create(rd, id, "ft", 0, 0);
		assert_non_null(calls[i]);
		assert_int_equal(session_add_streams(rd, calls[i], 1, &perr), 0);
	}
	return rd;
}

static void
teardown(struct relayd *rd)
{
	while (rd->sessions.first != NULL)
		session_destroy(rd, rd->sessions.first);
	assert_int_equal(rd->backend.ncarried, 0);
	backend_carry_free(rd);
	unbind_free(rd);	/* the sockets queued to close (legsock.c) */
	graveyard_empty(rd);
	session_table_free(&rd->sessions);
	ports_free(&rd->pools[0]);
	close(rd->epfd);
	free(rd);
}

static void
sync_now(struct relayd *rd)
{
	nseen = ncalls_all = ncalls_batch = 0;
	backend_sync_counters(rd);
}

static bool
was_seen(const struct stream *st)
{
	for (size_t i = 0; i < nseen; i++)
		if (seen[i] == st)
			return true;
	return false;
}

static void
test_sync_reads_the_carried_set_only(void **state)
{
	struct session *calls[NCALLS];
	struct relayd *rd = setup(&dump_ops, calls);
	struct stream *a = calls[3]->streams[0], *b = calls[10]->streams[0];
	struct stream *c = calls[25]->streams[0], *d = calls[30]->streams[0];

	(void)state;
	sync_now(rd);
	assert_int_equal(nseen, 0);		/* nothing carried, nothing read */
	backend_stream_latched(rd, a);
	backend_stream_latched(rd, b);
	backend_stream_latched(rd, c);
	backend_stream_latched(rd, a);		/* twice: once in the set */
	assert_int_equal(rd->backend.ncarried, 3);
	sync_now(rd);
	assert_int_equal(ncalls_all, 1);	/* one pass, no batches */
	assert_int_equal(ncalls_batch, 0);
	assert_int_equal(nseen, 3);
	assert_true(was_seen(a) && was_seen(b) && was_seen(c));

	/* b's entries are lost during the read: out of the set, sockets back */
	lose = b;
	sync_now(rd);
	lose = NULL;
	assert_int_equal(rd->backend.ncarried, 2);
	assert_false(stream_sockless(b));
	sync_now(rd);
	assert_int_equal(nseen, 2);
	assert_false(was_seen(b));

	/* c's call ends: out of the set at once */
	session_destroy(rd, calls[25]);
	assert_int_equal(rd->backend.ncarried, 1);
	sync_now(rd);
	assert_int_equal(nseen, 1);
	assert_true(seen[0] == a);

	/* b installed again: back in */
	backend_stream_latched(rd, b);
	sync_now(rd);
	assert_int_equal(nseen, 2);
	assert_true(was_seen(a) && was_seen(b));

	/* a stream carried without entering the set (no memory for it):
	 * the next sync walks every session once and finds it */
	d->path = PATH_KERNEL;
	d->backend_priv = &priv_marker;
	rd->backend.incomplete = true;
	sync_now(rd);
	assert_false(rd->backend.incomplete);
	assert_int_equal(nseen, 3);
	assert_true(was_seen(d));

	/* pinned (a dump names streams by position): a hole, then closed */
	backend_carry_pin(rd, true);
	{
		uint32_t pos_d = d->carried_pos, n = rd->backend.ncarried;

		session_destroy(rd, calls[3]);		/* a */
		assert_int_equal(rd->backend.ncarried, n);
		assert_true(rd->backend.carried[pos_d - 1] == d);
		sync_now(rd);
		assert_int_equal(nseen, 2);
		assert_true(was_seen(b) && was_seen(d));
	}
	backend_carry_pin(rd, false);
	assert_int_equal(rd->backend.ncarried, 2);
	for (uint32_t i = 0; i < rd->backend.ncarried; i++)
		assert_int_equal(rd->backend.carried[i]->carried_pos, i + 1);
	teardown(rd);
}

static void
test_backend_without_a_dump_gets_batches(void **state)
{
	struct session *calls[NCALLS];
	struct relayd *rd = setup(&batch_ops, calls);

	(void)state;
	for (int i = 0; i < NCALLS; i += 2)
		backend_stream_latched(rd, calls[i]->streams[0]);
	sync_now(rd);
	assert_int_equal(ncalls_all, 0);
	assert_int_equal(ncalls_batch, 1);
	assert_int_equal(nseen, NCALLS / 2);
	for (int i = 0; i < NCALLS; i++)
		assert_int_equal(was_seen(calls[i]->streams[0]), i % 2 == 0);
	teardown(rd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_reads_the_carried_set_only),
		cmocka_unit_test(test_backend_without_a_dump_gets_batches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
