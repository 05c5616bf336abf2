/*
 * backend_kmod.c: streams in trunkline.ko, over generic netlink (libmnl).
 *
 * A latched stream becomes up to four kernel entries, one per port that
 * receives: leg A's RTP and RTCP ports and leg B's. Each entry expects
 * the peer latched on its leg (strict source), rewrites to the opposite
 * leg's local address and port and the opposite peer, and passes packets
 * from anyone else on to the leg's socket, where forward.c counts and
 * drops them as before. Before RTCP has latched, a leg's RTCP entry
 * expects the RTP peer's address on the next port, the same guess
 * leg_destination() makes: the RTCP source is strict from the start. A
 * peer that sends RTCP from another port of its address is latched in
 * userspace and the stream installed again; RTCP from any other address,
 * or on the RTCP port of a muxed leg (no entry), is dropped there
 * (latch.c). Streams come here only once both legs' endpoint learning
 * has ended.
 *
 * Every exchange is a batch: one sendto() of several requests, each
 * acknowledged, and every ack checked. Counters are read in batches of GET
 * requests; the kernel's counters start at 0 when an entry is installed,
 * so the leg's counters grow by what the kernel adds between two reads.
 *
 * After a restart, adopt takes a journalled stream's entries over with
 * their counters, and adopt_done deletes the entries on our ports that
 * no stream holds (orphans). Every exchange is acked before it returns;
 * the flush op only deletes again entries whose removal was not
 * acknowledged (kmod_stale.c): state that may forward is never forgotten.
 *
 * Entries are IPv4 or IPv6; a stream whose legs are of different
 * families is translated in the kernel (each entry's key is its leg's
 * family, its output the other leg's).
 *
 * Streams stay in userspace, with the reason in path_reason, when the
 * kernel path cannot carry them exactly: an interface bound to the any
 * address, rtcp-mux on one leg only, or strict_source off (roaming peers
 * are followed in userspace only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include "relayd.h"
#include "trunkline_uapi.h"
#include "backend_kmod.h"

#define KMOD_RESYNC_MS		1000	/* a full sync reads a stream at most this often */
#define KMOD_TICK_SHIFT		8	/* kmod_stream's read_tick: 256 ms */
#define KMOD_STALE_RETRY_MS	1000	/* between deletes of stale entries */

/* ---- netlink plumbing ---- */

struct nlmsghdr *
put_req(struct kmod_state *ks, char *buf, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = ks->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++ks->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = TL_GENL_VERSION;
	return nlh;
}


/*
 * Send a batch of nreq requests whose sequence numbers are first..first+
 * nreq-1, then read until each one got its ack (or DONE). errs[i], if
 * given, receives request i's status. Returns 0, or -errno if the
 * exchange itself failed.
 */
int
exchange(struct kmod_state *ks, const void *req, size_t len, uint32_t first,
    int nreq, int *errs, reply_fn fn, void *arg)
{
	char rbuf[32768];
	int done = 0;
	ssize_t n;

	if (mnl_socket_sendto(ks->nl, req, len) < 0)
		return -errno;
	while (done < nreq) {
		n = mnl_socket_recvfrom(ks->nl, rbuf, sizeof(rbuf));
		if (n < 0)
			return -errno;
		for (const struct nlmsghdr *h = (const void *)rbuf;
		    mnl_nlmsg_ok(h, (int)n); h = mnl_nlmsg_next(h, (int *)&n)) {
			uint32_t i = h->nlmsg_seq - first;

			if (i >= (uint32_t)nreq)
				continue;	/* late reply to an earlier exchange */
			if (h->nlmsg_type == NLMSG_ERROR ||
			    h->nlmsg_type == NLMSG_DONE) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				if (errs != NULL)
					errs[i] = h->nlmsg_type == NLMSG_DONE ?
					    0 : e->error;
				done++;
			} else if (fn != NULL) {
				fn(h, arg);
			}
		}
	}
	return 0;
}

static int
resolve_family(struct kmod_state *ks)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	ssize_t n;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++ks->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TL_GENL_NAME);
	if (mnl_socket_sendto(ks->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(ks->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		for (const struct nlmsghdr *h = (const void *)buf;
		    mnl_nlmsg_ok(h, (int)n); h = mnl_nlmsg_next(h, (int *)&n)) {
			const struct nlattr *a;

			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				if (e->error)
					return e->error;
				return ks->family ? 0 : -ENOENT;
			}
			mnl_attr_for_each(a, h, sizeof(struct genlmsghdr))
				if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID)
					ks->family = mnl_attr_get_u16(a);
		}
	}
}

/* ---- open / close ---- */

static void
kmod_free(struct kmod_state *ks)
{
	if (ks->nl != NULL)
		mnl_socket_close(ks->nl);
	kmod_learn_close(ks);
	kstale_free(&ks->stale);
	free(ks->buf);
	free(ks->ibuf);
	free(ks);
}

static int
kmod_open(struct relayd *rd, void **priv, char *reason, size_t len)
{
	struct timeval tv = { .tv_sec = 2 };	/* the kernel answers at once */
	struct kmod_state *ks = calloc(1, sizeof(*ks));
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int rc, err = 0;

	if (ks == NULL)
		return -ENOMEM;
	ks->buflen = KMOD_CHUNK * 128;
	ks->buf = malloc(ks->buflen);
	ks->nl = mnl_socket_open(NETLINK_GENERIC);
	if (ks->buf == NULL || ks->nl == NULL ||
	    mnl_socket_bind(ks->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		snprintf(reason, len, "generic netlink socket: %s",
		    strerror(-rc));
		goto err;
	}
	setsockopt(mnl_socket_get_fd(ks->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv));
	if ((rc = resolve_family(ks)) < 0) {
		if (rc == -ENOENT)
			snprintf(reason, len, "trunkline.ko not loaded: genl "
			    "family '%s' not found", TL_GENL_NAME);
		else
			snprintf(reason, len, "genl family '%s': %s",
			    TL_GENL_NAME, strerror(-rc));
		goto err;
	}
	/* A dump needs the same privilege as an install: find out now. */
	nlh = put_req(ks, buf, TL_CMD_GET, NLM_F_DUMP | NLM_F_ACK);
	rc = exchange(ks, nlh, nlh->nlmsg_len, nlh->nlmsg_seq, 1, &err, NULL,
	    NULL);
	if (rc == 0)
		rc = err;
	if (rc < 0) {
		snprintf(reason, len, "trunkline.ko loaded but unusable: %s%s",
		    strerror(-rc), rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		goto err;
	}
	if ((rc = kmod_learn_open(rd, ks)) < 0)	/* an older module */
		rlog(rd, LL_NOTICE, "kmod: endpoint learning stays in userspace "
		    "(streams enter trunkline.ko once latched): %s",
		    strerror(-rc));
	*priv = ks;
	return 0;

err:
	kmod_free(ks);
	return rc < 0 ? rc : -EIO;
}

static void kmod_flush(struct relayd *, void *);
static void kmod_dump_close(struct relayd *, struct kmod_state *);

static void
kmod_close(struct relayd *rd, void *priv)
{
	struct kmod_state *ks = priv;

	if (ks == NULL)
		return;
	ks->stale_retry_ms = 0;		/* a last try */
	kmod_dump_close(rd, ks);
	kmod_flush(rd, ks);
	if (ks->stale.n > 0)
		rlog(rd, LL_ERROR, "kmod: %zu entries of ended calls could not "
		    "be deleted; the next start removes them as orphans",
		    ks->stale.n);
	kmod_free(ks);
}

/* ---- what a stream becomes ---- */

/* An IPv4 or IPv6 socket address as the kernel keys it. */
int
kaddr_of(const struct sockaddr_storage *ss, struct kaddr *addr,
    uint16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	memset(addr, 0, sizeof(*addr));
	addr->family = (uint8_t)ss->ss_family;
	if (ss->ss_family == AF_INET) {
		memcpy(addr->a, &sin->sin_addr, 4);
		if (port != NULL)
			*port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		memcpy(addr->a, &sin6->sin6_addr, 16);
		if (port != NULL)
			*port = ntohs(sin6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

/* An address attribute of a request: the IPv4 one or its IPv6 twin. */
static void
put_kaddr(struct nlmsghdr *nlh, uint16_t a4, uint16_t a6,
    const struct kaddr *a)
{
	if (a->family == AF_INET6)
		mnl_attr_put(nlh, a6, 16, a->a);
	else
		mnl_attr_put(nlh, a4, 4, a->a);
}

/* An address attribute of a reply. */
static void
get_kaddr(const struct nlattr *a, uint8_t family, struct kaddr *out)
{
	uint16_t len = mnl_attr_get_payload_len(a);

	memset(out, 0, sizeof(*out));
	if (len != (family == AF_INET6 ? 16 : 4))
		return;
	out->family = family;
	memcpy(out->a, mnl_attr_get_payload(a), len);
}

uint64_t
stream_cookie(const struct stream *st)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (const char *p = st->session->call_id; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return (h ^ (uint64_t)st->index) * 1099511628211ull;
}

size_t
kmod_stream_size(int n)
{
	return sizeof(struct kmod_stream) + (size_t)n * sizeof(struct kcount);
}

struct kmod_stream *
kmod_stream_new(const struct kmod_plan *p)
{
	struct kmod_stream *s = calloc(1, kmod_stream_size(p->n));

	if (s == NULL)
		return NULL;
	s->n = (uint8_t)p->n;
	s->flags = (p->learning ? KS_LEARNING : 0) |
	    (p->n > 0 && p->e[0].hold ? KS_HELD : 0);
	return s;
}

/* The side and kind of entry i of n (the order plan_stream makes). */
static void
entry_kind(int n, int i, enum leg_side *side, enum sock_kind *k)
{
	*side = n == KMOD_MAX_ENTRIES ? (enum leg_side)(i / 2) :
	    (enum leg_side)i;
	*k = n == KMOD_MAX_ENTRIES ? (enum sock_kind)(i % 2) : SK_RTP;
}

void
kmod_key(const struct relayd *rd, const struct stream *st, int n, int i,
    struct kentry *e)
{
	enum leg_side side;
	enum sock_kind k;

	entry_kind(n, i, &side, &k);
	memset(e, 0, sizeof(*e));
	e->leg = (struct leg *)&st->leg[side];
	(void)kaddr_of(&rd->conf.ifaces[e->leg->iface].bind, &e->laddr, NULL);
	e->lport = (uint16_t)(e->leg->port + k);
	e->rtp = k == SK_RTP;
}

/* Entry for packets received on leg `in` (kind k), sent out of the other. */
int
plan_entry(const struct relayd *rd, const struct stream *st,
    enum leg_side side, enum sock_kind k, struct kentry *e)
{
	const struct leg *in = &st->leg[side];
	const struct leg *out = &st->leg[side == SIDE_A ? SIDE_B : SIDE_A];
	struct sockaddr_storage dst, src;

	memset(e, 0, sizeof(*e));
	e->leg = (struct leg *)in;
	if (kaddr_of(&rd->conf.ifaces[in->iface].bind, &e->laddr, NULL) < 0 ||
	    kaddr_of(&rd->conf.ifaces[out->iface].bind, &e->osaddr, NULL) < 0)
		return -EAFNOSUPPORT;
	e->lport = (uint16_t)(in->port + (k == SK_RTCP));
	e->osport = (uint16_t)(out->port + (k == SK_RTCP && !out->sdp.rtcp_mux));
	if (in->is_latched[k]) {
		raddr_to(&in->latched[k], &src);
	} else {
		raddr_to(&in->latched[SK_RTP], &src);
		addr_set_port(&src, (uint16_t)(addr_port(&src) + 1));
	}
	/* a leg's peers are of its socket's family: the kernel checks
	 * sources in the key's family and sends in the output's */
	if (!leg_destination(out, k, &dst) ||
	    kaddr_of(&src, &e->saddr, &e->sport) < 0 ||
	    kaddr_of(&dst, &e->odaddr, &e->odport) < 0 ||
	    e->saddr.family != e->laddr.family ||
	    e->odaddr.family != e->osaddr.family)
		return -EAFNOSUPPORT;
	e->rtp = k == SK_RTP;
	/* strict source (unsuitable): the stream's sockets close once the
	 * kernel has it (legsock.c), so the kernel drops and counts strangers */
	e->drop = true;
	return 0;
}

/* Why a stream cannot go into the kernel as it is, or NULL. */
static const char *
unsuitable(const struct relayd *rd, const struct stream *st)
{
	const struct leg *a = &st->leg[SIDE_A], *b = &st->leg[SIDE_B];

	if (!rd->conf.strict_source)
		return "strict_source is off: roaming peers are followed in "
		    "userspace only";
	if (a->sdp.rtcp_mux != b->sdp.rtcp_mux)
		return "rtcp-mux on one leg only: RTCP is demultiplexed in "
		    "userspace";
	for (int s = SIDE_A; s <= SIDE_B; s++) {
		const struct sockaddr_storage *bind =
		    &rd->conf.ifaces[st->leg[s].iface].bind;
		if (bind->ss_family != AF_INET && bind->ss_family != AF_INET6)
			return "interface of an unknown address family";
		if (addr_is_any(bind))
			return "interface bound to the any address: the kernel "
			    "entry needs the relay's own address";
		if (bind->ss_family == AF_INET6 &&
		    IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)
		    bind)->sin6_addr))
			return "interface bound to a link-local IPv6 address: "
			    "kernel entries carry no interface";
		if (st->leg[s].latched[SK_RTP].family != bind->ss_family)
			return "peer of another address family than its "
			    "interface (IPv4-mapped?)";
	}
	return NULL;
}

static int
plan_stream(const struct relayd *rd, const struct stream *st,
    struct kmod_plan *ks)
{
	bool mux = st->leg[SIDE_A].sdp.rtcp_mux;	/* both, or neither */
	int rc;

	ks->n = 0;
	for (int s = SIDE_A; s <= SIDE_B; s++)
		for (int k = SK_RTP; k <= (mux ? SK_RTP : SK_RTCP); k++)
			if ((rc = plan_entry(rd, st, s, k, &ks->e[ks->n++])) < 0)
				return rc;
	ks->cookie = stream_cookie(st);
	return 0;
}

void
put_key(struct nlmsghdr *nlh, const struct kentry *e)
{
	mnl_attr_put_u8(nlh, TL_A_FAMILY, e->laddr.family);
	mnl_attr_put_u8(nlh, TL_A_PROTO, IPPROTO_UDP);
	put_kaddr(nlh, TL_A_LOCAL_ADDR4, TL_A_LOCAL_ADDR6, &e->laddr);
	mnl_attr_put_u16(nlh, TL_A_LOCAL_PORT, e->lport);
}

static void
put_add(struct kmod_state *ks, char *buf, const struct kentry *e,
    uint64_t cookie)
{
	struct nlmsghdr *nlh = put_req(ks, buf, TL_CMD_ADD, NLM_F_ACK);
	uint32_t flags = (e->rtp ? TL_F_RTP : 0) |
	    (e->drop ? TL_F_MISMATCH_DROP : 0) | (e->learn ? TL_F_LEARN : 0);

	put_key(nlh, e);
	if (e->hold) {	/* kmod_hold.c: counts and drops, no output yet */
		mnl_attr_put_u32(nlh, TL_A_FLAGS, TL_F_HOLD |
		    TL_F_MISMATCH_DROP);
		mnl_attr_put_u64(nlh, TL_A_COOKIE, cookie);
		return;
	}
	if (!e->no_src) {	/* kmod_learn.c: no candidate yet */
		put_kaddr(nlh, TL_A_SRC_ADDR4, TL_A_SRC_ADDR6, &e->saddr);
		if (!e->any_port)
			mnl_attr_put_u16(nlh, TL_A_SRC_PORT, e->sport);
	}
	put_kaddr(nlh, TL_A_OUT_SADDR4, TL_A_OUT_SADDR6, &e->osaddr);
	mnl_attr_put_u16(nlh, TL_A_OUT_SPORT, e->osport);
	put_kaddr(nlh, TL_A_OUT_DADDR4, TL_A_OUT_DADDR6, &e->odaddr);
	mnl_attr_put_u16(nlh, TL_A_OUT_DPORT, e->odport);
	if (flags != 0)
		mnl_attr_put_u32(nlh, TL_A_FLAGS, flags);
	mnl_attr_put_u64(nlh, TL_A_COOKIE, cookie);
	if (e->learn) {	/* kmod_learn.c */
		mnl_attr_put_u32(nlh, TL_A_SDP_ADDR4, e->sdpaddr);
		mnl_attr_put_u16(nlh, TL_A_SDP_PORT, e->sdpport);
		mnl_attr_put_u32(nlh, TL_A_LEARN_WINDOW_MS, e->window_ms);
	}
}

/*
 * One batch of the same command for a stream's entries (with DEL first
 * when `clean`, so stale entries of a crashed relay do not lend their
 * counters). errs[i] is entry i's status.
 */
int
batch(struct kmod_state *ks, const struct kmod_plan *s, uint8_t cmd,
    bool clean, int *errs)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(ks->buf, ks->buflen);
	int all[2 * KMOD_MAX_ENTRIES], nreq = 0, rc;
	uint32_t first = ks->seq + 1;

	for (int pass = clean ? 0 : 1; pass < 2; pass++)
		for (int i = 0; i < s->n; i++) {
			char *p = mnl_nlmsg_batch_current(b);
			if (pass == 0 || cmd == TL_CMD_DEL) {
				put_key(put_req(ks, p, TL_CMD_DEL, NLM_F_ACK),
				    &s->e[i]);
			} else {
				put_add(ks, p, &s->e[i], s->cookie);
			}
			mnl_nlmsg_batch_next(b);
			nreq++;
		}
	rc = exchange(ks, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b),
	    first, nreq, all, NULL, NULL);
	mnl_nlmsg_batch_stop(b);
	if (rc == 0)
		memcpy(errs, all + (nreq - s->n), sizeof(int) * (size_t)s->n);
	return rc;
}

/*
 * The entries of plans[0..m-1] as one request list: DEL then ADD per
 * stream (a stale entry of a crashed relay lends no counters). Returns
 * the number of requests.
 */
static int
put_streams(struct kmod_state *ks, struct mnl_nlmsg_batch *b,
    struct kmod_plan *const *plans, size_t m)
{
	int nreq = 0;

	for (size_t i = 0; i < m; i++) {
		const struct kmod_plan *s = plans[i];

		for (int e = 0; !s->replace && e < s->n; e++, nreq++) {
			put_key(put_req(ks, mnl_nlmsg_batch_current(b),
			    TL_CMD_DEL, NLM_F_ACK), &s->e[e]);
			mnl_nlmsg_batch_next(b);
		}
		for (int e = 0; e < s->n; e++, nreq++) {
			put_add(ks, mnl_nlmsg_batch_current(b), &s->e[e],
			    s->cookie);
			mnl_nlmsg_batch_next(b);
		}
	}
	return nreq;
}

int
kmod_put_streams(struct kmod_state *ks, struct kmod_plan *const *plans,
    size_t n, int *rcs)
{
	/* the largest ADD (IPv6 key, source and output, learning) is under
	 * KMOD_REQ_MAX; twice the limit: libmnl's batch may overrun it by
	 * one message before it says so */
	size_t limit = KMOD_BATCH_STREAMS * 2 * KMOD_MAX_ENTRIES * KMOD_REQ_MAX;
	int errs[KMOD_BATCH_STREAMS * 2 * KMOD_MAX_ENTRIES], tmp[KMOD_MAX_ENTRIES];
	int rc = 0;
	char *buf;

	if (ks->ibuf == NULL)		/* kept: an install is frequent */
		ks->ibuf = malloc(2 * limit);
	buf = ks->ibuf;

	for (size_t off = 0; off < n; off += KMOD_BATCH_STREAMS) {
		size_t m = n - off < KMOD_BATCH_STREAMS ? n - off :
		    KMOD_BATCH_STREAMS;
		struct mnl_nlmsg_batch *b;
		uint32_t first = ks->seq + 1;
		int nreq, base = 0;

		if (buf == NULL || rc < 0) {
			for (size_t i = off; i < n; i++)
				rcs[i] = buf == NULL ? -ENOMEM : rc;
			break;
		}
		b = mnl_nlmsg_batch_start(buf, limit);
		nreq = put_streams(ks, b, plans + off, m);
		rc = exchange(ks, mnl_nlmsg_batch_head(b),
		    mnl_nlmsg_batch_size(b), first, nreq, errs, NULL, NULL);
		mnl_nlmsg_batch_stop(b);
		for (size_t i = 0; i < m; i++) {
			const struct kmod_plan *s = plans[off + i];
			int ndel = s->replace ? 0 : s->n;

			rcs[off + i] = rc;
			for (int e = 0; rc == 0 && e < s->n; e++)
				if (errs[base + ndel + e] < 0 &&
				    rcs[off + i] == 0)
					rcs[off + i] = errs[base + ndel + e];
			base += ndel + s->n;
			/* one entry failed (or the exchange did): the
			 * stream stays in userspace, its others go */
			if (rcs[off + i] < 0)
				batch(ks, s, TL_CMD_DEL, false, tmp);
		}
	}
	return buf == NULL ? -ENOMEM : rc;
}

/*
 * The reasons of a stream in the kernel, as literals: a formatted one is
 * an allocation per stream (reason.c keeps literals as they are), 48 B of
 * issue 16's 1 KiB.
 */
static const char *
reason_literal(const char *what, int n, bool translated)
{
	static const struct {
		const char	*what, *two, *four, *four_x, *two_x;
	} r[] = {
		{ "latched", "latched; 2 entries in trunkline.ko",
		  "latched; 4 entries in trunkline.ko",
		  "latched; 4 entries in trunkline.ko (IPv4<->IPv6 translated)",
		  "latched; 2 entries in trunkline.ko (IPv4<->IPv6 translated)" },
		{ "learned", "latched (learned in the kernel); 2 entries in "
		  "trunkline.ko", "latched (learned in the kernel); 4 entries "
		  "in trunkline.ko", NULL, NULL },
		{ "learning", "learning in trunkline.ko; 2 entries",
		  "learning in trunkline.ko; 4 entries", NULL, NULL },
		{ "adopted", "adopted after restart; 2 entries in trunkline.ko",
		  "adopted after restart; 4 entries in trunkline.ko", NULL,
		  NULL },
		{ "held", "offered; 2 ports held in trunkline.ko until the "
		  "answer (no sockets)", "offered; 4 ports held in trunkline.ko "
		  "until the answer (no sockets)", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (strcmp(r[i].what, what) != 0)
			continue;
		if (translated && r[i].four_x != NULL)
			return n == 2 ? r[i].two_x : r[i].four_x;
		return n == 2 ? r[i].two : r[i].four;
	}
	return "in trunkline.ko";
}

void
kmod_reason_in(struct stream *st, const char *what, const struct kmod_plan *p)
{
	bool x = p->n > 0 && !p->e[0].hold &&
	    p->e[0].laddr.family != p->e[0].osaddr.family;

	stream_set_reason(st, reason_literal(what, p->n, x));
}

static int
kmod_install(struct relayd *rd, void *priv, struct stream *st)
{
	struct kmod_state *ks = priv;
	struct kmod_plan plan, *p = &plan;
	struct kmod_stream *s;
	const char *why = unsuitable(rd, st);
	int rc, i;

	if (why != NULL) {
		stream_set_reason(st,
		    "latched; not in the kernel: %s", why);
		return -EOPNOTSUPP;
	}
	memset(p, 0, sizeof(*p));
	if ((rc = plan_stream(rd, st, p)) < 0) {
		stream_set_reason(st,
		    "latched; not in the kernel: a peer or interface "
		    "address of an unusable family");
		return -EOPNOTSUPP;
	}
	if ((s = kmod_stream_new(p)) == NULL)
		return -ENOMEM;
	kmod_put_streams(ks, &p, 1, &rc);
	if (rc < 0) {
		stream_set_reason(st,
		    "latched; kernel install failed: %s", strerror(-rc));
		free(s);
		return rc;
	}
	for (i = 0; i < p->n; i++) {	/* the clean pass deleted stale ones */
		struct kstale_key k = { p->e[i].laddr, p->e[i].lport };
		kstale_forget(&ks->stale, &k);
	}
	st->backend_priv = s;
	kmod_reason_in(st, "latched", p);
	return 0;
}

/* ---- counters ---- */

struct reply {
	uint64_t	 packets, bytes, lost, cookie, mismatch;
	uint32_t	 idle_ms;
	struct kaddr	 laddr, saddr, osaddr, odaddr;
	uint16_t	 lport, sport, osport, odport;
	bool		 seen, has_lost;
};

static void
parse_reply(const struct nlmsghdr *h, struct reply *r)
{
	const struct nlattr *a;

	memset(r, 0, sizeof(*r));
	mnl_attr_for_each(a, h, sizeof(struct genlmsghdr)) {
		switch (mnl_attr_get_type(a)) {
		case TL_A_PACKETS: r->packets = mnl_attr_get_u64(a); break;
		case TL_A_MISMATCH: r->mismatch = mnl_attr_get_u64(a); break;
		case TL_A_BYTES: r->bytes = mnl_attr_get_u64(a); break;
		case TL_A_RTP_LOST:
			r->lost = mnl_attr_get_u64(a);
			r->has_lost = true;
			break;
		case TL_A_COOKIE: r->cookie = mnl_attr_get_u64(a); break;
		case TL_A_IDLE_MS:
			r->idle_ms = mnl_attr_get_u32(a);
			r->seen = true;
			break;
		case TL_A_LOCAL_ADDR4: get_kaddr(a, AF_INET, &r->laddr); break;
		case TL_A_SRC_ADDR4: get_kaddr(a, AF_INET, &r->saddr); break;
		case TL_A_OUT_SADDR4: get_kaddr(a, AF_INET, &r->osaddr); break;
		case TL_A_OUT_DADDR4: get_kaddr(a, AF_INET, &r->odaddr); break;
		case TL_A_LOCAL_ADDR6: get_kaddr(a, AF_INET6, &r->laddr); break;
		case TL_A_SRC_ADDR6: get_kaddr(a, AF_INET6, &r->saddr); break;
		case TL_A_OUT_SADDR6: get_kaddr(a, AF_INET6, &r->osaddr); break;
		case TL_A_OUT_DADDR6: get_kaddr(a, AF_INET6, &r->odaddr); break;
		case TL_A_LOCAL_PORT: r->lport = mnl_attr_get_u16(a); break;
		case TL_A_SRC_PORT: r->sport = mnl_attr_get_u16(a); break;
		case TL_A_OUT_SPORT: r->osport = mnl_attr_get_u16(a); break;
		case TL_A_OUT_DPORT: r->odport = mnl_attr_get_u16(a); break;
		}
	}
}

/* Which (stream, entry) each request of a counter batch is for. */
struct slot {
	struct stream	*st;
	int		 entry;
};

struct read_ctx {
	struct relayd_totals *t;
	struct slot	*slots;
	uint32_t	 first;
	int		 nreq;
	uint64_t	 now;
	int64_t		 wall;
};

void
kmod_count(struct relayd_totals *t, struct stream *st, int idx,
    uint64_t packets, uint64_t bytes, uint64_t mismatch, const uint64_t *lost)
{
	struct kmod_stream *s = st->backend_priv;
	struct kcount *c = &s->c[idx];
	enum leg_side side;
	enum sock_kind k;
	struct leg_stats *ls;
	uint32_t dp = (uint32_t)packets - c->packets;
	uint32_t db = (uint32_t)bytes - c->bytes;
	uint32_t dm = (uint32_t)mismatch - c->mismatch;

	entry_kind(s->n, idx, &side, &k);
	ls = &st->leg[side].stats;
	/* the kernel's counters only grow (an ADD over an entry carries
	 * them): fewer packets than last time is another entry, counted
	 * from its own start next time */
	if ((int32_t)dp >= 0) {
		/* kpackets/kbytes: what the journal leaves out (journal.c) */
		ls->packets += dp;
		ls->bytes += db;
		ls->kpackets += dp;
		ls->kbytes += db;
		t->packets += dp;	/* stats: the legs' sums */
		t->bytes += db;
	}
	c->packets = (uint32_t)packets;
	c->bytes = (uint32_t)bytes;
	/* strangers the kernel dropped (every entry drops them: learning
	 * streams have no socket path for them): the leg's drops, as
	 * userspace counts them */
	if ((int32_t)dm >= 0) {
		ls->drops += dm;
		t->drops += dm;
	}
	c->mismatch = (uint32_t)mismatch;
	/* the kernel's loss estimate of the RTP entry (it may go down:
	 * a late packet): the leg's loss moves as much */
	if (k == SK_RTP && !(s->flags & KS_HELD) && lost != NULL) {
		uint8_t *l = s->lost[side];
		uint32_t was = (uint32_t)l[0] | (uint32_t)l[1] << 8 |
		    (uint32_t)l[2] << 16;
		uint32_t d = ((uint32_t)*lost - was) & 0xffffffu;

		/* 24 bits, signed */
		ls->lost += (uint64_t)(int64_t)(d & 0x800000u ?
		    (int32_t)d - 0x1000000 : (int32_t)d);
		l[0] = (uint8_t)*lost;
		l[1] = (uint8_t)(*lost >> 8);
		l[2] = (uint8_t)(*lost >> 16);
	}
}

static void
apply_counters(struct relayd_totals *t, struct stream *st, int idx,
    const struct reply *r, uint64_t now, int64_t wall)
{
	const struct kmod_stream *s = st->backend_priv;
	enum leg_side side;
	enum sock_kind k;
	struct leg_stats *ls;

	kmod_count(t, st, idx, r->packets, r->bytes, r->mismatch,
	    r->has_lost ? &r->lost : NULL);
	entry_kind(s->n, idx, &side, &k);
	ls = &st->leg[side].stats;
	if (r->seen && r->packets > 0 && now > r->idle_ms &&
	    now - r->idle_ms > ls->last_seen_ms) {
		ls->last_seen_ms = now - r->idle_ms;
		ls->last_seen_wall = wall - (int64_t)(r->idle_ms / 1000);
	}
}

/* A GET reply of a remove's batch: requests n..2n-1 are the GETs. */
struct remove_ctx {
	struct relayd_totals *t;
	struct stream	*st;
	uint32_t	 first;
	int		 n;
	uint64_t	 now;
	int64_t		 wall;
};

static void
on_final_counters(const struct nlmsghdr *h, void *arg)
{
	struct remove_ctx *c = arg;
	uint32_t i = h->nlmsg_seq - c->first - (uint32_t)c->n;
	struct reply r;

	if (i >= (uint32_t)c->n)
		return;
	parse_reply(h, &r);
	apply_counters(c->t, c->st, (int)i, &r, c->now, c->wall);
}

/*
 * Entries whose delete was not acknowledged may still forward: their keys
 * are kept and deleted again (kmod_flush) until the kernel says so.
 */
static void
keep_stale(struct relayd *rd, struct kmod_state *ks, const struct stream *st,
    const struct kmod_stream *s, int rc, const int *errs)
{
	int kept = 0;

	for (int i = 0; i < s->n; i++) {
		struct kentry e;

		if (kmod_delete_done(rc, rc == 0 ? errs[i] : 0))
			continue;
		kmod_key(rd, st, s->n, i, &e);
		struct kstale_key k = { e.laddr, e.lport };

		if (kstale_add(&ks->stale, &k) < 0)
			rlog(rd, LL_ERROR, "kmod: out of memory: entry on port "
			    "%u of call %s forgotten", e.lport,
			    st->session->call_id);
		kept++;
	}
	if (kept == 0)
		return;
	rd->totals.kernel_remove_errors++;
	rlog(rd, LL_WARNING, "kmod: removing call %s stream %d: %s; %d "
	    "entries may still forward: deleted again until the kernel "
	    "confirms", st->session->call_id, st->index,
	    strerror(rc < 0 ? -rc : EIO), kept);
}

/*
 * An entry (its key in e) parked: it expects a source that never is (IPv4
 * broadcast, IPv6 multicast) and counts what it forwarded before; its
 * output is never used, so it is the other leg's own address and port
 * (the family the entry had). A held entry stays held.
 */
static struct kentry *
parked(const struct relayd *rd, const struct stream *st,
    const struct kmod_stream *s, struct kentry *e)
{
	const struct leg *out = &st->leg[e->leg->side == SIDE_A ? SIDE_B :
	    SIDE_A];

	if (s->flags & KS_HELD) {
		e->hold = true;
		return e;
	}
	e->saddr = e->laddr;
	memset(e->saddr.a, 0, sizeof(e->saddr.a));
	if (e->saddr.family == AF_INET6)
		e->saddr.a[0] = 0xff;
	else
		memset(e->saddr.a, 0xff, 4);
	(void)kaddr_of(&rd->conf.ifaces[out->iface].bind, &e->osaddr, NULL);
	e->odaddr = e->osaddr;
	e->osport = e->odport = (uint16_t)(out->port + !e->rtp);
	return e;
}

/*
 * One batch: each entry is first replaced by a parked one that expects an
 * impossible source (counters carry over; packets now go to the socket,
 * where userspace relays and counts them), then read, then deleted. So
 * nothing the kernel forwarded escapes the count, even when this stream
 * is removed only to be installed again (RTCP latched on another port).
 */
static int
kmod_remove(struct relayd *rd, void *priv, struct stream *st)
{
	struct kmod_state *ks = priv;
	struct kmod_stream *s = st->backend_priv;
	struct mnl_nlmsg_batch *b;
	struct remove_ctx c = { &rd->totals, st, ks->seq + 1, 0, now_ms(),
	    time(NULL) };
	int errs[3 * KMOD_MAX_ENTRIES], rc;
	uint64_t cookie;

	if (s == NULL)
		return 0;
	kmod_learn_forget(ks, st);
	c.n = s->n;
	cookie = stream_cookie(st);
	b = mnl_nlmsg_batch_start(ks->buf, ks->buflen);
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < s->n; i++) {
			struct kentry e;
			char *p = mnl_nlmsg_batch_current(b);

			kmod_key(rd, st, s->n, i, &e);
			if (pass == 0)
				put_add(ks, p, parked(rd, st, s, &e), cookie);
			else
				put_key(put_req(ks, p, pass == 1 ? TL_CMD_GET :
				    TL_CMD_DEL, NLM_F_ACK), &e);
			mnl_nlmsg_batch_next(b);
		}
	rc = exchange(ks, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b),
	    c.first, 3 * s->n, errs, on_final_counters, &c);
	mnl_nlmsg_batch_stop(b);
	keep_stale(rd, ks, st, s, rc, errs + 2 * s->n);
	if (rc == 0)
		for (int i = 2 * s->n; i < 3 * s->n; i++)
			if (!kmod_delete_done(0, errs[i]))
				rc = errs[i];
	free(s);
	st->backend_priv = NULL;
	return rc;
}

static void
on_counters(const struct nlmsghdr *h, void *arg)
{
	struct read_ctx *c = arg;
	uint32_t i = h->nlmsg_seq - c->first;
	struct reply r;

	if (i >= (uint32_t)c->nreq || c->slots[i].st->backend_priv == NULL)
		return;
	parse_reply(h, &r);
	apply_counters(c->t, c->slots[i].st, c->slots[i].entry, &r, c->now,
	    c->wall);
}

/* An entry is gone (module unloaded, table flushed): userspace takes over. */
static void
entries_lost(struct kmod_state *ks, struct stream *st, int err)
{
	if (!kmod_entry_gone(err))
		return;		/* a passing failure: read again next time */
	kmod_learn_forget(ks, st);
	free(st->backend_priv);
	st->backend_priv = NULL;
	st->path = PATH_USERSPACE;
	stream_set_reason(st, "kernel entry "
	    "lost (%s): trunkline.ko unloaded or flushed; relayed in userspace",
	    strerror(-err));
}

static int
read_chunk(struct relayd *rd, struct kmod_state *ks, struct slot *slots,
    int nreq)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(ks->buf, ks->buflen);
	struct read_ctx c = { &rd->totals, slots, ks->seq + 1, 0, now_ms(),
	    time(NULL) };
	int errs[KMOD_CHUNK], rc, kept = 0;

	/* streams whose entries were lost in an earlier chunk drop out */
	for (int i = 0; i < nreq; i++)
		if (slots[i].st->backend_priv != NULL)
			slots[kept++] = slots[i];
	if ((nreq = c.nreq = kept) == 0)
		return 0;
	for (int i = 0; i < nreq; i++) {
		struct kmod_stream *s = slots[i].st->backend_priv;
		struct kentry e;

		kmod_key(rd, slots[i].st, s->n, slots[i].entry, &e);
		put_key(put_req(ks, mnl_nlmsg_batch_current(b), TL_CMD_GET,
		    NLM_F_ACK), &e);
		mnl_nlmsg_batch_next(b);
	}
	rc = exchange(ks, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b),
	    c.first, nreq, errs, on_counters, &c);
	mnl_nlmsg_batch_stop(b);
	rd->backend.reads += (uint64_t)nreq;
	if (rc < 0)
		return rc;
	for (int i = 0; i < nreq; i++)
		if (errs[i] < 0 && slots[i].st->backend_priv != NULL)
			entries_lost(ks, slots[i].st, errs[i]);
	return 0;
}

static int
kmod_read_counters(struct relayd *rd, void *priv, struct stream **sts,
    size_t n)
{
	struct slot slots[KMOD_CHUNK];
	uint8_t tick = (uint8_t)(now_ms() >> KMOD_TICK_SHIFT);
	int nreq = 0, rc;

	for (size_t i = 0; i < n; i++) {
		struct kmod_stream *s = sts[i]->backend_priv;

		/* A query (a few streams) always reads; a big batch reads
		 * a stream about once a second, 768 to 1024 ms (the periodic
		 * sync is a dump: kmod_read_all). */
		if (s == NULL || (n > 8 && (uint8_t)(tick - s->read_tick) <
		    (KMOD_RESYNC_MS >> KMOD_TICK_SHIFT)))
			continue;
		s->read_tick = tick;
		for (int k = 0; k < s->n; k++) {
			slots[nreq].st = sts[i];
			slots[nreq++].entry = k;
			if (nreq == KMOD_CHUNK) {
				if ((rc = read_chunk(rd, priv, slots, nreq)) < 0)
					return rc;
				nreq = 0;
			}
		}
	}
	return nreq > 0 ? read_chunk(rd, priv, slots, nreq) : 0;
}

/*
 * ---- the periodic sync: one dump of the table for every stream ----
 *
 * A GET per entry costs a request per entry per sync: 400,000 a second
 * at 100,000 streams. One dump reads them all; its entries are matched
 * back to the streams by key (local address and port, what a GET would
 * ask) through an index of the streams' legs built for this dump only
 * (nothing per stream stays allocated; a leg's RTP and RTCP entries share
 * its slot, keyed by the RTP port: 4 B a leg, at most half full, 2 MiB at
 * 100,000 streams, mapped for the dump and unmapped after it). The dump has a socket of its own in the event loop
 * and is read a slice at a time (KMOD_DUMP_SLICE_MS, then the loop serves
 * what waits), so a big table never stalls calls: the kernel makes the
 * next part only when the last is read. Meanwhile the set of carried
 * streams is pinned (backend.c): the index names streams by position, a
 * stream that leaves leaves a hole, and the entry is checked against the
 * stream's entries of now before its counters count. An entry of ours the
 * dump does not bring (flushed, module reloaded) is asked for by GET at
 * the end, as before: ENOENT hands its stream back to userspace
 * (entries_lost). The next dump starts at a sync once the last one's
 * busy time is under a KMOD_DUMP_SHARE-th of the time since its start.
 */
#define KMOD_DUMP_SHARE		5
#define KMOD_DUMP_SLICE_MS	5
#define KMOD_DUMP_STALL_MS	10000	/* nothing read so long: abandoned */
/* An index slot: 0 empty, else (position + 1) << 3 | side << 2 | seen,
 * where seen has bit k once the leg's entry of kind k was dumped. */
#define SLOT_SIDE_B		4u
#define SLOT_SEEN(k)		(1u << (k))
#define SLOT_SEEN_ALL		(SLOT_SEEN(SK_RTP) | SLOT_SEEN(SK_RTCP))
#define SLOT_MAX_STREAMS	((UINT32_MAX >> 3) - 1)

struct kmod_dump {
	struct mnl_socket	*nl;		/* its own: other exchanges go on */
	struct evtag		 tag;		/* TAG_BACKEND */
	uint32_t		*slot;		/* NULL: no dump running; else 0:
						 * empty, (pos << 2 | entry) + 1 */
	uint32_t		 mask, seq;
	uint64_t		 started, busy_ms, next_ms, rx_ms;
	int64_t			 wall;
};

static uint32_t
key_hash(const struct kaddr *a, uint16_t port)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < sizeof(a->a); i++)
		h = (h ^ a->a[i]) * 16777619u;
	h = (h ^ a->family) * 16777619u;
	h = (h ^ (port & 0xffu)) * 16777619u;
	return (h ^ (uint32_t)(port >> 8)) * 16777619u;
}

/* The entry of kind k on a side of a stream of n entries, or -1 (the
 * RTCP port of an rtcp-mux stream has none). */
static int
entry_index(int n, enum leg_side side, enum sock_kind k)
{
	if (n == KMOD_MAX_ENTRIES)
		return (int)side * 2 + (int)k;
	return k == SK_RTP ? (int)side : -1;
}

/* The stream and side a slot names, and the key of that leg's RTP entry
 * (in e), if the stream is still there with entries: else NULL. */
static const struct kmod_stream *
slot_leg(const struct relayd *rd, uint32_t v, struct stream **st,
    enum leg_side *side, struct kentry *e)
{
	uint32_t pos = (v >> 3) - 1;
	const struct kmod_stream *s;

	*side = (v & SLOT_SIDE_B) ? SIDE_B : SIDE_A;
	*st = pos < rd->backend.ncarried ? rd->backend.carried[pos] : NULL;
	if (*st == NULL || (s = (*st)->backend_priv) == NULL)
		return NULL;
	kmod_key(rd, *st, s->n, entry_index(s->n, *side, SK_RTP), e);
	return s;
}

static void
slot_free(struct kmod_dump *d)
{
	if (d->slot != NULL)
		munmap(d->slot, ((size_t)d->mask + 1) * sizeof(*d->slot));
	d->slot = NULL;
}

/* The index of the entries of sts[0..n-1] by key: 0, or -ENOMEM. */
static int
dump_index(const struct relayd *rd, struct kmod_dump *d, struct stream **sts,
    size_t n)
{
	size_t legs = 0, cap = 64;

	for (size_t i = 0; i < n; i++)
		legs += sts[i] != NULL && sts[i]->backend_priv != NULL ? 2 : 0;
	while (cap < 2 * legs)	/* at most half full: short probes */
		cap <<= 1;
	if (n > SLOT_MAX_STREAMS)
		return -ENOMEM;
	/* its own mapping, unmapped at the dump's end: 4 MiB at 100,000
	 * streams that glibc would otherwise keep in the heap, with its
	 * pages, once its mmap threshold has grown past it */
	d->slot = mmap(NULL, cap * sizeof(*d->slot), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->slot == MAP_FAILED) {
		d->slot = NULL;
		return -ENOMEM;
	}
	d->mask = (uint32_t)(cap - 1);
	for (size_t i = 0; i < n; i++) {
		const struct kmod_stream *s = sts[i] != NULL ?
		    sts[i]->backend_priv : NULL;

		for (int side = SIDE_A; s != NULL && side <= SIDE_B; side++) {
			struct kentry e;
			uint32_t h;

			kmod_key(rd, sts[i], s->n, entry_index(s->n,
			    (enum leg_side)side, SK_RTP), &e);
			h = key_hash(&e.laddr, e.lport);
			while (d->slot[h & d->mask] != 0)
				h++;
			d->slot[h & d->mask] = (uint32_t)(i + 1) << 3 |
			    (side == SIDE_B ? SLOT_SIDE_B : 0);
		}
	}
	return 0;
}

static void
on_dump_counters(struct relayd *rd, struct kmod_dump *d,
    const struct nlmsghdr *h)
{
	enum sock_kind k;
	uint16_t port;
	struct reply r;

	parse_reply(h, &r);
	if (r.laddr.family == 0)
		return;
	k = (r.lport & 1) ? SK_RTCP : SK_RTP;	/* pairs start even */
	port = (uint16_t)(r.lport & ~1u);
	for (uint32_t i = key_hash(&r.laddr, port); d->slot[i & d->mask];
	    i++) {
		uint32_t *v = &d->slot[i & d->mask];
		const struct kmod_stream *s;
		enum leg_side side;
		struct stream *st;
		struct kentry e;
		int idx;

		if ((*v & SLOT_SEEN_ALL) == SLOT_SEEN_ALL)
			continue;
		if ((s = slot_leg(rd, *v, &st, &side, &e)) == NULL) {
			*v |= SLOT_SEEN_ALL;	/* gone since: nothing to read */
			continue;
		}
		if (e.lport != port || !kaddr_equal(&e.laddr, &r.laddr))
			continue;
		if ((idx = entry_index(s->n, side, k)) < 0 ||
		    (*v & SLOT_SEEN(k)))
			return;		/* not an entry of ours */
		*v |= SLOT_SEEN(k);
		apply_counters(&rd->totals, st, idx, &r, now_ms(), d->wall);
		return;
	}
	/* not ours, or installed after the dump began: nothing to do */
}

/* Entries the dump did not bring: a GET each (ENOENT: entries_lost). */
static int
dump_missing(struct relayd *rd, struct kmod_state *ks,
    const struct kmod_dump *d)
{
	struct slot slots[KMOD_CHUNK];
	int nreq = 0, rc;

	for (uint32_t i = 0; i <= d->mask; i++) {
		const struct kmod_stream *s;
		enum leg_side side;
		struct stream *st;
		struct kentry e;

		if (d->slot[i] == 0 || (s = slot_leg(rd, d->slot[i], &st,
		    &side, &e)) == NULL)
			continue;
		for (int k = SK_RTP; k <= SK_RTCP; k++) {
			int idx;

			/* a read_chunk may have handed st back (freed) */
			if ((s = st->backend_priv) == NULL)
				break;
			idx = entry_index(s->n, side, (enum sock_kind)k);
			if (idx < 0 || (d->slot[i] & SLOT_SEEN(k)))
				continue;
			slots[nreq].st = st;
			slots[nreq].entry = idx;
			if (++nreq == KMOD_CHUNK) {
				if ((rc = read_chunk(rd, ks, slots, nreq)) < 0)
					return rc;
				nreq = 0;
			}
		}
	}
	return nreq > 0 ? read_chunk(rd, ks, slots, nreq) : 0;
}

/* The dump is over (rc 0: complete): missing entries, then unpin. */
static void
dump_end(struct relayd *rd, struct kmod_state *ks, int rc)
{
	struct kmod_dump *d = ks->dump;

	if (rc == 0)	/* a failed dump proves nothing missing */
		rc = dump_missing(rd, ks, d);
	slot_free(d);
	backend_carry_pin(rd, false);
	rd->backend.dumps++;
	rd->backend.dump_ms = now_ms() - d->started;
	d->next_ms = d->started + KMOD_DUMP_SHARE * d->busy_ms;
	if (rc < 0)
		rlog(rd, LL_WARNING, "kmod: reading the counters of every "
		    "stream (one dump): %s; again at the next sync",
		    strerror(-rc));
}

/* Read what the dump socket holds, for a slice of time at most. */
static void
dump_continue(struct relayd *rd, struct kmod_state *ks)
{
	struct kmod_dump *d = ks->dump;
	uint64_t t0 = now_ms();
	char rbuf[32768];
	ssize_t n;

	if (d == NULL)
		return;
	if (d->slot == NULL) {	/* what an abandoned dump left: away */
		for (int i = 0; i < 64 && recv(mnl_socket_get_fd(d->nl), rbuf,
		    sizeof(rbuf), MSG_DONTWAIT) > 0; i++)
			;
		return;
	}
	do {
		n = recv(mnl_socket_get_fd(d->nl), rbuf, sizeof(rbuf),
		    MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;		/* the loop calls again */
			d->busy_ms += now_ms() - t0;
			dump_end(rd, ks, -errno);
			return;
		}
		d->rx_ms = now_ms();
		for (const struct nlmsghdr *h = (const void *)rbuf;
		    mnl_nlmsg_ok(h, (int)n); h = mnl_nlmsg_next(h, (int *)&n)) {
			int err = 0;

			if (h->nlmsg_seq != d->seq)
				continue;	/* an earlier, abandoned dump */
			if (h->nlmsg_type == NLMSG_ERROR)
				err = ((const struct nlmsgerr *)
				    mnl_nlmsg_get_payload(h))->error;
			if (h->nlmsg_type == NLMSG_DONE ||
			    h->nlmsg_type == NLMSG_ERROR) {
				d->busy_ms += now_ms() - t0;
				dump_end(rd, ks, err < 0 ? err : 0);
				return;
			}
			on_dump_counters(rd, d, h);
		}
	} while (now_ms() - t0 < KMOD_DUMP_SLICE_MS);
	d->busy_ms += now_ms() - t0;
}

static int
dump_open(struct relayd *rd, struct kmod_state *ks)
{
	struct kmod_dump *d = calloc(1, sizeof(*d));
	int fd;

	if (d == NULL)
		return -ENOMEM;
	if ((d->nl = mnl_socket_open(NETLINK_GENERIC)) == NULL ||
	    mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto err;
	fd = mnl_socket_get_fd(d->nl);
	d->tag.kind = TAG_BACKEND;
	/* closing the socket (kmod_dump_close) takes it out of epoll */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
	    epoll_add(rd, fd, EPOLLIN, &d->tag) < 0)
		goto err;
	ks->dump = d;
	return 0;
err:
	fd = -errno;
	if (d->nl != NULL)
		mnl_socket_close(d->nl);
	free(d);
	return fd;
}

static void
kmod_dump_close(struct relayd *rd, struct kmod_state *ks)
{
	if (ks->dump == NULL)
		return;
	if (ks->dump->slot != NULL)
		backend_carry_pin(rd, false);
	slot_free(ks->dump);
	mnl_socket_close(ks->dump->nl);
	free(ks->dump);
	ks->dump = NULL;
}

/* The sync: a dump running goes on; else one starts when it is due. */
static int
kmod_read_all(struct relayd *rd, void *priv, struct stream **sts, size_t n)
{
	struct kmod_state *ks = priv;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct kmod_dump *d;
	int rc;

	if (ks->dump == NULL && (rc = dump_open(rd, ks)) < 0) {
		rlog(rd, LL_WARNING, "kmod: a socket for counter dumps: %s",
		    strerror(-rc));
		return rc;
	}
	d = ks->dump;
	if (d->slot != NULL && now_ms() - d->rx_ms > KMOD_DUMP_STALL_MS) {
		/* the module went away mid-dump? the set must not stay
		 * pinned: the socket goes (with what the kernel still holds
		 * for it), a new one at the next sync */
		rlog(rd, LL_WARNING, "kmod: the counter dump read nothing "
		    "for %d ms: abandoned, another at the next sync",
		    KMOD_DUMP_STALL_MS);
		kmod_dump_close(rd, ks);
		return -ETIMEDOUT;
	}
	if (d->slot != NULL) {
		dump_continue(rd, ks);
		return 0;
	}
	if (n == 0 || now_ms() < d->next_ms)
		return 0;
	if ((rc = dump_index(rd, d, sts, n)) < 0)
		return rc;
	nlh = put_req(ks, buf, TL_CMD_GET, NLM_F_DUMP | NLM_F_ACK);
	d->seq = nlh->nlmsg_seq;
	d->started = d->rx_ms = now_ms();
	d->wall = time(NULL);
	d->busy_ms = 0;
	if (mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		slot_free(d);
		return rc;
	}
	backend_carry_pin(rd, true);
	dump_continue(rd, ks);
	return 0;
}

/* ---- restart ---- */

struct adopt_ctx {
	struct reply	 r;
	bool		 got;
};

static void
on_adopt(const struct nlmsghdr *h, void *arg)
{
	struct adopt_ctx *c = arg;

	parse_reply(h, &c->r);
	c->got = true;
}

/*
 * The journal brought back a stream that was in the kernel: its entries
 * must all be there, carry its cookie and say what this stream would
 * install now. The journal kept the userspace counts only (journal.c):
 * everything the entries counted since their install, before and after
 * the restart, is added to the legs now, and later reads add the rest.
 */
static int
kmod_adopt(struct relayd *rd, void *priv, struct stream *st)
{
	struct kmod_state *ks = priv;
	struct reply r[KMOD_MAX_ENTRIES];
	struct kmod_plan plan, *s = &plan;
	char buf[MNL_SOCKET_BUFFER_SIZE];

	if (unsuitable(rd, st) != NULL)
		return -EOPNOTSUPP;
	memset(s, 0, sizeof(*s));
	if (plan_stream(rd, st, s) < 0)
		return -ENOENT;
	for (int i = 0; i < s->n; i++) {
		struct kentry *e = &s->e[i];
		struct adopt_ctx c = { .got = false };
		struct nlmsghdr *nlh = put_req(ks, buf, TL_CMD_GET, NLM_F_ACK);
		int err = 0;

		put_key(nlh, e);
		if (exchange(ks, nlh, nlh->nlmsg_len, nlh->nlmsg_seq, 1, &err,
		    on_adopt, &c) < 0 || err < 0 || !c.got)
			return -ENOENT;
		if (c.r.cookie != s->cookie ||
		    !kaddr_equal(&c.r.saddr, &e->saddr) ||
		    c.r.sport != e->sport ||
		    !kaddr_equal(&c.r.osaddr, &e->osaddr) ||
		    c.r.osport != e->osport ||
		    !kaddr_equal(&c.r.odaddr, &e->odaddr) ||
		    c.r.odport != e->odport)
			return -ENOENT;
		r[i] = c.r;
	}
	/* userspace loss before the install is not journalled: the kernel's
	 * loss is added to the leg's from here on */
	if ((st->backend_priv = kmod_stream_new(s)) == NULL)
		return -ENOMEM;
	for (int i = 0; i < s->n; i++)
		apply_counters(&rd->totals, st, i, &r[i], now_ms(),
		    time(NULL));
	kmod_reason_in(st, "adopted", s);
	return 0;
}

/* ---- orphans: entries on our ports that no stream of ours adopted ---- */

struct orphan_ctx {
	const struct relayd	*rd;
	struct kstale_key	*keep;		/* sorted by cmp_key */
	size_t			 nkeep;
	struct kstale_key	*gone;		/* orphans found by the dump */
	size_t			 ngone, cap;
	size_t			 total, foreign;
	bool			 nomem;
};

static int
cmp_key(const void *a, const void *b)
{
	const struct kstale_key *x = a, *y = b;
	int c;

	if (x->laddr.family != y->laddr.family)
		return x->laddr.family < y->laddr.family ? -1 : 1;
	if ((c = memcmp(x->laddr.a, y->laddr.a, sizeof(x->laddr.a))) != 0)
		return c;
	return x->lport < y->lport ? -1 : x->lport > y->lport;
}

/*
 * Ours: the relay's port on one of our interfaces, which only this relayd
 * binds (the table is per network namespace; another relayd in the same
 * namespace has other addresses or another port range). Entries anyone
 * else put elsewhere are left alone.
 */
static bool
key_is_ours(const struct relayd *rd, const struct kaddr *addr, uint16_t port)
{
	if (port < rd->conf.port_min || port > rd->conf.port_max)
		return false;
	for (int i = 0; i < rd->conf.nifaces; i++) {
		const struct sockaddr_storage *b = &rd->conf.ifaces[i].bind;
		struct kaddr a;

		if (addr_is_any(b))
			return true;	/* as before: any family's address */
		if (kaddr_of(b, &a, NULL) == 0 && kaddr_equal(&a, addr))
			return true;
	}
	return false;
}

static void
on_dump_entry(const struct nlmsghdr *h, void *arg)
{
	struct orphan_ctx *c = arg;
	struct kstale_key k, *v;
	struct reply r;

	parse_reply(h, &r);
	c->total++;
	if (r.laddr.family == 0 || !key_is_ours(c->rd, &r.laddr, r.lport)) {
		c->foreign++;
		return;
	}
	k = (struct kstale_key){ r.laddr, r.lport };
	if (c->nkeep > 0 &&
	    bsearch(&k, c->keep, c->nkeep, sizeof(k), cmp_key) != NULL)
		return;
	if (c->ngone == c->cap) {
		/* The capacity grows only once the memory is there. */
		size_t cap = c->cap ? 2 * c->cap : 256;
		if ((v = realloc(c->gone, cap * sizeof(*v))) == NULL) {
			c->nomem = true;
			return;
		}
		c->gone = v;
		c->cap = cap;
	}
	c->gone[c->ngone++] = k;
}

/* The keys of every stream in the kernel now: adopted or installed anew. */
static int
collect_kept(struct relayd *rd, struct orphan_ctx *c)
{
	size_t cap = 0;

	for (struct session *se = rd->sessions.first; se; se = se->next)
		for (int i = 0; i < se->nstreams; i++) {
			const struct kmod_stream *s = se->streams[i]->backend_priv;

			if (se->streams[i]->path != PATH_KERNEL || s == NULL)
				continue;
			if (c->nkeep + KMOD_MAX_ENTRIES > cap) {
				struct kstale_key *v;
				cap = cap ? 2 * cap : 1024;
				if ((v = realloc(c->keep, cap * sizeof(*v))) == NULL)
					return -ENOMEM;
				c->keep = v;
			}
			for (int k = 0; k < s->n; k++) {
				struct kentry e;

				kmod_key(rd, se->streams[i], s->n, k, &e);
				c->keep[c->nkeep++] = (struct kstale_key){
				    e.laddr, e.lport };
			}
		}
	if (c->nkeep > 0)
		qsort(c->keep, c->nkeep, sizeof(*c->keep), cmp_key);
	return 0;
}

/* DEL the orphans, KMOD_CHUNK per sendto; 0 or -errno. */
static int
delete_keys(struct kmod_state *ks, const struct kstale_key *keys, size_t n,
    size_t *deleted)
{
	int errs[KMOD_CHUNK], rc;

	*deleted = 0;
	for (size_t off = 0; off < n; off += KMOD_CHUNK) {
		struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(ks->buf,
		    ks->buflen);
		int nreq = n - off < KMOD_CHUNK ? (int)(n - off) : KMOD_CHUNK;
		uint32_t first = ks->seq + 1;

		for (int i = 0; i < nreq; i++) {
			struct kentry e = {
				.laddr = keys[off + i].laddr,
				.lport = keys[off + i].lport,
			};
			put_key(put_req(ks, mnl_nlmsg_batch_current(b),
			    TL_CMD_DEL, NLM_F_ACK), &e);
			mnl_nlmsg_batch_next(b);
		}
		rc = exchange(ks, mnl_nlmsg_batch_head(b),
		    mnl_nlmsg_batch_size(b), first, nreq, errs, NULL, NULL);
		mnl_nlmsg_batch_stop(b);
		if (rc < 0)
			return rc;
		for (int i = 0; i < nreq; i++) {
			if (errs[i] < 0 && errs[i] != -ENOENT)
				return errs[i];
			*deleted += errs[i] == 0;
		}
	}
	return 0;
}

/*
 * Every journalled stream was offered to adopt. Entries on our ports that
 * no stream holds now would relay to old peers forever (their relayd was
 * killed, its journal lost or not matching, or a stream failed to be
 * adopted and latches again): dump the table and delete them.
 */
static void
kmod_adopt_done(struct relayd *rd, void *priv)
{
	struct kmod_state *ks = priv;
	struct orphan_ctx c = { .rd = rd };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	size_t deleted = 0;
	int rc, err = 0;

	if (rd->conf.journal[0] != '\0' && rd->journal == NULL) {
		/* journal.c: another relayd holds it, maybe on these ports */
		rlog(rd, LL_WARNING, "kmod: no journal of our own; kernel "
		    "entries on our ports are left as they are");
		return;
	}
	if ((rc = collect_kept(rd, &c)) == 0) {
		nlh = put_req(ks, buf, TL_CMD_GET, NLM_F_DUMP | NLM_F_ACK);
		rc = exchange(ks, nlh, nlh->nlmsg_len, nlh->nlmsg_seq, 1, &err,
		    on_dump_entry, &c);
		if (rc == 0)
			rc = err < 0 ? err : c.nomem ? -ENOMEM : 0;
	}
	if (rc == 0)
		rc = delete_keys(ks, c.gone, c.ngone, &deleted);
	if (rc < 0)
		rlog(rd, LL_ERROR, "kmod: removing orphaned entries from "
		    "trunkline.ko: %s; %zu of %zu removed, the others may "
		    "relay to old peers", strerror(-rc), deleted, c.ngone);
	else if (c.ngone > 0)
		rlog(rd, LL_NOTICE, "kmod: removed %zu orphaned entries from "
		    "trunkline.ko (on our ports, no stream adopted them)",
		    deleted);
	rlog(rd, LL_DEBUG, "kmod: table after restart: %zu entries, %zu kept "
	    "for our streams, %zu on other owners' addresses or ports",
	    c.total - deleted, c.nkeep, c.foreign);
	free(c.keep);
	free(c.gone);
}

/* The learn group's socket is readable (kmod_learn.c registered it), or
 * the counter dump's. */
static void
kmod_event(struct relayd *rd, void *priv)
{
	kmod_learn_event(rd, priv);
	dump_continue(rd, priv);	/* its socket too */
}

/* End of a loop round: entries whose removal was not acknowledged. */
static void
kmod_flush(struct relayd *rd, void *priv)
{
	struct kmod_state *ks = priv;
	struct mnl_nlmsg_batch *b;
	int errs[KMOD_CHUNK] = { 0 }, rc;
	size_t n, before = ks->stale.n;
	uint32_t first;

	kmod_learn_poll(rd, ks);
	if (ks->stale.n == 0 || now_ms() < ks->stale_retry_ms)
		return;
	ks->stale_retry_ms = now_ms() + KMOD_STALE_RETRY_MS;
	n = ks->stale.n < KMOD_CHUNK ? ks->stale.n : KMOD_CHUNK;
	first = ks->seq + 1;
	b = mnl_nlmsg_batch_start(ks->buf, ks->buflen);
	for (size_t i = 0; i < n; i++) {
		struct kentry e = { .laddr = ks->stale.v[i].laddr,
		    .lport = ks->stale.v[i].lport };
		put_key(put_req(ks, mnl_nlmsg_batch_current(b), TL_CMD_DEL,
		    NLM_F_ACK), &e);
		mnl_nlmsg_batch_next(b);
	}
	rc = exchange(ks, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b),
	    first, (int)n, errs, NULL, NULL);
	mnl_nlmsg_batch_stop(b);
	kstale_settle(&ks->stale, n, rc, errs);
	if (ks->stale.n < before)
		rlog(rd, LL_NOTICE, "kmod: %zu entries left by failed removals "
		    "deleted; %zu still to delete", before - ks->stale.n,
		    ks->stale.n);
	else
		rlog(rd, LL_WARNING, "kmod: deleting %zu entries left by failed "
		    "removals: %s; retried in %d ms", n,
		    rc < 0 ? strerror(-rc) : "refused", KMOD_STALE_RETRY_MS);
}

const struct backend_ops backend_kmod_ops = {
	.name = "kmod",
	.open = kmod_open,
	.close = kmod_close,
	.install = kmod_install,
	.remove = kmod_remove,
	.flush = kmod_flush,
	.read_counters = kmod_read_counters,
	.read_all = kmod_read_all,
	.adopt = kmod_adopt,
	.adopt_done = kmod_adopt_done,
	.learn = kmod_learn,
	.event = kmod_event,
	.hold = kmod_hold,
};
