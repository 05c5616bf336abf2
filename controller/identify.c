/*
 * identify.c: which trunk a request comes from. Source address first
 * (address or subnet, optionally a port and a transport); else the
 * digest account named by the request (invite.c challenges it with the
 * trunk's auth module); else nobody, and the caller answers 403 or
 * stays silent.
 *
 * A source's transport restriction is checked against the transport the
 * request arrived on: the socket's protocol, and for a stream socket TLS
 * only if the stack (nta, which drops a request whose Via protocol is not
 * its transport's) delivered it from the TLS listener. What a Via claims
 * is never enough on its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>

/*
 * An IPv4 address written as IPv6 (::ffff:a.b.c.d, v4-mapped) is the
 * IPv4 address: a dual-stack socket reports IPv4 peers so, and a SIP URI
 * may name one so. Everything that compares addresses (trunk sources,
 * contact checks) sees the IPv4 form, so that an IPv4 ACL, or a "not a
 * gateway's address" rule, cannot be passed by the other spelling, and
 * an IPv6 ACL (::/0) never takes IPv4 peers.
 */
const struct sockaddr *
addr_unmap(const struct sockaddr *sa, struct sockaddr_storage *buf)
{
	const struct sockaddr_in6 *in6 = (const void *)sa;
	struct sockaddr_in *in = (struct sockaddr_in *)buf;

	if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return sa;
	memset(buf, 0, sizeof(*buf));
	in->sin_family = AF_INET;
	in->sin_port = in6->sin6_port;
	memcpy(&in->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	return (const struct sockaddr *)buf;
}

/* "10.0.0.0/8", "192.0.2.1", "2001:db8::/32" */
int
source_parse(const char *text, struct source *s)
{
	char buf[80], *slash;
	long plen = -1;
	int max;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	if ((slash = strchr(buf, '/')) != NULL) {
		char *end;
		*slash = '\0';
		plen = strtol(slash + 1, &end, 10);
		if (*end != '\0' || slash[1] == '\0')
			return -EINVAL;
	}
	memset(&s->net, 0, sizeof(s->net));
	if (inet_pton(AF_INET, buf,
	    &((struct sockaddr_in *)&s->net)->sin_addr) == 1) {
		s->net.ss_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf,
	    &((struct sockaddr_in6 *)&s->net)->sin6_addr) == 1) {
		s->net.ss_family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	if (plen > max || (slash != NULL && plen < 0))
		return -EINVAL;
	s->plen = plen < 0 ? max : (int)plen;
	/* ::ffff:10.0.0.0/104 is 10.0.0.0/8 (addr_unmap()); a shorter
	 * prefix is an IPv6 network, which no IPv4 peer matches. */
	if (max == 128 && s->plen >= 96 && IN6_IS_ADDR_V4MAPPED(
	    &((struct sockaddr_in6 *)&s->net)->sin6_addr)) {
		struct sockaddr_storage v4;
		(void)addr_unmap((struct sockaddr *)&s->net, &v4);
		s->net = v4;
		s->plen -= 96;
	}
	return 0;
}

static bool
prefix_equal(const uint8_t *a, const uint8_t *b, int plen)
{
	int bytes = plen / 8, bits = plen % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool
source_match(const struct source *s, const struct sockaddr *sa,
    enum transport tp)
{
	struct sockaddr_storage un;
	uint16_t port;

	if (s->transport != TP_ANY && s->transport != tp)
		return false;
	sa = addr_unmap(sa, &un);
	if (sa->sa_family != s->net.ss_family)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		port = ntohs(in->sin_port);
		if (!prefix_equal((const uint8_t *)&in->sin_addr,
		    (const uint8_t *)&((const struct sockaddr_in *)&s->net)->sin_addr,
		    s->plen))
			return false;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		port = ntohs(in6->sin6_port);
		if (!prefix_equal((const uint8_t *)&in6->sin6_addr,
		    (const uint8_t *)&((const struct sockaddr_in6 *)&s->net)->sin6_addr,
		    s->plen))
			return false;
	}
	return s->port == 0 || s->port == port;
}

struct trunk *
identify_by_source(const struct ctl_conf *conf, const struct sockaddr *sa,
    enum transport tp)
{
	struct trunk *best = NULL;
	int best_plen = -1;

	if (conf->srcidx != NULL)
		return srcindex_lookup(conf->srcidx, sa, tp, false);
	/* The most specific source wins, whatever the trunk order. */
	for (int i = 0; i < conf->ntrunks; i++)
		for (int j = 0; j < conf->trunks[i].nsources; j++) {
			const struct source *s = &conf->trunks[i].sources[j];
			int score = s->plen * 2 + (s->port != 0);
			if (score > best_plen && source_match(s, sa, tp)) {
				best = &conf->trunks[i];
				best_plen = score;
			}
		}
	return best;
}

struct trunk *
identify_by_account(const struct ctl_conf *conf, const char *user)
{
	if (user == NULL || user[0] == '\0')
		return NULL;
	for (int i = 0; i < conf->ntrunks; i++)
		if (conf->trunks[i].username[0] != '\0' &&
		    strcmp(conf->trunks[i].username, user) == 0)
			return &conf->trunks[i];
	return NULL;
}

enum transport
identify_transport(msg_t *msg, const sip_t *sip)
{
	const su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
	const char *via = sip && sip->sip_via ? sip->sip_via->v_protocol : NULL;

	if (ai == NULL || ai->ai_protocol == IPPROTO_UDP ||
	    ai->ai_socktype == SOCK_DGRAM)
		return TP_UDP;
	/*
	 * A stream: TCP or TLS, which share the socket type. nta checked
	 * the top Via's protocol against the transport it came on (it drops
	 * "SIP/2.0/TLS" over plain TCP), so here Via tells the two apart.
	 */
	if (via != NULL && strcasecmp(via, "SIP/2.0/TLS") == 0)
		return TP_TLS;
	return TP_TCP;
}

bool
identify_silent(struct ctl *c, msg_t *msg, const sip_t *sip)
{
	const su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;

	if (!c->conf->unknown_drop || ai == NULL)
		return false;
	if (identify_by_source(c->conf, ai->ai_addr,
	    identify_transport(msg, sip)) != NULL)
		return false;
	/* A registration's provider calling its contact is known too. */
	return sip->sip_request->rq_method != sip_method_invite ||
	    register_identify(c, ai->ai_addr, sip) == NULL;
}
