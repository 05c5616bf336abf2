/*
 * legsock.c: the sockets of streams that a kernel backend carries.
 *
 * A stream in the kernel needs no socket: its packets are rewritten and
 * sent before they reach one. Keeping four per stream would cap a relay
 * at RLIMIT_NOFILE / 4 streams, so once a backend carries a stream (nft:
 * its transaction committed; kmod: its entries added) the legs' sockets
 * are closed at the end of the loop round, after what is still queued on
 * them is relayed. The ports stay the legs' (the pool does not hand them
 * out again) and the host is told to keep them for us with
 * net.ipv4.ip_local_reserved_ports (net.c checks it at start).
 *
 * A stream that comes back to userspace (re-offer, kernel refusal, entry
 * lost, no adoption after a restart) binds its ports again. Another
 * process may have bound one meanwhile (reservation only stops ephemeral
 * binds): that leg keeps its port, says so in query (bind_error) and in
 * stats (rebind_failures), and is bound again at the next offer or
 * answer of its call; the port goes back to the pool when the call ends.
 *
 * Sockets are closed only when latching can no longer move a peer
 * (strict source, or SDP-only learning): without strict source a moved
 * peer must still be heard, which needs the socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "relayd.h"

static bool
peer_fixed_for_good(const struct relayd *rd)
{
	return rd->conf.strict_source ||
	    rd->conf.learn_mode == LEARN_SDP_ONLY;
}

/* Both sockets: a leg missing one is retried (stream_sockets_open). */
bool
leg_bound(const struct leg *leg)
{
	return leg->sock[SK_RTP].fd >= 0 && leg->sock[SK_RTCP].fd >= 0;
}

bool
stream_sockless(const struct stream *st)
{
	for (int side = SIDE_A; side <= SIDE_B; side++)
		if (st->leg[side].port != 0 && !leg_bound(&st->leg[side]))
			return true;
	return false;
}

/* The backend carries st now: close its sockets at the end of the round. */
void
backend_stream_carried(struct relayd *rd, struct stream *st)
{
	struct unbind_queue *q = &rd->unbind;

	if (st->unbind_queued || !peer_fixed_for_good(rd) ||
	    stream_has_webrtc(st))
		return;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		struct stream **v = realloc(q->v, cap * sizeof(*v));
		if (v == NULL)
			return;		/* keeps its sockets: still correct */
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = st;
	st->unbind_queued = true;
}

/* A stream being freed leaves the queue (rare: ended in its install round). */
void
unbind_forget(struct relayd *rd, struct stream *st)
{
	struct unbind_queue *q = &rd->unbind;

	if (!st->unbind_queued)
		return;
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i] == st) {
			q->v[i] = q->v[--q->n];
			break;
		}
	st->unbind_queued = false;
}

static void
leg_sockets_close(struct relayd *rd, struct leg *leg)
{
	for (int k = SK_RTP; k <= SK_RTCP; k++) {
		if (leg->sock[k].fd < 0)
			continue;
		epoll_del(rd, leg->sock[k].fd);
		close(leg->sock[k].fd);
		leg->sock[k].fd = -1;
	}
}

/*
 * Relay what reached the sockets before the kernel took the flows, then
 * close them. Relaying may take the stream out of the kernel again (RTCP
 * from an unexpected port): then it keeps its sockets.
 */
static void
stream_sockets_close(struct relayd *rd, struct stream *st)
{
	for (int side = SIDE_A; side <= SIDE_B; side++)
		for (int k = SK_RTP; k <= SK_RTCP; k++)
			if (st->path == PATH_KERNEL)
				forward_readable(rd, &st->leg[side].sock[k]);
	if (st->path != PATH_KERNEL)
		return;
	for (int side = SIDE_A; side <= SIDE_B; side++)
		leg_sockets_close(rd, &st->leg[side]);
}

/* End of a loop round (backend_flush): close what the kernel carries. */
void
unbind_run(struct relayd *rd)
{
	struct unbind_queue *q = &rd->unbind;

	/* Bounded: relaying what is queued may install (and queue) a
	 * stream only once; the queue does not grow without end. */
	while (q->n > 0) {
		struct stream *st = q->v[--q->n];
		st->unbind_queued = false;
		stream_sockets_close(rd, st);
	}
}

void
unbind_free(struct relayd *rd)
{
	free(rd->unbind.v);
	memset(&rd->unbind, 0, sizeof(rd->unbind));
}

static int
sock_rebind(struct relayd *rd, struct leg *leg, enum sock_kind k)
{
	const struct sockaddr_storage *addr = &rd->conf.ifaces[leg->iface].bind;
	int fd = udp_bind(addr, (uint16_t)(leg->port + k)), rc;

	if (fd < 0)
		return fd;
	leg->sock[k].fd = fd;
	if ((rc = leg_sock_watch(rd, leg, k)) < 0) {
		close(fd);
		leg->sock[k].fd = -1;
		return rc;
	}
	return 0;
}

/* Bind what a leg lacks; the port stays the leg's whatever happens. */
static int
leg_rebind(struct relayd *rd, struct leg *leg)
{
	int rc = 0, r;

	if (leg->port == 0)
		return 0;
	for (int k = SK_RTP; k <= SK_RTCP; k++) {
		if (leg->sock[k].fd >= 0)
			continue;
		r = sock_rebind(rd, leg, (enum sock_kind)k);
		if (r < 0 && rc == 0)
			rc = r;
		if (r < 0) {
			rlog(rd, LL_WARNING, "call %s stream %d leg %c: port %u "
			    "cannot be bound again (%s): another process took "
			    "it while the kernel carried the stream; the port "
			    "stays this call's, retried at its next offer or "
			    "answer", leg->stream->session->call_id,
			    leg->stream->index, leg->side == SIDE_A ? 'A' : 'B',
			    leg->port + k, strerror(-r));
			rd->totals.rebind_failures++;
		}
	}
	leg->bind_err = rc;
	return rc;
}

/*
 * A stream back in userspace binds its ports again; 0 or the first error.
 * An offer the backend holds (or is about to) has no socket on purpose.
 */
int
stream_sockets_open(struct relayd *rd, struct stream *st)
{
	int rc = 0, r;

	if (st->held || st->hold_queued)
		return 0;	/* offerhold.c: the backend holds its ports */
	unbind_forget(rd, st);
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		r = leg_rebind(rd, &st->leg[side]);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (rc < 0)
		stream_append_reason(st, "; a port could not be bound again: %s",
		    strerror(-rc));
	return rc;
}
