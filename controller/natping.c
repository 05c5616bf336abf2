/*
 * natping.c: keepalives toward registered phones behind NAT (issue 15).
 *
 * Calls to a registration go to the flow its REGISTER came from
 * (location.c), which behind a NAT is the NAT's binding: it lives only as
 * long as traffic crosses it (often 30 s for UDP). A phone that
 * re-registers every hour would be unreachable most of that hour, so we
 * send it an OPTIONS on its flow every registrar.nat_keepalive seconds
 * (default 25; 0: never). Over TCP and TLS the OPTIONS goes on the
 * connection the phone opened and keeps that (and the NAT's state for
 * it) alive as well.
 *
 * Only bindings that look NAT'd get them: the contact's host is not the
 * address the REGISTER came from. The answer does not matter (the
 * packet out is what refreshes the binding); each OPTIONS' handle is
 * let go after a few seconds, and at most NATPING_MAX are in flight.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

#define NATPING_HOLD_S	8.0	/* an OPTIONS' handle lives this long */
#define NATPING_MAX	10000	/* in flight; beyond, pings wait a tick */

struct natping {
	nua_handle_t	*nh;
	double		 until;
	struct natping	*next;
};

/* The contact's host is not the flow's address: a NAT between us. */
static bool
natted(const struct location *l)
{
	url_t u[1];
	char buf[256], ip[64] = "", host[68];

	snprintf(buf, sizeof(buf), "%s", l->contact);
	if (url_d(u, buf) < 0 || u->url_host == NULL)
		return true;
	if (l->flow.addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    &l->flow.addr)->sin_addr, ip, sizeof(ip));
	else if (l->flow.addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    &l->flow.addr)->sin6_addr, ip, sizeof(ip));
	snprintf(host, sizeof(host), l->flow.addr.ss_family == AF_INET6 ?
	    "[%s]" : "%s", ip);
	return strcasecmp(u->url_host, host) != 0;
}

void
natping_binding(struct ctl *c, struct location *l)
{
	const struct local_conf *lc = c->conf->local;
	double ka = lc != NULL ? lc->nat_keepalive : 0;

	l->natted = natted(l);
	/* First ping one interval after the REGISTER: its own packets
	 * just refreshed the binding. */
	if (!l->natted || ka <= 0) {
		l->ping_at = 0;
		return;
	}
	l->ping_at = mono_now() + ka;
}

static void
ping(struct ctl *c, struct location *l)
{
	char uri[200], hp[80], to[300];
	struct natping *p;
	url_t u[1];
	char buf[256];

	if (flow_format(&l->flow, hp, sizeof(hp)) < 0)
		return;
	snprintf(buf, sizeof(buf), "%s", l->contact);
	if (url_d(u, buf) < 0)
		u->url_user = NULL;
	snprintf(uri, sizeof(uri), "sip:%s%s%s%s", u->url_user ?
	    u->url_user : "", u->url_user ? "@" : "", hp,
	    l->flow.transport == TP_TCP ?
	    ";transport=tcp" : l->flow.transport == TP_TLS ?
	    ";transport=tls" : "");
	snprintf(to, sizeof(to), "<%s>", l->contact);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->nh = nua_handle(stack_for_uri(c, uri), NULL, NUTAG_URL(uri),
	    SIPTAG_TO_STR(to),
	    TAG_END());
	if (p->nh == NULL) {
		free(p);
		return;
	}
	nua_options(p->nh, TAG_END());
	p->until = mono_now() + NATPING_HOLD_S;
	p->next = c->natpings;
	c->natpings = p;
	c->nnatpings++;
	c->natpings_sent++;
	clog_msg(c, LL_DEBUG, "registrar: %s: keepalive OPTIONS to %s (%s)",
	    l->account, uri, l->contact);
}

/* Let go of the handles whose time is up (all: at exit). */
static void
expire(struct ctl *c, bool all)
{
	struct natping **pp = &c->natpings, *p;
	double now = mono_now();

	while ((p = *pp) != NULL) {
		if (!all && p->until > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		c->nnatpings--;
		if (c->nua != NULL)
			nua_handle_destroy(p->nh);
		free(p);
	}
}

void
natping_tick(struct ctl *c)
{
	const struct local_conf *lc = c->conf->local;
	double now = mono_now(), ka = lc != NULL ? lc->nat_keepalive : 0;

	expire(c, false);
	if (c->nua == NULL)
		return;
	for (struct location *l = c->locations; l != NULL; l = l->next) {
		if (!l->natted || ka <= 0 || l->expires <= now)
			continue;
		if (l->ping_at == 0)	/* keepalives turned on by a reload */
			l->ping_at = now;
		if (l->ping_at > now || c->nnatpings >= NATPING_MAX)
			continue;
		l->ping_at = now + ka;
		ping(c, l);
	}
}

void
natping_close(struct ctl *c)
{
	expire(c, true);
}
