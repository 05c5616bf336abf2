/*
 * test_relay_rules.c: relayd's pure rules: the port pool's delayed reuse,
 * latching and strict source, where packets go, and what is read from
 * packets (STUN, RTCP on a muxed port, RTP loss).
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
test_ports_even_in_order_exhaustion_and_delayed_reuse(void **state)
{
	struct port_pool pp;
	uint16_t p;

	assert_int_equal(ports_init(&pp, 30001, 30010), -EINVAL);
	assert_int_equal(ports_init(&pp, 30000, 30000), -EINVAL);
	assert_int_equal(ports_init(&pp, 30000, 30005), 0);
	assert_int_equal(ports_available(&pp), 3);
	assert_int_equal(ports_take(&pp, &p), 0);
	assert_int_equal(p, 30000);
	assert_int_equal(ports_take(&pp, &p), 0);
	assert_int_equal(p, 30002);
	ports_release(&pp, 30000);
	ports_release(&pp, 30001);	/* odd: ignored */
	ports_release(&pp, 40000);	/* not ours: ignored */
	assert_int_equal(ports_available(&pp), 2);
	/* 30004 was free longer than the just released 30000. */
	assert_int_equal(ports_take(&pp, &p), 0);
	assert_int_equal(p, 30004);
	assert_int_equal(ports_take(&pp, &p), 0);
	assert_int_equal(p, 30000);
	assert_int_equal(ports_take(&pp, &p), -ENOSPC);
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

static void
test_strict_source_rejects_third_party_after_latch(void **state)
{
	struct leg leg = { 0 };
	struct sockaddr_storage peer = sa("192.0.2.1", 4000);
	struct sockaddr_storage other = sa("192.0.2.9", 4000);
	struct sockaddr_storage same_ip = sa("192.0.2.1", 4002);

	assert_int_equal(latch_check(&leg, SK_RTP, &peer, true), LATCH_LATCHED);
	assert_int_equal(latch_check(&leg, SK_RTP, &peer, true), LATCH_ACCEPT);
	assert_int_equal(latch_check(&leg, SK_RTP, &other, true), LATCH_REJECT);
	assert_int_equal(latch_check(&leg, SK_RTP, &same_ip, true), LATCH_REJECT);
	assert_true(addr_equal(&leg.latched[SK_RTP], &peer));
	/* RTCP latches on its own. */
	assert_false(leg.is_latched[SK_RTCP]);
	assert_int_equal(latch_check(&leg, SK_RTCP, &other, true), LATCH_LATCHED);
}

static void
test_non_strict_follows_the_last_sender(void **state)
{
	struct leg leg = { 0 };
	struct sockaddr_storage a = sa("192.0.2.1", 4000), b = sa("192.0.2.2", 4000);

	latch_check(&leg, SK_RTP, &a, false);
	assert_int_equal(latch_check(&leg, SK_RTP, &b, false), LATCH_RELATCHED);
	assert_true(addr_equal(&leg.latched[SK_RTP], &b));
}

static void
test_changed_endpoint_reopens_latch(void **state)
{
	struct leg leg = { 0 };
	struct endpoint ep = { .rtp = sa("192.0.2.1", 4000),
	    .rtcp = sa("192.0.2.1", 4001) };
	struct sockaddr_storage src = sa("198.51.100.1", 1234);

	assert_true(leg_set_endpoint(&leg, &ep));
	latch_check(&leg, SK_RTP, &src, true);
	assert_false(leg_set_endpoint(&leg, &ep));	/* same: keep the latch */
	assert_true(leg.is_latched[SK_RTP]);
	ep.rtp = sa("192.0.2.1", 4100);
	assert_true(leg_set_endpoint(&leg, &ep));
	assert_false(leg.is_latched[SK_RTP]);
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
	latch_check(&out, SK_RTP, &nat, true);
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
	struct stream st = { 0 };
	struct sockaddr_storage a = sa("192.0.2.1", 4000);

	latch_check(&st.leg[SIDE_A], SK_RTP, &a, true);
	assert_false(stream_fully_latched(&st));
	latch_check(&st.leg[SIDE_B], SK_RTP, &a, true);
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
		cmocka_unit_test(test_ports_even_in_order_exhaustion_and_delayed_reuse),
		cmocka_unit_test(test_ports_take_port_takes_exactly_that_port_once),
		cmocka_unit_test(test_strict_source_rejects_third_party_after_latch),
		cmocka_unit_test(test_non_strict_follows_the_last_sender),
		cmocka_unit_test(test_changed_endpoint_reopens_latch),
		cmocka_unit_test(test_destination_latched_wins_rtcp_follows_rtp),
		cmocka_unit_test(test_fully_latched_needs_both_legs),
		cmocka_unit_test(test_stun_and_rtcp_recognised),
		cmocka_unit_test(test_rtp_loss_from_sequence_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
