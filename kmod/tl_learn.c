// SPDX-License-Identifier: GPL-2.0
/*
 * tl_learn.c: endpoint learning in the kernel (TL_F_LEARN entries). The
 * owner installs an entry with the leg's SDP endpoint and a window
 * instead of a fixed source; the hook then ranks every source that sends
 * to it with tl_learn.h, the same code relayd's latch.c uses: the SDP
 * address and port is fixed at once, a better-ranked source replaces the
 * candidate within the window, the candidate is fixed when the window
 * ends, and after that only the peer may send. Every source taken (at
 * most three per entry: ranks only go up) is multicast to the "learn"
 * group, so the owner knows the peer without reading a packet.
 */
#include <linux/jiffies.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "tl.h"

#define TL_LEARN_WINDOW_MAX_MS	60000

static struct tl_ep tl_ep4(__be32 addr, u16 port)
{
	struct tl_ep ep = { .port = port, .family = AF_INET };

	ep.addr[0] = (__force u32)addr;
	return ep;
}

/* The packed learner as tl_learn.h's; time in jiffies. */
static void tl_learn_unpack(const struct tl_learn_cfg *cfg,
			    const struct tl_learn4 *c, struct tl_learner *l)
{
	memset(l, 0, sizeof(*l));
	l->sdp = tl_ep4(cfg->sdp_addr, cfg->sdp_port);
	l->peer = tl_ep4(c->peer_addr, c->peer_port);
	l->window_end = c->window_end;
	l->window = msecs_to_jiffies(cfg->window_ms);
	l->rank = c->rank;
	l->latched = c->latched;
	l->learning = c->learning;
	l->sdp_only = c->sdp_only;
	l->learnable = c->learnable;
}

/* Back, after tl_learner_packet(): the configuration stays. */
static void tl_learn_pack(const struct tl_learner *l, struct tl_learn4 *c)
{
	c->peer_addr = (__force __be32)l->peer.addr[0];
	c->peer_port = l->peer.port;
	c->window_end = l->window_end;
	c->rank = l->rank;
	c->latched = l->latched;
	c->learning = l->learning;
}

/* The learning attributes of an ADD; e's source, if any, is a candidate. */
int tl_learn_parse(struct genl_info *info, struct tl_entry *e)
{
	struct nlattr **tb = info->attrs;
	struct tl_learn4 *c = &e->st->learn;
	struct tl_learner l;
	struct tl_ep src;
	u32 ms;

	if (!(e->flags & TL_F_LEARN)) {
		if (tb[TL_A_SDP_ADDR4] || tb[TL_A_SDP_PORT] ||
		    tb[TL_A_LEARN_WINDOW_MS]) {
			NL_SET_ERR_MSG(info->extack,
				       "learning attributes without TL_F_LEARN");
			return -EINVAL;
		}
		return 0;
	}
	/* tl_ipv6.c's hook does not learn, nor does a translating entry */
	if (e->key.family != AF_INET || e->out.family != AF_INET) {
		NL_SET_ERR_MSG(info->extack,
			       "learning entries are IPv4 to IPv4 only");
		return -EAFNOSUPPORT;
	}
	if (GENL_REQ_ATTR_CHECK(info, TL_A_SDP_ADDR4) ||
	    GENL_REQ_ATTR_CHECK(info, TL_A_SDP_PORT) ||
	    GENL_REQ_ATTR_CHECK(info, TL_A_LEARN_WINDOW_MS))
		return -EINVAL;
	if (!e->src_any && e->src_port_any) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_SRC_ADDR4],
				    "a learning entry's candidate needs SRC_PORT");
		return -EINVAL;
	}
	ms = nla_get_u32(tb[TL_A_LEARN_WINDOW_MS]);
	if (ms < 1 || ms > TL_LEARN_WINDOW_MAX_MS) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_LEARN_WINDOW_MS],
				    "learning window out of range (1..60000 ms)");
		return -ERANGE;
	}
	/* the candidate first: the configuration takes its place */
	src = tl_ep4((__force __be32)e->src_addr[0], e->src_port);
	e->lcfg.sdp_addr = nla_get_in_addr(tb[TL_A_SDP_ADDR4]);
	e->lcfg.sdp_port = nla_get_u16(tb[TL_A_SDP_PORT]);
	e->lcfg.window_ms = ms;
	/* e's state is its own until it is published: no lock. The owner
	 * installs once both SDPs are in: the peer knows where to send,
	 * so candidates of every rank count */
	c->learnable = true;
	if (!e->src_any) {
		tl_learn_unpack(&e->lcfg, c, &l);
		tl_learner_packet(&l, &src, get_jiffies_64());
		tl_learn_pack(&l, c);
	}
	e->src_any = true;	/* the learner checks the source */
	return 0;
}

/*
 * Replacing a learning entry with one for the same SDP endpoint keeps
 * what was learned: the owner replaces entries to change their output
 * while the kernel learns their source.
 */
bool tl_learn_keeps(const struct tl_entry *e, const struct tl_entry *old)
{
	return (old->flags & TL_F_LEARN) &&
	       e->lcfg.sdp_addr == old->lcfg.sdp_addr &&
	       e->lcfg.sdp_port == old->lcfg.sdp_port;
}

static u8 tl_learn_state_of(const struct tl_learn4 *c)
{
	if (!c->latched)
		return TL_LEARN_OPEN;
	return c->learning ? TL_LEARN_LEARNING : TL_LEARN_FIXED;
}

static int tl_learn_put(struct sk_buff *msg, const struct tl_learn_cfg *cfg,
			const struct tl_learn4 *c)
{
	if (nla_put_in_addr(msg, TL_A_SDP_ADDR4, cfg->sdp_addr) ||
	    nla_put_u16(msg, TL_A_SDP_PORT, cfg->sdp_port) ||
	    nla_put_u32(msg, TL_A_LEARN_WINDOW_MS, cfg->window_ms) ||
	    nla_put_u8(msg, TL_A_LEARN_STATE, tl_learn_state_of(c)))
		return -EMSGSIZE;
	if (c->latched &&
	    (nla_put_in_addr(msg, TL_A_SRC_ADDR4, c->peer_addr) ||
	     nla_put_u16(msg, TL_A_SRC_PORT, c->peer_port) ||
	     nla_put_u8(msg, TL_A_LEARN_RANK, c->rank)))
		return -EMSGSIZE;
	return 0;
}

/* A GET reply: the learner as it stands (a window that ran out is over). */
int tl_learn_fill(struct sk_buff *msg, const struct tl_entry *e)
{
	struct tl_learn4 c;

	if (!(e->flags & TL_F_LEARN))
		return 0;
	spin_lock_bh(&e->st->lock);
	c = e->st->learn;
	spin_unlock_bh(&e->st->lock);
	if (c.latched && c.learning && get_jiffies_64() >= c.window_end)
		c.learning = false;	/* as tl_learner_expire() */
	return tl_learn_put(msg, &e->lcfg, &c);
}

#define TL_LEARN_EVENT_SIZE	256

/* Tell the "learn" group; in softirq, so nothing may sleep. */
static void tl_learn_notify(struct net *net, const struct tl_entry *e,
			    const struct tl_learn4 *c)
{
	struct sk_buff *msg;
	void *hdr;

	/*
	 * The event is about 110 bytes: a small buffer, so the listener's
	 * receive buffer (charged by truesize) holds many more events than
	 * with NLMSG_DEFAULT_SIZE's page before it overflows.
	 */
	msg = genlmsg_new(TL_LEARN_EVENT_SIZE, GFP_ATOMIC);
	if (!msg)
		return;		/* the owner's GET still finds it */
	hdr = tl_genl_event_put(msg, TL_CMD_LEARNED);
	if (!hdr ||
	    nla_put_u8(msg, TL_A_FAMILY, e->key.family) ||
	    nla_put_u8(msg, TL_A_PROTO, e->key.proto) ||
	    tl_put_addr(msg, e->key.family, TL_A_LOCAL_ADDR4,
			TL_A_LOCAL_ADDR6, e->key.addr) ||
	    nla_put_u16(msg, TL_A_LOCAL_PORT, e->key.port) ||
	    nla_put_u64_64bit(msg, TL_A_COOKIE, e->cookie, TL_A_PAD) ||
	    tl_learn_put(msg, &e->lcfg, c)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	tl_genl_event_send(net, msg);
}

/*
 * The hook's source check for a learning entry: may the packet pass? The
 * peer's packets (all of them, once learned) are accepted on the packed
 * state; anything else goes through tl_learner_packet().
 */
bool tl_learn_packet(struct net *net, struct tl_entry *e, __be32 saddr,
		     u16 sport)
{
	struct tl_learn4 *c = &e->st->learn, snap;
	u64 now = get_jiffies_64();
	enum tl_learn_verdict v;
	struct tl_learner l;
	struct tl_ep src;

	spin_lock(&e->st->lock);
	if (c->latched && c->peer_addr == saddr && c->peer_port == sport) {
		if (c->learning && now >= c->window_end)
			c->learning = false;	/* as tl_learner_expire() */
		spin_unlock(&e->st->lock);
		return true;
	}
	src = tl_ep4(saddr, sport);
	tl_learn_unpack(&e->lcfg, c, &l);
	v = tl_learner_packet(&l, &src, now);
	tl_learn_pack(&l, c);
	if (v == TL_LEARN_TAKE || v == TL_LEARN_FIX)
		snap = *c;
	spin_unlock(&e->st->lock);
	if (v == TL_LEARN_TAKE || v == TL_LEARN_FIX)
		tl_learn_notify(net, e, &snap);
	return v != TL_LEARN_REJECT;
}
