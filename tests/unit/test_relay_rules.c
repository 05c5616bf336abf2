/*
 * test_relay_rules.c: relayd's pure rules: the port pool's random order
 * and delayed reuse, endpoint learning and strict source, where packets
 * go, and what is read from packets (STUN, RTCP on a muxed port, RTP loss).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relayd.h"

static void
test_ports_random_even_exhaustion_and_delayed_reuse(void **state)
{
	struct port_pool pp;
	uint16_t p, first, seen = 0;

	assert_int_equal(ports_init(&pp, 30001, 30010), -EINVAL);
	assert_int_equal(ports_init(&pp, 30000, 30000), -EINVAL);
	assert_int_equal(ports_init(&pp, 30000, 30005), 0);
	assert_int_equal(ports_available(&pp), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ports_take(&pp, &p), 0);
		assert_true(p >= 30000 && p <= 30004 && (p & 1) == 0);
		assert_false(seen & (1u << ((p - 30000) / 2)));	/* once */
		seen |= (uint16_t)(1u << ((p - 30000) / 2));
	}
	assert_int_equal(ports_take(&pp, &p), -ENOSPC);
	ports_release(&pp, 30001);	/* odd: ignored */
	ports_release(&pp, 40000);	/* not ours: ignored */
	assert_int_equal(ports_available(&pp), 0);
	ports_free(&pp);

	/* A released pair comes back only after every other free pair. */
	assert_int_equal(ports_init(&pp, 30000, 30015), 0);
	assert_int_equal(ports_take(&pp, &first), 0);
	ports_release(&pp, first);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(ports_take(&pp, &p), 0);
		assert_int_not_equal(p, first);
	}
	assert_int_equal(ports_take(&pp, &p), 0);
	assert_int_equal(p, first);
	ports_free(&pp);
}

/* One call's ports must not tell the next call's (hijack by guessing). */
static void
test_ports_taken_at_random_not_in_sequence(void **state)
{
	struct port_pool pp;
	uint16_t prev, p;
	int next_in_line = 0, ascending = 0;

	assert_int_equal(ports_init(&pp, 30000, 39999), 0);
	assert_int_equal(ports_take(&pp, &prev), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(ports_take(&pp, &p), 0);
		next_in_line += p == prev + 2;
		ascending += p > prev;
		prev = p;
	}
	/* Sequential: 100 and 100. Random among 2500: ~0 and ~50. */
	assert_true(next_in_line <= 3);
	assert_true(ascending < 80);
	ports_free(&pp);
}

/* Restart: the journal's ports are taken exactly, once. */
static void
test_ports_take_port_takes_exactly_that_port_once(void **state)
{
	struct port_pool pp;
	uint16_t p;

	assert_int_equal(ports_init(&pp, 30000, 30007), 0);
	assert_int_equal(ports_take_port(&pp, 30004), 0);
	assert_int_equal(ports_take_port(&pp, 30004), -ENOENT);
	assert_int_equal(ports_take_port(&pp, 30005), -ENOENT);
	assert_int_equal(ports_take_port(&pp, 40000), -ENOENT);
	assert_int_equal(ports_available(&pp), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ports_take(&pp, &p), 0);
		assert_int_not_equal(p, 30004);
	}
	assert_int_equal(ports_take(&pp, &p), -ENOSPC);
	ports_release(&pp, 30004);
	assert_int_equal(ports_take_port(&pp, 30004), 0);
	ports_free(&pp);
}

static struct sockaddr_storage
sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	assert_int_equal(addr_parse(ip, port, &ss), 0);
	return ss;
}

static const struct latch_policy heuristic = { .mode = LEARN_HEURISTIC,
    .window_ms = 3000, .strict = true, .roaming_ssrc = true };

/* A stream whose caller (leg A) offered 192.0.2.1:4000; answered or not. */
static void
stream_setup(struct stream *st, bool answered)
{
	struct endpoint a = { .rtp = sa("192.0.2.1", 4000),
	    .rtcp = sa("192.0.2.1", 4001) };
	struct endpoint b = { .rtp = sa("198.51.100.2", 5000),
	    .rtcp = sa("198.51.100.2", 5001) };

	memset(st, 0, sizeof(*st));
	for (int s = SIDE_A; s <= SIDE_B; s++) {
		st->leg[s].stream = st;
		st->leg[s].side = (enum leg_side)s;
	}
	leg_set_endpoint(&st->leg[SIDE_A], &a);
	if (answered)
		leg_set_endpoint(&st->leg[SIDE_B], &b);
}

static enum latch_verdict
chk(struct leg *leg, enum sock_kind k, const struct sockaddr_storage *src,
    const struct latch_policy *pol, uint64_t now)
{
	return latch_check(leg, k, src, pol, now, NULL, 0);
}

static void
test_exact_sdp_source_latches_at_once_others_rejected(void **state)
{
	struct stream st;
	struct leg *leg = &st.leg[SIDE_A];
	struct sockaddr_storage peer = sa("192.0.2.1", 4000);
	struct sockaddr_storage other = sa("192.0.2.9", 4000);
	struct sockaddr_storage same_ip = sa("192.0.2.1", 4002);

	stream_setup(&st, true);
	assert_int_equal(chk(leg, SK_RTP, &peer, &heuristic, 10), LATCH_LATCHED);
	assert_int_equal(leg->learn.rank, RANK_EXACT);
	assert_false(leg->learn.learning);
	assert_int_equal(chk(leg, SK_RTP, &peer, &heuristic, 20), LATCH_ACCEPT);
	assert_int_equal(chk(leg, SK_RTP, &other, &heuristic, 30), LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTP, &same_ip, &heuristic, 40), LATCH_REJECT);
	assert_true(raddr_equal(&leg->latched[SK_RTP], &peer));
	assert_int_equal(leg->learn.relearns, 0);
}

/* The hijack: a stranger sends first; the real caller still gets the leg. */
static void
test_learning_better_rank_replaces_candidate(void **state)
{
	struct stream st;
	struct leg *leg = &st.leg[SIDE_A];
	struct sockaddr_storage stranger = sa("203.0.113.66", 4000);
	struct sockaddr_storage stranger2 = sa("203.0.113.67", 4000);
	struct sockaddr_storage nat = sa("192.0.2.1", 61000);
	struct sockaddr_storage peer = sa("192.0.2.1", 4000);

	stream_setup(&st, true);
	assert_int_equal(chk(leg, SK_RTP, &stranger, &heuristic, 1000),
	    LATCH_LEARNING);
	assert_int_equal(leg->learn.rank, RANK_OTHER);
	assert_false(stream_fully_latched(&st));
	/* same rank: first come stays, the other is dropped */
	assert_int_equal(chk(leg, SK_RTP, &stranger2, &heuristic, 1100),
	    LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTP, &stranger, &heuristic, 1200),
	    LATCH_ACCEPT);
	assert_int_equal(chk(leg, SK_RTP, &nat, &heuristic, 1300),
	    LATCH_LEARNING);
	assert_int_equal(leg->learn.rank, RANK_ADDR);
	assert_int_equal(chk(leg, SK_RTP, &stranger, &heuristic, 1400),
	    LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTP, &peer, &heuristic, 1500),
	    LATCH_LATCHED);
	assert_true(raddr_equal(&leg->latched[SK_RTP], &peer));
	assert_int_equal(leg->learn.relearns, 2);
	assert_int_equal(chk(leg, SK_RTP, &nat, &heuristic, 1600), LATCH_REJECT);
}

static void
test_learning_window_fixes_the_candidate(void **state)
{
	struct stream st;
	struct leg *leg = &st.leg[SIDE_B];
	struct sockaddr_storage nat = sa("203.0.113.5", 50000);
	struct sockaddr_storage peer = sa("198.51.100.2", 5000);
	struct sockaddr_storage a = sa("192.0.2.1", 4000);

	stream_setup(&st, true);
	assert_int_equal(chk(&st.leg[SIDE_A], SK_RTP, &a, &heuristic, 0),
	    LATCH_LATCHED);
	assert_int_equal(chk(leg, SK_RTP, &nat, &heuristic, 1000),
	    LATCH_LEARNING);
	assert_false(latch_expire(leg, &heuristic, 3999));
	assert_false(stream_fully_latched(&st));	/* not to the kernel yet */
	assert_true(latch_expire(leg, &heuristic, 4000));
	assert_false(latch_expire(leg, &heuristic, 4001));	/* once */
	assert_true(stream_fully_latched(&st));
	/* fixed: not even the SDP address takes it now (strict) */
	assert_int_equal(chk(leg, SK_RTP, &peer, &heuristic, 4100),
	    LATCH_REJECT);
}

/* Ringing: leg A's ports are not known to the caller before the answer. */
static void
test_unanswered_leg_a_accepts_only_the_sdp_address(void **state)
{
	struct stream st;
	struct leg *leg = &st.leg[SIDE_A];
	struct sockaddr_storage stranger = sa("203.0.113.66", 4000);
	struct sockaddr_storage nat = sa("192.0.2.1", 61000);
	struct sockaddr_storage peer = sa("192.0.2.1", 4000);

	stream_setup(&st, false);
	assert_int_equal(chk(leg, SK_RTP, &stranger, &heuristic, 10),
	    LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTP, &nat, &heuristic, 20), LATCH_REJECT);
	assert_false(leg->is_latched[SK_RTP]);
	/* leg B has no SDP yet: nothing to rank against */
	assert_int_equal(chk(&st.leg[SIDE_B], SK_RTP, &stranger, &heuristic,
	    30), LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTP, &peer, &heuristic, 40), LATCH_LATCHED);
}

static void
test_sdp_only_and_immediate_modes(void **state)
{
	struct latch_policy sdp_only = heuristic, imm = heuristic;
	struct stream st;
	struct leg *leg = &st.leg[SIDE_A];
	struct sockaddr_storage stranger = sa("203.0.113.66", 4000);
	struct sockaddr_storage nat = sa("192.0.2.1", 61000);
	struct sockaddr_storage peer = sa("192.0.2.1", 4000);

	sdp_only.mode = LEARN_SDP_ONLY;
	imm.mode = LEARN_IMMEDIATE;
	stream_setup(&st, true);
	assert_int_equal(chk(leg, SK_RTP, &nat, &sdp_only, 10), LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTP, &peer, &sdp_only, 20), LATCH_LATCHED);
	assert_int_equal(chk(leg, SK_RTP, &nat, &sdp_only, 30), LATCH_REJECT);
	/* immediate: the first sender wins, even unanswered (unsafe) */
	stream_setup(&st, false);
	assert_int_equal(chk(leg, SK_RTP, &stranger, &imm, 10), LATCH_LATCHED);
	assert_int_equal(chk(leg, SK_RTP, &peer, &imm, 20), LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTCP, &stranger, &imm, 30), LATCH_LATCHED);
}

static void
test_rtcp_only_from_the_rtp_peer_and_never_on_a_muxed_leg(void **state)
{
	struct stream st;
	struct leg *leg = &st.leg[SIDE_A];
	struct sockaddr_storage stranger = sa("203.0.113.66", 4001);
	struct sockaddr_storage peer = sa("192.0.2.1", 4000);
	struct sockaddr_storage peer_rtcp = sa("192.0.2.1", 4001);
	struct sockaddr_storage peer_nat = sa("192.0.2.1", 61001);
	struct endpoint mux = { .rtp = peer, .rtcp = peer, .rtcp_mux = true };

	stream_setup(&st, true);
	/* before RTP has a peer, RTCP has none either */
	assert_int_equal(chk(leg, SK_RTCP, &peer_rtcp, &heuristic, 5),
	    LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTP, &peer, &heuristic, 10), LATCH_LATCHED);
	assert_int_equal(chk(leg, SK_RTCP, &stranger, &heuristic, 20),
	    LATCH_REJECT);
	assert_false(leg->is_latched[SK_RTCP]);
	assert_int_equal(chk(leg, SK_RTCP, &peer_rtcp, &heuristic, 30),
	    LATCH_LATCHED);
	assert_int_equal(chk(leg, SK_RTCP, &peer_nat, &heuristic, 40),
	    LATCH_REJECT);	/* strict */
	/* muxed: the RTCP port takes nothing, not even from the peer */
	assert_true(leg_set_endpoint(leg, &mux));
	assert_int_equal(chk(leg, SK_RTP, &peer, &heuristic, 50), LATCH_LATCHED);
	assert_int_equal(chk(leg, SK_RTCP, &peer, &heuristic, 60), LATCH_REJECT);
	assert_int_equal(chk(leg, SK_RTCP, &stranger, &heuristic, 70),
	    LATCH_REJECT);
}

static void
rtp(uint8_t *p, uint16_t seq, uint32_t ssrc);

/* strict_source off: a peer may roam, but a stranger may not take over. */
static void
test_non_strict_moves_only_by_rank_or_ssrc(void **state)
{
	struct latch_policy roam = heuristic;
	struct stream st;
	struct leg *leg = &st.leg[SIDE_A];
	struct sockaddr_storage peer = sa("192.0.2.1", 4000);
	struct sockaddr_storage nat = sa("192.0.2.1", 61000);
	struct sockaddr_storage moved = sa("203.0.113.8", 7000);
	uint8_t mine[172], theirs[172];

	roam.strict = false;
	rtp(mine, 1, 0x11111111);
	rtp(theirs, 1, 0x66666666);
	stream_setup(&st, true);
	assert_int_equal(latch_check(leg, SK_RTP, &peer, &roam, 10, mine,
	    sizeof(mine)), LATCH_LATCHED);
	assert_int_equal(latch_check(leg, SK_RTP, &moved, &roam, 20, theirs,
	    sizeof(theirs)), LATCH_REJECT);
	assert_int_equal(latch_check(leg, SK_RTP, &moved, &roam, 30, NULL, 0),
	    LATCH_REJECT);
	assert_int_equal(latch_check(leg, SK_RTP, &moved, &roam, 40, mine,
	    sizeof(mine)), LATCH_RELATCHED);	/* same SSRC: roamed */
	assert_true(raddr_equal(&leg->latched[SK_RTP], &moved));
	assert_int_equal(latch_check(leg, SK_RTP, &nat, &roam, 50, theirs,
	    sizeof(theirs)), LATCH_RELATCHED);	/* better rank */
	roam.roaming_ssrc = false;
	assert_int_equal(latch_check(leg, SK_RTP, &moved, &roam, 60, theirs,
	    sizeof(theirs)), LATCH_REJECT);
	assert_int_equal(leg->learn.relearns, 2);
	/* A peer restored from the journal (not ranked) is ranked by SDP. */
	stream_setup(&st, true);
	raddr_from(&leg->latched[SK_RTP], &peer);
	leg->is_latched[SK_RTP] = true;
	assert_int_equal(latch_rank(leg), RANK_EXACT);
	assert_int_equal(latch_check(leg, SK_RTP, &moved, &roam, 70, theirs,
	    sizeof(theirs)), LATCH_REJECT);
}

static void
test_changed_endpoint_reopens_latch(void **state)
{
	struct leg leg = { 0 };
	struct endpoint ep = { .rtp = sa("192.0.2.1", 4000),
	    .rtcp = sa("192.0.2.1", 4001) };
	struct sockaddr_storage src = sa("198.51.100.1", 1234);

	assert_true(leg_set_endpoint(&leg, &ep));
	assert_int_equal(chk(&leg, SK_RTP, &src, &heuristic, 10),
	    LATCH_LEARNING);
	assert_true(latch_expire(&leg, &heuristic, 5000));
	assert_false(leg_set_endpoint(&leg, &ep));	/* same: keep the latch */
	assert_true(leg.is_latched[SK_RTP]);
	ep.rtp = sa("192.0.2.1", 4100);
	assert_true(leg_set_endpoint(&leg, &ep));
	assert_false(leg.is_latched[SK_RTP]);
	/* learning again, with the same ranking */
	assert_int_equal(chk(&leg, SK_RTP, &src, &heuristic, 6000),
	    LATCH_LEARNING);
	src = sa("192.0.2.1", 4100);
	assert_int_equal(chk(&leg, SK_RTP, &src, &heuristic, 6100),
	    LATCH_LATCHED);
}

static void
test_destination_latched_wins_rtcp_follows_rtp(void **state)
{
	struct leg out = { 0 };
	struct endpoint ep = { .rtp = sa("192.0.2.1", 4000),
	    .rtcp = sa("192.0.2.1", 4001) };
	struct sockaddr_storage dst, nat = sa("203.0.113.5", 50000);
	char buf[64];

	assert_false(leg_destination(&out, SK_RTP, &dst));
	leg_set_endpoint(&out, &ep);
	assert_true(leg_destination(&out, SK_RTCP, &dst));
	assert_string_equal(addr_fmt(&dst, buf, sizeof(buf)), "192.0.2.1:4001");
	/* a candidate of rank "other" hears nothing while the leg learns */
	chk(&out, SK_RTP, &nat, &heuristic, 10);
	assert_true(leg_destination(&out, SK_RTP, &dst));
	assert_string_equal(addr_fmt(&dst, buf, sizeof(buf)), "192.0.2.1:4000");
	latch_expire(&out, &heuristic, 3010);
	assert_true(leg_destination(&out, SK_RTP, &dst));
	assert_string_equal(addr_fmt(&dst, buf, sizeof(buf)), "203.0.113.5:50000");
	assert_true(leg_destination(&out, SK_RTCP, &dst));
	assert_string_equal(addr_fmt(&dst, buf, sizeof(buf)), "203.0.113.5:50001");
	ep.rtcp_mux = true;
	leg_set_endpoint(&out, &ep);
	assert_true(leg_destination(&out, SK_RTCP, &dst));
	assert_string_equal(addr_fmt(&dst, buf, sizeof(buf)), "192.0.2.1:4000");
}

static void
test_fully_latched_needs_both_legs(void **state)
{
	struct stream st;
	struct sockaddr_storage a = sa("192.0.2.1", 4000);
	struct sockaddr_storage b = sa("198.51.100.2", 5000);

	stream_setup(&st, true);
	chk(&st.leg[SIDE_A], SK_RTP, &a, &heuristic, 10);
	assert_false(stream_fully_latched(&st));
	chk(&st.leg[SIDE_B], SK_RTP, &b, &heuristic, 20);
	assert_true(stream_fully_latched(&st));
}

static void
rtp(uint8_t *p, uint16_t seq, uint32_t ssrc)
{
	memset(p, 0, 172);
	p[0] = 0x80;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[8] = (uint8_t)(ssrc >> 24);
	p[11] = (uint8_t)ssrc;
}

static void
test_stun_and_rtcp_recognised(void **state)
{
	uint8_t stun[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	uint8_t pkt[172];

	assert_true(pkt_is_stun(stun, sizeof(stun)));
	stun[4] = 0x22;
	assert_false(pkt_is_stun(stun, sizeof(stun)));
	rtp(pkt, 1, 1);
	assert_true(pkt_is_rtp(pkt, sizeof(pkt)));
	assert_false(pkt_is_stun(pkt, sizeof(pkt)));
	pkt[1] = 200;	/* RTCP sender report */
	assert_true(pkt_is_rtcp(pkt, sizeof(pkt)));
	assert_false(pkt_is_rtp(pkt, sizeof(pkt)));
}

static uint64_t
feed_seq(struct rtp_seq *s, uint16_t seq, uint32_t ssrc)
{
	uint8_t pkt[172];

	rtp(pkt, seq, ssrc);
	return rtp_seq_update(s, pkt, sizeof(pkt));
}

static void
test_rtp_loss_from_sequence_numbers(void **state)
{
	struct rtp_seq s = { 0 };

	assert_int_equal(feed_seq(&s, 65533, 7), 0);
	assert_int_equal(feed_seq(&s, 65534, 7), 0);
	assert_int_equal(feed_seq(&s, 65535, 7), 0);
	assert_int_equal(feed_seq(&s, 0, 7), 0);	/* wrap: no loss */
	assert_int_equal(feed_seq(&s, 4, 7), 3);	/* 1, 2, 3 missing */
	assert_int_equal(feed_seq(&s, 4, 7), 2);	/* a duplicate */
	assert_int_equal(feed_seq(&s, 100, 8), 2);	/* new SSRC keeps loss */
	assert_int_equal(feed_seq(&s, 102, 8), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports_random_even_exhaustion_and_delayed_reuse),
		cmocka_unit_test(test_ports_taken_at_random_not_in_sequence),
		cmocka_unit_test(test_ports_take_port_takes_exactly_that_port_once),
		cmocka_unit_test(test_exact_sdp_source_latches_at_once_others_rejected),
		cmocka_unit_test(test_learning_better_rank_replaces_candidate),
		cmocka_unit_test(test_learning_window_fixes_the_candidate),
		cmocka_unit_test(test_unanswered_leg_a_accepts_only_the_sdp_address),
		cmocka_unit_test(test_sdp_only_and_immediate_modes),
		cmocka_unit_test(test_rtcp_only_from_the_rtp_peer_and_never_on_a_muxed_leg),
		cmocka_unit_test(test_non_strict_moves_only_by_rank_or_ssrc),
		cmocka_unit_test(test_changed_endpoint_reopens_latch),
		cmocka_unit_test(test_destination_latched_wins_rtcp_follows_rtp),
		cmocka_unit_test(test_fully_latched_needs_both_legs),
		cmocka_unit_test(test_stun_and_rtcp_recognised),
		cmocka_unit_test(test_rtp_loss_from_sequence_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
