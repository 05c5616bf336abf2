/*
 * rtpsink: the receiving end of the relay's integration tests.
 *
 * It binds N ports (PORT + 2*i, and PORT + 2*i + 1 with --rtcp), reads
 * with recvmmsg and checks every packet rtpgen sent through the relay:
 * that it came from the relay's address and port (--from), that it is
 * RTP version 2 (or an RTCP sender report on the RTCP ports), that its
 * SSRC is the stream's (--ssrc-base), that the payload pattern is intact,
 * and that each SSRC's counter arrives once and in order. It stops when
 * every expected packet arrived (--expect, then --linger), after --idle
 * seconds without a packet, or after --duration (default 30 s: it always
 * ends), prints one JSON summary line on stdout, says on stderr what was
 * wrong, and exits 0 only if nothing was.
 *
 * The packet layout is rtpgen.c's; keep the two in step.
 *
 * To share a port with the rtpgen that answers from it (the relay sends
 * to the address it latched, which is the sender's), the socket joins a
 * SO_REUSEPORT group with a classic BPF program that steers every packet
 * to the group's first socket: this one, as long as the sink binds first.
 * --ready-file tells a script when that happened.
 *
 * Bulk mode (--flow-file, for bench/media): up to 65536 streams arriving
 * on a few ports. Line i of the file is "SRC_ADDR:PORT DST_PORT": stream i
 * (SSRC ssrc-base + i) must come from SRC and arrive on DST_PORT. Every
 * packet is checked for header, SSRC, counter, arrival port and source;
 * per stream, the counter must advance by one (gaps count as lost, earlier
 * counters as late). The payload pattern is not checked (rtpgen's bulk
 * mode sends zeros after the counter). SIGUSR1 and SIGUSR2 mark the start
 * and end of a measurement window (both modes): window_received counts the
 * packets read inside it, so packets a relay delivers late do not count.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RTPTOOL_NAME "rtpsink"
#include "rtptool.h"

#define MAX_STREAMS	64
#define MAX_BULK	65536
#define MAX_PORTS	128		/* distinct ports in bulk mode */
#define MAX_SSRC	4		/* SSRCs tracked per flow */
#define BATCH		64
#define MAX_PKT		2048
#define RTP_HDR		12
#define RTCP_SR_HDR	28
#define MAGIC_LEN	8
#define TS_STEP		160
#define DEFAULT_BITS	(1u << 22)	/* dup detection window without --expect */

enum kind { KIND_RTP = 0, KIND_RTCP = 1 };

/* One SSRC's counters on one flow. */
struct tracker {
	bool		 used;
	uint32_t	 ssrc;
	uint64_t	 received;	/* valid and new */
	uint64_t	 duplicates;
	uint64_t	 out_of_order;
	uint64_t	 unexpected;	/* counter outside the expected range */
	uint32_t	 first, last, max;
	uint8_t		*seen;		/* bitmap, relative to start_seq */
	uint64_t	 bits;
};

struct flow {
	enum kind		 kind;
	int			 fd;
	int			 stream;
	struct sockaddr_storage	 local;
	struct sockaddr_storage	 from;		/* expected source */
	bool			 has_from;
	int64_t			 expect;	/* -1: not given */
	uint64_t		 packets;	/* everything that arrived */
	uint64_t		 bytes;
	uint64_t		 bad_source, bad_header, bad_payload, bad_ssrc;
	struct sockaddr_storage	 last_bad_source;
	struct tracker		 trk[MAX_SSRC];
};

struct opts {
	char		 bind[128];
	char		 from[4096];
	int		 streams;
	bool		 rtcp;
	bool		 rtcp_only;
	bool		 has_ssrc;
	uint32_t	 ssrc_base;
	int64_t		 expect;
	int64_t		 expect_rtcp;
	uint32_t	 start_seq;
	int		 pt;		/* -1: any */
	int		 size;		/* 0: any */
	double		 duration;
	double		 idle;
	double		 linger;
	bool		 allow_reorder;
	char		 ready_file[512];
	bool		 verbose;
	char		 flow_file[512];
};

/* Bulk mode: one entry per stream, a few sockets. */
struct bstream {
	struct sockaddr_in6	 src;		/* expected source (v4 or v6) */
	uint16_t		 dport;
	bool			 seen;
	uint32_t		 last;
	uint64_t		 received;
};

struct bulk {
	struct bstream		*st;
	int			 nst;
	int			 nfd;
	int			 fds[MAX_PORTS];
	uint16_t		 ports[MAX_PORTS];
	uint64_t		 received, gaps, late, bad_source, bad_port;
	uint64_t		 bad_header, bad_ssrc;
	char			 first_bad[160];
};

struct ctx {
	struct opts	 o;
	struct flow	 flows[2 * MAX_STREAMS];
	int		 nflows;
	int		 sigfd;
	double		 t0, elapsed, last_rx, done_at;
	const char	*stop;
	struct bulk	*bulk;
	uint64_t	 win_rx0, win_rx1;	/* measurement window */
	double		 win_t0, win_t1;
	int		 win_state;		/* 0 none, 1 open, 2 closed */
	uint8_t		 buf[BATCH][MAX_PKT];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Must match rtpgen.c's fill_pattern(). */
static bool
pattern_ok(const uint8_t *p, size_t len, int kind, uint32_t ssrc,
    uint32_t ctr)
{
	uint32_t x = (ssrc * 0x9E3779B1u) ^ (ctr * 0x85EBCA77u) ^
	    ((uint32_t)kind * 0xC2B2AE3Du) ^ 0x6D2B79F5u;

	if (x == 0)
		x = 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (p[i] != (uint8_t)x)
			return false;
	}
	return true;
}

static __attribute__((noreturn)) void
usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: rtpsink -b ADDR:PORT [options]\n"
"  -b, --bind ADDR:PORT   stream i listens on PORT+2*i (RTCP: PORT+2*i+1)\n"
"  -n, --streams N        number of streams (default 1)\n"
"  -f, --from LIST        the relay's address the packets must come from:\n"
"                         ADDR:PORT of stream 0 (stream i: PORT+2*i), or one\n"
"                         ADDR:PORT per stream; RTCP from PORT+1\n"
"  -S, --ssrc-base N      stream i must carry SSRC N+i (default: any)\n"
"  -e, --expect N         RTP packets expected per stream (counters\n"
"                         start-seq..start-seq+N-1); fewer is a failure\n"
"      --start-seq N      first expected counter (default 0)\n"
"  -R, --rtcp             also listen for RTCP on PORT+2*i+1\n"
"      --rtcp-only        listen for RTCP only, on the --bind ports themselves\n"
"      --expect-rtcp N    RTCP packets expected per stream\n"
"  -p, --pt PT            RTP payload type the packets must have\n"
"  -s, --size BYTES       RTP packet size the packets must have\n"
"  -t, --duration SECS    stop after SECS at most (default 30)\n"
"  -i, --idle SECS        stop after SECS without a packet (default: never)\n"
"  -l, --linger SECS      once all expected packets arrived, keep listening\n"
"                         SECS for extra ones (default 0)\n"
"      --allow-reorder    out-of-order arrival is not a failure\n"
"  -r, --ready-file PATH  write \"ready\" to PATH once every port is bound\n"
"  -v, --verbose          report each bad packet on stderr\n"
"      --flow-file FILE   bulk mode: line i is \"SRC_ADDR:PORT DST_PORT\" of\n"
"                         stream i (SSRC ssrc-base+i, default 0x1000); up to\n"
"                         %d streams on up to %d distinct ports of --bind\n"
"SIGUSR1/SIGUSR2 open/close a measurement window (reported as window_*).\n"
"Prints one JSON summary line. Exit 0 if every expected packet arrived\n"
"once, from the expected source, intact; 1 otherwise; 2 on usage errors.\n",
	    MAX_BULK, MAX_PORTS);
	exit(status);
}

static void
copy_arg(char *dst, size_t len, const char *s)
{
	if (strlen(s) >= len) {
		fprintf(stderr, "rtpsink: argument too long\n");
		exit(2);
	}
	strcpy(dst, s);
}

static void
parse_opts(struct opts *o, int argc, char **argv)
{
	enum { O_START = 256, O_RTCP_ONLY, O_EXPECT_RTCP, O_REORDER,
	    O_FLOW_FILE };
	static const struct option lopts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "streams", required_argument, NULL, 'n' },
		{ "from", required_argument, NULL, 'f' },
		{ "ssrc-base", required_argument, NULL, 'S' },
		{ "expect", required_argument, NULL, 'e' },
		{ "start-seq", required_argument, NULL, O_START },
		{ "rtcp", no_argument, NULL, 'R' },
		{ "rtcp-only", no_argument, NULL, O_RTCP_ONLY },
		{ "expect-rtcp", required_argument, NULL, O_EXPECT_RTCP },
		{ "pt", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 't' },
		{ "idle", required_argument, NULL, 'i' },
		{ "linger", required_argument, NULL, 'l' },
		{ "allow-reorder", no_argument, NULL, O_REORDER },
		{ "flow-file", required_argument, NULL, O_FLOW_FILE },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->streams = 1;
	o->expect = -1;
	o->expect_rtcp = -1;
	o->pt = -1;
	o->duration = 30;
	while ((ch = getopt_long(argc, argv, "b:n:f:S:e:Rp:s:t:i:l:r:vh",
	    lopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			copy_arg(o->bind, sizeof(o->bind), optarg);
			break;
		case 'n':
			o->streams = (int)num_arg("--streams", optarg, 1,
			    MAX_STREAMS);
			break;
		case 'f':
			copy_arg(o->from, sizeof(o->from), optarg);
			break;
		case 'S':
			o->has_ssrc = true;
			o->ssrc_base = u32_arg("--ssrc-base", optarg);
			break;
		case 'e':
			o->expect = (int64_t)num_arg("--expect", optarg, 0,
			    1e9);
			break;
		case O_START:
			o->start_seq = u32_arg("--start-seq", optarg);
			break;
		case 'R':
			o->rtcp = true;
			break;
		case O_RTCP_ONLY:
			o->rtcp_only = true;
			break;
		case O_EXPECT_RTCP:
			o->expect_rtcp = (int64_t)num_arg("--expect-rtcp",
			    optarg, 0, 1e9);
			break;
		case 'p':
			o->pt = (int)num_arg("--pt", optarg, 0, 127);
			break;
		case 's':
			o->size = (int)num_arg("--size", optarg, RTP_HDR +
			    MAGIC_LEN, MAX_PKT);
			break;
		case 't':
			o->duration = num_arg("--duration", optarg, 0.01,
			    86400);
			break;
		case 'i':
			o->idle = num_arg("--idle", optarg, 0.01, 86400);
			break;
		case 'l':
			o->linger = num_arg("--linger", optarg, 0, 86400);
			break;
		case O_REORDER:
			o->allow_reorder = true;
			break;
		case O_FLOW_FILE:
			copy_arg(o->flow_file, sizeof(o->flow_file), optarg);
			break;
		case 'r':
			copy_arg(o->ready_file, sizeof(o->ready_file), optarg);
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc || o->bind[0] == '\0')
		usage(2);
	if (o->rtcp && o->rtcp_only) {
		fprintf(stderr, "rtpsink: --rtcp and --rtcp-only exclude each other\n");
		exit(2);
	}
	if (o->flow_file[0] && (o->rtcp || o->rtcp_only || o->from[0])) {
		fprintf(stderr, "rtpsink: --flow-file takes the sources from "
		    "the file and checks RTP only\n");
		exit(2);
	}
	if (o->flow_file[0] && !o->has_ssrc) {
		o->has_ssrc = true;
		o->ssrc_base = 0x1000;
	}
	if (o->rtcp_only && o->expect >= 0 && o->expect_rtcp < 0)
		o->expect_rtcp = o->expect;	/* --rtcp-only -e N */
}

/* Every packet of the group goes to socket 0: the first one bound. */
static int
steer_to_first(int fd)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog));
}

static int
setup(struct ctx *c)
{
	struct opts *o = &c->o;
	struct sockaddr_storage base, froms[MAX_STREAMS];
	int nfrom = 0;
	char list[sizeof(o->from)], *tok, *save = NULL, a[80];

	if (parse_addr(o->bind, true, &base) < 0) {
		fprintf(stderr, "rtpsink: bad --bind '%s'\n", o->bind);
		return -1;
	}
	strcpy(list, o->from);
	for (tok = strtok_r(list, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (nfrom == MAX_STREAMS ||
		    parse_addr(tok, true, &froms[nfrom]) < 0) {
			fprintf(stderr, "rtpsink: bad --from entry '%s'\n", tok);
			return -1;
		}
		nfrom++;
	}
	if (nfrom > 1 && nfrom != o->streams) {
		fprintf(stderr, "rtpsink: %d --from entries for %d streams\n",
		    nfrom, o->streams);
		return -1;
	}

	for (int i = 0; i < o->streams; i++) {
		for (int k = 0; k < 2; k++) {
			bool is_rtcp = k == 1;
			struct flow *f;
			unsigned port;
			int one = 1;

			if (is_rtcp && !o->rtcp)
				continue;
			f = &c->flows[c->nflows++];
			f->stream = i;
			f->kind = (is_rtcp || o->rtcp_only) ? KIND_RTCP :
			    KIND_RTP;
			f->expect = f->kind == KIND_RTCP ? o->expect_rtcp :
			    o->expect;
			f->local = base;
			port = addr_port(&base) + 2u * i + (is_rtcp ? 1 : 0);
			if (nfrom) {
				unsigned fp;

				f->has_from = true;
				f->from = froms[nfrom > 1 ? i : 0];
				fp = addr_port(&f->from) +
				    (nfrom > 1 ? 0 : 2u * i) + (is_rtcp ? 1 : 0);
				if (fp > 65535) {
					fprintf(stderr, "rtpsink: --from port out of range\n");
					return -1;
				}
				addr_set_port(&f->from, fp);
			}
			if (port > 65535) {
				fprintf(stderr, "rtpsink: --bind port out of range\n");
				return -1;
			}
			addr_set_port(&f->local, port);
			f->fd = socket(base.ss_family,
			    SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (f->fd < 0) {
				fprintf(stderr, "rtpsink: socket: %s\n",
				    strerror(errno));
				return -1;
			}
			if (setsockopt(f->fd, SOL_SOCKET, SO_REUSEPORT, &one,
			    sizeof(one)) < 0 || steer_to_first(f->fd) < 0) {
				fprintf(stderr, "rtpsink: SO_REUSEPORT: %s\n",
				    strerror(errno));
				return -1;
			}
			int rcvbuf = 4 << 20;
			setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			    sizeof(rcvbuf));
			if (bind(f->fd, (struct sockaddr *)&f->local,
			    addr_len(&f->local)) < 0) {
				fprintf(stderr, "rtpsink: bind %s: %s\n",
				    addr_fmt(&f->local, a, sizeof(a)),
				    strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

static int
write_ready(const struct ctx *c)
{
	char tmp[600];
	int fd;

	if (c->o.ready_file[0] == '\0')
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->o.ready_file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "ready\n", 6) != 6 || close(fd) < 0 ||
	    rename(tmp, c->o.ready_file) < 0) {
		fprintf(stderr, "rtpsink: ready file %s: %s\n",
		    c->o.ready_file, strerror(errno));
		return -1;
	}
	return 0;
}

static struct tracker *
tracker_for(struct flow *f, uint32_t ssrc)
{
	uint64_t bits;

	for (int i = 0; i < MAX_SSRC; i++)
		if (f->trk[i].used && f->trk[i].ssrc == ssrc)
			return &f->trk[i];
	for (int i = 0; i < MAX_SSRC; i++) {
		struct tracker *t = &f->trk[i];

		if (t->used)
			continue;
		bits = f->expect >= 0 ? (uint64_t)f->expect : DEFAULT_BITS;
		t->seen = calloc(bits / 8 + 1, 1);
		if (t->seen == NULL)
			return NULL;
		t->bits = bits;
		t->used = true;
		t->ssrc = ssrc;
		return t;
	}
	return NULL;
}

static void
bad(const struct ctx *c, const struct flow *f, const char *what,
    const struct sockaddr_storage *src)
{
	char a[80];

	if (c->o.verbose)
		fprintf(stderr, "rtpsink: stream %d %s: %s from %s\n",
		    f->stream, f->kind == KIND_RTP ? "rtp" : "rtcp", what,
		    addr_fmt(src, a, sizeof(a)));
}

static void
check_packet(struct ctx *c, struct flow *f, const uint8_t *p, size_t len,
    bool trunc, const struct sockaddr_storage *src)
{
	size_t hdr = f->kind == KIND_RTP ? RTP_HDR : RTCP_SR_HDR;
	uint32_t ssrc, ctr;
	struct tracker *t;

	f->packets++;
	f->bytes += len;
	c->last_rx = now_s();
	if (f->has_from && !addr_equal(src, &f->from)) {
		f->bad_source++;
		f->last_bad_source = *src;
		bad(c, f, "wrong source", src);
		return;
	}
	if (trunc || len < hdr + MAGIC_LEN || (p[0] & 0xc0) != 0x80 ||
	    (f->kind == KIND_RTCP && (p[1] != 200 ||
	    ((size_t)(p[2] << 8 | p[3]) + 1) * 4 != len)) ||
	    (f->kind == KIND_RTP && c->o.pt >= 0 && (p[1] & 0x7f) != c->o.pt) ||
	    (f->kind == KIND_RTP && c->o.size && len != (size_t)c->o.size)) {
		f->bad_header++;
		bad(c, f, "bad header", src);
		return;
	}
	ssrc = get32(p + (f->kind == KIND_RTP ? 8 : 4));
	ctr = get32(p + hdr + 4);
	if (memcmp(p + hdr, "TLRG", 4) != 0 ||
	    (f->kind == KIND_RTP && ((uint32_t)(p[2] << 8 | p[3]) !=
	    (ctr & 0xffff) || get32(p + 4) != ctr * TS_STEP)) ||
	    !pattern_ok(p + hdr + MAGIC_LEN, len - hdr - MAGIC_LEN, f->kind,
	    ssrc, ctr)) {
		f->bad_payload++;
		bad(c, f, "payload damaged", src);
		return;
	}
	if (c->o.has_ssrc && ssrc != c->o.ssrc_base + (uint32_t)f->stream) {
		f->bad_ssrc++;
		bad(c, f, "foreign SSRC", src);
		return;
	}
	t = tracker_for(f, ssrc);
	if (t == NULL) {
		f->bad_ssrc++;
		bad(c, f, "too many SSRCs", src);
		return;
	}

	uint64_t rel = (uint32_t)(ctr - c->o.start_seq);
	if (f->expect >= 0 && rel >= (uint64_t)f->expect) {
		t->unexpected++;
		bad(c, f, "counter outside the expected range", src);
		return;
	}
	if (rel < t->bits) {
		if (t->seen[rel / 8] & (1u << (rel % 8))) {
			t->duplicates++;
			bad(c, f, "duplicate", src);
			return;
		}
		t->seen[rel / 8] |= (uint8_t)(1u << (rel % 8));
	}
	if (t->received == 0) {
		t->first = ctr;
		t->max = ctr;
	} else if ((int32_t)(ctr - t->max) < 0)
		t->out_of_order++;
	else
		t->max = ctr;
	t->last = ctr;
	t->received++;
}

static bool
all_arrived(const struct ctx *c)
{
	bool any = false;

	for (int i = 0; i < c->nflows; i++) {
		const struct flow *f = &c->flows[i];
		bool got = false;

		if (f->expect <= 0)
			continue;
		any = true;
		for (int k = 0; k < MAX_SSRC; k++) {
			if (!f->trk[k].used)
				continue;
			if (f->trk[k].received < (uint64_t)f->expect)
				return false;
			got = true;
		}
		if (!got)
			return false;
	}
	return any;
}

static void
drain(struct ctx *c, struct flow *f)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage src[BATCH];

	/* a bounded number of batches, so one busy port cannot starve
	 * the others or the deadline */
	for (int round = 0; round < 16; round++) {
		int n;

		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = c->buf[i];
			iov[i].iov_len = MAX_PKT;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &src[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(src[i]);
		}
		n = recvmmsg(f->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    c->o.verbose)
				fprintf(stderr, "rtpsink: recvmmsg: %s\n",
				    strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++)
			check_packet(c, f, c->buf[i], msgs[i].msg_len,
			    (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0,
			    &src[i]);
		if (n < BATCH)
			return;
	}
}


/* ---- bulk mode (--flow-file) ---- */

static int
bulk_port_fd(struct ctx *c, struct bulk *b, const struct sockaddr_storage *base,
    uint16_t port)
{
	struct sockaddr_storage ss = *base;
	char a[80];
	int fd, rcvbuf = 4 << 20;

	for (int k = 0; k < b->nfd; k++)
		if (b->ports[k] == port)
			return 0;
	if (b->nfd == MAX_PORTS) {
		fprintf(stderr, "rtpsink: more than %d distinct ports in %s\n",
		    MAX_PORTS, c->o.flow_file);
		return -1;
	}
	addr_set_port(&ss, port);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fprintf(stderr, "rtpsink: socket: %s\n", strerror(errno));
		return -1;
	}
	b->fds[b->nfd] = fd;
	b->ports[b->nfd++] = port;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&ss, addr_len(&ss)) < 0) {
		fprintf(stderr, "rtpsink: bind %s: %s\n",
		    addr_fmt(&ss, a, sizeof(a)), strerror(errno));
		return -1;
	}
	return 0;
}

static int
bulk_setup(struct ctx *c)
{
	struct sockaddr_storage base;
	struct bulk *b;
	char line[256];
	int lineno = 0;
	FILE *fp;

	b = c->bulk = calloc(1, sizeof(*b));
	if (b == NULL || (b->st = calloc(MAX_BULK, sizeof(*b->st))) == NULL) {
		fprintf(stderr, "rtpsink: out of memory\n");
		return -1;
	}
	if (parse_addr(c->o.bind, false, &base) < 0) {
		fprintf(stderr, "rtpsink: bad --bind '%s'\n", c->o.bind);
		return -1;
	}
	fp = fopen(c->o.flow_file, "r");
	if (fp == NULL) {
		fprintf(stderr, "rtpsink: %s: %s\n", c->o.flow_file,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct sockaddr_storage src;
		char addr[200];
		unsigned port;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (b->nst == MAX_BULK ||
		    sscanf(line, "%199s %u", addr, &port) != 2 ||
		    port == 0 || port > 65535 ||
		    parse_addr(addr, true, &src) < 0 ||
		    src.ss_family != base.ss_family) {
			fprintf(stderr, "rtpsink: %s:%d: expected \"SRC_ADDR:PORT "
			    "DST_PORT\" (same family as --bind)%s\n",
			    c->o.flow_file, lineno,
			    b->nst == MAX_BULK ? ", too many lines" : "");
			fclose(fp);
			return -1;
		}
		memcpy(&b->st[b->nst].src, &src, sizeof(b->st[0].src));
		b->st[b->nst].dport = (uint16_t)port;
		if (bulk_port_fd(c, b, &base, (uint16_t)port) < 0) {
			fclose(fp);
			return -1;
		}
		b->nst++;
	}
	fclose(fp);
	if (b->nst == 0) {
		fprintf(stderr, "rtpsink: %s: no streams\n", c->o.flow_file);
		return -1;
	}
	c->o.streams = b->nst;
	return 0;
}

static void
bulk_bad(struct bulk *b, uint64_t *counter, const char *what,
    const struct sockaddr_storage *src, uint16_t port)
{
	char a[80];

	(*counter)++;
	if (b->first_bad[0] == '\0')
		snprintf(b->first_bad, sizeof(b->first_bad), "%s from %s on "
		    "port %u", what, addr_fmt(src, a, sizeof(a)), port);
}

static void
bulk_check(struct ctx *c, struct bulk *b, uint16_t port, const uint8_t *p,
    size_t len, bool trunc, const struct sockaddr_storage *src)
{
	struct sockaddr_storage want;
	struct bstream *st;
	uint32_t ssrc, ctr, idx;

	if (trunc || len < RTP_HDR + MAGIC_LEN || (p[0] & 0xc0) != 0x80 ||
	    (c->o.pt >= 0 && (p[1] & 0x7f) != c->o.pt) ||
	    (c->o.size && len != (size_t)c->o.size) ||
	    memcmp(p + RTP_HDR, "TLRG", 4) != 0) {
		bulk_bad(b, &b->bad_header, "bad header", src, port);
		return;
	}
	ssrc = get32(p + 8);
	ctr = get32(p + RTP_HDR + 4);
	if ((uint32_t)(p[2] << 8 | p[3]) != (ctr & 0xffff) ||
	    get32(p + 4) != ctr * TS_STEP) {
		bulk_bad(b, &b->bad_header, "counter/seq/ts mismatch", src,
		    port);
		return;
	}
	idx = ssrc - c->o.ssrc_base;
	if (idx >= (uint32_t)b->nst) {
		bulk_bad(b, &b->bad_ssrc, "foreign SSRC", src, port);
		return;
	}
	st = &b->st[idx];
	if (st->dport != port) {
		bulk_bad(b, &b->bad_port, "wrong destination port", src, port);
		return;
	}
	memset(&want, 0, sizeof(want));
	memcpy(&want, &st->src, sizeof(st->src));
	if (!addr_equal(src, &want)) {
		bulk_bad(b, &b->bad_source, "wrong source", src, port);
		return;
	}
	if (!st->seen) {
		st->seen = true;
		st->last = ctr;
		if (c->o.expect >= 0)	/* counters start at start-seq */
			b->gaps += (uint32_t)(ctr - c->o.start_seq);
	} else if ((int32_t)(ctr - st->last) > 0) {
		b->gaps += (uint32_t)(ctr - st->last) - 1;
		st->last = ctr;
	} else
		b->late++;
	st->received++;
	b->received++;
}

static void
bulk_drain(struct ctx *c, struct bulk *b, int k)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage src[BATCH];

	for (int round = 0; round < 16; round++) {
		int n;

		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = c->buf[i];
			iov[i].iov_len = MAX_PKT;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &src[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(src[i]);
		}
		n = recvmmsg(b->fds[k], msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		c->last_rx = now_s();
		for (int i = 0; i < n; i++)
			bulk_check(c, b, b->ports[k], c->buf[i],
			    msgs[i].msg_len,
			    (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0,
			    &src[i]);
		if (n < BATCH)
			return;
	}
}

static bool
bulk_complete(const struct ctx *c, const struct bulk *b)
{
	if (c->o.expect <= 0)
		return false;
	for (int i = 0; i < b->nst; i++)
		if (b->st[i].received < (uint64_t)c->o.expect)
			return false;
	return true;
}

static bool
bulk_verdict(const struct ctx *c, const struct bulk *b, uint64_t *missing)
{
	bool ok = true;

	*missing = 0;
	for (int i = 0; i < b->nst; i++)
		if (b->st[i].received == 0)
			(*missing)++;
	if (b->bad_header || b->bad_ssrc || b->bad_port || b->bad_source) {
		fprintf(stderr, "rtpsink: %" PRIu64 " bad headers, %" PRIu64
		    " foreign SSRCs, %" PRIu64 " on a wrong port, %" PRIu64
		    " from a wrong source; first: %s\n", b->bad_header,
		    b->bad_ssrc, b->bad_port, b->bad_source, b->first_bad);
		ok = false;
	}
	if (c->o.expect >= 0) {
		uint64_t want = (uint64_t)c->o.expect * (uint64_t)b->nst;

		if (b->received != want || b->gaps || b->late || *missing) {
			fprintf(stderr, "rtpsink: %" PRIu64 " of %" PRIu64
			    " packets arrived; %" PRIu64 " lost in gaps, %"
			    PRIu64 " late, %" PRIu64 " of %d streams never "
			    "seen\n", b->received, want, b->gaps, b->late,
			    *missing, b->nst);
			ok = false;
		}
	} else if (b->late && !c->o.allow_reorder) {
		fprintf(stderr, "rtpsink: %" PRIu64 " packets out of order\n",
		    b->late);
		ok = false;
	}
	return ok;
}

static void
bulk_summary(const struct ctx *c, bool ok, uint64_t missing)
{
	const struct bulk *b = c->bulk;

	printf("{\"tool\":\"rtpsink\",\"mode\":\"bulk\",\"ok\":%s,"
	    "\"stop\":\"%s\",\"elapsed\":%.3f,\"streams\":%d,\"ports\":%d,"
	    "\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"late\":%" PRIu64
	    ",\"streams_missing\":%" PRIu64 ",\"bad_source\":%" PRIu64
	    ",\"bad_port\":%" PRIu64 ",\"bad_header\":%" PRIu64
	    ",\"bad_ssrc\":%" PRIu64 ",\"first_bad\":",
	    ok ? "true" : "false", c->stop ? c->stop : "error", c->elapsed,
	    b->nst, b->nfd, b->received, b->gaps, b->late, missing,
	    b->bad_source, b->bad_port, b->bad_header, b->bad_ssrc);
	if (b->first_bad[0])
		printf("\"%s\"", b->first_bad);
	else
		printf("null");
}

static uint64_t
total_rx(const struct ctx *c)
{
	uint64_t n = 0;

	if (c->bulk)
		return c->bulk->received;
	for (int i = 0; i < c->nflows; i++)
		n += c->flows[i].packets;
	return n;
}

static void
drain_all(struct ctx *c)
{
	if (c->bulk)
		for (int k = 0; k < c->bulk->nfd; k++)
			bulk_drain(c, c->bulk, k);
	else
		for (int i = 0; i < c->nflows; i++)
			drain(c, &c->flows[i]);
}

/* SIGUSR1/SIGUSR2: what is queued now arrived before the mark. */
static void
window_mark(struct ctx *c, int sig)
{
	drain_all(c);
	if (sig == SIGUSR1) {
		c->win_rx0 = total_rx(c);
		c->win_t0 = now_s();
		c->win_state = 1;
	} else if (c->win_state == 1) {
		c->win_rx1 = total_rx(c);
		c->win_t1 = now_s();
		c->win_state = 2;
	}
}

static void
print_window(const struct ctx *c)
{
	if (c->win_state == 2)
		printf(",\"window_received\":%" PRIu64 ",\"window_elapsed\":%.6f",
		    c->win_rx1 - c->win_rx0, c->win_t1 - c->win_t0);
	else
		printf(",\"window_received\":null,\"window_elapsed\":null");
}

static void
run(struct ctx *c)
{
	struct pollfd pfd[MAX_PORTS + 2 * MAX_STREAMS + 1];
	double deadline;
	int nfd = c->bulk ? c->bulk->nfd : c->nflows;

	c->t0 = c->last_rx = now_s();
	deadline = c->t0 + c->o.duration;
	for (int i = 0; i < nfd; i++)
		pfd[i] = (struct pollfd){ c->bulk ? c->bulk->fds[i] :
		    c->flows[i].fd, POLLIN, 0 };
	pfd[nfd] = (struct pollfd){ c->sigfd, POLLIN, 0 };

	for (;;) {
		double t = now_s(), until = deadline;
		int ms;

		if (c->done_at == 0 && (c->bulk ? bulk_complete(c, c->bulk) :
		    all_arrived(c)))
			c->done_at = t;
		if (c->done_at > 0 && t >= c->done_at + c->o.linger) {
			c->stop = "complete";
			break;
		}
		if (t >= deadline) {
			c->stop = "duration";
			break;
		}
		if (c->o.idle > 0 && t >= c->last_rx + c->o.idle) {
			c->stop = "idle";
			break;
		}
		if (c->done_at > 0 && c->done_at + c->o.linger < until)
			until = c->done_at + c->o.linger;
		if (c->o.idle > 0 && c->last_rx + c->o.idle < until)
			until = c->last_rx + c->o.idle;
		ms = (int)((until - t) * 1000) + 1;
		if (ms > 200)
			ms = 200;
		if (poll(pfd, (nfds_t)nfd + 1, ms) < 0 && errno != EINTR)
			break;
		if (pfd[nfd].revents) {
			struct signalfd_siginfo si;

			if (read(c->sigfd, &si, sizeof(si)) == sizeof(si) &&
			    (si.ssi_signo == SIGUSR1 ||
			    si.ssi_signo == SIGUSR2)) {
				window_mark(c, (int)si.ssi_signo);
				continue;
			}
			c->stop = "signal";
			break;
		}
		for (int i = 0; i < nfd; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (c->bulk)
				bulk_drain(c, c->bulk, i);
			else
				drain(c, &c->flows[i]);
		}
	}
	/* what is already queued arrived in time: count it */
	drain_all(c);
	c->elapsed = now_s() - c->t0;
}

struct totals {
	uint64_t	 received, rtcp_received, lost, duplicates, out_of_order;
	uint64_t	 unexpected, bad_source, bad_header, bad_payload, bad_ssrc;
	uint64_t	 missing_streams;
};

static uint64_t
flow_lost(const struct flow *f, uint64_t *received, bool *missing)
{
	uint64_t lost = 0;
	bool any = false;

	*received = 0;
	for (int k = 0; k < MAX_SSRC; k++) {
		const struct tracker *t = &f->trk[k];

		if (!t->used)
			continue;
		any = true;
		*received += t->received;
		if (f->expect >= 0)
			lost += (uint64_t)f->expect - t->received;
		else if (t->received)
			lost += (uint64_t)(uint32_t)(t->max - t->first) + 1 -
			    t->received;
	}
	*missing = !any && f->expect > 0;
	if (*missing)
		lost = (uint64_t)f->expect;
	return lost;
}

/* Report what was wrong on stderr; true if nothing was. */
static bool
verdict(const struct ctx *c, struct totals *tt)
{
	char a[80], b[80], l[80];
	bool ok = true;

	memset(tt, 0, sizeof(*tt));
	for (int i = 0; i < c->nflows; i++) {
		const struct flow *f = &c->flows[i];
		const char *kn = f->kind == KIND_RTP ? "rtp" : "rtcp";
		uint64_t rx, lost, dup = 0, ooo = 0, unx = 0;
		bool missing;

		lost = flow_lost(f, &rx, &missing);
		for (int k = 0; k < MAX_SSRC; k++) {
			dup += f->trk[k].duplicates;
			ooo += f->trk[k].out_of_order;
			unx += f->trk[k].unexpected;
		}
		if (f->kind == KIND_RTP)
			tt->received += rx;
		else
			tt->rtcp_received += rx;
		tt->lost += lost;
		tt->duplicates += dup;
		tt->out_of_order += ooo;
		tt->unexpected += unx;
		tt->bad_source += f->bad_source;
		tt->bad_header += f->bad_header;
		tt->bad_payload += f->bad_payload;
		tt->bad_ssrc += f->bad_ssrc;
		tt->missing_streams += missing;
		addr_fmt(&f->local, l, sizeof(l));
		if (f->bad_source) {
			fprintf(stderr, "rtpsink: stream %d %s on %s: %" PRIu64
			    " packets from a wrong source (last from %s, "
			    "expected %s)\n", f->stream, kn, l, f->bad_source,
			    addr_fmt(&f->last_bad_source, a, sizeof(a)),
			    addr_fmt(&f->from, b, sizeof(b)));
			ok = false;
		}
		if (f->bad_header || f->bad_payload) {
			fprintf(stderr, "rtpsink: stream %d %s on %s: %" PRIu64
			    " packets with a bad header, %" PRIu64
			    " with a damaged payload\n", f->stream, kn, l,
			    f->bad_header, f->bad_payload);
			ok = false;
		}
		if (f->bad_ssrc) {
			fprintf(stderr, "rtpsink: stream %d %s on %s: %" PRIu64
			    " packets of a foreign SSRC\n", f->stream, kn, l,
			    f->bad_ssrc);
			ok = false;
		}
		if (dup || unx) {
			fprintf(stderr, "rtpsink: stream %d %s on %s: %" PRIu64
			    " duplicates, %" PRIu64 " packets outside the "
			    "expected range\n", f->stream, kn, l, dup, unx);
			ok = false;
		}
		if (ooo && !c->o.allow_reorder) {
			fprintf(stderr, "rtpsink: stream %d %s on %s: %" PRIu64
			    " packets out of order\n", f->stream, kn, l, ooo);
			ok = false;
		}
		if (f->expect >= 0 && lost) {
			fprintf(stderr, "rtpsink: stream %d %s on %s: %" PRIu64
			    " of %" PRId64 " packets arrived (%" PRIu64
			    " missing)%s\n", f->stream, kn, l, rx, f->expect,
			    lost, missing ? ", none at all" : "");
			ok = false;
		}
	}
	return ok;
}

static void
summary(const struct ctx *c, bool ok, const struct totals *tt)
{
	char a[80], b[80];

	printf("{\"tool\":\"rtpsink\",\"ok\":%s,\"stop\":\"%s\","
	    "\"elapsed\":%.3f,\"streams\":%d,\"received\":%" PRIu64
	    ",\"rtcp_received\":%" PRIu64 ",\"lost\":%" PRIu64
	    ",\"duplicates\":%" PRIu64 ",\"out_of_order\":%" PRIu64
	    ",\"unexpected\":%" PRIu64 ",\"bad_source\":%" PRIu64
	    ",\"bad_header\":%" PRIu64 ",\"bad_payload\":%" PRIu64
	    ",\"bad_ssrc\":%" PRIu64,
	    ok ? "true" : "false", c->stop ? c->stop : "error", c->elapsed,
	    c->o.streams, tt->received, tt->rtcp_received, tt->lost,
	    tt->duplicates, tt->out_of_order, tt->unexpected, tt->bad_source,
	    tt->bad_header, tt->bad_payload, tt->bad_ssrc);
	print_window(c);
	printf(",\"flows\":[");
	for (int i = 0; i < c->nflows; i++) {
		const struct flow *f = &c->flows[i];
		uint64_t rx, lost;
		bool missing, first = true;

		lost = flow_lost(f, &rx, &missing);
		printf("%s{\"stream\":%d,\"kind\":\"%s\",\"local\":\"%s\","
		    "\"from\":", i ? "," : "", f->stream,
		    f->kind == KIND_RTP ? "rtp" : "rtcp",
		    addr_fmt(&f->local, a, sizeof(a)));
		if (f->has_from)
			printf("\"%s\"", addr_fmt(&f->from, b, sizeof(b)));
		else
			printf("null");
		printf(",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
		    ",\"received\":%" PRIu64 ",\"expected\":", f->packets,
		    f->bytes, rx);
		if (f->expect >= 0)
			printf("%" PRId64, f->expect);
		else
			printf("null");
		printf(",\"lost\":%" PRIu64 ",\"bad_source\":%" PRIu64
		    ",\"bad_header\":%" PRIu64 ",\"bad_payload\":%" PRIu64
		    ",\"bad_ssrc\":%" PRIu64 ",\"last_bad_source\":", lost,
		    f->bad_source, f->bad_header, f->bad_payload, f->bad_ssrc);
		if (f->bad_source)
			printf("\"%s\"", addr_fmt(&f->last_bad_source, b,
			    sizeof(b)));
		else
			printf("null");
		printf(",\"ssrcs\":[");
		for (int k = 0; k < MAX_SSRC; k++) {
			const struct tracker *t = &f->trk[k];

			if (!t->used)
				continue;
			printf("%s{\"ssrc\":%" PRIu32 ",\"received\":%" PRIu64
			    ",\"first\":%" PRIu32 ",\"last\":%" PRIu32
			    ",\"duplicates\":%" PRIu64 ",\"out_of_order\":%"
			    PRIu64 ",\"unexpected\":%" PRIu64 "}",
			    first ? "" : ",", t->ssrc, t->received, t->first,
			    t->last, t->duplicates, t->out_of_order,
			    t->unexpected);
			first = false;
		}
		printf("]}");
	}
	printf("]}\n");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct totals tt;
	struct ctx *c;
	sigset_t sigs;
	int rc = 2;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		perror("rtpsink: calloc");
		return 2;
	}
	for (int i = 0; i < 2 * MAX_STREAMS; i++)
		c->flows[i].fd = -1;
	parse_opts(&c->o, argc, argv);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	c->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (c->sigfd < 0) {
		perror("rtpsink: signalfd");
		goto out;
	}
	if (c->o.flow_file[0]) {
		uint64_t missing;
		bool bok;

		if (bulk_setup(c) < 0 || write_ready(c) < 0)
			goto out;
		run(c);
		bok = bulk_verdict(c, c->bulk, &missing);
		bulk_summary(c, bok, missing);
		print_window(c);
		printf("}\n");
		fflush(stdout);
		rc = bok ? 0 : 1;
		goto out;
	}
	if (setup(c) < 0 || write_ready(c) < 0)
		goto out;
	run(c);
	bool ok = verdict(c, &tt);
	summary(c, ok, &tt);
	rc = ok ? 0 : 1;
out:
	for (int i = 0; i < c->nflows; i++) {
		if (c->flows[i].fd >= 0)
			close(c->flows[i].fd);
		for (int k = 0; k < MAX_SSRC; k++)
			free(c->flows[i].trk[k].seen);
	}
	if (c->sigfd >= 0)
		close(c->sigfd);
	if (c->bulk) {
		for (int k = 0; k < c->bulk->nfd; k++)
			close(c->bulk->fds[k]);
		free(c->bulk->st);
		free(c->bulk);
	}
	free(c);
	return rc;
}
