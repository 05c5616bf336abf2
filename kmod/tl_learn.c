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

/* The learning attributes of an ADD; e's source, if any, is a candidate. */
int tl_learn_parse(struct genl_info *info, struct tl_entry *e)
{
	struct nlattr **tb = info->attrs;
	struct tl_learning *ls;
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
	ls = kzalloc(sizeof(*ls), GFP_KERNEL_ACCOUNT);
	if (!ls)
		return -ENOMEM;
	spin_lock_init(&ls->lock);
	ls->l.sdp = tl_ep4(nla_get_in_addr(tb[TL_A_SDP_ADDR4]),
			   nla_get_u16(tb[TL_A_SDP_PORT]));
	ls->l.window = msecs_to_jiffies(ms);
	/* the owner installs once both SDPs are in: the peer knows where
	 * to send, so candidates of every rank count */
	ls->l.learnable = true;
	if (!e->src_any) {
		struct tl_ep src = tl_ep4((__force __be32)e->src_addr[0],
					  e->src_port);

		tl_learner_packet(&ls->l, &src, get_jiffies_64());
	}
	e->src_any = true;	/* the learner checks the source */
	e->learn = ls;
	e->own_learn = true;
	return 0;
}

/*
 * Replacing a learning entry with one for the same SDP endpoint keeps
 * what was learned: the owner replaces entries to change their output
 * while the kernel learns their source. Caller holds the table lock.
 */
void tl_learn_carry(struct tl_entry *e, struct tl_entry *old)
{
	if (!e->learn || !old->learn ||
	    !tl_ep_equal(&e->learn->l.sdp, &old->learn->l.sdp))
		return;
	kfree(e->learn);
	e->learn = old->learn;
	old->own_learn = false;
}

static u8 tl_learn_state_of(const struct tl_learner *l)
{
	if (!l->latched)
		return TL_LEARN_OPEN;
	return l->learning ? TL_LEARN_LEARNING : TL_LEARN_FIXED;
}

static int tl_learn_put(struct sk_buff *msg, const struct tl_learner *l)
{
	if (nla_put_in_addr(msg, TL_A_SDP_ADDR4, (__force __be32)l->sdp.addr[0]) ||
	    nla_put_u16(msg, TL_A_SDP_PORT, l->sdp.port) ||
	    nla_put_u32(msg, TL_A_LEARN_WINDOW_MS,
			jiffies_to_msecs((unsigned long)l->window)) ||
	    nla_put_u8(msg, TL_A_LEARN_STATE, tl_learn_state_of(l)))
		return -EMSGSIZE;
	if (l->latched &&
	    (nla_put_in_addr(msg, TL_A_SRC_ADDR4, (__force __be32)l->peer.addr[0]) ||
	     nla_put_u16(msg, TL_A_SRC_PORT, l->peer.port) ||
	     nla_put_u8(msg, TL_A_LEARN_RANK, l->rank)))
		return -EMSGSIZE;
	return 0;
}

/* A GET reply: the learner as it stands (a window that ran out is over). */
int tl_learn_fill(struct sk_buff *msg, const struct tl_entry *e)
{
	struct tl_learner l;

	if (!e->learn)
		return 0;
	spin_lock_bh(&e->learn->lock);
	l = e->learn->l;
	spin_unlock_bh(&e->learn->lock);
	tl_learner_expire(&l, get_jiffies_64());
	return tl_learn_put(msg, &l);
}

#define TL_LEARN_EVENT_SIZE	256

/* Tell the "learn" group; in softirq, so nothing may sleep. */
static void tl_learn_notify(struct net *net, const struct tl_entry *e,
			    const struct tl_learner *l)
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
	    tl_learn_put(msg, l)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	tl_genl_event_send(net, msg);
}

/* The hook's source check for a learning entry: may the packet pass? */
bool tl_learn_packet(struct net *net, struct tl_entry *e, __be32 saddr,
		     u16 sport)
{
	struct tl_ep src = tl_ep4(saddr, sport);
	enum tl_learn_verdict v;
	struct tl_learner snap;

	spin_lock(&e->learn->lock);
	v = tl_learner_packet(&e->learn->l, &src, get_jiffies_64());
	if (v == TL_LEARN_TAKE || v == TL_LEARN_FIX)
		snap = e->learn->l;
	spin_unlock(&e->learn->lock);
	if (v == TL_LEARN_TAKE || v == TL_LEARN_FIX)
		tl_learn_notify(net, e, &snap);
	return v != TL_LEARN_REJECT;
}
