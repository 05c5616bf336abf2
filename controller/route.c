/*
 * route.c: from a call to an ordered list of gateways. Rules are tried in
 * order; a rule matches on the source trunk and regexes over the
 * request-URI and the From URI. The first match gives either carriers in
 * order or an LCR table, where the longest prefix of the called number
 * picks the carriers. Each carrier contributes its gateways by priority
 * (lower first); gateways of equal priority are ordered by weighted
 * random choice, so load spreads by weight across calls.
 */
#include <string.h>

#include "controller.h"

const struct lcr_prefix *
lcr_longest(const struct lcr_table *t, const char *number)
{
	const struct lcr_prefix *best = NULL;
	size_t best_len = 0;

	if (number[0] == '+')
		number++;	/* prefixes are written without the '+' */
	for (int i = 0; i < t->nprefixes; i++) {
		const struct lcr_prefix *p = &t->prefixes[i];
		size_t n = strlen(p->prefix);
		/* "" is the default entry: matches with length 0. */
		if (strncmp(p->prefix, number, n) == 0 &&
		    (best == NULL || n > best_len)) {
			best = p;
			best_len = n;
		}
	}
	return best;
}

static bool
already(const struct candidate *out, int n, const struct gateway *gw)
{
	for (int i = 0; i < n; i++)
		if (out[i].gw == gw)
			return true;
	return false;
}

/* Append a carrier's gateways: by priority, then weighted random. */
static int
add_carrier(const struct carrier *c, double (*rnd)(void),
    struct candidate *out, int n, int max)
{
	bool used[64] = { false };
	int ngws = c->ngws < 64 ? c->ngws : 64;

	for (int k = 0; k < ngws && n < max; k++) {
		int prio = -1, total = 0, pick = -1;
		/* The lowest priority among the unused gateways. */
		for (int i = 0; i < ngws; i++)
			if (!used[i] && (prio < 0 || c->gws[i].priority < prio))
				prio = c->gws[i].priority;
		for (int i = 0; i < ngws; i++)
			if (!used[i] && c->gws[i].priority == prio)
				total += c->gws[i].weight;
		double r = rnd() * total;
		for (int i = 0; i < ngws; i++) {
			if (used[i] || c->gws[i].priority != prio)
				continue;
			pick = i;	/* the last eligible one if r rounds up */
			if (r < c->gws[i].weight)
				break;
			r -= c->gws[i].weight;
		}
		used[pick] = true;
		if (!already(out, n, c->gws[pick].gw))
			out[n++] = (struct candidate){ c->gws[pick].gw, c->name, NULL };
	}
	return n;
}

static bool
rule_matches(const struct route *r, const struct trunk *t, const char *ruri,
    const char *from)
{
	if (r->trunk != NULL && r->trunk != t)
		return false;
	if (r->has_ruri && regexec(&r->ruri, ruri, 0, NULL, 0) != 0)
		return false;
	if (r->has_from && regexec(&r->from, from, 0, NULL, 0) != 0)
		return false;
	return true;
}

int
route_lookup(const struct ctl_conf *conf, const struct trunk *t,
    const char *ruri, const char *from, const char *called,
    double (*rnd)(void), struct candidate *out, int max,
    const struct route **route)
{
	*route = NULL;
	for (int i = 0; i < conf->nroutes; i++) {
		const struct route *r = &conf->routes[i];
		struct carrier *const *cs = r->carriers;
		int ncs = r->ncarriers, n = 0;

		if (!rule_matches(r, t, ruri, from))
			continue;
		*route = r;
		if (r->lcr != NULL) {
			const struct lcr_prefix *p = lcr_longest(r->lcr, called);
			if (p == NULL)
				return 0;
			cs = p->carriers;
			ncs = p->ncarriers;
		}
		for (int k = 0; k < ncs && n < max; k++)
			n = add_carrier(cs[k], rnd, out, n, max);
		return n;
	}
	return 0;
}
