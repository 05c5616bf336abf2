/*
 * ports.c: the pool of RTP/RTCP port pairs of one relay interface.
 *
 * A ring of free even ports. Taking pops the oldest; releasing appends,
 * so a released pair is handed out again only after every other free pair:
 * late packets of an ended call do not land in a new one.
 */
#include <errno.h>
#include <stdlib.h>

#include "relayd.h"

int
ports_init(struct port_pool *pp, uint16_t min, uint16_t max)
{
	size_t n;

	if ((min & 1) != 0 || max <= min)
		return -EINVAL;
	n = ((size_t)max - min + 1) / 2;
	pp->queue = calloc(n, sizeof(*pp->queue));
	if (pp->queue == NULL)
		return -ENOMEM;
	pp->cap = n;
	pp->head = 0;
	pp->count = n;
	pp->min = min;
	pp->max = max;
	for (size_t i = 0; i < n; i++)
		pp->queue[i] = (uint16_t)(min + 2 * i);
	return 0;
}

void
ports_free(struct port_pool *pp)
{
	free(pp->queue);
	pp->queue = NULL;
	pp->cap = pp->count = 0;
}

int
ports_take(struct port_pool *pp, uint16_t *port)
{
	if (pp->count == 0)
		return -ENOSPC;
	*port = pp->queue[pp->head];
	pp->head = (pp->head + 1) % pp->cap;
	pp->count--;
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
}

size_t
ports_available(const struct port_pool *pp)
{
	return pp->count;
}
