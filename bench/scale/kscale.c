/*
 * kscale: the kmod scale run's client (bench/scale/kmod-guest.bash runs
 * it in the qemu guest, where python is not at hand): many concurrent
 * streams in one relayd with the kmod backend, then media checked per
 * packet on a sample, then every call deleted.
 *
 *   kscale -s SOCK -p RELAYD_PID -n STREAMS -w WAVE -S SAMPLE -c COUNT
 *          -r RATE -A IP,IP.. -B IP,IP.. -C NS:IP:PORT -E NS:IP:PORT
 *          [-k ENTRIES_CMD] [-d DIR]
 *
 * Waves of WAVE calls are offered, then answered (pipelined, 500 requests
 * in flight, replies in order) over the control socket; call i uses
 * interfaces cI/eI, I = i % (number of -A addresses). A kmod stream enters
 * the kernel at its answer and relayd closes its sockets at the end of the
 * round, so each wave waits (bounded) until stats says no leg socket is
 * open; the most descriptors relayd held is recorded. Then relayd's fds and
 * RSS, the kernel's memory (/proc/meminfo: Slab, VmallocUsed, Percpu,
 * MemFree) and its entry count (ENTRIES_CMD prints it) are taken; COUNT
 * packets each way on SAMPLE streams (every STREAMS/SAMPLE-th) are sent
 * from the SDP addresses (caller in namespace NS of -C, callee of -E,
 * /run/netns/NS) at RATE packets/s and each one checked at the receiver:
 * it arrives once, from its stream's relay address and port, carrying its
 * stream id and sequence number. No datagram may reach a socket of the
 * relay's namespace meanwhile. Last, every call is deleted and the entry
 * count and memory are taken again. With -d, /proc/slabinfo is copied to
 * DIR/slab-start, slab-all and slab-deleted at those three points (which
 * caches the entries took: the guest script compares them).
 *
 * Prints one JSON object; exit 0 when every check passed, 1 otherwise,
 * 2 on usage errors.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_IPS		16
#define CHUNK		500
#define REQ_MAX		400
#define PKT_LEN		172
#define WAIT_S		600	/* per wave: the emulated machine is slow */

struct opts {
	const char	*sock, *entries_cmd, *slab_dir;
	long		 pid;
	int		 n, wave, sample, count, nips;
	double		 rate;
	struct in_addr	 ips_a[MAX_IPS], ips_b[MAX_IPS];
	char		 ns_c[256], ns_e[256];
	struct sockaddr_in caller, callee;
};

struct ctl {
	int	 fd;
	char	*buf;
	size_t	 len, cap;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static __attribute__((noreturn, format(printf, 1, 2))) void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "kscale: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* One reply line, without its newline (valid until the next call). */
static char *
ctl_line(struct ctl *c)
{
	static char *line;
	static size_t lcap;
	char *nl;

	while (!(nl = memchr(c->buf, '\n', c->len))) {
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 1 << 20;
			if (!(c->buf = realloc(c->buf, c->cap)))
				die("out of memory");
		}
		ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r <= 0)
			die("control socket: %s", r ? strerror(errno) : "closed");
		c->len += (size_t)r;
	}
	size_t l = (size_t)(nl - c->buf);
	if (l + 1 > lcap) {
		lcap = l + 1;
		if (!(line = realloc(line, lcap)))
			die("out of memory");
	}
	memcpy(line, c->buf, l);
	line[l] = '\0';
	c->len -= l + 1;
	memmove(c->buf, nl + 1, c->len);
	return line;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("control write: %s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

/* The integer after "KEY": in a reply, -1 if absent. */
static long
jint(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if (!(p = strstr(s, pat)))
		return -1;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	return strtol(p, NULL, 10);
}

typedef int (*req_fn)(char *buf, size_t cap, int call, const struct opts *o);

/*
 * Requests for calls [first, first+n), CHUNK in flight; got(call, reply)
 * sees each reply (in order). Dies on an error reply.
 */
static void
ctl_many(struct ctl *c, const struct opts *o, int first, int n, req_fn mk,
    int *port_out)
{
	char *w = malloc((size_t)CHUNK * REQ_MAX);

	if (!w)
		die("out of memory");
	for (int i = 0; i < n; i += CHUNK) {
		int m = n - i < CHUNK ? n - i : CHUNK;
		size_t len = 0;

		for (int j = 0; j < m; j++)
			len += (size_t)mk(w + len, REQ_MAX, first + i + j, o);
		write_all(c->fd, w, len);
		for (int j = 0; j < m; j++) {
			char *r = ctl_line(c);
			if (!strstr(r, "\"ok\":true") && !strstr(r, "\"ok\": true"))
				die("call s%d: %s", first + i + j, r);
			if (port_out) {
				long p = jint(r, "rtp_port");
				if (p <= 0 || p > 65535)
					die("call s%d: no rtp_port in %s", first + i + j, r);
				port_out[first + i + j] = (int)p;
			}
		}
	}
	free(w);
}

static int
mk_offer(char *b, size_t cap, int i, const struct opts *o)
{
	return snprintf(b, cap, "{\"cmd\":\"offer\",\"call_id\":\"s%d\",\"from_tag\":\"f%d\","
	    "\"interfaces\":[\"c%d\",\"e%d\"],\"media\":[{\"type\":\"audio\","
	    "\"address\":\"%s\",\"rtp_port\":%d}]}\n", i, i, i % o->nips, i % o->nips,
	    inet_ntoa(o->caller.sin_addr), ntohs(o->caller.sin_port));
}

static int
mk_answer(char *b, size_t cap, int i, const struct opts *o)
{
	return snprintf(b, cap, "{\"cmd\":\"answer\",\"call_id\":\"s%d\",\"from_tag\":\"f%d\","
	    "\"to_tag\":\"t%d\",\"media\":[{\"type\":\"audio\",\"address\":\"%s\","
	    "\"rtp_port\":%d}]}\n", i, i, i, inet_ntoa(o->callee.sin_addr),
	    ntohs(o->callee.sin_port));
}

static int
mk_delete(char *b, size_t cap, int i, const struct opts *o)
{
	(void)o;
	return snprintf(b, cap, "{\"cmd\":\"delete\",\"call_id\":\"s%d\"}\n", i);
}

static char *
stats(struct ctl *c)
{
	static const char req[] = "{\"cmd\":\"stats\"}\n";

	write_all(c->fd, req, sizeof(req) - 1);
	return ctl_line(c);
}

static int
nfds(long pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	if (!(dir = opendir(path)))
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* A "Key: N kB" line of a /proc file (or "Key: N" of status), -1 if none */
static long
proc_kb(const char *file, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long
rss_kb(long pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	return proc_kb(path, "VmRSS");
}

/* The anonymous part of the RSS (heap, stacks): what relayd's own state
 * takes. VmRSS also counts the pages of shared libraries it has mapped,
 * which vary by MiBs from run to run with what the page cache held. */
static long
rss_anon_kb(long pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	return proc_kb(path, "RssAnon");
}

/* Udp InDatagrams + NoPorts of pid's namespace */
static long
udp_in(long pid)
{
	char path[64], line[512];
	long in = -1, noports = 0;
	int seen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/net/snmp", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Udp:", 4) && ++seen == 2)
			sscanf(line + 4, "%ld %ld", &in, &noports);
	fclose(f);
	return in + noports;
}

static long
entries(const struct opts *o)
{
	long n = -1;
	FILE *p;

	if (!o->entries_cmd || !(p = popen(o->entries_cmd, "r")))
		return -1;
	if (fscanf(p, "%ld", &n) != 1)
		n = -1;
	pclose(p);
	return n;
}

struct kmem {
	long slab, vmalloc, percpu, memfree;
};

/*
 * After dropping the dentry and inode caches: counting relayd's fds
 * (/proc/PID/fd) leaves a proc inode and a dentry per fd seen, ~900 B
 * each, which would otherwise count as the entries' memory.
 */
static struct kmem
kmem(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd < 0 || write(fd, "2\n", 2) != 2)
		die("drop_caches: %s", strerror(errno));
	close(fd);
	struct kmem m = {
		proc_kb("/proc/meminfo", "Slab"), proc_kb("/proc/meminfo", "VmallocUsed"),
		proc_kb("/proc/meminfo", "Percpu"), proc_kb("/proc/meminfo", "MemFree"),
	};
	return m;
}

/* DIR/slab-NAME: a copy of /proc/slabinfo now (with -d) */
static void
slab_snapshot(const struct opts *o, const char *name)
{
	char path[512], buf[8192];
	FILE *in, *out;
	size_t n;

	if (!o->slab_dir)
		return;
	snprintf(path, sizeof(path), "%s/slab-%s", o->slab_dir, name);
	if (!(in = fopen("/proc/slabinfo", "r")) || !(out = fopen(path, "w")))
		die("slabinfo to %s: %s", path, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	if (fclose(out))
		die("writing %s: %s", path, strerror(errno));
}

static void
print_kmem(const char *name, struct kmem m)
{
	printf("\"%s\":{\"slab_kb\":%ld,\"vmalloc_kb\":%ld,\"percpu_kb\":%ld,\"memfree_kb\":%ld},",
	    name, m.slab, m.vmalloc, m.percpu, m.memfree);
}

/* A UDP socket bound to addr in namespace /run/netns/ns. */
static int
netns_socket(const char *ns, const struct sockaddr_in *addr)
{
	char path[256];
	int home = open("/proc/self/ns/net", O_RDONLY), target, fd, big = 32 << 20;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if (home < 0 || (target = open(path, O_RDONLY)) < 0)
		die("open %s: %s", path, strerror(errno));
	if (setns(target, CLONE_NEWNET) < 0)
		die("setns %s: %s", ns, strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		die("bind in %s: %s", ns, strerror(errno));
	if (setns(home, CLONE_NEWNET) < 0)
		die("setns back: %s", strerror(errno));
	close(home);
	close(target);
	return fd;
}

static void
pkt(uint8_t *p, uint32_t sid, uint32_t seq)
{
	uint32_t v;

	memset(p, 0, PKT_LEN);
	p[0] = 0x80;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	v = htonl(seq);
	memcpy(p + 4, &v, 4);
	v = htonl(sid);
	memcpy(p + 8, &v, 4);
	memcpy(p + 12, "TLSC", 4);
	memcpy(p + 16, &v, 4);
	v = htonl(seq);
	memcpy(p + 20, &v, 4);
}

struct dir {
	int		 tx, rx;
	const int	*dport;		/* relay port each stream is sent to */
	const struct in_addr *dip;	/* relay addresses, by i % nips */
	const int	*sport;		/* relay port each stream arrives from */
	const struct in_addr *sip;
	uint8_t		*seen;		/* per (sample index, seq) */
	long		 received, bad;
};

/* Drain rx: check each datagram (sample index = sid / stride). */
static void
rx_drain(struct dir *d, const struct opts *o, int stride)
{
	uint8_t b[2048];
	struct sockaddr_in src;
	socklen_t sl;

	for (;;) {
		sl = sizeof(src);
		ssize_t r = recvfrom(d->rx, b, sizeof(b), 0, (struct sockaddr *)&src, &sl);
		if (r < 0)
			return;
		uint32_t sid, seq;
		if (r != PKT_LEN || memcmp(b + 12, "TLSC", 4)) {
			d->bad++;
			continue;
		}
		memcpy(&sid, b + 16, 4);
		memcpy(&seq, b + 20, 4);
		sid = ntohl(sid);
		seq = ntohl(seq);
		if (sid >= (uint32_t)o->n || sid % (uint32_t)stride || seq >= (uint32_t)o->count ||
		    src.sin_addr.s_addr != d->sip[sid % (uint32_t)o->nips].s_addr ||
		    ntohs(src.sin_port) != d->sport[sid]) {
			d->bad++;
			continue;
		}
		size_t k = (size_t)(sid / (uint32_t)stride) * (size_t)o->count + seq;
		if (d->seen[k]) {
			d->bad++;
			continue;
		}
		d->seen[k] = 1;
		d->received++;
	}
}

/* COUNT packets on each sampled stream, paced; receive meanwhile */
static long
media(struct dir *d, const struct opts *o, int stride, int nsample)
{
	long total = (long)nsample * o->count, i = 0;
	double t0 = now(), end;
	uint8_t b[PKT_LEN];

	for (int seq = 0; seq < o->count; seq++)
		for (int s = 0; s < nsample; s++, i++) {
			int sid = s * stride;
			struct sockaddr_in to = { .sin_family = AF_INET,
				.sin_addr = d->dip[sid % o->nips],
				.sin_port = htons((uint16_t)d->dport[sid]) };
			double ahead;

			pkt(b, (uint32_t)sid, (uint32_t)seq);
			while (sendto(d->tx, b, PKT_LEN, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
				if (errno != EAGAIN && errno != ENOBUFS)
					die("sendto: %s", strerror(errno));
				poll(NULL, 0, 1);
			}
			rx_drain(d, o, stride);
			ahead = (double)(i + 1) / o->rate - (now() - t0);
			if (ahead > 0) {
				struct pollfd p = { .fd = d->rx, .events = POLLIN };
				poll(&p, 1, (int)(ahead * 1000) + 1);
				rx_drain(d, o, stride);
			}
		}
	end = now() + 60;
	while (d->received < total && now() < end) {
		struct pollfd p = { .fd = d->rx, .events = POLLIN };
		poll(&p, 1, 100);
		rx_drain(d, o, stride);
	}
	/* late duplicates or strays */
	end = now() + 0.5;
	while (now() < end) {
		poll(NULL, 0, 50);
		rx_drain(d, o, stride);
	}
	return total;
}

static void
parse_ips(const char *s, struct in_addr *out, int *n)
{
	char tmp[512], *save = NULL;

	snprintf(tmp, sizeof(tmp), "%s", s);
	*n = 0;
	for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_IPS || inet_pton(AF_INET, t, &out[*n]) != 1)
			die("bad address list %s", s);
		(*n)++;
	}
}

static void
parse_ep(const char *s, char *ns, size_t nscap, struct sockaddr_in *sa)
{
	char tmp[256], *ip, *port;

	snprintf(tmp, sizeof(tmp), "%s", s);
	if (!(ip = strchr(tmp, ':')) || !(port = strchr(ip + 1, ':')))
		die("bad endpoint %s (NS:IP:PORT)", s);
	*ip++ = '\0';
	*port++ = '\0';
	snprintf(ns, nscap, "%s", tmp);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		die("bad address in %s", s);
}

static void
usage(void)
{
	fprintf(stderr, "usage: kscale -s SOCK -p PID -n STREAMS -w WAVE -S SAMPLE -c COUNT "
	    "-r RATE -A IPS -B IPS -C NS:IP:PORT -E NS:IP:PORT [-k ENTRIES_CMD] [-d DIR]\n");
	exit(2);
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int c, na = 0, nb = 0;

	*o = (struct opts){ .n = 1000, .wave = 3000, .sample = 100, .count = 5, .rate = 200 };
	while ((c = getopt(argc, argv, "s:p:n:w:S:c:r:A:B:C:E:k:d:")) != -1) {
		switch (c) {
		case 's': o->sock = optarg; break;
		case 'p': o->pid = atol(optarg); break;
		case 'n': o->n = atoi(optarg); break;
		case 'w': o->wave = atoi(optarg); break;
		case 'S': o->sample = atoi(optarg); break;
		case 'c': o->count = atoi(optarg); break;
		case 'r': o->rate = atof(optarg); break;
		case 'A': parse_ips(optarg, o->ips_a, &na); break;
		case 'B': parse_ips(optarg, o->ips_b, &nb); break;
		case 'C': parse_ep(optarg, o->ns_c, sizeof(o->ns_c), &o->caller); break;
		case 'E': parse_ep(optarg, o->ns_e, sizeof(o->ns_e), &o->callee); break;
		case 'k': o->entries_cmd = optarg; break;
		case 'd': o->slab_dir = optarg; break;
		default: usage();
		}
	}
	if (!o->sock || o->pid <= 0 || o->n <= 0 || o->wave <= 0 || o->sample <= 0 ||
	    o->sample > o->n || o->count <= 0 || o->count > 65535 || o->rate <= 0 ||
	    !na || na != nb || !o->ns_c[0] || !o->ns_e[0])
		usage();
	o->nips = na;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct ctl c = { .fd = -1 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int *port_a, *port_b, max_fds = 0, stride, nsample;
	double t0, t_ctl = 0, t_wait = 0;
	long u0, e_all, e_after;
	struct kmem m0, m1, m2;
	bool ok;

	parse(argc, argv, &o);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (!(port_a = calloc((size_t)o.n, sizeof(int))) || !(port_b = calloc((size_t)o.n, sizeof(int))))
		die("out of memory");
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", o.sock);
	if ((c.fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(c.fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die("connect %s: %s", o.sock, strerror(errno));

	printf("{\"streams\":%d,\"wave\":%d,\"interfaces\":%d,\"rss_kib_start\":%ld,"
	    "\"rss_anon_kib_start\":%ld,\"fds_start\":%d,\"entries_start\":%ld,", o.n, o.wave,
	    2 * o.nips, rss_kb(o.pid), rss_anon_kb(o.pid), nfds(o.pid), entries(&o));
	slab_snapshot(&o, "start");
	m0 = kmem();
	print_kmem("kmem_start", m0);
	t0 = now();
	for (int first = 0; first < o.n; first += o.wave) {
		int n = o.n - first < o.wave ? o.n - first : o.wave, f;
		double t1 = now(), end;
		long socks = -1, sockless = -1;

		ctl_many(&c, &o, first, n, mk_offer, port_b);
		if ((f = nfds(o.pid)) > max_fds)
			max_fds = f;
		ctl_many(&c, &o, first, n, mk_answer, port_a);
		if ((f = nfds(o.pid)) > max_fds)
			max_fds = f;
		t_ctl += now() - t1;
		t1 = now();
		end = t1 + WAIT_S;
		while (now() < end) {
			char *r = stats(&c);
			socks = jint(r, "sockets");
			sockless = jint(r, "streams_without_sockets");
			if (socks == 0 && sockless >= first + n)
				break;
			poll(NULL, 0, 50);
		}
		t_wait += now() - t1;
		if (socks != 0 || sockless < first + n)
			die("wave at %d: %ld sockets still open, %ld of %d streams without", first,
			    socks, sockless, first + n);
		fprintf(stderr, "kscale: %d streams, %.0f s, fds max %d\n", first + n, now() - t0, max_fds);
	}
	printf("\"setup_s\":%.1f,\"setup_control_s\":%.1f,\"setup_wait_s\":%.1f,\"offers_per_s\":%.1f,",
	    now() - t0, t_ctl, t_wait, o.n / (now() - t0));
	{
		char *r = stats(&c);
		printf("\"relay_streams\":%ld,\"relay_sockets\":%ld,\"streams_without_sockets\":%ld,",
		    jint(r, "streams"), jint(r, "sockets"), jint(r, "streams_without_sockets"));
	}
	m1 = kmem();
	slab_snapshot(&o, "all");
	e_all = entries(&o);
	printf("\"fds_max_during_setup\":%d,\"fds_all_in_kernel\":%d,\"rss_kib_all_in_kernel\":%ld,"
	    "\"rss_anon_kib_all_in_kernel\":%ld,\"entries_all\":%ld,", max_fds, nfds(o.pid),
	    rss_kb(o.pid), rss_anon_kb(o.pid), e_all);
	print_kmem("kmem_all", m1);
	/* on the console too: a run stopped later keeps these */
	fprintf(stderr, "kscale: all in the kernel: %ld entries, relayd %d fds, RSS %ld KiB; "
	    "slab+vmalloc+percpu %ld -> %ld KiB, MemFree %ld -> %ld KiB\n", e_all, nfds(o.pid),
	    rss_kb(o.pid), m0.slab + m0.vmalloc + m0.percpu, m1.slab + m1.vmalloc + m1.percpu,
	    m0.memfree, m1.memfree);
	{
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/limits", o.pid);
		FILE *f = fopen(path, "r");
		char line[256];
		long lim = -1;
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "Max open files", 14))
				lim = strtol(line + 14, NULL, 10);
		if (f)
			fclose(f);
		printf("\"rlimit_nofile\":%ld,", lim);
	}

	/* media: every stride-th stream */
	stride = o.n / o.sample;
	nsample = o.n / stride;
	{
		int cs = netns_socket(o.ns_c, &o.caller), es = netns_socket(o.ns_e, &o.callee);
		struct dir ab = { cs, es, port_a, o.ips_a, port_b, o.ips_b,
			calloc((size_t)nsample * (size_t)o.count, 1), 0, 0 };
		struct dir ba = { es, cs, port_b, o.ips_b, port_a, o.ips_a,
			calloc((size_t)nsample * (size_t)o.count, 1), 0, 0 };
		long sent_ab, sent_ba;
		double tm = now();

		if (!ab.seen || !ba.seen)
			die("out of memory");
		fprintf(stderr, "kscale: media on %d streams\n", nsample);
		u0 = udp_in(o.pid);
		sent_ab = media(&ab, &o, stride, nsample);
		sent_ba = media(&ba, &o, stride, nsample);
		printf("\"sample\":%d,\"packets_per_stream\":%d,\"media_s\":%.1f,"
		    "\"media_a_to_b\":{\"sent\":%ld,\"received\":%ld,\"bad\":%ld},"
		    "\"media_b_to_a\":{\"sent\":%ld,\"received\":%ld,\"bad\":%ld},"
		    "\"datagrams_to_relay_sockets\":%ld,", nsample, o.count, now() - tm,
		    sent_ab, ab.received, ab.bad, sent_ba, ba.received, ba.bad, udp_in(o.pid) - u0);
		fprintf(stderr, "kscale: media a->b %ld/%ld (%ld bad), b->a %ld/%ld (%ld bad)\n",
		    ab.received, sent_ab, ab.bad, ba.received, sent_ba, ba.bad);
		ok = ab.received == sent_ab && ab.bad == 0 && ba.received == sent_ba && ba.bad == 0 &&
		    udp_in(o.pid) == u0;
	}

	fprintf(stderr, "kscale: media checked, deleting %d calls\n", o.n);
	t0 = now();
	ctl_many(&c, &o, 0, o.n, mk_delete, NULL);
	printf("\"delete_s\":%.1f,", now() - t0);
	{
		char *r = stats(&c);
		long left = jint(r, "streams");
		double end = now() + 60;
		/* the entries go with the calls: bounded wait for the count */
		while ((e_after = entries(&o)) > 0 && now() < end)
			poll(NULL, 0, 200);
		m2 = kmem();
		slab_snapshot(&o, "deleted");
		printf("\"relay_streams_after_delete\":%ld,\"entries_after_delete\":%ld,", left, e_after);
		print_kmem("kmem_after_delete", m2);
		ok = ok && left == 0 && e_after == 0;
	}
	ok = ok && e_all >= 2L * o.n;
	printf("\"ok\":%s}\n", ok ? "true" : "false");
	return ok ? 0 : 1;
}
