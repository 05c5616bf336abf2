/*
 * timers.c: sessions that end by themselves. One timerfd ticks every
 * RELAYD_TICK_MS. Every session has one deadline in a min-heap
 * (theap.c): the earliest moment one of its timeouts could end it,
 * computed when it changes (timers_arm: offer, answer, restart). A tick
 * looks only at the sessions whose deadline came: each is checked with
 * its fresh kernel counters and either ends or gets its next deadline, so
 * a tick costs what expires, not the number of calls up. Packets never
 * touch the heap: they only make a session's real end later than its
 * deadline, and a deadline that comes too early re-arms.
 *
 * Reasons, in order: max_duration, ringing (a session offered as ringing
 * got no final answer in time), setup (no answer, or no packet at all, in
 * time; for a ringing session counted from its final answer), hold (a held
 * call silent too long), inactivity (no packet on any leg for the media
 * timeout). Subscribers get a `timeout` event with the final counters;
 * then the session is gone. WebRTC legs whose DTLS is not up yet are
 * looked at every tick (retransmissions), as before.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "relayd.h"

/* Kernel counters of every stream are refreshed at most this often (the
 * backends read a stream at most once a second in such a sweep anyway). */
#define TIMERS_SYNC_MS		500

static struct session *
session_of(struct theap_node *nd)
{
	return (struct session *)(void *)((char *)nd -
	    offsetof(struct session, timer));
}

/* The tick a deadline falls in, rounded up: never popped early. */
static uint32_t
tick_ceil(const struct timers *t, uint64_t ms)
{
	uint64_t d;

	if (ms <= t->base_ms)
		return 0;
	d = (ms - t->base_ms + RELAYD_TICK_MS - 1) / RELAYD_TICK_MS;
	return d >= UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Ticks that have fully passed at ms. */
static uint32_t
tick_floor(const struct timers *t, uint64_t ms)
{
	uint64_t d = ms <= t->base_ms ? 0 : (ms - t->base_ms) / RELAYD_TICK_MS;

	return d >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)d;
}

/* Deadline at tick `at`, not before min_at; none: out of the heap. */
static void
arm_at(struct relayd *rd, struct session *s, uint64_t deadline,
    uint32_t min_at)
{
	uint32_t at;

	if (deadline == UINT64_MAX) {
		theap_del(&rd->timers.heap, &s->timer);
		return;
	}
	at = tick_ceil(&rd->timers, deadline);
	if (at < min_at)
		at = min_at;
	if (theap_set(&rd->timers.heap, &s->timer, at) < 0)
		rlog(rd, LL_ERROR, "call %s: out of memory arming its timer: "
		    "no timeout ends it until its next offer or answer",
		    s->call_id);
}

void
timers_arm(struct relayd *rd, struct session *s)
{
	uint64_t now = now_ms();

	arm_at(rd, s, session_deadline(rd, s, now), 0);
}

void
timers_disarm(struct relayd *rd, struct session *s)
{
	theap_del(&rd->timers.heap, &s->timer);
}

/* Sessions can be no more than the port pairs / 2 (a stream takes one
 * pair per leg): the heap never grows while calls come. */
static size_t
sessions_possible(const struct relayd *rd)
{
	size_t pairs = 0;

	for (int i = 0; i < rd->conf.nifaces; i++)
		pairs += rd->pools[i].cap;
	return pairs / 2 + 1;
}

int
timers_open(struct relayd *rd)
{
	struct itimerspec its = {
		.it_interval = { 0, RELAYD_TICK_MS * 1000000L },
		.it_value = { 0, RELAYD_TICK_MS * 1000000L },
	};
	int rc;

	if (rd->timers.heap.n == 0)
		rd->timers.base_ms = now_ms();
	if ((rc = theap_reserve(&rd->timers.heap, sessions_possible(rd))) < 0)
		return rc;
	/* Sessions the journal brought back. */
	for (struct session *s = rd->sessions.first; s != NULL; s = s->next)
		timers_arm(rd, s);
	rd->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rd->timerfd < 0)
		return -errno;
	if (timerfd_settime(rd->timerfd, 0, &its, NULL) < 0)
		return -errno;
	rd->timer_tag.kind = TAG_TIMER;
	return epoll_add(rd, rd->timerfd, EPOLLIN, &rd->timer_tag);
}

void
timers_close(struct relayd *rd)
{
	if (rd->timerfd >= 0)
		close(rd->timerfd);
	rd->timerfd = -1;
	theap_free(&rd->timers.heap);
}

static bool
elapsed(uint64_t since_ms, uint64_t now, double seconds)
{
	return seconds > 0 && now >= since_ms &&
	    (double)(now - since_ms) >= seconds * 1000.0;
}

const char *
session_expired(const struct relayd *rd, const struct session *s,
    uint64_t now)
{
	const struct relayd_conf *c = &rd->conf;
	uint64_t last = session_last_activity(s);

	if (elapsed(s->created_ms, now, c->max_duration))
		return "max_duration";
	/* Ringing is timed by the controller: this is only its backstop. */
	if (s->ringing)
		return elapsed(s->created_ms, now, c->ringing_timeout) ?
		    "ringing" : NULL;
	if (s->state == SS_OFFERED || last == 0)
		return elapsed(s->answered_ms ? s->answered_ms : s->created_ms,
		    now, c->setup_timeout) ?
		    "setup" : NULL;
	if (session_on_hold(s))
		return elapsed(last, now, c->hold_timeout) ? "hold" : NULL;
	return elapsed(last, now, c->inactivity_timeout) ? "inactivity" : NULL;
}

static uint64_t
after(uint64_t since_ms, double seconds)
{
	return seconds > 0 ? since_ms + (uint64_t)ceil(seconds * 1000.0) :
	    UINT64_MAX;
}

static uint64_t
earliest(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* A WebRTC leg whose DTLS may be (or start) handshaking: every tick. */
static bool
dtls_pending(const struct session *s)
{
	for (int i = 0; i < s->nstreams; i++)
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			const struct rtc_leg *r = s->streams[i]->leg[side].rtc;
			if (r != NULL && (r->dtls_state == DTLS_NEW ||
			    r->dtls_state == DTLS_HANDSHAKE))
				return true;
		}
	return false;
}

/*
 * What session_expired would say first, as a time: a lower bound of the
 * session's end whatever packets come (they only move `last` later). An
 * answered call that saw no packet yet ends by setup, or, once a packet
 * comes, by inactivity (or hold) counted from that packet: no sooner than
 * now plus that timeout.
 */
uint64_t
session_deadline(const struct relayd *rd, const struct session *s,
    uint64_t now)
{
	const struct relayd_conf *c = &rd->conf;
	uint64_t last = session_last_activity(s), d;
	double quiet = session_on_hold(s) ? c->hold_timeout :
	    c->inactivity_timeout;

	d = after(s->created_ms, c->max_duration);
	if (s->ringing)
		d = earliest(d, after(s->created_ms, c->ringing_timeout));
	else if (s->state == SS_OFFERED || last == 0) {
		d = earliest(d, after(s->answered_ms ? s->answered_ms :
		    s->created_ms, c->setup_timeout));
		if (s->state != SS_OFFERED)
			d = earliest(d, after(now, quiet));
	} else
		d = earliest(d, after(last, quiet));
	if (dtls_pending(s))
		d = earliest(d, now + RELAYD_TICK_MS);
	return d;
}

/* After the streams left the backend: the final counters. */
static json_t *
timeout_event(struct relayd *rd, const struct session *s, void *reason)
{
	json_t *ev = proto_event("timeout");

	json_object_update_new(ev, json_pack("{s:s, s:s, s:s, s:s, s:f}",
	    "call_id", s->call_id, "from_tag", s->tag[SIDE_A],
	    "to_tag", s->tag[SIDE_B], "reason", (const char *)reason,
	    "duration", (double)(now_ms() - s->created_ms) / 1000.0));
	json_object_set_new(ev, "streams", streams_to_json(rd, s));
	return ev;
}

void
session_end(struct relayd *rd, struct session *s, const char *reason)
{
	json_t *ev;

	rlog(rd, LL_NOTICE, "call %s ended by the relay: %s timeout",
	    s->call_id, reason);
	rd->totals.sessions_timed_out++;
	ev = session_finish(rd, s, timeout_event, (void *)reason);
	control_broadcast(rd, "timeout", ev);
}

struct expiry {
	struct session	*s;
	const char	*reason;
};

/* Collect the sessions that end now; false if out of memory. */
static bool
expiry_push(struct expiry **v, size_t *n, size_t *cap, struct session *s,
    const char *reason)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct expiry *p = realloc(*v, c * sizeof(*p));
		if (p == NULL)
			return false;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = (struct expiry){ s, reason };
	return true;
}

/* How often every kernel stream's counters are refreshed (stats, list):
 * as before, a quarter of the inactivity timeout when that is shorter. */
static uint64_t
sync_period(const struct relayd *rd)
{
	double q = rd->conf.inactivity_timeout * 1000.0 / 4;

	if (q > 0 && q < TIMERS_SYNC_MS)
		return q < RELAYD_TICK_MS ? RELAYD_TICK_MS : (uint64_t)q;
	return TIMERS_SYNC_MS;
}

void
timers_tick(struct relayd *rd)
{
	uint64_t expirations, now;
	struct theap_node *nd;
	struct session *s;
	struct expiry *ended = NULL;
	size_t n = 0, cap = 0;
	const char *reason;
	bool kernel = false;
	uint32_t tick;

	if (read(rd->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	now = now_ms();
	if (now >= rd->timers.sync_ms) {
		backend_sync_counters(rd);
		rd->timers.sync_ms = now + sync_period(rd);
	}
	tick = tick_floor(&rd->timers, now);
	/* Bounded: each session popped ends, or re-arms after this tick. */
	while ((nd = theap_top(&rd->timers.heap)) != NULL && nd->at <= tick) {
		s = session_of(nd);
		for (int i = 0; i < s->nstreams; i++)	/* DTLS resends */
			for (int side = SIDE_A; side <= SIDE_B; side++)
				webrtc_tick(rd, &s->streams[i]->leg[side]);
		reason = session_expired(rd, s, now);
		if (reason != NULL) {
			/* Kernel counters are read lazily: look again first. */
			backend_sync_session(rd, s);
			reason = session_expired(rd, s, now);
		}
		if (reason == NULL) {
			arm_at(rd, s, session_deadline(rd, s, now), tick + 1);
			continue;
		}
		theap_del(&rd->timers.heap, &s->timer);
		if (!expiry_push(&ended, &n, &cap, s, reason))
			session_end(rd, s, reason);
	}
	/*
	 * Everything that ends in this tick leaves the backend together (one
	 * nft transaction, however many calls a network failure silenced);
	 * then each reports its final counters.
	 */
	for (size_t i = 0; i < n; i++)
		kernel |= session_release(rd, ended[i].s);
	if (kernel)
		backend_flush(rd);
	for (size_t i = 0; i < n; i++)
		session_end(rd, ended[i].s, ended[i].reason);
	free(ended);
}
