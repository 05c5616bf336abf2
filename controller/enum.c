/*
 * enum.c: ENUM (RFC 6116), a routing step before the rules. A called
 * number in E.164 form ('+' and digits) is looked up as NAPTR records
 * under the configured suffix (e164.arpa or a private tree) with Sofia's
 * resolver (sres); the best terminal "u" record for service E2U+sip
 * (lowest order, then preference), its regexp applied to the number,
 * gives the SIP URI the call goes to. No answer within enum.timeout, an
 * error or no usable record: the call goes on to the rules (LCR).
 *
 * The answer comes from DNS, so it may name any host: it is called
 * directly only when its host is in enum.domains; a host that is one of
 * our own addresses is refused, one that names a configured gateway goes
 * through that gateway (its transforms, credentials and health) when
 * enum.gateways is set and is refused otherwise (targets.c). A refused
 * answer is logged and the rules decide, as for no answer.
 *
 * The lookup is asynchronous: the call waits with a pending count (so it
 * cannot be freed), and b2bua_routed() resumes it. A query that outlives
 * its timeout is unbound (sres then drops its answer) and freed.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/url.h>

struct enum_query;
#define SRES_CONTEXT_T	struct enum_query
#include <sofia-sip/sresolv.h>
#include <sofia-resolv/sres_record.h>

struct enum_query {
	struct call	*k;
	sres_resolver_t	*res;
	sres_query_t	*query;
	su_timer_t	*timer;
	char		 domain[160];
};

/* "+31201234567" -> "7.6.5.4.3.2.1.0.2.1.3.SUFFIX"; -1 if not E.164. */
static int
enum_domain(const char *number, const char *suffix, char *out, size_t len)
{
	size_t n = strlen(number), off = 0;

	if (n < 2 || n > 16 || number[0] != '+' ||
	    strspn(number + 1, "0123456789") != n - 1)
		return -1;
	for (size_t i = n - 1; i >= 1 && off + 2 < len; i--) {
		out[off++] = number[i];
		out[off++] = '.';
	}
	if ((size_t)snprintf(out + off, len - off, "%s", suffix) >= len - off)
		return -1;
	return 0;
}

/* Apply a NAPTR regexp ("!^.*$!sip:x@y!") to the number. 0 or -1. */
static int
naptr_apply(const char *rx, const char *aus, char *out, size_t len)
{
	char buf[512], *pat, *rep, *fl, delim;
	regmatch_t m[10];
	regex_t re;
	int rc;

	if (rx == NULL || rx[0] == '\0' || strlen(rx) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", rx);
	delim = buf[0];
	pat = buf + 1;
	if ((rep = strchr(pat, delim)) == NULL)
		return -1;
	*rep++ = '\0';
	if ((fl = strchr(rep, delim)) == NULL)
		return -1;
	*fl++ = '\0';
	if (regcomp(&re, pat, REG_EXTENDED |
	    (strchr(fl, 'i') != NULL ? REG_ICASE : 0)) != 0)
		return -1;
	rc = regexec(&re, aus, 10, m, 0) == 0 ?
	    xform_expand(rep, aus, m, 10, out, len) : -1;
	regfree(&re);
	return rc < 0 ? -1 : 0;
}

/* The URI of the best usable record, or -1. */
static int
best_uri(sres_record_t **answers, const char *aus, char *out, size_t len)
{
	const sres_naptr_record_t *best = NULL;

	for (int i = 0; answers != NULL && answers[i] != NULL; i++) {
		const sres_naptr_record_t *na = answers[i]->sr_naptr;
		if (na->na_record->r_type != sres_type_naptr ||
		    na->na_record->r_status != 0 || na->na_services == NULL ||
		    strcasecmp(na->na_services, "E2U+sip") != 0 ||
		    na->na_flags == NULL || strcasecmp(na->na_flags, "u") != 0)
			continue;
		if (best == NULL || na->na_order < best->na_order ||
		    (na->na_order == best->na_order &&
		    na->na_prefer < best->na_prefer))
			best = na;
	}
	if (best == NULL)
		return -1;
	return naptr_apply(best->na_regexp, aus, out, len);
}

/* The answer's URI as k's candidate: 1 one candidate, 0 refused. */
static int
enum_candidate(struct call *k, const char *uri, const char *domain)
{
	const struct gateway *gw;
	url_t *u = url_hdup(k->home, (url_t *)url_make(k->home, uri));
	char why[200];
	int rc;

	if (u == NULL || u->url_host == NULL ||
	    (u->url_type != url_sip && u->url_type != url_sips)) {
		clog_msg(k->ctl, LL_INFO, "call %s: ENUM %s -> %s: not a sip: "
		    "URI; routing rules decide", k->call_id, domain, uri);
		return 0;
	}
	rc = target_check_enum(k->ctl, u, &gw, why, sizeof(why));
	if (rc < 0) {
		k->ctl->stats.enum_refused++;
		clog_msg(k->ctl, LL_NOTICE, "call %s: ENUM %s -> %s refused: "
		    "%s; routing rules decide", k->call_id, domain, uri, why);
		return 0;
	}
	if (rc == 1) {
		/* The gateway as configured, for the called number. */
		k->cand[0] = (struct candidate){ (struct gateway *)gw, "enum",
		    NULL };
		clog_msg(k->ctl, LL_INFO, "call %s: ENUM %s -> %s: gateway %s",
		    k->call_id, domain, uri, gw->name);
		return 1;
	}
	if (local_uri_candidate(k, uri, "enum", &k->cand[0]) < 0)
		return 0;
	clog_msg(k->ctl, LL_INFO, "call %s: ENUM %s -> %s", k->call_id,
	    domain, uri);
	return 1;
}

static void
on_naptr(struct enum_query *q, sres_query_t *query, sres_record_t **answers)
{
	struct call *k = q->k;
	char uri[256];
	int n = 0;

	su_timer_destroy(q->timer);
	k->pending--;
	if (best_uri(answers, k->called, uri, sizeof(uri)) == 0)
		n = enum_candidate(k, uri, q->domain);
	else
		clog_msg(k->ctl, LL_INFO, "call %s: ENUM %s: no SIP URI; "
		    "routing rules decide", k->call_id, q->domain);
	sres_free_answers(q->res, answers);
	free(q);
	b2bua_routed(k, n);
}

static void
on_enum_timeout(struct ctl *c, su_timer_t *t, void *arg)
{
	struct enum_query *q = arg;
	struct call *k = q->k;

	clog_msg(c, LL_NOTICE, "call %s: ENUM %s: no answer within %gs; "
	    "routing rules decide", k->call_id, q->domain,
	    k->conf->local->enum_timeout);
	sres_query_bind(q->query, NULL, NULL);	/* a late answer is dropped */
	su_timer_destroy(t);
	free(q);
	k->pending--;
	b2bua_routed(k, 0);
}

int
enum_route(struct call *k)
{
	const struct local_conf *lc = k->conf->local;
	struct ctl *c = k->ctl;
	struct enum_query *q;

	if (lc == NULL || lc->enum_suffix[0] == '\0')
		return 0;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return 0;
	if (enum_domain(k->called, lc->enum_suffix, q->domain,
	    sizeof(q->domain)) < 0) {
		free(q);
		return 0;	/* not E.164: not ENUM's */
	}
	if (c->sres == NULL)
		c->sres = sres_resolver_create(c->root, lc->enum_resolv[0] ?
		    lc->enum_resolv : NULL, TAG_END());
	if (c->sres == NULL) {
		clog_msg(c, LL_WARNING, "ENUM: cannot create the resolver "
		    "(%s)", lc->enum_resolv[0] ? lc->enum_resolv :
		    "/etc/resolv.conf");
		free(q);
		return 0;
	}
	q->k = k;
	q->res = c->sres;
	q->timer = su_timer_create(su_root_task(c->root), 1000);
	if (q->timer == NULL || (q->query = sres_query(c->sres, on_naptr, q,
	    sres_type_naptr, q->domain)) == NULL) {
		clog_msg(c, LL_WARNING, "call %s: ENUM query %s failed",
		    k->call_id, q->domain);
		if (q->timer != NULL)
			su_timer_destroy(q->timer);
		free(q);
		return 0;
	}
	su_timer_set_interval(q->timer, on_enum_timeout, q,
	    (su_duration_t)(lc->enum_timeout * 1000));
	k->pending++;
	return CTL_ROUTE_PENDING;
}

int
enum_open(struct ctl *c)
{
	return 0;	/* the resolver is made on the first lookup */
}

void
enum_close(struct ctl *c)
{
	if (c->sres != NULL)
		sres_resolver_destroy(c->sres);
	c->sres = NULL;
}
