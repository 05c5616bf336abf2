/*
 * test_kmod_learn.c: endpoint learning is designed once (kmod/tl_learn.h)
 * and applied by relayd's latch.c and by trunkline.ko. Checks the ranking
 * and the decision table, then drives relayd's latch_check and the
 * kernel's learner (tl_learner_packet) with the same random packet
 * sequences and asserts they agree on every verdict, the peer and its
 * rank: the hostile race (a stranger before the SDP endpoint), NATs from
 * other ports, and strict source after the window.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "relayd.h"
#include "tl_learn.h"

static struct sockaddr_storage
sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	assert_int_equal(addr_parse(ip, port, &ss), 0);
	return ss;
}

static struct tl_ep
ep(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = sa(ip, port);
	struct tl_ep e;

	tl_ep_of(&ss, &e);
	return e;
}

static void
test_rank(void **state)
{
	struct tl_ep sdp = ep("192.0.2.1", 4000), none = { .port = 0 };
	struct tl_ep exact = ep("192.0.2.1", 4000);
	struct tl_ep nat = ep("192.0.2.1", 31000);
	struct tl_ep other = ep("203.0.113.66", 4000);

	(void)state;
	assert_int_equal(tl_learn_rank(&sdp, &exact), TL_RANK_EXACT);
	assert_int_equal(tl_learn_rank(&sdp, &nat), TL_RANK_ADDR);
	assert_int_equal(tl_learn_rank(&sdp, &other), TL_RANK_OTHER);
	assert_int_equal(tl_learn_rank(&none, &exact), TL_RANK_OTHER);
	assert_int_equal(tl_learn_rank(NULL, &exact), TL_RANK_OTHER);
}

static void
test_decide(void **state)
{
	struct tl_learn_view open = { .learnable = true };
	struct tl_learn_view cand = { .latched = true, .learning = true,
	    .rank = TL_RANK_OTHER, .learnable = true };
	struct tl_learn_view fixed = { .latched = true, .rank = TL_RANK_ADDR,
	    .learnable = true };
	struct tl_learn_view guess = { .learnable = false };
	struct tl_learn_view sdponly = { .sdp_only = true, .learnable = true };

	(void)state;
	assert_int_equal(tl_learn_decide(&open, TL_RANK_OTHER, true), TL_LEARN_TAKE);
	assert_int_equal(tl_learn_decide(&open, TL_RANK_EXACT, true), TL_LEARN_FIX);
	assert_int_equal(tl_learn_decide(&cand, TL_RANK_OTHER, true), TL_LEARN_REJECT);
	assert_int_equal(tl_learn_decide(&cand, TL_RANK_ADDR, true), TL_LEARN_TAKE);
	assert_int_equal(tl_learn_decide(&cand, TL_RANK_EXACT, true), TL_LEARN_FIX);
	/* the window is over: strict, even for the SDP endpoint */
	assert_int_equal(tl_learn_decide(&cand, TL_RANK_EXACT, false), TL_LEARN_REJECT);
	assert_int_equal(tl_learn_decide(&fixed, TL_RANK_EXACT, true), TL_LEARN_REJECT);
	assert_int_equal(tl_learn_decide(&guess, TL_RANK_ADDR, true), TL_LEARN_REJECT);
	assert_int_equal(tl_learn_decide(&guess, TL_RANK_EXACT, true), TL_LEARN_FIX);
	assert_int_equal(tl_learn_decide(&sdponly, TL_RANK_ADDR, true), TL_LEARN_REJECT);
}

/* The kernel's learner: a stranger racing the caller loses to the SDP. */
static void
test_learner_race(void **state)
{
	struct tl_learner l = { .sdp = ep("192.0.2.1", 4000), .window = 3000,
	    .learnable = true };
	struct tl_ep att = ep("203.0.113.66", 4000), caller = l.sdp;

	(void)state;
	assert_int_equal(tl_learner_packet(&l, &att, 10), TL_LEARN_TAKE);
	assert_int_equal(tl_learner_packet(&l, &att, 11), TL_LEARN_ACCEPT);
	assert_int_equal(tl_learner_packet(&l, &caller, 12), TL_LEARN_FIX);
	assert_int_equal(tl_learner_packet(&l, &att, 13), TL_LEARN_REJECT);
	assert_true(tl_ep_equal(&l.peer, &caller));
	assert_false(l.learning);
}

/* A NAT'd caller is learned within the window; strict after it. */
static void
test_learner_window(void **state)
{
	struct tl_learner l = { .sdp = ep("192.0.2.1", 4000), .window = 3000,
	    .learnable = true };
	struct tl_ep nat = ep("192.0.2.1", 31000), nat2 = ep("192.0.2.1", 31002);
	struct tl_ep att = ep("203.0.113.66", 4000);

	(void)state;
	assert_int_equal(tl_learner_packet(&l, &nat, 1000), TL_LEARN_TAKE);
	assert_int_equal(l.rank, TL_RANK_ADDR);
	assert_int_equal(tl_learner_packet(&l, &att, 2000), TL_LEARN_REJECT);
	assert_false(tl_learner_expire(&l, 3999));
	assert_true(tl_learner_expire(&l, 4000));
	assert_int_equal(tl_learner_packet(&l, &nat2, 4001), TL_LEARN_REJECT);
	assert_int_equal(tl_learner_packet(&l, &l.sdp, 4002), TL_LEARN_REJECT);
	assert_int_equal(tl_learner_packet(&l, &nat, 4003), TL_LEARN_ACCEPT);
}

static enum tl_learn_verdict
verdict_of(enum latch_verdict v)
{
	switch (v) {
	case LATCH_ACCEPT: return TL_LEARN_ACCEPT;
	case LATCH_LEARNING: return TL_LEARN_TAKE;
	case LATCH_LATCHED: return TL_LEARN_FIX;
	default: return TL_LEARN_REJECT;
	}
}

/*
 * The same random packets into relayd's leg (latch_expire, then
 * latch_check, as forward.c does) and into the kernel's learner.
 */
static void
test_userspace_and_kernel_agree(void **state)
{
	const struct latch_policy pol = { .mode = LEARN_HEURISTIC,
	    .window_ms = 3000, .strict = true };
	struct sockaddr_storage src[5] = { sa("192.0.2.1", 4000),
	    sa("192.0.2.1", 31000), sa("192.0.2.1", 31002),
	    sa("203.0.113.66", 4000), sa("203.0.113.67", 9) };
	struct endpoint a = { .set = true, .rtp = sa("192.0.2.1", 4000),
	    .rtcp = sa("192.0.2.1", 4001) };
	struct endpoint b = { .set = true, .rtp = sa("198.51.100.2", 5000),
	    .rtcp = sa("198.51.100.2", 5001) };
	unsigned seed = 16;

	(void)state;
	for (int run = 0; run < 2000; run++) {
		struct stream st;
		struct leg *leg = &st.leg[SIDE_A];
		struct tl_learner l = { .window = pol.window_ms,
		    .learnable = true };
		uint64_t now = 1;

		memset(&st, 0, sizeof(st));
		for (int s = SIDE_A; s <= SIDE_B; s++) {
			st.leg[s].stream = &st;
			st.leg[s].side = (enum leg_side)s;
		}
		leg_set_endpoint(&st.leg[SIDE_A], &a);
		leg_set_endpoint(&st.leg[SIDE_B], &b);
		tl_ep_of(&a.rtp, &l.sdp);
		for (int i = 0; i < 12; i++) {
			int k = rand_r(&seed) % 5;
			struct tl_ep e;
			enum latch_verdict u;

			now += (uint64_t)(rand_r(&seed) % 1500);
			tl_ep_of(&src[k], &e);
			latch_expire(leg, &pol, now);
			u = latch_check(leg, SK_RTP, &src[k], &pol, now, NULL, 0);
			assert_int_equal(verdict_of(u),
			    tl_learner_packet(&l, &e, now));
			assert_int_equal(leg->is_latched[SK_RTP], l.latched);
			if (!l.latched)
				continue;
			tl_ep_of(RADDR_SS(&leg->latched[SK_RTP]), &e);
			assert_true(tl_ep_equal(&e, &l.peer));
			assert_int_equal((int)latch_rank(leg), (int)l.rank);
			assert_int_equal(leg->learn.learning, l.learning);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_learner_race),
		cmocka_unit_test(test_learner_window),
		cmocka_unit_test(test_userspace_and_kernel_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
