/*
 * kmod_learn.c: endpoint learning in trunkline.ko. Once both legs' SDP is
 * in, a stream goes into the kernel at once, its RTP entries in a
 * learning state (TL_F_LEARN with the leg's SDP endpoint and the window):
 * no packet has to reach relayd for a leg to find its peer. The module
 * ranks sources with kmod/tl_learn.h, the code latch.c uses, and
 * multicasts each source it takes (group "learn"); this file reads those
 * events, sets the leg's state as latch.c would (query and journal show
 * it), and installs the stream's entries again with what changed: the
 * output toward a leg that learned, and the RTCP source. When both peers
 * are fixed (an exact match, or the window ended) the stream's entries
 * become plain strict ones, as if it had latched in userspace.
 *
 * Strangers are dropped in the kernel while a stream learns and counted
 * as the leg's drops (the entries' mismatch counters). The event socket
 * is in relayd's epoll (TAG_BACKEND): events are handled as they arrive,
 * and read once more right before windows are checked, so a source the
 * kernel took before its window ended is never overtaken by relayd
 * fixing an older candidate. Events lost to a full receive buffer
 * (ENOBUFS) are made up by a resync: a dump of the module's table, each
 * learning entry's state applied as if its event had come. A stream learns
 * in userspace instead when the module has no "learn" group (older
 * module), endpoint_learning is not "heuristic", strict_source is off,
 * or an address is not IPv4.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <linux/genetlink.h>

#include "relayd.h"
#include "trunkline_uapi.h"
#include "backend_kmod.h"

#define LEARN_CHECK_MS		100	/* windows are checked this often */
#define LEARN_WALK_MS		5000	/* ...and every leg looked at this often */
#define LEARN_RCVBUF		(4 << 20)

/*
 * A leg that learns in the kernel is found by its RTP entry's key through
 * the port pool's owner table (sockpark.c: port_owner), which a learning
 * leg without sockets claims too: no index of its own per leg (issue 16's
 * 1 KiB per stream). Its stream has KS_LEARNING.
 */
struct kmod_learn {
	struct evtag		 tag;		/* TAG_BACKEND */
	struct mnl_socket	*ev;		/* joined to the "learn" group */
	size_t			 nstreams;	/* with KS_LEARNING */
	uint64_t		 check_ms;
	/*
	 * The walk over every leg (check_windows) waits until a window may
	 * have ended (due_ms: the earliest end of an open one, UINT64_MAX
	 * when none is open) or LEARN_WALK_MS passed: at 100,000 streams,
	 * the calls whose legs never see media are not walked every 100 ms.
	 */
	uint64_t		 due_ms, walk_ms;
	uint64_t		 window_ms;	/* the policy's */
	uint64_t		 overruns;	/* ENOBUFS seen */
	uint64_t		 resyncs;	/* dumps that made up for them */
	bool			 resync;	/* events were lost: dump */
};

/* A learning entry's IPv4 address (learn_unsuitable: IPv4 only). */
static uint32_t
k4(const struct kaddr *a)
{
	uint32_t v;

	memcpy(&v, a->a, 4);
	return v;
}

/* An SDP endpoint as the IPv4 attributes of a learning entry. */
static int
sdp_ipv4(const struct sockaddr_storage *ss, uint32_t *addr, uint16_t *port)
{
	struct kaddr k;
	int rc;

	if ((rc = kaddr_of(ss, &k, port)) < 0)
		return rc;
	if (k.family != AF_INET)
		return -EAFNOSUPPORT;
	*addr = k4(&k);
	return 0;
}

static bool
is_fixed(const struct leg *leg)
{
	return leg->is_latched[SK_RTP] && !leg->learn.learning;
}

/*
 * The leg whose learning RTP entry has this key, or NULL: a leg of a
 * stream that learns in the kernel and had not fixed its peer when the
 * entries were planned (is_fixed changes only through update_stream,
 * which plans again).
 */
static struct leg *
learning_leg(struct relayd *rd, uint32_t laddr, uint16_t lport)
{
	for (int i = 0; i < rd->conf.nifaces; i++) {
		const struct kmod_stream *s;
		struct kaddr a;
		struct leg *leg;

		if (kaddr_of(&rd->conf.ifaces[i].bind, &a, NULL) < 0 ||
		    a.family != AF_INET || k4(&a) != laddr ||
		    (leg = port_owner(rd, i, lport)) == NULL ||
		    leg->port != lport || leg->iface != i)
			continue;
		s = leg->stream->backend_priv;
		if (s != NULL && (s->flags & KS_LEARNING) && !is_fixed(leg))
			return leg;
	}
	return NULL;
}

/* s learns (or no longer does): the count the window check looks at. */
static void
set_learning(struct kmod_learn *kl, struct kmod_stream *s, bool on)
{
	if (on == !!(s->flags & KS_LEARNING))
		return;
	s->flags = (uint8_t)(on ? s->flags | KS_LEARNING :
	    s->flags & ~KS_LEARNING);
	if (on)
		kl->nstreams++;
	else
		kl->nstreams--;
}

void
kmod_learn_forget(struct kmod_state *ks, const struct stream *st)
{
	struct kmod_stream *s = st->backend_priv;

	if (ks->learn == NULL || s == NULL)
		return;
	set_learning(ks->learn, s, false);
}

/* ---- the event socket ---- */

struct group_ctx {
	uint32_t	 id;
	bool		 found;
};

static void
on_group(const struct nlattr *grp, struct group_ctx *c)
{
	const struct nlattr *a;
	const char *name = NULL;
	uint32_t id = 0;

	mnl_attr_for_each_nested(a, grp) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME)
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID)
			id = mnl_attr_get_u32(a);
	}
	if (name != NULL && strcmp(name, TL_MCGRP_LEARN) == 0) {
		c->id = id;
		c->found = true;
	}
}

/* The id of the family's "learn" group: -ENOENT for an older module. */
static int
resolve_group(struct mnl_socket *nl, uint32_t *id)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct group_ctx c = { 0, false };
	struct genlmsghdr *g;
	ssize_t n;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TL_GENL_NAME);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (int round = 0; round < 16; round++) {
		if ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0)
			return -errno;
		for (const struct nlmsghdr *h = (const void *)buf;
		    mnl_nlmsg_ok(h, (int)n); h = mnl_nlmsg_next(h, (int *)&n)) {
			const struct nlattr *a, *grp;

			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				if (e->error)
					return e->error;
				*id = c.id;
				return c.found ? 0 : -ENOENT;
			}
			mnl_attr_for_each(a, h, sizeof(struct genlmsghdr))
				if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GROUPS)
					mnl_attr_for_each_nested(grp, a)
						on_group(grp, &c);
		}
	}
	return -EIO;
}

/*
 * The event socket's receive buffer. TL_KMOD_LEARN_RCVBUF (bytes) is for
 * tests only: a small buffer makes an overflow, and its resync, cheap to
 * provoke (tests/kmod/guest/learn_flood.bash).
 */
static int
learn_rcvbuf(void)
{
	const char *v = getenv("TL_KMOD_LEARN_RCVBUF");
	long n;
	char *end;

	if (v == NULL || *v == '\0')
		return LEARN_RCVBUF;
	n = strtol(v, &end, 10);
	return *end == '\0' && n >= 1024 && n <= LEARN_RCVBUF ? (int)n :
	    LEARN_RCVBUF;
}

int
kmod_learn_open(struct relayd *rd, struct kmod_state *ks)
{
	struct timeval tv = { .tv_sec = 2 };
	struct kmod_learn *kl = calloc(1, sizeof(*kl));
	struct latch_policy pol;
	int rcvbuf = learn_rcvbuf(), rc, fd;
	uint32_t grp;

	if (kl == NULL)
		return -ENOMEM;
	if ((kl->ev = mnl_socket_open(NETLINK_GENERIC)) == NULL ||
	    mnl_socket_bind(kl->ev, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto err;
	}
	fd = mnl_socket_get_fd(kl->ev);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((rc = resolve_group(kl->ev, &grp)) < 0)
		goto err;
	/* a burst of answers makes a burst of events: room for them */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_setsockopt(kl->ev, NETLINK_ADD_MEMBERSHIP, &grp,
	    sizeof(grp)) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		rc = -errno;
		goto err;
	}
	/* closing the socket (kmod_learn_close) takes it out of epoll */
	kl->tag.kind = TAG_BACKEND;
	if (epoll_add(rd, fd, EPOLLIN, &kl->tag) < 0) {
		rc = -errno;
		goto err;
	}
	latch_policy_init(&pol, &rd->conf);
	kl->window_ms = pol.window_ms;
	ks->learn = kl;
	rlog(rd, LL_INFO, "kmod: peers are learned in trunkline.ko (group "
	    "'%s')", TL_MCGRP_LEARN);
	return 0;

err:
	if (kl->ev != NULL)
		mnl_socket_close(kl->ev);
	free(kl);
	return rc;
}

void
kmod_learn_close(struct kmod_state *ks)
{
	struct kmod_learn *kl = ks->learn;

	if (kl == NULL)
		return;
	mnl_socket_close(kl->ev);
	free(kl);
	ks->learn = NULL;
}

/* ---- what a learning stream's entries are ---- */

/*
 * A learning leg's entries: RTP learns against the SDP endpoint (with
 * the candidate relayd knows, if any); RTCP accepts the RTP peer's host
 * (the SDP address while nothing is learned) from any port, as latch.c
 * does. A fixed leg's entries are the strict ones plan_entry makes.
 */
static int
plan_learn_entry(const struct relayd *rd, const struct stream *st,
    enum leg_side side, enum sock_kind k, struct kentry *e)
{
	const struct leg *in = &st->leg[side];
	const struct raddr *host;
	int rc;

	if (is_fixed(in) && (k == SK_RTP || in->is_latched[SK_RTCP])) {
		rc = plan_entry(rd, st, side, k, e);
		e->drop = true;
		return rc;
	}
	/* plan_entry needs a source: give it the SDP's, then correct */
	if (!in->is_latched[SK_RTP]) {
		struct stream tmp = *st;

		tmp.leg[side].latched[SK_RTP] = in->sdp.rtp;
		tmp.leg[side].is_latched[SK_RTP] = true;
		tmp.leg[side].is_latched[SK_RTCP] = false;
		tmp.leg[side].learn.learning = true;
		if ((rc = plan_entry(rd, &tmp, side, k, e)) < 0)
			return rc;
		e->leg = (struct leg *)in;
	} else if ((rc = plan_entry(rd, st, side, k, e)) < 0) {
		return rc;
	}
	e->drop = true;
	if (k == SK_RTCP) {
		host = in->is_latched[SK_RTP] ? &in->latched[SK_RTP] :
		    &in->sdp.rtp;
		e->any_port = true;
		return kaddr_of(RADDR_SS(host), &e->saddr, NULL);
	}
	e->learn = true;
	e->no_src = !in->is_latched[SK_RTP];
	e->window_ms = rd->conf.learn_window <= 0 ? 1 :
	    rd->conf.learn_window >= 60 ? 60000 :
	    (uint32_t)(rd->conf.learn_window * 1000.0);
	return sdp_ipv4(RADDR_SS(&in->sdp.rtp), &e->sdpaddr, &e->sdpport);
}

static int
plan_learning(const struct relayd *rd, const struct stream *st,
    struct kmod_plan *s)
{
	bool mux = st->leg[SIDE_A].sdp.rtcp_mux;
	int rc;

	s->n = 0;
	for (int side = SIDE_A; side <= SIDE_B; side++)
		for (int k = SK_RTP; k <= (mux ? SK_RTP : SK_RTCP); k++)
			if ((rc = plan_learn_entry(rd, st, side, k,
			    &s->e[s->n++])) < 0)
				return rc;
	s->cookie = stream_cookie(st);
	s->learning = true;
	return 0;
}

/* Why the kernel cannot learn this stream's peers, or NULL. */
static const char *
learn_unsuitable(const struct relayd *rd, const struct stream *st)
{
	if (rd->conf.learn_mode != LEARN_HEURISTIC)
		return "endpoint_learning is not \"heuristic\"";
	if (!rd->conf.strict_source)
		return "strict_source is off";
	if (st->leg[SIDE_A].sdp.rtcp_mux != st->leg[SIDE_B].sdp.rtcp_mux)
		return "rtcp-mux on one leg only";
	for (int s = SIDE_A; s <= SIDE_B; s++) {
		const struct leg *leg = &st->leg[s];
		const struct sockaddr_storage *bind =
		    &rd->conf.ifaces[leg->iface].bind;

		if (!leg->sdp.set || leg->sdp.rtp.port == 0)
			return "a leg has no SDP endpoint";
		if (bind->ss_family != AF_INET || addr_is_any(bind) ||
		    leg->sdp.rtp.family != AF_INET)
			return "not IPv4 with the relay's own address";
		if (leg->is_latched[SK_RTP] &&
		    leg->latched[SK_RTP].family != AF_INET)
			return "an IPv6 peer";
	}
	return NULL;
}

static int
acked(int rc, const int *errs, int n)
{
	for (int i = 0; rc == 0 && i < n; i++)
		if (errs[i] < 0)
			rc = errs[i];
	return rc;
}

/* A leg in an open window: the walk comes at its end. */
static void
note_window(struct kmod_learn *kl, const struct leg *leg)
{
	uint64_t end = leg->learn.window_start + kl->window_ms;

	if (leg->is_latched[SK_RTP] && leg->learn.learning && end < kl->due_ms)
		kl->due_ms = end;
}

/*
 * st's entries learn (p): its legs are found by port from now on (one
 * without sockets claims its pair), and an open window is noted (a
 * restored one).
 */
static void
index_legs(struct relayd *rd, struct kmod_learn *kl, struct stream *st,
    const struct kmod_plan *p)
{
	set_learning(kl, st->backend_priv, true);
	for (int i = 0; i < p->n; i++)
		if (p->e[i].learn) {
			port_own(rd, p->e[i].leg);
			note_window(kl, p->e[i].leg);
		}
}

/* Why st cannot learn in the kernel (path_reason set), or plan it into
 * p, with what will stay of it (*out). */
static int
learn_prepare(struct relayd *rd, struct kmod_state *ks, struct stream *st,
    struct kmod_plan *p, struct kmod_stream **out)
{
	const char *why = learn_unsuitable(rd, st);
	int rc;

	*out = NULL;
	if (ks->learn == NULL)
		return -EOPNOTSUPP;
	if (why != NULL) {
		stream_set_reason(st,
		    "latching in userspace: %s", why);
		return -EOPNOTSUPP;
	}
	memset(p, 0, sizeof(*p));
	if ((rc = plan_learning(rd, st, p)) < 0)
		return rc;
	if ((*out = kmod_stream_new(p)) == NULL)
		return -ENOMEM;
	(*out)->flags &= (uint8_t)~KS_LEARNING;	/* index_legs counts it */
	/* the offer's held entries (kmod_hold.c) are replaced in place */
	p->replace = st->held && st->backend_priv != NULL;
	return 0;
}

/* p is in the kernel (rc 0) and st's now (s), or st latches in
 * userspace. */
static void
learn_commit(struct relayd *rd, struct kmod_state *ks, struct stream *st,
    struct kmod_plan *p, struct kmod_stream *s, int rc)
{
	if (rc < 0) {
		stream_set_reason(st, "latching in userspace: kernel "
		    "learning install failed: %s", strerror(-rc));
		rlog(rd, LL_WARNING, "kmod: call %s stream %d: learning in the "
		    "kernel: %s; latching in userspace", st->session->call_id,
		    st->index, strerror(-rc));
		free(s);
		return;
	}
	for (int i = 0; i < p->n; i++) {
		struct kstale_key k = { p->e[i].laddr, p->e[i].lport };

		kstale_forget(&ks->stale, &k);
	}
	if (p->replace)
		kmod_hold_replaced(rd, ks, st, p, s);
	p->replace = false;
	st->backend_priv = s;
	index_legs(rd, ks->learn, st, p);
	kmod_reason_in(st, "learning", p);
}

int
kmod_learn_streams(struct relayd *rd, void *priv, struct stream **sts,
    size_t n, int *rcs)
{
	struct kmod_state *ks = priv;
	struct kmod_plan *plan = calloc(n ? n : 1, sizeof(*plan));
	struct kmod_plan **plans = calloc(n ? n : 1, sizeof(*plans));
	struct kmod_stream **kept = calloc(n ? n : 1, sizeof(*kept));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	int *prc = calloc(n ? n : 1, sizeof(*prc));
	size_t np = 0;

	if (plan == NULL || plans == NULL || kept == NULL || idx == NULL ||
	    prc == NULL) {
		free(plan);
		free(plans);
		free(kept);
		free(idx);
		free(prc);
		for (size_t i = 0; i < n; i++)
			rcs[i] = -ENOMEM;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		rcs[i] = learn_prepare(rd, ks, sts[i], &plan[np], &kept[np]);
		if (rcs[i] == 0) {
			plans[np] = &plan[np];
			idx[np++] = i;
		} else if (rcs[i] != -EOPNOTSUPP) {
			learn_commit(rd, ks, sts[i], NULL, NULL, rcs[i]);
		}
	}
	if (np > 0)
		kmod_put_streams(ks, plans, np, prc);
	for (size_t j = 0; j < np; j++) {
		rcs[idx[j]] = prc[j];
		learn_commit(rd, ks, sts[idx[j]], plans[j], kept[j], prc[j]);
	}
	free(plan);
	free(plans);
	free(kept);
	free(idx);
	free(prc);
	return 0;
}

int
kmod_learn(struct relayd *rd, void *priv, struct stream *st)
{
	int rc;

	kmod_learn_streams(rd, priv, &st, 1, &rc);
	return rc;
}

/*
 * The stream's kept state for n entries (rtcp-mux changed by a new
 * answer): the counters of the entries both have carry over, as the
 * kernel's do. NULL: no memory (st's is as it was).
 */
static struct kmod_stream *
resized(struct stream *st, int n)
{
	struct kmod_stream *s = st->backend_priv, *to;

	if ((to = calloc(1, kmod_stream_size(n))) == NULL)
		return NULL;
	memcpy(to, s, kmod_stream_size(n < s->n ? n : s->n));
	to->n = (uint8_t)n;
	free(s);
	st->backend_priv = to;
	return to;
}

/*
 * A leg learned: install the stream's entries again (ADD replaces; the
 * kernel keeps a learning entry's state and the counters). Both peers
 * fixed: plain strict entries, the stream is latched.
 */
static void
update_stream(struct relayd *rd, struct kmod_state *ks, struct stream *st)
{
	struct kmod_stream *s = st->backend_priv;
	struct kmod_plan next;
	bool done = stream_fully_latched(st);
	int errs[KMOD_MAX_ENTRIES], rc;

	if (s == NULL || !(s->flags & KS_LEARNING))
		return;
	memset(&next, 0, sizeof(next));
	next.n = 0;
	next.cookie = stream_cookie(st);
	if (done) {
		bool mux = st->leg[SIDE_A].sdp.rtcp_mux;
		rc = 0;
		for (int side = SIDE_A; side <= SIDE_B && rc == 0; side++)
			for (int k = SK_RTP; k <= (mux ? SK_RTP : SK_RTCP) &&
			    rc == 0; k++)
				rc = plan_entry(rd, st, side, k,
				    &next.e[next.n++]);
		/* strangers stay dropped and counted in the kernel, as
		 * while learning: no mismatch escapes the count */
		for (int i = 0; i < next.n; i++)
			next.e[i].drop = true;
	} else {
		rc = plan_learning(rd, st, &next);
	}
	if (rc == 0)
		rc = acked(batch(ks, &next, TL_CMD_ADD, false, errs), errs,
		    next.n);
	if (rc < 0) {
		rlog(rd, LL_WARNING, "kmod: call %s stream %d: updating learned "
		    "entries: %s; back to userspace", st->session->call_id,
		    st->index, strerror(-rc));
		backend_stream_remove(rd, st);
		return;
	}
	if (next.n != s->n && (s = resized(st, next.n)) == NULL) {
		rlog(rd, LL_WARNING, "kmod: call %s stream %d: out of memory "
		    "updating learned entries; back to userspace",
		    st->session->call_id, st->index);
		backend_stream_remove(rd, st);
		return;
	}
	kmod_learn_forget(ks, st);
	if (done)
		kmod_reason_in(st, "learned", &next);
	else
		index_legs(rd, ks->learn, st, &next);
	journal_save(rd, st->session);
}

/* ---- events ---- */

struct learned {
	uint32_t	 laddr, saddr;
	uint16_t	 lport, sport;
	uint64_t	 cookie;
	uint8_t		 rank, state;
	bool		 has_src;
};

static void
parse_learned(const struct nlmsghdr *h, struct learned *l)
{
	const struct nlattr *a;

	memset(l, 0, sizeof(*l));
	mnl_attr_for_each(a, h, sizeof(struct genlmsghdr)) {
		switch (mnl_attr_get_type(a)) {
		case TL_A_LOCAL_ADDR4: l->laddr = mnl_attr_get_u32(a); break;
		case TL_A_LOCAL_PORT: l->lport = mnl_attr_get_u16(a); break;
		case TL_A_SRC_ADDR4:
			l->saddr = mnl_attr_get_u32(a);
			l->has_src = true;
			break;
		case TL_A_SRC_PORT: l->sport = mnl_attr_get_u16(a); break;
		case TL_A_COOKIE: l->cookie = mnl_attr_get_u64(a); break;
		case TL_A_LEARN_RANK: l->rank = mnl_attr_get_u8(a); break;
		case TL_A_LEARN_STATE: l->state = mnl_attr_get_u8(a); break;
		}
	}
}

static void
on_learned(struct relayd *rd, struct kmod_state *ks, const struct learned *l)
{
	struct leg *leg = learning_leg(rd, l->laddr, l->lport);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_storage src;
	char buf[64];

	if (leg == NULL || !l->has_src || l->rank > RANK_EXACT ||
	    l->rank == RANK_NONE)
		return;		/* an entry that no longer learns */
	if (stream_cookie(leg->stream) != l->cookie)
		return;
	sin.sin_addr.s_addr = l->saddr;
	sin.sin_port = htons(l->sport);
	memset(&src, 0, sizeof(src));
	memcpy(&src, &sin, sizeof(sin));
	if (leg->is_latched[SK_RTP] && raddr_equal(&leg->latched[SK_RTP], &src) &&
	    leg->learn.rank == l->rank &&
	    leg->learn.learning == (l->state != TL_LEARN_FIXED))
		return;		/* known already (a resync reads it all) */
	if (leg->is_latched[SK_RTP] && l->rank < leg->learn.rank)
		return;		/* older than a resync: the kernel's rank
				 * only goes up */
	latch_learned(leg, &src, (enum learn_rank)l->rank,
	    l->state == TL_LEARN_FIXED, now_ms());
	note_window(ks->learn, leg);
	rlog(rd, LL_DEBUG, "call %s stream %d leg %c: trunkline.ko learned %s "
	    "(rank %s, %s)", leg->stream->session->call_id, leg->stream->index,
	    leg->side == SIDE_A ? 'A' : 'B', addr_fmt(&src, buf, sizeof(buf)),
	    learn_rank_name((enum learn_rank)l->rank),
	    l->state == TL_LEARN_FIXED ? "fixed" : "learning");
	update_stream(rd, ks, leg->stream);
}

/* What a resync's dump found: the learning entries that took a source. */
struct dump_ctx {
	struct relayd		*rd;
	struct learned		*v;
	size_t			 n, cap;
	bool			 nomem;
};

static void
on_dump_learned(const struct nlmsghdr *h, void *arg)
{
	struct dump_ctx *c = arg;
	struct learned l, *v;

	parse_learned(h, &l);
	if (!l.has_src || learning_leg(c->rd, l.laddr, l.lport) == NULL)
		return;		/* not ours, or nothing taken yet */
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		if ((v = realloc(c->v, cap * sizeof(*v))) == NULL) {
			c->nomem = true;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = l;
}

/*
 * Events were lost (the receive buffer overflowed): dump the table and
 * apply every learning entry's state, as its events would have. The dump
 * is read whole before anything is applied: applying sends requests on
 * the same socket. A failed dump is tried again at the next round.
 */
static void
resync(struct relayd *rd, struct kmod_state *ks)
{
	struct dump_ctx c = { .rd = rd };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int rc, err = 0;

	nlh = put_req(ks, buf, TL_CMD_GET, NLM_F_DUMP | NLM_F_ACK);
	rc = exchange(ks, nlh, nlh->nlmsg_len, nlh->nlmsg_seq, 1, &err,
	    on_dump_learned, &c);
	if (rc == 0)
		rc = err < 0 ? err : c.nomem ? -ENOMEM : 0;
	if (rc < 0) {
		rlog(rd, LL_WARNING, "kmod: learning events lost (receive "
		    "buffer full), and reading the table failed: %s; trying "
		    "again", strerror(-rc));
		free(c.v);
		return;
	}
	ks->learn->resync = false;
	ks->learn->resyncs++;
	rlog(rd, LL_NOTICE, "kmod: learning events lost (receive buffer "
	    "full, %" PRIu64 " time(s)); read the table again: %zu learning "
	    "entries with a source", ks->learn->overruns, c.n);
	for (size_t i = 0; i < c.n; i++)
		on_learned(rd, ks, &c.v[i]);
	free(c.v);
}

static void
read_events(struct relayd *rd, struct kmod_state *ks)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	ssize_t n;

	/* bounded: a flood cannot keep the loop here (epoll calls again) */
	for (int round = 0; round < 256; round++) {
		n = recv(mnl_socket_get_fd(ks->learn->ev), buf, sizeof(buf),
		    MSG_DONTWAIT);
		if (n < 0 && errno == ENOBUFS) {
			/* events were lost: the table tells what they said */
			ks->learn->overruns++;
			ks->learn->resync = true;
			continue;
		}
		if (n <= 0)
			break;
		for (const struct nlmsghdr *h = (const void *)buf;
		    mnl_nlmsg_ok(h, (int)n); h = mnl_nlmsg_next(h, (int *)&n)) {
			const struct genlmsghdr *g = mnl_nlmsg_get_payload(h);
			struct learned l;

			if (h->nlmsg_type != ks->family ||
			    g->cmd != TL_CMD_LEARNED)
				continue;
			parse_learned(h, &l);
			on_learned(rd, ks, &l);
		}
	}
	if (ks->learn->resync)
		resync(rd, ks);
}

/* Windows that ended: the candidates are the peers now. */
static void
check_windows(struct relayd *rd, struct kmod_state *ks)
{
	struct kmod_learn *kl = ks->learn;
	struct latch_policy pol;
	struct stream **due = NULL;
	size_t ndue = 0, cap = 0;
	uint64_t now = now_ms();

	kl->check_ms = now + LEARN_CHECK_MS;
	kl->walk_ms = now + LEARN_WALK_MS;
	kl->due_ms = UINT64_MAX;
	latch_policy_init(&pol, &rd->conf);
	for (struct session *se = rd->sessions.first; se; se = se->next)
		for (int i = 0; i < se->nstreams; i++) {
			struct stream *st = se->streams[i];
			const struct kmod_stream *s = st->backend_priv;
			bool ended = false;

			if (s == NULL || !(s->flags & KS_LEARNING))
				continue;
			for (int side = SIDE_A; side <= SIDE_B; side++) {
				struct leg *leg = &st->leg[side];

				if (is_fixed(leg))
					continue;	/* no learning entry */
				if (latch_expire(leg, &pol, now))
					ended = true;
				else
					note_window(kl, leg);	/* still open */
			}
			if (!ended)
				continue;
			if (ndue == cap) {
				struct stream **v;
				cap = cap ? 2 * cap : 16;
				if ((v = realloc(due, cap * sizeof(*v))) == NULL)
					goto out;	/* the next check does it */
				due = v;
			}
			due[ndue++] = st;
		}
out:
	for (size_t i = 0; i < ndue; i++)
		update_stream(rd, ks, due[i]);
	free(due);
}

void
kmod_learn_event(struct relayd *rd, struct kmod_state *ks)
{
	if (ks->learn != NULL)
		read_events(rd, ks);
}

void
kmod_learn_poll(struct relayd *rd, struct kmod_state *ks)
{
	struct kmod_learn *kl = ks->learn;

	if (kl == NULL)
		return;
	if (kl->resync)		/* a dump that failed: again */
		resync(rd, ks);
	if (now_ms() < kl->check_ms || kl->nstreams == 0)
		return;
	if (now_ms() < kl->due_ms && now_ms() < kl->walk_ms) {
		kl->check_ms = now_ms() + LEARN_CHECK_MS;
		return;		/* no window can have ended */
	}
	read_events(rd, ks);	/* first: what the kernel took in time */
	check_windows(rd, ks);
}
