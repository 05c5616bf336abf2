/*
 * latch.c: who may send into a leg. Symmetric RTP sends a leg's media to
 * the address its peer sends from, so the relay must learn that address
 * without letting a stranger take the leg (media hijack, RTP bleed).
 *
 * Endpoint learning ("heuristic", the default) ranks the sources that send
 * to a leg's RTP port: the SDP address and port (exact), the SDP address
 * from another port (a NAT), anything else. An exact match is the peer at
 * once. Otherwise the best candidate so far is held for a window (3 s),
 * replaced whenever a better-ranked source shows up, and fixed when the
 * window ends; after that only the peer may send (strict source). A leg
 * is not learned before its peer can know its ports (leg A before the
 * answer, any leg before its own SDP): then only an exact match counts,
 * since anyone else who sends there is guessing.
 *
 * RTCP never latches on its own: it is accepted only from the RTP peer's
 * address (any port, for NATs), and a leg whose peer muxes RTCP onto the
 * RTP port accepts nothing on its RTCP port.
 *
 * "immediate" is the old first-packet latch (unsafe); "sdp-only" accepts
 * the SDP address and port only. Without strict source a fixed peer may
 * move, but only to a source ranked at least as well (the same host from
 * another port, or back to the SDP address) or, with roaming_ssrc, one
 * that carries on the peer's RTP SSRC.
 *
 * Pure logic: no sockets, no clock (now is passed in), so the unit tests
 * can drive it.
 */
#include <string.h>

#include "relayd.h"
#include "tl_learn.h"

/* The ranking is tl_learn.h's, shared with trunkline.ko. */
_Static_assert((int)RANK_NONE == TL_RANK_NONE &&
    (int)RANK_OTHER == TL_RANK_OTHER && (int)RANK_ADDR == TL_RANK_ADDR &&
    (int)RANK_EXACT == TL_RANK_EXACT, "learn_rank follows tl_rank");

void
latch_policy_init(struct latch_policy *pol, const struct relayd_conf *conf)
{
	pol->mode = conf->learn_mode;
	pol->window_ms = (uint64_t)(conf->learn_window * 1000.0);
	pol->strict = conf->strict_source;
	pol->roaming_ssrc = conf->roaming_ssrc;
}

const char *
learn_rank_name(enum learn_rank r)
{
	static const char *const names[] = { [RANK_NONE] = "none",
	    [RANK_OTHER] = "other", [RANK_ADDR] = "address",
	    [RANK_EXACT] = "exact" };

	return names[r];
}

static bool
sdp_usable(const struct leg *leg)
{
	return leg->sdp.set && leg->sdp.rtp.port != 0;
}

void
tl_ep_of(const struct sockaddr_storage *ss, struct tl_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = (uint8_t)ss->ss_family;
	ep->port = addr_port(ss);
	if (ss->ss_family == AF_INET)
		memcpy(&ep->addr[0],
		    &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(ep->addr,
		    &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
}

static enum learn_rank
rank_of(const struct leg *leg, const struct sockaddr_storage *src)
{
	struct tl_ep sdp, from;

	if (!sdp_usable(leg))
		return RANK_OTHER;
	tl_ep_of(RADDR_SS(&leg->sdp.rtp), &sdp);
	tl_ep_of(src, &from);
	return (enum learn_rank)tl_learn_rank(&sdp, &from);
}

/*
 * Can the leg's peer know where to send? Leg A's ports reach the caller
 * only in the answer, leg B's reach the callee in the offer: a leg is
 * published once the opposite leg's SDP is in. Learning needs the leg's
 * own SDP too, or there is nothing to rank against.
 */
static bool
learnable(const struct leg *leg)
{
	const struct stream *st = leg->stream;

	if (!leg->sdp.set)
		return false;
	if (st == NULL)
		return true;	/* a leg on its own (unit tests) */
	return st->leg[leg->side == SIDE_A ? SIDE_B : SIDE_A].sdp.set;
}

/* The SSRC of an RTP packet (not RTCP on a muxed port). */
static bool
rtp_ssrc(const uint8_t *p, size_t len, uint32_t *ssrc)
{
	if (p == NULL || !pkt_is_rtp(p, len) || pkt_is_rtcp(p, len))
		return false;
	*ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
	    (uint32_t)p[10] << 8 | p[11];
	return true;
}

static void
note_ssrc(struct leg *leg, const uint8_t *p, size_t len)
{
	uint32_t ssrc;

	if (rtp_ssrc(p, len, &ssrc)) {
		leg->learn.ssrc = ssrc;
		leg->learn.has_ssrc = true;
	}
}

enum learn_rank
latch_rank(const struct leg *leg)
{
	if (!leg->is_latched[SK_RTP])
		return RANK_NONE;
	/* A peer restored from the journal was not ranked: rank it now. */
	if (leg->learn.rank == RANK_NONE)
		return rank_of(leg, RADDR_SS(&leg->latched[SK_RTP]));
	return leg->learn.rank;
}

void
latch_view(const struct leg *leg, const struct latch_policy *pol,
    struct tl_learn_view *v)
{
	v->latched = leg->is_latched[SK_RTP];
	v->learning = leg->learn.learning;
	v->rank = (enum tl_rank)latch_rank(leg);
	v->sdp_only = pol->mode == LEARN_SDP_ONLY;
	v->learnable = learnable(leg);
}

/* Take src as the peer (fixed) or as the best candidate so far. */
static void
take(struct leg *leg, const struct sockaddr_storage *src,
    enum learn_rank rank, bool fixed, uint64_t now)
{
	if (leg->is_latched[SK_RTP])
		leg->learn.relearns++;
	if (!leg->is_latched[SK_RTP] || !leg->learn.learning)
		leg->learn.window_start = now;
	raddr_from(&leg->latched[SK_RTP], src);
	leg->is_latched[SK_RTP] = true;
	leg->learn.rank = rank;
	leg->learn.learning = !fixed;
	leg->learn.has_ssrc = false;
	/* An RTCP latch of another host belonged to the old candidate. */
	if (leg->is_latched[SK_RTCP] &&
	    !raddr_same_host(&leg->latched[SK_RTCP], src))
		leg->is_latched[SK_RTCP] = false;
}

/* The kernel learned src for the leg (kmod_learn.c): the same state. */
void
latch_learned(struct leg *leg, const struct sockaddr_storage *src,
    enum learn_rank rank, bool fixed, uint64_t now)
{
	if (leg->is_latched[SK_RTP] && raddr_equal(&leg->latched[SK_RTP], src) &&
	    leg->learn.rank == rank && leg->learn.learning == !fixed)
		return;		/* told again (a read back after an event) */
	if (leg->is_latched[SK_RTP] && raddr_equal(&leg->latched[SK_RTP], src)) {
		leg->learn.rank = rank;
		leg->learn.learning = !fixed;
		return;		/* the candidate was fixed */
	}
	take(leg, src, rank, fixed, now);
}

void
latch_reset(struct leg *leg)
{
	leg->is_latched[SK_RTP] = leg->is_latched[SK_RTCP] = false;
	leg->learn.learning = false;
	leg->learn.rank = RANK_NONE;
	leg->learn.window_start = 0;
	leg->learn.has_ssrc = false;
}

bool
latch_expire(struct leg *leg, const struct latch_policy *pol, uint64_t now)
{
	if (!leg->is_latched[SK_RTP] || !leg->learn.learning ||
	    now < leg->learn.window_start + pol->window_ms)
		return false;
	leg->learn.learning = false;
	return true;
}

/* RTCP: only from the RTP peer's host; nothing on a muxed leg's port. */
static enum latch_verdict
rtcp_check(struct leg *leg, const struct sockaddr_storage *src,
    const struct latch_policy *pol)
{
	if (pol->mode == LEARN_IMMEDIATE) {
		if (!leg->is_latched[SK_RTCP]) {
			raddr_from(&leg->latched[SK_RTCP], src);
			leg->is_latched[SK_RTCP] = true;
			return LATCH_LATCHED;
		}
		if (raddr_equal(&leg->latched[SK_RTCP], src))
			return LATCH_ACCEPT;
		if (pol->strict)
			return LATCH_REJECT;
		raddr_from(&leg->latched[SK_RTCP], src);
		return LATCH_RELATCHED;
	}
	if (leg->sdp.set && leg->sdp.rtcp_mux)
		return LATCH_REJECT;
	if (!leg->is_latched[SK_RTP] ||
	    !raddr_same_host(&leg->latched[SK_RTP], src))
		return LATCH_REJECT;
	if (leg->is_latched[SK_RTCP]) {
		if (raddr_equal(&leg->latched[SK_RTCP], src))
			return LATCH_ACCEPT;
		if (pol->strict)
			return LATCH_REJECT;
		raddr_from(&leg->latched[SK_RTCP], src);	/* same host, new port */
		return LATCH_RELATCHED;
	}
	raddr_from(&leg->latched[SK_RTCP], src);
	leg->is_latched[SK_RTCP] = true;
	return LATCH_LATCHED;
}

/* The old behaviour: the first sender is the peer. */
static enum latch_verdict
immediate(struct leg *leg, const struct sockaddr_storage *src,
    const struct latch_policy *pol, uint64_t now)
{
	enum learn_rank rank = rank_of(leg, src);

	if (!leg->is_latched[SK_RTP]) {
		take(leg, src, rank, true, now);
		return LATCH_LATCHED;
	}
	if (raddr_equal(&leg->latched[SK_RTP], src))
		return LATCH_ACCEPT;
	if (pol->strict)
		return LATCH_REJECT;
	take(leg, src, rank, true, now);
	return LATCH_RELATCHED;
}

/*
 * Without strict source a fixed peer may move, but not to just anyone:
 * to a source ranked better, to the same host from another port, or
 * (roaming_ssrc) to a source that carries on the peer's RTP SSRC.
 */
static bool
may_move(const struct leg *leg, const struct sockaddr_storage *src,
    enum learn_rank rank, const struct latch_policy *pol,
    const uint8_t *p, size_t len)
{
	uint32_t ssrc;

	if (rank > latch_rank(leg))
		return true;
	if (raddr_same_host(&leg->latched[SK_RTP], src))
		return true;
	return pol->roaming_ssrc && leg->learn.has_ssrc &&
	    rtp_ssrc(p, len, &ssrc) && ssrc == leg->learn.ssrc;
}

enum latch_verdict
latch_check(struct leg *leg, enum sock_kind kind,
    const struct sockaddr_storage *src, const struct latch_policy *pol,
    uint64_t now, const uint8_t *p, size_t len)
{
	enum learn_rank rank;

	if (kind == SK_RTCP)
		return rtcp_check(leg, src, pol);
	if (pol->mode == LEARN_IMMEDIATE)
		return immediate(leg, src, pol, now);
	if (leg->is_latched[SK_RTP] && raddr_equal(&leg->latched[SK_RTP], src)) {
		note_ssrc(leg, p, len);
		return LATCH_ACCEPT;
	}
	rank = rank_of(leg, src);
	if (!leg->is_latched[SK_RTP] || leg->learn.learning) {
		/* Learning: exact wins at once; else a better candidate.
		 * latch_expire ran first, so the window is still open. */
		struct tl_learn_view v;

		latch_view(leg, pol, &v);
		switch (tl_learn_decide(&v, (enum tl_rank)rank, true)) {
		case TL_LEARN_FIX:
			take(leg, src, rank, true, now);
			note_ssrc(leg, p, len);
			return LATCH_LATCHED;
		case TL_LEARN_TAKE:
			take(leg, src, rank, false, now);
			note_ssrc(leg, p, len);
			return LATCH_LEARNING;
		case TL_LEARN_ACCEPT:	/* not the candidate: checked above */
		case TL_LEARN_REJECT:
			break;
		}
		return LATCH_REJECT;
	}
	if (pol->strict || pol->mode == LEARN_SDP_ONLY ||
	    !may_move(leg, src, rank, pol, p, len))
		return LATCH_REJECT;
	take(leg, src, rank, true, now);
	note_ssrc(leg, p, len);
	return LATCH_RELATCHED;
}

/* Both peers fixed: the stream can leave userspace. */
bool
stream_fully_latched(const struct stream *st)
{
	for (int s = SIDE_A; s <= SIDE_B; s++)
		if (!st->leg[s].is_latched[SK_RTP] || st->leg[s].learn.learning)
			return false;
	return true;
}

/*
 * Is the leg's RTP peer known well enough to send to it? A fixed peer is;
 * while learning, a candidate of the SDP address is, but one ranked
 * "other" only if the SDP gives no address: a stranger who got in first
 * must not hear the call while the real peer has yet to send.
 */
static bool
peer_known(const struct leg *out)
{
	if (!out->is_latched[SK_RTP])
		return false;
	return !out->learn.learning || out->learn.rank >= RANK_ADDR ||
	    !sdp_usable(out);
}

/*
 * Where packets sent out of leg `out` go; false if nowhere yet. A latched
 * address wins over SDP. Before RTCP has latched, RTCP follows the latched
 * RTP address (a NAT moves both alike) on the next port.
 */
bool
leg_destination(const struct leg *out, enum sock_kind kind,
    struct sockaddr_storage *dst)
{
	bool known = peer_known(out);

	if (out->sdp.set && out->sdp.rtcp_mux)
		kind = SK_RTP;
	if (known && (kind == SK_RTP || out->is_latched[SK_RTCP])) {
		raddr_to(&out->latched[kind], dst);
		return true;
	}
	if (kind == SK_RTCP && known) {
		raddr_to(&out->latched[SK_RTP], dst);
		addr_set_port(dst, (uint16_t)(addr_port(dst) + 1));
		return true;
	}
	if (!out->sdp.set || out->sdp.rtp.port == 0)
		return false;
	raddr_to(kind == SK_RTP ? &out->sdp.rtp : &out->sdp.rtcp, dst);
	return true;
}
