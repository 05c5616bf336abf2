/*
 * net.c: UDP port binding. The address helpers it uses (addr_*) are
 * shared with the controller and live in proto/addr.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relayd.h"

/* A non-blocking UDP socket bound to addr:port; fd or -errno. */
int
udp_bind(const struct sockaddr_storage *addr, uint16_t port)
{
	struct sockaddr_storage ss = *addr;
	int fd, err;

	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ss.ss_family == AF_INET6) {
		int one = 1;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	addr_set_port(&ss, port);
	if (bind(fd, (struct sockaddr *)&ss, addr_len(&ss)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
