/*
 * nftdrive: drives relayd's nft backend directly (backend_nft_ops from
 * build/librelayd.a) with N synthetic, fully latched streams, without
 * sockets: the install-rate bench and the 10,000-stream test use it,
 * because relayd itself would need 4 file descriptors per stream.
 *
 *   nftdrive bench -n N [-P BASE] [-p PAIRS] [-r ROUNDS]
 *       install N streams in one flush, remove them in one flush; ROUNDS
 *       times; prints one JSON line per round (streams/s both ways).
 *   nftdrive hold -n N [-P BASE]
 *       install N streams, print "installed", then obey commands read on
 *       stdin, one per line: "read" (kernel counters of every stream,
 *       summed per leg), "remove" (remove all, one flush), "quit".
 *
 * Stream i: leg A 10.0.1.1:(BASE+2i) latched to 10.0.1.2:7000, leg B
 * 10.0.2.1:(BASE+2i) latched to 10.0.2.2:9000 (RTCP: the next ports).
 * With PAIRS > 1, pair p uses 10.p.1.1 / 10.p.2.1 and the
 * streams are spread over the pairs (more than 32k streams).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relayd.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
set4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	if (addr_parse(ip, port, ss) < 0) {
		fprintf(stderr, "nftdrive: bad address %s\n", ip);
		exit(2);
	}
}

static void
set4r(struct raddr *r, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	set4(&ss, ip, port);
	raddr_from(r, &ss);
}

struct drive {
	struct relayd	 rd;
	void		*priv;
	struct session	*sess;
	struct stream	**st;
	int		 n, pairs, per_pair;
};

static void
make_streams(struct drive *d, int base)
{
	d->sess = calloc(1, sizeof(*d->sess));
	d->st = calloc((size_t)d->n, sizeof(*d->st));
	d->sess->call_id = "nftdrive";
	d->sess->tag[0] = d->sess->tag[1] = d->sess->label = "";
	for (int i = 0; i < d->n; i++) {
		struct stream *st = calloc(1, sizeof(*st));
		int pair = i / d->per_pair, j = i % d->per_pair;
		st->session = d->sess;
		st->index = i;
		st->path = PATH_USERSPACE;
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			struct leg *leg = &st->leg[side];
			leg->stream = st;
			leg->side = (enum leg_side)side;
			leg->iface = 2 * pair + side;
			leg->port = (uint16_t)(base + 2 * j);
			leg->sdp.set = true;
			set4r(&leg->sdp.rtp, side == SIDE_A ? "10.0.1.2" : "10.0.2.2",
			    side == SIDE_A ? 7000 : 9000);
			leg->sdp.rtcp = leg->sdp.rtp;
			leg->sdp.rtcp.port = (uint16_t)(leg->sdp.rtp.port + 1);
			leg->latched[SK_RTP] = leg->sdp.rtp;
			leg->is_latched[SK_RTP] = true;
		}
		d->st[i] = st;
	}
}

static int
setup(struct drive *d, int base)
{
	char why[640];
	int rc;

	config_defaults(&d->rd.conf);
	d->rd.conf.log_level = LL_NOTICE;
	d->rd.conf.port_min = (uint16_t)base;
	d->rd.conf.port_max = (uint16_t)(base + 2 * d->per_pair - 1);
	d->rd.conf.nifaces = 2 * d->pairs;
	for (int p = 0; p < d->pairs; p++)
		for (int side = 0; side < 2; side++) {
			char ip[32];
			struct iface_conf *ifc = &d->rd.conf.ifaces[2 * p + side];
			snprintf(ip, sizeof(ip), "10.%d.%d.1", p, 1 + side);
			snprintf(ifc->name, sizeof(ifc->name), "if%d", 2 * p + side);
			set4(&ifc->bind, ip, 0);
			snprintf(ifc->advertise, sizeof(ifc->advertise), "%s", ip);
		}
	rc = backend_nft_ops.open(&d->rd, &d->priv, why, sizeof(why));
	if (rc < 0)
		fprintf(stderr, "nftdrive: nft backend: %s\n", why);
	else
		backend_nft_ops.adopt_done(&d->rd, d->priv);
	return rc;
}

static int
install_all(struct drive *d, double *secs)
{
	double t0 = now_s();

	for (int i = 0; i < d->n; i++) {
		if (backend_nft_ops.install(&d->rd, d->priv, d->st[i]) < 0) {
			fprintf(stderr, "nftdrive: install %d: %s\n", i,
			    stream_reason(d->st[i]));
			return -1;
		}
		d->st[i]->path = PATH_KERNEL;
	}
	backend_nft_ops.flush(&d->rd, d->priv);
	*secs = now_s() - t0;
	for (int i = 0; i < d->n; i++)
		if (d->st[i]->path != PATH_KERNEL) {
			fprintf(stderr, "nftdrive: stream %d not installed: %s\n",
			    i, stream_reason(d->st[i]));
			return -1;
		}
	return 0;
}

static void
remove_all(struct drive *d, double *secs)
{
	double t0 = now_s();

	for (int i = 0; i < d->n; i++) {
		backend_nft_ops.remove(&d->rd, d->priv, d->st[i]);
		d->st[i]->path = PATH_USERSPACE;
	}
	backend_nft_ops.flush(&d->rd, d->priv);
	*secs = now_s() - t0;
}

static void
read_all(struct drive *d)
{
	uint64_t pk[2] = { 0, 0 };
	int with_a = 0, with_b = 0;
	double t0 = now_s();

	for (int i = 0; i < d->n; i += 256) {
		size_t k = (size_t)(d->n - i < 256 ? d->n - i : 256);
		backend_nft_ops.read_counters(&d->rd, d->priv, d->st + i, k);
	}
	for (int i = 0; i < d->n; i++) {
		pk[0] += d->st[i]->leg[SIDE_A].stats.packets;
		pk[1] += d->st[i]->leg[SIDE_B].stats.packets;
		with_a += d->st[i]->leg[SIDE_A].stats.packets > 0;
		with_b += d->st[i]->leg[SIDE_B].stats.packets > 0;
	}
	printf("{\"read\":true,\"packets_a\":%llu,\"packets_b\":%llu,"
	    "\"streams_with_a\":%d,\"streams_with_b\":%d,\"secs\":%.3f}\n",
	    (unsigned long long)pk[0], (unsigned long long)pk[1], with_a,
	    with_b, now_s() - t0);
}

int
main(int argc, char **argv)
{
	struct drive d;
	int ch, base = 20000, rounds = 1;
	double tin, tout;
	char line[64];
	bool bench;

	memset(&d, 0, sizeof(d));
	d.pairs = 1;
	if (argc < 2)
		goto usage;
	bench = strcmp(argv[1], "bench") == 0;
	if (!bench && strcmp(argv[1], "hold") != 0)
		goto usage;
	optind = 2;
	while ((ch = getopt(argc, argv, "n:P:p:r:")) != -1) {
		switch (ch) {
		case 'n': d.n = atoi(optarg); break;
		case 'P': base = atoi(optarg); break;
		case 'p': d.pairs = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (d.n <= 0 || d.pairs < 1 || d.pairs > RELAYD_MAX_IFACES / 2)
		goto usage;
	d.per_pair = (d.n + d.pairs - 1) / d.pairs;
	if (base + 2 * d.per_pair - 1 > 65535) {
		fprintf(stderr, "nftdrive: %d streams per pair do not fit above "
		    "port %d: use more pairs (-p)\n", d.per_pair, base);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	make_streams(&d, base);
	if (setup(&d, base) < 0)
		return 1;
	if (bench) {
		for (int r = 0; r < rounds; r++) {
			if (install_all(&d, &tin) < 0)
				return 1;
			remove_all(&d, &tout);
			printf("{\"round\":%d,\"streams\":%d,\"install_s\":%.4f,"
			    "\"install_per_s\":%.0f,\"remove_s\":%.4f,"
			    "\"remove_per_s\":%.0f}\n", r, d.n, tin, d.n / tin,
			    tout, d.n / tout);
		}
	} else {
		if (install_all(&d, &tin) < 0)
			return 1;
		printf("{\"installed\":%d,\"install_s\":%.4f}\n", d.n, tin);
		while (fgets(line, sizeof(line), stdin) != NULL) {
			if (strncmp(line, "read", 4) == 0)
				read_all(&d);
			else if (strncmp(line, "remove", 6) == 0) {
				remove_all(&d, &tout);
				printf("{\"removed\":%d,\"remove_s\":%.4f}\n", d.n,
				    tout);
			} else if (strncmp(line, "quit", 4) == 0)
				break;
		}
	}
	backend_nft_ops.close(&d.rd, d.priv);
	for (int i = 0; i < d.n; i++)
		free(d.st[i]);
	free(d.st);
	free(d.sess);
	printf("{\"closed\":true}\n");
	return 0;
usage:
	fprintf(stderr, "usage: nftdrive bench|hold -n N [-P BASE] [-p PAIRS] "
	    "[-r ROUNDS]\n");
	return 2;
}
