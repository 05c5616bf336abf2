/*
 * config.c: the controller's JSON configuration (trunkline-controller.conf(5)).
 * Everything is validated before it is used, at start and on reload; an
 * error names the file, the line and the field ("controller.json:31:
 * routes[0].lcr: no LCR table 'intl'"). Unknown fields are errors too.
 * A loaded config is reference counted: calls keep the one they started
 * with, so a reload never changes a call in progress.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"



typedef struct proto_cfg cfg_t;
#define fail	proto_cfg_fail
#define P(buf, ...)	pathf(buf, sizeof(buf), __VA_ARGS__)

/* Field paths are bounded; a cut one still names the place. */
static void __attribute__((format(printf, 3, 4)))
pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int
get_int(cfg_t *c, json_t *o, const char *path, const char *key, int *out,
    int min, int max)
{
	double d = *out;
	char p[PROTO_CFG_PATH];
	int rc = proto_cfg_number(c, o, path, key, &d, min, max);

	if (rc <= 0)
		return rc;
	if (d != (int)d) {
		proto_cfg_join(p, sizeof(p), path, key);
		return fail(c, p, "must be an integer");
	}
	*out = (int)d;
	return 1;
}

static int
get_transport(cfg_t *c, json_t *o, const char *path, enum transport *out,
    bool any)
{
	char s[8] = "", p[PROTO_CFG_PATH];
	static const char *const names[] = { "any", "udp", "tcp", "tls" };

	if (proto_cfg_string(c, o, path, "transport", s, sizeof(s), false) <= 0)
		return 0;
	for (int i = any ? 0 : 1; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum transport)i;
			return 1;
		}
	proto_cfg_join(p, sizeof(p), path, "transport");
	return fail(c, p, "'%s' is not one of %sudp, tcp, tls", s,
	    any ? "any, " : "");
}

static int
get_regex(cfg_t *c, json_t *o, const char *path, const char *key,
    regex_t *re, bool *has)
{
	char s[512], p[PROTO_CFG_PATH], msg[128];
	int rc = proto_cfg_string(c, o, path, key, s, sizeof(s), false);

	if (rc <= 0)
		return rc;
	if ((rc = regcomp(re, s, REG_EXTENDED)) != 0) {
		regerror(rc, re, msg, sizeof(msg));
		proto_cfg_join(p, sizeof(p), path, key);
		return fail(c, p, "bad regular expression '%s': %s", s, msg);
	}
	*has = true;
	return 1;
}

/* [{"match": RE, "replace": T} | {"strip": N} | {"prefix": S}, ...] */
static int
parse_xforms(cfg_t *c, json_t *arr, const char *path, struct xform_list *l)
{
	static const char *const keys[] = { "match", "replace", "strip",
	    "prefix", NULL };
	char p[PROTO_CFG_PATH], buf[256];
	size_t i;
	json_t *v;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return fail(c, path, "expected an array of steps");
	l->v = calloc(json_array_size(arr) + 1, sizeof(*l->v));
	json_array_foreach(arr, i, v) {
		struct xform *x = &l->v[l->n];
		bool has = false;
		int strip = -1;

		P(p, "%s[%zu]", path, i);
		if (proto_cfg_keys(c, v, p, keys) < 0)
			return -1;
		if (json_object_get(v, "match") != NULL) {
			if (get_regex(c, v, p, "match", &x->re, &has) < 0)
				return -1;
			x->kind = XF_REGEX;
			l->n++;
			buf[0] = '\0';
			if (proto_cfg_string(c, v, p, "replace", buf,
			    sizeof(buf), true) < 0)
				return -1;
			x->replace = strdup(buf);
		} else if (json_object_get(v, "strip") != NULL) {
			if (get_int(c, v, p, "strip", &strip, 0, CTL_NUM_MAX) < 0)
				return -1;
			x->kind = XF_STRIP;
			x->strip = strip;
			l->n++;
		} else if (json_object_get(v, "prefix") != NULL) {
			if (proto_cfg_string(c, v, p, "prefix", buf,
			    sizeof(buf), true) < 0)
				return -1;
			x->kind = XF_PREFIX;
			x->prefix = strdup(buf);
			l->n++;
		} else {
			return fail(c, p, "a step needs 'match' and 'replace', "
			    "'strip' or 'prefix'");
		}
		if (json_object_size(v) != (x->kind == XF_REGEX ? 2u : 1u))
			return fail(c, p, "one step per object: 'match' with "
			    "'replace', or 'strip', or 'prefix'");
	}
	return 0;
}

static int
parse_xf_set(cfg_t *c, json_t *o, const char *path, struct xform_set *xf)
{
	static const char *const keys[] = { "called", "calling", NULL };
	char p[PROTO_CFG_PATH];

	if (o == NULL)
		return 0;
	if (proto_cfg_keys(c, o, path, keys) < 0)
		return -1;
	P(p, "%s.called", path);
	if (parse_xforms(c, json_object_get(o, "called"), p, &xf->called) < 0)
		return -1;
	P(p, "%s.calling", path);
	return parse_xforms(c, json_object_get(o, "calling"), p, &xf->calling);
}

static int
parse_source(cfg_t *c, json_t *v, const char *p, struct source *s)
{
	static const char *const keys[] = { "address", "port", "transport",
	    NULL };
	char addr[80];
	int port = 0;

	memset(s, 0, sizeof(*s));
	if (json_is_string(v)) {
		if (source_parse(json_string_value(v), s) < 0)
			return fail(c, p, "'%s' is not an address or "
			    "ADDRESS/PREFIX", json_string_value(v));
		return 0;
	}
	if (proto_cfg_keys(c, v, p, keys) < 0 ||
	    proto_cfg_string(c, v, p, "address", addr, sizeof(addr), true) < 0 ||
	    get_int(c, v, p, "port", &port, 0, 65535) < 0 ||
	    get_transport(c, v, p, &s->transport, true) < 0)
		return -1;
	enum transport tp = s->transport;
	if (source_parse(addr, s) < 0) {
		char q[PROTO_CFG_PATH];
		P(q, "%s.address", p);
		return fail(c, q, "'%s' is not an address or ADDRESS/PREFIX",
		    addr);
	}
	s->transport = tp;
	s->port = (uint16_t)port;
	return 0;
}

int
parse_digest(cfg_t *c, json_t *o, const char *path, struct trunk *t,
    su_root_t *root)
{
	static const char *const keys[] = { "username", "password", "ha1",
	    "realm", NULL };
	char p[PROTO_CFG_PATH];

	if (o == NULL)
		return 0;
	strcpy(t->realm, "trunkline");
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "username", t->username,
	    sizeof(t->username), true) < 0 ||
	    proto_cfg_string(c, o, path, "password", t->password,
	    sizeof(t->password), false) < 0 ||
	    proto_cfg_string(c, o, path, "ha1", t->ha1, sizeof(t->ha1),
	    false) < 0 ||
	    proto_cfg_string(c, o, path, "realm", t->realm, sizeof(t->realm),
	    false) < 0)
		return -1;
	if ((t->password[0] == '\0') == (t->ha1[0] == '\0'))
		return fail(c, path, "give exactly one of 'password' and 'ha1'");
	if (t->ha1[0] != '\0' && strspn(t->ha1, "0123456789abcdef") != 32) {
		P(p, "%s.ha1", path);
		return fail(c, p, "must be 32 lowercase hex digits "
		    "(MD5 of username:realm:password)");
	}
	return 0;	/* auth.c checks the answers */
}

static int
parse_trunk(cfg_t *c, json_t *o, const char *path, struct ctl_conf *conf,
    struct trunk *t, su_root_t *root)
{
	static const char *const keys[] = { "name", "sources", "digest",
	    "max_calls", "max_cps", "transforms", "register", "identity",
	    "trusted", "numbers", "default_cli", "region", "session_expires",
	    "relay_interface",
	    NULL };
	char p[PROTO_CFG_PATH];
	json_t *src, *v;
	size_t i;

	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "name", t->name, sizeof(t->name),
	    true) < 0 ||
	    get_int(c, o, path, "max_calls", &t->max_calls, 0, 1000000) < 0 ||
	    proto_cfg_number(c, o, path, "max_cps", &t->max_cps, 0, 100000) < 0 ||
	    session_timer_parse_override(c, o, path, conf,
	    &t->session_expires, &t->has_session_expires) < 0 ||
	    relayif_parse(c, o, path, conf, t->relay_interface,
	    sizeof(t->relay_interface)) < 0)
		return -1;
	for (struct trunk *u = conf->trunks; u < t; u++)
		if (strcmp(u->name, t->name) == 0) {
			P(p, "%s.name", path);
			return fail(c, p, "duplicate trunk name '%s'", t->name);
		}
	src = json_object_get(o, "sources");
	P(p, "%s.sources", path);
	if (src != NULL && !json_is_array(src))
		return fail(c, p, "expected an array of addresses");
	t->sources = calloc(json_array_size(src) + 1, sizeof(*t->sources));
	json_array_foreach(src, i, v) {
		P(p, "%s.sources[%zu]", path, i);
		if (parse_source(c, v, p, &t->sources[i]) < 0)
			return -1;
		t->nsources++;
	}
	P(p, "%s.digest", path);
	if (parse_digest(c, json_object_get(o, "digest"), p, t, root) < 0)
		return -1;
	P(p, "%s.register", path);
	if (register_parse(c, json_object_get(o, "register"), p, t) < 0)
		return -1;
	P(p, "%s.identity", path);
	if (identity_parse(c, json_object_get(o, "identity"), p, t) < 0)
		return -1;
	if (t->nsources == 0 && t->username[0] == '\0' && t->reg == NULL)
		return fail(c, path, "a trunk needs 'sources', 'digest' or "
		    "'register'");
	if (trust_parse(c, o, path, t, false) < 0)	/* identity.c */
		return -1;
	P(p, "%s.transforms", path);
	return parse_xf_set(c, json_object_get(o, "transforms"), p, &t->xf);
}

/*
 * A gateway's host as a URI writes it: an IPv6 literal in brackets
 * ("2001:db8::1" is taken and bracketed); a bracketed one must be an
 * IPv6 address (issue 15).
 */
static int
gateway_host(cfg_t *c, const char *path, char *host, size_t len)
{
	struct in6_addr a6;
	char p[200], v[64];
	size_t n = strlen(host);

	snprintf(p, sizeof(p), "%.160s.host", path);
	if (host[0] == '[') {
		if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof(v))
			return fail(c, p, "'%s' is not an IPv6 address in "
			    "brackets", host);
		memcpy(v, host + 1, n - 2);
		v[n - 2] = '\0';
		if (inet_pton(AF_INET6, v, &a6) != 1)
			return fail(c, p, "'%s' is not an IPv6 address in "
			    "brackets", host);
		return 0;
	}
	if (strchr(host, ':') == NULL)
		return 0;
	if (inet_pton(AF_INET6, host, &a6) != 1 || n + 3 > len)
		return fail(c, p, "'%s' is no host (an IPv6 address, or a "
		    "name or IPv4 address; the port is 'port')", host);
	memmove(host + 1, host, n + 1);
	host[0] = '[';
	host[n + 1] = ']';
	host[n + 2] = '\0';
	return 0;
}

static int
parse_gateway(cfg_t *c, json_t *o, const char *path, struct ctl_conf *conf,
    struct gateway *g)
{
	static const char *const keys[] = { "name", "host", "port",
	    "transport", "scheme", "proxy", "username", "password",
	    "caller_id", "from_user", "from_host", "from_display",
	    "uri_params", "transforms", "probe", "trusted", "session_expires",
	    "isup", "invite_timeout", "relay_interface", NULL };
	char p[PROTO_CFG_PATH], cid[8] = "from";
	int port = 0;

	g->transport = TP_UDP;
	strcpy(g->scheme, "sip");
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "name", g->name, sizeof(g->name),
	    true) < 0 ||
	    proto_cfg_string(c, o, path, "host", g->host, sizeof(g->host),
	    true) < 0 ||
	    get_int(c, o, path, "port", &port, 1, 65535) < 0 ||
	    get_transport(c, o, path, &g->transport, false) < 0 ||
	    proto_cfg_string(c, o, path, "scheme", g->scheme,
	    sizeof(g->scheme), false) < 0 ||
	    proto_cfg_string(c, o, path, "proxy", g->proxy, sizeof(g->proxy),
	    false) < 0 ||
	    proto_cfg_string(c, o, path, "username", g->username,
	    sizeof(g->username), false) < 0 ||
	    proto_cfg_string(c, o, path, "password", g->password,
	    sizeof(g->password), false) < 0 ||
	    proto_cfg_string(c, o, path, "caller_id", cid, sizeof(cid),
	    false) < 0 ||
	    proto_cfg_string(c, o, path, "from_user", g->from_user,
	    sizeof(g->from_user), false) < 0 ||
	    proto_cfg_string(c, o, path, "from_host", g->from_host,
	    sizeof(g->from_host), false) < 0 ||
	    proto_cfg_string(c, o, path, "from_display", g->from_display,
	    sizeof(g->from_display), false) < 0 ||
	    proto_cfg_string(c, o, path, "uri_params", g->uri_params,
	    sizeof(g->uri_params), false) < 0 ||
	    proto_cfg_bool(c, o, path, "trusted", &g->trusted) < 0 ||
	    session_timer_parse_override(c, o, path, conf,
	    &g->session_expires, &g->has_session_expires) < 0 ||
	    multipart_parse_gateway(c, o, path, g) < 0 ||
	    attempt_parse(c, o, path, &g->at) < 0 ||	/* attempt.c */
	    relayif_parse(c, o, path, conf, g->relay_interface,
	    sizeof(g->relay_interface)) < 0 ||
	    gateway_host(c, path, g->host, sizeof(g->host)) < 0)
		return -1;
	if (g->uri_params[0] != '\0' && (g->uri_params[0] != ';' ||
	    strpbrk(g->uri_params, " \t\r\n<>\"") != NULL)) {
		P(p, "%s.uri_params", path);
		return fail(c, p, "'%s': URI parameters such as \";user=phone\"",
		    g->uri_params);
	}
	g->port = (uint16_t)port;
	for (struct gateway *u = conf->gateways; u < g; u++)
		if (strcmp(u->name, g->name) == 0) {
			P(p, "%s.name", path);
			return fail(c, p, "duplicate gateway name '%s'", g->name);
		}
	if (strcmp(g->scheme, "sip") != 0 && strcmp(g->scheme, "sips") != 0) {
		P(p, "%s.scheme", path);
		return fail(c, p, "'%s' is not sip or sips", g->scheme);
	}
	if (strchr(g->host, ':') != NULL && g->host[0] != '[') {
		P(p, "%s.host", path);
		return fail(c, p, "'%s': give the port in 'port' (IPv6 "
		    "addresses in brackets)", g->host);
	}
	if (strcmp(cid, "from") == 0)
		g->cid = CID_FROM;
	else if (strcmp(cid, "pai") == 0)
		g->cid = CID_PAI;
	else if (strcmp(cid, "rpid") == 0)
		g->cid = CID_RPID;
	else {
		P(p, "%s.caller_id", path);
		return fail(c, p, "'%s' is not one of from, pai, rpid", cid);
	}
	if ((g->username[0] == '\0') != (g->password[0] == '\0'))
		return fail(c, path, "'username' and 'password' go together");
	P(p, "%s.probe", path);
	if (health_parse(c, json_object_get(o, "probe"), p, g) < 0)
		return -1;
	P(p, "%s.transforms", path);
	return parse_xf_set(c, json_object_get(o, "transforms"), p, &g->xf);
}

static struct gateway *
find_gateway(struct ctl_conf *conf, const char *name)
{
	for (int i = 0; i < conf->ngateways; i++)
		if (strcmp(conf->gateways[i].name, name) == 0)
			return &conf->gateways[i];
	return NULL;
}

static struct carrier *
find_carrier(struct ctl_conf *conf, const char *name)
{
	for (int i = 0; i < conf->ncarriers; i++)
		if (strcmp(conf->carriers[i].name, name) == 0)
			return &conf->carriers[i];
	return NULL;
}

static int
parse_carrier(cfg_t *c, json_t *o, const char *path, struct ctl_conf *conf,
    struct carrier *cr)
{
	static const char *const keys[] = { "name", "gateways", NULL };
	static const char *const gkeys[] = { "gateway", "priority", "weight",
	    NULL };
	char p[PROTO_CFG_PATH], name[64];
	json_t *arr, *v;
	size_t i;

	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "name", cr->name, sizeof(cr->name),
	    true) < 0)
		return -1;
	arr = json_object_get(o, "gateways");
	P(p, "%s.gateways", path);
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > 64)
		return fail(c, arr ? p : path, "'gateways': an array of 1..64 "
		    "entries is required");
	cr->gws = calloc(json_array_size(arr), sizeof(*cr->gws));
	json_array_foreach(arr, i, v) {
		struct carrier_gw *cg = &cr->gws[i];
		P(p, "%s.gateways[%zu]", path, i);
		/* Default: list order is the priority order. */
		cg->priority = (int)i + 1;
		cg->weight = 1;
		if (json_is_string(v)) {
			snprintf(name, sizeof(name), "%s", json_string_value(v));
		} else if (proto_cfg_keys(c, v, p, gkeys) < 0 ||
		    proto_cfg_string(c, v, p, "gateway", name, sizeof(name),
		    true) < 0 ||
		    get_int(c, v, p, "priority", &cg->priority, 0, 1000) < 0 ||
		    get_int(c, v, p, "weight", &cg->weight, 1, 1000000) < 0) {
			return -1;
		}
		if ((cg->gw = find_gateway(conf, name)) == NULL)
			return fail(c, p, "no gateway named '%s'", name);
		cr->ngws++;
	}
	return 0;
}

/* An array of carrier names. */
static int
carrier_list(cfg_t *c, json_t *arr, const char *p, struct ctl_conf *conf,
    struct carrier ***out, int *n)
{
	size_t i;
	json_t *v;
	char q[PROTO_CFG_PATH];

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return fail(c, p, "expected a non-empty array of carrier names");
	*out = calloc(json_array_size(arr), sizeof(**out));
	json_array_foreach(arr, i, v) {
		P(q, "%s[%zu]", p, i);
		if (!json_is_string(v))
			return fail(c, q, "expected a carrier name");
		if (((*out)[i] = find_carrier(conf, json_string_value(v))) == NULL)
			return fail(c, q, "no carrier named '%s'",
			    json_string_value(v));
		(*n)++;
	}
	return 0;
}

static int
parse_table(cfg_t *c, json_t *o, const char *path, struct ctl_conf *conf,
    struct lcr_table *t)
{
	static const char *const keys[] = { "name", "prefixes", NULL };
	static const char *const pkeys[] = { "prefix", "carriers", NULL };
	char p[PROTO_CFG_PATH], q[PROTO_CFG_PATH];
	json_t *arr, *v;
	size_t i;

	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "name", t->name, sizeof(t->name),
	    true) < 0)
		return -1;
	arr = json_object_get(o, "prefixes");
	P(p, "%s.prefixes", path);
	if (!json_is_array(arr))
		return fail(c, arr ? p : path, "'prefixes': an array is "
		    "required");
	t->prefixes = calloc(json_array_size(arr) + 1, sizeof(*t->prefixes));
	json_array_foreach(arr, i, v) {
		struct lcr_prefix *lp = &t->prefixes[i];
		P(p, "%s.prefixes[%zu]", path, i);
		if (proto_cfg_keys(c, v, p, pkeys) < 0 ||
		    proto_cfg_string(c, v, p, "prefix", lp->prefix,
		    sizeof(lp->prefix), true) < 0)
			return -1;
		if (strspn(lp->prefix, "0123456789*#") != strlen(lp->prefix)) {
			P(q, "%s.prefix", p);
			return fail(c, q, "'%s': digits only (\"\" is the "
			    "default entry)", lp->prefix);
		}
		for (int k = 0; k < t->nprefixes; k++)
			if (strcmp(t->prefixes[k].prefix, lp->prefix) == 0) {
				P(q, "%s.prefix", p);
				return fail(c, q, "duplicate prefix '%s'",
				    lp->prefix);
			}
		P(q, "%s.carriers", p);
		if (carrier_list(c, json_object_get(v, "carriers"), q, conf,
		    &lp->carriers, &lp->ncarriers) < 0)
			return -1;
		t->nprefixes++;
	}
	return 0;
}

static int
parse_route(cfg_t *c, json_t *o, const char *path, struct ctl_conf *conf,
    struct route *r)
{
	static const char *const keys[] = { "name", "trunk", "ruri", "from",
	    "lcr", "carriers", "transforms", "ring_timeout",
	    "failover_after_early", NULL };
	char p[PROTO_CFG_PATH], name[64] = "";

	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    attempt_parse(c, o, path, &r->at) < 0 ||	/* attempt.c */
	    proto_cfg_string(c, o, path, "name", r->name, sizeof(r->name),
	    false) < 0 ||
	    get_regex(c, o, path, "ruri", &r->ruri, &r->has_ruri) < 0 ||
	    get_regex(c, o, path, "from", &r->from, &r->has_from) < 0 ||
	    proto_cfg_string(c, o, path, "trunk", name, sizeof(name), false) < 0)
		return -1;
	if (name[0] != '\0') {
		for (int i = 0; i < conf->ntrunks; i++)
			if (strcmp(conf->trunks[i].name, name) == 0)
				r->trunk = &conf->trunks[i];
		P(p, "%s.trunk", path);
		if (r->trunk == NULL)
			return fail(c, p, "no trunk named '%s'", name);
	}
	name[0] = '\0';
	if (proto_cfg_string(c, o, path, "lcr", name, sizeof(name), false) < 0)
		return -1;
	if ((name[0] != '\0') == (json_object_get(o, "carriers") != NULL))
		return fail(c, path, "give exactly one of 'lcr' and 'carriers'");
	if (name[0] != '\0') {
		for (int i = 0; i < conf->ntables; i++)
			if (strcmp(conf->tables[i].name, name) == 0)
				r->lcr = &conf->tables[i];
		P(p, "%s.lcr", path);
		if (r->lcr == NULL)
			return fail(c, p, "no LCR table named '%s'", name);
	} else {
		P(p, "%s.carriers", path);
		if (carrier_list(c, json_object_get(o, "carriers"), p, conf,
		    &r->carriers, &r->ncarriers) < 0)
			return -1;
	}
	P(p, "%s.transforms", path);
	return parse_xf_set(c, json_object_get(o, "transforms"), p, &r->xf);
}

/* A top-level array of objects, each parsed by fn into a calloc'd array. */
#define PARSE_ARRAY(key, field, nfield, fn, ...) do {			\
	json_t *arr_ = json_object_get(root, key), *v_;			\
	size_t i_;							\
	char p_[PROTO_CFG_PATH];					\
	if (arr_ != NULL && !json_is_array(arr_))			\
		return fail(c, key, "expected an array");		\
	conf->field = calloc(json_array_size(arr_) + 1,			\
	    sizeof(*conf->field));					\
	json_array_foreach(arr_, i_, v_) {				\
		P(p_, "%s[%zu]", key, i_);				\
		if (fn(c, v_, p_, conf, &conf->field[i_], ##__VA_ARGS__) < 0) \
			return -1;					\
		conf->nfield++;						\
	}								\
} while (0)

static int
parse_relay(cfg_t *c, json_t *o, const char *path, struct ctl_conf *conf,
    struct relay_conf *r)
{
	static const char *const keys[] = { "name", "socket", "address",
	    "secret", "interfaces", NULL };
	json_t *ifs = json_object_get(o, "interfaces");
	char p[PROTO_CFG_PATH];

	memset(r, 0, sizeof(*r));
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "name", r->name, sizeof(r->name),
	    true) < 0 ||
	    proto_cfg_string(c, o, path, "socket", r->socket,
	    sizeof(r->socket), false) < 0 ||
	    proto_cfg_string(c, o, path, "address", r->address,
	    sizeof(r->address), false) < 0 ||
	    proto_cfg_string(c, o, path, "secret", r->secret,
	    sizeof(r->secret), false) < 0)
		return -1;
	if ((r->socket[0] == '\0') == (r->address[0] == '\0'))
		return fail(c, path, "give exactly one of 'socket' (Unix) and "
		    "'address' (TCP)");
	if (r->address[0] != '\0') {
		P(p, "%s.address", path);
		if (addr_parse_hostport(r->address, &r->tcp) < 0)
			return fail(c, p, "'%s' is not ADDRESS:PORT", r->address);
		if (strlen(r->secret) < 16) {
			P(p, "%s.secret", path);
			return fail(c, r->secret[0] ? p : path, "a TCP relay needs "
			    "its 'secret' (at least 16 characters)");
		}
	}
	if (ifs != NULL) {
		P(p, "%s.interfaces", path);
		if (!json_is_array(ifs) || json_array_size(ifs) != 2 ||
		    !json_is_string(json_array_get(ifs, 0)) ||
		    !json_is_string(json_array_get(ifs, 1)))
			return fail(c, p, "two interface names are required: "
			    "[caller side, callee side]");
		for (int i = 0; i < 2; i++)
			snprintf(r->interfaces[i], sizeof(r->interfaces[i]),
			    "%s", json_string_value(json_array_get(ifs, i)));
	}
	return 0;
}

static int
parse_sip(cfg_t *c, json_t *o, struct ctl_conf *conf)
{
	static const char *const keys[] = { "listen", "listen6", "tls_listen",
	    "tls_cert_dir", "advertise", "udp_rmem", "user_agent",
	    "tls_verify", "tls_verify_depth", "tls_client_cert",
	    "tls_client_subjects", "tls_advertise", "tls_listen6", "advertise6", NULL };

	if (o == NULL)
		return tls_parse(c, o, conf);
	if (proto_cfg_keys(c, o, "sip", keys) < 0 ||
	    proto_cfg_string(c, o, "sip", "listen", conf->listen,
	    sizeof(conf->listen), false) < 0 ||
	    proto_cfg_string(c, o, "sip", "listen6", conf->listen6,
	    sizeof(conf->listen6), false) < 0 ||
	    proto_cfg_string(c, o, "sip", "tls_listen", conf->tls_listen,
	    sizeof(conf->tls_listen), false) < 0 ||
	    proto_cfg_string(c, o, "sip", "tls_listen6", conf->tls_listen6,
	    sizeof(conf->tls_listen6), false) < 0 ||
	    proto_cfg_string(c, o, "sip", "tls_cert_dir", conf->tls_cert_dir,
	    sizeof(conf->tls_cert_dir), false) < 0 ||
	    proto_cfg_string(c, o, "sip", "advertise", conf->advertise,
	    sizeof(conf->advertise), false) < 0 ||
	    proto_cfg_string(c, o, "sip", "tls_advertise", conf->tls_advertise,
	    sizeof(conf->tls_advertise), false) < 0 ||
	    proto_cfg_string(c, o, "sip", "advertise6", conf->advertise6,
	    sizeof(conf->advertise6), false) < 0 ||
	    listen_check(c, "advertise", conf->advertise) < 0 ||	/* listen.c */
	    listen_check(c, "tls_advertise", conf->tls_advertise) < 0 ||
	    listen6_check(c, conf) < 0 ||
	    stack6_check(c, conf) < 0 ||	/* stack6.c */
	    get_int(c, o, "sip", "udp_rmem", &conf->udp_rmem, 0, 1 << 30) < 0 ||
	    proto_cfg_string(c, o, "sip", "user_agent", conf->user_agent,
	    sizeof(conf->user_agent), false) < 0)
		return -1;
	if ((conf->tls_listen[0] == '\0') != (conf->tls_cert_dir[0] == '\0'))
		return fail(c, "sip", "'tls_listen' and 'tls_cert_dir' go "
		    "together (TLS needs a certificate)");
	if (conf->tls_cert_dir[0] != '\0') {
		/* Sofia would start without TLS, silently: check here. */
		char pem[300];
		snprintf(pem, sizeof(pem), "%s/agent.pem", conf->tls_cert_dir);
		if (access(pem, R_OK) != 0)
			return fail(c, "sip.tls_cert_dir", "%s: %s (the key "
			    "and certificate are required)", pem,
			    strerror(errno));
	}
	return tls_parse(c, o, conf);	/* tls.c: the trust keys */
}

static int
parse_control(cfg_t *c, json_t *o, struct ctl_conf *conf)
{
	static const char *const keys[] = { "socket", "mode", "idle_timeout",
	    "max_pending", "established_timeout", NULL };

	if (o == NULL)
		return 0;
	if (proto_cfg_keys(c, o, "control", keys) < 0 ||
	    proto_cfg_string(c, o, "control", "socket", conf->socket_path,
	    sizeof(conf->socket_path), false) < 0 ||
	    proto_cfg_mode(c, o, "control", "mode", &conf->socket_mode) < 0 ||
	    proto_cfg_number(c, o, "control", "idle_timeout",
	    &conf->control_idle_timeout, 0.1, 3600) < 0 ||
	    get_int(c, o, "control", "max_pending", &conf->control_max_pending,
	    1, 4096) < 0 ||
	    proto_cfg_number(c, o, "control", "established_timeout",
	    &conf->control_established_timeout, 0, 86400) < 0)
		return -1;
	if (conf->control_established_timeout > 0 &&
	    conf->control_established_timeout < 1)
		return fail(c, "control.established_timeout", "0 (never) or "
		    "1 to 86400 seconds");
	return 0;
}

static int
parse_codes(cfg_t *c, json_t *arr, struct ctl_conf *conf)
{
	size_t i;
	json_t *v;
	char p[PROTO_CFG_PATH];

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > 32)
		return fail(c, "failover_codes", "expected an array of up to 32 "
		    "reply codes");
	conf->nfailover = 0;
	json_array_foreach(arr, i, v) {
		P(p, "failover_codes[%zu]", i);
		if (!json_is_integer(v) || json_integer_value(v) < 300 ||
		    json_integer_value(v) > 599)
			return fail(c, p, "a reply code 300..599 is required "
			    "(6xx always ends the call)");
		conf->failover_codes[conf->nfailover++] =
		    (int)json_integer_value(v);
	}
	return 0;
}

static int
parse_top(cfg_t *c, json_t *root, struct ctl_conf *conf, su_root_t *sroot)
{
	static const char *const keys[] = { "sip", "control", "relays", "cdr",
	    "log_level", "unknown_source", "invite_timeout", "max_duration",
	    "relay_timeout", "relay_grace", "failover_codes", "trunks", "gateways",
	    "ring_timeout", "failover_after_early",
	    "carriers", "lcr", "routes", "protection",
	    "accounts", "registrar", "emergency", "enum", "refusals",
	    "session_expires", "min_se", "web", "forking", NULL };
	char level[16] = "", unk[16] = "";

	if (proto_cfg_keys(c, root, "", keys) < 0 ||
	    parse_sip(c, json_object_get(root, "sip"), conf) < 0 ||
	    parse_control(c, json_object_get(root, "control"), conf) < 0 ||
	    proto_cfg_string(c, root, "", "cdr", conf->cdr_path,
	    sizeof(conf->cdr_path), false) < 0 ||
	    proto_cfg_string(c, root, "", "log_level", level, sizeof(level),
	    false) < 0 ||
	    proto_cfg_string(c, root, "", "unknown_source", unk, sizeof(unk),
	    false) < 0 ||
	    proto_cfg_number(c, root, "", "invite_timeout",
	    &conf->invite_timeout, 0.1, 300) < 0 ||
	    proto_cfg_number(c, root, "", "ring_timeout", &conf->ring_timeout,
	    0, 3600) < 0 ||
	    proto_cfg_bool(c, root, "", "failover_after_early",
	    &conf->failover_early) < 0 ||
	    proto_cfg_number(c, root, "", "max_duration", &conf->max_duration,
	    0, 7 * 86400.0) < 0 ||
	    proto_cfg_number(c, root, "", "relay_timeout",
	    &conf->relay_timeout, 0.05, 30) < 0 ||
	    proto_cfg_number(c, root, "", "relay_grace", &conf->relay_grace,
	    0, 600) < 0 ||
	    parse_codes(c, json_object_get(root, "failover_codes"), conf) < 0 ||
	    protect_parse(c, json_object_get(root, "protection"), conf) < 0 ||
	    refusal_parse(c, json_object_get(root, "refusals"), conf) < 0 ||
	    session_timer_parse(c, root, conf) < 0 ||
	    web_parse(c, json_object_get(root, "web"), conf) < 0 ||	/* web.c */
	    fork_parse(c, root, "", &conf->forking) < 0)	/* fork.c */
		return -1;
	if (level[0] != '\0' && log_level_parse(level, &conf->log_level) < 0)
		return fail(c, "log_level", "'%s' is not one of debug, info, "
		    "notice, warning, error", level);
	if (unk[0] != '\0' && strcmp(unk, "reject") != 0 &&
	    strcmp(unk, "drop") != 0)
		return fail(c, "unknown_source", "'%s' is not reject (403) or "
		    "drop (no answer)", unk);
	conf->unknown_drop = strcmp(unk, "drop") == 0;
	{
		json_t *arr = json_object_get(root, "relays"), *v;
		size_t i;
		char p[PROTO_CFG_PATH];
		if (arr != NULL) {
			if (!json_is_array(arr) || json_array_size(arr) < 1 ||
			    json_array_size(arr) > CTL_MAX_RELAYS)
				return fail(c, "relays", "an array of 1..%d "
				    "relays is required", CTL_MAX_RELAYS);
			conf->nrelays = 0;
			json_array_foreach(arr, i, v) {
				P(p, "relays[%zu]", i);
				if (parse_relay(c, v, p, conf,
				    &conf->relays[i]) < 0)
					return -1;
				conf->nrelays++;
			}
		}
	}
	PARSE_ARRAY("trunks", trunks, ntrunks, parse_trunk, sroot);
	PARSE_ARRAY("gateways", gateways, ngateways, parse_gateway);
	PARSE_ARRAY("carriers", carriers, ncarriers, parse_carrier);
	PARSE_ARRAY("lcr", tables, ntables, parse_table);
	PARSE_ARRAY("routes", routes, nroutes, parse_route);
	if (local_conf_parse(c, root, conf, sroot) < 0)	/* registrar.c */
		return -1;
	return emergency_check_regions(c, conf);	/* trunks' regions */
}

static void
defaults(struct ctl_conf *conf)
{
	strcpy(conf->listen, "127.0.0.1:5060");
	conf->udp_rmem = 8 << 20;
	conf->tls_verify = true;
	conf->tls_verify_depth = 4;
	strcpy(conf->user_agent, "trunkline-controller/" TRUNKLINE_VERSION);
	strcpy(conf->socket_path, "/run/trunkline/controller.sock");
	conf->socket_mode = 0660;
	conf->control_idle_timeout = 10;
	conf->control_max_pending = 32;
	conf->control_established_timeout = 300;
	strcpy(conf->cdr_path, "/var/log/trunkline/cdr.jsonl");
	conf->log_level = LL_INFO;
	conf->invite_timeout = 8;
	conf->ring_timeout = 180;
	conf->max_duration = 4 * 3600;
	conf->relay_timeout = 1;
	conf->relay_grace = 10;
	static const int codes[] = { 408, 480, 500, 502, 503, 504 };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		conf->failover_codes[conf->nfailover++] = codes[i];
	conf->nrelays = 1;
	strcpy(conf->relays[0].name, "default");
	strcpy(conf->relays[0].socket, "/run/trunkline/relayd.sock");
}

static void
free_xf(struct xform_set *xf)
{
	xform_list_free(&xf->called);
	xform_list_free(&xf->calling);
}

static void
conf_free(struct ctl_conf *conf)
{
	for (int i = 0; conf->trunks && conf->trunks[i].name[0]; i++) {
		free(conf->trunks[i].sources);
		free_xf(&conf->trunks[i].xf);
	}
	for (int i = 0; conf->trunks && i < conf->ntrunks + 1; i++) {
		free(conf->trunks[i].reg);
		identity_free(conf->trunks[i].ident);
	}
	for (int i = 0; conf->gateways && conf->gateways[i].name[0]; i++)
		free_xf(&conf->gateways[i].xf);
	for (int i = 0; conf->gateways && i < conf->ngateways + 1; i++)
		free(conf->gateways[i].probe);
	protect_conf_free(conf->protect);
	srcindex_free(conf->srcidx);
	web_conf_free(conf->web);
	for (int i = 0; conf->carriers && i < conf->ncarriers + 1; i++)
		free(conf->carriers[i].gws);
	for (int i = 0; conf->tables && i < conf->ntables + 1; i++) {
		for (int k = 0; conf->tables[i].prefixes &&
		    k < conf->tables[i].nprefixes + 1; k++)
			free(conf->tables[i].prefixes[k].carriers);
		free(conf->tables[i].prefixes);
	}
	for (int i = 0; conf->routes && i < conf->nroutes + 1; i++) {
		struct route *r = &conf->routes[i];
		if (r->has_ruri)
			regfree(&r->ruri);
		if (r->has_from)
			regfree(&r->from);
		free(r->carriers);
		free_xf(&r->xf);
	}
	free(conf->trunks);
	free(conf->gateways);
	free(conf->carriers);
	free(conf->tables);
	free(conf->routes);
	local_conf_free(conf->local);
	free(conf);
}

struct ctl_conf *
config_ref(struct ctl_conf *conf)
{
	conf->refs++;
	return conf;
}

void
config_unref(struct ctl_conf *conf)
{
	if (conf != NULL && --conf->refs == 0)
		conf_free(conf);
}

bool
config_failover_code(const struct ctl_conf *conf, int status)
{
	for (int i = 0; i < conf->nfailover; i++)
		if (conf->failover_codes[i] == status)
			return true;
	return false;
}

int
config_load(const char *path, su_root_t *root, struct ctl_conf **out,
    char *err, size_t errlen)
{
	struct proto_cfg c;
	struct ctl_conf *conf;
	json_t *j;
	int rc;

	*out = NULL;
	if ((j = proto_cfg_open(&c, path, err, errlen)) == NULL)
		return -1;
	if ((conf = calloc(1, sizeof(*conf))) == NULL) {
		proto_cfg_close(&c, j);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	conf->refs = 1;
	defaults(conf);
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	rc = parse_top(&c, j, conf, root);
	proto_cfg_close(&c, j);
	if (rc < 0) {
		conf_free(conf);
		return -1;
	}
	/* NULL (out of memory) leaves identify.c's scan: slower, same answer. */
	conf->srcidx = srcindex_build(conf->trunks, conf->ntrunks);
	*out = conf;
	return 0;
}
