/*
 * backend.c: choosing the forwarding backend and handing streams to it.
 *
 * A backend takes fully latched streams out of userspace (into the kernel)
 * and gives their counters back in batches. "auto" picks the best one that
 * opens: the kernel module, then nftables, then the userspace backend,
 * which always opens. The reason for the choice is kept for hello/stats,
 * so an operator sees why media is not in the kernel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

/* Best first: "auto" takes the first that opens. */
static const struct backend_ops *const backends[] = {
	&backend_kmod_ops,
	&backend_nft_ops,
	&backend_userspace_ops,
};

static int
try_open(struct relayd *rd, const struct backend_ops *ops, char *why,
    size_t len)
{
	void *priv = NULL;
	int rc = ops->open(rd, &priv, why, len);

	if (rc == 0) {
		rd->backend.ops = ops;
		rd->backend.priv = priv;
	}
	return rc;
}

/* Append "name: why" to the list of backends passed over. */
static void
note_unavailable(char *list, size_t len, const char *name, const char *why)
{
	size_t used = strlen(list);

	snprintf(list + used, len - used, "%s%s: %s", used ? "; " : "", name,
	    why);
}

int
backend_select(struct relayd *rd, const char *want, char *err, size_t errlen)
{
	char why[256], missing[640] = "";
	bool automatic = strcmp(want, "auto") == 0;
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const struct backend_ops *ops = backends[i];
		if (!automatic && strcmp(want, ops->name) != 0)
			continue;
		if (try_open(rd, ops, why, sizeof(why)) == 0) {
			snprintf(rd->backend.reason, sizeof(rd->backend.reason),
			    "%s%s%s%s", automatic ? "chosen automatically" :
			    "configured", missing[0] ? " (" : "", missing,
			    missing[0] ? ")" : "");
			return 0;
		}
		rlog(rd, LL_NOTICE, "backend %s unavailable: %s", ops->name, why);
		note_unavailable(missing, sizeof(missing), ops->name, why);
	}
	if (missing[0] == '\0')
		snprintf(err, errlen, "unknown backend '%s'", want);
	else
		snprintf(err, errlen, "no usable backend for '%s' (%s)", want,
		    missing);
	return -ENOENT;
}

void
backend_close(struct relayd *rd)
{
	if (rd->backend.ops != NULL && rd->backend.ops->close != NULL)
		rd->backend.ops->close(rd, rd->backend.priv);
	rd->backend.ops = NULL;
	rd->backend.priv = NULL;
	unbind_free(rd);	/* streams it carried: nothing left to close */
	backend_carry_free(rd);
	hold_free(rd);
}

/* Both legs latched: offer the stream to the backend. */
void
backend_stream_latched(struct relayd *rd, struct stream *st)
{
	const struct backend_ops *ops = rd->backend.ops;
	int rc;

	if (ops == NULL || ops->install == NULL || st->path == PATH_KERNEL)
		return;
	if (stream_has_webrtc(st))
		return;		/* SRTP per packet: userspace (webrtc.c) */
	rc = ops->install(rd, rd->backend.priv, st);
	if (rc == 0) {
		st->path = PATH_KERNEL;
		backend_carry(rd, st);
		rlog(rd, LL_DEBUG, "call %s stream %d installed in %s",
		    st->session->call_id, st->index, ops->name);
		if (!ops->deferred_install)
			backend_stream_carried(rd, st);
	} else if (rc != -EOPNOTSUPP) {
		rlog(rd, LL_WARNING, "install call %s stream %d in %s: %s; "
		    "staying in userspace", st->session->call_id, st->index,
		    ops->name, strerror(-rc));
	}
}

static bool
stream_answered(const struct stream *st)
{
	return st->leg[SIDE_A].sdp.set && st->leg[SIDE_B].sdp.set;
}

/*
 * An offer or answer was applied. An offer (one SDP in) stays held by
 * the backend until the answer (offerhold.c). Both SDPs in: a backend
 * that learns in the kernel takes the stream now, replacing what it
 * held; a stream it does not take binds its sockets.
 */
void
backend_stream_learn(struct relayd *rd, struct stream *st)
{
	const struct backend_ops *ops = rd->backend.ops;
	bool holding = st->held || st->hold_queued;

	if (ops == NULL || st->path == PATH_KERNEL)
		return;
	if (!stream_answered(st)) {
		if (holding && stream_has_webrtc(st))
			stream_unhold(rd, st);	/* SRTP: userspace */
		return;
	}
	if (ops->learn != NULL && !stream_has_webrtc(st)) {
		if (stream_fully_latched(st)) {
			if (holding)
				stream_unhold(rd, st);
			backend_stream_latched(rd, st);
			return;
		}
		if (ops->learn(rd, rd->backend.priv, st) == 0) {
			hold_forget(rd, st);
			st->held = false;	/* replaced by the learn */
			st->path = PATH_KERNEL;
			backend_carry(rd, st);
			rlog(rd, LL_DEBUG, "call %s stream %d learning in %s",
			    st->session->call_id, st->index, ops->name);
			/* the kernel learns and drops strangers: no socket
			 * needed */
			backend_stream_carried(rd, st);
			return;
		}
	}
	if (holding)
		stream_unhold(rd, st);	/* latches in userspace */
}

void
backend_stream_release(struct relayd *rd, struct stream *st)
{
	const struct backend_ops *ops = rd->backend.ops;
	int rc;

	hold_forget(rd, st);
	if (st->held && ops != NULL && ops->remove != NULL) {
		/* an offer that ends unanswered: its held entries go */
		st->held = false;
		if ((rc = ops->remove(rd, rd->backend.priv, st)) < 0)
			rlog(rd, LL_WARNING, "remove held call %s stream %d "
			    "from %s: %s", st->session->call_id, st->index,
			    ops->name, strerror(-rc));
		return;
	}
	if (st->path != PATH_KERNEL || ops == NULL || ops->remove == NULL)
		return;
	rc = ops->remove(rd, rd->backend.priv, st);
	if (rc < 0)
		rlog(rd, LL_WARNING, "remove call %s stream %d from %s: %s",
		    st->session->call_id, st->index, ops->name, strerror(-rc));
}

void
backend_stream_remove(struct relayd *rd, struct stream *st)
{
	if (st->path != PATH_KERNEL)
		return;
	backend_stream_release(rd, st);
	st->path = PATH_USERSPACE;
	stream_set_reason(st, "latching");
	stream_sockets_open(rd, st);
}

/* Collects installed streams and reads their counters, 256 at a time. */
struct counter_batch {
	struct stream	*streams[256];
	size_t		 n;
};

static bool
is_carried(const struct stream *st)
{
	/* held offers too: their early drops, and a lost entry */
	return st->path == PATH_KERNEL || st->held;
}

/*
 * After a read: a backend that lost a stream's entries (module unloaded)
 * handed it back to userspace: it needs its sockets again (a held offer
 * too: offerhold.c).
 */
static void
after_read(struct relayd *rd, struct stream *st)
{
	if (st->held && st->backend_priv == NULL)
		st->held = false;
	if (st->path != PATH_KERNEL && !st->held && stream_sockless(st))
		stream_sockets_open(rd, st);
}

static void
batch_flush(struct relayd *rd, struct counter_batch *b)
{
	if (b->n > 0)
		rd->backend.ops->read_counters(rd, rd->backend.priv, b->streams,
		    b->n);
	for (size_t i = 0; i < b->n; i++)
		after_read(rd, b->streams[i]);
	b->n = 0;
}

static void
batch_session(struct relayd *rd, struct counter_batch *b,
    const struct session *s)
{
	for (int i = 0; i < s->nstreams; i++) {
		if (!is_carried(s->streams[i]))
			continue;
		b->streams[b->n++] = s->streams[i];
		if (b->n == sizeof(b->streams) / sizeof(b->streams[0]))
			batch_flush(rd, b);
	}
}

static bool
can_read_counters(const struct relayd *rd)
{
	return rd->backend.ops != NULL && rd->backend.ops->read_counters != NULL;
}

/* ---- the set of carried streams: what the sync walks ---- */

void
backend_carry(struct relayd *rd, struct stream *st)
{
	struct backend *b = &rd->backend;

	if (st->carried_pos != 0)
		return;
	if (b->ncarried == b->carried_cap) {
		/* grows only once the memory is there */
		uint32_t cap = b->carried_cap ? 2 * b->carried_cap : 1024;
		struct stream **v = cap > b->carried_cap ?
		    realloc(b->carried, cap * sizeof(*v)) : NULL;

		if (v == NULL) {
			b->incomplete = true;	/* the next sync walks all */
			return;
		}
		b->carried = v;
		b->carried_cap = cap;
	}
	b->carried[b->ncarried++] = st;
	st->carried_pos = b->ncarried;
}

/* The last stream left: its memory goes too (an idle relay holds none). */
static void
carry_empty(struct backend *b)
{
	free(b->carried);
	b->carried = NULL;
	b->ncarried = b->carried_cap = 0;
}

void
backend_uncarry(struct relayd *rd, struct stream *st)
{
	struct backend *b = &rd->backend;
	struct stream *last;

	if (st->carried_pos == 0)
		return;
	if (b->pinned) {	/* positions stay: a hole, closed at unpin */
		b->carried[st->carried_pos - 1] = NULL;
		st->carried_pos = 0;
		return;
	}
	last = b->carried[--b->ncarried];	/* the last takes its place */
	b->carried[st->carried_pos - 1] = last;
	last->carried_pos = st->carried_pos;
	st->carried_pos = 0;
	if (b->ncarried == 0)
		carry_empty(b);
}

void
backend_carry_pin(struct relayd *rd, bool pin)
{
	struct backend *b = &rd->backend;
	uint32_t n = 0;

	b->pinned = pin;
	if (pin)
		return;
	for (uint32_t i = 0; i < b->ncarried; i++)	/* close the holes */
		if (b->carried[i] != NULL) {
			b->carried[n++] = b->carried[i];
			b->carried[n - 1]->carried_pos = n;
		}
	b->ncarried = n;
	if (n == 0)
		carry_empty(b);
}

/* A stream failed to enter the set (no memory): every session, again. */
static void
carry_rebuild(struct relayd *rd)
{
	rd->backend.incomplete = false;
	for (struct session *s = rd->sessions.first; s; s = s->next)
		for (int i = 0; i < s->nstreams; i++)
			if (is_carried(s->streams[i]))
				backend_carry(rd, s->streams[i]);
	if (rd->backend.incomplete)
		rlog(rd, LL_ERROR, "backend: out of memory for the set of "
		    "carried streams: %u of them have their counters read",
		    rd->backend.ncarried);
}

void
backend_carry_free(struct relayd *rd)
{
	for (uint32_t i = 0; i < rd->backend.ncarried; i++)
		if (rd->backend.carried[i] != NULL)
			rd->backend.carried[i]->carried_pos = 0;
	free(rd->backend.carried);
	rd->backend.carried = NULL;
	rd->backend.ncarried = rd->backend.carried_cap = 0;
	rd->backend.pinned = false;
}

/*
 * Refresh kernel counters of every carried stream: the set, not every
 * session; one pass over the backend's table when it has one (read_all:
 * kmod's spans loop rounds, with the set pinned), else batches of
 * read_counters. Streams that left the backend leave the set here (from
 * the end: a leaving stream's place takes one already seen, or a hole).
 */
void
backend_sync_counters(struct relayd *rd)
{
	const struct backend_ops *ops = rd->backend.ops;
	struct backend *b = &rd->backend;

	if (!can_read_counters(rd))
		return;
	if (b->incomplete)
		carry_rebuild(rd);
	for (uint32_t i = b->ncarried; i-- > 0;)
		if (b->carried[i] != NULL && !is_carried(b->carried[i]))
			backend_uncarry(rd, b->carried[i]);
	if (ops->read_all != NULL) {
		ops->read_all(rd, b->priv, b->carried, b->ncarried);
	} else {
		for (uint32_t off = 0; off < b->ncarried; off += 256) {
			uint32_t m = b->ncarried - off < 256 ?
			    b->ncarried - off : 256;
			ops->read_counters(rd, b->priv, b->carried + off, m);
		}
	}
	for (uint32_t i = b->ncarried; i-- > 0;) {
		struct stream *st = b->carried[i];

		if (st == NULL)
			continue;
		after_read(rd, st);
		if (!is_carried(st))
			backend_uncarry(rd, st);
	}
}

/* The same for one session, before query or delete report it. */
void
backend_sync_session(struct relayd *rd, const struct session *s)
{
	struct counter_batch b = { .n = 0 };

	if (!can_read_counters(rd))
		return;
	batch_session(rd, &b, s);
	batch_flush(rd, &b);
}

const char *
stream_path_name(const struct relayd *rd, const struct stream *st)
{
	if (st->path == PATH_KERNEL && rd->backend.ops != NULL)
		return rd->backend.ops->name;
	return "userspace";
}

/* End of an event-loop round: the backend commits what it queued. */
void
backend_flush(struct relayd *rd)
{
	hold_run(rd);	/* this round's offers, before their replies */
	if (rd->backend.ops != NULL && rd->backend.ops->flush != NULL)
		rd->backend.ops->flush(rd, rd->backend.priv);
	unbind_run(rd);
}

/* The backend's own descriptor (TAG_BACKEND) is readable. */
void
backend_event(struct relayd *rd)
{
	if (rd->backend.ops != NULL && rd->backend.ops->event != NULL)
		rd->backend.ops->event(rd, rd->backend.priv);
}

/* The journal offered every stream it had: the backend drops the rest. */
void
backend_adopt_done(struct relayd *rd)
{
	if (rd->backend.ops != NULL && rd->backend.ops->adopt_done != NULL)
		rd->backend.ops->adopt_done(rd, rd->backend.priv);
}
