/*
 * timers.c: sessions that end by themselves. One timerfd ticks every
 * RELAYD_TICK_MS; each tick refreshes kernel counters in one batch and
 * walks the sessions. Reasons, in order: max_duration, setup (no answer,
 * or no packet at all, in time), hold (a held call silent too long),
 * inactivity (no packet on any leg for the media timeout). Subscribers get
 * a `timeout` event with the final counters; then the session is gone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "relayd.h"

int
timers_open(struct relayd *rd)
{
	struct itimerspec its = {
		.it_interval = { 0, RELAYD_TICK_MS * 1000000L },
		.it_value = { 0, RELAYD_TICK_MS * 1000000L },
	};

	rd->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rd->timerfd < 0)
		return -errno;
	if (timerfd_settime(rd->timerfd, 0, &its, NULL) < 0)
		return -errno;
	rd->timer_tag.kind = TAG_TIMER;
	return epoll_add(rd, rd->timerfd, EPOLLIN, &rd->timer_tag);
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
	if (s->state == SS_OFFERED || last == 0)
		return elapsed(s->created_ms, now, c->setup_timeout) ?
		    "setup" : NULL;
	if (session_on_hold(s))
		return elapsed(last, now, c->hold_timeout) ? "hold" : NULL;
	return elapsed(last, now, c->inactivity_timeout) ? "inactivity" : NULL;
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

void
timers_tick(struct relayd *rd)
{
	uint64_t expirations, now;
	struct session *s, *next;
	struct expiry *ended = NULL;
	size_t n = 0, cap = 0;
	const char *reason;
	bool kernel = false;

	if (read(rd->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	backend_sync_counters(rd);
	now = now_ms();
	for (s = rd->sessions.first; s != NULL; s = next) {
		next = s->next;
		for (int i = 0; i < s->nstreams; i++)	/* DTLS resends */
			for (int side = SIDE_A; side <= SIDE_B; side++)
				webrtc_tick(rd, &s->streams[i]->leg[side]);
		reason = session_expired(rd, s, now);
		if (reason != NULL) {
			/* Kernel counters are read lazily: look again first. */
			backend_sync_session(rd, s);
			reason = session_expired(rd, s, now);
		}
		if (reason != NULL && !expiry_push(&ended, &n, &cap, s, reason))
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
