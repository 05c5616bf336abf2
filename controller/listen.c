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
 * sip.listen6 (issue 15, IPv6 end to end): an IPv6 address the stack
 * binds too, on sip.listen's port, next to an IPv4 sip.listen. Sofia's
 * nua knows one Contact per transport and picks it by the request's From
 * or To, never by the far side's family, so with two listeners every
 * leg names the listener of its far side's family itself
 * (listen_contact()): an IPv6 side sees only IPv6 addresses of ours,
 * an IPv4 side only IPv4 ones.
 */
int
listen6_check(struct proto_cfg *cf, struct ctl_conf *conf)
{
	struct in6_addr a6;
	struct in_addr a4;
	char h[128], p[8], v[64];
	size_t n;

	if (conf->listen6[0] == '\0')
		return 0;
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
	if (conf->advertise[0] != '\0')
		return proto_cfg_fail(cf, "sip.listen6", "does not go with "
		    "sip.advertise (an advertised address is one family's)");
	snprintf(conf->listen6, sizeof(conf->listen6), "%s", v);	/* bare */
	return 0;
}

int
listen_url6(const struct ctl_conf *conf, char *out, size_t len)
{
	char h[128], p[8];

	if (conf->listen6[0] == '\0')
		return -ENOENT;
	if (split(conf->listen, h, sizeof(h), p, sizeof(p)) < 0)
		return -EINVAL;
	snprintf(out, len, "sip:[%s]%s%s", conf->listen6, p[0] ? ":" : "", p);
	return 0;
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
	if (split(conf->listen, h, sizeof(h), p, sizeof(p)) < 0)
		return -EINVAL;
	if (family == AF_INET6)
		snprintf(h, sizeof(h), "[%s]", conf->listen6);
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
	if (family == AF_INET6)
		snprintf(out, len, "[%s]", conf->listen6);
	else if (split(conf->listen, out, len, p, sizeof(p)) < 0)
		return -EINVAL;
	return 0;
}

/*
 * Requests to an IPv6 peer with two listeners: Sofia's transport picks
 * the listener by the family of the destination host, but takes a
 * bracketed IPv6 reference ("[2001:db8::1]", how a URI writes it) for a
 * name and sends from the first listener, the IPv4 one (EAFNOSUPPORT).
 * An maddr parameter with the bare address is what it reads as IPv6:
 * legs towards an IPv6 peer send through an outbound proxy URI (never
 * written into a message) that carries it.
 */
int
listen_route6(const struct ctl_conf *conf, const char *uri, char *out,
    size_t len)
{
	const char *lb, *rb;
	int n;

	if (conf->listen6[0] == '\0' || listen_family(uri) != AF_INET6 ||
	    (lb = strchr(uri, '[')) == NULL || (rb = strchr(lb, ']')) == NULL ||
	    strstr(uri, ";maddr=") != NULL)
		return -ENOENT;
	n = snprintf(out, len, "%s;maddr=%.*s", uri, (int)(rb - lb - 1),
	    lb + 1);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
