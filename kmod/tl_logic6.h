/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tl_logic6.h: the pure logic of trunkline.ko's IPv6 and translation
 * paths (tl_ipv6.c), compiled by a userspace unit test too
 * (tests/unit/test_kmod_logic6.c): the UDP checksum after the pseudo-
 * header's addresses change, within a family or across (IPv4 <-> IPv6).
 * The pseudo-header's length and protocol words sum the same in both
 * families (RFC 8200 8.1), so only the addresses and ports differ.
 */
#ifndef TL_LOGIC6_H
#define TL_LOGIC6_H

#include "tl_logic.h"

/* The one's complement sum of the 16-bit words of n bytes (n even). */
static inline u32 tl_sum_words(const u8 *p, unsigned int n)
{
	u32 sum = 0;
	unsigned int i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (u32)(p[i] << 8 | p[i + 1]);
	return sum;
}

/* The same, of the complements: subtracting these words (RFC 1624). */
static inline u32 tl_sum_not_words(const u8 *p, unsigned int n)
{
	u32 sum = 0;
	unsigned int i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (u16)~(p[i] << 8 | p[i + 1]);
	return sum;
}

/*
 * A complete UDP checksum after the addresses (osa, oda: olen bytes each,
 * network order; 4 or 16) become (nsa, nda: nlen bytes each) and the
 * ports (host order) change. A checksum of 0 ("none", IPv4 only) gives
 * 0: the caller keeps it for IPv4 and computes one for IPv6, where 0 is
 * invalid. A computed 0 is sent as 0xffff.
 */
static inline u16 tl_udp_csum_readdr(u16 check, const u8 *osa,
				     const u8 *oda, unsigned int olen,
				     const u8 *nsa, const u8 *nda,
				     unsigned int nlen, u16 osport, u16 nsport,
				     u16 odport, u16 ndport)
{
	u32 sum;

	if (check == 0)
		return 0;
	sum = (u16)~check;
	sum += tl_sum_not_words(osa, olen) + tl_sum_not_words(oda, olen);
	sum += tl_sum_words(nsa, nlen) + tl_sum_words(nda, nlen);
	sum += (u16)~osport + (u32)nsport + (u16)~odport + (u32)ndport;
	check = (u16)~tl_csum_fold32(sum);
	return check ? check : 0xffff;
}

#endif
