/*
 * health.c: OPTIONS probing of gateways. A gateway with a "probe" block
 * gets an OPTIONS every interval; a reply in its accepted codes within
 * the timeout is a success, anything else (another code, no reply, an
 * ICMP error: nta's 503) a failure. down_after consecutive failures mark
 * it down, up_after consecutive successes mark it up again; routing skips
 * down gateways. The state is kept by gateway name in the daemon context,
 * so a reload keeps it. Each probe is a fresh nua handle (its own
 * Call-ID); our own timer bounds it, not nta's 32 s timer F.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/su_time.h>

/* mono_now() is main.c's; these files also link into the unit tests. */

#include <sofia-sip/sip_status.h>

enum gh_state { GH_UNKNOWN, GH_UP, GH_DOWN };

struct gw_health {
	char		 name[64];
	enum gh_state	 state;
	int		 fails, oks;		/* consecutive */
	int		 last_code;		/* 0: no reply (timeout) */
	double		 latency;		/* seconds, of the last reply */
	double		 sent, since;		/* mono: last probe, last change */
	uint64_t	 probes, failures;
	nua_handle_t	*nh;			/* the probe in flight */
	su_timer_t	*timer;			/* timeout, then next probe */
	bool		 live;			/* in the running config */
	struct ctl	*ctl;
	struct gw_health *next;
};

static const char *const state_names[] = { "unknown", "up", "down" };

int
health_parse(struct proto_cfg *c, json_t *o, const char *path,
    struct gateway *g)
{
	static const char *const keys[] = { "interval", "timeout",
	    "down_after", "up_after", "codes", NULL };
	struct probe_conf *p;
	char q[PROTO_CFG_PATH];
	double d;
	json_t *arr, *v;
	size_t i;

	if (o == NULL)
		return 0;
	if ((p = g->probe = calloc(1, sizeof(*p))) == NULL)
		return proto_cfg_fail(c, path, "out of memory");
	p->interval = 10;
	p->timeout = 2;
	p->down_after = 1;	/* silent: down within interval + timeout */
	p->up_after = 2;
	p->codes[p->ncodes++] = 200;
	if (!json_is_object(o))
		return proto_cfg_fail(c, path, "expected an object");
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_number(c, o, path, "interval", &p->interval, 0.2,
	    3600) < 0 ||
	    proto_cfg_number(c, o, path, "timeout", &p->timeout, 0.1, 60) < 0)
		return -1;
	d = p->down_after;
	if (proto_cfg_number(c, o, path, "down_after", &d, 1, 100) < 0)
		return -1;
	p->down_after = (int)d;
	d = p->up_after;
	if (proto_cfg_number(c, o, path, "up_after", &d, 1, 100) < 0)
		return -1;
	p->up_after = (int)d;
	if (p->timeout >= p->interval) {
		proto_cfg_join(q, sizeof(q), path, "timeout");
		return proto_cfg_fail(c, q, "%g s must be shorter than the "
		    "interval (%g s)", p->timeout, p->interval);
	}
	if ((arr = json_object_get(o, "codes")) != NULL) {
		proto_cfg_join(q, sizeof(q), path, "codes");
		if (!json_is_array(arr) || json_array_size(arr) < 1 ||
		    json_array_size(arr) > 16)
			return proto_cfg_fail(c, q, "expected an array of 1..16 "
			    "reply codes");
		p->ncodes = 0;
		json_array_foreach(arr, i, v) {
			if (!json_is_integer(v) || json_integer_value(v) < 100 ||
			    json_integer_value(v) > 699) {
				snprintf(q, sizeof(q), "%s.codes[%zu]", path, i);
				return proto_cfg_fail(c, q, "a reply code "
				    "100..699 is required");
			}
			p->codes[p->ncodes++] = (int)json_integer_value(v);
		}
	}
	return 0;
}

static const struct gateway *
gw_conf(struct ctl *c, const char *name)
{
	for (int i = 0; i < c->conf->ngateways; i++)
		if (strcmp(c->conf->gateways[i].name, name) == 0)
			return &c->conf->gateways[i];
	return NULL;
}

static struct gw_health *
find(struct ctl *c, const char *name)
{
	for (struct gw_health *h = c->health; h != NULL; h = h->next)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

static void on_timer(su_root_magic_t *, su_timer_t *, void *);

static void
set_state(struct ctl *c, struct gw_health *h, enum gh_state st)
{
	char last[32];

	if (h->state == st)
		return;
	if (h->last_code == 0)
		snprintf(last, sizeof(last), "no reply");
	else
		snprintf(last, sizeof(last), "%d", h->last_code);
	clog_msg(c, st == GH_DOWN ? LL_WARNING : LL_NOTICE, "gateway %s: "
	    "%s -> %s (last probe: %s)", h->name, state_names[h->state],
	    state_names[st], last);
	h->state = st;
	h->since = mono_now();
}

/* One probe's outcome: code 0 is no reply within the timeout. */
static void
result(struct ctl *c, struct gw_health *h, const struct probe_conf *p,
    int code)
{
	bool ok = false;

	h->last_code = code;
	if (code != 0)
		h->latency = mono_now() - h->sent;
	for (int i = 0; i < p->ncodes; i++)
		ok |= p->codes[i] == code;
	if (ok) {
		h->fails = 0;
		h->oks++;
		/* The first answer after start is enough to say "up". */
		if (h->state == GH_UNKNOWN || h->oks >= p->up_after)
			set_state(c, h, GH_UP);
	} else {
		h->failures++;
		h->oks = 0;
		h->fails++;
		if (h->fails >= p->down_after)
			set_state(c, h, GH_DOWN);
	}
	if (h->nh != NULL)
		nua_handle_destroy(h->nh);
	h->nh = NULL;
	/* The next probe one interval after this one was sent. */
	double wait = h->sent + p->interval - mono_now();
	su_timer_set_interval(h->timer, on_timer, h,
	    (su_duration_t)(wait > 0.01 ? wait * 1000 : 10));
}

static void
send_probe(struct ctl *c, struct gw_health *h, const struct gateway *g)
{
	char uri[320], port[8] = "", tp[20] = "", from[220], route[220] = "";
	char host[160];

	if (g->port != 0)
		snprintf(port, sizeof(port), ":%u", g->port);
	if (g->transport == TP_TCP)
		strcpy(tp, ";transport=tcp");
	else if (g->transport == TP_TLS && strcmp(g->scheme, "sips") != 0)
		strcpy(tp, ";transport=tls");
	snprintf(uri, sizeof(uri), "%s:%s%s%s", g->scheme, g->host, port, tp);
	/* listen.c: with sip.listen6, our host of the gateway's family */
	if (listen_host(c->conf, listen_family(g->host), host,
	    sizeof(host)) < 0)
		snprintf(host, sizeof(host), "%s", c->contact);
	snprintf(from, sizeof(from), "<sip:probe@%s>", host);
	if (g->proxy[0] != '\0')
		snprintf(route, sizeof(route), "<%s%s>", g->proxy,
		    strstr(g->proxy, ";lr") ? "" : ";lr");
	h->sent = mono_now();
	h->probes++;
	h->nh = nua_handle(stack_for_uri(c, g->proxy[0] ? g->proxy : uri),
	    NULL, NUTAG_URL(uri), SIPTAG_TO_STR(uri),
	    SIPTAG_FROM_STR(from), TAG_END());
	if (h->nh == NULL) {
		result(c, h, g->probe, 500);
		return;
	}
	nua_options(h->nh, TAG_IF(route[0], SIPTAG_ROUTE_STR(route)),
	    SIPTAG_MAX_FORWARDS_STR("70"), TAG_END());
	su_timer_set_interval(h->timer, on_timer, h,
	    (su_duration_t)(g->probe->timeout * 1000));
}

static void
on_timer(su_root_magic_t *m, su_timer_t *t, void *arg)
{
	struct gw_health *h = arg;
	struct ctl *c = h->ctl;
	const struct gateway *g = gw_conf(c, h->name);

	if (g == NULL || g->probe == NULL || c->nua == NULL || c->quitting)
		return;
	if (h->nh != NULL) {
		clog_msg(c, LL_DEBUG, "gateway %s: no reply to OPTIONS within "
		    "%gs", h->name, g->probe->timeout);
		result(c, h, g->probe, 0);
		return;
	}
	send_probe(c, h, g);
}

bool
health_event(struct ctl *c, nua_event_t ev, int status, nua_handle_t *nh)
{
	struct gw_health *h;
	const struct gateway *g;

	if (ev != nua_r_options)
		return false;
	for (h = c->health; h != NULL; h = h->next)
		if (h->nh == nh)
			break;
	if (h == NULL)
		return false;
	if (status < 200)
		return true;
	if ((g = gw_conf(c, h->name)) == NULL || g->probe == NULL) {
		nua_handle_destroy(h->nh);
		h->nh = NULL;
		return true;
	}
	su_timer_reset(h->timer);
	result(c, h, g->probe, status);
	return true;
}

void
health_sync(struct ctl *c)
{
	struct gw_health *h, **pp;

	for (h = c->health; h != NULL; h = h->next)
		h->live = false;
	for (int i = 0; i < c->conf->ngateways; i++) {
		const struct gateway *g = &c->conf->gateways[i];
		if (g->probe == NULL)
			continue;
		if ((h = find(c, g->name)) == NULL) {
			if ((h = calloc(1, sizeof(*h))) == NULL)
				continue;
			snprintf(h->name, sizeof(h->name), "%s", g->name);
			h->ctl = c;
			h->since = mono_now();
			h->timer = su_timer_create(su_root_task(c->root), 1000);
			h->next = c->health;
			c->health = h;
			/* First probes spread over 100 ms, not all at once. */
			su_timer_set_interval(h->timer, on_timer, h, 10 + i % 100);
		}
		h->live = true;
	}
	/* Gateways no longer probed (or gone) lose their state. */
	for (pp = &c->health; (h = *pp) != NULL;) {
		if (h->live) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		if (h->nh != NULL)
			nua_handle_destroy(h->nh);
		su_timer_destroy(h->timer);
		free(h);
	}
}

void
health_close(struct ctl *c)
{
	while (c->health != NULL) {
		struct gw_health *h = c->health;
		c->health = h->next;
		if (h->nh != NULL && c->nua != NULL)
			nua_handle_destroy(h->nh);
		su_timer_destroy(h->timer);
		free(h);
	}
}

int
health_filter(struct ctl *c, struct candidate *cand, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		struct gw_health *h = cand[i].gw->probe ?
		    find(c, cand[i].gw->name) : NULL;
		if (h != NULL && h->state == GH_DOWN)
			continue;
		cand[k++] = cand[i];
	}
	return k;
}

json_t *
health_json(struct ctl *c, const struct gateway *g)
{
	struct gw_health *h = g->probe ? find(c, g->name) : NULL;

	if (h == NULL)
		return json_pack("{s:s}", "state", "unprobed");
	return json_pack("{s:s,s:i,s:f,s:f,s:I,s:I,s:f}",
	    "state", state_names[h->state],
	    "last_code", h->last_code,
	    "latency_ms", h->last_code ? h->latency * 1000.0 : 0.0,
	    "since", mono_now() - h->since,
	    "probes", (json_int_t)h->probes,
	    "probe_failures", (json_int_t)h->failures,
	    "interval", g->probe->interval);
}
