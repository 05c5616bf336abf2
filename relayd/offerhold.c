/*
 * offerhold.c: offers that open no sockets. With a backend that can hold
 * ports in the kernel (kmod), an offer takes its port pairs from the pool
 * and binds nothing; the stream is queued, and at the end of the loop
 * round (backend_flush, before the replies go out) the backend holds the
 * round's offers in one batch: entries that count and drop whatever
 * reaches the ports before the answer, so an early packet neither draws
 * an ICMP port unreachable nor reaches a socket (userspace drops it too:
 * no leg knows where to send yet). At the answer the backend replaces
 * the held entries with the stream's learning ones (backend.c), and the
 * stream never had a socket. So an offer costs an allocation and a share
 * of one netlink batch, and a relay's streams are not capped by
 * RLIMIT_NOFILE / 4.
 *
 * A stream the backend cannot hold (WebRTC, an interface it cannot key,
 * the module refuses: ENOSPC, gone) binds its sockets in the same round,
 * before its offer's reply is sent; a refusal is logged and counted
 * (stats: hold_failures). The ports were taken without a bind, so a port
 * another process bound explicitly (the relay range is reserved against
 * ephemeral binds, net.c) is found only then: like a rebind after the
 * kernel (legsock.c), the leg keeps its port and reports bind_error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

static int
hold_queue(struct relayd *rd, struct stream *st)
{
	struct unbind_queue *q = &rd->holdq;

	if (st->hold_queued)
		return 0;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		struct stream **v = realloc(q->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = st;
	st->hold_queued = true;
	return 0;
}

int
leg_take_sockless(struct relayd *rd, struct leg *leg)
{
	struct port_pool *pp = &rd->pools[leg->iface];
	uint16_t port;

	if (rd->backend.ops == NULL || rd->backend.ops->hold == NULL)
		return 1;
	if (ports_take(pp, &port) < 0)
		return -ENOSPC;
	park_drop(rd, leg->iface, port);	/* held: no socket of ours on it */
	if (hold_queue(rd, leg->stream) < 0) {
		ports_release(pp, port);
		return 1;	/* out of memory: bind as before */
	}
	leg->port = port;
	return 0;
}

void
hold_forget(struct relayd *rd, struct stream *st)
{
	struct unbind_queue *q = &rd->holdq;

	if (!st->hold_queued)
		return;
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i] == st) {
			q->v[i] = q->v[--q->n];
			break;
		}
	st->hold_queued = false;
}

void
stream_unhold(struct relayd *rd, struct stream *st)
{
	const struct backend_ops *ops = rd->backend.ops;
	int rc;

	hold_forget(rd, st);
	if (st->held) {
		/* reads what the entries counted (the legs' drops), deletes */
		if (ops != NULL && ops->remove != NULL &&
		    (rc = ops->remove(rd, rd->backend.priv, st)) < 0)
			rlog(rd, LL_WARNING, "call %s stream %d: removing its "
			    "held entries from %s: %s", st->session->call_id,
			    st->index, ops->name, strerror(-rc));
		st->held = false;
		stream_set_reason(st, "latching");
	}
	stream_sockets_open(rd, st);
}

/* Still an offer that nothing else took this round, and holdable? */
static bool
to_hold(const struct stream *st)
{
	return st->path != PATH_KERNEL && !st->held && stream_sockless(st) &&
	    !(st->leg[SIDE_A].sdp.set && st->leg[SIDE_B].sdp.set) &&
	    !stream_has_webrtc(st);
}

static void
report_refusals(struct relayd *rd, size_t failed, const struct stream *first,
    int rc)
{
	if (failed == 0)
		return;
	rd->totals.hold_failures += failed;
	rlog(rd, LL_WARNING, "%s refused to hold %zu offered stream(s) (call "
	    "%s stream %d: %s): they bind sockets", rd->backend.ops->name,
	    failed, first->session->call_id, first->index, strerror(-rc));
}

/* End of a loop round: the backend holds this round's offers, in one go. */
void
hold_run(struct relayd *rd)
{
	struct unbind_queue *q = &rd->holdq;
	const struct stream *first = NULL;
	size_t n = 0, failed = 0;
	int *rcs, first_rc = 0;

	if (q->n == 0)
		return;
	for (size_t i = 0; i < q->n; i++) {
		struct stream *st = q->v[i];

		st->hold_queued = false;
		if (to_hold(st))
			q->v[n++] = st;
		else if (st->path != PATH_KERNEL && !st->held)
			stream_sockets_open(rd, st);	/* WebRTC, answered */
	}
	q->n = 0;
	if (n == 0)
		return;
	if ((rcs = calloc(n, sizeof(*rcs))) == NULL) {
		for (size_t i = 0; i < n; i++)
			stream_sockets_open(rd, q->v[i]);
		return;
	}
	rd->backend.ops->hold(rd, rd->backend.priv, q->v, n, rcs);
	for (size_t i = 0; i < n; i++) {
		struct stream *st = q->v[i];

		if (rcs[i] == 0) {
			st->held = true;
			backend_carry(rd, st);
			continue;
		}
		if (rcs[i] != -EOPNOTSUPP && failed++ == 0) {
			first = st;
			first_rc = rcs[i];
		}
		stream_sockets_open(rd, st);
	}
	report_refusals(rd, failed, first, first_rc);
	free(rcs);
}

void
hold_free(struct relayd *rd)
{
	free(rd->holdq.v);
	memset(&rd->holdq, 0, sizeof(rd->holdq));
}
