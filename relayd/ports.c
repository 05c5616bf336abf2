/*
 * ports.c: the pool of RTP/RTCP port pairs of one relay interface.
 *
 * A ring of free even ports. Releasing appends, so a released pair waits
 * behind the other free pairs: late packets of an ended call do not land
 * in a new one. Taking picks a pair at random among the older half of the
 * ring (the picked one swaps places with the oldest): handing ports out in
 * sequence would tell anyone who saw one call the ports of the next ones,
 * and a leg's ports are the only secret that keeps strangers from sending
 * to it before its peer does.
 *
 * A bit per pair says whether it is in the ring (free): sockwarm.c binds
 * only free pairs, whatever the ring's order is by then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "relayd.h"

static void
mark(struct port_pool *pp, uint16_t port, bool is_free)
{
	size_t i = ((size_t)port - pp->min) / 2;
	uint64_t bit = (uint64_t)1 << (i % 64);

	if (is_free)
		pp->free_map[i / 64] |= bit;
	else
		pp->free_map[i / 64] &= ~bit;
}

/* Is port's pair in the ring (no leg has it)? */
bool
ports_is_free(const struct port_pool *pp, uint16_t port)
{
	size_t i;

	if (pp->free_map == NULL || port < pp->min || port > pp->max)
		return false;
	i = ((size_t)port - pp->min) / 2;
	return (pp->free_map[i / 64] >> (i % 64) & 1) != 0;
}

int
ports_init(struct port_pool *pp, uint16_t min, uint16_t max)
{
	size_t n;

	if ((min & 1) != 0 || max <= min)
		return -EINVAL;
	n = ((size_t)max - min + 1) / 2;
	pp->parked_fd = NULL;
	pp->parked_round = NULL;
	pp->parked = 0;
	pp->queue = calloc(n, sizeof(*pp->queue));
	pp->owner = calloc(n, sizeof(*pp->owner));
	pp->free_map = malloc((n + 63) / 64 * sizeof(*pp->free_map));
	if (pp->queue == NULL || pp->owner == NULL || pp->free_map == NULL) {
		ports_free(pp);
		return -ENOMEM;
	}
	pp->cap = n;
	pp->head = 0;
	pp->count = n;
	pp->min = min;
	pp->max = max;
	pp->nrnd = 0;
	for (size_t i = 0; i < n; i++)
		pp->queue[i] = (uint16_t)(min + 2 * i);
	memset(pp->free_map, 0xff, (n + 63) / 64 * sizeof(*pp->free_map));
	return 0;
}

void
ports_free(struct port_pool *pp)
{
	free(pp->queue);
	pp->queue = NULL;
	free(pp->free_map);
	pp->free_map = NULL;
	free(pp->owner);	/* sockpark.c: park_free closed the sockets */
	pp->owner = NULL;
	free(pp->parked_fd);
	pp->parked_fd = NULL;
	free(pp->parked_round);
	pp->parked_round = NULL;
	pp->parked = 0;
	pp->cap = pp->count = 0;
}

/*
 * A random index below n. getrandom() in blocks, so a burst of offers
 * costs one system call per PORTS_RND ports; if it fails (it does not
 * block once the pool is initialised), fall back to the oldest pair.
 */
static size_t
pick(struct port_pool *pp, size_t n)
{
	ssize_t got;

	if (n <= 1)
		return 0;
	if (pp->nrnd == 0) {
		got = getrandom(pp->rnd, sizeof(pp->rnd), GRND_NONBLOCK);
		if (got != (ssize_t)sizeof(pp->rnd))
			return 0;
		pp->nrnd = PORTS_RND;
	}
	return pp->rnd[--pp->nrnd] % n;
}

int
ports_take(struct port_pool *pp, uint16_t *port)
{
	size_t k, tmp;

	if (pp->count == 0)
		return -ENOSPC;
	/* The older half: a just released pair is not among them. */
	k = (pp->head + pick(pp, (pp->count + 1) / 2)) % pp->cap;
	tmp = pp->queue[k];
	pp->queue[k] = pp->queue[pp->head];
	pp->queue[pp->head] = (uint16_t)tmp;
	*port = pp->queue[pp->head];
	pp->head = (pp->head + 1) % pp->cap;
	pp->count--;
	mark(pp, *port, false);
	return 0;
}

int
ports_take_port(struct port_pool *pp, uint16_t port)
{
	for (size_t i = 0; i < pp->count; i++) {
		size_t k = (pp->head + i) % pp->cap;
		if (pp->queue[k] != port)
			continue;
		/* The oldest free port takes its place in the ring. */
		pp->queue[k] = pp->queue[pp->head];
		pp->head = (pp->head + 1) % pp->cap;
		pp->count--;
		mark(pp, port, false);
		return 0;
	}
	return -ENOENT;
}

void
ports_release(struct port_pool *pp, uint16_t port)
{
	/* A port outside the pool or a full ring means a caller bug. */
	if (port < pp->min || port > pp->max || (port & 1) != 0 ||
	    pp->count == pp->cap)
		return;
	pp->queue[(pp->head + pp->count) % pp->cap] = port;
	pp->count++;
	mark(pp, port, true);
}

size_t
ports_available(const struct port_pool *pp)
{
	return pp->count;
}
