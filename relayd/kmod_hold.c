/*
 * kmod_hold.c: offered streams in trunkline.ko before their answer
 * (offerhold.c queues them; this is the kmod backend's hold op). Each of
 * the stream's four ports (RTP and RTCP of both legs) gets a held entry
 * (TL_F_HOLD): no output, since no leg knows where to send before the
 * answer, and every packet counted as a mismatch and dropped, as
 * userspace drops them (latch.c: leg B has no SDP to rank against, leg A
 * no destination). The round's offers go in kmod_put_streams calls of
 * 16 streams, one sendmsg each.
 *
 * At the answer kmod_learn.c replaces the held entries with the learning
 * ones (ADD over the same keys: never a moment without an entry, and the
 * mismatch counters, the early packets, carry over into the legs' drops);
 * the RTCP ports of a muxed stream have no learning entry and are
 * deleted. A stream that does not learn in the kernel at the answer has
 * its held entries removed and binds its sockets (backend.c).
 *
 * A held stream's packets reach no socket, which userspace learning
 * would need: so a stream is held only when the answer can learn in the
 * kernel (the module's learn group, heuristic learning, strict source,
 * IPv4 interfaces with their own address); kmod_learn.c checks the rest
 * (the answer's SDP) then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"
#include "trunkline_uapi.h"
#include "backend_kmod.h"

/* Why the kernel cannot hold st until its answer, or NULL. */
static const char *
hold_unsuitable(const struct relayd *rd, const struct kmod_state *ks,
    const struct stream *st)
{
	if (ks->learn == NULL)
		return "the module does not learn (no 'learn' group)";
	if (rd->conf.learn_mode != LEARN_HEURISTIC)
		return "endpoint_learning is not \"heuristic\"";
	if (!rd->conf.strict_source)
		return "strict_source is off";
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		const struct sockaddr_storage *bind =
		    &rd->conf.ifaces[st->leg[side].iface].bind;

		if (bind->ss_family != AF_INET || addr_is_any(bind))
			return "not IPv4 with the relay's own address";
	}
	return NULL;
}

static int
plan_hold(const struct relayd *rd, const struct stream *st,
    struct kmod_plan *s)
{
	s->n = 0;
	for (int side = SIDE_A; side <= SIDE_B; side++)
		for (int k = SK_RTP; k <= SK_RTCP; k++) {
			const struct leg *leg = &st->leg[side];
			struct kentry *e = &s->e[s->n++];

			memset(e, 0, sizeof(*e));
			e->leg = (struct leg *)leg;
			if (kaddr_of(&rd->conf.ifaces[leg->iface].bind,
			    &e->laddr, NULL) < 0)
				return -EAFNOSUPPORT;
			e->lport = (uint16_t)(leg->port + k);
			e->hold = true;
			e->drop = true;	/* its mismatches are the leg's drops */
		}
	s->cookie = stream_cookie(st);
	return 0;
}

/*
 * Plan st into p, or say why not (its path_reason): 0 or -errno. What
 * stays (*out) is made now: a stream in the kernel always has it.
 */
static int
hold_prepare(struct relayd *rd, struct kmod_state *ks, struct stream *st,
    struct kmod_plan *p, struct kmod_stream **out)
{
	const char *why = hold_unsuitable(rd, ks, st);

	*out = NULL;
	if (why != NULL) {
		stream_set_reason(st, "latching; offered with sockets: %s", why);
		return -EOPNOTSUPP;
	}
	memset(p, 0, sizeof(*p));
	if (plan_hold(rd, st, p) < 0)
		return -EOPNOTSUPP;
	if ((*out = kmod_stream_new(p)) == NULL)
		return -ENOMEM;
	return 0;
}

static void
hold_commit(struct kmod_state *ks, struct stream *st,
    const struct kmod_plan *p, struct kmod_stream *s, int rc)
{
	if (rc < 0) {
		stream_set_reason(st, "latching; the kernel refused to hold "
		    "the offer (%s): sockets bound", strerror(-rc));
		free(s);
		return;
	}
	for (int i = 0; i < p->n; i++) {	/* the clean pass deleted them */
		struct kstale_key k = { p->e[i].laddr, p->e[i].lport };

		kstale_forget(&ks->stale, &k);
	}
	st->backend_priv = s;
	kmod_reason_in(st, "held", p);
}

/*
 * The round's offers, KMOD_BATCH_STREAMS at a time (what one sendmsg of
 * kmod_put_streams takes anyway): the plans are transient, and a round of
 * thousands of offers must not make a heap of them that outlives it
 * (issue 16: glibc keeps a freed big block, and its pages, for the next).
 */
int
kmod_hold(struct relayd *rd, void *priv, struct stream **sts, size_t n,
    int *rcs)
{
	struct kmod_state *ks = priv;
	struct kmod_plan plan[KMOD_BATCH_STREAMS], *plans[KMOD_BATCH_STREAMS];
	struct kmod_stream *kept[KMOD_BATCH_STREAMS];
	size_t idx[KMOD_BATCH_STREAMS];
	int prc[KMOD_BATCH_STREAMS];

	for (size_t off = 0; off < n; off += KMOD_BATCH_STREAMS) {
		size_t m = n - off < KMOD_BATCH_STREAMS ? n - off :
		    KMOD_BATCH_STREAMS, np = 0;

		for (size_t i = off; i < off + m; i++) {
			rcs[i] = hold_prepare(rd, ks, sts[i], &plan[np],
			    &kept[np]);
			if (rcs[i] == 0) {
				plans[np] = &plan[np];
				idx[np++] = i;
			}
		}
		if (np > 0)
			kmod_put_streams(ks, plans, np, prc);
		for (size_t j = 0; j < np; j++) {
			rcs[idx[j]] = prc[j];
			hold_commit(ks, sts[idx[j]], plans[j], kept[j], prc[j]);
		}
	}
	return 0;
}

/* The entry of p with e's key: its index, or -1. */
static int
same_key(const struct kmod_plan *p, const struct kentry *e)
{
	for (int i = 0; i < p->n; i++)
		if (p->e[i].lport == e->lport &&
		    kaddr_equal(&p->e[i].laddr, &e->laddr))
			return i;
	return -1;
}

void
kmod_hold_replaced(struct relayd *rd, struct kmod_state *ks,
    struct stream *st, const struct kmod_plan *p, struct kmod_stream *s)
{
	struct kmod_stream *held = st->backend_priv;
	struct kmod_plan left = { .n = 0, .cookie = p->cookie };
	int errs[KMOD_MAX_ENTRIES], to;

	for (int i = 0; i < held->n; i++) {
		struct kentry e;

		kmod_key(rd, st, held->n, i, &e);
		/* the kernel carried the counters over: so does relayd
		 * (what was read of them is in the legs' drops already) */
		if ((to = same_key(p, &e)) >= 0) {
			s->c[to] = held->c[i];
			continue;
		}
		left.e[left.n++] = e;
	}
	s->read_tick = held->read_tick;
	/* a delete that fails is retried until the kernel confirms it */
	if (left.n > 0 && batch(ks, &left, TL_CMD_DEL, false, errs) == 0) {
		for (int i = 0; i < left.n; i++)
			if (!kmod_delete_done(0, errs[i])) {
				struct kstale_key k = { left.e[i].laddr,
				    left.e[i].lport };
				(void)kstale_add(&ks->stale, &k);
			}
	} else if (left.n > 0) {
		for (int i = 0; i < left.n; i++) {
			struct kstale_key k = { left.e[i].laddr,
			    left.e[i].lport };
			(void)kstale_add(&ks->stale, &k);
		}
	}
	free(held);
	st->backend_priv = NULL;
}
