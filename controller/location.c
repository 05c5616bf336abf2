/*
 * location.c: the registrar's location table: account -> contacts, each
 * with its expiry. It lives in the daemon context, not in the config, so
 * registrations survive a reload. A one-second timer removes expired
 * contacts; lookups skip them too, so an expired contact is never used
 * even between two ticks.
 *
 * Each binding keeps the flow its REGISTER came on (source address, port
 * and transport), and calls to it go there, never to the Contact's host:
 * what the phone writes in Contact cannot send our calls anywhere else
 * (issue 12; targets.c refuses contacts that name a gateway or us).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/url.h>

#define LOCATION_MAX	100000	/* bindings in all: REGISTER gets 503 beyond */

static void
loc_unlink(struct ctl *c, struct location **pp)
{
	struct location *l = *pp;

	*pp = l->next;
	c->nlocations--;
	free(l);
}

static const char *
tp_name(enum transport tp)
{
	return tp == TP_TCP ? "tcp" : tp == TP_TLS ? "tls" : "udp";
}

/* "192.0.2.7:5060" or "[2001:db8::7]:5060"; -EINVAL if no address. */
int
flow_format(const struct flow *f, char *buf, size_t len)
{
	char ip[64];

	if (f->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&f->addr;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (f->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&f->addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
		return -EINVAL;
	}
	return 0;
}

int
location_update(struct ctl *c, const char *account, const char *contact,
    const char *call_id, const struct flow *flow, int expires)
{
	struct location **pp, *l;

	for (pp = &c->locations; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->account, account) == 0 &&
		    strcmp((*pp)->contact, contact) == 0)
			break;
	if (expires == 0) {
		if (*pp != NULL) {
			clog_msg(c, LL_INFO, "registrar: %s: %s removed",
			    account, contact);
			loc_unlink(c, pp);
		}
		return 0;
	}
	if ((l = *pp) == NULL) {
		if (c->nlocations >= LOCATION_MAX ||
		    (l = calloc(1, sizeof(*l))) == NULL)
			return -ENOSPC;
		snprintf(l->account, sizeof(l->account), "%s", account);
		snprintf(l->contact, sizeof(l->contact), "%s", contact);
		l->next = c->locations;
		c->locations = l;
		c->nlocations++;
		clog_msg(c, LL_INFO, "registrar: %s: %s registered for %ds",
		    account, contact, expires);
	}
	snprintf(l->call_id, sizeof(l->call_id), "%s", call_id);
	l->flow = *flow;	/* a re-REGISTER from elsewhere moves the flow */
	flow_format(flow, l->source, sizeof(l->source));
	l->expires = mono_now() + expires;
	natping_binding(c, l);	/* natping.c: behind NAT? keep it open */
	return 0;
}

int
location_remove_all(struct ctl *c, const char *account)
{
	struct location **pp = &c->locations;
	int n = 0;

	while (*pp != NULL) {
		if (strcmp((*pp)->account, account) == 0) {
			loc_unlink(c, pp);
			n++;
		} else {
			pp = &(*pp)->next;
		}
	}
	if (n > 0)
		clog_msg(c, LL_INFO, "registrar: %s: all %d contacts removed",
		    account, n);
	return n;
}

/* The live contacts of an account, the latest registered first. */
int
location_lookup(struct ctl *c, const char *account, struct location **out,
    int max)
{
	double now = mono_now();
	int n = 0;

	for (struct location *l = c->locations; l != NULL && n < max;
	    l = l->next)
		if (l->expires > now && strcmp(l->account, account) == 0)
			out[n++] = l;
	return n;
}

void
location_expire(struct ctl *c)
{
	struct location **pp = &c->locations;
	double now = mono_now();

	while (*pp != NULL) {
		if ((*pp)->expires <= now) {
			clog_msg(c, LL_INFO, "registrar: %s: %s expired",
			    (*pp)->account, (*pp)->contact);
			loc_unlink(c, pp);
		} else {
			pp = &(*pp)->next;
		}
	}
}

/*
 * A binding as a call's candidate: the request-URI is the contact's user
 * at the flow's address and port, over the flow's transport (a TCP or
 * TLS connection the phone keeps open is reused by the stack).
 */
int
location_candidate(struct call *k, const struct location *l,
    const char *name, struct candidate *cd)
{
	url_t *u = url_hdup(k->home, (url_t *)url_make(k->home, l->contact));
	struct gateway *gw;
	char hp[80], *colon;

	if (u == NULL || flow_format(&l->flow, hp, sizeof(hp)) < 0 ||
	    (colon = strrchr(hp, ':')) == NULL)
		return -EINVAL;
	if ((gw = su_zalloc(k->home, sizeof(*gw))) == NULL)
		return -ENOMEM;
	*colon = '\0';
	snprintf(gw->name, sizeof(gw->name), "%s", name);
	snprintf(gw->host, sizeof(gw->host), "%s", hp);
	gw->port = (uint16_t)atoi(colon + 1);
	gw->transport = l->flow.transport;
	snprintf(gw->scheme, sizeof(gw->scheme), "%s", "sip");
	/* In-dialog requests (ACK, BYE, re-INVITE) too: the phone's Contact
	 * in its answer may be a private address behind a NAT (issue 15). */
	snprintf(gw->flow, sizeof(gw->flow), "sip:%s:%u;transport=%s", hp,
	    (unsigned)gw->port, tp_name(l->flow.transport));
	cd->gw = gw;
	cd->carrier = "local";
	cd->user = su_strdup(k->home, u->url_user ? u->url_user : "");
	return cd->user != NULL ? 0 : -ENOMEM;
}

static void
on_location_tick(struct ctl *c, su_timer_t *t, void *arg)
{
	location_expire(c);
	natping_tick(c);
}

int
location_open(struct ctl *c)
{
	c->location_timer = su_timer_create(su_root_task(c->root), 1000);
	if (c->location_timer == NULL)
		return -ENOMEM;
	su_timer_set_for_ever(c->location_timer, on_location_tick, NULL);
	return 0;
}

void
location_close(struct ctl *c)
{
	if (c->location_timer != NULL)
		su_timer_destroy(c->location_timer);
	c->location_timer = NULL;
	while (c->locations != NULL)
		loc_unlink(c, &c->locations);
	natping_close(c);
}

json_t *
locations_to_json(struct ctl *c)
{
	json_t *arr = json_array();
	double now = mono_now();

	for (struct location *l = c->locations; l != NULL; l = l->next)
		if (l->expires > now)
			json_array_append_new(arr, json_pack(
			    "{s:s,s:s,s:s,s:b,s:s,s:s,s:i}", "account",
			    l->account, "contact", l->contact, "source",
			    l->source, "natted", l->natted,
			    "transport", tp_name(l->flow.transport),
			    "call_id", l->call_id,
			    "expires", (int)(l->expires - now + 0.5)));
	return arr;
}
