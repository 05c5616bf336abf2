/*
 * test_kmod_logic6.c: the checksum logic of trunkline.ko's IPv6 and
 * translation paths (kmod/tl_logic6.h), compiled in userspace: the UDP
 * checksum after the addresses and ports change, within IPv6 and across
 * families, against a full recomputation over the new pseudo-header;
 * and a checksum of 0 ("none") is left for the caller.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tl_logic6.h"

/* Full UDP checksum (host order) for addresses of alen bytes (4 or 16). */
static uint16_t
udp_csum(const uint8_t *sa, const uint8_t *da, unsigned int alen,
    uint16_t sport, uint16_t dport, const uint8_t *payload, size_t len)
{
	uint32_t sum = 0;
	uint16_t ulen = (uint16_t)(8 + len);

	sum += tl_sum_words(sa, alen) + tl_sum_words(da, alen);
	sum += 17 + ulen;		/* the same sum in both families */
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
fill(uint8_t *p, size_t n, unsigned int *seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand_r(seed);
}

/* Many random packets, each rewritten from olen- to nlen-byte addresses. */
static void
check_readdr(unsigned int olen, unsigned int nlen)
{
	unsigned int seed = 1234 + olen * 7 + nlen;

	for (int n = 0; n < 20000; n++) {
		uint8_t osa[16], oda[16], nsa[16], nda[16], payload[173];
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof(payload));
		uint16_t osp, odp, nsp, ndp, before, after, want;

		fill(osa, olen, &seed);
		fill(oda, olen, &seed);
		fill(nsa, nlen, &seed);
		fill(nda, nlen, &seed);
		fill(payload, len, &seed);
		if (n % 97 == 0)	/* all-zero and all-ones corners */
			memset(nsa, n % 2 ? 0xff : 0, nlen);
		osp = (uint16_t)rand_r(&seed);
		odp = (uint16_t)rand_r(&seed);
		nsp = (uint16_t)rand_r(&seed);
		ndp = (uint16_t)rand_r(&seed);
		before = udp_csum(osa, oda, olen, osp, odp, payload, len);
		want = udp_csum(nsa, nda, nlen, nsp, ndp, payload, len);
		after = tl_udp_csum_readdr(before, osa, oda, olen, nsa, nda,
		    nlen, osp, nsp, odp, ndp);
		/* 0x0000 and 0xffff are the same one's complement sum; on
		 * the wire both verify (0 is sent as 0xffff) */
		if (after != want)
			fail_msg("olen %u nlen %u packet %d: got %04x want %04x",
			    olen, nlen, n, after, want);
	}
}

static void
test_v6_to_v6(void **state)
{
	(void)state;
	check_readdr(16, 16);
}

static void
test_v4_to_v6(void **state)
{
	(void)state;
	check_readdr(4, 16);
}

static void
test_v6_to_v4(void **state)
{
	(void)state;
	check_readdr(16, 4);
}

static void
test_v4_to_v4(void **state)
{
	(void)state;
	check_readdr(4, 4);
}

/* "No checksum" is not rewritten: IPv4 keeps it, IPv6 computes one. */
static void
test_zero_left_to_caller(void **state)
{
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8 }, b[16] = { 10, 0, 0, 1 };

	(void)state;
	assert_int_equal(tl_udp_csum_readdr(0, b, b, 4, a, a, 16, 1, 2, 3, 4), 0);
	assert_int_equal(tl_udp_csum_readdr(0, a, a, 16, b, b, 4, 1, 2, 3, 4), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v6_to_v6),
		cmocka_unit_test(test_v4_to_v6),
		cmocka_unit_test(test_v6_to_v4),
		cmocka_unit_test(test_v4_to_v4),
		cmocka_unit_test(test_zero_left_to_caller),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
