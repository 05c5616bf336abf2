// SPDX-License-Identifier: GPL-2.0
/*
 * tl_ipv6.c: IPv6 in trunkline.ko, beside the IPv4 path of tl_hook.c.
 *
 *   - the NFPROTO_IPV6 PRE_ROUTING hook: UDP right after the fixed header
 *     (a packet with extension headers, a fragment or a UDP checksum of 0,
 *     which IPv6 forbids, goes on to the stack), keyed by the 128-bit
 *     destination address and port;
 *   - IPv6 to IPv6: the rewrite, with the hop limit for the TTL;
 *   - translation: an entry whose output family is not its key's. The
 *     network header is replaced (20 bytes become 40, or the reverse),
 *     the UDP checksum follows the new pseudo-header (an IPv4 checksum of
 *     0 is computed in full for IPv6), the packet is routed and sent in
 *     the other family;
 *   - parsing the IPv6 netlink attributes.
 *
 * A translated packet that would not fit the route's MTU goes to the
 * socket, where relayd relays it (IPv6 routers do not fragment).
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/skbuff.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv6.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/ip6_route.h>
#include <net/ip6_checksum.h>
#include <net/addrconf.h>
#include <net/route.h>
#include <net/checksum.h>
#include <net/dsfield.h>
#include <net/genetlink.h>
#include <net/netfilter/nf_conntrack.h>

#include "tl.h"
#include "tl_logic6.h"

#define TL_GROW	(sizeof(struct ipv6hdr) - sizeof(struct iphdr))

static void tl_in6(struct in6_addr *a, const u32 *w)
{
	memcpy(a, w, sizeof(*a));
}

static bool tl_source_ok6(const struct tl_entry *e,
			  const struct in6_addr *saddr, u16 sport)
{
	if (e->src_any)
		return true;
	return !memcmp(e->src_addr, saddr, sizeof(*saddr)) &&
	       (e->src_port_any || e->src_port == sport);
}

/*
 * The UDP checksum for the new addresses (olen bytes before, nlen after)
 * and ports, before the headers change. Returns true when the checksum
 * is 0 and the output is IPv6: the caller computes it in full.
 */
static bool tl_csum_readdr(const struct tl_entry *e, struct sk_buff *skb,
			   struct udphdr *uh, const void *osa, const void *oda,
			   unsigned int olen, const void *nsa, const void *nda,
			   unsigned int nlen)
{
	if (skb->ip_summed == CHECKSUM_PARTIAL && olen == nlen) {
		/* the field holds the pseudo-header sum: addresses only */
		inet_proto_csum_replace16(&uh->check, skb, osa, nsa, true);
		inet_proto_csum_replace16(&uh->check, skb, oda, nda, true);
		return false;
	}
	if (skb->ip_summed == CHECKSUM_PARTIAL) {
		/* across families: the pseudo-header sum takes the
		 * difference of the address sums (what
		 * inet_proto_csum_replace_by_diff does for CHECKSUM_PARTIAL) */
		__wsum diff = csum_sub(csum_add(csum_partial(nsa, nlen, 0),
						csum_partial(nda, nlen, 0)),
				       csum_add(csum_partial(osa, olen, 0),
						csum_partial(oda, olen, 0)));

		uh->check = ~csum_fold(csum_add(diff, csum_unfold(uh->check)));
		return false;
	}
	if (!uh->check)
		return nlen == 16;
	uh->check = (__force __sum16)htons(tl_udp_csum_readdr(
			ntohs((__force __be16)uh->check), osa, oda, olen, nsa,
			nda, nlen, ntohs(uh->source), e->out.sport,
			ntohs(uh->dest), e->out.dport));
	/* skb->csum described the packet as received */
	if (skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
	return false;
}

/* IPv4's "no checksum" cannot cross into IPv6: compute it. */
static void tl_udp6_csum_full(struct sk_buff *skb, const struct ipv6hdr *ip6h,
			      struct udphdr *uh, unsigned int ulen)
{
	__wsum csum;

	uh->check = 0;
	csum = skb_checksum(skb, skb_transport_offset(skb), ulen, 0);
	uh->check = csum_ipv6_magic(&ip6h->saddr, &ip6h->daddr, ulen,
				    IPPROTO_UDP, csum);
	if (!uh->check)
		uh->check = CSUM_MANGLED_0;
	skb->ip_summed = CHECKSUM_NONE;
}

static struct dst_entry *tl_route6(struct net *net, const struct tl_entry *e,
				   const struct sk_buff *skb)
{
	struct dst_entry *dst;
	struct flowi6 fl6;

	memset(&fl6, 0, sizeof(fl6));
	tl_in6(&fl6.daddr, e->out.daddr);
	tl_in6(&fl6.saddr, e->out.saddr);
	fl6.flowi6_proto = IPPROTO_UDP;
	fl6.flowi6_mark = skb->mark;
	fl6.fl6_sport = htons(e->out.sport);
	fl6.fl6_dport = htons(e->out.dport);
	dst = ip6_route_output(net, NULL, &fl6);
	if (dst->error) {
		dst_release(dst);
		return NULL;
	}
	return dst;
}

static unsigned int tl_send6(struct net *net, struct sk_buff *skb,
			     struct dst_entry *dst)
{
	skb_dst_drop(skb);
	skb_dst_set(skb, dst);
	skb->dev = dst->dev;
	skb->protocol = htons(ETH_P_IPV6);
	skb->tstamp = 0;
	memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
	/* relayed media makes no conntrack entry, here or on output */
	nf_reset_ct(skb);
	nf_ct_set(skb, NULL, IP_CT_UNTRACKED);
	ip6_local_out(net, NULL, skb);
	return NF_STOLEN;
}

static unsigned int tl_send4(struct net *net, struct sk_buff *skb,
			     struct rtable *rt)
{
	skb_dst_drop(skb);
	skb_dst_set(skb, &rt->dst);
	skb->dev = rt->dst.dev;
	skb->protocol = htons(ETH_P_IP);
	skb->tstamp = 0;
	memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
	nf_reset_ct(skb);
	nf_ct_set(skb, NULL, IP_CT_UNTRACKED);
	ip_local_out(net, NULL, skb);
	return NF_STOLEN;
}

/* The UDP header of a packet whose transport header starts at thoff. */
static struct udphdr *tl_udp(struct sk_buff *skb, unsigned int thoff,
			     unsigned int *ulen)
{
	struct udphdr *uh = (struct udphdr *)(skb_network_header(skb) + thoff);

	*ulen = ntohs(uh->len);
	if (*ulen < sizeof(*uh) || thoff + *ulen > skb->len)
		return NULL;	/* malformed: the stack will drop it */
	return uh;
}

/* IPv6 in, IPv6 out. */
static unsigned int tl_forward_v6(struct net *net, struct tl_entry *e,
				  struct sk_buff *skb)
{
	const unsigned int thoff = sizeof(struct ipv6hdr);
	struct in6_addr nsa, nda;
	struct dst_entry *dst;
	struct ipv6hdr *ip6h;
	struct udphdr *uh;
	unsigned int ulen;

	if (ipv6_hdr(skb)->hop_limit <= 1)
		return NF_ACCEPT;	/* a loop between entries: stop here */
	if (skb_ensure_writable(skb, thoff + sizeof(*uh)))
		return NF_DROP;
	uh = tl_udp(skb, thoff, &ulen);
	if (!uh)
		return NF_ACCEPT;
	dst = tl_route6(net, e, skb);
	if (!dst)
		return NF_ACCEPT;	/* no route: let the daemon see it */
	if (skb->len > dst_mtu(dst)) {
		dst_release(dst);
		return NF_ACCEPT;
	}
	ip6h = ipv6_hdr(skb);
	tl_in6(&nsa, e->out.saddr);
	tl_in6(&nda, e->out.daddr);
	if (e->flags & TL_F_RTP)
		tl_track_rtp(e, skb, thoff, ulen);
	tl_csum_readdr(e, skb, uh, &ip6h->saddr, &ip6h->daddr, 16, &nsa, &nda,
		       16);
	uh->source = htons(e->out.sport);
	uh->dest = htons(e->out.dport);
	ip6h->saddr = nsa;
	ip6h->daddr = nda;
	if (e->flags & TL_F_DSCP)
		ipv6_change_dsfield(ip6h, INET_ECN_MASK, e->out.dscp << 2);
	ip6h->hop_limit--;
	tl_count(e, ulen - sizeof(*uh), false);
	return tl_send6(net, skb, dst);
}

/* IPv4 in (no options: the transport header at thoff = 20), IPv6 out. */
unsigned int tl_forward_4to6(struct net *net, struct tl_entry *e,
			     struct sk_buff *skb, unsigned int thoff)
{
	struct in6_addr nsa, nda;
	struct dst_entry *dst;
	struct ipv6hdr *ip6h;
	__be32 osa, oda;
	struct iphdr *iph;
	struct udphdr *uh;
	unsigned int ulen;
	bool full;
	u8 ttl, tos;

	if (ip_hdr(skb)->ttl <= 1)
		return NF_ACCEPT;
	if (skb_ensure_writable(skb, thoff + sizeof(*uh)))
		return NF_DROP;
	if (!tl_udp(skb, thoff, &ulen))
		return NF_ACCEPT;
	dst = tl_route6(net, e, skb);
	if (!dst)
		return NF_ACCEPT;
	if (skb->len + TL_GROW > dst_mtu(dst)) {
		dst_release(dst);
		return NF_ACCEPT;	/* too big for IPv6: relayd sends it */
	}
	/* room for the longer header; this copies a shared (cloned) head */
	if (skb_cow_head(skb, TL_GROW + LL_RESERVED_SPACE(dst->dev))) {
		dst_release(dst);
		return NF_DROP;
	}
	iph = ip_hdr(skb);
	uh = (struct udphdr *)(skb_network_header(skb) + thoff);
	osa = iph->saddr;
	oda = iph->daddr;
	ttl = iph->ttl;
	tos = iph->tos;
	if (e->flags & TL_F_DSCP)
		tos = (tos & INET_ECN_MASK) | (e->out.dscp << 2);
	tl_in6(&nsa, e->out.saddr);
	tl_in6(&nda, e->out.daddr);
	if (e->flags & TL_F_RTP)
		tl_track_rtp(e, skb, thoff, ulen);
	full = tl_csum_readdr(e, skb, uh, &osa, &oda, 4, &nsa, &nda, 16);
	uh->source = htons(e->out.sport);
	uh->dest = htons(e->out.dport);

	/* the IPv4 header goes, an IPv6 header takes its place; the UDP
	 * header stays where it is (csum_start still points at it) */
	skb_pull(skb, thoff);
	skb_push(skb, sizeof(*ip6h));
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, sizeof(*ip6h));
	ip6h = ipv6_hdr(skb);
	ip6_flow_hdr(ip6h, tos, 0);
	ip6h->payload_len = htons(skb->len - sizeof(*ip6h));
	ip6h->nexthdr = IPPROTO_UDP;
	ip6h->hop_limit = ttl - 1;
	ip6h->saddr = nsa;
	ip6h->daddr = nda;
	if (full)
		tl_udp6_csum_full(skb, ip6h, uh, ulen);
	tl_count(e, ulen - sizeof(*uh), false);
	return tl_send6(net, skb, dst);
}

/* IPv6 in, IPv4 out: the header shrinks, so it always fits. */
static unsigned int tl_forward_6to4(struct net *net, struct tl_entry *e,
				    struct sk_buff *skb)
{
	const unsigned int thoff = sizeof(struct ipv6hdr);
	struct in6_addr osa, oda;
	__be32 nsa, nda;
	struct ipv6hdr *ip6h;
	struct iphdr *iph;
	struct udphdr *uh;
	struct flowi4 fl4;
	struct rtable *rt;
	unsigned int ulen;
	u8 hop, tos;

	if (ipv6_hdr(skb)->hop_limit <= 1)
		return NF_ACCEPT;
	if (skb_ensure_writable(skb, thoff + sizeof(*uh)))
		return NF_DROP;
	uh = tl_udp(skb, thoff, &ulen);
	if (!uh)
		return NF_ACCEPT;
	ip6h = ipv6_hdr(skb);
	tos = ipv6_get_dsfield(ip6h);
	if (e->flags & TL_F_DSCP)
		tos = (tos & INET_ECN_MASK) | (e->out.dscp << 2);
	nsa = (__force __be32)e->out.saddr[0];
	nda = (__force __be32)e->out.daddr[0];
	memset(&fl4, 0, sizeof(fl4));
	fl4.daddr = nda;
	fl4.saddr = nsa;
	fl4.flowi4_proto = IPPROTO_UDP;
	fl4.flowi4_tos = RT_TOS(tos);
	fl4.flowi4_mark = skb->mark;
	fl4.fl4_sport = htons(e->out.sport);
	fl4.fl4_dport = htons(e->out.dport);
	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NF_ACCEPT;

	osa = ip6h->saddr;
	oda = ip6h->daddr;
	hop = ip6h->hop_limit;
	if (e->flags & TL_F_RTP)
		tl_track_rtp(e, skb, thoff, ulen);
	tl_csum_readdr(e, skb, uh, &osa, &oda, 16, &nsa, &nda, 4);
	uh->source = htons(e->out.sport);
	uh->dest = htons(e->out.dport);

	skb_pull(skb, thoff);
	skb_push(skb, sizeof(*iph));
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, sizeof(*iph));
	iph = ip_hdr(skb);
	memset(iph, 0, sizeof(*iph));
	iph->version = 4;
	iph->ihl = 5;
	iph->tos = tos;
	iph->tot_len = htons(skb->len);
	iph->frag_off = htons(IP_DF);	/* as IPv6 was: no fragments */
	iph->ttl = hop - 1;
	iph->protocol = IPPROTO_UDP;
	iph->saddr = nsa;
	iph->daddr = nda;
	ip_select_ident(net, skb, NULL);
	ip_send_check(iph);
	tl_count(e, ulen - sizeof(*uh), false);
	return tl_send4(net, skb, rt);
}

unsigned int tl_hook_v6(void *priv, struct sk_buff *skb,
			const struct nf_hook_state *state)
{
	const struct ipv6hdr *ip6h = ipv6_hdr(skb);
	const struct udphdr *uh;
	struct udphdr _uh;
	struct tl_entry *e;
	struct tl_key key;

	/* extension headers (fragments among them) are the stack's */
	if (ip6h->nexthdr != IPPROTO_UDP || skb->pkt_type != PACKET_HOST ||
	    skb_is_gso(skb))
		return NF_ACCEPT;
	uh = skb_header_pointer(skb, sizeof(*ip6h), sizeof(_uh), &_uh);
	if (!uh)
		return NF_ACCEPT;

	memset(&key, 0, sizeof(key));
	memcpy(key.addr, &ip6h->daddr, sizeof(key.addr));
	key.port = ntohs(uh->dest);
	key.family = AF_INET6;
	key.proto = IPPROTO_UDP;
	/* nf_hook() holds rcu_read_lock() around the hooks */
	e = tl_lookup(tl_net(state->net), &key);
	if (!e)
		return NF_ACCEPT;
	if (unlikely(e->flags & TL_F_HOLD)) {	/* tl_hook.c */
		tl_count(e, 0, true);
		return NF_DROP;
	}
	if (!tl_source_ok6(e, &ip6h->saddr, ntohs(uh->source))) {
		tl_count(e, 0, true);
		return e->flags & TL_F_MISMATCH_DROP ? NF_DROP : NF_ACCEPT;
	}
	/* a UDP checksum of 0 is invalid in IPv6: the stack drops it */
	if (!uh->check && skb->ip_summed != CHECKSUM_PARTIAL)
		return NF_ACCEPT;
	if (e->out.family == AF_INET)
		return tl_forward_6to4(state->net, e, skb);
	return tl_forward_v6(state->net, e, skb);
}

/* ---- netlink: IPv6 attributes ---- */

/*
 * An address an entry can use: entries carry no interface, so a
 * link-local address (ambiguous without one) is refused, as are the
 * unspecified address, IPv4-mapped addresses (IPv4 has its own
 * attributes) and multicast, except as an expected source: no packet
 * comes from one, so relayd parks an entry with it (as with IPv4's
 * broadcast) while it reads the last counters.
 */
static int tl_get_addr6(struct genl_info *info, const struct nlattr *a,
			u32 *w, bool src)
{
	struct in6_addr addr = nla_get_in6_addr(a);
	int type = ipv6_addr_type(&addr);

/* extack messages must be literals */
#define TL_REFUSE(msg) do {						\
		NL_SET_ERR_MSG_ATTR(info->extack, a, msg);		\
		return -EINVAL;						\
	} while (0)
	if (type == IPV6_ADDR_ANY)
		TL_REFUSE("IPv6 address is :: (unspecified)");
	if (type & IPV6_ADDR_MAPPED)
		TL_REFUSE("IPv4-mapped IPv6 address: use the IPv4 attribute");
	if ((type & IPV6_ADDR_MULTICAST) && !src)
		TL_REFUSE("IPv6 multicast address");
	if (type & IPV6_ADDR_LINKLOCAL)
		TL_REFUSE("link-local IPv6 address: entries carry no interface");
#undef TL_REFUSE
	memcpy(w, &addr, sizeof(addr));
	return 0;
}

int tl_parse_key6(struct genl_info *info, struct tl_key *key)
{
	struct nlattr **tb = info->attrs;

	if (tb[TL_A_FAMILY] && nla_get_u8(tb[TL_A_FAMILY]) != AF_INET6) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_FAMILY],
				    "family is not AF_INET6 but the local address is IPv6");
		return -EINVAL;
	}
	if (tb[TL_A_LOCAL_ADDR4]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_LOCAL_ADDR4],
				    "an IPv6 key takes LOCAL_ADDR6, not LOCAL_ADDR4");
		return -EINVAL;
	}
	if (tb[TL_A_PROTO] && nla_get_u8(tb[TL_A_PROTO]) != IPPROTO_UDP) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_PROTO],
				    "only UDP is relayed");
		return -EPROTONOSUPPORT;
	}
	if (GENL_REQ_ATTR_CHECK(info, TL_A_LOCAL_ADDR6) ||
	    GENL_REQ_ATTR_CHECK(info, TL_A_LOCAL_PORT))
		return -EINVAL;
	key->family = AF_INET6;
	key->proto = IPPROTO_UDP;
	key->port = nla_get_u16(tb[TL_A_LOCAL_PORT]);
	return tl_get_addr6(info, tb[TL_A_LOCAL_ADDR6], key->addr, false);
}

/* The IPv6 output of an entry (its key may be of either family). */
int tl_parse_out6(struct net *net, struct genl_info *info, struct tl_entry *e)
{
	struct nlattr **tb = info->attrs;
	struct in6_addr sa;
	int err;

	if (tb[TL_A_OUT_SADDR4] || tb[TL_A_OUT_DADDR4]) {
		NL_SET_ERR_MSG(info->extack,
			       "output source and destination of different families");
		return -EINVAL;
	}
	if (GENL_REQ_ATTR_CHECK(info, TL_A_OUT_SADDR6) ||
	    GENL_REQ_ATTR_CHECK(info, TL_A_OUT_DADDR6))
		return -EINVAL;
	err = tl_get_addr6(info, tb[TL_A_OUT_SADDR6], e->out.saddr, false);
	if (!err)
		err = tl_get_addr6(info, tb[TL_A_OUT_DADDR6], e->out.daddr,
				   false);
	if (err)
		return err;
	tl_in6(&sa, e->out.saddr);
	if (!ipv6_chk_addr(net, &sa, NULL, 0)) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[TL_A_OUT_SADDR6],
				    "output source is not a local address");
		return -EADDRNOTAVAIL;
	}
	e->out.family = AF_INET6;
	return 0;
}

/* The expected IPv6 source of an IPv6 key. */
int tl_parse_src6(struct genl_info *info, struct tl_entry *e)
{
	return tl_get_addr6(info, info->attrs[TL_A_SRC_ADDR6], e->src_addr,
			    true);
}
