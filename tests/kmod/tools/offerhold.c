/*
 * offerhold: one phase of many calls against relayd's control socket,
 * pipelined, for tests/kmod/guest/sockless.bash: N offers (the calls stay
 * offered, unanswered), or their N answers, or their N deletes.
 *
 *   offerhold -s SOCKET -n N -m offer|answer|delete [-f FIRST] [-w WINDOW]
 *             [-A ADDR] [-B ADDR] [-i IFACE_A,IFACE_B] [-P PREFIX]
 *
 * Call i (FIRST <= i < FIRST+N) is PREFIX-i; its caller's SDP is ADDR_A
 * port 10000 + 2 (i mod 20000), its callee's ADDR_B the same port. One
 * JSON line on stdout: {"sent","ok","errors","first_error","seconds"}.
 * Exit 0 when every reply was ok, 1 otherwise, 2 on usage errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char	*sock, *mode, *a, *b, *prefix;
	char		 ifa[64], ifb[64];
	int		 n, first, window;
};

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: offerhold -s SOCKET -n N -m offer|answer|delete "
	    "[-f FIRST] [-w WINDOW] [-A ADDR] [-B ADDR] [-i IFA,IFB] [-P PREFIX]\n");
	exit(2);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
format_req(const struct opts *o, int k, char *buf, size_t len)
{
	int call = o->first + k, port = 10000 + 2 * (call % 20000);

	if (strcmp(o->mode, "delete") == 0)
		return snprintf(buf, len, "{\"id\":%d,\"cmd\":\"delete\","
		    "\"call_id\":\"%s-%d\"}\n", k, o->prefix, call);
	if (strcmp(o->mode, "offer") == 0)
		return snprintf(buf, len, "{\"id\":%d,\"cmd\":\"offer\","
		    "\"call_id\":\"%s-%d\",\"from_tag\":\"f%d\",\"interfaces\":"
		    "[\"%s\",\"%s\"],\"media\":[{\"type\":\"audio\",\"address\":"
		    "\"%s\",\"rtp_port\":%d}]}\n", k, o->prefix, call, call,
		    o->ifa, o->ifb, o->a, port);
	return snprintf(buf, len, "{\"id\":%d,\"cmd\":\"answer\","
	    "\"call_id\":\"%s-%d\",\"from_tag\":\"f%d\",\"to_tag\":\"t%d\","
	    "\"media\":[{\"type\":\"audio\",\"address\":\"%s\",\"rtp_port\":"
	    "%d}]}\n", k, o->prefix, call, call, call, o->b, port);
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void
parse(int argc, char **argv, struct opts *o)
{
	const char *ifs = "caller,callee", *comma;
	int ch;

	*o = (struct opts){ .a = "192.0.2.10", .b = "192.0.2.20",
	    .prefix = "oh", .window = 64 };
	while ((ch = getopt(argc, argv, "s:n:m:f:w:A:B:i:P:")) != -1) {
		switch (ch) {
		case 's': o->sock = optarg; break;
		case 'n': o->n = atoi(optarg); break;
		case 'm': o->mode = optarg; break;
		case 'f': o->first = atoi(optarg); break;
		case 'w': o->window = atoi(optarg); break;
		case 'A': o->a = optarg; break;
		case 'B': o->b = optarg; break;
		case 'i': ifs = optarg; break;
		case 'P': o->prefix = optarg; break;
		default: usage();
		}
	}
	comma = strchr(ifs, ',');
	if (!o->sock || !o->mode || o->n <= 0 || o->first < 0 ||
	    o->window <= 0 || o->window > 1024 || !comma ||
	    (size_t)(comma - ifs) >= sizeof(o->ifa) ||
	    strlen(comma + 1) >= sizeof(o->ifb) || strlen(o->a) > 45 ||
	    strlen(o->b) > 45 || strlen(o->prefix) > 32 ||
	    (strcmp(o->mode, "offer") && strcmp(o->mode, "answer") &&
	    strcmp(o->mode, "delete")))
		usage();
	memcpy(o->ifa, ifs, (size_t)(comma - ifs));
	snprintf(o->ifb, sizeof(o->ifb), "%s", comma + 1);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	static char rbuf[1 << 16];
	char req[512], first_error[256] = "";
	size_t rlen = 0;
	int fd, sent = 0, got = 0, ok = 0;
	struct opts o;
	double t0;

	parse(argc, argv, &o);
	if (strlen(o.sock) >= sizeof(sun.sun_path))
		usage();
	strcpy(sun.sun_path, o.sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "offerhold: connect %s: %s\n", o.sock,
		    strerror(errno));
		return 1;
	}
	t0 = now();
	while (got < o.n) {
		while (sent < o.n && sent - got < o.window) {
			int len = format_req(&o, sent, req, sizeof(req));
			if (write_all(fd, req, (size_t)len) < 0)
				goto lost;
			sent++;
		}
		ssize_t r = read(fd, rbuf + rlen, sizeof(rbuf) - 1 - rlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto lost;
		rlen += (size_t)r;
		rbuf[rlen] = '\0';
		char *line = rbuf, *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			got++;
			if (strstr(line, "\"ok\":true") ||
			    strstr(line, "\"ok\": true"))
				ok++;
			else if (first_error[0] == '\0')
				snprintf(first_error, sizeof(first_error), "%.200s",
				    line);
			line = nl + 1;
		}
		rlen -= (size_t)(line - rbuf);
		memmove(rbuf, line, rlen);
		if (rlen >= sizeof(rbuf) - 1)
			goto lost;	/* a reply longer than the buffer */
	}
	close(fd);
	for (char *p = first_error; *p; p++)
		if (*p == '"' || *p == '\\')
			*p = '\'';
	printf("{\"sent\":%d,\"ok\":%d,\"errors\":%d,\"first_error\":\"%s\","
	    "\"seconds\":%.3f}\n", sent, ok, got - ok, first_error, now() - t0);
	return ok == o.n ? 0 : 1;
lost:
	fprintf(stderr, "offerhold: connection lost after %d replies: %s\n",
	    got, strerror(errno));
	printf("{\"sent\":%d,\"ok\":%d,\"errors\":%d,\"first_error\":"
	    "\"connection lost\",\"seconds\":%.3f}\n", sent, ok,
	    o.n - ok, now() - t0);
	return 1;
}
