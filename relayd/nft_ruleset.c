/*
 * nft_ruleset.c: the nft backend's table, built and changed with libnftnl
 * over one libmnl socket, always as batched transactions (one sendmsg,
 * every ack checked). Nothing outside `ip trunkline` and
 * `ip6 trunkline` is ever touched.
 *
 *   table ip trunkline {
 *     map dnat4 { type ipv4_addr . inet_service . ipv4_addr . inet_service :
 *                 ipv4_addr . inet_service . ipv4_addr . inet_service; }
 *     chain raw_pre  { filter prerouting -300: ip daddr RELAY udp dport
 *         MIN-MAX saddr.sport.daddr.dport != @dnat4 notrack }
 *     chain raw_out  { filter output -300: ip saddr RELAY udp sport
 *         MIN-MAX notrack }
 *   (one rule of each per relay interface address RELAY)
 *     chain nat_pre  { nat prerouting -100:
 *         saddr.sport.daddr.dport map @dnat4 -> (out_local, out_peer);
 *         ct mark set TLK1; ct label set (out_local, out_peer);
 *         dnat to out_peer }
 *     chain nat_post { nat postrouting 100:
 *         ct mark TLK1: snat to ct label's out_local, flag random }
 *   }
 *
 * Why each piece (bench/nft/RESULTS.md has the numbers):
 * - Packets to relay ports without a kernel flow (streams still latching,
 *   third parties) are notrack, so the userspace phase leaves no conntrack
 *   entry that would keep delivering to the socket after the switch, and
 *   relayd's own sends (raw_out) never make entries that clash with the
 *   NAT ones. Only the relay's own addresses: the port range may overlap
 *   the ephemeral one, and the host's own flows (DNS, NTP) from its other
 *   addresses keep their conntrack entries (a stateful firewall needs them). The switch is one transaction adding the elements: the next
 *   packet is tracked and NATed. (A port bitmap set would be cheaper per
 *   packet, but nft_bitmap finds elements by walking a list on every
 *   insert and delete: 6,600 installs/s at 10k streams, measured.)
 * - dnat4 is keyed on the full 4-tuple: a third party finds nothing and
 *   goes to relayd's socket, where strict source drops it.
 * - The source rewrite comes from the ct label written at prerouting, so
 *   one element per direction and kind carries all the rewrite data.
 * - `random` on snat skips nf_nat's bysource walk, which is O(n) when
 *   many flows share one source ip:port (the 7 kpps collapse).
 *
 * IPv6 streams get the same in `table ip6 trunkline` (built only when an
 * interface has an IPv6 address), with one difference: an IPv6 address
 * alone fills the 128-bit ct label, so out_local cannot travel in it.
 * Instead nat_post looks the flow up again in dnat6, keyed on the
 * entry's original tuple (`ct original saddr . proto-src . daddr .
 * proto-dst`, which is the 4-tuple nat_pre saw):
 *     chain nat_pre  { ...map @dnat6 -> (out_local, out_peer); ct mark set
 *         TLK1; dnat ip6 to out_peer }
 *     chain nat_post { ct mark TLK1: ct original tuple map @dnat6:
 *         snat ip6 to out_local, flag random }
 * The key (40 bytes) and data (40 bytes) do not both fit the 64 bytes of
 * registers, so the lookup writes its data over its key (the kernel reads
 * the key before it copies the data).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/expr.h>
#include <libnftnl/common.h>

#include "relayd.h"
#include "backend_nft.h"

#define TYPE_BITS	6
#define T_IPV4		7	/* nft's datatype ids, for `nft list` */
#define T_IPV6		8
#define T_SERVICE	13
#define ELEMS_PER_MSG	256
#define MSG_ROOM	(64u << 10)	/* the largest message we build */

struct nft_sock {
	struct mnl_socket	*nl;
	uint32_t		 portid;
	uint32_t		 seq;
	char			*buf;		/* the batch being built */
	size_t			 len, cap;
	uint32_t		 first_seq;
	int			 nmsgs;		/* messages that want an ack */
	bool			 open_tx;
	uint16_t		 fam;		/* NFPROTO_ of the table built */
};

/*
 * A netfilter netlink socket for big batches (nftables here, ctnetlink in
 * conntrack.c): bound, with buffers forced to bufsz so a whole
 * transaction goes in one sendmsg, and acks that do not echo our (large)
 * messages. NULL with errno set.
 */
struct mnl_socket *
nf_batch_sock_open(int bufsz)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int one = 1, fd;

	if (nl == NULL)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;
		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	fd = mnl_socket_get_fd(nl);
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz));
	return nl;
}

int
nft_sock_open(struct nft_sock **out)
{
	struct nft_sock *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	if ((s->nl = nf_batch_sock_open(64 << 20)) == NULL) {
		int rc = -errno;
		nft_sock_close(s);
		return rc;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL);
	*out = s;
	return 0;
}

void
nft_sock_close(struct nft_sock *s)
{
	if (s == NULL)
		return;
	if (s->nl != NULL)
		mnl_socket_close(s->nl);
	free(s->buf);
	free(s);
}

/* Room for one more message of at most MSG_ROOM bytes. */
static char *
room(struct nft_sock *s)
{
	if (s->len + MSG_ROOM > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : (1u << 20);
		char *b;
		while (s->len + MSG_ROOM > cap)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (b == NULL)
			return NULL;
		s->buf = b;
		s->cap = cap;
	}
	return s->buf + s->len;
}

static void
pushed(struct nft_sock *s, struct nlmsghdr *nlh, bool ack)
{
	s->len += NLMSG_ALIGN(nlh->nlmsg_len);
	if (ack)
		s->nmsgs++;
}

static struct nlmsghdr *
msg(struct nft_sock *s, uint16_t type, uint16_t flags)
{
	char *p = room(s);

	if (p == NULL)
		return NULL;
	return nftnl_nlmsg_build_hdr(p, type, s->fam,
	    flags | NLM_F_ACK, s->seq++);
}

int
nft_tx_begin(struct nft_sock *s)
{
	char *p;

	s->len = 0;
	s->nmsgs = 0;
	if ((p = room(s)) == NULL)
		return -ENOMEM;
	s->first_seq = s->seq;
	nftnl_batch_begin(p, s->seq++);
	s->len += NLMSG_ALIGN(((struct nlmsghdr *)p)->nlmsg_len);
	s->open_tx = true;
	return 0;
}

void
nft_tx_abort(struct nft_sock *s)
{
	s->len = 0;
	s->nmsgs = 0;
	s->open_tx = false;
}

struct ack_state {
	int	 acks;
	int	 err;
	uint32_t err_seq;
};

static int
ack_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

/* Reads acks until every message answered; the first error wins. */
static int
read_acks(struct nft_sock *s, struct ack_state *st, int want)
{
	char buf[1 << 16];
	ssize_t n;

	while (st->acks < want) {
		n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		    mnl_nlmsg_ok(nlh, (int)n); nlh = mnl_nlmsg_next(nlh, (int *)&n)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
				st->acks++;
				if (e->error != 0 && st->err == 0) {
					st->err = e->error;
					st->err_seq = nlh->nlmsg_seq;
				}
			} else if (nlh->nlmsg_type == NLMSG_DONE) {
				st->acks++;
			} else {
				mnl_cb_run(nlh, nlh->nlmsg_len, 0, 0, ack_cb, NULL);
			}
		}
	}
	return 0;
}

int
nft_tx_commit(struct nft_sock *s, char *emsg, size_t elen)
{
	struct ack_state st = { 0, 0, 0 };
	char *p = room(s);
	int rc;

	if (!s->open_tx)
		return -EINVAL;
	s->open_tx = false;
	if (p == NULL)
		return -ENOMEM;
	nftnl_batch_end(p, s->seq++);
	s->len += NLMSG_ALIGN(((struct nlmsghdr *)p)->nlmsg_len);
	if (s->nmsgs == 0)
		return 0;
	if (mnl_socket_sendto(s->nl, s->buf, s->len) < 0) {
		rc = -errno;
		snprintf(emsg, elen, "send %zu-byte batch: %s", s->len,
		    strerror(-rc));
		return rc;
	}
	rc = read_acks(s, &st, s->nmsgs);
	if (rc < 0) {
		snprintf(emsg, elen, "read acks: %s", strerror(-rc));
		return rc;
	}
	if (st.err != 0)
		snprintf(emsg, elen, "message %u of the batch: %s",
		    st.err_seq - s->first_seq, strerror(-st.err));
	return st.err;
}

/* ---- table, sets, chains ---- */

static int
add_table(struct nft_sock *s, uint16_t type)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (t == NULL)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, s->fam);
	nlh = msg(s, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	if (nlh == NULL) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_nlmsg_build_payload(nlh, t);
	pushed(s, nlh, true);
	nftnl_table_free(t);
	return 0;
}

static int
add_set(struct nft_sock *s, const char *name, uint32_t id, uint32_t flags,
    uint32_t ktype, uint32_t klen, uint32_t dtype, uint32_t dlen,
    uint32_t size)
{
	struct nftnl_set *set = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (set == NULL)
		return -ENOMEM;
	nftnl_set_set_str(set, NFTNL_SET_TABLE, NFT_TABLE);
	nftnl_set_set_str(set, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, s->fam);
	nftnl_set_set_u32(set, NFTNL_SET_ID, id);
	nftnl_set_set_u32(set, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, ktype);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, klen);
	if (flags & NFT_SET_MAP) {
		nftnl_set_set_u32(set, NFTNL_SET_DATA_TYPE, dtype);
		nftnl_set_set_u32(set, NFTNL_SET_DATA_LEN, dlen);
	}
	if (size > 0)
		nftnl_set_set_u32(set, NFTNL_SET_DESC_SIZE, size);
	nlh = msg(s, NFT_MSG_NEWSET, NLM_F_CREATE);
	if (nlh == NULL) {
		nftnl_set_free(set);
		return -ENOMEM;
	}
	nftnl_set_nlmsg_build_payload(nlh, set);
	pushed(s, nlh, true);
	nftnl_set_free(set);
	return 0;
}

static int
add_chain(struct nft_sock *s, const char *name, const char *type,
    uint32_t hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (c == NULL)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, s->fam);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = msg(s, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	if (nlh == NULL) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	nftnl_chain_nlmsg_build_payload(nlh, c);
	pushed(s, nlh, true);
	nftnl_chain_free(c);
	return 0;
}

/* ---- expressions ---- */

static void
e_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void
e_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *d,
    uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, d, len);
	nftnl_rule_add_expr(r, e);
}

static void
e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
    uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void
e_lookup(struct nftnl_rule *r, const char *set, uint32_t id, uint32_t sreg,
    int dreg, uint32_t flags)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");
	if (flags != 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, flags);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	nftnl_rule_add_expr(r, e);
}

static void
e_ct_get(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void
e_ct_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, sreg);
	nftnl_rule_add_expr(r, e);
}

static void
e_imm(struct nftnl_rule *r, uint32_t dreg, const void *d, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, d, len);
	nftnl_rule_add_expr(r, e);
}

/* ct original <key> (an address or port of the original tuple) */
static void
e_ct_orig(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void
e_nat(struct nftnl_rule *r, uint32_t fam, uint32_t type, uint32_t addr_reg,
    uint32_t proto_reg, uint32_t flags)
{
	struct nftnl_expr *e = nftnl_expr_alloc("nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, fam);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, addr_reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, proto_reg);
	if (flags != 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, flags);
	nftnl_rule_add_expr(r, e);
}

static void
e_udp(struct nftnl_rule *r)
{
	uint8_t udp = IPPROTO_UDP;

	e_meta(r, NFT_META_L4PROTO, NFT_REG_1);
	e_cmp(r, NFT_REG_1, NFT_CMP_EQ, &udp, sizeof(udp));
}

/*
 * What differs between `table ip trunkline` and `table ip6 trunkline`:
 * one builder takes the family's layout. The key registers hold saddr .
 * sport . daddr . dport (addresses 4 or 16 bytes, ports padded to 4);
 * the map's data (out_local, out_peer) follows the key for IPv4 and
 * overwrites it for IPv6 (see the header: 80 bytes do not fit 64).
 */
struct nft_family {
	uint16_t	 nfproto;	/* NFPROTO_IPV4, NFPROTO_IPV6 */
	uint32_t	 type;		/* T_IPV4, T_IPV6 (nft's datatype) */
	const char	*map;		/* dnat4, dnat6 */
	uint32_t	 set_id;	/* SET_DNAT4, SET_DNAT6 */
	uint32_t	 alen;		/* address bytes */
	uint32_t	 saddr_off, daddr_off;	/* in the network header */
	uint32_t	 key_len;	/* the map's key and data */
	/* key: saddr in REG32_00, then these */
	uint32_t	 r_sport, r_daddr, r_dport;
	/* data: out_local at r_data (its port at r_lport), out_peer at
	 * r_paddr/r_pport; r_mark a free one for the ct mark */
	uint32_t	 r_data, r_lport, r_paddr, r_pport, r_mark;
	/* out_local travels in the ct label (IPv4), else nat_post looks the
	 * flow up again by the entry's original tuple (IPv6) */
	bool		 label;
	bool		 always;	/* table built without an address too */
};

enum { SET_DNAT4 = 1, SET_DNAT6 = 2 };

static const struct nft_family fam4 = {
	NFPROTO_IPV4, T_IPV4, "dnat4", SET_DNAT4, 4, 12, 16, 16,
	NFT_REG32_01, NFT_REG32_02, NFT_REG32_03,
	NFT_REG32_04, NFT_REG32_05, NFT_REG32_06, NFT_REG32_07, NFT_REG32_08,
	true, true,
};
static const struct nft_family fam6 = {
	NFPROTO_IPV6, T_IPV6, "dnat6", SET_DNAT6, 16, 8, 24, NFT_ELEM6_LEN,
	NFT_REG32_04, NFT_REG32_05, NFT_REG32_09,
	NFT_REG32_00, NFT_REG32_04, NFT_REG32_05, NFT_REG32_09, NFT_REG32_10,
	false, false,
};

/* saddr . sport . daddr . dport: the map's key, from REG32_00. */
static void
e_tuple(struct nftnl_rule *r, const struct nft_family *f)
{
	e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->saddr_off, f->alen,
	    NFT_REG32_00);
	e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, f->r_sport);
	e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->daddr_off, f->alen,
	    f->r_daddr);
	e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, f->r_dport);
}

static int
push_rule(struct nft_sock *s, const char *chain, struct nftnl_rule *r)
{
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, s->fam);
	nlh = msg(s, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	if (nlh == NULL) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	nftnl_rule_nlmsg_build_payload(nlh, r);
	pushed(s, nlh, true);
	nftnl_rule_free(r);
	return 0;
}

/* The notrack rules of one relay address (network order, f->alen). */
static int
notrack_rules(struct nft_sock *s, const struct nft_family *f,
    const void *addr, uint16_t lo, uint16_t hi)
{
	struct nftnl_rule *r;
	int rc;

	/* raw_pre: packets to relay ports that no flow takes: notrack. */
	r = nftnl_rule_alloc();
	e_udp(r);
	e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->daddr_off, f->alen,
	    NFT_REG_1);
	e_cmp(r, NFT_REG_1, NFT_CMP_EQ, addr, f->alen);
	e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
	e_cmp(r, NFT_REG_1, NFT_CMP_GTE, &lo, 2);
	e_cmp(r, NFT_REG_1, NFT_CMP_LTE, &hi, 2);
	e_tuple(r, f);
	e_lookup(r, f->map, f->set_id, NFT_REG32_00, -1, NFT_LOOKUP_F_INV);
	nftnl_rule_add_expr(r, nftnl_expr_alloc("notrack"));
	if ((rc = push_rule(s, "raw_pre", r)) < 0)
		return rc;
	/* raw_out: relayd's own packets never make conntrack entries. */
	r = nftnl_rule_alloc();
	e_udp(r);
	e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->saddr_off, f->alen,
	    NFT_REG_1);
	e_cmp(r, NFT_REG_1, NFT_CMP_EQ, addr, f->alen);
	e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG_1);
	e_cmp(r, NFT_REG_1, NFT_CMP_GTE, &lo, 2);
	e_cmp(r, NFT_REG_1, NFT_CMP_LTE, &hi, 2);
	nftnl_rule_add_expr(r, nftnl_expr_alloc("notrack"));
	return push_rule(s, "raw_out", r);
}

/* addrs: n addresses of f->alen bytes each. */
static int
rules(struct nft_sock *s, const struct nft_family *f, uint16_t port_min,
    uint16_t port_max, const void *addrs, int n)
{
	uint16_t lo = htons(port_min), hi = htons(port_max);
	uint32_t mark = TL_CT_MARK;	/* ct mark: host byte order in registers */
	struct nftnl_rule *r;
	int rc;

	for (int i = 0; i < n; i++)
		if ((rc = notrack_rules(s, f, (const uint8_t *)addrs +
		    (size_t)i * f->alen, lo, hi)) < 0)
			return rc;
	/* nat_pre: the 4-tuple finds (out_local, out_peer). */
	r = nftnl_rule_alloc();
	e_udp(r);
	e_tuple(r, f);
	e_lookup(r, f->map, f->set_id, NFT_REG32_00, f->r_data, 0);
	e_imm(r, f->r_mark, &mark, sizeof(mark));
	e_ct_set(r, NFT_CT_MARK, f->r_mark);
	if (f->label)
		e_ct_set(r, NFT_CT_LABELS, f->r_data);
	e_nat(r, f->nfproto, NFT_NAT_DNAT, f->r_paddr, f->r_pport, 0);
	if ((rc = push_rule(s, "nat_pre", r)) < 0)
		return rc;
	/* nat_post: our entries take their source from out_local. */
	r = nftnl_rule_alloc();
	e_ct_get(r, NFT_CT_MARK, NFT_REG_1);
	e_cmp(r, NFT_REG_1, NFT_CMP_EQ, &mark, sizeof(mark));
	if (f->label) {
		e_ct_get(r, NFT_CT_LABELS, NFT_REG32_00);
		e_nat(r, f->nfproto, NFT_NAT_SNAT, NFT_REG32_00, NFT_REG32_01,
		    NF_NAT_RANGE_PROTO_RANDOM);
		return push_rule(s, "nat_post", r);
	}
	/* The original tuple finds the flow again: its out_local. */
	e_ct_orig(r, NFT_CT_SRC_IP6, NFT_REG32_00);
	e_ct_orig(r, NFT_CT_PROTO_SRC, f->r_sport);
	e_ct_orig(r, NFT_CT_DST_IP6, f->r_daddr);
	e_ct_orig(r, NFT_CT_PROTO_DST, f->r_dport);
	e_lookup(r, f->map, f->set_id, NFT_REG32_00, f->r_data, 0);
	e_nat(r, f->nfproto, NFT_NAT_SNAT, f->r_data, f->r_lport,
	    NF_NAT_RANGE_PROTO_RANDOM);
	return push_rule(s, "nat_post", r);
}

static int
chains(struct nft_sock *s)
{
	int rc;

	if ((rc = add_chain(s, "raw_pre", "filter", NF_INET_PRE_ROUTING,
	    NF_IP_PRI_RAW)) < 0 ||
	    (rc = add_chain(s, "raw_out", "filter", NF_INET_LOCAL_OUT,
	    NF_IP_PRI_RAW)) < 0 ||
	    (rc = add_chain(s, "nat_pre", "nat", NF_INET_PRE_ROUTING,
	    NF_IP_PRI_NAT_DST)) < 0 ||
	    (rc = add_chain(s, "nat_post", "nat", NF_INET_POST_ROUTING,
	    NF_IP_PRI_NAT_SRC)) < 0)
		return rc;
	return 0;
}

/* One family's table, replacing the one there (deleting it when that
 * family has no relay address and the table is not always built). */
static int
table_build(struct nft_sock *s, const struct nft_family *f, bool exists,
    uint32_t size, uint16_t port_min, uint16_t port_max, const void *addrs,
    int n)
{
	uint32_t pair = f->type << TYPE_BITS | T_SERVICE;
	uint32_t quad = pair << (2 * TYPE_BITS) | pair;
	int rc;

	s->fam = f->nfproto;
	if (exists && (rc = add_table(s, NFT_MSG_DELTABLE)) < 0)
		return rc;
	if (n == 0 && !f->always)
		return 0;
	if ((rc = add_table(s, NFT_MSG_NEWTABLE)) < 0 ||
	    (rc = add_set(s, f->map, f->set_id, NFT_SET_MAP, quad, f->key_len,
	    quad, f->key_len, size)) < 0 ||
	    (rc = chains(s)) < 0)
		return rc;
	return rules(s, f, port_min, port_max, addrs, n);
}

int
nft_tx_table_build(struct nft_sock *s, bool exists, bool exists6,
    uint16_t port_min, uint16_t port_max, int nifaces,
    const struct nft_addrs *a)
{
	/* every local port of every interface can be one key */
	uint32_t size = (uint32_t)nifaces * ((uint32_t)port_max - port_min + 1);
	int rc;

	if (size < 1024)
		size = 1024;
	if ((rc = table_build(s, &fam6, exists6, size, port_min, port_max,
	    a->v6, a->n6)) < 0)
		return rc;
	return table_build(s, &fam4, exists, size, port_min, port_max, a->v4,
	    a->n4);
}

int
nft_tx_table_delete(struct nft_sock *s, int family)
{
	s->fam = family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	return add_table(s, NFT_MSG_DELTABLE);
}

/* ---- elements ---- */

void
nft_flow_elem(const struct nft_flow *f, struct nft_elem *e)
{
	memset(e, 0, sizeof(*e));
	e->family = f->family;
	if (f->family == AF_INET6) {
		memcpy(e->key, &f->peer6, 16);
		memcpy(e->key + 16, &f->peer_port, 2);
		memcpy(e->key + 20, &f->local6, 16);
		memcpy(e->key + 36, &f->local_port, 2);
		memcpy(e->data, &f->out_local6, 16);
		memcpy(e->data + 16, &f->out_local_port, 2);
		memcpy(e->data + 20, &f->out_peer6, 16);
		memcpy(e->data + 36, &f->out_peer_port, 2);
		return;
	}
	memcpy(e->key, &f->peer_addr, 4);
	memcpy(e->key + 4, &f->peer_port, 2);
	memcpy(e->key + 8, &f->local_addr, 4);
	memcpy(e->key + 12, &f->local_port, 2);
	memcpy(e->data, &f->out_local_addr, 4);
	memcpy(e->data + 4, &f->out_local_port, 2);
	memcpy(e->data + 8, &f->out_peer_addr, 4);
	memcpy(e->data + 12, &f->out_peer_port, 2);
}

void
nft_elem_flow(const struct nft_elem *e, struct nft_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->family = e->family;
	if (e->family == AF_INET6) {
		memcpy(&f->peer6, e->key, 16);
		memcpy(&f->peer_port, e->key + 16, 2);
		memcpy(&f->local6, e->key + 20, 16);
		memcpy(&f->local_port, e->key + 36, 2);
		memcpy(&f->out_local6, e->data, 16);
		memcpy(&f->out_local_port, e->data + 16, 2);
		memcpy(&f->out_peer6, e->data + 20, 16);
		memcpy(&f->out_peer_port, e->data + 36, 2);
		return;
	}
	memcpy(&f->peer_addr, e->key, 4);
	memcpy(&f->peer_port, e->key + 4, 2);
	memcpy(&f->local_addr, e->key + 8, 4);
	memcpy(&f->local_port, e->key + 12, 2);
	memcpy(&f->out_local_addr, e->data, 4);
	memcpy(&f->out_local_port, e->data + 4, 2);
	memcpy(&f->out_peer_addr, e->data + 8, 4);
	memcpy(&f->out_peer_port, e->data + 12, 2);
}

int
nft_elem_cmp(const void *a, const void *b)
{
	const struct nft_elem *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->key, y->key, sizeof(x->key));
}

static struct nftnl_set *
elem_set(int family)
{
	const char *name = family == AF_INET6 ? "dnat6" : "dnat4";
	struct nftnl_set *set = nftnl_set_alloc();

	if (set == NULL)
		return NULL;
	nftnl_set_set_str(set, NFTNL_SET_TABLE, NFT_TABLE);
	nftnl_set_set_str(set, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, family == AF_INET6 ?
	    NFPROTO_IPV6 : NFPROTO_IPV4);
	return set;
}

static int
push_elems(struct nft_sock *s, struct nftnl_set *set, bool add)
{
	struct nlmsghdr *nlh;

	s->fam = (uint16_t)nftnl_set_get_u32(set, NFTNL_SET_FAMILY);
	nlh = msg(s, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
	    add ? NLM_F_CREATE : 0);
	if (nlh == NULL) {
		nftnl_set_free(set);
		return -ENOMEM;
	}
	nftnl_set_elems_nlmsg_build_payload(nlh, set);
	pushed(s, nlh, true);
	nftnl_set_free(set);
	return 0;
}

/* The flows of one family: one message per ELEMS_PER_MSG. */
static int
tx_flows_of(struct nft_sock *s, int family, bool add,
    const struct nft_flow *f, size_t n)
{
	uint32_t len = family == AF_INET6 ? NFT_ELEM6_LEN : NFT_ELEM4_LEN;
	struct nft_elem el;
	size_t i = 0;
	int rc;

	for (;;) {
		struct nftnl_set *set;
		size_t k = 0;
		while (i < n && f[i].family != family)
			i++;
		if (i == n)
			return 0;
		if ((set = elem_set(family)) == NULL)
			return -ENOMEM;
		for (; k < ELEMS_PER_MSG && i < n; i++) {
			struct nftnl_set_elem *e;
			if (f[i].family != family)
				continue;
			if ((e = nftnl_set_elem_alloc()) == NULL) {
				nftnl_set_free(set);
				return -ENOMEM;
			}
			nft_flow_elem(&f[i], &el);
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, el.key, len);
			if (add)
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA,
				    el.data, len);
			nftnl_set_elem_add(set, e);
			k++;
		}
		if ((rc = push_elems(s, set, add)) < 0)
			return rc;
	}
}

int
nft_tx_flows(struct nft_sock *s, bool add, const struct nft_flow *f,
    size_t n)
{
	int rc = tx_flows_of(s, AF_INET, add, f, n);

	return rc < 0 ? rc : tx_flows_of(s, AF_INET6, add, f, n);
}

/* ---- queries ---- */

struct query {
	int	 family;
	int	 err;
	bool	 done;
	struct nft_elem *keys;
	size_t	 n, cap;
};

static int
elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct query *q = data;
	struct nftnl_set *set = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (set == NULL || nftnl_set_elems_nlmsg_parse(nlh, set) < 0) {
		nftnl_set_free(set);
		return MNL_CB_OK;
	}
	it = nftnl_set_elems_iter_create(set);
	for (e = it ? nftnl_set_elems_iter_cur(it) : NULL; e != NULL;
	    e = nftnl_set_elems_iter_next(it)) {
		uint32_t klen = 0, dlen = 0, want = q->family == AF_INET6 ?
		    NFT_ELEM6_LEN : NFT_ELEM4_LEN;
		const void *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		const void *d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dlen);
		if (k == NULL || klen != want)
			continue;
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 1024;
			struct nft_elem *v = realloc(q->keys, cap * sizeof(*v));
			if (v == NULL) {
				q->err = -ENOMEM;
				break;
			}
			q->keys = v;
			q->cap = cap;
		}
		memset(&q->keys[q->n], 0, sizeof(q->keys[q->n]));
		q->keys[q->n].family = q->family;
		memcpy(q->keys[q->n].key, k, want);
		if (d != NULL && dlen == want)
			memcpy(q->keys[q->n].data, d, want);
		q->n++;
	}
	if (it != NULL)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(set);
	return MNL_CB_OK;
}

/* One request, its answers through cb, until DONE or the ack/error. */
static int
request(struct nft_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[1 << 16];
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int rc;

	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		rc = mnl_cb_run(buf, (size_t)n, seq, s->portid, cb, data);
		if (rc < 0)
			return -errno;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

int
nft_table_exists(struct nft_sock *s, int family)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int rc;

	if (t == NULL)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, family == AF_INET6 ?
	    NFPROTO_IPV6 : NFPROTO_IPV4, NLM_F_ACK, s->seq++);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	rc = request(s, nlh, ack_cb, NULL);
	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : 1;
}

int
nft_dump_keys(struct nft_sock *s, int family, struct nft_elem **keys,
    size_t *n)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *set = elem_set(family);
	struct query q = { family, 0, false, *keys, *n, *n };
	struct nlmsghdr *nlh;
	int rc;

	if (set == NULL)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, family == AF_INET6 ?
	    NFPROTO_IPV6 : NFPROTO_IPV4, NLM_F_DUMP | NLM_F_ACK, s->seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, set);
	nftnl_set_free(set);
	rc = request(s, nlh, elem_cb, &q);
	if (rc == 0 && q.err < 0)
		rc = q.err;
	*keys = q.keys;	/* the caller frees them, on error too */
	if (rc < 0)
		return rc;
	*n = q.n;
	return 0;
}
