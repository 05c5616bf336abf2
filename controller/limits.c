/*
 * limits.c: per-trunk admission: concurrent calls and calls per second
 * (a token bucket holding one second of calls). The state is keyed by
 * trunk name and lives in the daemon context, so a reload keeps the
 * counts of the calls in progress.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

struct limit_state *
limits_get(struct ctl *c, const char *trunk)
{
	struct limit_state *l;

	for (l = c->limits; l != NULL; l = l->next)
		if (strcmp(l->trunk, trunk) == 0)
			return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	snprintf(l->trunk, sizeof(l->trunk), "%s", trunk);
	l->tokens = -1;		/* full on first use */
	l->next = c->limits;
	c->limits = l;
	return l;
}

int
limits_admit(struct ctl *c, const struct trunk *t, double now)
{
	struct limit_state *l = limits_get(c, t->name);

	if (l == NULL)
		return 1;
	if (t->max_calls > 0 && l->active >= t->max_calls) {
		l->rejected++;
		return 5;
	}
	if (t->max_cps > 0) {
		double cap = t->max_cps < 1 ? 1 : t->max_cps;
		if (l->tokens < 0)
			l->tokens = cap;
		else
			l->tokens = fmin(cap, l->tokens + (now - l->last) * t->max_cps);
		l->last = now;
		if (l->tokens < 1) {
			l->rejected++;
			return (int)ceil((1 - l->tokens) / t->max_cps);
		}
		l->tokens -= 1;
	}
	l->active++;
	return 0;
}

void
limits_release(struct ctl *c, const char *trunk)
{
	struct limit_state *l = limits_get(c, trunk);

	if (l != NULL && l->active > 0)
		l->active--;
}

void
limits_free(struct ctl *c)
{
	while (c->limits != NULL) {
		struct limit_state *n = c->limits->next;
		free(c->limits);
		c->limits = n;
	}
}
