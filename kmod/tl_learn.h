/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * tl_learn.h: endpoint learning, the one ranking both relay paths apply.
 * relayd's latch.c (userspace) and trunkline.ko's hook (the kernel)
 * include this file, so a leg learns its peer by the same rules whichever
 * path carries it; tests/unit/test_kmod_logic.c drives it directly.
 *
 * A source that sends to a leg is ranked against the leg's SDP endpoint:
 * the SDP address and port (exact), the SDP address from another port (a
 * NAT), anything else. While the leg learns (its window is open), an
 * exact match is fixed at once and a better-ranked source replaces the
 * candidate; when the window ends the candidate is fixed, and after that
 * only the fixed peer may send (strict source). Pure logic: no clock (the
 * caller says whether the window is open), no locking, no sockets.
 */
#ifndef TL_LEARN_H
#define TL_LEARN_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
#endif

/* How well a source matches the SDP endpoint, worst first. */
enum tl_rank {
	TL_RANK_NONE,
	TL_RANK_OTHER,		/* anything else (full NAT, or a stranger) */
	TL_RANK_ADDR,		/* the SDP address, another port (NAT) */
	TL_RANK_EXACT,		/* the SDP address and port */
};

/* An address (network order, IPv4 in addr[0]) and a host-order port. */
struct tl_ep {
	uint32_t	addr[4];
	uint16_t	port;
	uint8_t		family;		/* AF_INET, AF_INET6 */
};

static inline bool tl_ep_same_host(const struct tl_ep *a,
				   const struct tl_ep *b)
{
	return a->family == b->family && a->addr[0] == b->addr[0] &&
	       a->addr[1] == b->addr[1] && a->addr[2] == b->addr[2] &&
	       a->addr[3] == b->addr[3];
}

static inline bool tl_ep_equal(const struct tl_ep *a, const struct tl_ep *b)
{
	return tl_ep_same_host(a, b) && a->port == b->port;
}

/*
 * The rank of src against the SDP endpoint; sdp NULL (or port 0: no SDP
 * to rank against) makes every source "other".
 */
static inline enum tl_rank tl_learn_rank(const struct tl_ep *sdp,
					 const struct tl_ep *src)
{
	if (!sdp || sdp->port == 0)
		return TL_RANK_OTHER;
	if (tl_ep_equal(src, sdp))
		return TL_RANK_EXACT;
	if (tl_ep_same_host(src, sdp))
		return TL_RANK_ADDR;
	return TL_RANK_OTHER;
}

/* What a leg does with a source that is not its current peer/candidate. */
enum tl_learn_verdict {
	TL_LEARN_ACCEPT,	/* from the peer or the current candidate */
	TL_LEARN_REJECT,	/* not the peer: drop (and count) */
	TL_LEARN_TAKE,		/* the best candidate so far; still learning */
	TL_LEARN_FIX,		/* the peer, fixed now (exact match) */
};

/* The state a decision needs; the owner keeps it its own way. */
struct tl_learn_view {
	bool		latched;	/* a peer or candidate is held */
	bool		learning;	/* ... and it is only a candidate */
	enum tl_rank	rank;		/* of the peer or candidate */
	bool		sdp_only;	/* only an exact match may be taken */
	/*
	 * The peer can know the leg's ports (both SDPs are in): anyone
	 * else who sends before that is guessing, so only exact counts.
	 */
	bool		learnable;
};

/*
 * A source ranked `rank` that is not the current peer or candidate. Once
 * the window is over (or a peer is fixed) nothing new is taken: that is
 * strict source. window_open: no candidate yet, or within the window
 * that started with the first.
 */
static inline enum tl_learn_verdict
tl_learn_decide(const struct tl_learn_view *v, enum tl_rank rank,
		bool window_open)
{
	if (v->latched && (!v->learning || !window_open))
		return TL_LEARN_REJECT;
	if (rank == TL_RANK_EXACT)
		return TL_LEARN_FIX;
	if (v->sdp_only || !v->learnable || (v->latched && rank <= v->rank))
		return TL_LEARN_REJECT;
	return TL_LEARN_TAKE;
}

/*
 * A learner that keeps its own state: what trunkline.ko holds per learning
 * entry (under a lock). Time is in the owner's units (jiffies in the
 * kernel); the window starts with the first candidate, as in latch.c.
 */
struct tl_learner {
	struct tl_ep	sdp;		/* port 0: none */
	struct tl_ep	peer;		/* the peer, or the candidate */
	uint64_t	window_end;	/* set by the first candidate */
	uint64_t	window;		/* its length */
	enum tl_rank	rank;		/* of peer */
	bool		latched;
	bool		learning;
	bool		sdp_only;
	bool		learnable;
};

/* Has the window ended with a candidate held? Then it is the peer now. */
static inline bool tl_learner_expire(struct tl_learner *l, uint64_t now)
{
	if (!l->latched || !l->learning || now < l->window_end)
		return false;
	l->learning = false;
	return true;
}

/* One packet from src at `now`: may it pass, and did the learner change? */
static inline enum tl_learn_verdict
tl_learner_packet(struct tl_learner *l, const struct tl_ep *src, uint64_t now)
{
	struct tl_learn_view v;
	enum tl_learn_verdict verdict;
	enum tl_rank rank;

	tl_learner_expire(l, now);
	if (l->latched && tl_ep_equal(src, &l->peer))
		return TL_LEARN_ACCEPT;
	rank = tl_learn_rank(&l->sdp, src);
	v.latched = l->latched;
	v.learning = l->learning;
	v.rank = l->rank;
	v.sdp_only = l->sdp_only;
	v.learnable = l->learnable;
	verdict = tl_learn_decide(&v, rank, true);
	if (verdict == TL_LEARN_REJECT)
		return verdict;
	if (!l->latched || !l->learning)
		l->window_end = now + l->window;
	l->peer = *src;
	l->rank = rank;
	l->latched = true;
	l->learning = verdict == TL_LEARN_TAKE;
	return verdict;
}

#endif
