/*
 * offerload: offer+answer load client for trunkline-relayd's control
 * protocol (proto/PROTOCOL.md), for the offers/s target of bench/README.md.
 *
 *   offerload -s SOCKET -n STREAMS [-c CONNS] [-w WINDOW] [-r ROUNDS]
 *             [-p RELAYD_PID] [-A ADDR] [-B ADDR] [-i IFACE_A,IFACE_B]
 *             [-H HOLD_S]
 *
 * Per round: STREAMS calls, each an `offer` then an `answer` (one stream
 * each), spread over CONNS connections, with up to WINDOW requests in
 * flight per connection (pipelined: replies come in order); the round's
 * time runs from the first request written to the last reply read. Then
 * every call is deleted the same way (timed too), so the next round starts
 * from an empty relay. With -p, relayd's own CPU time (schedstat of all its
 * threads) and its RSS growth over the offers are reported as well.
 * With -H, the calls stay up HOLD_S seconds before the deletes, and
 * relayd's CPU time over that idle hold is reported (its timers' cost:
 * what holding calls costs when nothing happens).
 *
 * One JSON line per round on stdout; exit 0 when every reply was ok, 1 if
 * any was an error (the first is printed), 2 on usage errors.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	64
#define RBUF		(1 << 20)
#define LINE_MAX_REQ	512

struct conn {
	int	 fd;
	int	 first, last;	/* this connection's calls: [first, last) */
	int	 next_req;	/* requests are 0..2*(last-first)-1 (or 1x for delete) */
	int	 nreq;
	int	 replies;
	char	*wbuf;
	size_t	 wlen, woff;
	char	*rbuf;
	size_t	 rlen;
};

struct opts {
	const char	*sock;
	const char	*addr_a, *addr_b;
	const char	*iface;
	int		 n, conns, window, rounds;
	long		 pid;
	double		 hold_s;
};

static unsigned long errors;
static char first_error[300];

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
	fprintf(stderr, "usage: offerload -s SOCKET -n STREAMS [-c CONNS] [-w WINDOW] "
	    "[-r ROUNDS] [-p RELAYD_PID] [-A ADDR] [-B ADDR] [-i IFACE_A,IFACE_B] "
	    "[-H HOLD_S]\n");
	exit(2);
}

/* CPU time of every thread of pid (ns), 0 if unknown */
static uint64_t
proc_cpu_ns(long pid)
{
	char path[64], line[128];
	uint64_t total = 0;
	DIR *d;
	struct dirent *e;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		char p[300];
		FILE *f;
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/task/%s/schedstat", pid, e->d_name);
		if (!(f = fopen(p, "r")))
			continue;
		if (fgets(line, sizeof(line), f))
			total += strtoull(line, NULL, 10);
		fclose(f);
	}
	closedir(d);
	return total;
}

static long
proc_rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "offerload: socket path too long\n");
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "offerload: connect %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* request k of connection c in phase "oa" (offer, answer per call) or "del" */
static int
format_req(const struct opts *o, const struct conn *c, bool del, int round, int k,
    char *buf, size_t len)
{
	int call = c->first + (del ? k : k / 2);
	char ia[64] = "";

	if (del)
		return snprintf(buf, len, "{\"id\":%d,\"cmd\":\"delete\",\"call_id\":"
		    "\"ol%d-%d\"}\n", k, round, call);
	if (o->iface) {
		const char *comma = strchr(o->iface, ',');
		snprintf(ia, sizeof(ia), ",\"interfaces\":[\"%.*s\",\"%s\"]",
		    (int)(comma - o->iface), o->iface, comma + 1);
	}
	if (k % 2 == 0)
		return snprintf(buf, len, "{\"id\":%d,\"cmd\":\"offer\",\"call_id\":"
		    "\"ol%d-%d\",\"from_tag\":\"f%d\"%s,\"media\":[{\"type\":\"audio\","
		    "\"address\":\"%s\",\"rtp_port\":%d}]}\n", k, round, call, call, ia,
		    o->addr_a, 20000 + 2 * (call % 20000));
	return snprintf(buf, len, "{\"id\":%d,\"cmd\":\"answer\",\"call_id\":"
	    "\"ol%d-%d\",\"from_tag\":\"f%d\",\"to_tag\":\"t%d\",\"media\":[{\"type\":"
	    "\"audio\",\"address\":\"%s\",\"rtp_port\":%d}]}\n", k, round, call, call,
	    call, o->addr_b, 40000 + 2 * (call % 10000));
}

static void
check_reply(const char *line, size_t len)
{
	/* events (a subscriber's) are not replies; this client never subscribes */
	if (memmem(line, len, "\"ok\":true", 9) || memmem(line, len, "\"ok\": true", 10))
		return;
	if (errors++ == 0)
		snprintf(first_error, sizeof(first_error), "%.*s", (int)(len < 250 ? len : 250), line);
}

/* fill c's write buffer up to the window; 0, or -1 on a write error */
static int
pump_write(const struct opts *o, struct conn *c, bool del, int round)
{
	while (c->next_req < c->nreq && c->next_req - c->replies < o->window &&
	    c->wlen + LINE_MAX_REQ < RBUF) {
		int w = format_req(o, c, del, round, c->next_req, c->wbuf + c->wlen,
		    RBUF - c->wlen);
		c->wlen += (size_t)w;
		c->next_req++;
	}
	while (c->woff < c->wlen) {
		ssize_t w = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			fprintf(stderr, "offerload: write: %s\n", strerror(errno));
			return -1;
		}
		c->woff += (size_t)w;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	return 0;
}

/* read and count complete reply lines; 0, or -1 when relayd closed */
static int
pump_read(struct conn *c)
{
	for (;;) {
		ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
		char *p, *nl;
		if (r < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		if (r == 0) {
			fprintf(stderr, "offerload: relayd closed the connection\n");
			return -1;
		}
		c->rlen += (size_t)r;
		p = c->rbuf;
		while ((nl = memchr(p, '\n', c->rlen - (size_t)(p - c->rbuf)))) {
			check_reply(p, (size_t)(nl - p));
			c->replies++;
			p = nl + 1;
		}
		c->rlen -= (size_t)(p - c->rbuf);
		memmove(c->rbuf, p, c->rlen);
		if (c->rlen == RBUF) {
			fprintf(stderr, "offerload: reply longer than %d bytes\n", RBUF);
			return -1;
		}
	}
}

/* one phase over all connections; its wall time in s, or -1 */
static double
phase(const struct opts *o, struct conn *cs, bool del, int round)
{
	struct pollfd pfd[MAX_CONNS];
	double t0 = now(), limit = t0 + 300;
	int done = 0;

	for (int i = 0; i < o->conns; i++) {
		cs[i].next_req = cs[i].replies = 0;
		cs[i].nreq = (cs[i].last - cs[i].first) * (del ? 1 : 2);
		cs[i].wlen = cs[i].woff = cs[i].rlen = 0;
		if (cs[i].nreq == 0)
			done++;
	}
	while (done < o->conns) {
		for (int i = 0; i < o->conns; i++) {
			struct conn *c = &cs[i];
			if (pump_write(o, c, del, round) < 0)
				return -1;
			pfd[i].fd = c->replies < c->nreq ? c->fd : -1;
			pfd[i].events = POLLIN | (c->wlen > c->woff ? POLLOUT : 0);
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)o->conns, 1000) < 0 && errno != EINTR)
			return -1;
		if (now() > limit) {
			fprintf(stderr, "offerload: no progress for 300 s\n");
			return -1;
		}
		for (int i = 0; i < o->conns; i++) {
			struct conn *c = &cs[i];
			int before = c->replies;
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (pump_read(c) < 0)
				return -1;
			if (before < c->nreq && c->replies >= c->nreq)
				done++;
		}
	}
	return now() - t0;
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int ch;

	*o = (struct opts){ .addr_a = "192.0.2.10", .addr_b = "192.0.2.20",
	    .conns = 1, .window = 256, .rounds = 1 };
	while ((ch = getopt(argc, argv, "s:n:c:w:r:p:A:B:i:H:")) != -1) {
		switch (ch) {
		case 's': o->sock = optarg; break;
		case 'n': o->n = atoi(optarg); break;
		case 'c': o->conns = atoi(optarg); break;
		case 'w': o->window = atoi(optarg); break;
		case 'r': o->rounds = atoi(optarg); break;
		case 'p': o->pid = atol(optarg); break;
		case 'A': o->addr_a = optarg; break;
		case 'B': o->addr_b = optarg; break;
		case 'i': o->iface = optarg; break;
		case 'H': o->hold_s = atof(optarg); break;
		default: usage();
		}
	}
	if (!o->sock || o->n <= 0 || o->conns <= 0 || o->conns > MAX_CONNS ||
	    o->window <= 0 || o->window > 65536 || o->rounds <= 0 ||
	    o->hold_s < 0 || o->hold_s > 3600 ||
	    (o->iface && !strchr(o->iface, ',')) || strlen(o->addr_a) > 45 ||
	    strlen(o->addr_b) > 45)
		usage();
}

static void
free_conns(struct conn *cs, int n)
{
	for (int i = 0; i < n; i++) {
		if (cs[i].fd > 0)
			close(cs[i].fd);
		free(cs[i].wbuf);
		free(cs[i].rbuf);
	}
}

/* the rounds; 0, or 1 on any failure or error reply */
static int
run_rounds(const struct opts *o, struct conn *cs)
{
	for (int r = 0; r < o->rounds; r++) {
		uint64_t c0 = proc_cpu_ns(o->pid), c1, c2, h0 = 0, h1 = 0;
		long rss0 = proc_rss_kb(o->pid), rss1;
		double t_oa = phase(o, cs, false, r), t_del;

		c1 = proc_cpu_ns(o->pid);
		rss1 = proc_rss_kb(o->pid);
		if (t_oa < 0)
			return 1;
		if (o->hold_s > 0) {
			h0 = proc_cpu_ns(o->pid);
			usleep((useconds_t)(o->hold_s * 1e6));
			h1 = proc_cpu_ns(o->pid);
			c1 += h1 - h0;	/* the deletes' CPU starts here */
		}
		t_del = phase(o, cs, true, r);
		c2 = proc_cpu_ns(o->pid);
		if (t_del < 0)
			return 1;
		printf("{\"tool\":\"offerload\",\"round\":%d,\"streams\":%d,\"conns\":%d,"
		    "\"window\":%d,\"offer_answer_s\":%.4f,\"streams_per_s\":%.0f,"
		    "\"delete_s\":%.4f,\"deletes_per_s\":%.0f", r, o->n, o->conns, o->window,
		    t_oa, o->n / t_oa, t_del, o->n / t_del);
		if (o->pid > 0 && c1 > c0)
			printf(",\"relayd_cpu_offer_answer_s\":%.4f,\"streams_per_relayd_cpu_s\":%.0f,"
			    "\"relayd_cpu_delete_s\":%.4f", (double)(c1 - c0) / 1e9,
			    o->n / ((double)(c1 - c0) / 1e9), (double)(c2 - c1) / 1e9);
		if (o->hold_s > 0 && o->pid > 0)
			printf(",\"hold_s\":%.1f,\"relayd_cpu_hold_ms\":%.2f", o->hold_s,
			    (double)(h1 - h0) / 1e6);
		if (rss0 > 0 && rss1 > 0)
			printf(",\"rss_start_kb\":%ld,\"rss_kb\":%ld,\"rss_bytes_per_stream\":%.0f",
			    rss0, rss1, (double)(rss1 - rss0) * 1024 / o->n);
		printf(",\"errors\":%lu}\n", errors);
		fflush(stdout);
		if (errors) {
			fprintf(stderr, "offerload: %lu error replies, first: %s\n", errors,
			    first_error);
			return 1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct conn cs[MAX_CONNS];
	struct opts o;
	int rc = 0;

	parse(argc, argv, &o);
	memset(cs, 0, sizeof(cs));
	for (int i = 0; i < o.conns && rc == 0; i++) {
		cs[i].fd = connect_unix(o.sock);
		cs[i].wbuf = malloc(RBUF);
		cs[i].rbuf = malloc(RBUF);
		if (cs[i].fd < 0 || !cs[i].wbuf || !cs[i].rbuf)
			rc = 1;
		cs[i].first = (int)((long)o.n * i / o.conns);
		cs[i].last = (int)((long)o.n * (i + 1) / o.conns);
	}
	if (rc == 0)
		rc = run_rounds(&o, cs);
	free_conns(cs, o.conns);
	return rc;
}
