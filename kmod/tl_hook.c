// SPDX-License-Identifier: GPL-2.0
/*
 * tl_hook.c: the packet path. A PRE_ROUTING hook, before conntrack, looks
 * each UDP packet up by (destination address, destination port). A packet
 * for an entry, from the expected source, is rewritten to the entry's
 * output addresses and ports, its checksums updated incrementally, routed
 * in this namespace and sent with ip_local_out(); conntrack never sees it
 * (it is marked untracked). A packet from another source goes on to the
 * local socket, where relayd counts and drops it, or is dropped here when
 * the entry says so. Nothing is allocated here except when the headers
 * are shared with a clone (skb_ensure_writable), as for a packet capture.
 */
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/skbuff.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <net/ip.h>
#include <net/route.h>
#include <net/checksum.h>
#include <net/dsfield.h>
#include <net/netfilter/nf_conntrack.h>

#include "tl.h"

static bool tl_source_ok(const struct tl_entry *e, __be32 saddr, u16 sport)
{
	if (e->src_any)
		return true;
	return e->src_addr[0] == (__force u32)saddr &&
	       (e->src_port_any || e->src_port == sport);
}

/* Uncontended atomics: a flow is on one CPU (see struct tl_state). */
void tl_count(struct tl_entry *e, unsigned int len, bool mismatch)
{
	struct tl_state *st = e->st;

	if (mismatch) {
		atomic64_inc(&st->mismatch);
		return;
	}
	atomic64_add(len, &st->bytes);
	WRITE_ONCE(st->last, jiffies);
	smp_wmb();	/* a reader that sees the packet sees its time */
	atomic64_inc(&st->packets);
}

void tl_track_rtp(struct tl_entry *e, struct sk_buff *skb, unsigned int thoff,
		  unsigned int ulen)
{
	u8 buf[12];
	const u8 *p;

	if (ulen < sizeof(struct udphdr) + sizeof(buf))
		return;
	p = skb_header_pointer(skb, thoff + sizeof(struct udphdr), sizeof(buf),
			       buf);
	if (!p)
		return;
	spin_lock(&e->st->lock);
	tl_rtp_update(&e->st->rtp, p, ulen - sizeof(struct udphdr));
	spin_unlock(&e->st->lock);
}

/* Rewrite addresses and ports; the UDP checksum follows incrementally. */
static void tl_rewrite_v4(const struct tl_entry *e, struct sk_buff *skb,
			  struct iphdr *iph, struct udphdr *uh)
{
	__be32 nsaddr = (__force __be32)e->out.saddr[0];
	__be32 ndaddr = (__force __be32)e->out.daddr[0];
	__be16 nsport = htons(e->out.sport), ndport = htons(e->out.dport);

	if (skb->ip_summed == CHECKSUM_PARTIAL) {
		/* the field holds the pseudo-header sum the device or
		 * skb_checksum_help() completes: only addresses matter */
		inet_proto_csum_replace4(&uh->check, skb, iph->saddr, nsaddr,
					 true);
		inet_proto_csum_replace4(&uh->check, skb, iph->daddr, ndaddr,
					 true);
	} else if (uh->check) {
		u16 check = ntohs((__force __be16)uh->check);

		check = tl_udp_csum_rewrite(check,
				ntohl(iph->saddr), ntohl(nsaddr),
				ntohl(iph->daddr), ntohl(ndaddr),
				ntohs(uh->source), e->out.sport,
				ntohs(uh->dest), e->out.dport);
		uh->check = (__force __sum16)htons(check);
		/* skb->csum described the packet as received */
		if (skb->ip_summed == CHECKSUM_COMPLETE)
			skb->ip_summed = CHECKSUM_NONE;
	}
	uh->source = nsport;
	uh->dest = ndport;
	iph->saddr = nsaddr;
	iph->daddr = ndaddr;
	if (e->flags & TL_F_DSCP)
		iph->tos = (iph->tos & INET_ECN_MASK) | (e->out.dscp << 2);
	iph->ttl--;
	ip_send_check(iph);
}

/* t0: when the hook started, with the probe on (tl_probe.c) */
static unsigned int tl_forward_v4(struct net *net, struct tl_entry *e,
				  struct sk_buff *skb, unsigned int thoff,
				  u64 t0)
{
	unsigned int ulen;
	struct flowi4 fl4;
	struct iphdr *iph;
	struct udphdr *uh;
	struct rtable *rt;

	if (ip_hdr(skb)->ttl <= 1)
		return NF_ACCEPT;	/* a loop between entries: stop here */
	if (skb_ensure_writable(skb, thoff + sizeof(struct udphdr)))
		return NF_DROP;
	iph = ip_hdr(skb);
	uh = (struct udphdr *)(skb_network_header(skb) + thoff);
	ulen = ntohs(uh->len);
	if (ulen < sizeof(*uh) || thoff + ulen > skb->len)
		return NF_ACCEPT;	/* malformed: the stack will drop it */

	memset(&fl4, 0, sizeof(fl4));
	fl4.daddr = (__force __be32)e->out.daddr[0];
	fl4.saddr = (__force __be32)e->out.saddr[0];
	fl4.flowi4_proto = IPPROTO_UDP;
	fl4.flowi4_tos = RT_TOS(e->flags & TL_F_DSCP ? e->out.dscp << 2 : iph->tos);
	fl4.flowi4_mark = skb->mark;
	fl4.fl4_sport = htons(e->out.sport);
	fl4.fl4_dport = htons(e->out.dport);
	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NF_ACCEPT;	/* no route: let the daemon see it */

	if (e->flags & TL_F_RTP)
		tl_track_rtp(e, skb, thoff, ulen);
	tl_rewrite_v4(e, skb, iph, uh);
	tl_count(e, ulen - sizeof(*uh), false);

	skb_dst_drop(skb);
	skb_dst_set(skb, &rt->dst);
	skb->dev = rt->dst.dev;
	skb->protocol = htons(ETH_P_IP);
	skb->tstamp = 0;
	/* relayed media makes no conntrack entry, here or on output */
	nf_reset_ct(skb);
	nf_ct_set(skb, NULL, IP_CT_UNTRACKED);
	/* the module's work ends here; the stack's output path follows */
	tl_probe_end(net, t0);
	ip_local_out(net, NULL, skb);
	return NF_STOLEN;
}

static unsigned int tl_hook_v4(void *priv, struct sk_buff *skb,
			       const struct nf_hook_state *state)
{
	u64 t0 = tl_probe_start();	/* 0 unless probe=1 */
	const struct iphdr *iph = ip_hdr(skb);
	const struct udphdr *uh;
	struct udphdr _uh;
	struct tl_entry *e;
	struct tl_key key;
	unsigned int thoff;

	/* GSO: several datagrams in one skb (UDP_SEGMENT from a local
	 * sender); the stack segments them, relayd then sees them */
	if (iph->protocol != IPPROTO_UDP || iph->ihl != 5 ||
	    ip_is_fragment(iph) || skb->pkt_type != PACKET_HOST ||
	    skb_is_gso(skb))
		return NF_ACCEPT;
	thoff = sizeof(*iph);
	uh = skb_header_pointer(skb, thoff, sizeof(_uh), &_uh);
	if (!uh)
		return NF_ACCEPT;

	memset(&key, 0, sizeof(key));
	key.addr[0] = (__force u32)iph->daddr;
	key.port = ntohs(uh->dest);
	key.family = AF_INET;
	key.proto = IPPROTO_UDP;
	/* nf_hook() holds rcu_read_lock() around the hooks */
	e = tl_lookup(tl_net(state->net), &key);
	if (!e)
		return NF_ACCEPT;
	if (unlikely(e->flags & TL_F_HOLD)) {
		/* offered, not answered: no output yet, and no socket */
		tl_count(e, 0, true);
		return NF_DROP;
	}
	if ((e->flags & TL_F_LEARN) ? !tl_learn_packet(state->net, e, iph->saddr,
					ntohs(uh->source)) :
	    !tl_source_ok(e, iph->saddr, ntohs(uh->source))) {
		tl_count(e, 0, true);
		return e->flags & TL_F_MISMATCH_DROP ? NF_DROP : NF_ACCEPT;
	}
	if (e->out.family == AF_INET6)	/* translated: tl_ipv6.c */
		return tl_forward_4to6(state->net, e, skb, thoff);
	return tl_forward_v4(state->net, e, skb, thoff, t0);
}

static const struct nf_hook_ops tl_hook_ops[] = {
	{
		.hook		= tl_hook_v4,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		/* after defragmentation, before raw and conntrack */
		.priority	= NF_IP_PRI_RAW - 1,
	},
	{
		.hook		= tl_hook_v6,	/* tl_ipv6.c */
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP6_PRI_RAW - 1,
	},
};

int tl_hook_register(struct net *net)
{
	return nf_register_net_hooks(net, tl_hook_ops, ARRAY_SIZE(tl_hook_ops));
}

void tl_hook_unregister(struct net *net)
{
	nf_unregister_net_hooks(net, tl_hook_ops, ARRAY_SIZE(tl_hook_ops));
}
