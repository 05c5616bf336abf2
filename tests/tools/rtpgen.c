/*
 * rtpgen: an RTP (and RTCP) sender for the relay's integration tests.
 *
 * It sends N streams, one UDP socket each, at a fixed packet rate or as
 * fast as it can, for a packet count or a duration, in sendmmsg batches.
 * Every packet carries a 32-bit counter and a payload derived from
 * (kind, SSRC, counter), so rtpsink can tell that each packet arrived
 * once, in order and intact. The packet layout (shared with rtpsink.c,
 * which checks it; keep the two in step):
 *
 *   RTP:  V=2, PT, seq = counter & 0xffff, ts = counter * 160,
 *         SSRC = ssrc-base + stream; payload "TLRG", counter (BE32),
 *         pattern bytes.
 *   RTCP: a sender report (PT 200, RC 0) of the same SSRC whose
 *         profile-specific extension is "TLRG", counter, pattern.
 *
 * With --bind ADDR:PORT the sockets bind PORT + 2*i (and PORT + 2*i + 1
 * for RTCP) with SO_REUSEPORT, so an rtpsink already bound to the same
 * port keeps receiving the replies: rtpsink steers the group's traffic to
 * itself. Start the sink first.
 *
 * It always ends: --count and --duration bound the run, and --max-time
 * (default 60 s) bounds it even when sending stalls.
 *
 * Bulk mode (--flow-file, for bench/media): up to 65536 streams, one
 * destination per line of the file, sent from --sockets K sockets (stream
 * i from socket i mod K, which binds PORT + 2*(i mod K) with --bind), so
 * that tens of thousands of streams do not need as many descriptors. Each
 * round sends one packet to every stream. The payload after the counter is
 * zeros (the bench sink checks header, SSRC, counter and source, not the
 * pattern): the generator must stay cheap next to what it measures.
 * SIGUSR1 and SIGUSR2 mark the start and the end of a measurement window;
 * the summary reports what was sent inside it (both modes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RTPTOOL_NAME "rtpgen"
#include "rtptool.h"

#define MAX_STREAMS	64
#define MAX_BULK	65536	/* streams in --flow-file mode */
#define MAX_SOCKETS	1024
#define MAX_BATCH	256
#define MAX_PKT		1500
#define RTP_HDR		12
#define RTCP_SR_HDR	28
#define MAGIC_LEN	8	/* "TLRG" + counter */
#define RTCP_SIZE	(RTCP_SR_HDR + MAGIC_LEN + 28)	/* multiple of 4 */
#define TS_STEP		160

enum kind { KIND_RTP = 0, KIND_RTCP = 1 };

struct flow {
	enum kind		 kind;
	int			 fd;
	int			 stream;
	uint32_t		 ssrc;
	struct sockaddr_storage	 local;
	struct sockaddr_storage	 dst;
	socklen_t		 dstlen;
	uint64_t		 sent;		/* packets handed to the kernel */
	uint64_t		 bytes;
	uint64_t		 errors;
	uint32_t		 next;		/* next counter to send */
};

struct opts {
	char			 dest[4096];
	char			 bind[128];
	int			 streams;
	double			 rate;
	bool			 flood;
	double			 duration;	/* 0: none */
	uint64_t		 count;		/* 0: none */
	int			 size;
	int			 pt;
	uint32_t		 ssrc_base;
	int			 batch;
	bool			 rtcp;
	bool			 rtcp_only;
	int			 rtcp_every;
	double			 max_time;
	uint32_t		 start_seq;
	bool			 verbose;
	char			 flow_file[512];
	int			 sockets;
	bool			 spin;
};

/* Bulk mode: many streams over few sockets. */
struct bulk {
	int			 nsock;
	int			 fds[MAX_SOCKETS];
	struct sockaddr_storage	 local[MAX_SOCKETS];
	int			*order;		/* stream indexes, by socket */
	struct sockaddr_in6	*dst;		/* per stream (v4 or v6) */
	socklen_t		*dstlen;
	uint32_t		*next;		/* per stream counter */
	size_t			 pos;		/* next index into order */
	uint64_t		 sent, errors, bytes;
};

struct ctx {
	struct opts		 o;
	struct flow		 flows[2 * MAX_STREAMS];
	int			 nflows;
	uint64_t		 due;		/* RTP packets per stream due now */
	uint64_t		 rtp_done;	/* RTP packets per stream sent */
	double			 t0;
	double			 elapsed;
	uint64_t		 total_sent;	/* all packets, for the window */
	const char		*stop;
	sigset_t		 sigs;
	struct bulk		*bulk;
	uint8_t			 buf[MAX_BATCH][MAX_PKT];
};

/* The measurement window, marked by SIGUSR1 (start) and SIGUSR2 (end). */
static volatile uint64_t *win_counter;	/* packets sent so far */
static volatile uint64_t win_sent0, win_sent1;
static volatile double win_t0, win_t1;
static volatile sig_atomic_t win_state;	/* 0 none, 1 open, 2 closed */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_window(int sig)
{
	uint64_t n = win_counter ? *win_counter : 0;

	if (sig == SIGUSR1) {
		win_sent0 = n;
		win_t0 = now_s();
		win_state = 1;
	} else if (win_state == 1) {
		win_sent1 = n;
		win_t1 = now_s();
		win_state = 2;
	}
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* The payload pattern: a xorshift stream seeded by (kind, ssrc, counter). */
static void
fill_pattern(uint8_t *p, size_t len, int kind, uint32_t ssrc, uint32_t ctr)
{
	uint32_t x = (ssrc * 0x9E3779B1u) ^ (ctr * 0x85EBCA77u) ^
	    ((uint32_t)kind * 0xC2B2AE3Du) ^ 0x6D2B79F5u;

	if (x == 0)
		x = 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static size_t
build_rtp(const struct ctx *c, const struct flow *f, uint8_t *p, uint32_t ctr)
{
	size_t len = (size_t)c->o.size;

	p[0] = 0x80;
	p[1] = (uint8_t)(c->o.pt & 0x7f);
	p[2] = (uint8_t)(ctr >> 8);
	p[3] = (uint8_t)ctr;
	put32(p + 4, ctr * TS_STEP);
	put32(p + 8, f->ssrc);
	memcpy(p + RTP_HDR, "TLRG", 4);
	put32(p + RTP_HDR + 4, ctr);
	fill_pattern(p + RTP_HDR + MAGIC_LEN, len - RTP_HDR - MAGIC_LEN,
	    KIND_RTP, f->ssrc, ctr);
	return len;
}

static size_t
build_rtcp(const struct ctx *c, const struct flow *f, uint8_t *p, uint32_t ctr)
{
	size_t len = RTCP_SIZE;
	double t = now_s();

	p[0] = 0x80;			/* V=2, P=0, RC=0 */
	p[1] = 200;			/* SR */
	p[2] = (uint8_t)((len / 4 - 1) >> 8);
	p[3] = (uint8_t)(len / 4 - 1);
	put32(p + 4, f->ssrc);
	put32(p + 8, (uint32_t)t);	/* NTP-ish; not checked */
	put32(p + 12, (uint32_t)((t - floor(t)) * 4294967296.0));
	put32(p + 16, (uint32_t)(c->rtp_done * TS_STEP));
	put32(p + 20, (uint32_t)c->rtp_done);
	put32(p + 24, (uint32_t)(c->rtp_done * (uint64_t)(c->o.size - RTP_HDR)));
	memcpy(p + RTCP_SR_HDR, "TLRG", 4);
	put32(p + RTCP_SR_HDR + 4, ctr);
	fill_pattern(p + RTCP_SR_HDR + MAGIC_LEN,
	    len - RTCP_SR_HDR - MAGIC_LEN, KIND_RTCP, f->ssrc, ctr);
	return len;
}

/* "1.2.3.4:5", "[::1]:5", or with need_port false also "1.2.3.4". */

static __attribute__((noreturn)) void
usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: rtpgen -d ADDR:PORT[,ADDR:PORT...] (-c COUNT | -t SECS) [options]\n"
"  -d, --dest LIST       where stream 0 goes; stream i goes to PORT+2*i, or\n"
"                        give one ADDR:PORT per stream (RTCP: PORT+1)\n"
"  -b, --bind ADDR[:PORT] local address; with PORT stream i binds PORT+2*i\n"
"                        (RTCP PORT+2*i+1), SO_REUSEPORT (share with rtpsink)\n"
"  -n, --streams N       number of streams (default: entries in --dest)\n"
"  -r, --rate PPS        RTP packets per second per stream (default 50)\n"
"  -F, --flood           send as fast as possible\n"
"  -c, --count N         RTP packets per stream\n"
"  -t, --duration SECS   stop after SECS\n"
"  -s, --size BYTES      RTP packet size with header (default 172, min 24)\n"
"  -p, --pt PT           RTP payload type (default 0)\n"
"  -S, --ssrc-base N     SSRC of stream i is N+i (default 0x1000)\n"
"      --start-seq N     first packet counter (default 0)\n"
"  -B, --batch N         sendmmsg batch size (default 32, max %d)\n"
"  -R, --rtcp            also send RTCP sender reports to PORT+1\n"
"      --rtcp-only       send only RTCP, to the --dest ports themselves\n"
"      --rtcp-every N    one RTCP packet per N RTP packets (default 10)\n"
"      --max-time SECS   hard limit on the run (default 60)\n"
"      --flow-file FILE  bulk mode: one ADDR:PORT per line, stream i goes\n"
"                        to line i (up to %d streams; no --dest, no RTCP)\n"
"      --sockets K       bulk mode: send from K sockets (default 1); with\n"
"                        --bind ADDR:PORT socket k binds PORT+2*k\n"
"      --spin            bulk mode, paced: wait for the next batch by polling\n"
"                        the clock, not sleeping (a sleeping sender loses its\n"
"                        CPU share to other load and falls short of the rate)\n"
"  -v, --verbose         progress on stderr\n"
"SIGUSR1/SIGUSR2 open/close a measurement window (reported as window_*).\n"
"Prints one JSON summary line on stdout. Exit 0 if every packet was sent.\n",
	    MAX_BATCH, MAX_BULK);
	exit(status);
}

static void
parse_opts(struct opts *o, int argc, char **argv)
{
	enum { O_START = 256, O_RTCP_ONLY, O_RTCP_EVERY, O_MAX_TIME,
	    O_FLOW_FILE, O_SOCKETS, O_SPIN };
	static const struct option lopts[] = {
		{ "dest", required_argument, NULL, 'd' },
		{ "bind", required_argument, NULL, 'b' },
		{ "streams", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "flood", no_argument, NULL, 'F' },
		{ "count", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "pt", required_argument, NULL, 'p' },
		{ "ssrc-base", required_argument, NULL, 'S' },
		{ "start-seq", required_argument, NULL, O_START },
		{ "batch", required_argument, NULL, 'B' },
		{ "rtcp", no_argument, NULL, 'R' },
		{ "rtcp-only", no_argument, NULL, O_RTCP_ONLY },
		{ "rtcp-every", required_argument, NULL, O_RTCP_EVERY },
		{ "max-time", required_argument, NULL, O_MAX_TIME },
		{ "flow-file", required_argument, NULL, O_FLOW_FILE },
		{ "sockets", required_argument, NULL, O_SOCKETS },
		{ "spin", no_argument, NULL, O_SPIN },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->rate = 50;
	o->size = RTP_HDR + 160;
	o->ssrc_base = 0x1000;
	o->batch = 32;
	o->rtcp_every = 10;
	o->max_time = 60;
	while ((ch = getopt_long(argc, argv, "d:b:n:r:Fc:t:s:p:S:B:Rvh", lopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (strlen(optarg) >= sizeof(o->dest))
				usage(2);
			strcpy(o->dest, optarg);
			break;
		case 'b':
			if (strlen(optarg) >= sizeof(o->bind))
				usage(2);
			strcpy(o->bind, optarg);
			break;
		case 'n':
			o->streams = (int)num_arg("--streams", optarg, 1,
			    MAX_BULK);
			break;
		case 'r':
			o->rate = num_arg("--rate", optarg, 0.1, 1e7);
			break;
		case 'F':
			o->flood = true;
			break;
		case 'c':
			o->count = (uint64_t)num_arg("--count", optarg, 1,
			    4e9);
			break;
		case 't':
			o->duration = num_arg("--duration", optarg, 0.001,
			    86400);
			break;
		case 's':
			o->size = (int)num_arg("--size", optarg,
			    RTP_HDR + MAGIC_LEN + 4, MAX_PKT);
			break;
		case 'p':
			o->pt = (int)num_arg("--pt", optarg, 0, 127);
			break;
		case 'S':
			o->ssrc_base = u32_arg("--ssrc-base", optarg);
			break;
		case O_START:
			o->start_seq = u32_arg("--start-seq", optarg);
			break;
		case 'B':
			o->batch = (int)num_arg("--batch", optarg, 1,
			    MAX_BATCH);
			break;
		case 'R':
			o->rtcp = true;
			break;
		case O_RTCP_ONLY:
			o->rtcp_only = true;
			break;
		case O_RTCP_EVERY:
			o->rtcp_every = (int)num_arg("--rtcp-every", optarg, 1,
			    1e6);
			break;
		case O_MAX_TIME:
			o->max_time = num_arg("--max-time", optarg, 0.001,
			    86400);
			break;
		case O_FLOW_FILE:
			if (strlen(optarg) >= sizeof(o->flow_file))
				usage(2);
			strcpy(o->flow_file, optarg);
			break;
		case O_SOCKETS:
			o->sockets = (int)num_arg("--sockets", optarg, 1,
			    MAX_SOCKETS);
			break;
		case O_SPIN:
			o->spin = true;
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
	if (optind != argc || (o->dest[0] == '\0') == (o->flow_file[0] == '\0')) {
		fprintf(stderr, "rtpgen: give exactly one of --dest and "
		    "--flow-file\n");
		usage(2);
	}
	if (o->flow_file[0] && (o->rtcp || o->rtcp_only)) {
		fprintf(stderr, "rtpgen: --flow-file sends RTP only\n");
		exit(2);
	}
	if ((o->sockets || o->spin) && !o->flow_file[0]) {
		fprintf(stderr, "rtpgen: --sockets and --spin need --flow-file\n");
		exit(2);
	}
	if (o->flow_file[0] == '\0' && o->streams > MAX_STREAMS) {
		fprintf(stderr, "rtpgen: at most %d streams without "
		    "--flow-file\n", MAX_STREAMS);
		exit(2);
	}
	if (o->count == 0 && o->duration == 0) {
		fprintf(stderr, "rtpgen: give --count or --duration\n");
		exit(2);
	}
	if (o->rtcp && o->rtcp_only) {
		fprintf(stderr, "rtpgen: --rtcp and --rtcp-only exclude each other\n");
		exit(2);
	}
}

/*
 * Open a flow's socket and bind it: to f->local when --bind was given
 * (SO_REUSEPORT when it names a port, so rtpsink can share it), else to
 * an ephemeral port, so the summary can say where packets came from.
 */
static int
open_flow(struct flow *f, bool reuseport)
{
	socklen_t sl = sizeof(f->local);
	char a[80];
	int one = 1;

	f->fd = socket(f->dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (f->fd < 0) {
		fprintf(stderr, "rtpgen: socket: %s\n", strerror(errno));
		return -1;
	}
	if (f->local.ss_family != f->dst.ss_family) {
		fprintf(stderr, "rtpgen: --bind and --dest address families "
		    "differ\n");
		return -1;
	}
	if (reuseport && setsockopt(f->fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) < 0) {
		fprintf(stderr, "rtpgen: SO_REUSEPORT: %s\n", strerror(errno));
		return -1;
	}
	if (bind(f->fd, (const struct sockaddr *)&f->local,
	    addr_len(&f->local)) < 0) {
		fprintf(stderr, "rtpgen: bind %s: %s\n",
		    addr_fmt(&f->local, a, sizeof(a)), strerror(errno));
		return -1;
	}
	getsockname(f->fd, (struct sockaddr *)&f->local, &sl);
	return 0;
}

static int
setup(struct ctx *c)
{
	struct opts *o = &c->o;
	struct sockaddr_storage dsts[MAX_STREAMS], bind_addr;
	int ndst = 0, bind_has_port = 0;
	char list[sizeof(o->dest)], *tok, *save = NULL;

	memset(&bind_addr, 0, sizeof(bind_addr));
	strcpy(list, o->dest);
	for (tok = strtok_r(list, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (ndst == MAX_STREAMS || parse_addr(tok, true, &dsts[ndst]) < 0) {
			fprintf(stderr, "rtpgen: bad --dest entry '%s'\n", tok);
			return -1;
		}
		ndst++;
	}
	if (ndst == 0)
		return -1;
	if (o->streams == 0)
		o->streams = ndst;
	if (ndst > 1 && ndst != o->streams) {
		fprintf(stderr, "rtpgen: %d --dest entries for %d streams\n",
		    ndst, o->streams);
		return -1;
	}
	if (o->bind[0]) {
		bind_has_port = parse_addr(o->bind, false, &bind_addr);
		if (bind_has_port < 0) {
			fprintf(stderr, "rtpgen: bad --bind '%s'\n", o->bind);
			return -1;
		}
	}

	for (int i = 0; i < o->streams; i++) {
		for (int k = 0; k < 2; k++) {
			bool is_rtcp = (k == 1);
			struct flow *f;
			unsigned dport, lport;

			if (is_rtcp && !o->rtcp)
				continue;
			f = &c->flows[c->nflows++];
			f->fd = -1;
			f->stream = i;
			f->ssrc = o->ssrc_base + (uint32_t)i;
			f->kind = (is_rtcp || o->rtcp_only) ? KIND_RTCP :
			    KIND_RTP;
			f->next = o->start_seq;
			f->dst = dsts[ndst > 1 ? i : 0];
			dport = addr_port(&f->dst) + (ndst > 1 ? 0 : 2u * i) +
			    (is_rtcp ? 1 : 0);
			if (dport > 65535) {
				fprintf(stderr, "rtpgen: port out of range\n");
				return -1;
			}
			addr_set_port(&f->dst, dport);
			f->dstlen = addr_len(&f->dst);
			if (o->bind[0]) {
				f->local = bind_addr;
				lport = 0;
				if (bind_has_port)
					lport = addr_port(&bind_addr) + 2u * i +
					    (is_rtcp ? 1 : 0);
				if (lport > 65535) {
					fprintf(stderr, "rtpgen: port out of range\n");
					return -1;
				}
				addr_set_port(&f->local, lport);
			} else {
				memset(&f->local, 0, sizeof(f->local));
				f->local.ss_family = f->dst.ss_family;
			}
			if (open_flow(f, bind_has_port == 1) < 0)
				return -1;
		}
	}
	return 0;
}

/*
 * Send packets [f->next, upto) on one flow in sendmmsg batches. Returns
 * false when the deadline passed while the socket would not take more.
 */
static bool
send_flow(struct ctx *c, struct flow *f, uint32_t upto, double deadline)
{
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];

	while (f->next != upto) {
		uint32_t n = upto - f->next;
		int i, r;

		if (n > (uint32_t)c->o.batch)
			n = (uint32_t)c->o.batch;
		memset(msgs, 0, sizeof(msgs[0]) * n);
		for (i = 0; i < (int)n; i++) {
			uint32_t ctr = f->next + (uint32_t)i;

			iov[i].iov_base = c->buf[i];
			iov[i].iov_len = f->kind == KIND_RTP ?
			    build_rtp(c, f, c->buf[i], ctr) :
			    build_rtcp(c, f, c->buf[i], ctr);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &f->dst;
			msgs[i].msg_hdr.msg_namelen = f->dstlen;
		}
		r = sendmmsg(f->fd, msgs, n, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				struct pollfd pfd = { f->fd, POLLOUT, 0 };
				double left = deadline - now_s();

				if (left <= 0)
					return false;
				poll(&pfd, 1, left > 0.05 ? 50 :
				    (int)(left * 1000) + 1);
				continue;
			}
			/* e.g. ECONNREFUSED from an earlier ICMP error:
			 * the packet is lost, count it and go on */
			f->errors++;
			if (c->o.verbose)
				fprintf(stderr, "rtpgen: sendmmsg: %s\n",
				    strerror(errno));
			f->next++;
			continue;
		}
		for (i = 0; i < r; i++)
			f->bytes += iov[i].iov_len;
		f->sent += (uint64_t)r;
		f->next += (uint32_t)r;
		c->total_sent += (uint64_t)r;
	}
	return true;
}

static void
run(struct ctx *c)
{
	struct opts *o = &c->o;
	double deadline, end;

	c->t0 = now_s();
	deadline = c->t0 + o->max_time;
	end = o->duration > 0 ? c->t0 + o->duration : deadline;
	if (end > deadline)
		end = deadline;

	for (;;) {
		double t = now_s();
		uint64_t due;
		sigset_t pend;

		sigpending(&pend);
		if (sigismember(&pend, SIGTERM) || sigismember(&pend, SIGINT)) {
			c->stop = "signal";
			break;
		}
		if (o->count && c->rtp_done >= o->count) {
			c->stop = "count";
			break;
		}
		if (t >= end) {
			c->stop = t >= deadline && o->duration == 0 ?
			    "max_time" : "duration";
			break;
		}
		if (o->flood)
			due = c->rtp_done + (uint64_t)o->batch;
		else
			due = (uint64_t)((t - c->t0) * o->rate) + 1;
		if (o->count && due > o->count)
			due = o->count;
		if (due > c->rtp_done) {
			uint64_t n = due - c->rtp_done;
			bool ok = true;

			for (int i = 0; i < c->nflows && ok; i++) {
				struct flow *f = &c->flows[i];
				uint64_t want;

				if (f->kind == KIND_RTCP && !o->rtcp_only) {
					/* one report per rtcp_every packets */
					want = due / (uint64_t)o->rtcp_every;
					want -= c->rtp_done /
					    (uint64_t)o->rtcp_every;
				} else
					want = n;
				ok = send_flow(c, f, f->next + (uint32_t)want,
				    deadline);
			}
			c->rtp_done = due;
			if (!ok) {
				c->stop = "max_time";
				break;
			}
			continue;
		}
		/* sleep until the next packet is due */
		double next = c->t0 + (double)c->rtp_done / o->rate;
		if (next > end)
			next = end;
		struct timespec ts;
		ts.tv_sec = (time_t)next;
		ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	c->elapsed = now_s() - c->t0;
}


/* ---- bulk mode (--flow-file) ---- */

static int
bulk_read_file(struct ctx *c, struct bulk *b, int *nlines)
{
	FILE *fp = fopen(c->o.flow_file, "r");
	char line[256];
	int n = 0, lineno = 0;

	if (fp == NULL) {
		fprintf(stderr, "rtpgen: %s: %s\n", c->o.flow_file,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct sockaddr_storage ss;

		lineno++;
		line[strcspn(line, " \t\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n == MAX_BULK || parse_addr(line, true, &ss) < 0) {
			fprintf(stderr, "rtpgen: %s:%d: bad destination '%s'"
			    "%s\n", c->o.flow_file, lineno, line,
			    n == MAX_BULK ? " (too many lines)" : "");
			fclose(fp);
			return -1;
		}
		memcpy(&b->dst[n], &ss, sizeof(b->dst[n]));
		b->dstlen[n] = addr_len(&ss);
		n++;
	}
	fclose(fp);
	*nlines = n;
	return 0;
}

static int
bulk_open(struct ctx *c, struct bulk *b, int family)
{
	struct sockaddr_storage base;
	int has_port = 0;
	char a[80];

	memset(&base, 0, sizeof(base));
	base.ss_family = (sa_family_t)family;
	if (c->o.bind[0] && (has_port = parse_addr(c->o.bind, false,
	    &base)) < 0) {
		fprintf(stderr, "rtpgen: bad --bind '%s'\n", c->o.bind);
		return -1;
	}
	if (base.ss_family != family) {
		fprintf(stderr, "rtpgen: --bind and destinations differ in "
		    "address family\n");
		return -1;
	}
	for (int k = 0; k < b->nsock; k++) {
		socklen_t sl = sizeof(b->local[k]);
		int one = 1;

		b->local[k] = base;
		if (has_port) {
			unsigned port = addr_port(&base) + 2u * (unsigned)k;

			if (port > 65535) {
				fprintf(stderr, "rtpgen: port out of range\n");
				return -1;
			}
			addr_set_port(&b->local[k], port);
		}
		b->fds[k] = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (b->fds[k] < 0 || (has_port && setsockopt(b->fds[k],
		    SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
		    bind(b->fds[k], (struct sockaddr *)&b->local[k],
		    addr_len(&b->local[k])) < 0) {
			fprintf(stderr, "rtpgen: socket %d (%s): %s\n", k,
			    addr_fmt(&b->local[k], a, sizeof(a)),
			    strerror(errno));
			return -1;
		}
		getsockname(b->fds[k], (struct sockaddr *)&b->local[k], &sl);
	}
	return 0;
}

static int
bulk_setup(struct ctx *c)
{
	struct bulk *b;
	int nlines = 0, pos = 0;

	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -1;
	c->bulk = b;
	for (int k = 0; k < MAX_SOCKETS; k++)
		b->fds[k] = -1;
	b->dst = calloc(MAX_BULK, sizeof(*b->dst));
	b->dstlen = calloc(MAX_BULK, sizeof(*b->dstlen));
	b->next = calloc(MAX_BULK, sizeof(*b->next));
	b->order = calloc(MAX_BULK, sizeof(*b->order));
	if (!b->dst || !b->dstlen || !b->next || !b->order) {
		fprintf(stderr, "rtpgen: out of memory\n");
		return -1;
	}
	if (bulk_read_file(c, b, &nlines) < 0)
		return -1;
	if (nlines == 0 || c->o.streams > nlines) {
		fprintf(stderr, "rtpgen: %s has %d destinations for %d "
		    "streams\n", c->o.flow_file, nlines, c->o.streams);
		return -1;
	}
	if (c->o.streams == 0)
		c->o.streams = nlines;
	b->nsock = c->o.sockets ? c->o.sockets : 1;
	if (b->nsock > c->o.streams)
		b->nsock = c->o.streams;
	for (int i = 1; i < c->o.streams; i++)
		if (b->dst[i].sin6_family != b->dst[0].sin6_family) {
			fprintf(stderr, "rtpgen: %s mixes address families\n",
			    c->o.flow_file);
			return -1;
		}
	if (bulk_open(c, b, b->dst[0].sin6_family) < 0)
		return -1;
	for (int k = 0; k < b->nsock; k++)
		for (int i = k; i < c->o.streams; i += b->nsock)
			b->order[pos++] = i;
	for (int i = 0; i < c->o.streams; i++)
		b->next[i] = c->o.start_seq;
	win_counter = &b->sent;
	return 0;
}

/* One sendmmsg of up to --batch packets, all on the socket of order[pos]. */
static int
bulk_send_batch(struct ctx *c, struct bulk *b, uint64_t left,
    double deadline)
{
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	int n = 0, sock = b->order[b->pos] % b->nsock, r;
	size_t len = (size_t)c->o.size;

	while (n < c->o.batch && (uint64_t)n < left &&
	    b->pos + (size_t)n < (size_t)c->o.streams &&
	    b->order[b->pos + (size_t)n] % b->nsock == sock) {
		int i = b->order[b->pos + (size_t)n];
		uint8_t *p = c->buf[n];
		uint32_t ctr = b->next[i];

		p[0] = 0x80;
		p[1] = (uint8_t)(c->o.pt & 0x7f);
		p[2] = (uint8_t)(ctr >> 8);
		p[3] = (uint8_t)ctr;
		put32(p + 4, ctr * TS_STEP);
		put32(p + 8, c->o.ssrc_base + (uint32_t)i);
		memcpy(p + RTP_HDR, "TLRG", 4);
		put32(p + RTP_HDR + 4, ctr);
		iov[n].iov_base = p;
		iov[n].iov_len = len;
		memset(&msgs[n], 0, sizeof(msgs[n]));
		msgs[n].msg_hdr.msg_iov = &iov[n];
		msgs[n].msg_hdr.msg_iovlen = 1;
		msgs[n].msg_hdr.msg_name = &b->dst[i];
		msgs[n].msg_hdr.msg_namelen = b->dstlen[i];
		n++;
	}
	r = sendmmsg(b->fds[sock], msgs, (unsigned)n, MSG_DONTWAIT);
	if (r < 0) {
		if (errno == EINTR)
			return 0;
		if (errno == EAGAIN || errno == ENOBUFS) {
			struct pollfd pfd = { b->fds[sock], POLLOUT, 0 };

			if (now_s() >= deadline)
				return -1;
			poll(&pfd, 1, 10);
			return 0;
		}
		/* the packet is lost (e.g. an ICMP error): count it */
		b->errors++;
		r = 1;
	} else {
		b->sent += (uint64_t)r;
		b->bytes += (uint64_t)r * len;
	}
	for (int k = 0; k < r; k++)
		b->next[b->order[b->pos + (size_t)k]]++;
	b->pos += (size_t)r;
	if (b->pos == (size_t)c->o.streams) {
		b->pos = 0;
		c->rtp_done++;		/* one more full round */
	}
	return r;
}

static void
bulk_run(struct ctx *c)
{
	struct opts *o = &c->o;
	struct bulk *b = c->bulk;
	double deadline, end, next_sig = 0, total_rate;
	uint64_t done = 0, limit, burst;

	c->t0 = now_s();
	deadline = c->t0 + o->max_time;
	end = o->duration > 0 ? c->t0 + o->duration : deadline;
	if (end > deadline)
		end = deadline;
	total_rate = o->rate * o->streams;
	limit = o->count ? o->count * (uint64_t)o->streams : UINT64_MAX;
	burst = (uint64_t)(total_rate / 1000.0);
	if (burst > (uint64_t)o->batch)
		burst = (uint64_t)o->batch;
	if (burst < 1)
		burst = 1;
	for (;;) {
		double t = now_s();
		uint64_t due;
		int r;

		if (t >= next_sig) {
			sigset_t pend;

			sigpending(&pend);
			if (sigismember(&pend, SIGTERM) ||
			    sigismember(&pend, SIGINT)) {
				c->stop = "signal";
				break;
			}
			next_sig = t + 0.002;
		}
		if (done >= limit) {
			c->stop = "count";
			break;
		}
		if (t >= end) {
			c->stop = t >= deadline && o->duration == 0 ?
			    "max_time" : "duration";
			break;
		}
		due = o->flood ? limit : (uint64_t)((t - c->t0) * total_rate) + 1;
		if (due > limit)
			due = limit;
		/* Paced: wait until a batch is due (at most 1 ms of packets):
		 * one wakeup per packet would cost more than sending, and timer
		 * slack would make the rate fall short. --spin polls the clock
		 * (vDSO) instead of sleeping. */
		if (!o->flood && (due <= done ||
		    (o->spin && due - done < burst && due < limit))) {
			double nt = c->t0 + ((double)done + burst - 1) / total_rate;
			struct timespec ts;

			if (o->spin)
				continue;
			if (nt > end)
				nt = end;
			ts.tv_sec = (time_t)nt;
			ts.tv_nsec = (long)((nt - (double)ts.tv_sec) * 1e9);
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
			    NULL);
			continue;
		}
		r = bulk_send_batch(c, b, due - done, deadline);
		if (r < 0) {
			c->stop = "max_time";
			break;
		}
		done += (uint64_t)r;
	}
	c->elapsed = now_s() - c->t0;
}

static void
bulk_free(struct ctx *c)
{
	struct bulk *b = c->bulk;

	if (b == NULL)
		return;
	for (int k = 0; k < MAX_SOCKETS; k++)
		if (b->fds[k] >= 0)
			close(b->fds[k]);
	free(b->dst);
	free(b->dstlen);
	free(b->next);
	free(b->order);
	free(b);
	c->bulk = NULL;
}

static void
print_window(void)
{
	if (win_state == 2)
		printf(",\"window_sent\":%" PRIu64 ",\"window_elapsed\":%.6f",
		    win_sent1 - win_sent0, win_t1 - win_t0);
	else
		printf(",\"window_sent\":null,\"window_elapsed\":null");
}

static void
bulk_summary(const struct ctx *c)
{
	const struct bulk *b = c->bulk;
	char a[80];

	printf("{\"tool\":\"rtpgen\",\"mode\":\"bulk\",\"streams\":%d,"
	    "\"sockets\":%d,\"rate\":%g,\"flood\":%s,\"rounds\":%" PRIu64
	    ",\"sent\":%" PRIu64 ",\"rtcp_sent\":0,\"bytes\":%" PRIu64
	    ",\"errors\":%" PRIu64 ",\"elapsed\":%.3f,\"pps\":%.1f,"
	    "\"stop\":\"%s\",\"first_source\":\"%s\"",
	    c->o.streams, b->nsock, c->o.flood ? 0 : c->o.rate,
	    c->o.flood ? "true" : "false", c->rtp_done, b->sent, b->bytes,
	    b->errors, c->elapsed,
	    c->elapsed > 0 ? (double)b->sent / c->elapsed : 0.0,
	    c->stop ? c->stop : "error",
	    addr_fmt(&b->local[0], a, sizeof(a)));
	print_window();
	printf("}\n");
	fflush(stdout);
}

static void
summary(const struct ctx *c)
{
	uint64_t sent = 0, bytes = 0, errors = 0, rtcp = 0;
	char a[80], b[80];

	for (int i = 0; i < c->nflows; i++) {
		const struct flow *f = &c->flows[i];

		if (f->kind == KIND_RTCP)
			rtcp += f->sent;
		else
			sent += f->sent;
		bytes += f->bytes;
		errors += f->errors;
	}
	printf("{\"tool\":\"rtpgen\",\"streams\":%d,\"rate\":%g,\"flood\":%s,"
	    "\"per_stream\":%" PRIu64 ",\"sent\":%" PRIu64
	    ",\"rtcp_sent\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"errors\":%" PRIu64 ",\"elapsed\":%.3f,\"pps\":%.1f,"
	    "\"stop\":\"%s\"",
	    c->o.streams, c->o.flood ? 0 : c->o.rate,
	    c->o.flood ? "true" : "false", c->rtp_done, sent, rtcp, bytes,
	    errors, c->elapsed,
	    c->elapsed > 0 ? (double)(sent + rtcp) / c->elapsed : 0.0,
	    c->stop ? c->stop : "error");
	print_window();
	printf(",\"flows\":[");
	for (int i = 0; i < c->nflows; i++) {
		const struct flow *f = &c->flows[i];

		printf("%s{\"stream\":%d,\"kind\":\"%s\",\"ssrc\":%" PRIu32
		    ",\"src\":\"%s\",\"dst\":\"%s\",\"first_seq\":%" PRIu32
		    ",\"sent\":%" PRIu64 ",\"errors\":%" PRIu64 "}",
		    i ? "," : "", f->stream,
		    f->kind == KIND_RTP ? "rtp" : "rtcp", f->ssrc,
		    addr_fmt(&f->local, a, sizeof(a)),
		    addr_fmt(&f->dst, b, sizeof(b)), c->o.start_seq, f->sent,
		    f->errors);
	}
	printf("]}\n");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct ctx *c;
	int rc = 0;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		perror("rtpgen: calloc");
		return 1;
	}
	parse_opts(&c->o, argc, argv);
	sigemptyset(&c->sigs);
	sigaddset(&c->sigs, SIGTERM);
	sigaddset(&c->sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &c->sigs, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_window;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	win_counter = &c->total_sent;

	if (c->o.flow_file[0]) {
		if (bulk_setup(c) < 0) {
			rc = 2;
			goto out;
		}
		bulk_run(c);
		bulk_summary(c);
		if (c->bulk->errors ||
		    (c->o.count && c->rtp_done < c->o.count))
			rc = 1;
		goto out;
	}
	if (setup(c) < 0) {
		rc = 2;
		goto out;
	}
	run(c);
	summary(c);
	for (int i = 0; i < c->nflows; i++)
		if (c->flows[i].errors)
			rc = 1;
	if (c->o.count && c->rtp_done < c->o.count)
		rc = 1;
out:
	win_counter = NULL;
	bulk_free(c);
	for (int i = 0; i < c->nflows; i++)
		if (c->flows[i].fd >= 0)
			close(c->flows[i].fd);
	free(c);
	return rc;
}
