/*
 * kadopt: relayd's kmod backend across a restart, without the journal
 * (which brings sessions back in relayd itself): two processes build the
 * same stream from a fresh relayd context on loopback, as a journal
 * would restore it.
 *
 *   kadopt install      latch the stream, install it in trunkline.ko, then
 *                       _exit() like a killed relayd (the entries stay)
 *   kadopt adopt [N]    adopt must succeed (0) and take over the kernel's
 *                       counters: leg A then counts N packets, all that
 *                       its entry forwarded, before and after the adoption
 *                       (the journal keeps the userspace counts only)
 *   kadopt moved        the caller latched elsewhere: adopt must refuse
 *                       (-ENOENT), the entries do not match the stream
 *   kadopt remove       adopt, then remove: the entries are gone
 *   kadopt batch N BAD  batched installs (kmod_put_streams): N two-entry
 *                       streams in one call, stream BAD's output source
 *                       not local; every other stream must be in, BAD
 *                       refused with EADDRNOTAVAIL and none of its
 *                       entries left; `tlk count` then shows 2 * (N - 1)
 *   kadopt unbatch N    remove what `batch N` installed
 *
 * kadopt -6 MODE: the same with both legs on IPv6 (::1); kadopt -x MODE:
 * leg A on IPv4 (127.0.0.1), leg B on IPv6 (::1), so the kernel
 * translates between them.
 *
 * Exit 0 when the expectation holds. Links relayd's objects.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "relayd.h"
#include "trunkline_uapi.h"
#include "backend_kmod.h"

#define CALLER_PORT	4000
#define CALLEE_PORT	5000

static struct relayd rd;
static const char *addr_a = "127.0.0.1", *addr_b = "127.0.0.1";
static int iface_b;	/* leg B's interface: 1 with -x */
static const uint16_t fixed[1][2] = { { 42000, 42002 } };

static struct stream *
make_stream(uint16_t caller_port)
{
	struct session *s;
	struct stream *st;
	char err[256];
	int rc;

	config_defaults(&rd.conf);
	rd.conf.log_level = LL_WARNING;
	rd.conf.port_min = 42000;
	rd.conf.port_max = 42009;
	if (iface_b == 1) {	/* -x: a second interface, on IPv6 */
		rd.conf.nifaces = 2;
		rd.conf.ifaces[1] = rd.conf.ifaces[0];
		strcpy(rd.conf.ifaces[1].name, "v6");
		strcpy(rd.conf.ifaces[1].advertise, addr_b);
		addr_parse(addr_b, 0, &rd.conf.ifaces[1].bind);
	} else if (strchr(addr_a, ':') != NULL) {	/* -6 */
		strcpy(rd.conf.ifaces[0].advertise, addr_a);
		addr_parse(addr_a, 0, &rd.conf.ifaces[0].bind);
	}
	if (ports_init(&rd.pools[0], rd.conf.port_min, rd.conf.port_max) < 0 ||
	    ports_init(&rd.pools[1], rd.conf.port_min, rd.conf.port_max) < 0 ||
	    session_table_init(&rd.sessions, 4) < 0 ||
	    (rd.epfd = epoll_create1(0)) < 0) {
		fprintf(stderr, "kadopt: setup failed\n");
		exit(2);
	}
	if ((rc = backend_select(&rd, "kmod", err, sizeof(err))) < 0) {
		fprintf(stderr, "kadopt: backend kmod: %s\n", err);
		exit(2);
	}
	/* Fixed ports, as a restart restores them from the journal: the
	 * allocator hands ports out at random, and every mode of this tool
	 * must name the same stream. */
	s = session_create(&rd, "adopt-1", "ft", 0, iface_b);
	if (s == NULL || session_restore_streams(&rd, s, 1, fixed) < 0) {
		fprintf(stderr, "kadopt: session: %s\n", strerror(errno));
		exit(2);
	}
	st = s->streams[0];
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		struct leg *leg = &st->leg[side];
		uint16_t port = side == SIDE_A ? caller_port : CALLEE_PORT;
		const char *peer = side == SIDE_A ? addr_a : addr_b;
		struct sockaddr_storage ss;

		addr_parse(peer, port, &ss);
		raddr_from(&leg->sdp.rtp, &ss);
		addr_parse(peer, (uint16_t)(port + 1), &ss);
		raddr_from(&leg->sdp.rtcp, &ss);
		leg->sdp.set = true;
		leg->latched[SK_RTP] = leg->sdp.rtp;
		leg->is_latched[SK_RTP] = true;
	}
	printf("kadopt: leg A port %u, leg B port %u\n", st->leg[SIDE_A].port,
	    st->leg[SIDE_B].port);
	return st;
}

/* Stream i of `batch`: ports 43000 + 2i and + 2i + 1 on 127.0.0.1. */
static void
plan_batch(struct kmod_plan *s, int i, bool bad)
{
	struct sockaddr_storage lo, out;

	memset(s, 0, sizeof(*s));
	s->n = 2;
	s->cookie = 0xba7c0000u + (unsigned)i;
	addr_parse("127.0.0.1", 0, &lo);
	addr_parse(bad ? "192.0.2.1" : "127.0.0.1", 0, &out);
	for (int e = 0; e < 2; e++) {
		struct kentry *k = &s->e[e];
		uint16_t port;

		kaddr_of(&lo, &k->laddr, &port);
		k->saddr = k->odaddr = k->laddr;
		kaddr_of(&out, &k->osaddr, &port);
		k->lport = (uint16_t)(43000 + 2 * i + e);
		k->sport = (uint16_t)(4000 + e);
		k->osport = (uint16_t)(42000 + e);
		k->odport = (uint16_t)(5000 + e);
	}
}

static int
batch_mode(bool install, int n, int bad)
{
	struct kmod_state *ks = rd.backend.priv;
	struct kmod_plan *plans = calloc((size_t)n, sizeof(*plans));
	struct kmod_plan **pp = calloc((size_t)n, sizeof(*pp));
	int *rcs = calloc((size_t)n, sizeof(*rcs)), errs[KMOD_MAX_ENTRIES];
	int fails = 0;

	if (plans == NULL || pp == NULL || rcs == NULL || n < 1)
		return 2;
	for (int i = 0; i < n; i++) {
		plan_batch(&plans[i], i, i == bad);
		pp[i] = &plans[i];
	}
	if (!install) {
		for (int i = 0; i < n; i++)
			batch(ks, &plans[i], TL_CMD_DEL, false, errs);
		return 0;
	}
	if (kmod_put_streams(ks, pp, (size_t)n, rcs) < 0)
		fails++;
	for (int i = 0; i < n; i++) {
		int want = i == bad ? -EADDRNOTAVAIL : 0;

		if (rcs[i] != want) {
			printf("kadopt: batch: stream %d: %d (%s), want %d\n",
			    i, rcs[i], strerror(-rcs[i]), want);
			fails++;
		}
	}
	printf("kadopt: batch: %d streams in one call, %d results wrong\n",
	    n, fails);
	return fails ? 1 : 0;
}

int
main(int argc, char **argv)
{
	const char *mode;
	unsigned long long want;
	struct stream *st;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "-6")) {
		addr_a = addr_b = "::1";
		argv++;
		argc--;
	} else if (argc > 1 && !strcmp(argv[1], "-x")) {
		addr_b = "::1";
		iface_b = 1;
		argv++;
		argc--;
	}
	mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "install")) {
		st = make_stream(CALLER_PORT);
		backend_stream_latched(&rd, st);
		printf("kadopt: path %s: %s\n", stream_path_name(&rd, st),
		    stream_reason(st));
		fflush(stdout);
		_exit(st->path == PATH_KERNEL ? 0 : 1);	/* as if killed */
	}
	if (!strcmp(mode, "adopt") || !strcmp(mode, "remove") ||
	    !strcmp(mode, "moved")) {
		st = make_stream(!strcmp(mode, "moved") ? CALLER_PORT + 10 :
		    CALLER_PORT);
		rc = rd.backend.ops->adopt(&rd, rd.backend.priv, st);
		printf("kadopt: adopt: %d (%s) %s\n", rc, rc ? strerror(-rc) : "ok",
		    rc ? "" : stream_reason(st));
		if (!strcmp(mode, "moved"))
			return rc == -ENOENT ? 0 : 1;
		if (rc != 0)
			return 1;
		st->path = PATH_KERNEL;
		want = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
		for (int i = 0; i < 100; i++) {	/* 5 s for the packets */
			if (rd.backend.ops->read_counters(&rd, rd.backend.priv,
			    &st, 1) < 0 || st->path != PATH_KERNEL)
				return 1;
			if (st->leg[SIDE_A].stats.packets >= want)
				break;
			usleep(50000);
		}
		printf("kadopt: leg A packets %llu (want %llu)\n",
		    (unsigned long long)st->leg[SIDE_A].stats.packets, want);
		if (st->leg[SIDE_A].stats.packets != want)
			return 1;
		if (!strcmp(mode, "remove")) {
			backend_stream_remove(&rd, st);
			if (rd.backend.ops->adopt(&rd, rd.backend.priv, st) != -ENOENT)
				return 1;
			printf("kadopt: removed; adopt now refuses\n");
		}
		_exit(0);	/* keep what is in the kernel as it is */
	}
	if (!strcmp(mode, "batch") || !strcmp(mode, "unbatch")) {
		(void)make_stream(CALLER_PORT);	/* the backend, opened */
		return batch_mode(!strcmp(mode, "batch"),
		    argc > 2 ? atoi(argv[2]) : 0, argc > 3 ? atoi(argv[3]) : -1);
	}
	fprintf(stderr, "usage: kadopt [-6|-x] install|adopt|moved|remove|"
	    "batch N BAD|unbatch N\n");
	return 2;
}
