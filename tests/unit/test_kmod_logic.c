/*
 * test_kmod_logic.c: the pure logic of trunkline.ko (kmod/tl_logic.h),
 * compiled in userspace: the incremental UDP checksum update against a
 * full recomputation, checksum 0, RTP loss counting against relayd's own
 * counter, and the spread of the table's key hash.
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
#include "tl_logic.h"

/* Full UDP checksum over pseudo-header, header and payload (host order). */
static uint16_t
udp_csum(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
    const uint8_t *payload, size_t len)
{
	uint32_t sum = 0;
	uint16_t ulen = (uint16_t)(8 + len);

	sum += saddr >> 16;
	sum += saddr & 0xffff;
	sum += daddr >> 16;
	sum += daddr & 0xffff;
	sum += 17 + ulen;
	sum += sport + dport + ulen;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(payload[i] << 8 | payload[i + 1]);
	if (len & 1)
		sum += (uint32_t)(payload[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = (uint16_t)~sum;
	return sum ? (uint16_t)sum : 0xffff;
}

static void
test_csum_rewrite_matches_full_recompute(void **state)
{
	uint8_t payload[173];

	srand(4242);
	for (int round = 0; round < 20000; round++) {
		uint32_t s0 = (uint32_t)rand() << 1 ^ (uint32_t)rand();
		uint32_t d0 = (uint32_t)rand() << 1 ^ (uint32_t)rand();
		uint32_t s1 = (uint32_t)rand() << 1 ^ (uint32_t)rand();
		uint32_t d1 = (uint32_t)rand() << 1 ^ (uint32_t)rand();
		uint16_t sp0 = (uint16_t)rand(), dp0 = (uint16_t)rand();
		uint16_t sp1 = (uint16_t)rand(), dp1 = (uint16_t)rand();
		size_t len = (size_t)(rand() % (int)sizeof(payload));
		uint16_t before, after, want;

		for (size_t i = 0; i < len; i++)
			payload[i] = (uint8_t)rand();
		before = udp_csum(s0, d0, sp0, dp0, payload, len);
		want = udp_csum(s1, d1, sp1, dp1, payload, len);
		after = tl_udp_csum_rewrite(before, s0, s1, d0, d1, sp0, sp1,
		    dp0, dp1);
		/* 0x0000 and 0xffff are the same one's complement number;
		 * on the wire 0 is "no checksum", so both sides use 0xffff */
		assert_int_equal(after, want);
	}
}

static void
test_csum_zero_stays_zero(void **state)
{
	assert_int_equal(tl_udp_csum_rewrite(0, 0x0a000001, 0x0a000101,
	    0x0a000002, 0x0a000202, 4000, 30000, 30002, 5000), 0);
}

static void
test_csum_unchanged_fields_keep_checksum(void **state)
{
	assert_int_equal(tl_udp_csum_rewrite(0x1234, 1, 1, 2, 2, 3, 3, 4, 4),
	    0x1234);
}

static void
rtp_pkt(uint8_t *p, uint16_t seq, uint32_t ssrc)
{
	memset(p, 0, 12);
	p[0] = 0x80;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
}

/* The kernel's loss counter says what relayd's says, on the same input. */
static void
test_rtp_loss_matches_relayd(void **state)
{
	struct tl_rtp k;
	struct rtp_seq u;
	uint8_t p[12];
	uint64_t lost = 0;

	memset(&k, 0, sizeof(k));
	memset(&u, 0, sizeof(u));
	srand(77);
	uint16_t seq = 65000;
	uint32_t ssrc = 0x1000;
	for (int i = 0; i < 50000; i++) {
		int r = rand() % 1000;

		if (r < 20)
			seq = (uint16_t)(seq + 2 + rand() % 5);	/* loss */
		else if (r < 25)
			seq = (uint16_t)(seq - 3);		/* reorder */
		else if (r == 26)
			ssrc++;					/* new source */
		else if (r == 27)
			seq = (uint16_t)(seq + 20000);		/* restart */
		else
			seq++;
		rtp_pkt(p, seq, ssrc);
		tl_rtp_update(&k, p, sizeof(p));
		lost = rtp_seq_update(&u, p, sizeof(p));
		assert_int_equal(tl_rtp_lost(&k), lost);
	}
	assert_true(lost > 0);
}

static void
test_rtp_ignores_rtcp_and_short(void **state)
{
	struct tl_rtp k;
	uint8_t p[12];

	memset(&k, 0, sizeof(k));
	rtp_pkt(p, 1, 9);
	p[1] = 200;		/* RTCP sender report */
	tl_rtp_update(&k, p, sizeof(p));
	assert_false(k.init);
	rtp_pkt(p, 1, 9);
	tl_rtp_update(&k, p, 11);
	assert_false(k.init);
	tl_rtp_update(&k, p, 12);
	assert_true(k.init);
	assert_int_equal(k.ssrc, 9);
}

/* 10,000 relay ports on one address spread over the 2^14 buckets. */
static void
test_key_hash_spreads_ports(void **state)
{
	static unsigned counts[1 << 14];
	struct tl_key key;
	unsigned max = 0;

	memset(&key, 0, sizeof(key));
	key.addr[0] = htonl(0x0a000101);
	key.family = 2;
	key.proto = 17;
	for (unsigned port = 30000; port < 40000; port++) {
		unsigned b;

		key.port = (uint16_t)port;
		b = tl_key_hash(&key, 0x5eed) >> (32 - 14);
		if (++counts[b] > max)
			max = counts[b];
	}
	assert_true(max <= 8);
}

/*
 * 100,000 keys (two addresses, 50,000 ports each) over the default 2^17
 * buckets (hash_bits): about 0.76 per bucket, as a uniform hash would
 * place them (empty buckets about e^-0.76 = 47 %), no long chain.
 */
static void
test_key_hash_spreads_100k(void **state)
{
	static unsigned counts[1 << 17];
	struct tl_key key;
	unsigned max = 0, empty = 0;

	memset(&key, 0, sizeof(key));
	key.family = 2;
	key.proto = 17;
	for (unsigned a = 1; a <= 2; a++)
		for (unsigned port = 10000; port < 60000; port++) {
			unsigned b;

			key.addr[0] = htonl(0x0a000100 + a);
			key.port = (uint16_t)port;
			b = tl_key_hash(&key, 0x5eed) >> (32 - 17);
			if (++counts[b] > max)
				max = counts[b];
		}
	for (unsigned b = 0; b < (1u << 17); b++)
		empty += counts[b] == 0;
	assert_true(max <= 10);
	assert_true(empty > (1u << 17) * 40 / 100 && empty < (1u << 17) * 54 / 100);
}

static void
test_key_equal(void **state)
{
	struct tl_key a, b;

	memset(&a, 0, sizeof(a));
	a.addr[0] = 1;
	a.port = 2;
	a.family = 2;
	a.proto = 17;
	b = a;
	assert_true(tl_key_equal(&a, &b));
	b.port = 3;
	assert_false(tl_key_equal(&a, &b));
	b = a;
	b.addr[3] = 1;
	assert_false(tl_key_equal(&a, &b));
}

/*
 * Every time lands in the slot whose range, computed as a reader of
 * TL_A_PROBE_HIST computes it from trunkline_uapi.h, holds it; the
 * slots are in order and the last one holds 2^24 ns and more.
 */
static void
test_probe_slots_match_uapi_layout(void **state)
{
	unsigned int prev = 0;

	(void)state;
	assert_int_equal(TL_PROBE_SLOTS, 337);
	for (uint64_t ns = 0; ns < (1ull << 26); ns = ns < 64 ? ns + 1 : ns + ns / 29 + 1) {
		unsigned int s = tl_probe_slot(ns);

		assert_true(s < TL_PROBE_SLOTS);
		assert_true(s >= prev);
		prev = s;
		if (s == TL_PROBE_SLOTS - 1) {
			assert_true(ns >= (1ull << 24));
			continue;
		}
		assert_true(tl_probe_slot_low(s) <= ns);
		assert_true(ns < tl_probe_slot_low(s + 1) ||
		    (s + 1 == TL_PROBE_SLOTS - 1 && ns < (1ull << 24)));
	}
	for (unsigned int s = 0; s + 1 < TL_PROBE_SLOTS; s++) {
		assert_int_equal(tl_probe_slot(tl_probe_slot_low(s)), s);
		if (s > 0)
			assert_int_equal(tl_probe_slot(tl_probe_slot_low(s) - 1), s - 1);
	}
	assert_int_equal(tl_probe_slot((1ull << 24) - 1), TL_PROBE_SLOTS - 2);
	assert_int_equal(tl_probe_slot(1ull << 24), TL_PROBE_SLOTS - 1);
	assert_int_equal(tl_probe_slot(~0ull), TL_PROBE_SLOTS - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_rewrite_matches_full_recompute),
		cmocka_unit_test(test_csum_zero_stays_zero),
		cmocka_unit_test(test_csum_unchanged_fields_keep_checksum),
		cmocka_unit_test(test_rtp_loss_matches_relayd),
		cmocka_unit_test(test_rtp_ignores_rtcp_and_short),
		cmocka_unit_test(test_key_hash_spreads_ports),
		cmocka_unit_test(test_key_hash_spreads_100k),
		cmocka_unit_test(test_key_equal),
		cmocka_unit_test(test_probe_slots_match_uapi_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
