/*
 * rtptool.h: socket address and option helpers shared by rtpgen and rtpsink, which
 * are otherwise single-file programs (libc only). Static inline so that
 * each tool compiles only what it uses without warnings.
 */
#ifndef TRUNKLINE_RTPTOOL_H
#define TRUNKLINE_RTPTOOL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef RTPTOOL_NAME
#error "define RTPTOOL_NAME (the program name for messages) first"
/* Option values; a bad one ends the program with status 2. */
static inline double
num_arg(const char *name, const char *s, double lo, double hi)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(s, &e);
	if (errno || e == s || *e || !(v >= lo && v <= hi)) {
		fprintf(stderr, RTPTOOL_NAME ": %s: bad value '%s' (%g..%g)\n",
		    name, s, lo, hi);
		exit(2);
	}
	return v;
}

static inline uint32_t
u32_arg(const char *name, const char *s)
{
	char *e;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &e, 0);
	if (errno || e == s || *e || v > 0xffffffffull) {
		fprintf(stderr, RTPTOOL_NAME ": %s: bad value '%s'\n", name, s);
		exit(2);
	}
	return (uint32_t)v;
}

#endif

static inline int
parse_addr(const char *s, bool need_port, struct sockaddr_storage *ss)
{
	char host[128];
	const char *colon, *port = NULL;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return -1;
		hl = (size_t)(end - s - 1);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			colon = NULL;
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (colon)
			port = colon + 1;
	}
	if (need_port && port == NULL)
		return -1;

	long pv = 0;
	if (port) {
		char *e;

		errno = 0;
		pv = strtol(port, &e, 10);
		if (errno || *e || e == port || pv < 0 || pv > 65535)
			return -1;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pv);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pv);
	} else
		return -1;
	return port ? 1 : 0;
}

static inline uint16_t
addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static inline void
addr_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static inline socklen_t
addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static inline const char *
addr_fmt(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		    h, sizeof(h));
		snprintf(buf, len, "[%s]:%u", h, addr_port(ss));
	} else if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    h, sizeof(h));
		snprintf(buf, len, "%s:%u", h, addr_port(ss));
	} else
		snprintf(buf, len, "none");
	return buf;
}

static inline bool
addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

/* Option values; a bad one ends the program with status 2. */
static inline double
num_arg(const char *name, const char *s, double lo, double hi)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(s, &e);
	if (errno || e == s || *e || !(v >= lo && v <= hi)) {
		fprintf(stderr, RTPTOOL_NAME ": %s: bad value '%s' (%g..%g)\n",
		    name, s, lo, hi);
		exit(2);
	}
	return v;
}

static inline uint32_t
u32_arg(const char *name, const char *s)
{
	char *e;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &e, 0);
	if (errno || e == s || *e || v > 0xffffffffull) {
		fprintf(stderr, RTPTOOL_NAME ": %s: bad value '%s'\n", name, s);
		exit(2);
	}
	return (uint32_t)v;
}

#endif
