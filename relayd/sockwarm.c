/*
 * sockwarm.c: a fresh relay binds and parks every free pair of its range,
 * so that its first offers bind nothing.
 *
 * Parked sockets (sockpark.c) made an offer+answer four times cheaper,
 * but only once the ring had handed out every pair once: a relay that
 * had just started (or restarted after a crash, when a carrier's calls
 * all come back at once) bound four sockets per stream and offered at a
 * quarter of the rate (bench/findings/offer-rate.md). Here the relay binds
 * them itself when it starts, as if a call had ended on each pair.
 *
 * - In slices (WARM_SLICE pairs, about 2 ms, before each epoll_wait, which
 *   does not block until the range is done): the control socket answers
 *   at once and a large range (128,000 sockets for two interfaces of the
 *   whole port space, a second or more) never holds up a request for
 *   long. An offer in the meantime takes a pair not bound yet and binds
 *   it as before; the pairs are the ring's, wherever it is.
 * - Only free pairs (ports_is_free): after a restart the streams taken
 *   back from the journal keep their ports, without sockets if the kernel
 *   carries them (legsock.c); a pair parked already is left alone.
 * - A port another process has bound is counted (stats
 *   ports_held_elsewhere), logged with the first few of each interface,
 *   and stays in the ring: a leg that gets its pair binds it then, or
 *   takes another pair if it is still held (session.c leg_open). No port
 *   is lost.
 * - Not when parking is off (RLIMIT_NOFILE below the range: main.c), and
 *   not with a backend that holds offers in the kernel (kmod: an offer
 *   binds nothing, and would close the parked pair it takes).
 * - Security as sockpark.c: a parked socket has no owner; what reaches it
 *   is read and dropped; ports are picked from the ring as before.
 * - Afterwards, the pairs of a call a kernel backend carried (it had no
 *   sockets, legsock.c) are bound and parked again the same way when the
 *   call ends (warm_again), so that an nft relay keeps offering from
 *   parked pairs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

static size_t
pool_pairs(const struct port_pool *pp)
{
	return pp->cap;
}

void
warm_start(struct relayd *rd)
{
	struct warm_state *w = &rd->warm;

	warm_free(rd);
	memset(w, 0, sizeof(*w));
	if (!rd->park_on) {
		rlog(rd, LL_INFO, "ports are bound at each offer: parking is "
		    "off (RLIMIT_NOFILE does not cover the range)");
		return;
	}
	if (rd->backend.ops != NULL && rd->backend.ops->hold != NULL) {
		rlog(rd, LL_INFO, "ports are not bound at start: the %s "
		    "backend holds offered ports without sockets",
		    rd->backend.ops->name);
		return;
	}
	w->pending = rd->conf.nifaces > 0;
	w->started_ms = now_ms();
	for (int i = 0; i < rd->conf.nifaces; i++)
		w->again_cap += pool_pairs(&rd->pools[i]);
	/* without it, pairs freed without sockets bind at their offer */
	if ((w->again = calloc(w->again_cap, sizeof(*w->again))) == NULL)
		w->again_cap = 0;
}

void
warm_free(struct relayd *rd)
{
	free(rd->warm.again);
	rd->warm.again = NULL;
	rd->warm.again_cap = rd->warm.again_n = 0;
}

bool
warm_pending(const struct relayd *rd)
{
	return rd->warm.pending || rd->warm.again_n > 0;
}

size_t
warm_left(const struct relayd *rd)
{
	const struct warm_state *w = &rd->warm;
	size_t n = w->again_n;

	if (!w->pending)
		return n;
	for (int i = w->iface; i < rd->conf.nifaces; i++)
		n += pool_pairs(&rd->pools[i]) - (i == w->iface ? w->next : 0);
	return n;
}

/*
 * A stream a kernel backend carried holds no sockets (legsock.c): when
 * its call ends, its pairs go back to the ring unbound, and on a relay
 * whose calls all go to the kernel every pair would soon be bound at its
 * offer again, four sockets per stream. Queued here, they are bound and
 * parked between requests instead.
 */
void
warm_again(struct relayd *rd, int iface, uint16_t port)
{
	struct warm_state *w = &rd->warm;

	if (w->again_n >= w->again_cap)
		return;		/* no queue (parking off), or full */
	w->again[(w->again_head + w->again_n++) % w->again_cap] =
	    (uint32_t)iface << 16 | port;
}

/* Up to pairs of the queued pairs, bound and parked if still free. */
static void
again_slice(struct relayd *rd, size_t pairs)
{
	struct warm_state *w = &rd->warm;
	uint16_t bad;
	int rc;

	while (w->again_n > 0 && pairs-- > 0) {
		uint32_t v = w->again[w->again_head];
		int iface = (int)(v >> 16);
		uint16_t port = (uint16_t)v;

		w->again_head = (w->again_head + 1) % w->again_cap;
		w->again_n--;
		if (!ports_is_free(&rd->pools[iface], port))
			continue;	/* taken meanwhile: its leg binds it */
		rc = park_bind(rd, iface, port, &bad);
		if (rc > 0)
			w->rebound++;
		else if (rc < 0)
			/* another process, out of descriptors: the pair
			 * binds at its offer, which reports what fails */
			rlog(rd, LL_DEBUG, "interface '%s': binding port %u "
			    "again after its call: %s",
			    rd->conf.ifaces[iface].name, bad, strerror(-rc));
	}
}

static void
held_note(struct relayd *rd, int iface, uint16_t port)
{
	struct warm_state *w = &rd->warm;

	w->held++;
	if (w->held_n[iface] < WARM_REPORT)
		w->held_port[iface][w->held_n[iface]] = port;
	w->held_n[iface]++;
}

/* The interface's ports that another process held, in one line. */
static void
held_report(struct relayd *rd, int iface)
{
	const struct warm_state *w = &rd->warm;
	char list[WARM_REPORT * 7 + 8] = "";
	size_t n = w->held_n[iface], len = 0;

	if (n == 0)
		return;
	for (size_t i = 0; i < n && i < WARM_REPORT; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%u",
		    i ? " " : "", w->held_port[iface][i]);
	rlog(rd, LL_WARNING, "interface '%s': %zu port(s) of the range are "
	    "bound by another process (%s%s): their pairs stay in the pool, "
	    "a call that gets one binds it then or takes another pair",
	    rd->conf.ifaces[iface].name, n, list, n > WARM_REPORT ? " ..." : "");
}

/* The interface is done: say what it cost and what another process holds. */
static void
iface_done(struct relayd *rd)
{
	struct warm_state *w = &rd->warm;

	held_report(rd, w->iface);
	w->iface++;
	w->next = 0;
	if (w->iface < rd->conf.nifaces)
		return;
	w->pending = false;
	rlog(rd, LL_INFO, "%zu port pair(s) bound and parked in %llu ms, %zu "
	    "port(s) held by another process", w->bound,
	    (unsigned long long)(now_ms() - w->started_ms), w->held);
}

/*
 * An error that every bind on the interface would meet (its address is
 * not up, out of descriptors or memory): stop binding there; its legs
 * bind at the offer as before and say why if they cannot.
 */
static void
iface_stop(struct relayd *rd, uint16_t port, int rc)
{
	struct warm_state *w = &rd->warm;

	rlog(rd, LL_WARNING, "interface '%s': binding port %u at start: %s; "
	    "its other free ports are bound at each offer instead",
	    rd->conf.ifaces[w->iface].name, port, strerror(-rc));
	iface_done(rd);
}

/* Bind and park up to pairs more free pairs. */
void
warm_slice(struct relayd *rd, size_t pairs)
{
	struct warm_state *w = &rd->warm;
	uint16_t bad;
	int rc;

	while (w->pending && pairs > 0) {
		struct port_pool *pp;
		uint16_t port;

		pp = &rd->pools[w->iface];
		if (w->next >= pool_pairs(pp)) {
			iface_done(rd);
			continue;
		}
		port = (uint16_t)(pp->min + 2 * w->next++);
		if (!ports_is_free(pp, port))
			continue;	/* a leg's: restored or taken meanwhile */
		pairs--;
		bad = port;
		rc = park_bind(rd, w->iface, port, &bad);
		if (rc > 0)
			w->bound++;
		else if (rc == -EADDRINUSE)
			held_note(rd, w->iface, bad);
		else if (rc < 0)
			iface_stop(rd, bad, rc);
	}
	/* done with the last pair: the next epoll_wait may block */
	while (w->pending && w->next >= pool_pairs(&rd->pools[w->iface]))
		iface_done(rd);
	if (!w->pending)
		again_slice(rd, pairs);
}
