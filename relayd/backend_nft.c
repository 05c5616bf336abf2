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

enum ns_state { NS_PENDING, NS_INSTALLED };

/* One stream in the kernel (or about to be). */
struct nft_stream {
	struct stream	*st;
	enum ns_state	 state;
	size_t		 nflows;		/* 2 (rtcp-mux) or 4 */
	struct nft_flow	 flows[4];	/* A-in RTP, B-in RTP, A-in RTCP, B-in RTCP */
	uint64_t	 last_read_ms;
	struct {
		uint32_t	 id;
		uint64_t	 pkts[2], bytes[2];	/* into leg A, leg B */
	} entry[2];				/* RTP, RTCP */
	uint64_t	 base_pkts[2], base_bytes[2];	/* ended entries, per leg */
	uint64_t	 seen_pkts[2], seen_bytes[2];	/* kernel totals added */
	size_t		 pidx;			/* index in pending */
};

struct nft_priv {
	struct nft_sock	 *nft;
	struct ct_sock	 *ct;
	uint16_t	  port_min, port_max;
	struct nft_addrs  addrs;		/* notrack scope */
	bool		  v6_forwarding;	/* else IPv6 stays in userspace */
	bool		  rebuild;		/* table kept for adoption */
	bool		  existed, existed6;	/* ip, ip6 table */
	struct nft_elem	 *old;			/* its elements, sorted */
	size_t		  nold;
	struct nft_elem	 *adopted;
	size_t		  nadopted, adopted_cap;
	struct nft_stream **pending;
	size_t		  npending, pending_cap;
	struct nft_stream **rm;			/* elements to take out */
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

/* Address of ss into the flow's field of its family (4 or 6). */
static void
put_addr(const struct sockaddr_storage *ss, uint32_t *a4, struct in6_addr *a6)
{
	if (ss->ss_family == AF_INET6)
		*a6 = *in6(ss);
	else
		*a4 = ((const struct sockaddr_in *)ss)->sin_addr.s_addr;
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)ss)->sin6_port :
	    ((const struct sockaddr_in *)ss)->sin_port;
}

/* A flow peer -> local that leaves from out_local to out_peer. */
static void
make_flow(struct nft_flow *f, const struct sockaddr_storage *peer,
    const struct sockaddr_storage *local, uint16_t lport,
    const struct sockaddr_storage *out_local, uint16_t olport,
    const struct sockaddr_storage *out_peer)
{
	memset(f, 0, sizeof(*f));
	f->family = local->ss_family;
	put_addr(peer, &f->peer_addr, &f->peer6);
	put_addr(local, &f->local_addr, &f->local6);
	put_addr(out_local, &f->out_local_addr, &f->out_local6);
	put_addr(out_peer, &f->out_peer_addr, &f->out_peer6);
	f->peer_port = port_of(peer);
	f->local_port = htons(lport);
	f->out_local_port = htons(olport);
	f->out_peer_port = port_of(out_peer);
}

/* Fill ns->flows from the stream's latched peers; why on failure. */
static int
stream_flows(const struct relayd *rd, const struct nft_priv *p,
    const struct stream *st, struct nft_stream *ns, char *why, size_t len)
{
	const struct leg *a = &st->leg[SIDE_A], *b = &st->leg[SIDE_B];
	struct sockaddr_storage la, lb, pa, pb;
	size_t kinds;

	if (a->sdp.rtcp_mux != b->sdp.rtcp_mux) {
		snprintf(why, len, "rtcp-mux on one leg only: RTCP is "
		    "demultiplexed in userspace");
		return -EOPNOTSUPP;
	}
	if (local_addr(rd, a->iface, &la) < 0 ||
	    local_addr(rd, b->iface, &lb) < 0) {
		snprintf(why, len, "the nft backend needs an interface "
		    "address (bind or advertise), not a wildcard");
		return -EOPNOTSUPP;
	}
	if (la.ss_family != lb.ss_family) {
		snprintf(why, len, "IPv4/IPv6 bridging: conntrack NAT cannot "
		    "translate between address families; relayed in userspace");
		return -EOPNOTSUPP;
	}
	if (la.ss_family == AF_INET6 && !p->v6_forwarding) {
		snprintf(why, len, "net.ipv6.conf.all.forwarding is not 1: "
		    "IPv6 streams are relayed in userspace");
		return -EOPNOTSUPP;
	}
	kinds = a->sdp.rtcp_mux ? 1 : 2;
	ns->nflows = 2 * kinds;
	for (size_t k = 0; k < kinds; k++) {
		uint16_t off = (uint16_t)k;
		if (!leg_destination(a, (enum sock_kind)k, &pa) ||
		    !leg_destination(b, (enum sock_kind)k, &pb) ||
		    pa.ss_family != la.ss_family ||
		    pb.ss_family != lb.ss_family) {
			snprintf(why, len, "a peer's address family is not "
			    "its interface's: relayed in userspace");
			return -EOPNOTSUPP;
		}
		make_flow(&ns->flows[2 * k], &pa, &la, a->port + off, &lb,
		    b->port + off, &pb);
		make_flow(&ns->flows[2 * k + 1], &pb, &lb, b->port + off, &la,
		    a->port + off, &pa);
	}
	return 0;
}

/* ---- transactions ---- */

/* One transaction: removals, then installs; 0 or the error with why. */
static int
apply(struct nft_priv *p, struct nft_stream **rm, size_t nrm,
    struct nft_stream **in, size_t nin, char *why, size_t len)
{
	int rc = nft_tx_begin(p->nft);

	for (size_t i = 0; rc == 0 && i < nrm; i++)
		rc = nft_tx_flows(p->nft, false, rm[i]->flows, rm[i]->nflows);
	for (size_t i = 0; rc == 0 && i < nin; i++)
		rc = nft_tx_flows(p->nft, true, in[i]->flows, in[i]->nflows);
	if (rc == 0)
		return nft_tx_commit(p->nft, why, len);
	nft_tx_abort(p->nft);
	snprintf(why, len, "building the batch: %s", strerror(-rc));
	return rc;
}

static void
install_failed(struct relayd *rd, struct nft_priv *p, struct nft_stream *ns,
    const char *why)
{
	struct stream *st = ns->st;

	st->path = PATH_USERSPACE;
	st->backend_priv = NULL;
	stream_set_reason(st,
	    "nft install failed: %s", why);
	rlog(rd, LL_WARNING, "install call %s stream %d in nft: %s; staying "
	    "in userspace", st->session->call_id, st->index, why);
	free(ns);
}

static void
installed(struct relayd *rd, struct nft_priv *p, struct nft_stream *ns)
{
	backend_stream_carried(rd, ns->st);	/* sockets close this round */
	ns->state = NS_INSTALLED;
	p->installed++;
	if (ns->flows[0].family == AF_INET6)	/* literals: no copy per stream */
		stream_set_reason(ns->st, "latched; rewritten by conntrack NAT "
		    "(nft table ip6 " NFT_TABLE ")");
	else
		stream_set_reason(ns->st, "latched; rewritten by conntrack NAT "
		    "(nft table ip " NFT_TABLE ")");
}

static void entry_update(struct nft_stream *, int, const struct ct_counters *);
static void stream_update(struct relayd *, struct nft_stream *, uint64_t,
    int64_t);

/*
 * The entries' last counts, for streams whose elements just went: no
 * packet is NATed any more (raw_pre makes them notrack), so what the
 * entries hold now is final. The stream is still in memory: it is freed
 * after the loop round (defer_free), and this runs within it.
 */
static void
final_counters(struct relayd *rd, struct nft_priv *p, struct nft_stream **v,
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
	for (size_t i = 0; i < n; i++) {
		for (size_t kind = 0; kind < v[i]->nflows / 2; kind++)
			entry_update(v[i], (int)kind, &out[k++]);
		if (v[i]->st != NULL)
			stream_update(rd, v[i], now, wall);
	}
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
			struct nft_stream *t = p->rm[done];
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
		for (size_t f = 0; f < p->rm[i]->nflows; f += 2)
			flows[nf++] = p->rm[i]->flows[f];
	if (nf > 0)
		final_counters(rd, p, p->rm, done, flows, nf);
	for (size_t i = 0; i < p->nrm; i++) {
		if (i < done) {
			free(p->rm[i]);
			continue;
		}
		p->rm[i]->st = NULL;	/* the stream is freed after this round */
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
		free(p->rm[i]);
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

	for (size_t i = 0; i < p->npending; i++)
		free(p->pending[i]);
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

static int
push_pending(struct nft_priv *p, struct nft_stream *ns)
{
	if (p->npending == p->pending_cap) {
		size_t cap = p->pending_cap ? p->pending_cap * 2 : 256;
		struct nft_stream **v = realloc(p->pending, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		p->pending = v;
		p->pending_cap = cap;
	}
	ns->pidx = p->npending;
	p->pending[p->npending++] = ns;
	return 0;
}

static int
nft_install(struct relayd *rd, void *priv, struct stream *st)
{
	struct nft_priv *p = priv;
	struct nft_stream *ns = calloc(1, sizeof(*ns));
	char why[256];
	int rc;

	if (ns == NULL)
		return -ENOMEM;
	rc = stream_flows(rd, p, st, ns, why, sizeof(why));
	if (rc < 0)
		stream_set_reason(st, "%s", why);
	else
		rc = push_pending(p, ns);
	if (rc < 0) {
		free(ns);
		return rc;
	}
	ns->st = st;
	ns->state = NS_PENDING;
	st->backend_priv = ns;
	stream_set_reason(st,
	    "latched; entering the kernel (nft)");
	return 0;
}

static int
nft_remove(struct relayd *rd, void *priv, struct stream *st)
{
	struct nft_priv *p = priv;
	struct nft_stream *ns = st->backend_priv;
	char why[256];

	if (ns == NULL)
		return 0;
	st->backend_priv = NULL;
	if (ns->state == NS_PENDING) {
		size_t i = ns->pidx;
		p->pending[i] = p->pending[--p->npending];
		p->pending[i]->pidx = i;
		free(ns);
		return 0;
	}
	p->installed--;
	if (p->nrm == p->rm_cap) {
		size_t cap = p->rm_cap ? p->rm_cap * 2 : 256;
		struct nft_stream **v = realloc(p->rm, cap * sizeof(*v));
		if (v == NULL) {
			/* No room to queue it: its elements go now. */
			int rc = apply(p, &ns, 1, NULL, 0, why, sizeof(why));
			if (rc == 0)
				rc = ct_delete_flows(p->ct, ns->flows, ns->nflows);
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
	ns->st = st;
	p->rm[p->nrm++] = ns;
	return 0;
}

/* Fold one entry reading into the stream's per-leg counters. */
static void
entry_update(struct nft_stream *ns, int kind, const struct ct_counters *c)
{
	int a = c->orig_from_peer ? 0 : 1;	/* counter index into leg A */

	if (!c->found || c->id != ns->entry[kind].id) {
		/* The entry we knew ended (timeout): keep what it counted. */
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			ns->base_pkts[side] += ns->entry[kind].pkts[side];
			ns->base_bytes[side] += ns->entry[kind].bytes[side];
		}
		memset(&ns->entry[kind], 0, sizeof(ns->entry[kind]));
	}
	if (!c->found)
		return;
	ns->entry[kind].id = c->id;
	ns->entry[kind].pkts[SIDE_A] = c->pkts[a];
	ns->entry[kind].bytes[SIDE_A] = c->bytes[a];
	ns->entry[kind].pkts[SIDE_B] = c->pkts[!a];
	ns->entry[kind].bytes[SIDE_B] = c->bytes[!a];
}

/*
 * Add what the kernel counted since the last reading to the legs' stats;
 * packets relayed in userspace meanwhile (stragglers queued at the
 * switch, or before it) stay counted.
 */
static void
stream_update(struct relayd *rd, struct nft_stream *ns, uint64_t now,
    int64_t wall)
{
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		struct leg_stats *ls = &ns->st->leg[side].stats;
		uint64_t pk = ns->base_pkts[side], by = ns->base_bytes[side];
		for (int k = 0; k < 2; k++) {
			pk += ns->entry[k].pkts[side];
			by += ns->entry[k].bytes[side];
		}
		if (pk > ns->seen_pkts[side]) {
			ls->packets += pk - ns->seen_pkts[side];
			ls->kpackets += pk - ns->seen_pkts[side];
			rd->totals.packets += pk - ns->seen_pkts[side];
			if (by > ns->seen_bytes[side]) {
				ls->bytes += by - ns->seen_bytes[side];
				ls->kbytes += by - ns->seen_bytes[side];
				rd->totals.bytes += by - ns->seen_bytes[side];
			}
			ls->last_seen_ms = now;
			ls->last_seen_wall = wall;
		}
		ns->seen_pkts[side] = pk;
		ns->seen_bytes[side] = by;
	}
}

static int
nft_read_counters(struct relayd *rd, void *priv, struct stream **sts,
    size_t n)
{
	struct nft_priv *p = priv;
	struct nft_stream **which;
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
		if (ns == NULL || ns->state != NS_INSTALLED)
			continue;
		if (n > SMALL_BATCH && now - ns->last_read_ms < period)
			continue;
		ns->last_read_ms = now;
		which[nw++] = ns;
		for (size_t k = 0; k < ns->nflows / 2; k++)
			flows[nf++] = ns->flows[2 * k];
	}
	rc = nf > 0 ? ct_get_flows(p->ct, flows, nf, out) : 0;
	if (rc == 0) {
		nf = 0;
		for (size_t i = 0; i < nw; i++) {
			for (size_t k = 0; k < which[i]->nflows / 2; k++)
				entry_update(which[i], (int)k, &out[nf++]);
			stream_update(rd, which[i], now, wall);
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
	char why[160];

	if (!p->rebuild || p->nold == 0)
		return -ENOENT;
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL)
		return -ENOMEM;
	if (stream_flows(rd, p, st, ns, why, sizeof(why)) < 0) {
		free(ns);
		return -ENOENT;
	}
	for (size_t i = 0; i < ns->nflows; i++) {
		struct nft_elem e, *found;
		nft_flow_elem(&ns->flows[i], &e);
		found = bsearch(&e, p->old, p->nold, sizeof(e), nft_elem_cmp);
		if (found == NULL || memcmp(found->data, e.data,
		    sizeof(e.data)) != 0) {
			free(ns);
			return -ENOENT;
		}
	}
	if (p->nadopted + ns->nflows > p->adopted_cap) {
		size_t cap = p->adopted_cap ? p->adopted_cap * 2 : 1024;
		struct nft_elem *v;
		while (cap < p->nadopted + ns->nflows)
			cap *= 2;
		v = realloc(p->adopted, cap * sizeof(*v));
		if (v == NULL) {
			free(ns);
			return -ENOMEM;
		}
		p->adopted = v;
		p->adopted_cap = cap;
	}
	for (size_t i = 0; i < ns->nflows; i++) {
		nft_flow_elem(&ns->flows[i], &p->adopted[p->nadopted++]);
	}
	/* The journal kept the userspace counts only (journal.c): the
	 * entries' counts since their creation are added on the next read. */
	ns->st = st;
	st->backend_priv = ns;
	installed(rd, p, ns);
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
