/*
 * test_relay_timers.c: the deadline heap (theap.c) and the session
 * timers built on it (timers.c): order, re-arm, removal from the middle,
 * 100,000 entries; a session's deadline never comes after its timeout;
 * a tick ends exactly the sessions whose time came and leaves the others
 * in the heap untouched.
 */
#include <errno.h>
#include <poll.h>
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

/* Every parent no later than its children, every pos right. */
static void
assert_heap_ok(const struct theap *h)
{
	for (size_t i = 0; i < h->n; i++) {
		assert_int_equal(h->v[i]->pos, i + 1);
		if (i > 0)
			assert_true(h->v[(i - 1) / 2]->at <= h->v[i]->at);
	}
}

/* Pops everything; the deadlines come out in order. Returns how many. */
static size_t
drain_in_order(struct theap *h)
{
	struct theap_node *nd;
	uint32_t prev = 0;
	size_t n = 0;

	while ((nd = theap_top(h)) != NULL) {
		assert_true(nd->at >= prev);
		prev = nd->at;
		theap_del(h, nd);
		assert_int_equal(nd->pos, 0);
		n++;
	}
	return n;
}

static void
test_heap_pops_in_deadline_order(void **state)
{
	struct theap h = { 0 };
	struct theap_node nd[1000];

	(void)state;
	srandom(1);
	memset(nd, 0, sizeof(nd));
	assert_null(theap_top(&h));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(theap_set(&h, &nd[i],
		    (uint32_t)(random() % 500)), 0);
	assert_heap_ok(&h);
	assert_int_equal(drain_in_order(&h), 1000);
	theap_free(&h);
}

static void
test_heap_rearm_moves_a_node_both_ways(void **state)
{
	struct theap h = { 0 };
	struct theap_node nd[10];

	(void)state;
	memset(nd, 0, sizeof(nd));
	for (int i = 0; i < 10; i++)
		assert_int_equal(theap_set(&h, &nd[i], (uint32_t)(100 + i)), 0);
	/* the last one first */
	assert_int_equal(theap_set(&h, &nd[9], 5), 0);
	assert_ptr_equal(theap_top(&h), &nd[9]);
	assert_int_equal(h.n, 10);		/* moved, not added */
	/* the first one last */
	assert_int_equal(theap_set(&h, &nd[9], 1000), 0);
	assert_ptr_equal(theap_top(&h), &nd[0]);
	assert_heap_ok(&h);
	assert_int_equal(theap_set(&h, &nd[0], 999), 0);
	assert_ptr_equal(theap_top(&h), &nd[1]);
	/* the same deadline again changes nothing */
	assert_int_equal(theap_set(&h, &nd[1], 101), 0);
	assert_ptr_equal(theap_top(&h), &nd[1]);
	assert_heap_ok(&h);
	assert_int_equal(drain_in_order(&h), 10);
	theap_free(&h);
}

static void
test_heap_removes_a_middle_node(void **state)
{
	struct theap h = { 0 };
	struct theap_node nd[100];
	uint32_t prev = 0;
	size_t n = 0;

	(void)state;
	memset(nd, 0, sizeof(nd));
	/* deadlines that make the last node move up into the hole */
	for (int i = 0; i < 100; i++)
		assert_int_equal(theap_set(&h, &nd[i],
		    (uint32_t)(i % 2 ? 1000 - i : i)), 0);
	for (int i = 0; i < 100; i += 7) {
		theap_del(&h, &nd[i]);
		assert_int_equal(nd[i].pos, 0);
		theap_del(&h, &nd[i]);		/* twice: nothing */
		assert_heap_ok(&h);
	}
	while (theap_top(&h) != NULL) {
		struct theap_node *t = theap_top(&h);
		assert_true((t - nd) % 7 != 0);
		assert_true(t->at >= prev);
		prev = t->at;
		theap_del(&h, t);
		n++;
	}
	assert_int_equal(n, 100 - 15);
	theap_free(&h);
}

/* 100,000 nodes, random arms, re-arms and removals, checked throughout. */
static void
test_heap_100000_nodes(void **state)
{
	enum { N = 100000 };
	struct theap h = { 0 };
	struct theap_node *nd = calloc(N, sizeof(*nd));
	size_t in = 0;

	(void)state;
	assert_non_null(nd);
	srandom(7);
	for (int i = 0; i < N; i++)
		assert_int_equal(theap_set(&h, &nd[i],
		    (uint32_t)random()), 0);
	assert_int_equal(h.n, N);
	assert_heap_ok(&h);
	for (int k = 0; k < 3 * N; k++) {
		struct theap_node *x = &nd[random() % N];
		if (random() % 3 == 0)
			theap_del(&h, x);
		else
			assert_int_equal(theap_set(&h, x,
			    (uint32_t)random()), 0);
	}
	assert_heap_ok(&h);
	for (int i = 0; i < N; i++)
		in += nd[i].pos != 0;
	assert_int_equal(in, h.n);
	assert_int_equal(drain_in_order(&h), in);
	theap_free(&h);
	free(nd);
}

/* ---- session deadlines ---- */

static int
setup(void **state)
{
	*state = relay_fixture_new(&(struct relay_fixture){
	    .buckets = 16, .backend = "userspace" });
	return 0;
}

static int
teardown(void **state)
{
	relay_fixture_free(*state);
	return 0;
}

/* A session with one stream, built by hand (no ports). */
static struct session *
timed_session(uint64_t created, enum session_state st, uint64_t last)
{
	struct session *s = calloc(1, sizeof(*s));

	s->streams = calloc(1, sizeof(*s->streams));
	s->streams[0] = calloc(1, sizeof(**s->streams));
	s->nstreams = 1;
	s->created_ms = created;
	s->state = st;
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

/*
 * Before its deadline a session never expires; at it, one that gets no
 * packet does (the deadline is exact, not just early).
 */
static void
check_deadline(struct relayd *rd, struct session *s, uint64_t now,
    bool exact)
{
	uint64_t d = session_deadline(rd, s, now);

	assert_true(d > now || session_expired(rd, s, now) != NULL);
	if (d == UINT64_MAX)
		return;
	for (uint64_t t = now; t < d && t < now + 200000; t += 100)
		assert_null(session_expired(rd, s, t));
	if (d > now)
		assert_null(session_expired(rd, s, d - 1));
	if (exact)
		assert_non_null(session_expired(rd, s, d));
}

static void
test_deadline_is_when_the_timeout_ends_the_call(void **state)
{
	struct relayd *rd = *state;
	const uint64_t t0 = 1000000;
	struct session *s;

	rd->conf.setup_timeout = 10;
	rd->conf.inactivity_timeout = 5;
	rd->conf.hold_timeout = 20;
	rd->conf.max_duration = 100;
	rd->conf.ringing_timeout = 300;

	s = timed_session(t0, SS_OFFERED, 0);
	assert_int_equal(session_deadline(rd, s, t0), t0 + 10000);
	check_deadline(rd, s, t0, true);
	/* answered without packets: setup, or inactivity from a first
	 * packet that may come now: the earlier of the two */
	s->state = SS_ANSWERED;
	assert_int_equal(session_deadline(rd, s, t0 + 1000), t0 + 6000);
	check_deadline(rd, s, t0 + 1000, false);
	assert_int_equal(session_deadline(rd, s, t0 + 8000), t0 + 10000);
	check_deadline(rd, s, t0 + 8000, true);
	/* media: inactivity from the last packet */
	s->streams[0]->leg[SIDE_A].stats.last_seen_ms = t0 + 20000;
	assert_int_equal(session_deadline(rd, s, t0 + 21000), t0 + 25000);
	check_deadline(rd, s, t0 + 21000, true);
	/* held: the hold timeout */
	s->streams[0]->leg[SIDE_B].sdp.direction = DIR_SENDONLY;
	assert_int_equal(session_deadline(rd, s, t0 + 21000), t0 + 40000);
	check_deadline(rd, s, t0 + 21000, true);
	/* hold 0: only max_duration */
	rd->conf.hold_timeout = 0;
	assert_int_equal(session_deadline(rd, s, t0 + 21000), t0 + 100000);
	check_deadline(rd, s, t0 + 21000, true);
	/* ringing: only its backstop (and max_duration) */
	rd->conf.max_duration = 0;
	s->ringing = true;
	assert_int_equal(session_deadline(rd, s, t0), t0 + 300000);
	check_deadline(rd, s, t0 + 250000, true);
	/* the final answer: setup from then */
	s->ringing = false;
	s->answered_ms = t0 + 90000;
	s->streams[0]->leg[SIDE_A].stats.last_seen_ms = 0;
	s->state = SS_OFFERED;
	assert_int_equal(session_deadline(rd, s, t0 + 90000), t0 + 100000);
	check_deadline(rd, s, t0 + 90000, true);
	/* fractions of a second: rounded up, never early */
	rd->conf.setup_timeout = 0.1005;
	s->answered_ms = 0;
	assert_int_equal(session_deadline(rd, s, t0), t0 + 101);
	check_deadline(rd, s, t0, true);
	free_timed(s);
}

/* Waits (bounded) for the next tick and runs it. */
static void
one_tick(struct relayd *rd)
{
	struct pollfd p = { .fd = rd->timerfd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 2000), 1);
	timers_tick(rd);
}

/*
 * 2,000 calls, 1,000 of them with a 0.3 s setup timeout: those end (one
 * `timeout` each), the others stay, and a tick after that has nothing to
 * look at: the heap's earliest deadline is an hour away.
 */
static void
test_tick_ends_only_the_calls_whose_time_came(void **state)
{
	struct relayd *rd = *state;
	struct session *s;
	char id[32];
	uint64_t start;
	int ticks = 0;

	rd->conf.setup_timeout = 3600;
	assert_int_equal(timers_open(rd), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "call-%d", i);
		s = session_create(rd, id, "a", 0, 0);
		assert_non_null(s);
		/* odd calls: created an hour minus 0.3 s ago */
		if (i % 2)
			s->created_ms -= 3600 * 1000 - 300;
		timers_arm(rd, s);
	}
	assert_int_equal(rd->timers.heap.n, 2000);
	start = now_ms();
	while (rd->sessions.count > 1000 && now_ms() - start < 5000) {
		one_tick(rd);
		ticks++;
	}
	assert_int_equal(rd->sessions.count, 1000);
	assert_int_equal(rd->totals.sessions_timed_out, 1000);
	assert_int_equal(rd->timers.heap.n, 1000);
	for (s = rd->sessions.first; s != NULL; s = s->next) {
		int n = atoi(s->call_id + 5);
		assert_int_equal(n % 2, 0);
		assert_int_not_equal(s->timer.pos, 0);
	}
	/* no sooner than 0.3 s after the arm (with a tick of slack) */
	assert_true(ticks >= 2);
	assert_true(theap_top(&rd->timers.heap)->at >
	    (now_ms() - rd->timers.base_ms) / RELAYD_TICK_MS + 30000);
	one_tick(rd);
	assert_int_equal(rd->sessions.count, 1000);
	/* a delete takes the call's deadline with it */
	session_destroy(rd, rd->sessions.first);
	assert_int_equal(rd->timers.heap.n, 999);
	assert_heap_ok(&rd->timers.heap);
}

/* A call that is still busy at its deadline is not ended: re-armed. */
static void
test_busy_call_at_its_deadline_is_rearmed(void **state)
{
	struct relayd *rd = *state;
	struct session *s;
	uint64_t start;

	rd->conf.setup_timeout = 0.2;
	rd->conf.inactivity_timeout = 3600;
	assert_int_equal(timers_open(rd), 0);
	s = session_create(rd, "busy", "a", 0, 0);
	assert_non_null(s);
	s->state = SS_ANSWERED;
	timers_arm(rd, s);		/* setup in 0.2 s */
	/* a packet came meanwhile: the leg shows it (no stream: a hand-made
	 * one, kept by the test) */
	s->streams = calloc(1, sizeof(*s->streams));
	s->streams[0] = calloc(1, sizeof(**s->streams));
	s->nstreams = 1;
	s->streams[0]->leg[SIDE_A].stats.last_seen_ms = now_ms();
	start = now_ms();
	while (now_ms() - start < 600)
		one_tick(rd);
	assert_ptr_equal(session_find(&rd->sessions, "busy"), s);
	assert_int_equal(rd->totals.sessions_timed_out, 0);
	/* its next deadline: an hour after that packet */
	assert_true(s->timer.at > (now_ms() - rd->timers.base_ms) /
	    RELAYD_TICK_MS + 30000);
	free(s->streams[0]);
	free(s->streams);
	s->streams = NULL;
	s->nstreams = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_pops_in_deadline_order),
		cmocka_unit_test(test_heap_rearm_moves_a_node_both_ways),
		cmocka_unit_test(test_heap_removes_a_middle_node),
		cmocka_unit_test(test_heap_100000_nodes),
		cmocka_unit_test_setup_teardown(test_deadline_is_when_the_timeout_ends_the_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tick_ends_only_the_calls_whose_time_came, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_call_at_its_deadline_is_rearmed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
