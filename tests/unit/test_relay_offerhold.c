/*
 * test_relay_offerhold.c: offers without sockets (relayd/offerhold.c),
 * through the command interface and a fake backend that can hold: an
 * offer takes ports and binds nothing, the round's end holds it; a
 * refused hold binds and is counted; an answer the backend learns keeps
 * the stream socketless, one it does not learn removes the held entries
 * and binds; a delete before the answer removes them once; an offer
 * answered in its own round is never held.
 */
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

#define PMIN 41320
#define PMAX 41339

static int hold_rc, learn_rc, holds, learns, removals;
static int marker;

static int
fake_open(struct relayd *rd, void **priv, char *why, size_t len)
{
	*priv = NULL;
	return 0;
}

static int
fake_hold(struct relayd *rd, void *priv, struct stream **sts, size_t n,
    int *rcs)
{
	for (size_t i = 0; i < n; i++) {
		rcs[i] = hold_rc;
		if (hold_rc == 0) {
			sts[i]->backend_priv = &marker;
			holds++;
		}
	}
	return 0;
}

static int
fake_learn(struct relayd *rd, void *priv, struct stream *st)
{
	learns++;
	if (learn_rc == 0)
		st->backend_priv = &marker;	/* replaced what it held */
	return learn_rc;
}

static int
fake_remove(struct relayd *rd, void *priv, struct stream *st)
{
	if (st->backend_priv == NULL)
		return 0;
	st->backend_priv = NULL;
	removals++;
	return 0;
}

static const struct backend_ops fake_ops = {
	.name = "fake",
	.open = fake_open,
	.remove = fake_remove,
	.learn = fake_learn,
	.hold = fake_hold,
};

static struct relayd *
relay_new(void)
{
	hold_rc = learn_rc = holds = learns = removals = 0;
	return relay_fixture_new(&(struct relay_fixture){
	    .port_min = PMIN, .port_max = PMAX, .buckets = 4,
	    .ops = &fake_ops });
}

static void
run(struct relayd *rd, const char *cmd, const char *call, int port)
{
	json_t *req, *reply;

	if (strcmp(cmd, "delete") == 0)
		req = json_pack("{s:s, s:s}", "cmd", cmd, "call_id", call);
	else
		req = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i}]}",
		    "cmd", cmd, "call_id", call, "from_tag", "ft", "to_tag",
		    "tt", "media", "type", "audio", "address", "127.0.0.1",
		    "rtp_port", port);
	reply = command_run(rd, NULL, cmd, req, NULL);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	json_decref(req);
	json_decref(reply);
}

static struct stream *
stream_of(struct relayd *rd, const char *call)
{
	struct session *s = session_find(&rd->sessions, call);

	assert_non_null(s);
	return s->streams[0];
}

static int
socks(const struct stream *st)
{
	int n = 0;

	for (int side = SIDE_A; side <= SIDE_B; side++)
		for (int k = SK_RTP; k <= SK_RTCP; k++)
			n += st->leg[side].sock[k].fd >= 0;
	return n;
}

static void
test_offer_held_then_learned(void **state)
{
	struct relayd *rd = relay_new();
	struct stream *st;

	(void)state;
	run(rd, "offer", "c1", 4000);
	st = stream_of(rd, "c1");
	assert_int_equal(socks(st), 0);
	assert_true(st->leg[SIDE_A].port != 0 && st->leg[SIDE_B].port != 0);
	assert_int_equal(holds, 0);		/* at the round's end */
	backend_flush(rd);
	assert_int_equal(holds, 1);
	assert_true(st->held);
	assert_int_equal(socks(st), 0);
	run(rd, "offer", "c1", 4002);		/* a re-offer: still held */
	backend_flush(rd);
	assert_true(st->held);
	assert_int_equal(socks(st), 0);
	run(rd, "answer", "c1", 5000);
	assert_int_equal(learns, 1);
	assert_false(st->held);
	assert_int_equal(st->path, PATH_KERNEL);
	assert_int_equal(socks(st), 0);
	assert_int_equal(removals, 0);		/* replaced, not removed */
	backend_flush(rd);
	assert_int_equal(socks(st), 0);
	relay_fixture_free(rd);
}

static void
test_refused_hold_binds(void **state)
{
	struct relayd *rd = relay_new();
	struct stream *st;

	(void)state;
	hold_rc = -ENOSPC;
	run(rd, "offer", "c2", 4000);
	st = stream_of(rd, "c2");
	backend_flush(rd);
	assert_false(st->held);
	assert_int_equal(socks(st), 4);
	assert_int_equal(rd->totals.hold_failures, 1);
	hold_rc = -EOPNOTSUPP;			/* unsuitable: not a failure */
	run(rd, "offer", "c3", 4000);
	backend_flush(rd);
	assert_int_equal(socks(stream_of(rd, "c3")), 4);
	assert_int_equal(rd->totals.hold_failures, 1);
	relay_fixture_free(rd);
}

static void
test_answer_not_learned_binds(void **state)
{
	struct relayd *rd = relay_new();
	struct stream *st;

	(void)state;
	run(rd, "offer", "c4", 4000);
	backend_flush(rd);
	st = stream_of(rd, "c4");
	assert_true(st->held);
	learn_rc = -EOPNOTSUPP;
	run(rd, "answer", "c4", 5000);
	assert_false(st->held);
	assert_int_equal(removals, 1);		/* the held entries went */
	assert_int_equal(st->path, PATH_USERSPACE);
	assert_int_equal(socks(st), 4);
	relay_fixture_free(rd);
}

static void
test_delete_before_answer(void **state)
{
	struct relayd *rd = relay_new();

	(void)state;
	run(rd, "offer", "c5", 4000);
	backend_flush(rd);
	run(rd, "delete", "c5", 0);
	assert_int_equal(removals, 1);
	backend_flush(rd);
	assert_int_equal(removals, 1);
	/* deleted in its own round: never held, nothing to remove */
	run(rd, "offer", "c6", 4000);
	run(rd, "delete", "c6", 0);
	backend_flush(rd);
	assert_int_equal(holds, 1);
	assert_int_equal(removals, 1);
	assert_int_equal(ports_available(&rd->pools[0]),
	    (PMAX - PMIN + 1) / 2);
	relay_fixture_free(rd);
}

static void
test_answered_in_its_round(void **state)
{
	struct relayd *rd = relay_new();
	struct stream *st;

	(void)state;
	run(rd, "offer", "c7", 4000);
	run(rd, "answer", "c7", 5000);
	st = stream_of(rd, "c7");
	assert_int_equal(st->path, PATH_KERNEL);
	backend_flush(rd);
	assert_int_equal(holds, 0);
	assert_int_equal(socks(st), 0);
	/* the same, the learn failing: bound in the answer */
	learn_rc = -EOPNOTSUPP;
	run(rd, "offer", "c8", 4000);
	run(rd, "answer", "c8", 5000);
	st = stream_of(rd, "c8");
	assert_int_equal(socks(st), 4);
	backend_flush(rd);
	assert_int_equal(holds, 0);
	assert_int_equal(socks(st), 4);
	relay_fixture_free(rd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offer_held_then_learned),
		cmocka_unit_test(test_refused_hold_binds),
		cmocka_unit_test(test_answer_not_learned_binds),
		cmocka_unit_test(test_delete_before_answer),
		cmocka_unit_test(test_answered_in_its_round),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
