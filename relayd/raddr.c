/*
 * raddr.c: struct raddr, the compact address a leg keeps for its SDP
 * endpoint and its latched peers. A sockaddr_storage is 128 bytes for an
 * address of at most 28; a relay keeps four per leg, so at 100,000
 * streams the difference alone was 86 MB (issue 16). Packets arrive and
 * leave with sockaddr_storage (recvmmsg/sendmmsg, the kernel backends):
 * the conversion happens at those boundaries, and comparisons against a
 * packet's source are done here without one.
 */
#include <string.h>
#include <netinet/in.h>

#include "relayd.h"

void
raddr_from(struct raddr *r, const struct sockaddr_storage *ss)
{
	memset(r, 0, sizeof(*r));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		r->family = AF_INET;
		memcpy(r->a, &s4->sin_addr, 4);
		r->port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		r->family = AF_INET6;
		memcpy(r->a, &s6->sin6_addr, 16);
		r->scope = s6->sin6_scope_id;
		r->port = ntohs(s6->sin6_port);
	}
}

struct sockaddr_storage *
raddr_to(const struct raddr *r, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (r->family == AF_INET) {
		struct sockaddr_in *s4 = (void *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, r->a, 4);
		s4->sin_port = htons(r->port);
	} else if (r->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (void *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, r->a, 16);
		s6->sin6_scope_id = r->scope;
		s6->sin6_port = htons(r->port);
	}
	return ss;
}

/* The host part only, as addr_equal compares it (no scope id). */
static bool
host_equal(const struct raddr *r, const struct sockaddr_storage *ss)
{
	if (ss->ss_family != r->family)
		return false;
	if (r->family == AF_INET)
		return memcmp(r->a, &((const struct sockaddr_in *)(const void *)
		    ss)->sin_addr, 4) == 0;
	if (r->family == AF_INET6)
		return memcmp(r->a, &((const struct sockaddr_in6 *)
		    (const void *)ss)->sin6_addr, 16) == 0;
	return false;
}

/* addr_equal's answer for the sockaddr_storage r stands for. */
bool
raddr_equal(const struct raddr *r, const struct sockaddr_storage *ss)
{
	return host_equal(r, ss) && r->port == addr_port(ss);
}

bool
raddr_same_host(const struct raddr *r, const struct sockaddr_storage *ss)
{
	return host_equal(r, ss);
}
