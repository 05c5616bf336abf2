/*
 * conntrack.c: the nft backend's ctnetlink side (libnetfilter_conntrack
 * builds and parses the messages, libmnl carries them). Requests go out in
 * batches: many messages in one sendmsg, every answer matched back to its
 * request by sequence number. Used to
 *   - delete a stream's entries before and after its time in the kernel
 *     (an entry made while the stream was in userspace would keep
 *     delivering to relayd's socket; one left after removal would keep
 *     forwarding to the old peer),
 *   - read the per-entry packet and byte counters (nf_conntrack_acct),
 *   - find and delete every entry carrying our ct mark (start, exit, and
 *     entries of streams that did not come back after a restart).
 * Requests about one flow carry the flow's family (the kernel parses the
 * tuple by it); dumps ask for every family (AF_UNSPEC) and sort the
 * entries by their own.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "relayd.h"
#include "backend_nft.h"

#define CT_BATCH_BYTES	(256u << 10)
#define CT_MSG_ROOM	512

struct ct_sock {
	struct mnl_socket	*nl;
	uint32_t		 portid;
	uint32_t		 seq;
	char			*buf;
	struct nf_conntrack	*ct;
};

int
ct_open(struct ct_sock **out)
{
	struct ct_sock *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->buf = malloc(CT_BATCH_BYTES);
	s->ct = nfct_new();
	if (s->buf == NULL || s->ct == NULL ||
	    (s->nl = nf_batch_sock_open(16 << 20)) == NULL) {
		int rc = errno ? -errno : -ENOMEM;
		ct_close(s);
		return rc;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL) << 8;
	*out = s;
	return 0;
}

void
ct_close(struct ct_sock *s)
{
	if (s == NULL)
		return;
	if (s->nl != NULL)
		mnl_socket_close(s->nl);
	if (s->ct != NULL)
		nfct_destroy(s->ct);
	free(s->buf);
	free(s);
}

static struct nlmsghdr *
ct_hdr(struct ct_sock *s, char *at, uint8_t type, uint16_t flags,
    uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct nfgenmsg *nfh;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = s->seq++;
	nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfh));
	nfh->nfgen_family = family;
	nfh->version = NFNETLINK_V0;
	nfh->res_id = 0;
	return nlh;
}

/* The original tuple peer -> local of a flow. */
static void
set_tuple(struct nf_conntrack *ct, const struct nft_flow *f)
{
	nfct_set_attr_u8(ct, ATTR_L3PROTO, (uint8_t)f->family);
	if (f->family == AF_INET6) {
		nfct_set_attr(ct, ATTR_IPV6_SRC, &f->peer6);
		nfct_set_attr(ct, ATTR_IPV6_DST, &f->local6);
	} else {
		nfct_set_attr_u32(ct, ATTR_IPV4_SRC, f->peer_addr);
		nfct_set_attr_u32(ct, ATTR_IPV4_DST, f->local_addr);
	}
	nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_UDP);
	nfct_set_attr_u16(ct, ATTR_PORT_SRC, f->peer_port);
	nfct_set_attr_u16(ct, ATTR_PORT_DST, f->local_port);
}

/* Is the entry's original source the flow's peer? */
static bool
orig_from(const struct nf_conntrack *ct, const struct nft_flow *f)
{
	const void *a;

	if (nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC) != f->peer_port)
		return false;
	if (f->family != AF_INET6)
		return nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC) == f->peer_addr;
	a = nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC);
	return a != NULL && memcmp(a, &f->peer6, 16) == 0;
}

/* Answers of one batch: a ct message (GET) and one ack per request. */
struct answers {
	uint32_t		 first_seq;
	size_t			 n;
	size_t			 acked;
	struct ct_counters	*out;		/* GET only */
	const struct nft_flow	*flows;
	struct nf_conntrack	*ct;
	int			 err;		/* first unexpected error */
};

static void
parse_ct(struct answers *a, const struct nlmsghdr *nlh)
{
	size_t i = nlh->nlmsg_seq - a->first_seq;
	struct ct_counters *c;
	const struct nft_flow *f;

	if (a->out == NULL || i >= a->n)
		return;
	c = &a->out[i];
	f = &a->flows[i];
	nfct_set_attr_u32(a->ct, ATTR_ID, 0);
	if (nfct_nlmsg_parse(nlh, a->ct) < 0)
		return;
	c->found = true;
	c->id = nfct_get_attr_u32(a->ct, ATTR_ID);
	c->orig_from_peer = orig_from(a->ct, f);
	c->pkts[0] = nfct_get_attr_u64(a->ct, ATTR_ORIG_COUNTER_PACKETS);
	c->bytes[0] = nfct_get_attr_u64(a->ct, ATTR_ORIG_COUNTER_BYTES);
	c->pkts[1] = nfct_get_attr_u64(a->ct, ATTR_REPL_COUNTER_PACKETS);
	c->bytes[1] = nfct_get_attr_u64(a->ct, ATTR_REPL_COUNTER_BYTES);
}

static int
read_answers(struct ct_sock *s, struct answers *a)
{
	char buf[1 << 16];
	ssize_t n;

	while (a->acked < a->n) {
		n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		    mnl_nlmsg_ok(nlh, (int)n); nlh = mnl_nlmsg_next(nlh, (int *)&n)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
				a->acked++;
				if (e->error != 0 && e->error != -ENOENT &&
				    a->err == 0)
					a->err = e->error;
			} else if ((nlh->nlmsg_type & 0xff) == IPCTNL_MSG_CT_NEW) {
				parse_ct(a, nlh);
			}
		}
	}
	return a->err;
}

/* One request per flow (delete or get), batched into few sendmsg calls. */
static int
per_flow(struct ct_sock *s, uint8_t type, const struct nft_flow *flows,
    size_t n, struct ct_counters *out)
{
	size_t done = 0;
	int rc = 0;

	while (done < n) {
		struct answers a = { .first_seq = s->seq, .out = out ? out + done : NULL,
		    .flows = flows + done, .ct = s->ct };
		size_t len = 0;
		while (done + a.n < n && len + CT_MSG_ROOM <= CT_BATCH_BYTES) {
			const struct nft_flow *f = &flows[done + a.n];
			struct nlmsghdr *nlh = ct_hdr(s, s->buf + len, type,
			    NLM_F_ACK, (uint8_t)f->family);
			nfct_set_attr_u32(s->ct, ATTR_ID, 0);
			set_tuple(s->ct, f);
			nfct_nlmsg_build(nlh, s->ct);
			len += NLMSG_ALIGN(nlh->nlmsg_len);
			a.n++;
		}
		if (out != NULL)
			memset(out + done, 0, a.n * sizeof(*out));
		if (mnl_socket_sendto(s->nl, s->buf, len) < 0)
			return -errno;
		if ((rc = read_answers(s, &a)) < 0)
			return rc;
		done += a.n;
	}
	return 0;
}

int
ct_delete_flows(struct ct_sock *s, const struct nft_flow *flows, size_t n)
{
	return per_flow(s, IPCTNL_MSG_CT_DELETE, flows, n, NULL);
}

int
ct_get_flows(struct ct_sock *s, const struct nft_flow *flows, size_t n,
    struct ct_counters *out)
{
	return per_flow(s, IPCTNL_MSG_CT_GET, flows, n, out);
}

/* ---- our entries, by mark ---- */

struct dump {
	struct nf_conntrack	*ct;
	uint16_t		 port_min, port_max;	/* host order; 0: by keys */
	const struct nft_addrs	*addrs;		/* with ports: relay addresses */
	const struct nft_elem	*keep;
	size_t			 nkeep;
	struct nft_flow		*gone;		/* entries to delete */
	size_t			 n, cap;
	int			 err;
};

static bool
kept(const struct dump *d, const struct nft_flow *f)
{
	struct nft_elem k;

	nft_flow_elem(f, &k);
	return d->nkeep > 0 &&
	    bsearch(&k, d->keep, d->nkeep, sizeof(k), nft_elem_cmp) != NULL;
}

/* addr:port (network order) is a relay address and a relay port. */
static bool
relay_end(const struct dump *d, int family, const uint32_t *a4,
    const struct in6_addr *a6, uint16_t port)
{
	uint16_t p = ntohs(port);

	if (p < d->port_min || p > d->port_max)
		return false;
	for (int i = 0; family == AF_INET && i < d->addrs->n4; i++)
		if (d->addrs->v4[i] == *a4)
			return true;
	for (int i = 0; family == AF_INET6 && i < d->addrs->n6; i++)
		if (memcmp(&d->addrs->v6[i], a6, 16) == 0)
			return true;
	return false;
}

/* The entry's original tuple as a flow (peer -> local); false: not IP. */
static bool
entry_flow(const struct nf_conntrack *ct, struct nft_flow *f)
{
	const void *a, *b;

	memset(f, 0, sizeof(*f));
	f->family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
	if (f->family == AF_INET) {
		f->peer_addr = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC);
		f->local_addr = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST);
	} else if (f->family == AF_INET6) {
		a = nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC);
		b = nfct_get_attr(ct, ATTR_ORIG_IPV6_DST);
		if (a == NULL || b == NULL)
			return false;
		memcpy(&f->peer6, a, 16);
		memcpy(&f->local6, b, 16);
	} else
		return false;
	f->peer_port = nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC);
	f->local_port = nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST);
	return true;
}

static int
dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct nft_flow e;

	if (nfct_nlmsg_parse(nlh, d->ct) < 0 || !entry_flow(d->ct, &e))
		return MNL_CB_OK;
	if (d->port_max != 0) {
		if (nfct_get_attr_u8(d->ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP ||
		    (!relay_end(d, e.family, &e.local_addr, &e.local6,
		    e.local_port) && !relay_end(d, e.family, &e.peer_addr,
		    &e.peer6, e.peer_port)))
			return MNL_CB_OK;
	} else if (kept(d, &e))
		return MNL_CB_OK;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct nft_flow *v = realloc(d->gone, cap * sizeof(*v));
		if (v == NULL) {
			d->err = -ENOMEM;
			return MNL_CB_OK;
		}
		d->gone = v;
		d->cap = cap;
	}
	d->gone[d->n++] = e;
	return MNL_CB_OK;
}

/* Dump our entries (mark filter in the kernel) into d->gone. */
static int
dump_ours(struct ct_sock *s, struct dump *d)
{
	char buf[1 << 16];
	struct nlmsghdr *nlh = ct_hdr(s, buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP,
	    AF_UNSPEC);
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int rc;

	if (d->port_max == 0) {
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(TL_CT_MARK));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(0xffffffffu));
	}
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		rc = mnl_cb_run(buf, (size_t)n, seq, s->portid, dump_cb, d);
		if (rc < 0)
			return -errno;
		if (rc == MNL_CB_STOP)
			return d->err;
	}
}

int
ct_flush_ours(struct ct_sock *s, const struct nft_elem *keep, size_t nkeep)
{
	struct nft_elem *sorted = NULL;
	struct dump d = { .ct = s->ct };
	int rc;

	if (nkeep > 0) {
		sorted = malloc(nkeep * sizeof(*sorted));
		if (sorted == NULL)
			return -ENOMEM;
		memcpy(sorted, keep, nkeep * sizeof(*sorted));
		qsort(sorted, nkeep, sizeof(*sorted), nft_elem_cmp);
		d.keep = sorted;
		d.nkeep = nkeep;
	}
	rc = dump_ours(s, &d);
	if (rc == 0 && d.n > 0)
		rc = ct_delete_flows(s, d.gone, d.n);
	free(sorted);
	free(d.gone);
	return rc < 0 ? rc : (int)d.n;
}

int
ct_count_ours(struct ct_sock *s)
{
	struct dump d = { .ct = s->ct };
	int rc = dump_ours(s, &d);

	free(d.gone);
	return rc < 0 ? rc : (int)d.n;
}

int
ct_flush_ports(struct ct_sock *s, uint16_t min, uint16_t max,
    const struct nft_addrs *addrs)
{
	struct dump d = { .ct = s->ct, .port_min = min, .port_max = max,
	    .addrs = addrs };
	int rc = dump_ours(s, &d);

	if (rc == 0 && d.n > 0)
		rc = ct_delete_flows(s, d.gone, d.n);
	free(d.gone);
	return rc < 0 ? rc : (int)d.n;
}
