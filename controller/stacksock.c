/*
 * stacksock.c: the SIP stack's own sockets, found from outside it.
 * Sofia-SIP gives no handle on the sockets its transports open, and the
 * filters in front of it need them (sipfilter.c: the UDP sockets,
 * listenfilter.c: the TCP/TLS listeners): they are found among the
 * process's descriptors by type and local port.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "controller.h"

uint16_t
stacksock_port(const char *hostport, uint16_t dflt)
{
	const char *p = strrchr(hostport, ':');
	const char *rb = strrchr(hostport, ']');
	long v;

	if (hostport[0] == '\0')
		return 0;
	if (p == NULL || (rb != NULL && p < rb))
		return dflt;
	v = strtol(p + 1, NULL, 10);
	return v > 0 && v < 65536 ? (uint16_t)v : dflt;
}

/* Whether fd is a socket of that type (a stream one listening) bound to
 * p1 or p2 (0 matches nothing). */
static bool
is_stack_socket(int fd, int type, uint16_t p1, uint16_t p2)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss), tl;
	int t, acc;
	uint16_t p;

	tl = sizeof(t);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &tl) < 0 || t != type)
		return false;
	tl = sizeof(acc);
	if (type == SOCK_STREAM && (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	    &acc, &tl) < 0 || !acc))
		return false;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET)
		p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		return false;
	return p != 0 && (p == p1 || p == p2);
}

int
stacksock_find(int *fds, int max, int type, uint16_t p1, uint16_t p2)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0, fd;

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL && n < max) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		if (fd != dirfd(d) && is_stack_socket(fd, type, p1, p2))
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}
