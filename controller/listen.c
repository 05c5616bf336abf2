/*
 * listen.c: the URIs the SIP stack binds, and the address it writes
 * about itself (issue 15: an SBC behind 1:1 NAT).
 *
 * sip.advertise (and sip.tls_advertise for the TLS listener) name the
 * public address of a listener whose own address is private (a cloud
 * instance behind 1:1 NAT). Sofia's way to say it: bind URI
 * "sip:PUBLIC[:PORT];maddr=LOCAL" - the transport binds LOCAL and takes
 * PUBLIC as its canonical name, which nta writes in our Via sent-by and
 * nua in our Contact. The From host of gateway legs follows too
 * (c->contact). We add no Record-Route (a B2BUA ends both dialogs), and
 * SDP names the relay, whose interfaces have their own advertised
 * address (trunkline-relayd.conf(5), interfaces[].advertise).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

/* "host:port", "[v6]:port" or "host" -> host (brackets kept) and port
 * ("" when none). -EINVAL when the host does not fit. */
static int
split(const char *hp, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon, *end;
	int n;

	port[0] = '\0';
	if (hp[0] == '[' && (end = strchr(hp, ']')) != NULL) {
		n = snprintf(host, hlen, "%.*s", (int)(end - hp + 1), hp);
		if (end[1] == ':')
			snprintf(port, plen, "%s", end + 2);
	} else if ((colon = strrchr(hp, ':')) != NULL &&
	    strchr(hp, ':') == colon) {
		n = snprintf(host, hlen, "%.*s", (int)(colon - hp), hp);
		snprintf(port, plen, "%s", colon + 1);
	} else {
		n = snprintf(host, hlen, "%s", hp);
	}
	return n < 0 || (size_t)n >= hlen ? -EINVAL : 0;
}

/* One listener's bind URI: scheme:listen, or scheme:adv[:port];maddr=. */
static void
one(const char *scheme, const char *listen, const char *adv, char *out,
    size_t len)
{
	char lh[128], lp[8], ah[128], ap[8], maddr[128];

	if (adv[0] == '\0' || split(listen, lh, sizeof(lh), lp, sizeof(lp)) < 0 ||
	    split(adv, ah, sizeof(ah), ap, sizeof(ap)) < 0) {
		snprintf(out, len, "%s:%s", scheme, listen);
		return;
	}
	/* maddr takes an address without brackets. */
	snprintf(maddr, sizeof(maddr), "%s", lh[0] == '[' ? lh + 1 : lh);
	if (lh[0] == '[')
		maddr[strlen(maddr) - 1] = '\0';
	snprintf(out, len, "%s:%s%s%s;maddr=%s", scheme, ah, ap[0] || lp[0] ?
	    ":" : "", ap[0] ? ap : lp, maddr);
}

void
listen_urls(const struct ctl_conf *conf, char *url, size_t ulen, char *sips,
    size_t slen, char *host, size_t hlen)
{
	char p[8];

	one("sip", conf->listen, conf->advertise, url, ulen);
	sips[0] = '\0';
	if (conf->tls_listen[0])
		one("sips", conf->tls_listen, conf->tls_advertise[0] ?
		    conf->tls_advertise : conf->advertise, sips, slen);
	/* Our host in From of gateway legs (a gateway's from_host aside). */
	if (split(conf->advertise[0] ? conf->advertise : conf->listen, host,
	    hlen, p, sizeof(p)) < 0)
		snprintf(host, hlen, "%s", conf->listen);
}

/* sip.advertise / sip.tls_advertise: "host" or "host:port". */
int
listen_check(struct proto_cfg *cf, const char *key, const char *v)
{
	char h[128], p[8], path[64];
	long port;

	if (v[0] == '\0')
		return 0;
	snprintf(path, sizeof(path), "sip.%s", key);
	if (split(v, h, sizeof(h), p, sizeof(p)) < 0 || h[0] == '\0' ||
	    strpbrk(h, " \t;<>\"@") != NULL)
		return proto_cfg_fail(cf, path, "'%s' is not HOST or HOST:PORT "
		    "(IPv6 in brackets)", v);
	port = p[0] ? strtol(p, NULL, 10) : 1;
	if (p[0] && (strspn(p, "0123456789") != strlen(p) || port < 1 ||
	    port > 65535))
		return proto_cfg_fail(cf, path, "'%s': port must be 1..65535", v);
	return 0;
}

/*
 * sip.listen6 (issue 15, IPv6 end to end): an IPv6 address the IPv6
 * stack (stack6.c) binds, on sip.listen's port, next to an IPv4
 * sip.listen. Every leg names the listener of its far side's family
 * (listen_contact(), listen_host(): Contact, our From host): an IPv6
 * side sees only IPv6 addresses of ours, an IPv4 side only IPv4 ones.
 */
static int advertise6_check(struct proto_cfg *, struct ctl_conf *);

int
listen6_check(struct proto_cfg *cf, struct ctl_conf *conf)
{
	struct in6_addr a6;
	struct in_addr a4;
	char h[128], p[8], v[64];
	size_t n;

	if (conf->listen6[0] == '\0')
		return advertise6_check(cf, conf);	/* refused alone */
	/* Brackets are optional: "[2001:db8::1]" or "2001:db8::1". */
	snprintf(v, sizeof(v), "%s", conf->listen6);
	n = strlen(v);
	if (v[0] == '[' && n > 2 && v[n - 1] == ']') {
		memmove(v, v + 1, n - 2);
		v[n - 2] = '\0';
	}
	if (inet_pton(AF_INET6, v, &a6) != 1)
		return proto_cfg_fail(cf, "sip.listen6", "'%s' is not an IPv6 "
		    "address (the port is sip.listen's)", conf->listen6);
	if (IN6_IS_ADDR_V4MAPPED(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6))
		return proto_cfg_fail(cf, "sip.listen6", "'%s': a v4-mapped or "
		    "unspecified address is no IPv6 listener", conf->listen6);
	if (split(conf->listen, h, sizeof(h), p, sizeof(p)) < 0 ||
	    inet_pton(AF_INET, h, &a4) != 1)
		return proto_cfg_fail(cf, "sip.listen6", "needs an IPv4 "
		    "address in sip.listen ('%s'; an IPv6-only listener is "
		    "sip.listen \"[ADDR]:PORT\" alone)", conf->listen);
	snprintf(conf->listen6, sizeof(conf->listen6), "%s", v);	/* bare */
	return advertise6_check(cf, conf);
}

/*
 * sip.advertise6: the IPv6 listeners' public address (1:1 NAT, or a
 * NAT66/NPTv6 prefix translation), "[2001:db8::10]", "[...]:PORT" or a
 * bare address; stored bracketed. The IPv6 stack binds
 * "sip:[PUBLIC]:PORT;maddr=LOCAL" as the IPv4 one does with advertise.
 */
static int
advertise6_check(struct proto_cfg *cf, struct ctl_conf *conf)
{
	struct in6_addr a6;
	char h[160], p[8], v[64];
	long port;
	int n;

	if (conf->advertise6[0] == '\0')
		return 0;
	if (conf->listen6[0] == '\0')
		return proto_cfg_fail(cf, "sip.advertise6", "needs sip.listen6 "
		    "(the IPv6 listener it stands for)");
	p[0] = '\0';
	if (conf->advertise6[0] != '[')
		snprintf(h, sizeof(h), "[%s]", conf->advertise6);
	else if (split(conf->advertise6, h, sizeof(h), p, sizeof(p)) < 0)
		h[0] = '\0';
	snprintf(v, sizeof(v), "%.*s", h[0] ? (int)strlen(h) - 2 : 0, h + 1);
	if (h[0] == '\0' || inet_pton(AF_INET6, v, &a6) != 1 ||
	    IN6_IS_ADDR_V4MAPPED(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6))
		return proto_cfg_fail(cf, "sip.advertise6", "'%s' is not an "
		    "IPv6 address (\"2001:db8::10\" or \"[2001:db8::10]:5060\")",
		    conf->advertise6);
	port = p[0] ? strtol(p, NULL, 10) : 1;
	if (p[0] && (strspn(p, "0123456789") != strlen(p) || port < 1 ||
	    port > 65535))
		return proto_cfg_fail(cf, "sip.advertise6", "'%s': port must be "
		    "1..65535", conf->advertise6);
	n = snprintf(h, sizeof(h), "[%s]%s%s", v, p[0] ? ":" : "", p);
	if (n < 0 || (size_t)n >= sizeof(conf->advertise6))
		return proto_cfg_fail(cf, "sip.advertise6", "too long");
	memcpy(conf->advertise6, h, (size_t)n + 1);
	return 0;
}

int
listen_url6(const struct ctl_conf *conf, char *out, size_t len)
{
	char h[128], p[8];

	char lv6[160];

	if (conf->listen6[0] == '\0')
		return -ENOENT;
	if (split(conf->listen, h, sizeof(h), p, sizeof(p)) < 0)
		return -EINVAL;
	/* sip.advertise6: "sip:[PUBLIC]:PORT;maddr=LOCAL", as for IPv4 */
	snprintf(lv6, sizeof(lv6), "[%s]%s%s", conf->listen6, p[0] ? ":" : "",
	    p);
	one("sip", lv6, conf->advertise6, out, len);
	return 0;
}

/* The IPv6 TLS listener (stack6.c): tls_listen's port, advertise6. */
void
listen_sips6(const struct ctl_conf *conf, char *out, size_t len)
{
	char lv6[160];

	out[0] = '\0';
	if (conf->tls_listen6[0] == '\0')
		return;
	snprintf(lv6, sizeof(lv6), "[%s]:%u", conf->tls_listen6,
	    stacksock_port(conf->tls_listen, 5061));
	one("sips", lv6, conf->advertise6, out, len);
}

/* The family of a SIP URI's or a host's host part: AF_INET6 for an IPv6
 * reference, AF_INET for a dotted quad, else AF_UNSPEC (a name). */
int
listen_family(const char *uri)
{
	const char *h = uri, *at;
	char buf[128];
	struct in_addr a4;
	size_t n;

	if (h[0] == '<')
		h++;
	if (strncasecmp(h, "sips:", 5) == 0)
		h += 5;
	else if (strncasecmp(h, "sip:", 4) == 0)
		h += 4;
	if ((at = strchr(h, '@')) != NULL)
		h = at + 1;
	if (h[0] == '[')
		return AF_INET6;
	n = strcspn(h, ":;>?");
	if (n >= sizeof(buf))
		return AF_UNSPEC;
	memcpy(buf, h, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, &a4) == 1 ? AF_INET : AF_UNSPEC;
}

/* Our host and port as the side of that family sees them: the
 * advertised address (advertise, advertise6) or the listener's; the
 * port an advertised one names, else the listen port. */
static int
ours(const struct ctl_conf *conf, int family, char *h, size_t hlen,
    char *p, size_t plen)
{
	const char *adv = family == AF_INET6 ? conf->advertise6 :
	    conf->advertise;
	char lh[128];

	if (split(conf->listen, lh, sizeof(lh), p, plen) < 0)
		return -EINVAL;
	if (adv[0] != '\0') {
		char ap[8];
		if (split(adv, h, hlen, ap, sizeof(ap)) < 0)
			return -EINVAL;
		if (ap[0] != '\0')
			snprintf(p, plen, "%s", ap);
		return 0;
	}
	if (family == AF_INET6)
		snprintf(h, hlen, "[%s]", conf->listen6);
	else
		snprintf(h, hlen, "%s", lh);
	return 0;
}

int
listen_contact(const struct ctl_conf *conf, int family, enum transport tp,
    char *out, size_t len)
{
	char h[128], p[8];

	out[0] = '\0';
	/* One listener (or a name): nua's own Contact is the right one. */
	if (conf->listen6[0] == '\0' || (family != AF_INET &&
	    family != AF_INET6) || tp == TP_TLS)
		return -ENOENT;
	if (ours(conf, family, h, sizeof(h), p, sizeof(p)) < 0)
		return -EINVAL;
	snprintf(out, len, "<sip:%s%s%s%s>", h, p[0] ? ":" : "", p,
	    tp == TP_TCP ? ";transport=tcp" : "");
	return 0;
}

int
listen_host(const struct ctl_conf *conf, int family, char *out, size_t len)
{
	char p[8];

	if (conf->listen6[0] == '\0' || (family != AF_INET &&
	    family != AF_INET6))
		return -ENOENT;
	return ours(conf, family, out, len, p, sizeof(p));
}
