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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
