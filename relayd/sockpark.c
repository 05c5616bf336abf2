/*
 * sockpark.c: leg sockets in epoll by port, and the bound sockets of free
 * ports kept for the next leg.
 *
 * A stream cost four sockets: socket(), bind() and an epoll ADD at the
 * offer, an epoll DEL and close() at the delete, 20 system calls that
 * allocate and free a file, an inode and a socket each: about a third of
 * relayd's CPU per offer+answer (bench/findings/offer-rate.md). When a
 * call ends, its legs' sockets are parked here instead, still bound and
 * still in epoll; a leg that takes the same pair from the port ring later
 * takes them back without a system call for epoll: what epoll hands back
 * for a leg socket is not a pointer into its stream but its interface
 * and port (a number with the lowest bit set; evtag pointers are
 * aligned), and the port's owner is looked up here when it is readable.
 *
 * What must not change:
 * - Which port a leg gets. The ring (ports.c) picks as before, at random
 *   among the older half; a parked pair is used only when the ring hands
 *   out that very pair, so parking never makes ports predictable.
 * - That a new leg hears nothing sent to its port before it existed. A
 *   parked socket has no owner: whatever reaches it is read and dropped,
 *   and each loop round drains the parked sockets its epoll_wait named
 *   before any command runs (park_prepass). A pair taken in that round
 *   then holds only what arrived after the epoll_wait, as a socket bound
 *   then could; where that cannot be known (parked in this very round, a
 *   full epoll batch, a drain cut short by a flood) the pair is drained
 *   when taken (one recv per socket).
 * - The file descriptor budget. Parking is on only when RLIMIT_NOFILE
 *   covers a socket for every port of the range (always so for the
 *   userspace backend; main.c decides); a kernel backend with a smaller
 *   limit closes sockets as before, so parked ones never starve a leg.
 * - That a parked port is free: a port leaving the ring without a socket
 *   (an offer the kernel holds, a restart) drops its parked sockets.
 *
 * A fresh relay does not wait for calls to park its pairs: it binds and
 * parks every free pair itself after the start (sockwarm.c, park_bind).
 *
 * Memory: an owner pointer per pair in the port pool (calloc: pages of
 * pairs never used stay unmapped), and while parking an fd per port.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relayd.h"

#define PARK_DRAIN_ROUNDS	8	/* batches per wakeup, as forward.c */
#define PARK_DRAIN_BATCH	32

static uint64_t
port_token(int iface, unsigned port)
{
	return PARK_TOKEN_BIT | (uint64_t)iface << 1 | (uint64_t)port << 8;
}

static size_t
npairs(const struct port_pool *pp)
{
	return ((size_t)pp->max - pp->min + 1) / 2;
}

/* The owner slot of port's pair; NULL if outside the range. */
static struct leg **
owner_slot(struct relayd *rd, int iface, unsigned port)
{
	struct port_pool *pp = &rd->pools[iface];

	if (pp->owner == NULL || port < pp->min || port > pp->max)
		return NULL;
	return &pp->owner[(port - pp->min) / 2];
}

static int *
park_slot(struct relayd *rd, int iface, unsigned port, bool alloc)
{
	struct port_pool *pp = &rd->pools[iface];
	size_t n = 2 * npairs(pp);

	if (port < pp->min || port > pp->max)
		return NULL;
	if (pp->parked_fd == NULL) {
		if (!alloc)
			return NULL;
		pp->parked_fd = malloc(n * sizeof(*pp->parked_fd));
		pp->parked_round = calloc(n / 2, sizeof(*pp->parked_round));
		if (pp->parked_fd == NULL || pp->parked_round == NULL) {
			free(pp->parked_fd);
			free(pp->parked_round);
			pp->parked_fd = NULL;
			pp->parked_round = NULL;
			return NULL;
		}
		for (size_t i = 0; i < n; i++)
			pp->parked_fd[i] = -1;
	}
	return &pp->parked_fd[port - pp->min];
}

/* A leg's freshly bound socket k joins epoll under its port. */
int
leg_sock_watch(struct relayd *rd, struct leg *leg, enum sock_kind k)
{
	struct leg **o = owner_slot(rd, leg->iface, leg->port);
	struct epoll_event ev = { .events = EPOLLIN,
	    .data.u64 = port_token(leg->iface, (unsigned)leg->port + k) };

	if (o == NULL)
		return -EINVAL;	/* not a port of the pool */
	*o = leg;
	return epoll_ctl(rd->epfd, EPOLL_CTL_ADD, leg->sock[k].fd, &ev) < 0 ?
	    -errno : 0;
}

/*
 * A leg without sockets (an offer the kernel holds, a stream that learns
 * in trunkline.ko) claims its pair all the same: kmod_learn.c finds the
 * leg of a learning entry by its port here, with no index of its own.
 * Nothing is in epoll on the pair (its parked sockets were dropped when
 * the port left the ring), and park_put lets it go with the leg.
 */
void
port_own(struct relayd *rd, struct leg *leg)
{
	struct leg **o = owner_slot(rd, leg->iface, leg->port);

	if (o != NULL)
		*o = leg;
}

struct leg *
port_owner(struct relayd *rd, int iface, unsigned port)
{
	struct leg **o;

	if (iface < 0 || iface >= rd->conf.nifaces ||
	    (o = owner_slot(rd, iface, port)) == NULL)
		return NULL;
	return *o;
}

/* Read and drop what is queued on fd, bounded like forward_readable:
 * true if it is empty now. */
static bool
drain(int fd)
{
	struct mmsghdr m[PARK_DRAIN_BATCH];
	struct iovec iov[PARK_DRAIN_BATCH];
	uint8_t byte[PARK_DRAIN_BATCH];
	int n;

	memset(m, 0, sizeof(m));
	for (int i = 0; i < PARK_DRAIN_BATCH; i++) {
		iov[i].iov_base = &byte[i];
		iov[i].iov_len = 1;	/* the rest of a datagram is dropped */
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (int r = 0; r < PARK_DRAIN_ROUNDS; r++) {
		n = recvmmsg(fd, m, PARK_DRAIN_BATCH, MSG_DONTWAIT, NULL);
		if (n < PARK_DRAIN_BATCH)
			return true;
	}
	return false;
}

/* A pair being taken is almost always empty: one recv() says so, at less
 * cost than recvmmsg's set-up. */
static void
drain_taken(int fd)
{
	uint8_t byte;

	if (recv(fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0)
		(void)drain(fd);
}

/*
 * The loop round a pair was parked in: set it (set) or say whether it is
 * the current one (a pair parked after this round's epoll_wait may hold
 * what its call's peer sent since, unread).
 */
static bool
pair_round(struct relayd *rd, int iface, unsigned port, bool set)
{
	struct port_pool *pp = &rd->pools[iface];
	uint32_t *r = &pp->parked_round[(port - pp->min) / 2];

	if (set)
		*r = (uint32_t)rd->loop_round;
	return *r == (uint32_t)rd->loop_round;
}

/*
 * A leg lets its pair go (its call ended): its sockets are parked (1,
 * the leg's fds are -1 now) or left to the caller to close (0). Either
 * way the pair has no owner any more.
 */
int
park_put(struct relayd *rd, struct leg *leg)
{
	struct leg **o;
	int *s[2];

	if (leg->port == 0)
		return 0;
	if ((o = owner_slot(rd, leg->iface, leg->port)) != NULL && *o == leg)
		*o = NULL;
	if (!rd->park_on || !leg_bound(leg))
		return 0;
	for (int k = SK_RTP; k <= SK_RTCP; k++) {
		s[k] = park_slot(rd, leg->iface, (unsigned)leg->port + k, true);
		if (s[k] == NULL || *s[k] >= 0)
			return 0;	/* no memory (or a bug): close them */
	}
	for (int k = SK_RTP; k <= SK_RTCP; k++) {
		*s[k] = leg->sock[k].fd;
		leg->sock[k].fd = -1;
	}
	pair_round(rd, leg->iface, leg->port, true);
	rd->pools[leg->iface].parked++;
	return 1;
}

/*
 * The ring handed out port for leg: take its parked pair if there is one
 * (1: the leg's sockets are set), else 0 (bind as before).
 */
int
park_take(struct relayd *rd, struct leg *leg, uint16_t port)
{
	int *s[2];
	struct leg **o;
	bool must_drain;

	s[SK_RTP] = park_slot(rd, leg->iface, port, false);
	s[SK_RTCP] = park_slot(rd, leg->iface, (unsigned)port + 1, false);
	if (s[SK_RTP] == NULL || s[SK_RTCP] == NULL || *s[SK_RTP] < 0 ||
	    *s[SK_RTCP] < 0)
		return 0;
	if ((o = owner_slot(rd, leg->iface, port)) == NULL)
		return 0;	/* cannot be: allocated when they were bound */
	must_drain = rd->park_unsure ||
	    pair_round(rd, leg->iface, port, false);
	for (int k = SK_RTP; k <= SK_RTCP; k++) {
		if (must_drain)
			drain_taken(*s[k]);
		leg->sock[k].fd = *s[k];
		*s[k] = -1;
	}
	*o = leg;
	rd->pools[leg->iface].parked--;
	return 1;
}

/*
 * A free pair's own sockets, bound now and parked as if a call had ended
 * on them (sockwarm.c, at start): 1 parked, 0 it was parked already,
 * -errno with *bad the port that could not be bound or watched.
 */
int
park_bind(struct relayd *rd, int iface, uint16_t port, uint16_t *bad)
{
	const struct sockaddr_storage *addr = &rd->conf.ifaces[iface].bind;
	int *s[2], fd[2] = { -1, -1 }, rc = 0;
	unsigned k;

	for (k = 0; k < 2; k++)
		if ((s[k] = park_slot(rd, iface, port + k, true)) == NULL)
			return -ENOMEM;
	if (*s[0] >= 0 || *s[1] >= 0)
		return 0;
	for (k = 0; k < 2 && rc == 0; k++) {
		struct epoll_event ev = { .events = EPOLLIN,
		    .data.u64 = port_token(iface, port + k) };
		if ((fd[k] = udp_bind(addr, (uint16_t)(port + k))) < 0)
			rc = fd[k];
		else if (epoll_ctl(rd->epfd, EPOLL_CTL_ADD, fd[k], &ev) < 0)
			rc = -errno;
		if (rc < 0)
			*bad = (uint16_t)(port + k);
	}
	if (rc < 0) {
		for (k = 0; k < 2; k++)
			if (fd[k] >= 0)
				close(fd[k]);
		return rc;
	}
	*s[0] = fd[0];
	*s[1] = fd[1];
	/* in epoll before the next epoll_wait: its pre-pass drains them */
	pair_round(rd, iface, port, true);
	rd->pools[iface].parked++;
	return 1;
}

/* port leaves the ring without a socket: close what is parked on it. */
void
park_drop(struct relayd *rd, int iface, uint16_t port)
{
	bool was = false;

	for (unsigned k = 0; k < 2; k++) {
		int *s = park_slot(rd, iface, (unsigned)port + k, false);
		if (s == NULL || *s < 0)
			continue;
		close(*s);	/* leaves epoll with it */
		*s = -1;
		was = true;
	}
	if (was)
		rd->pools[iface].parked--;
}

/*
 * Out of descriptors (the limit was lowered under us): close one parked
 * pair so that a leg can bind. 1 if one was closed. Rare: a scan is fine.
 */
int
park_evict_one(struct relayd *rd)
{
	for (int i = 0; i < rd->conf.nifaces && i < RELAYD_MAX_IFACES; i++) {
		struct port_pool *pp = &rd->pools[i];
		size_t n = 2 * npairs(pp);
		if (pp->parked == 0 || pp->parked_fd == NULL)
			continue;
		for (size_t j = 0; j < n; j += 2)
			if (pp->parked_fd[j] >= 0) {
				park_drop(rd, i, (uint16_t)(pp->min + j));
				return 1;
			}
	}
	return 0;
}

/* epoll: a leg socket, or a parked one, is readable. */
void
port_readable(struct relayd *rd, uint64_t token)
{
	int iface = (int)(token >> 1 & 0x7f);
	unsigned port = (unsigned)(token >> 8 & 0xffff);
	enum sock_kind k = (port & 1) ? SK_RTCP : SK_RTP;
	struct leg **o;
	int *s;

	if (token == PARK_TOKEN_BIT || iface >= rd->conf.nifaces ||
	    (o = owner_slot(rd, iface, port)) == NULL)
		return;		/* park_prepass did it, or not ours */
	if (*o != NULL) {
		/* its fd is -1 if the stream went to the kernel meanwhile */
		forward_readable(rd, &(*o)->sock[k]);
		return;
	}
	s = park_slot(rd, iface, port, false);
	if (s != NULL && *s >= 0)
		drain(*s);	/* nobody listens on a free port */
}

/*
 * Each loop round, before any event is dispatched: drain the parked
 * sockets this epoll_wait named. Then every parked pair taken in the round
 * holds only what arrived after the epoll_wait, as a socket bound then
 * would, so park_take needs no system call, unless: the pair was parked
 * in this round (its call's packets since), the batch came back full
 * (epoll may not have named every ready socket), or a drain here stopped
 * at its bound (a flood); then park_unsure, and takes drain.
 */
void
park_prepass(struct relayd *rd, struct epoll_event *evs, int n, bool full)
{
	rd->park_unsure = full;
	for (int i = 0; i < n; i++) {
		uint64_t t = evs[i].data.u64;
		int iface = (int)(t >> 1 & 0x7f);
		unsigned port = (unsigned)(t >> 8 & 0xffff);
		struct leg **o;
		int *s;

		if (!(t & PARK_TOKEN_BIT) || iface >= rd->conf.nifaces ||
		    (o = owner_slot(rd, iface, port)) == NULL || *o != NULL)
			continue;
		s = park_slot(rd, iface, port, false);
		if (s == NULL || *s < 0)
			continue;
		if (!drain(*s))
			rd->park_unsure = true;
		evs[i].data.u64 = PARK_TOKEN_BIT;	/* done: port 0 */
	}
}

size_t
park_count(const struct relayd *rd)
{
	size_t n = 0;

	for (int i = 0; i < rd->conf.nifaces; i++)
		n += rd->pools[i].parked;
	return n;
}

/* Shutdown, before ports_free: close every parked socket. */
void
park_free(struct relayd *rd)
{
	for (int i = 0; i < RELAYD_MAX_IFACES; i++) {
		struct port_pool *pp = &rd->pools[i];
		size_t n = 2 * npairs(pp);
		if (pp->parked_fd == NULL)
			continue;
		for (size_t j = 0; j < n; j++)
			if (pp->parked_fd[j] >= 0)
				close(pp->parked_fd[j]);
		free(pp->parked_fd);
		pp->parked_fd = NULL;
		free(pp->parked_round);
		pp->parked_round = NULL;
		pp->parked = 0;
	}
}
