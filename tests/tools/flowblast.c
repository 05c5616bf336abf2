/*
 * flowblast: one UDP socket, many flows, for the nft backend's scale tests.
 *
 *   flowblast send -b ADDR:PORT -d ADDR -P PORT-BASE -n N [-c K] [-r PPS]
 *       sends K packets to each of ADDR:(PORT-BASE + 2*i), i < N, from the
 *       one bound ADDR:PORT (all flows share one source address and port,
 *       the case that makes conntrack NAT's bysource walk O(n)).
 *   flowblast recv -b ADDR:PORT -f ADDR -P PORT-BASE -n N [-c K] [-t SECS]
 *       expects K packets of each flow i, each from ADDR:(PORT-BASE + 2*i)
 *       (the relay's rewritten source), carrying flow id i.
 *
 * Payload: "TLFB", flow id (BE32), packet number (BE32), padding to 172
 * bytes. Prints one JSON line; exit 0 when everything expected arrived
 * from the right source, 1 otherwise, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PKT	172
#define BATCH	64

struct opts {
	bool		 send;
	struct sockaddr_in bind, peer;
	int		 base, n, count;
	double		 rate, secs;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: flowblast send -b ADDR:PORT -d ADDR -P BASE -n N "
	    "[-c K] [-r PPS]\n       flowblast recv -b ADDR:PORT -f ADDR -P BASE "
	    "-n N [-c K] [-t SECS]\n");
	exit(2);
}

static void
parse_addr(const char *s, struct sockaddr_in *sin, bool port)
{
	char buf[64], *colon;

	snprintf(buf, sizeof(buf), "%s", s);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	colon = strrchr(buf, ':');
	if (port) {
		if (colon == NULL)
			usage();
		*colon = '\0';
		sin->sin_port = htons((uint16_t)atoi(colon + 1));
	}
	if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
		usage();
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int ch;

	if (argc < 2)
		usage();
	memset(o, 0, sizeof(*o));
	o->send = strcmp(argv[1], "send") == 0;
	if (!o->send && strcmp(argv[1], "recv") != 0)
		usage();
	o->count = 1;
	o->secs = 30;
	optind = 2;
	while ((ch = getopt(argc, argv, "b:d:f:P:n:c:r:t:")) != -1) {
		switch (ch) {
		case 'b': parse_addr(optarg, &o->bind, true); break;
		case 'd': case 'f': parse_addr(optarg, &o->peer, false); break;
		case 'P': o->base = atoi(optarg); break;
		case 'n': o->n = atoi(optarg); break;
		case 'c': o->count = atoi(optarg); break;
		case 'r': o->rate = atof(optarg); break;
		case 't': o->secs = atof(optarg); break;
		default: usage();
		}
	}
	if (o->n <= 0 || o->base <= 0 || o->count <= 0 ||
	    o->base + 2 * (o->n - 1) > 65535)
		usage();
}

static int
sock(const struct opts *o)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1, sz = 64 << 20;

	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&o->bind, sizeof(o->bind)) < 0) {
		perror("bind");
		exit(1);
	}
	return fd;
}

static int
do_send(const struct opts *o, int fd)
{
	static uint8_t buf[BATCH][PKT];
	struct sockaddr_in dst[BATCH];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	uint64_t total = (uint64_t)o->n * (uint64_t)o->count, sent = 0, errs = 0;
	double t0 = now();

	while (sent < total) {
		int k = 0;
		for (; k < BATCH && sent + (uint64_t)k < total; k++) {
			uint64_t j = sent + (uint64_t)k;
			uint32_t flow = (uint32_t)(j % (uint64_t)o->n);
			uint32_t seq = htonl((uint32_t)(j / (uint64_t)o->n));
			uint32_t id = htonl(flow);
			memcpy(buf[k], "TLFB", 4);
			memcpy(buf[k] + 4, &id, 4);
			memcpy(buf[k] + 8, &seq, 4);
			dst[k] = o->peer;
			dst[k].sin_port = htons((uint16_t)(o->base + 2 * (int)flow));
			iov[k].iov_base = buf[k];
			iov[k].iov_len = PKT;
			memset(&m[k], 0, sizeof(m[k]));
			m[k].msg_hdr.msg_name = &dst[k];
			m[k].msg_hdr.msg_namelen = sizeof(dst[k]);
			m[k].msg_hdr.msg_iov = &iov[k];
			m[k].msg_hdr.msg_iovlen = 1;
		}
		int r = sendmmsg(fd, m, (unsigned)k, 0);
		if (r <= 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				usleep(1000);
				continue;
			}
			errs++;
			sent++;
			continue;
		}
		sent += (uint64_t)r;
		if (o->rate > 0) {
			double due = t0 + (double)sent / o->rate;
			double d = due - now();
			if (d > 0)
				usleep((useconds_t)(d * 1e6));
		}
	}
	printf("{\"tool\":\"flowblast\",\"mode\":\"send\",\"sent\":%llu,"
	    "\"errors\":%llu,\"elapsed\":%.3f}\n", (unsigned long long)sent,
	    (unsigned long long)errs, now() - t0);
	return errs ? 1 : 0;
}

static int
do_recv(const struct opts *o, int fd)
{
	uint32_t *got = calloc((size_t)o->n, sizeof(*got));
	uint64_t want = (uint64_t)o->n * (uint64_t)o->count, ok = 0;
	uint64_t bad_src = 0, bad_payload = 0, extra = 0;
	double t0 = now(), end = t0 + o->secs;
	static uint8_t buf[BATCH][2048];
	struct sockaddr_in src[BATCH];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];

	while (ok < want && now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		for (int k = 0; k < BATCH; k++) {
			iov[k].iov_base = buf[k];
			iov[k].iov_len = sizeof(buf[k]);
			memset(&m[k], 0, sizeof(m[k]));
			m[k].msg_hdr.msg_name = &src[k];
			m[k].msg_hdr.msg_namelen = sizeof(src[k]);
			m[k].msg_hdr.msg_iov = &iov[k];
			m[k].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
		for (int k = 0; k < r; k++) {
			uint32_t id;
			if (m[k].msg_len != PKT || memcmp(buf[k], "TLFB", 4) != 0) {
				bad_payload++;
				continue;
			}
			memcpy(&id, buf[k] + 4, 4);
			id = ntohl(id);
			if (id >= (uint32_t)o->n) {
				bad_payload++;
				continue;
			}
			if (src[k].sin_addr.s_addr != o->peer.sin_addr.s_addr ||
			    ntohs(src[k].sin_port) != o->base + 2 * (int)id) {
				bad_src++;
				continue;
			}
			if (got[id] >= (uint32_t)o->count) {
				extra++;
				continue;
			}
			got[id]++;
			ok++;
		}
	}
	int missing_flows = 0;
	for (int i = 0; i < o->n; i++)
		missing_flows += got[i] < (uint32_t)o->count;
	printf("{\"tool\":\"flowblast\",\"mode\":\"recv\",\"ok\":%s,\"received\":%llu,"
	    "\"expected\":%llu,\"missing_flows\":%d,\"bad_source\":%llu,"
	    "\"bad_payload\":%llu,\"extra\":%llu,\"elapsed\":%.3f}\n",
	    ok == want && bad_src == 0 && bad_payload == 0 ? "true" : "false",
	    (unsigned long long)ok, (unsigned long long)want, missing_flows,
	    (unsigned long long)bad_src, (unsigned long long)bad_payload,
	    (unsigned long long)extra, now() - t0);
	free(got);
	return ok == want && bad_src == 0 && bad_payload == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct opts o;
	int fd;

	parse(argc, argv, &o);
	fd = sock(&o);
	if (!o.send) {
		/* bound: tell the caller we are ready */
		fprintf(stderr, "ready\n");
	}
	return o.send ? do_send(&o, fd) : do_recv(&o, fd);
}
