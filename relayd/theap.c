/*
 * theap.c: a binary min-heap of deadlines whose nodes live inside what
 * they time (struct theap_node in a session). Each node knows its index,
 * so a re-arm or a removal from the middle is O(log n) with no search.
 * timers.c keeps one for every session; nothing here knows sessions, so
 * the unit test drives it alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "relayd.h"

static void
place(struct theap *h, size_t i, struct theap_node *nd)
{
	h->v[i] = nd;
	nd->pos = (uint32_t)(i + 1);
}

static void
sift_up(struct theap *h, size_t i)
{
	struct theap_node *nd = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->at <= nd->at)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, nd);
}

static void
sift_down(struct theap *h, size_t i)
{
	struct theap_node *nd = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
			c++;
		if (nd->at <= h->v[c]->at)
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, nd);
}

int
theap_reserve(struct theap *h, size_t n)
{
	struct theap_node **v;

	if (n <= h->cap)
		return 0;
	if (n > UINT32_MAX - 1)
		return -ENOMEM;		/* pos is 32 bits */
	if ((v = realloc(h->v, n * sizeof(*v))) == NULL)
		return -ENOMEM;
	h->v = v;
	h->cap = n;
	return 0;
}

int
theap_set(struct theap *h, struct theap_node *nd, uint32_t at)
{
	size_t i;

	if (nd->pos != 0) {
		uint32_t old = nd->at;
		nd->at = at;
		i = nd->pos - 1;
		if (at < old)
			sift_up(h, i);
		else if (at > old)
			sift_down(h, i);
		return 0;
	}
	if (h->n == h->cap &&
	    theap_reserve(h, h->cap ? h->cap * 2 : 1024) < 0)
		return -ENOMEM;
	nd->at = at;
	place(h, h->n++, nd);
	sift_up(h, h->n - 1);
	return 0;
}

void
theap_del(struct theap *h, struct theap_node *nd)
{
	size_t i;
	struct theap_node *last;

	if (nd->pos == 0)
		return;
	i = nd->pos - 1;
	nd->pos = 0;
	last = h->v[--h->n];
	if (i == h->n)
		return;		/* it was the last one */
	/* The last node takes the hole, then goes whichever way it must. */
	place(h, i, last);
	if (i > 0 && h->v[(i - 1) / 2]->at > last->at)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct theap_node *
theap_top(const struct theap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

void
theap_free(struct theap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
