/*
 * backend_nft.c: the kernel path on stock kernels, with nftables and
 * conntrack only (no module). A fully latched stream becomes two or four
 * flows (RTP and RTCP, each direction); each flow is one dnat4 element in
 * our table (nft_ruleset.c), and conntrack does the rewriting for every
 * packet after the first. Changes are queued and committed in one nft
 * transaction per event-loop round (backend_flush), which is what makes
 * installing tens of thousands of streams per second possible.
 *
 * The switch from userspace: packets to relay ports that no dnat4
 * element takes are notrack, so a latching stream has no conntrack entry;
 * the transaction that adds its elements makes the next packet tracked
 * and NATed, and packets already queued on relayd's sockets are still
 * relayed by forward.c (relayd's own sends are never tracked). Entries on
 * relay ports made before relayd ran are deleted at start. Removal is the
 * reverse: elements out (packets go back to the socket at once), then the
 * stream's entries deleted.
 *
 * Counters: conntrack accounting, read per entry in batched ctnetlink GETs
 * at most once a second per stream (always for a small batch: query and
 * delete), added to what the stream counted in userspace.
 *
 * IPv6: a stream whose legs are both IPv6 goes to `table ip6 trunkline`
 * the same way (needs net.ipv6.conf.all.forwarding=1; without it IPv6
 * streams stay in userspace and say why). A stream with an IPv4 leg and
 * an IPv6 leg (bridging) stays in userspace: conntrack NAT rewrites
 * addresses within one family only.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "relayd.h"
#include "backend_nft.h"

#define COUNTER_PERIOD_MS	1000
/*
 * Entry reads a second at most: one ctnetlink GET per flow costs the loop
 * ~10 us, so 100,000 streams read every second would take all of it. With
 * many streams the period grows instead (never past a quarter of the
 * inactivity timeout, which must see activity).
 */
#define CT_READS_PER_S		10000
#define CT_RETRY_MS		1000	/* failed conntrack deletes, retried */
#define SMALL_BATCH		8
/*
 * When a stream was read last, in ticks of 256 ms modulo 2^16 (4.6 h; a
 * wrap only makes one read come early or late).
 */
#define READ_TICK_MS		256
#define READ_TICK(ms)		((uint16_t)((ms) / READ_TICK_MS))

/* A removal queued for the flush; st NULL once the stream is freed. */
struct nft_rm {
	struct nft_stream	*ns;
	struct stream		*st;
};

struct nft_priv {
	struct nft_sock	 *nft;
	struct ct_sock	 *ct;
	uint16_t	  port_min, port_max;
	struct nft_addrs  addrs;		/* notrack scope */
	/* Each interface's own address (local_addr), for the flows. */
	struct {
		int		 family;	/* 0: none (a wildcard) */
		uint8_t		 a[16];
	} local[RELAYD_MAX_IFACES];
	bool		  v6_forwarding;	/* else IPv6 stays in userspace */
	bool		  rebuild;		/* table kept for adoption */
	bool		  existed, existed6;	/* ip, ip6 table */
	struct nft_elem	 *old;			/* its elements, sorted */
	size_t		  nold;
	struct nft_elem	 *adopted;
	size_t		  nadopted, adopted_cap;
	struct stream	**pending;		/* their backend_priv */
	size_t		  npending, pending_cap;
	struct nft_rm	 *rm;			/* elements to take out */
	size_t		  nrm, rm_cap;
	struct nft_flow	 *ct_retry;		/* entries whose delete failed */
	size_t		  nct_retry;
	uint64_t	  ct_retry_ms;		/* not retried alone before */
	size_t		  installed;
};

/* ---- preconditions ---- */

static int
read_sysctl(const char *path, long *val)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL)
		return -errno;
	ok = fscanf(f, "%ld", val) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static int
preconditions(struct relayd *rd, char *why, size_t len)
{
	long v = 0;

	if (read_sysctl("/proc/sys/net/ipv4/ip_forward", &v) < 0 || v != 1) {
		snprintf(why, len, "net.ipv4.ip_forward is %ld: the kernel would "
		    "not forward relayed packets (sysctl -w "
		    "net.ipv4.ip_forward=1)", v);
		return -ENOTSUP;
	}
	if (read_sysctl("/proc/sys/net/netfilter/nf_conntrack_max", &v) < 0) {
		snprintf(why, len, "conntrack is not available (no "
		    "/proc/sys/net/netfilter/nf_conntrack_max): load nf_conntrack");
		return -ENOTSUP;
	}
	if (read_sysctl("/proc/sys/net/netfilter/nf_conntrack_acct", &v) < 0 ||
	    v != 1) {
		snprintf(why, len, "net.netfilter.nf_conntrack_acct is %ld: no "
		    "per-flow counters for query, stats and inactivity "
		    "(sysctl -w net.netfilter.nf_conntrack_acct=1)", v);
		return -ENOTSUP;
	}
	if (read_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", &v) == 0)
		rlog(rd, LL_INFO, "nft: rp_filter (all) is %ld: fine, sources "
		    "are rewritten after routing (no accept_local needed)", v);
	return 0;
}

/*
 * IPv6 streams need IPv6 forwarding; without it they stay in userspace
 * (IPv4 streams are not affected, so this does not close the backend).
 */
static void
v6_check(struct relayd *rd, struct nft_priv *p)
{
	long v = 0;

	p->v6_forwarding = read_sysctl("/proc/sys/net/ipv6/conf/all/forwarding",
	    &v) == 0 && v == 1;
	if (p->addrs.n6 > 0 && !p->v6_forwarding)
		rlog(rd, LL_WARNING, "nft: net.ipv6.conf.all.forwarding is %ld: "
		    "IPv6 streams stay in userspace (sysctl -w "
		    "net.ipv6.conf.all.forwarding=1)", v);
}

/* ---- flows of a stream ---- */

/* An interface's own address (bind, or advertise when bound to any). */
static int
local_addr(const struct relayd *rd, int iface, struct sockaddr_storage *ss)
{
	const struct iface_conf *ifc = &rd->conf.ifaces[iface];

	*ss = ifc->bind;
	if (addr_is_any(ss) && addr_parse(ifc->advertise, 0, ss) < 0)
		return -EAFNOSUPPORT;
	if ((ss->ss_family != AF_INET && ss->ss_family != AF_INET6) ||
	    addr_is_any(ss))
		return -EAFNOSUPPORT;
	return 0;
}

static const struct in6_addr *
in6(const struct sockaddr_storage *ss)
{
	return &((const struct sockaddr_in6 *)ss)->sin6_addr;
}

/*
 * The addresses the kernel path serves, once each: notrack and the start
 * flush touch these only, never the host's other flows.
 */
static void
relay_addrs(const struct relayd *rd, struct nft_priv *p)
{
	struct nft_addrs *a = &p->addrs;
	struct sockaddr_storage ss;
	int j;

	for (int i = 0; i < rd->conf.nifaces; i++) {
		if (local_addr(rd, i, &ss) < 0)
			continue;
		p->local[i].family = ss.ss_family;
		memcpy(p->local[i].a, ss.ss_family == AF_INET6 ? (const void *)
		    in6(&ss) : &((struct sockaddr_in *)&ss)->sin_addr,
		    ss.ss_family == AF_INET6 ? 16 : 4);
		if (ss.ss_family == AF_INET6) {
			for (j = 0; j < a->n6 &&
			    memcmp(&a->v6[j], in6(&ss), 16) != 0; j++)
				;
			if (j == a->n6)
				a->v6[a->n6++] = *in6(&ss);
			continue;
		}
		uint32_t v4 = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		for (j = 0; j < a->n4 && a->v4[j] != v4; j++)
			;
		if (j == a->n4)
			a->v4[a->n4++] = v4;
	}
}

/* ---- a stream's compact state and its flows ---- */

static size_t
alen(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

static size_t
kind_size(int family)
{
	return sizeof(struct nft_kind) + 2 * alen(family);
}

size_t
nft_stream_size(int family, int nkinds)
{
	return offsetof(struct nft_stream, kinds) +
	    (size_t)nkinds * kind_size(family);
}

static int
ns_family(const struct nft_stream *ns)
{
	return ns->flags & NS_V6 ? AF_INET6 : AF_INET;
}

static int
ns_kinds(const struct nft_stream *ns)
{
	return ns->flags & NS_RTCP ? 2 : 1;
}

/* RELAYD_MAX_IFACES fits in 4 bits */
_Static_assert(RELAYD_MAX_IFACES <= 16, "nft_stream.ifaces: 4 bits each");

static int
ns_iface(const struct nft_stream *ns, int side)
{
	return side == SIDE_A ? ns->ifaces & 0x0f : ns->ifaces >> 4;
}

struct nft_kind *
nft_stream_kind(const struct nft_stream *ns, int kind)
{
	return (struct nft_kind *)((uint8_t *)ns->kinds +
	    (size_t)kind * kind_size(ns_family(ns)));
}

/* The side's peer address of a kind of a stream of that family. */
static uint8_t *
kind_peer(const struct nft_stream *ns, int kind, int side)
{
	return (uint8_t *)(nft_stream_kind(ns, kind) + 1) +
	    (size_t)side * alen(ns_family(ns));
}

/* An address of `family` into a flow's field (4 or 16 bytes). */
static void
put_addr(int family, const uint8_t *a, uint32_t *a4, struct in6_addr *a6)
{
	if (family == AF_INET6)
		memcpy(a6, a, 16);
	else
		memcpy(a4, a, 4);
}

/*
 * Flow `dir` of a kind: 0 into leg A (peer A -> local A, out from local
 * B to peer B), 1 into leg B.
 */
static void
ns_flow(const struct nft_priv *p, const struct nft_stream *ns, int kind,
    int dir, struct nft_flow *f)
{
	const struct nft_kind *k = nft_stream_kind(ns, kind);
	int in = dir, out = !dir, fam = ns_family(ns);

	memset(f, 0, sizeof(*f));
	f->family = fam;
	put_addr(fam, kind_peer(ns, kind, in), &f->peer_addr, &f->peer6);
	put_addr(fam, p->local[ns_iface(ns, in)].a, &f->local_addr,
	    &f->local6);
	put_addr(fam, p->local[ns_iface(ns, out)].a, &f->out_local_addr,
	    &f->out_local6);
	put_addr(fam, kind_peer(ns, kind, out), &f->out_peer_addr,
	    &f->out_peer6);
	f->peer_port = k->peer_port[in];
	f->local_port = htons((uint16_t)(ns->port[in] + kind));
	f->out_local_port = htons((uint16_t)(ns->port[out] + kind));
	f->out_peer_port = k->peer_port[out];
}

/* All flows of a stream into f[4], in the order A-in RTP, B-in RTP,
 * A-in RTCP, B-in RTCP; returns how many (2 with rtcp-mux, else 4). */
static size_t
ns_flows(const struct nft_priv *p, const struct nft_stream *ns,
    struct nft_flow *f)
{
	size_t n = 0;

	for (int k = 0; k < ns_kinds(ns); k++)
		for (int dir = 0; dir < 2; dir++)
			ns_flow(p, ns, k, dir, &f[n++]);
	return n;
}

static const uint8_t *
ss_addr(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? (const uint8_t *)in6(ss) :
	    (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)ss)->sin6_port :
	    ((const struct sockaddr_in *)ss)->sin_port;
}

/*
 * The compact state of a stream from its latched peers (a new
 * allocation, state pending), or NULL with why; *rc says the error.
 */
static struct nft_stream *
stream_state(const struct relayd *rd, const struct nft_priv *p,
    const struct stream *st, char *why, size_t len, int *rc)
{
	const struct leg *a = &st->leg[SIDE_A], *b = &st->leg[SIDE_B];
	struct sockaddr_storage peer[2][2];	/* [kind][side] */
	struct nft_stream *ns;
	int fa = p->local[a->iface].family, kinds;

	*rc = -EOPNOTSUPP;
	if (a->sdp.rtcp_mux != b->sdp.rtcp_mux) {
		snprintf(why, len, "rtcp-mux on one leg only: RTCP is "
		    "demultiplexed in userspace");
		return NULL;
	}
	if (fa == 0 || p->local[b->iface].family == 0) {
		snprintf(why, len, "the nft backend needs an interface "
		    "address (bind or advertise), not a wildcard");
		return NULL;
	}
	if (fa != p->local[b->iface].family) {
		snprintf(why, len, "IPv4/IPv6 bridging: conntrack NAT cannot "
		    "translate between address families; relayed in userspace");
		return NULL;
	}
	if (fa == AF_INET6 && !p->v6_forwarding) {
		snprintf(why, len, "net.ipv6.conf.all.forwarding is not 1: "
		    "IPv6 streams are relayed in userspace");
		return NULL;
	}
	kinds = a->sdp.rtcp_mux ? 1 : 2;
	for (int k = 0; k < kinds; k++)
		if (!leg_destination(a, (enum sock_kind)k, &peer[k][SIDE_A]) ||
		    !leg_destination(b, (enum sock_kind)k, &peer[k][SIDE_B]) ||
		    peer[k][SIDE_A].ss_family != fa ||
		    peer[k][SIDE_B].ss_family != fa) {
			snprintf(why, len, "a peer's address family is not "
			    "its interface's: relayed in userspace");
			return NULL;
		}
	ns = calloc(1, nft_stream_size(fa, kinds));
	if (ns == NULL) {
		snprintf(why, len, "out of memory");
		*rc = -ENOMEM;
		return NULL;
	}
	ns->flags = (fa == AF_INET6 ? NS_V6 : 0) | (kinds == 2 ? NS_RTCP : 0);
	ns->port[SIDE_A] = a->port;
	ns->port[SIDE_B] = b->port;
	ns->ifaces = (uint8_t)(a->iface | b->iface << 4);
	for (int k = 0; k < kinds; k++)
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			nft_stream_kind(ns, k)->peer_port[side] =
			    port_of(&peer[k][side]);
			memcpy(kind_peer(ns, k, side), ss_addr(&peer[k][side]),
			    alen(fa));
		}
	*rc = 0;
	return ns;
}

/* ---- transactions ---- */

/* One transaction: removals, then installs; 0 or the error with why. */
static int
apply(struct nft_priv *p, const struct nft_rm *rm, size_t nrm,
    struct stream *const *in, size_t nin, char *why, size_t len)
{
	struct nft_flow f[4];
	int rc = nft_tx_begin(p->nft);

	for (size_t i = 0; rc == 0 && i < nrm; i++)
		rc = nft_tx_flows(p->nft, false, f, ns_flows(p, rm[i].ns, f));
	for (size_t i = 0; rc == 0 && i < nin; i++)
		rc = nft_tx_flows(p->nft, true, f,
		    ns_flows(p, in[i]->backend_priv, f));
	if (rc == 0)
		return nft_tx_commit(p->nft, why, len);
	nft_tx_abort(p->nft);
	snprintf(why, len, "building the batch: %s", strerror(-rc));
	return rc;
}

static void
install_failed(struct relayd *rd, struct nft_priv *p, struct stream *st,
    const char *why)
{
	struct nft_stream *ns = st->backend_priv;

	st->path = PATH_USERSPACE;
	st->backend_priv = NULL;
	stream_set_reason(st,
	    "nft install failed: %s", why);
	rlog(rd, LL_WARNING, "install call %s stream %d in nft: %s; staying "
	    "in userspace", st->session->call_id, st->index, why);
	free(ns);
}

static void
installed(struct relayd *rd, struct nft_priv *p, struct stream *st)
{
	struct nft_stream *ns = st->backend_priv;

	backend_stream_carried(rd, st);	/* sockets close this round */
	ns->flags |= NS_INSTALLED;
	nft_stream_kind(ns, 0)->ct_id = 0;	/* held the pending index */
	p->installed++;
	if (ns->flags & NS_V6)	/* literals: no copy per stream */
		stream_set_reason(st, "latched; rewritten by conntrack NAT "
		    "(nft table ip6 " NFT_TABLE ")");
	else
		stream_set_reason(st, "latched; rewritten by conntrack NAT "
		    "(nft table ip " NFT_TABLE ")");
}

static void kind_update(struct relayd *, struct nft_stream *,
    struct stream *, int, const struct ct_counters *, uint64_t, int64_t);

/*
 * The entries' last counts, for streams whose elements just went: no
 * packet is NATed any more (raw_pre makes them notrack), so what the
 * entries hold now is final. The stream is still in memory: it is freed
 * after the loop round (defer_free), and this runs within it.
 */
static void
final_counters(struct relayd *rd, struct nft_priv *p, const struct nft_rm *v,
    size_t n, const struct nft_flow *flows, size_t nf)
{
	struct ct_counters *out = calloc(nf ? nf : 1, sizeof(*out));
	uint64_t now = now_ms();
	int64_t wall = time(NULL);
	size_t k = 0;
	int rc;

	rc = out == NULL ? -ENOMEM : ct_get_flows(p->ct, flows, nf, out);
	if (rc < 0) {
		rlog(rd, LL_WARNING, "nft: reading the final counters of %zu "
		    "removed streams: %s; their last packets are not counted",
		    n, strerror(-rc));
		free(out);
		return;
	}
	for (size_t i = 0; i < n; i++)
		for (int kind = 0; kind < ns_kinds(v[i].ns); kind++)
			kind_update(rd, v[i].ns, v[i].st, kind, &out[k++],
			    now, wall);
	free(out);
}

/*
 * Delete conntrack entries of finished streams. A left entry keeps its
 * NAT binding: a later stream on the same addresses and ports would be
 * forwarded to this call's peers. So a failed delete is kept, retried
 * with the next removals or after CT_RETRY_MS, and counted.
 */
static void
ct_cleanup(struct relayd *rd, struct nft_priv *p, struct nft_flow *f,
    size_t n)
{
	int rc = ct_delete_flows(p->ct, f, n);

	if (rc == 0) {
		if (p->nct_retry > 0)
			rlog(rd, LL_NOTICE, "nft: %zu conntrack entries deleted "
			    "after earlier failures", p->nct_retry);
		free(p->ct_retry == f ? NULL : p->ct_retry);
		p->ct_retry = NULL;
		p->nct_retry = 0;
		free(f);
		return;
	}
	rd->totals.kernel_remove_errors++;
	p->ct_retry_ms = now_ms() + CT_RETRY_MS;
	rlog(rd, LL_WARNING, "nft: deleting %zu conntrack entries: %s; kept, "
	    "retried", n, strerror(-rc));
	if (p->ct_retry != f)
		free(p->ct_retry);
	p->ct_retry = f;
	p->nct_retry = n;
}

static void rebuild(struct relayd *, struct nft_priv *);

/*
 * Removals whose transaction failed go to the end of rm and stay queued
 * (their elements still forward); returns how many went through.
 */
static size_t
rm_partition(struct nft_priv *p, bool *failed)
{
	size_t done = 0;

	for (size_t i = 0; failed != NULL && i < p->nrm; i++)
		if (!failed[i]) {
			struct nft_rm t = p->rm[done];
			p->rm[done] = p->rm[i];
			p->rm[i] = t;
			failed[i] = failed[done];
			failed[done++] = false;
		}
	return failed == NULL ? p->nrm : done;
}

/* One transaction for the round; on failure, one per change. */
static bool *
commit_round(struct relayd *rd, struct nft_priv *p)
{
	char why[256];
	bool *failed;

	if ((p->npending == 0 && p->nrm == 0) || apply(p, p->rm, p->nrm,
	    p->pending, p->npending, why, sizeof(why)) == 0)
		return NULL;
	rlog(rd, LL_NOTICE, "nft: batch of %zu installs, %zu removals failed "
	    "(%s): retrying one by one", p->npending, p->nrm, why);
	failed = calloc(p->nrm + 1, sizeof(*failed));
	for (size_t i = 0; i < p->nrm; i++)
		if (apply(p, &p->rm[i], 1, NULL, 0, why, sizeof(why)) != 0) {
			/* Its elements still forward: never forget them. */
			rlog(rd, LL_WARNING, "nft: remove: %s; kept, retried "
			    "at the next flush", why);
			rd->totals.kernel_remove_errors++;
			if (failed != NULL)
				failed[i] = true;
		}
	for (size_t i = 0; i < p->npending; i++)
		if (apply(p, NULL, 0, &p->pending[i], 1, why,
		    sizeof(why)) != 0) {
			install_failed(rd, p, p->pending[i], why);
			p->pending[i] = NULL;
		}
	return failed;
}

static void
nft_flush(struct relayd *rd, void *priv)
{
	struct nft_priv *p = priv;
	struct nft_flow *flows;
	bool *failed;
	size_t nf = 0, done;

	if (p->rebuild)
		rebuild(rd, p);
	if (p->npending == 0 && p->nrm == 0 &&
	    (p->nct_retry == 0 || now_ms() < p->ct_retry_ms))
		return;
	failed = commit_round(rd, p);
	done = rm_partition(p, failed);
	free(failed);
	for (size_t i = 0; i < p->npending; i++)
		if (p->pending[i] != NULL)
			installed(rd, p, p->pending[i]);
	p->npending = 0;
	/*
	 * Conntrack entries to read and delete: each removed stream's (one
	 * lookup per kind finds the entry whichever side created it), and
	 * those whose delete failed before. Installs need none: until its
	 * elements existed the stream's packets were notrack.
	 */
	flows = malloc((done * 4 + p->nct_retry + 1) * sizeof(*flows));
	for (size_t i = 0; flows != NULL && i < done; i++)
		for (int k = 0; k < ns_kinds(p->rm[i].ns); k++)
			ns_flow(p, p->rm[i].ns, k, 0, &flows[nf++]);
	if (nf > 0)
		final_counters(rd, p, p->rm, done, flows, nf);
	for (size_t i = 0; i < p->nrm; i++) {
		if (i < done) {
			free(p->rm[i].ns);
			continue;
		}
		p->rm[i].st = NULL;	/* the stream is freed after this round */
		p->rm[i - done] = p->rm[i];
	}
	p->nrm -= done;
	if (flows == NULL) {
		rd->totals.kernel_remove_errors++;
		rlog(rd, LL_ERROR, "nft: out of memory: the conntrack entries "
		    "of %zu removed streams are left to time out", done);
		return;
	}
	if (p->nct_retry > 0)
		memcpy(flows + nf, p->ct_retry, p->nct_retry * sizeof(*flows));
	nf += p->nct_retry;
	if (nf > 0)
		ct_cleanup(rd, p, flows, nf);
	else
		free(flows);
}

/* ---- backend_ops ---- */

static void
free_priv(struct nft_priv *p)
{
	if (p == NULL)
		return;
	nft_sock_close(p->nft);
	ct_close(p->ct);
	free(p->old);
	free(p->adopted);
	free(p->pending);
	for (size_t i = 0; i < p->nrm; i++)
		free(p->rm[i].ns);
	free(p->rm);
	free(p->ct_retry);
	free(p);
}

/* A fresh table (atomically replacing ours, if any) with the adopted flows. */
static int
build_table(struct relayd *rd, struct nft_priv *p, char *why, size_t len)
{
	int rc;

	rc = nft_tx_begin(p->nft);
	if (rc == 0)
		rc = nft_tx_table_build(p->nft, p->existed, p->existed6,
		    p->port_min, p->port_max, rd->conf.nifaces, &p->addrs);
	if (rc == 0 && p->nadopted > 0) {
		struct nft_flow *f = malloc(p->nadopted * sizeof(*f));
		if (f == NULL)
			rc = -ENOMEM;
		for (size_t i = 0; rc == 0 && i < p->nadopted; i++)
			nft_elem_flow(&p->adopted[i], &f[i]);
		if (rc == 0)
			rc = nft_tx_flows(p->nft, true, f, p->nadopted);
		free(f);
	}
	if (rc != 0) {
		nft_tx_abort(p->nft);
		snprintf(why, len, "building table ip %s: %s", NFT_TABLE,
		    strerror(-rc));
		return rc;
	}
	rc = nft_tx_commit(p->nft, why, len);
	if (rc != 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "%s", why);
		snprintf(why, len, "creating table ip %s failed (%s): no "
		    "nftables NAT support? (nf_tables, nf_nat, nft_chain_nat, "
		    "nf_conntrack needed)", NFT_TABLE, msg);
		return rc;
	}
	p->existed = true;
	p->existed6 = p->addrs.n6 > 0;
	return 0;
}

/* After adoption: one table with exactly the adopted flows; other ct gone. */
static void
rebuild(struct relayd *rd, struct nft_priv *p)
{
	char why[320];
	int rc;

	p->rebuild = false;
	rc = build_table(rd, p, why, sizeof(why));
	if (rc != 0) {
		rlog(rd, LL_ERROR, "nft: rebuilding the table after restart: %s",
		    why);
		return;
	}
	rc = ct_flush_ours(p->ct, p->adopted, p->nadopted);
	rlog(rd, LL_NOTICE, "nft: table rebuilt with %zu adopted streams (%zu "
	    "flows); %d stale conntrack entries deleted", p->installed,
	    p->nadopted, rc);
	free(p->old);
	p->old = NULL;
	p->nold = 0;
}

static int
nft_open(struct relayd *rd, void **privp, char *why, size_t len)
{
	struct nft_priv *p;
	int rc;

	if ((rc = preconditions(rd, why, len)) < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	p->port_min = rd->conf.port_min;
	p->port_max = rd->conf.port_max;
	relay_addrs(rd, p);
	v6_check(rd, p);
	if ((rc = nft_sock_open(&p->nft)) < 0 || (rc = ct_open(&p->ct)) < 0) {
		snprintf(why, len, "netlink socket: %s", strerror(-rc));
		free_priv(p);
		return rc;
	}
	rc = nft_table_exists(p->nft, AF_INET);
	if (rc < 0) {
		snprintf(why, len, "nftables not available: %s", strerror(-rc));
		free_priv(p);
		return rc;
	}
	p->existed = rc == 1;
	p->existed6 = nft_table_exists(p->nft, AF_INET6) == 1;
	if (p->existed && nft_dump_keys(p->nft, AF_INET, &p->old,
	    &p->nold) == 0 && (!p->existed6 || nft_dump_keys(p->nft,
	    AF_INET6, &p->old, &p->nold) == 0)) {
		/* A previous relayd left it: keep it until adoption is done. */
		qsort(p->old, p->nold, sizeof(*p->old), nft_elem_cmp);
		p->rebuild = true;
		rlog(rd, LL_NOTICE, "nft: table ip %s exists with %zu flows "
		    "(ip and ip6 tables): kept for adoption", NFT_TABLE,
		    p->nold);
	} else {
		if ((rc = build_table(rd, p, why, len)) != 0) {
			free_priv(p);
			return rc < 0 ? rc : -rc;
		}
		/* Entries from before: ours, or any on our ports. */
		rc = ct_flush_ours(p->ct, NULL, 0);
		if (rc > 0)
			rlog(rd, LL_NOTICE, "nft: deleted %d stale conntrack "
			    "entries of ours", rc);
		rc = ct_flush_ports(p->ct, p->port_min, p->port_max,
		    &p->addrs);
		if (rc > 0)
			rlog(rd, LL_NOTICE, "nft: deleted %d conntrack entries "
			    "on relay ports made before start", rc);
	}
	*privp = p;
	return 0;
}

static void
nft_close(struct relayd *rd, void *priv)
{
	struct nft_priv *p = priv;
	char why[256];
	int rc;

	for (size_t i = 0; i < p->npending; i++) {
		free(p->pending[i]->backend_priv);
		p->pending[i]->backend_priv = NULL;
	}
	p->npending = 0;	/* rm and ct_retry: the table and entries go */
	rc = nft_tx_begin(p->nft);
	if (rc == 0 && (rc = nft_tx_table_delete(p->nft, AF_INET)) == 0 &&
	    (!p->existed6 || (rc = nft_tx_table_delete(p->nft,
	    AF_INET6)) == 0))
		rc = nft_tx_commit(p->nft, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", strerror(-rc));
	if (rc != 0)
		rlog(rd, LL_WARNING, "nft: deleting table ip %s: %s", NFT_TABLE,
		    why);
	rc = ct_flush_ours(p->ct, NULL, 0);
	if (rc < 0)
		rlog(rd, LL_WARNING, "nft: flushing our conntrack entries: %s",
		    strerror(-rc));
	else
		rlog(rd, LL_INFO, "nft: table ip %s deleted, %d conntrack "
		    "entries flushed", NFT_TABLE, rc);
	unbind_free(rd);	/* sockets of streams it carried: none to close */
	free_priv(p);
}

/*
 * A pending stream's index in p->pending is kept in its first kind's
 * ct_id, unused until the stream is installed (4 bytes less per stream).
 */
static uint32_t *
pidx(struct nft_stream *ns)
{
	return &nft_stream_kind(ns, 0)->ct_id;
}

static int
push_pending(struct nft_priv *p, struct stream *st)
{
	if (p->npending == p->pending_cap) {
		size_t cap = p->pending_cap ? p->pending_cap * 2 : 256;
		struct stream **v = realloc(p->pending, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		p->pending = v;
		p->pending_cap = cap;
	}
	*pidx(st->backend_priv) = (uint32_t)p->npending;
	p->pending[p->npending++] = st;
	return 0;
}

static int
nft_install(struct relayd *rd, void *priv, struct stream *st)
{
	struct nft_priv *p = priv;
	struct nft_stream *ns;
	char why[256];
	int rc;

	ns = stream_state(rd, p, st, why, sizeof(why), &rc);
	if (ns == NULL) {
		stream_set_reason(st, "%s", why);
		return rc;
	}
	st->backend_priv = ns;
	if ((rc = push_pending(p, st)) < 0) {
		st->backend_priv = NULL;
		free(ns);
		return rc;
	}
	stream_set_reason(st,
	    "latched; entering the kernel (nft)");
	return 0;
}

static int
nft_remove(struct relayd *rd, void *priv, struct stream *st)
{
	struct nft_priv *p = priv;
	struct nft_stream *ns = st->backend_priv;
	struct nft_flow f[4];
	char why[256];

	if (ns == NULL)
		return 0;
	st->backend_priv = NULL;
	if (!(ns->flags & NS_INSTALLED)) {
		size_t i = *pidx(ns);
		p->pending[i] = p->pending[--p->npending];
		if (i < p->npending)	/* another stream took its place */
			*pidx(p->pending[i]->backend_priv) = (uint32_t)i;
		free(ns);
		return 0;
	}
	p->installed--;
	if (p->nrm == p->rm_cap) {
		size_t cap = p->rm_cap ? p->rm_cap * 2 : 256;
		struct nft_rm *v = realloc(p->rm, cap * sizeof(*v));
		if (v == NULL) {
			/* No room to queue it: its elements go now. */
			struct nft_rm one = { .ns = ns, .st = st };
			int rc = apply(p, &one, 1, NULL, 0, why, sizeof(why));
			if (rc == 0)
				rc = ct_delete_flows(p->ct, f,
				    ns_flows(p, ns, f));
			if (rc != 0) {
				rd->totals.kernel_remove_errors++;
				rlog(rd, LL_ERROR, "nft: out of memory queueing "
				    "a removal, and removing at once failed "
				    "(%s): its flows stay until the table is "
				    "rebuilt", rc < 0 ? strerror(-rc) : why);
			}
			free(ns);
			return rc > 0 ? -EIO : rc;
		}
		p->rm = v;
		p->rm_cap = cap;
	}
	/* Taken out at the flush, which reads the final counters into st. */
	p->rm[p->nrm].ns = ns;
	p->rm[p->nrm++].st = st;
	return 0;
}

void
nft_kind_count(struct nft_kind *k, const struct ct_counters *c,
    uint32_t pkts[2], uint32_t bytes[2])
{
	int a = c->orig_from_peer ? 0 : 1;	/* counter index into leg A */
	uint32_t p[2], b[2];

	if (!c->found || c->id != k->ct_id) {
		/* A new entry (the one we knew ended: what it counted up to
		 * the last reading is in the stats already), or none. */
		memset(k->pkts, 0, sizeof(k->pkts));
		memset(k->bytes, 0, sizeof(k->bytes));
		k->ct_id = c->found ? c->id : 0;
	}
	if (!c->found) {
		pkts[0] = pkts[1] = bytes[0] = bytes[1] = 0;
		return;
	}
	p[SIDE_A] = (uint32_t)c->pkts[a];
	b[SIDE_A] = (uint32_t)c->bytes[a];
	p[SIDE_B] = (uint32_t)c->pkts[!a];
	b[SIDE_B] = (uint32_t)c->bytes[!a];
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		pkts[side] = p[side] - k->pkts[side];	/* modulo 2^32 */
		bytes[side] = b[side] - k->bytes[side];
		k->pkts[side] = p[side];
		k->bytes[side] = b[side];
	}
}

/*
 * Add what the kernel counted since the last reading of a kind's entry
 * to the legs' stats; packets relayed in userspace meanwhile (stragglers
 * queued at the switch, or before it) stay counted. A removal whose
 * stream is gone (st NULL) only reads.
 */
static void
kind_update(struct relayd *rd, struct nft_stream *ns, struct stream *st,
    int kind, const struct ct_counters *c, uint64_t now, int64_t wall)
{
	uint32_t pk[2], by[2];

	nft_kind_count(nft_stream_kind(ns, kind), c, pk, by);
	for (int side = SIDE_A; st != NULL && side <= SIDE_B; side++) {
		struct leg_stats *ls = &st->leg[side].stats;
		if (pk[side] == 0)
			continue;
		ls->packets += pk[side];
		ls->kpackets += pk[side];
		ls->bytes += by[side];
		ls->kbytes += by[side];
		rd->totals.packets += pk[side];
		rd->totals.bytes += by[side];
		ls->last_seen_ms = now;
		ls->last_seen_wall = wall;
	}
}

static int
nft_read_counters(struct relayd *rd, void *priv, struct stream **sts,
    size_t n)
{
	struct nft_priv *p = priv;
	struct stream **which;
	struct nft_flow *flows;
	struct ct_counters *out;
	uint64_t now = now_ms();
	int64_t wall = time(NULL);
	size_t nw = 0, nf = 0;
	uint64_t period = COUNTER_PERIOD_MS;
	int rc;

	if (p->installed * 2 * 1000 / CT_READS_PER_S > period)
		period = p->installed * 2 * 1000 / CT_READS_PER_S;
	/* Read often enough for the inactivity timeout to see activity. */
	if (rd->conf.inactivity_timeout > 0 &&
	    rd->conf.inactivity_timeout * 1000 / 4 < period)
		period = (uint64_t)(rd->conf.inactivity_timeout * 1000 / 4);
	nft_flush(rd, p);
	which = malloc(n * sizeof(*which));
	flows = malloc(2 * n * sizeof(*flows));
	out = malloc(2 * n * sizeof(*out));
	if (which == NULL || flows == NULL || out == NULL) {
		free(which);
		free(flows);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct nft_stream *ns = sts[i]->backend_priv;
		if (ns == NULL || !(ns->flags & NS_INSTALLED))
			continue;
		if (n > SMALL_BATCH && (uint64_t)(uint16_t)(READ_TICK(now) -
		    ns->last_read) * READ_TICK_MS < period)
			continue;
		ns->last_read = READ_TICK(now);
		which[nw++] = sts[i];
		for (int k = 0; k < ns_kinds(ns); k++)
			ns_flow(p, ns, k, 0, &flows[nf++]);
	}
	rc = nf > 0 ? ct_get_flows(p->ct, flows, nf, out) : 0;
	if (rc == 0) {
		nf = 0;
		for (size_t i = 0; i < nw; i++) {
			struct nft_stream *ns = which[i]->backend_priv;
			for (int k = 0; k < ns_kinds(ns); k++)
				kind_update(rd, ns, which[i], k, &out[nf++],
				    now, wall);
		}
	} else {
		rlog(rd, LL_WARNING, "nft: reading %zu conntrack counters: %s",
		    nf, strerror(-rc));
	}
	free(which);
	free(flows);
	free(out);
	return rc;
}

static int
nft_adopt(struct relayd *rd, void *priv, struct stream *st)
{
	struct nft_priv *p = priv;
	struct nft_stream *ns;
	struct nft_flow f[4];
	size_t nf;
	char why[160];
	int rc;

	if (!p->rebuild || p->nold == 0)
		return -ENOENT;
	ns = stream_state(rd, p, st, why, sizeof(why), &rc);
	if (ns == NULL)
		return rc == -ENOMEM ? rc : -ENOENT;
	nf = ns_flows(p, ns, f);
	for (size_t i = 0; i < nf; i++) {
		struct nft_elem e, *found;
		nft_flow_elem(&f[i], &e);
		found = bsearch(&e, p->old, p->nold, sizeof(e), nft_elem_cmp);
		if (found == NULL || memcmp(found->data, e.data,
		    sizeof(e.data)) != 0) {
			free(ns);
			return -ENOENT;
		}
	}
	if (p->nadopted + nf > p->adopted_cap) {
		size_t cap = p->adopted_cap ? p->adopted_cap * 2 : 1024;
		struct nft_elem *v;
		while (cap < p->nadopted + nf)
			cap *= 2;
		v = realloc(p->adopted, cap * sizeof(*v));
		if (v == NULL) {
			free(ns);
			return -ENOMEM;
		}
		p->adopted = v;
		p->adopted_cap = cap;
	}
	for (size_t i = 0; i < nf; i++)
		nft_flow_elem(&f[i], &p->adopted[p->nadopted++]);
	/* The journal kept the userspace counts only (journal.c): the
	 * entries' counts since their creation are added on the next read. */
	st->backend_priv = ns;
	installed(rd, p, st);
	return 0;
}

static void
nft_adopt_done(struct relayd *rd, void *priv)
{
	struct nft_priv *p = priv;

	if (p->rebuild)
		rebuild(rd, p);
}

const struct backend_ops backend_nft_ops = {
	.name = "nft",
	.open = nft_open,
	.close = nft_close,
	.install = nft_install,
	.remove = nft_remove,
	.read_counters = nft_read_counters,
	.adopt = nft_adopt,
	.adopt_done = nft_adopt_done,
	.flush = nft_flush,
	.deferred_install = true,
};
