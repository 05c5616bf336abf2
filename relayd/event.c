/*
 * event.c: the plumbing of relayd's single epoll loop: registration, the
 * dispatch of events by tag, the monotonic clock, and deferred frees that
 * keep pointers in one epoll batch valid.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "relayd.h"

struct deferred {
	struct deferred	*next;
	void		*ptr;
};

/*
 * The monotonic clock, in ms, counted from RELAYD_CLOCK_BASE_MS rather
 * than from boot: times in the past are kept as now minus an age (a
 * session the journal brings back keeps its age: journal.c), and after a
 * reboot that age can exceed the uptime. Counted from boot, the
 * difference wrapped around to a time far in the future, and such a
 * session never reached a timeout.
 */
uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return RELAYD_CLOCK_BASE_MS + (uint64_t)ts.tv_sec * 1000 +
	    (uint64_t)ts.tv_nsec / 1000000;
}

int
epoll_add(struct relayd *rd, int fd, uint32_t events, void *tag)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };

	return epoll_ctl(rd->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void
epoll_del(struct relayd *rd, int fd)
{
	epoll_ctl(rd->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void
defer_free(struct relayd *rd, void *ptr)
{
	struct deferred *d = malloc(sizeof(*d));

	if (d == NULL) {
		/* Leaking beats a use-after-free later in the batch. */
		rlog(rd, LL_ERROR, "out of memory deferring a free");
		return;
	}
	d->ptr = ptr;
	d->next = rd->graveyard;
	rd->graveyard = d;
}

void
graveyard_empty(struct relayd *rd)
{
	while (rd->graveyard != NULL) {
		struct deferred *d = rd->graveyard;
		rd->graveyard = d->next;
		free(d->ptr);
		free(d);
	}
}

int
signals_open(struct relayd *rd, struct evtag *tag)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	tag->kind = TAG_SIGNAL;
	if (epoll_add(rd, fd, EPOLLIN, tag) < 0)
		return -errno;
	return fd;
}

void
on_signal(struct relayd *rd, int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			rlog(rd, LL_NOTICE, "SIGHUP: reload is not supported "
			    "yet; restart to apply a new configuration");
			continue;
		}
		rlog(rd, LL_NOTICE, "signal %d: shutting down", si.ssi_signo);
		rd->quit = true;
	}
}

static void
dispatch(struct relayd *rd, struct epoll_event *ev, int sigfd)
{
	struct evtag *tag = ev->data.ptr;

	if (ev->data.u64 & PARK_TOKEN_BIT) {
		port_readable(rd, ev->data.u64);	/* leg sockets: sockpark.c */
		return;
	}
	switch (tag->kind) {
	case TAG_LEG:
		forward_readable(rd, (struct leg_sock *)tag);
		break;
	case TAG_CONTROL:
	case TAG_CONN:
		control_event(rd, ev->events, tag);
		break;
	case TAG_TIMER:
		timers_tick(rd);
		control_tick(rd);
		break;
	case TAG_SIGNAL:
		on_signal(rd, sigfd);
		break;
	case TAG_BACKEND:
		backend_event(rd);
		break;
	}
}

int
event_loop(struct relayd *rd, int sigfd)
{
	struct epoll_event evs[64];
	int n;

	while (!rd->quit) {
		/* A fresh relay binds its free pairs a slice a round, before
		 * the epoll_wait that covers them, which does not block until
		 * they are all bound (sockwarm.c). */
		if (warm_pending(rd))
			warm_slice(rd, WARM_SLICE);
		n = epoll_wait(rd->epfd, evs, 64, warm_pending(rd) ? 0 : -1);
		if (n < 0 && errno != EINTR) {
			rlog(rd, LL_ERROR, "epoll_wait: %s", strerror(errno));
			return -1;
		}
		if (n > 0) {
			rd->loop_round++;
			/* before any command can take a parked pair */
			park_prepass(rd, evs, n, n == 64);
		}
		for (int i = 0; i < n; i++)
			dispatch(rd, &evs[i], sigfd);
		backend_flush(rd);
		journal_flush(rd);
		/* after the journal: a reply never precedes its state */
		control_flush(rd);
		graveyard_empty(rd);
	}
	return 0;
}

