/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tl_logic.h: the parts of trunkline.ko that are pure logic, with no skb,
 * no locking and no kernel API: key hashing, RTP sequence/loss tracking
 * the RFC 1624 incremental checksum update and the hook probe's
 * histogram slots. The module includes it; so does a userspace unit test
 * (tests/unit/test_kmod_logic.c), which checks the checksum update
 * against a full recomputation, the loss counter against relayd's own,
 * and the slots against the layout trunkline_uapi.h promises readers.
 */
#ifndef TL_LOGIC_H
#define TL_LOGIC_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#endif

#include "trunkline_uapi.h"

/* ---- the table key ---- */

/*
 * Addresses are kept in network order in 4 words: IPv4 in addr[0], the
 * rest zero, so one key type serves both families.
 */
struct tl_key {
	u32	addr[4];
	u16	port;		/* host order */
	u8	family;
	u8	proto;
};

static inline u32 tl_rol32(u32 w, unsigned int s)
{
	return (w << s) | (w >> ((-s) & 31));
}

/* A small keyed mix (the seed is random per netns): the table is
 * filled by signalling that a remote party influences, so the bucket of
 * a key must not be predictable from outside. */
static inline u32 tl_key_hash(const struct tl_key *k, u32 seed)
{
	u32 h = seed ^ ((u32)k->port << 16 | (u32)k->family << 8 | k->proto);
	int i;

	/*
	 * Mix the port before an address word meets it: XORed straight into
	 * the first address word, (a, p) and (a', p ^ (a ^ a') >> 16) hashed
	 * alike, so the ports of a relay's two addresses collided in pairs
	 * (100,000 keys on two addresses: 50,000 distinct hashes).
	 */
	h *= 0x9e3779b1u;
	h = tl_rol32(h, 13);
	for (i = 0; i < 4; i++) {
		h ^= k->addr[i];
		h *= 0x9e3779b1u;
		h = tl_rol32(h, 13);
	}
	/* murmur3's finalizer, whole: the table takes the top bits */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline bool tl_key_equal(const struct tl_key *a, const struct tl_key *b)
{
	return a->port == b->port && a->family == b->family &&
	       a->proto == b->proto && a->addr[0] == b->addr[0] &&
	       a->addr[1] == b->addr[1] && a->addr[2] == b->addr[2] &&
	       a->addr[3] == b->addr[3];
}

/* ---- RTP sequence tracking (RFC 3550 A.1, simplified as in relayd) ---- */

#define TL_RTP_SEQ_MOD		(1u << 16)
#define TL_RTP_MAX_DROPOUT	3000
#define TL_RTP_MAX_MISORDER	100

struct tl_rtp {
	u64	cycles;
	u64	received;
	u64	lost_before;	/* lost under earlier SSRCs */
	u32	ssrc;
	u16	max_seq;
	u16	base_seq;
	bool	init;
};

static inline u64 tl_rtp_lost_now(const struct tl_rtp *s)
{
	u64 expected;

	if (!s->init)
		return 0;
	expected = s->cycles + s->max_seq - s->base_seq + 1;
	return expected > s->received ? expected - s->received : 0;
}

static inline u64 tl_rtp_lost(const struct tl_rtp *s)
{
	return s->lost_before + tl_rtp_lost_now(s);
}

static inline void tl_rtp_restart(struct tl_rtp *s, u32 ssrc, u16 seq)
{
	s->lost_before += tl_rtp_lost_now(s);
	s->init = true;
	s->ssrc = ssrc;
	s->max_seq = seq;
	s->base_seq = seq;
	s->cycles = 0;
	s->received = 1;
}

/* Is this UDP payload RTP (version 2, not an RTCP packet type)? */
static inline bool tl_is_rtp(const u8 *p, unsigned int len)
{
	return len >= 12 && (p[0] & 0xc0) == 0x80 &&
	       !(p[1] >= 192 && p[1] <= 223);
}

/* Feed the first 12 bytes of a UDP payload of length len. */
static inline void tl_rtp_update(struct tl_rtp *s, const u8 *p,
				 unsigned int len)
{
	u16 seq, udelta;
	u32 ssrc;

	if (!tl_is_rtp(p, len))
		return;
	seq = (u16)(p[2] << 8 | p[3]);
	ssrc = (u32)p[8] << 24 | (u32)p[9] << 16 | (u32)p[10] << 8 | p[11];
	if (!s->init || ssrc != s->ssrc) {
		tl_rtp_restart(s, ssrc, seq);
		return;
	}
	udelta = (u16)(seq - s->max_seq);
	if (udelta < TL_RTP_MAX_DROPOUT) {
		if (seq < s->max_seq)
			s->cycles += TL_RTP_SEQ_MOD;
		s->max_seq = seq;
	} else if (udelta <= TL_RTP_SEQ_MOD - TL_RTP_MAX_MISORDER) {
		/* a jump: the sender restarted */
		tl_rtp_restart(s, ssrc, seq);
		return;
	}
	s->received++;
}

/* ---- RFC 1624 incremental checksum update, on host-order 16-bit words ---- */

static inline u16 tl_csum_fold32(u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (u16)sum;
}

/* HC' = ~(~HC + ~m + m') for one 16-bit word m changed to m'. */
static inline u16 tl_csum_update16(u16 check, u16 old, u16 new)
{
	u32 sum = (u16)~check + (u32)(u16)~old + new;

	return (u16)~tl_csum_fold32(sum);
}

static inline u16 tl_csum_update32(u16 check, u32 old, u32 new)
{
	check = tl_csum_update16(check, (u16)(old >> 16), (u16)(new >> 16));
	return tl_csum_update16(check, (u16)old, (u16)new);
}

/*
 * A UDP checksum after rewriting: 0 means "no checksum" on the wire and
 * must stay 0; a computed 0 is sent as 0xffff (RFC 768).
 */
static inline u16 tl_udp_csum_rewrite(u16 check, u32 osaddr, u32 nsaddr,
				      u32 odaddr, u32 ndaddr, u16 osport,
				      u16 nsport, u16 odport, u16 ndport)
{
	if (check == 0)
		return 0;
	check = tl_csum_update32(check, osaddr, nsaddr);
	check = tl_csum_update32(check, odaddr, ndaddr);
	check = tl_csum_update16(check, osport, nsport);
	check = tl_csum_update16(check, odport, ndport);
	return check ? check : 0xffff;
}

/* ---- the hook probe's histogram (tl_probe.c, TL_A_PROBE_HIST) ---- */

/* The slot of a time in ns: the layout in trunkline_uapi.h. */
static inline unsigned int tl_probe_slot(u64 ns)
{
	unsigned int e;

	if (ns < TL_PROBE_SUB)
		return (unsigned int)ns;
	e = 63 - (unsigned int)__builtin_clzll(ns);	/* ilog2, ns > 0 */
	if (e > TL_PROBE_MAX_LOG)
		return TL_PROBE_SLOTS - 1;
	/* e >= 4: ns >> (e - 4) is 16..31, the 1/16 step within 2^e */
	return TL_PROBE_SUB * (e - 4) + (unsigned int)(ns >> (e - 4));
}

/* The lowest time of a slot, as a reader computes it from the layout. */
static inline u64 tl_probe_slot_low(unsigned int s)
{
	if (s < TL_PROBE_SUB)
		return s;
	return (u64)(TL_PROBE_SUB + (s - TL_PROBE_SUB) % TL_PROBE_SUB)
		<< ((s - TL_PROBE_SUB) / TL_PROBE_SUB);
}

#endif
