/*
 * targets.c: where calls may go (issue 12). Three kinds of destination
 * bypass the routing rules (and so LCR, transforms, gateway credentials,
 * health and billing): registered contacts, ENUM results and, through a
 * misconfiguration, the controller itself. This file holds the checks
 * they share:
 *
 *  - our own addresses: the listen, TLS and advertised hosts and every
 *    interface address (re-read every few seconds; a target there is a
 *    loop or a local service);
 *  - the configured gateways: a destination that names one would reach
 *    the carrier from our trusted address without the route's rules;
 *  - the policy keys registrar.contact_networks and enum.domains;
 *  - loops: Max-Forwards 0 (483) and our own Via in a new INVITE (482).
 *
 * Registered contacts are called on the REGISTER's flow (location.c), so
 * the contact's host only names the phone; still, a contact that names a
 * gateway or us is refused: it can only be an attempt to reach them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

#define SELF_REFRESH_S	5.0	/* interface addresses may change */

/* A URI host ("192.0.2.1", "[2001:db8::1]", "2001:db8::1") as an
 * address; -EINVAL for a name. */
static int
host_addr(const char *host, struct sockaddr_storage *ss)
{
	char buf[80];
	size_t n;

	if (host == NULL || (n = strlen(host)) == 0 || n >= sizeof(buf))
		return -EINVAL;
	if (host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
	} else {
		memcpy(buf, host, n + 1);
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, buf,
	    &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_storage v4;
		ss->ss_family = AF_INET6;
		/* [::ffff:192.0.2.1] is 192.0.2.1 (identify.c's addr_unmap) */
		if (addr_unmap((struct sockaddr *)ss, &v4) !=
		    (struct sockaddr *)ss)
			*ss = v4;
		return 0;
	}
	return -EINVAL;
}

/* Same address, ports aside. */
static bool
same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

static bool
addr_unspecified(const struct sockaddr *sa)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr,
		    &any6, 16) == 0;
	return false;
}

/* "host:port", "[v6]:port" or "host" -> host (brackets kept), port or 0. */
static void
split_hostport(const char *hp, char *host, size_t len, unsigned *port)
{
	const char *colon, *end;

	*port = 0;
	if (hp[0] == '[' && (end = strchr(hp, ']')) != NULL) {
		snprintf(host, len, "%.*s", (int)(end - hp + 1), hp);
		if (end[1] == ':')
			*port = (unsigned)atoi(end + 2);
		return;
	}
	if ((colon = strrchr(hp, ':')) != NULL && strchr(hp, ':') == colon) {
		snprintf(host, len, "%.*s", (int)(colon - hp), hp);
		*port = (unsigned)atoi(colon + 1);
		return;
	}
	snprintf(host, len, "%s", hp);
}

static void
self_refresh(struct ctl *c)
{
	struct ifaddrs *ifs, *i;
	double now = mono_now();

	if (c->self_at > 0 && now - c->self_at < SELF_REFRESH_S)
		return;
	c->self_at = now;
	if (getifaddrs(&ifs) < 0) {
		clog_msg(c, LL_WARNING, "targets: cannot read the interface "
		    "addresses (%s); keeping the last list", strerror(errno));
		return;
	}
	c->nself = 0;
	for (i = ifs; i != NULL && c->nself < (int)(sizeof(c->self) /
	    sizeof(c->self[0])); i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(&c->self[c->nself], 0, sizeof(c->self[0]));
		memcpy(&c->self[c->nself], i->ifa_addr,
		    i->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		c->nself++;
	}
	freeifaddrs(ifs);
}

/* One of our configured hosts (listen, tls_listen, advertise)? */
static bool
conf_host(const struct ctl_conf *conf, const char *host,
    const struct sockaddr_storage *ss, bool is_addr)
{
	const char *hps[] = { conf->listen, conf->tls_listen, conf->advertise,
	    conf->advertise6 };
	struct sockaddr_storage h;
	char buf[160];
	unsigned port;

	for (size_t i = 0; i < sizeof(hps) / sizeof(hps[0]); i++) {
		if (hps[i][0] == '\0')
			continue;
		split_hostport(hps[i], buf, sizeof(buf), &port);
		if (strcasecmp(buf, host) == 0)
			return true;
		if (is_addr && host_addr(buf, &h) == 0 &&
		    same_addr((const void *)&h, (const void *)ss))
			return true;
	}
	return false;
}

static bool
self_addr(struct ctl *c, const struct sockaddr *sa)
{
	if (addr_unspecified(sa))
		return true;	/* 0.0.0.0 is this host */
	self_refresh(c);
	for (int i = 0; i < c->nself; i++)
		if (same_addr((const void *)&c->self[i], sa))
			return true;
	return false;
}

bool
target_is_self(struct ctl *c, const char *host)
{
	struct sockaddr_storage ss;
	bool is_addr;

	if (host == NULL || host[0] == '\0')
		return true;	/* no host: it would be ours */
	is_addr = host_addr(host, &ss) == 0;
	if (conf_host(c->conf, host, &ss, is_addr))
		return true;
	return is_addr && self_addr(c, (const void *)&ss);
}

/* The host of an outbound proxy URI ("sip:[user@]host[:port][;...]"). */
static void
proxy_host(const char *uri, char *out, size_t len)
{
	const char *p = uri, *at, *end;

	out[0] = '\0';
	if (strncasecmp(p, "sips:", 5) == 0)
		p += 5;
	else if (strncasecmp(p, "sip:", 4) == 0)
		p += 4;
	if ((at = strchr(p, '@')) != NULL)
		p = at + 1;
	if (p[0] == '[')
		end = strchr(p, ']') ? strchr(p, ']') + 1 : p + strlen(p);
	else
		end = p + strcspn(p, ":;>?");
	snprintf(out, len, "%.*s", (int)(end - p), p);
}

static bool
same_host(const char *a, const char *b)
{
	struct sockaddr_storage x, y;

	if (a[0] == '\0' || b[0] == '\0')
		return false;
	if (strcasecmp(a, b) == 0)
		return true;
	return host_addr(a, &x) == 0 && host_addr(b, &y) == 0 &&
	    same_addr((const void *)&x, (const void *)&y);
}

const struct gateway *
target_gateway(const struct ctl_conf *conf, const char *host)
{
	char ph[160];

	for (int i = 0; i < conf->ngateways; i++) {
		const struct gateway *gw = &conf->gateways[i];
		if (same_host(gw->host, host))
			return gw;
		if (gw->proxy[0] != '\0') {
			proxy_host(gw->proxy, ph, sizeof(ph));
			if (same_host(ph, host))
				return gw;
		}
	}
	return NULL;
}

static bool
in_networks(const struct local_conf *lc, const struct sockaddr *sa)
{
	for (int i = 0; i < lc->ncontact_nets; i++)
		if (source_match(&lc->contact_nets[i], sa, TP_ANY))
			return true;
	return false;
}

/* The flow's host as a URI host, for the checks by name. */
static void
flow_host(const struct flow *f, char *buf, size_t len)
{
	char ip[64] = "";

	if (f->addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&f->addr)->sin_addr,
		    ip, sizeof(ip));
	else if (f->addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)&f->addr)->sin6_addr, ip,
		    sizeof(ip));
	snprintf(buf, len, f->addr.ss_family == AF_INET6 ? "[%s]" : "%s", ip);
}

int
target_check_contact(struct ctl *c, const url_t *contact,
    const struct flow *src, char *why, size_t len)
{
	const struct local_conf *lc = c->conf->local;
	const char *host = contact->url_host;
	const struct gateway *gw;
	struct sockaddr_storage ss;
	char sh[80];

	flow_host(src, sh, sizeof(sh));
	if (target_is_self(c, sh)) {
		snprintf(why, len, "the REGISTER comes from our own address %s",
		    sh);
		return -EPERM;
	}
	if ((gw = target_gateway(c->conf, sh)) != NULL) {
		snprintf(why, len, "the REGISTER comes from gateway %s's "
		    "address %s", gw->name, sh);
		return -EPERM;
	}
	if (target_is_self(c, host)) {
		snprintf(why, len, "contact host %s is our own address", host);
		return -EPERM;
	}
	if ((gw = target_gateway(c->conf, host)) != NULL) {
		snprintf(why, len, "contact host %s is gateway %s", host,
		    gw->name);
		return -EPERM;
	}
	if (lc->ncontact_nets == 0)
		return 0;
	if (!in_networks(lc, (const void *)&src->addr)) {
		snprintf(why, len, "source %s is outside "
		    "registrar.contact_networks", sh);
		return -EPERM;
	}
	if (host_addr(host, &ss) < 0 || !in_networks(lc, (const void *)&ss)) {
		snprintf(why, len, "contact host %s is outside "
		    "registrar.contact_networks", host);
		return -EPERM;
	}
	return 0;
}

/* host is domain or one of its subdomains (names), or the same address. */
static bool
in_domain(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);

	if (same_host(host, domain))
		return true;
	return h > d && host[h - d - 1] == '.' &&
	    strcasecmp(host + h - d, domain) == 0 && domain[0] != '[' &&
	    strspn(domain, "0123456789.") != d;
}

int
target_check_enum(struct ctl *c, const url_t *u, const struct gateway **gw,
    char *why, size_t len)
{
	const struct local_conf *lc = c->conf->local;
	const char *host = u->url_host;

	*gw = NULL;
	if (target_is_self(c, host)) {
		snprintf(why, len, "%s is our own address", host);
		return -EPERM;
	}
	if ((*gw = target_gateway(c->conf, host)) != NULL) {
		if (lc->enum_gateways)
			return 1;
		snprintf(why, len, "%s is gateway %s (enum.gateways is off)",
		    host, (*gw)->name);
		return -EPERM;
	}
	for (int i = 0; i < lc->nenum_domains; i++)
		if (in_domain(host, lc->enum_domains[i]))
			return 0;
	snprintf(why, len, "%s is not in enum.domains", host);
	return -EPERM;
}

/* Our listening port for a Via's transport. */
static unsigned
our_port(const struct ctl_conf *conf, bool tls)
{
	char host[160];
	unsigned port;

	split_hostport(tls ? conf->tls_listen : conf->listen, host,
	    sizeof(host), &port);
	return port != 0 ? port : tls ? 5061 : 5060;
}

/* A loop refused at the door: counted, and a refusal CDR (cdr.c). */
static int
loop_refused(struct ctl *c, const sip_t *sip, int code, const char *why)
{
	msg_t *m = c->ev_nua != NULL ? nua_current_request(c->ev_nua) : NULL;

	c->stats.loops_refused++;
	if (m != NULL && msg_addrinfo(m) != NULL)
		cdr_refusal(c, sip, msg_addrinfo(m)->ai_addr, NULL, code,
		    why);
	return code;
}

int
loop_check(struct ctl *c, const sip_t *sip, char *why, size_t len)
{
	if (sip->sip_max_forwards != NULL &&
	    sip->sip_max_forwards->mf_count == 0) {
		snprintf(why, len, "Max-Forwards is 0");
		return loop_refused(c, sip, 483, "loop: Max-Forwards 0");
	}
	/*
	 * A B2BUA starts each B-leg with its own Via alone, so our Via in
	 * a new INVITE means it went out of here and came back: a route
	 * to ourselves, directly or through proxies.
	 */
	for (const sip_via_t *v = sip->sip_via; v != NULL; v = v->v_next) {
		bool tls = v->v_protocol && strcasestr(v->v_protocol, "TLS");
		unsigned port = v->v_port ? (unsigned)atoi(v->v_port) :
		    tls ? 5061 : 5060;
		if (v->v_host != NULL && port == our_port(c->conf, tls) &&
		    target_is_self(c, v->v_host)) {
			snprintf(why, len, "our own Via %s:%u in the request",
			    v->v_host, port);
			return loop_refused(c, sip, 482, "loop: our own Via");
		}
	}
	return 0;
}

/* ---- configuration: registrar.contact_networks, enum.domains ---- */

int
targets_parse_networks(struct proto_cfg *cf, json_t *arr, const char *path,
    struct source **out, int *n)
{
	char p[PROTO_CFG_PATH];
	json_t *v;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return proto_cfg_fail(cf, path, "expected a non-empty array of "
		    "addresses or address/prefix");
	if ((*out = calloc(json_array_size(arr), sizeof(**out))) == NULL)
		return proto_cfg_fail(cf, path, "out of memory");
	json_array_foreach(arr, i, v) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_string(v) ||
		    source_parse(json_string_value(v), &(*out)[i]) < 0)
			return proto_cfg_fail(cf, p, "expected an address or "
			    "address/prefix");
		(*n)++;
	}
	return 0;
}

int
targets_parse_domains(struct proto_cfg *cf, json_t *arr, const char *path,
    char (**out)[128], int *n)
{
	char p[PROTO_CFG_PATH];
	json_t *v;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return proto_cfg_fail(cf, path, "expected an array of domain "
		    "names or addresses");
	if ((*out = calloc(json_array_size(arr) + 1, sizeof(**out))) == NULL)
		return proto_cfg_fail(cf, path, "out of memory");
	json_array_foreach(arr, i, v) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= sizeof((*out)[0]) ||
		    strpbrk(json_string_value(v), " \t@;:/") != NULL)
			return proto_cfg_fail(cf, p, "expected a domain name or "
			    "an IPv4 address (at most %zu characters)",
			    sizeof((*out)[0]) - 1);
		snprintf((*out)[i], sizeof((*out)[i]), "%s",
		    json_string_value(v));
		(*n)++;
	}
	return 0;
}
