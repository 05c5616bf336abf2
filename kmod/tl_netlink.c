// SPDX-License-Identifier: GPL-2.0
/*
 * tl_netlink.c: the generic netlink family "trunkline", the only way to
 * change the table. Every operation is strictly validated against
 * tl_policy (resv_start_op covers them all: unknown attributes, reserved
 * header bits and trailing bytes are refused), needs CAP_NET_ADMIN in the
 * namespace's user namespace, and works on the table of the socket's
 * network namespace. Errors carry an extack message naming the problem.
 */
#include <linux/in.h>
#include <linux/netlink.h>
#include <linux/jiffies.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/route.h>

#include "tl.h"

static struct genl_family tl_genl_family;

static const struct nla_policy tl_policy[TL_A_MAX + 1] = {
	[TL_A_FAMILY]		= { .type = NLA_U8 },
	[TL_A_PROTO]		= { .type = NLA_U8 },
	[TL_A_LOCAL_ADDR4]	= { .type = NLA_BE32 },
	[TL_A_LOCAL_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
	[TL_A_SRC_ADDR4]	= { .type = NLA_BE32 },
	[TL_A_SRC_PORT]		= { .type = NLA_U16 },
	[TL_A_OUT_SADDR4]	= { .type = NLA_BE32 },
	[TL_A_OUT_SPORT]	= NLA_POLICY_MIN(NLA_U16, 1),
	[TL_A_OUT_DADDR4]	= { .type = NLA_BE32 },
	[TL_A_OUT_DPORT]	= NLA_POLICY_MIN(NLA_U16, 1),
	[TL_A_FLAGS]		= NLA_POLICY_MASK(NLA_U32, TL_F_ALL),
	[TL_A_DSCP]		= NLA_POLICY_MAX(NLA_U8, 63),
	[TL_A_COOKIE]		= { .type = NLA_U64 },
	[TL_A_LOCAL_ADDR6]	= NLA_POLICY_EXACT_LEN(16),
	[TL_A_SRC_ADDR6]	= NLA_POLICY_EXACT_LEN(16),
	[TL_A_OUT_SADDR6]	= NLA_POLICY_EXACT_LEN(16),
	[TL_A_OUT_DADDR6]	= NLA_POLICY_EXACT_LEN(16),
	[TL_A_SDP_ADDR4]	= { .type = NLA_BE32 },
	[TL_A_SDP_PORT]		= NLA_POLICY_MIN(NLA_U16, 1),
	/* 1..60000, checked in tl_learn_parse: a policy range is s16 in 6.1 */
	[TL_A_LEARN_WINDOW_MS]	= { .type = NLA_U32 },
	/* the counters are reply-only: a request carrying one is refused */
};

static int tl_parse_key(struct genl_info *info, struct tl_key *key)
{
	struct nlattr **tb = info->attrs;
	u8 family = AF_INET;

	memset(key, 0, sizeof(*key));
	if (tb[TL_A_FAMILY])
		family = nla_get_u8(tb[TL_A_FAMILY]);
	if (family == AF_INET6 || tb[TL_A_LOCAL_ADDR6])
		return tl_parse_key6(info, key);	/* tl_ipv6.c */
	if (family != AF_INET) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_FAMILY],
				    "unknown address family");
		return -EAFNOSUPPORT;
	}
	if (tb[TL_A_PROTO] && nla_get_u8(tb[TL_A_PROTO]) != IPPROTO_UDP) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_PROTO],
				    "only UDP is relayed");
		return -EPROTONOSUPPORT;
	}
	if (GENL_REQ_ATTR_CHECK(info, TL_A_LOCAL_ADDR4) ||
	    GENL_REQ_ATTR_CHECK(info, TL_A_LOCAL_PORT))
		return -EINVAL;
	key->family = AF_INET;
	key->proto = IPPROTO_UDP;
	key->addr[0] = (__force u32)nla_get_in_addr(tb[TL_A_LOCAL_ADDR4]);
	key->port = nla_get_u16(tb[TL_A_LOCAL_PORT]);
	return 0;
}

/*
 * A held entry (TL_F_HOLD): an offered port whose output the owner does
 * not know yet. It only counts and drops, so it takes nothing else.
 */
static int tl_parse_hold(struct genl_info *info, struct tl_entry *e)
{
	static const int refused[] = {
		TL_A_SRC_ADDR4, TL_A_SRC_PORT, TL_A_SRC_ADDR6,
		TL_A_OUT_SADDR4, TL_A_OUT_SPORT, TL_A_OUT_DADDR4,
		TL_A_OUT_DPORT, TL_A_OUT_SADDR6, TL_A_OUT_DADDR6, TL_A_DSCP,
		TL_A_SDP_ADDR4, TL_A_SDP_PORT, TL_A_LEARN_WINDOW_MS,
	};
	struct nlattr **tb = info->attrs;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(refused); i++)
		if (tb[refused[i]]) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[refused[i]],
					    "a held entry (TL_F_HOLD) has no source, output or learning");
			return -EINVAL;
		}
	e->flags = nla_get_u32(tb[TL_A_FLAGS]);
	if (e->flags & ~(TL_F_HOLD | TL_F_MISMATCH_DROP)) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_FLAGS],
				    "TL_F_HOLD combines with TL_F_MISMATCH_DROP only");
		return -EINVAL;
	}
	e->flags |= TL_F_MISMATCH_DROP;	/* what a held entry does */
	e->src_any = true;
	if (tb[TL_A_COOKIE])
		e->cookie = nla_get_u64(tb[TL_A_COOKIE]);
	return 0;
}

/* The rest of an ADD request: source check, output, options. */
static int tl_parse_entry(struct net *net, struct genl_info *info,
			  struct tl_entry *e)
{
	struct nlattr **tb = info->attrs;
	bool v6 = e->key.family == AF_INET6;
	__be32 saddr;
	int err;

	if (tb[TL_A_FLAGS] && (nla_get_u32(tb[TL_A_FLAGS]) & TL_F_HOLD))
		return tl_parse_hold(info, e);
	if (GENL_REQ_ATTR_CHECK(info, TL_A_OUT_SPORT) ||
	    GENL_REQ_ATTR_CHECK(info, TL_A_OUT_DPORT))
		return -EINVAL;
	e->out.sport = nla_get_u16(tb[TL_A_OUT_SPORT]);
	e->out.dport = nla_get_u16(tb[TL_A_OUT_DPORT]);
	if (tb[TL_A_OUT_SADDR6] || tb[TL_A_OUT_DADDR6]) {
		err = tl_parse_out6(net, info, e);	/* tl_ipv6.c */
		if (err)
			return err;
		goto source;
	}
	if (GENL_REQ_ATTR_CHECK(info, TL_A_OUT_SADDR4) ||
	    GENL_REQ_ATTR_CHECK(info, TL_A_OUT_DADDR4))
		return -EINVAL;
	saddr = nla_get_in_addr(tb[TL_A_OUT_SADDR4]);
	if (inet_addr_type(net, saddr) != RTN_LOCAL) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_OUT_SADDR4],
				    "output source is not a local address");
		return -EADDRNOTAVAIL;
	}
	e->out.family = AF_INET;
	e->out.saddr[0] = (__force u32)saddr;
	e->out.daddr[0] = (__force u32)nla_get_in_addr(tb[TL_A_OUT_DADDR4]);
	if (!e->out.daddr[0]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_OUT_DADDR4],
				    "output destination is 0.0.0.0");
		return -EINVAL;
	}

source:
	/* packets arrive in the key's family: so does the expected source */
	if (tb[v6 ? TL_A_SRC_ADDR4 : TL_A_SRC_ADDR6]) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    tb[v6 ? TL_A_SRC_ADDR4 : TL_A_SRC_ADDR6],
				    "expected source not of the local address's family");
		return -EINVAL;
	}
	if (tb[v6 ? TL_A_SRC_ADDR6 : TL_A_SRC_ADDR4]) {
		if (v6) {
			err = tl_parse_src6(info, e);
			if (err)
				return err;
		} else {
			e->src_addr[0] = (__force u32)nla_get_in_addr(tb[TL_A_SRC_ADDR4]);
		}
		/* absent: any port; present, even 0, is that very port */
		if (tb[TL_A_SRC_PORT])
			e->src_port = nla_get_u16(tb[TL_A_SRC_PORT]);
		else
			e->src_port_any = true;
	} else if (tb[TL_A_SRC_PORT]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_SRC_PORT],
				    "source port without source address");
		return -EINVAL;
	} else {
		e->src_any = true;
	}
	if (tb[TL_A_FLAGS])
		e->flags = nla_get_u32(tb[TL_A_FLAGS]);
	if (e->flags & TL_F_DSCP) {
		if (GENL_REQ_ATTR_CHECK(info, TL_A_DSCP))
			return -EINVAL;
		e->out.dscp = nla_get_u8(tb[TL_A_DSCP]);
	}
	if (tb[TL_A_COOKIE])
		e->cookie = nla_get_u64(tb[TL_A_COOKIE]);
	return tl_learn_parse(info, e);
}

static int tl_cmd_add(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct tl_entry *e;
	int err;

	e = tl_entry_alloc();
	if (!e)
		return -ENOMEM;
	err = tl_parse_key(info, &e->key);
	if (err)
		goto err_free;
	err = tl_parse_entry(net, info, e);
	if (err)
		goto err_free;
	/* (strict genl refuses NLM_F_EXCL: it is ambiguous with
	 * NLM_F_MATCH; an add always replaces) */
	err = tl_table_insert(tl_net(net), e);
	if (err == -ENOSPC)
		NL_SET_ERR_MSG(info->extack, "table full (max_entries, or userns_max_entries in a namespace of an unprivileged user)");
	if (err)
		goto err_free;
	return 0;

err_free:
	tl_entry_free(e);
	return err;
}

static int tl_cmd_del(struct sk_buff *skb, struct genl_info *info)
{
	struct tl_key key;
	int err;

	err = tl_parse_key(info, &key);
	if (err)
		return err;
	err = tl_table_delete(tl_net(genl_info_net(info)), &key);
	if (err)
		NL_SET_ERR_MSG(info->extack, "no such entry");
	return err;
}

/* An address of a family: the IPv4 attribute, or its IPv6 twin. */
int tl_put_addr(struct sk_buff *msg, u8 family, int a4, int a6,
		const u32 *addr)
{
	if (family == AF_INET6)
		return nla_put(msg, a6, 16, addr);
	return nla_put_in_addr(msg, a4, (__force __be32)addr[0]);
}

/* One entry as a message: key, configuration, counters. */
static int tl_fill(struct sk_buff *msg, const struct tl_entry *e, u32 portid,
		   u32 seq, int flags, u8 cmd)
{
	struct tl_counters c;
	void *hdr;

	hdr = genlmsg_put(msg, portid, seq, &tl_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	tl_entry_counters(e, &c);
	if (nla_put_u8(msg, TL_A_FAMILY, e->key.family) ||
	    nla_put_u8(msg, TL_A_PROTO, e->key.proto) ||
	    tl_put_addr(msg, e->key.family, TL_A_LOCAL_ADDR4,
			TL_A_LOCAL_ADDR6, e->key.addr) ||
	    nla_put_u16(msg, TL_A_LOCAL_PORT, e->key.port) ||
	    nla_put_u32(msg, TL_A_FLAGS, e->flags) ||
	    nla_put_u64_64bit(msg, TL_A_COOKIE, e->cookie, TL_A_PAD) ||
	    nla_put_u64_64bit(msg, TL_A_PACKETS, c.packets, TL_A_PAD) ||
	    nla_put_u64_64bit(msg, TL_A_BYTES, c.bytes, TL_A_PAD) ||
	    nla_put_u64_64bit(msg, TL_A_MISMATCH, c.mismatch, TL_A_PAD))
		goto err_cancel;
	/* a held entry has no output (TL_F_HOLD) */
	if (!(e->flags & TL_F_HOLD) &&
	    (tl_put_addr(msg, e->out.family, TL_A_OUT_SADDR4,
			 TL_A_OUT_SADDR6, e->out.saddr) ||
	     nla_put_u16(msg, TL_A_OUT_SPORT, e->out.sport) ||
	     tl_put_addr(msg, e->out.family, TL_A_OUT_DADDR4,
			 TL_A_OUT_DADDR6, e->out.daddr) ||
	     nla_put_u16(msg, TL_A_OUT_DPORT, e->out.dport)))
		goto err_cancel;
	if (!e->src_any &&
	    (tl_put_addr(msg, e->key.family, TL_A_SRC_ADDR4,
			  TL_A_SRC_ADDR6, e->src_addr) ||
	     (!e->src_port_any &&
	      nla_put_u16(msg, TL_A_SRC_PORT, e->src_port))))
		goto err_cancel;
	if ((e->flags & TL_F_DSCP) && nla_put_u8(msg, TL_A_DSCP, e->out.dscp))
		goto err_cancel;
	if (tl_learn_fill(msg, e))
		goto err_cancel;
	if (c.seen) {
		unsigned long idle = jiffies - c.last;

		if (nla_put_u32(msg, TL_A_IDLE_MS,
				min_t(unsigned long, jiffies_to_msecs(idle),
				      U32_MAX)))
			goto err_cancel;
	}
	if (e->flags & TL_F_RTP) {
		struct tl_rtp r;

		spin_lock_bh(&e->st->lock);
		r = e->st->rtp;
		spin_unlock_bh(&e->st->lock);
		if (r.init &&
		    (nla_put_u32(msg, TL_A_RTP_SSRC, r.ssrc) ||
		     nla_put_u16(msg, TL_A_RTP_SEQ, r.max_seq) ||
		     nla_put_u64_64bit(msg, TL_A_RTP_LOST, tl_rtp_lost(&r),
				       TL_A_PAD)))
			goto err_cancel;
	}
	genlmsg_end(msg, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(msg, hdr);
	return -EMSGSIZE;
}

static int tl_cmd_get(struct sk_buff *skb, struct genl_info *info)
{
	struct tl_net *tn = tl_net(genl_info_net(info));
	struct tl_entry *e;
	struct sk_buff *msg;
	struct tl_key key;
	int err;

	err = tl_parse_key(info, &key);
	if (err)
		return err;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&tn->lock);
	e = tl_lookup(tn, &key);
	if (!e) {
		err = -ENOENT;
		NL_SET_ERR_MSG(info->extack, "no such entry");
	} else {
		err = tl_fill(msg, e, info->snd_portid, info->snd_seq, 0,
			      TL_CMD_GET);
	}
	mutex_unlock(&tn->lock);
	if (err)
		goto err_free;
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return err;
}

/* Dump every entry; cb->args[0] is the bucket, args[1] the position in it. */
static int tl_cmd_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct tl_net *tn = tl_net(sock_net(skb->sk));
	unsigned long bucket = cb->args[0], skip = cb->args[1], idx;
	struct hlist_head *b;
	struct tl_entry *e;
	int err = 0;

	rcu_read_lock();
	b = tl_table_buckets(tn);
	for (; b && bucket < (1u << tn->hash_bits); bucket++, skip = 0) {
		idx = 0;
		hlist_for_each_entry_rcu(e, &b[bucket], node) {
			if (idx++ < skip)
				continue;
			err = tl_fill(skb, e, NETLINK_CB(cb->skb).portid,
				      cb->nlh->nlmsg_seq, NLM_F_MULTI,
				      TL_CMD_GET);
			if (err) {
				cb->args[0] = bucket;
				cb->args[1] = idx - 1;
				goto out;
			}
		}
	}
	cb->args[0] = bucket;
	cb->args[1] = 0;
out:
	rcu_read_unlock();
	return err ? skb->len : 0;
}

static int tl_cmd_flush(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *cookie = info->attrs[TL_A_COOKIE];
	struct sk_buff *msg;
	unsigned int n;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	n = tl_table_flush(tl_net(genl_info_net(info)), cookie != NULL,
			   cookie ? nla_get_u64(cookie) : 0);
	hdr = genlmsg_put_reply(msg, info, &tl_genl_family, 0, TL_CMD_FLUSH);
	if (!hdr || nla_put_u32(msg, TL_A_COUNT, n)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* The namespace's totals: entries, and the probe's (tl_probe.c). */
static int tl_cmd_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct tl_net *tn = tl_net(genl_info_net(info));
	struct sk_buff *msg;
	struct nlattr *hist;
	u64 packets, ns;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &tl_genl_family, 0, TL_CMD_STATS);
	if (!hdr)
		goto err_free;
	hist = nla_reserve(msg, TL_A_PROBE_HIST,
			   TL_PROBE_SLOTS * sizeof(u32));
	if (!hist)
		goto err_free;
	tl_probe_read(tn, &packets, &ns, nla_data(hist));
	if (nla_put_u32(msg, TL_A_COUNT, READ_ONCE(tn->count)) ||
	    nla_put_u8(msg, TL_A_PROBE_ON, tl_probe_enabled()) ||
	    nla_put_u64_64bit(msg, TL_A_PROBE_PACKETS, packets, TL_A_PAD) ||
	    nla_put_u64_64bit(msg, TL_A_PROBE_NS, ns, TL_A_PAD))
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static const struct genl_small_ops tl_genl_ops[] = {
	{
		.cmd	= TL_CMD_ADD,
		.doit	= tl_cmd_add,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd	= TL_CMD_DEL,
		.doit	= tl_cmd_del,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd	= TL_CMD_GET,
		.doit	= tl_cmd_get,
		.dumpit	= tl_cmd_dump,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd	= TL_CMD_FLUSH,
		.doit	= tl_cmd_flush,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd	= TL_CMD_STATS,
		.doit	= tl_cmd_stats,
		.flags	= GENL_UNS_ADMIN_PERM,
	},
};

/* Joining needs CAP_NET_ADMIN: the events name the peers of calls. */
static const struct genl_multicast_group tl_mcgrps[] = {
	{ .name = TL_MCGRP_LEARN, .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct genl_family tl_genl_family __ro_after_init = {
	.name		= TL_GENL_NAME,
	.version	= TL_GENL_VERSION,
	.maxattr	= TL_A_MAX,
	.policy		= tl_policy,
	.netnsok	= true,
	.parallel_ops	= true,		/* the table has its own lock */
	.module		= THIS_MODULE,
	.small_ops	= tl_genl_ops,
	.n_small_ops	= ARRAY_SIZE(tl_genl_ops),
	.mcgrps		= tl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(tl_mcgrps),
	/* every op is strict: reserved header bits and unknown attributes
	 * are refused (6.1 requires new families to say so) */
	.resv_start_op	= TL_CMD_ADD,
};

/* An event's header (tl_learn.c builds the rest). */
void *tl_genl_event_put(struct sk_buff *msg, u8 cmd)
{
	return genlmsg_put(msg, 0, 0, &tl_genl_family, 0, cmd);
}

/* To the "learn" group of net; nobody listening is no error. */
void tl_genl_event_send(struct net *net, struct sk_buff *msg)
{
	genlmsg_multicast_netns(&tl_genl_family, net, msg, 0, 0, GFP_ATOMIC);
}

int tl_genl_register(void)
{
	return genl_register_family(&tl_genl_family);
}

void tl_genl_unregister(void)
{
	genl_unregister_family(&tl_genl_family);
}
