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

/*
 * How many ports of [min, max] the kernel may hand out as ephemeral
 * (`range`: ip_local_port_range, "32768\t60999") and has not reserved
 * (`reserved`: ip_local_reserved_ports, "30000-39999,5060"). Such ports
 * can be taken by the host's own connections (DNS, NTP), which then
 * share the relay's range. -EINVAL if a text does not parse.
 */
int
ports_ephemeral_unreserved(uint16_t min, uint16_t max, const char *range,
    const char *reserved, unsigned *lo_out, unsigned *hi_out)
{
	unsigned lo, hi, a, b, n = 0;
	const char *p = reserved;
	char *end;

	if (sscanf(range, "%u %u", &lo, &hi) != 2 || lo > hi || hi > 65535)
		return -EINVAL;
	if (lo < min)
		lo = min;
	if (hi > max)
		hi = max;
	*lo_out = lo;
	*hi_out = hi;
	if (lo > hi)
		return 0;
	n = hi - lo + 1;
	/* Bounded: each round consumes at least one character. */
	while (*p != '\0' && *p != '\n') {
		a = (unsigned)strtoul(p, &end, 10);
		if (end == p)
			return -EINVAL;
		b = a;
		p = end;
		if (*p == '-') {
			b = (unsigned)strtoul(p + 1, &end, 10);
			if (end == p + 1)
				return -EINVAL;
			p = end;
		}
		if (*p == ',')
			p++;
		if (a < lo)
			a = lo;
		if (b > hi)
			b = hi;
		if (a <= b)
			n -= b - a + 1;	/* the kernel's list has no overlaps */
	}
	return (int)n;
}

/*
 * Warn at start when the port range is open to the host's own flows.
 * relayd does not write the sysctl itself: it is one list for the whole
 * host (other daemons reserve ports there too), relayd would have to
 * merge into it and could not undo it at exit, and writing it needs a
 * privilege the relay otherwise has no use for. The unit (or the
 * operator) sets it; relayd checks and says what to run.
 */
void
ports_check_ephemeral(struct relayd *rd)
{
	bool kernel = rd->backend.ops != NULL &&
	    strcmp(rd->backend.ops->name, "userspace") != 0;
	char range[64] = "", reserved[4096] = "";
	unsigned lo, hi;
	FILE *f;
	int n;

	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) != NULL) {
		if (fgets(range, sizeof(range), f) == NULL)
			range[0] = '\0';
		fclose(f);
	}
	if ((f = fopen("/proc/sys/net/ipv4/ip_local_reserved_ports", "r")) != NULL) {
		if (fgets(reserved, sizeof(reserved), f) == NULL)
			reserved[0] = '\0';
		fclose(f);
	}
	n = ports_ephemeral_unreserved(rd->conf.port_min, rd->conf.port_max,
	    range, reserved, &lo, &hi);
	rd->ports_unreserved = n < 0 ? 0 : n;
	if (n <= 0)
		return;
	/* The same knob covers IPv6: ip_local_reserved_ports is ipv4's name
	 * for the one list both families use. */
	rlog(rd, LL_WARNING, "ports %u-%u: %d of them (%u-%u) are in the "
	    "ephemeral range (net.ipv4.ip_local_port_range) and not reserved: "
	    "the host's own connections may take them and share the relay's "
	    "range%s; reserve them (sysctl -w net.ipv4.ip_local_reserved_ports=%u-%u) "
	    "or move ports.min/ports.max below %u", rd->conf.port_min,
	    rd->conf.port_max, n, lo, hi, kernel ? " (streams in the kernel "
	    "hold no sockets, so nothing else keeps their ports from being "
	    "handed out)" : "", lo, hi, lo);
}
