/*
 * tlk: a small generic netlink client for trunkline.ko, for the tests
 * that run in the qemu guest (tests/kmod/guest/) and for poking at
 * the module by hand. It speaks the UAPI in kmod/trunkline_uapi.h.
 *
 * An endpoint is IPv4 A.B.C.D:PORT or IPv6 [ADDR]:PORT (ADDR alone
 * where the port is optional); the local and output sides of an entry
 * may be of different families (translation).
 *
 *   tlk [-u] add LOCAL:PORT OUTSRC:PORT OUTDST:PORT [--src IP[:PORT]]
 *                [--drop] [--dscp N] [--rtp] [--cookie N]
 *                [--learn SDPIP:PORT WINDOW_MS]
 *   tlk [-u] del LOCAL:PORT
 *   tlk [-u] get LOCAL:PORT        one line: key=value ...
 *   tlk [-u] dump                  one line per entry
 *   tlk [-u] count                 number of entries (a dump)
 *   tlk [-u] flush [--cookie N]
 *   tlk [-u] stats                 one line: count=ENTRIES probe_on=0|1
 *                                  probe_packets=N probe_ns=NS
 *                                  probe_hist=SLOT:N,... (the namespace's
 *                                  totals, kmod/tl_probe.c; the histogram's
 *                                  slots that are not 0, layout in
 *                                  trunkline_uapi.h)
 *   tlk bulk add|del N LOCAL:BASEPORT OUTSRC:PORT OUTDST:PORT [add options]
 *                                  N entries on ports BASEPORT+i, in batches
 *                                  of 256 requests per send, every ack checked
 *   tlk churn ROUNDS N LOCAL:BASEPORT OUTSRC:PORT OUTDST:PORT
 *                                  per round: add N, replace N, delete N
 *   tlk bad                        malformed requests; each must be refused
 *   tlk send SRC:PORT DST:PORT N [--nocsum] [--gap-at K]
 *                                  N RTP packets (SSRC 0x4242, seq 0..) built
 *                                  on a raw socket: the UDP checksum is full
 *                                  (not offloaded), or 0 with --nocsum;
 *                                  --gap-at K skips sequence number K
 *   tlk recv BIND:PORT N TIMEOUT_MS [--from IP:PORT] [--dscp N]
 *                                  exit 0 iff N packets arrive (from IP:PORT,
 *                                  with DSCP N) and none otherwise
 *
 * -u drops to uid/gid 65534 (no capabilities) before opening the socket.
 * Exit status: 0 ok, 1 the kernel said no (errno printed), 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trunkline_uapi.h"

#define BATCH	256

static struct mnl_socket *nl;
static unsigned int portid, seq_next = 1;
static uint16_t family_id;

struct endpoint {
	int		family;	/* AF_INET or AF_INET6 */
	uint32_t	addr;	/* network order (IPv4) */
	struct in6_addr	addr6;
	uint16_t	port;
};

struct entry_req {
	struct endpoint	local, osrc, odst, src;
	bool		has_src;
	uint32_t	flags;
	uint8_t		dscp;
	uint64_t	cookie;
	bool		has_cookie;
	struct endpoint	sdp;		/* with TL_F_LEARN */
	uint32_t	window_ms;
};

static void
usage(void)
{
	fprintf(stderr, "usage: tlk [-u] add|del|get|dump|count|flush|stats|bulk|churn|bad ... "
	    "(see tests/kmod/tools/tlk.c)\n");
	exit(2);
}

static int
parse_ep(const char *s, struct endpoint *ep, bool need_port)
{
	char buf[64], *colon, *end;
	struct in_addr a;

	snprintf(buf, sizeof(buf), "%s", s);
	ep->port = 0;
	if (buf[0] == '[' || strchr(buf, ':') != strrchr(buf, ':')) {
		char *h = buf[0] == '[' ? buf + 1 : buf;

		ep->family = AF_INET6;
		if (buf[0] == '[') {
			if ((end = strchr(h, ']')) == NULL)
				return -1;
			*end = '\0';
			if (end[1] == ':')
				ep->port = (uint16_t)strtoul(end + 2, NULL, 10);
			else if (need_port)
				return -1;
		} else if (need_port)
			return -1;
		return inet_pton(AF_INET6, h, &ep->addr6) == 1 ? 0 : -1;
	}
	ep->family = AF_INET;
	colon = strchr(buf, ':');
	if (colon != NULL) {
		*colon = '\0';
		ep->port = (uint16_t)strtoul(colon + 1, NULL, 10);
	} else if (need_port)
		return -1;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	ep->addr = a.s_addr;
	return 0;
}

static struct nlmsghdr *
put_hdr(char *buf, uint16_t type, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq_next++;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = TL_GENL_VERSION;
	return nlh;
}

/* The kernel's explanation of an error (extended ack), if it gave one. */
static void
print_extack(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	mnl_attr_for_each(a, h, off)
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
			fprintf(stderr, "tlk: kernel says: %s\n", mnl_attr_get_str(a));
}

typedef void (*reply_cb)(const struct nlmsghdr *, void *);

/*
 * Send buf (one or more requests), then read until each of the nreq
 * requests got its ack, error or DONE. Returns 0 or the first -errno.
 */
static int
talk(const void *buf, size_t len, int nreq, reply_cb cb, void *data)
{
	static char rbuf[1 << 16];
	int done = 0, first_err = 0;
	ssize_t n;

	if (mnl_socket_sendto(nl, buf, len) < 0)
		return -errno;
	while (done < nreq) {
		n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
		if (n < 0)
			return -errno;
		for (const struct nlmsghdr *h = (void *)rbuf; mnl_nlmsg_ok(h, (int)n);
		    h = mnl_nlmsg_next(h, (int *)&n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				if (e->error != 0 && first_err == 0) {
					first_err = e->error;
					print_extack(h);
				}
				done++;
			} else if (h->nlmsg_type == NLMSG_DONE) {
				done++;
			} else if (cb != NULL) {
				cb(h, data);
			}
		}
	}
	return first_err;
}

static int
resolve_family(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
	    NLM_F_ACK);
	static char rbuf[8192];
	ssize_t n;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TL_GENL_NAME);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
		if (n < 0)
			return -errno;
		for (const struct nlmsghdr *h = (void *)rbuf; mnl_nlmsg_ok(h, (int)n);
		    h = mnl_nlmsg_next(h, (int *)&n)) {
			const struct nlattr *a;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				if (e->error)
					return e->error;
				return family_id ? 0 : -ENOENT;
			}
			mnl_attr_for_each(a, h, sizeof(struct genlmsghdr))
				if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID)
					family_id = mnl_attr_get_u16(a);
		}
	}
}

/* An address attribute: the IPv4 one, or its IPv6 twin. */
static void
put_addr(struct nlmsghdr *nlh, uint16_t a4, uint16_t a6,
    const struct endpoint *ep)
{
	if (ep->family == AF_INET6)
		mnl_attr_put(nlh, a6, sizeof(ep->addr6), &ep->addr6);
	else
		mnl_attr_put_u32(nlh, a4, ep->addr);
}

static void
put_key(struct nlmsghdr *nlh, const struct endpoint *local)
{
	mnl_attr_put_u8(nlh, TL_A_FAMILY, (uint8_t)local->family);
	mnl_attr_put_u8(nlh, TL_A_PROTO, IPPROTO_UDP);
	put_addr(nlh, TL_A_LOCAL_ADDR4, TL_A_LOCAL_ADDR6, local);
	mnl_attr_put_u16(nlh, TL_A_LOCAL_PORT, local->port);
}

static struct nlmsghdr *
put_add(char *buf, const struct entry_req *r)
{
	struct nlmsghdr *nlh = put_hdr(buf, family_id, TL_CMD_ADD, NLM_F_ACK);

	put_key(nlh, &r->local);
	put_addr(nlh, TL_A_OUT_SADDR4, TL_A_OUT_SADDR6, &r->osrc);
	mnl_attr_put_u16(nlh, TL_A_OUT_SPORT, r->osrc.port);
	put_addr(nlh, TL_A_OUT_DADDR4, TL_A_OUT_DADDR6, &r->odst);
	mnl_attr_put_u16(nlh, TL_A_OUT_DPORT, r->odst.port);
	if (r->has_src) {
		put_addr(nlh, TL_A_SRC_ADDR4, TL_A_SRC_ADDR6, &r->src);
		mnl_attr_put_u16(nlh, TL_A_SRC_PORT, r->src.port);
	}
	if (r->flags)
		mnl_attr_put_u32(nlh, TL_A_FLAGS, r->flags);
	if (r->flags & TL_F_DSCP)
		mnl_attr_put_u8(nlh, TL_A_DSCP, r->dscp);
	if (r->has_cookie)
		mnl_attr_put_u64(nlh, TL_A_COOKIE, r->cookie);
	if (r->flags & TL_F_LEARN) {
		mnl_attr_put_u32(nlh, TL_A_SDP_ADDR4, r->sdp.addr);
		mnl_attr_put_u16(nlh, TL_A_SDP_PORT, r->sdp.port);
		mnl_attr_put_u32(nlh, TL_A_LEARN_WINDOW_MS, r->window_ms);
	}
	return nlh;
}

static void
print_entry(const struct nlmsghdr *h, void *data)
{
	const struct nlattr *a;
	char ab[INET6_ADDRSTRLEN];
	struct in_addr in;

	(void)data;
	mnl_attr_for_each(a, h, sizeof(struct genlmsghdr)) {
		switch (mnl_attr_get_type(a)) {
		case TL_A_LOCAL_ADDR6: case TL_A_SRC_ADDR6:
		case TL_A_OUT_SADDR6: case TL_A_OUT_DADDR6:
			inet_ntop(AF_INET6, mnl_attr_get_payload(a), ab, sizeof(ab));
			printf("%s=%s ", mnl_attr_get_type(a) == TL_A_LOCAL_ADDR6 ?
			    "local" : mnl_attr_get_type(a) == TL_A_SRC_ADDR6 ?
			    "src" : mnl_attr_get_type(a) == TL_A_OUT_SADDR6 ?
			    "osrc" : "odst", ab);
			break;
		case TL_A_FAMILY: printf("family=%u ", mnl_attr_get_u8(a)); break;
		case TL_A_LOCAL_ADDR4: case TL_A_SRC_ADDR4:
		case TL_A_OUT_SADDR4: case TL_A_OUT_DADDR4:
			in.s_addr = mnl_attr_get_u32(a);
			inet_ntop(AF_INET, &in, ab, sizeof(ab));
			printf("%s=%s ", mnl_attr_get_type(a) == TL_A_LOCAL_ADDR4 ?
			    "local" : mnl_attr_get_type(a) == TL_A_SRC_ADDR4 ?
			    "src" : mnl_attr_get_type(a) == TL_A_OUT_SADDR4 ?
			    "osrc" : "odst", ab);
			break;
		case TL_A_LOCAL_PORT: printf("lport=%u ", mnl_attr_get_u16(a)); break;
		case TL_A_SRC_PORT: printf("sport=%u ", mnl_attr_get_u16(a)); break;
		case TL_A_OUT_SPORT: printf("osport=%u ", mnl_attr_get_u16(a)); break;
		case TL_A_OUT_DPORT: printf("odport=%u ", mnl_attr_get_u16(a)); break;
		case TL_A_FLAGS: printf("flags=%u ", mnl_attr_get_u32(a)); break;
		case TL_A_DSCP: printf("dscp=%u ", mnl_attr_get_u8(a)); break;
		case TL_A_COOKIE: printf("cookie=%" PRIu64 " ", mnl_attr_get_u64(a)); break;
		case TL_A_PACKETS: printf("packets=%" PRIu64 " ", mnl_attr_get_u64(a)); break;
		case TL_A_BYTES: printf("bytes=%" PRIu64 " ", mnl_attr_get_u64(a)); break;
		case TL_A_MISMATCH: printf("mismatch=%" PRIu64 " ", mnl_attr_get_u64(a)); break;
		case TL_A_IDLE_MS: printf("idle_ms=%u ", mnl_attr_get_u32(a)); break;
		case TL_A_RTP_SSRC: printf("ssrc=%u ", mnl_attr_get_u32(a)); break;
		case TL_A_RTP_SEQ: printf("seq=%u ", mnl_attr_get_u16(a)); break;
		case TL_A_RTP_LOST: printf("lost=%" PRIu64 " ", mnl_attr_get_u64(a)); break;
		case TL_A_COUNT: printf("count=%u ", mnl_attr_get_u32(a)); break;
		case TL_A_PROBE_ON: printf("probe_on=%u ", mnl_attr_get_u8(a)); break;
		case TL_A_PROBE_PACKETS:
			printf("probe_packets=%" PRIu64 " ", mnl_attr_get_u64(a));
			break;
		case TL_A_PROBE_NS:
			printf("probe_ns=%" PRIu64 " ", mnl_attr_get_u64(a));
			break;
		case TL_A_PROBE_HIST: {
			const uint32_t *slot = mnl_attr_get_payload(a);
			size_t n = mnl_attr_get_payload_len(a) / sizeof(*slot);
			const char *sep = "";

			printf("probe_hist=");
			for (size_t i = 0; i < n; i++)
				if (slot[i] != 0) {
					printf("%s%zu:%u", sep, i, slot[i]);
					sep = ",";
				}
			printf(" ");
			break;
		}
		case TL_A_SDP_ADDR4:
			in.s_addr = mnl_attr_get_u32(a);
			inet_ntop(AF_INET, &in, ab, sizeof(ab));
			printf("sdp=%s ", ab);
			break;
		case TL_A_SDP_PORT: printf("sdp_port=%u ", mnl_attr_get_u16(a)); break;
		case TL_A_LEARN_WINDOW_MS: printf("window_ms=%u ", mnl_attr_get_u32(a)); break;
		case TL_A_LEARN_STATE: printf("learn_state=%u ", mnl_attr_get_u8(a)); break;
		case TL_A_LEARN_RANK: printf("learn_rank=%u ", mnl_attr_get_u8(a)); break;
		}
	}
	printf("\n");
}

static void
count_entry(const struct nlmsghdr *h, void *data)
{
	(void)h;
	(*(unsigned long *)data)++;
}

static int
report(const char *what, int rc)
{
	if (rc < 0) {
		fprintf(stderr, "tlk: %s: %s\n", what, strerror(-rc));
		return 1;
	}
	return 0;
}

static int
parse_add_opts(int argc, char **argv, struct entry_req *r)
{
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--src") && i + 1 < argc) {
			if (parse_ep(argv[++i], &r->src, false) < 0)
				return -1;
			r->has_src = true;
		} else if (!strcmp(argv[i], "--drop")) {
			r->flags |= TL_F_MISMATCH_DROP;
		} else if (!strcmp(argv[i], "--rtp")) {
			r->flags |= TL_F_RTP;
		} else if (!strcmp(argv[i], "--learn") && i + 2 < argc) {
			if (parse_ep(argv[++i], &r->sdp, true) < 0 ||
			    r->sdp.family != AF_INET)
				return -1;
			r->flags |= TL_F_LEARN;
			r->window_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--dscp") && i + 1 < argc) {
			r->flags |= TL_F_DSCP;
			r->dscp = (uint8_t)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--cookie") && i + 1 < argc) {
			r->cookie = strtoull(argv[++i], NULL, 0);
			r->has_cookie = true;
		} else
			return -1;
	}
	return 0;
}

/* N requests in batches: bulk add (or del) on ports base..base+n-1. */
static int
bulk(bool add, unsigned long n, const struct entry_req *tmpl)
{
	static char buf[BATCH * 256];
	unsigned long i = 0;
	int rc;

	while (i < n) {
		struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(buf, sizeof(buf));
		int k = 0;

		for (; i < n && k < BATCH; i++, k++) {
			struct entry_req r = *tmpl;
			struct nlmsghdr *nlh;

			r.local.port = (uint16_t)(tmpl->local.port + i);
			if (add) {
				nlh = put_add(mnl_nlmsg_batch_current(b), &r);
			} else {
				nlh = put_hdr(mnl_nlmsg_batch_current(b), family_id,
				    TL_CMD_DEL, NLM_F_ACK);
				put_key(nlh, &r.local);
			}
			(void)nlh;
			mnl_nlmsg_batch_next(b);
		}
		rc = talk(mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b), k,
		    NULL, NULL);
		mnl_nlmsg_batch_stop(b);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- malformed requests ---- */

struct bad_case {
	const char	*name;
	int		 want;		/* expected -errno; 0: any error */
};

static int
send_raw(struct nlmsghdr *nlh)
{
	return talk(nlh, nlh->nlmsg_len, 1, NULL, NULL);
}

static int
bad_one(const char *name, int want, int rc)
{
	bool ok = rc < 0 && (want == 0 || rc == want);

	printf("%s %s: %s (%d)\n", ok ? "ok  " : "FAIL", name,
	    rc < 0 ? strerror(-rc) : "accepted", rc);
	return ok ? 0 : 1;
}

static int
bad_inputs(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct entry_req r = { 0 };
	struct nlmsghdr *nlh;
	struct nlattr *a;
	int fails = 0;

	parse_ep("127.0.0.1:40000", &r.local, true);
	parse_ep("127.0.0.1:40002", &r.osrc, true);
	parse_ep("127.0.0.1:40004", &r.odst, true);

	/* add without the output destination */
	nlh = put_hdr(buf, family_id, TL_CMD_ADD, NLM_F_ACK);
	put_key(nlh, &r.local);
	mnl_attr_put_u32(nlh, TL_A_OUT_SADDR4, r.osrc.addr);
	mnl_attr_put_u16(nlh, TL_A_OUT_SPORT, r.osrc.port);
	fails += bad_one("missing out destination", -EINVAL, send_raw(nlh));

	/* get without any key */
	nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
	fails += bad_one("get without key", -EINVAL, send_raw(nlh));

	/* a u16 attribute carrying 8 bytes */
	nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
	mnl_attr_put_u32(nlh, TL_A_LOCAL_ADDR4, r.local.addr);
	mnl_attr_put_u64(nlh, TL_A_LOCAL_PORT, 40000);
	fails += bad_one("oversized port attribute", 0, send_raw(nlh));

	/* an address attribute of 2 bytes */
	nlh = put_hdr(buf, family_id, TL_CMD_DEL, NLM_F_ACK);
	mnl_attr_put_u16(nlh, TL_A_LOCAL_ADDR4, 1);
	mnl_attr_put_u16(nlh, TL_A_LOCAL_PORT, 40000);
	fails += bad_one("short address attribute", 0, send_raw(nlh));

	/* a string where a u32 belongs */
	nlh = put_add(buf, &r);
	mnl_attr_put_strz(nlh, TL_A_FLAGS, "all of them, please");
	fails += bad_one("string as flags", 0, send_raw(nlh));

	/* a huge attribute (a 32 KB blob as the IPv6 address) */
	{
		static char big[32768];
		nlh = put_hdr(big, family_id, TL_CMD_ADD, NLM_F_ACK);
		put_key(nlh, &r.local);
		a = mnl_attr_nest_start(nlh, TL_A_LOCAL_ADDR6);
		memset(mnl_nlmsg_get_payload_tail(nlh), 0xab, 30000);
		nlh->nlmsg_len += 30000;
		mnl_attr_nest_end(nlh, a);
		fails += bad_one("30 KB attribute", 0, send_raw(nlh));
	}

	/* a reply-only attribute in a request */
	nlh = put_add(buf, &r);
	mnl_attr_put_u64(nlh, TL_A_PACKETS, 1);
	fails += bad_one("reply-only attribute (packets)", -EINVAL, send_raw(nlh));

	/* an attribute type beyond the policy */
	nlh = put_add(buf, &r);
	mnl_attr_put_u32(nlh, TL_A_MAX + 7, 1);
	fails += bad_one("unknown attribute type", -EINVAL, send_raw(nlh));

	/* flags outside the mask, DSCP out of range */
	nlh = put_add(buf, &r);
	mnl_attr_put_u32(nlh, TL_A_FLAGS, 0x80000000u);
	fails += bad_one("unknown flag bit", -EINVAL, send_raw(nlh));
	r.flags = TL_F_DSCP;
	r.dscp = 64;
	nlh = put_add(buf, &r);
	fails += bad_one("dscp 64", -ERANGE, send_raw(nlh));
	r.flags = TL_F_DSCP;
	nlh = put_hdr(buf, family_id, TL_CMD_ADD, NLM_F_ACK);
	put_key(nlh, &r.local);
	mnl_attr_put_u32(nlh, TL_A_OUT_SADDR4, r.osrc.addr);
	mnl_attr_put_u16(nlh, TL_A_OUT_SPORT, r.osrc.port);
	mnl_attr_put_u32(nlh, TL_A_OUT_DADDR4, r.odst.addr);
	mnl_attr_put_u16(nlh, TL_A_OUT_DPORT, r.odst.port);
	mnl_attr_put_u32(nlh, TL_A_FLAGS, TL_F_DSCP);
	fails += bad_one("dscp flag without dscp", -EINVAL, send_raw(nlh));
	r.flags = 0;

	/* port 0, wrong protocol, IPv6, unknown family */
	nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
	mnl_attr_put_u32(nlh, TL_A_LOCAL_ADDR4, r.local.addr);
	mnl_attr_put_u16(nlh, TL_A_LOCAL_PORT, 0);
	fails += bad_one("local port 0", -ERANGE, send_raw(nlh));
	nlh = put_add(buf, &r);
	mnl_attr_put_u8(nlh, TL_A_PROTO, IPPROTO_TCP);
	fails += bad_one("protocol TCP (duplicate attribute)", 0, send_raw(nlh));
	nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
	mnl_attr_put_u8(nlh, TL_A_FAMILY, AF_INET6);
	fails += bad_one("IPv6 key without LOCAL_ADDR6", -EINVAL, send_raw(nlh));
	{
		struct entry_req x = r;
		struct endpoint v6;

		parse_ep("[2001:db8::1]:40000", &v6, true);
		nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
		put_key(nlh, &v6);
		mnl_attr_put_u32(nlh, TL_A_LOCAL_ADDR4, r.local.addr);
		fails += bad_one("IPv6 key with LOCAL_ADDR4 too", -EINVAL,
		    send_raw(nlh));
		parse_ep("[fe80::1]:40000", &x.local, true);
		fails += bad_one("link-local IPv6 key", -EINVAL,
		    send_raw(put_add(buf, &x)));
		parse_ep("[::ffff:127.0.0.1]:40000", &x.local, true);
		fails += bad_one("IPv4-mapped IPv6 key", -EINVAL,
		    send_raw(put_add(buf, &x)));
		x.local = v6;
		parse_ep("[::1]:40004", &x.odst, true);
		fails += bad_one("output source IPv4, destination IPv6", -EINVAL,
		    send_raw(put_add(buf, &x)));
		parse_ep("[::]:40004", &x.odst, true);
		parse_ep("[::1]:40002", &x.osrc, true);
		fails += bad_one("output destination ::", -EINVAL,
		    send_raw(put_add(buf, &x)));
		parse_ep("[::1]:40004", &x.odst, true);
		parse_ep("[2001:db8::99]:40002", &x.osrc, true);
		fails += bad_one("non-local IPv6 output source", -EADDRNOTAVAIL,
		    send_raw(put_add(buf, &x)));
		parse_ep("[::1]:40002", &x.osrc, true);
		x.has_src = true;
		parse_ep("127.0.0.1:4000", &x.src, true);
		fails += bad_one("IPv6 key, IPv4 expected source", -EINVAL,
		    send_raw(put_add(buf, &x)));
	}
	nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
	mnl_attr_put_u8(nlh, TL_A_FAMILY, 99);
	put_key(nlh, &r.local);
	fails += bad_one("address family 99", 0, send_raw(nlh));

	/* endpoint learning (TL_F_LEARN): what it needs, and its range */
	nlh = put_add(buf, &r);
	mnl_attr_put_u32(nlh, TL_A_FLAGS, TL_F_LEARN);
	fails += bad_one("learning without the SDP endpoint", -EINVAL,
	    send_raw(nlh));
	nlh = put_add(buf, &r);
	mnl_attr_put_u32(nlh, TL_A_SDP_ADDR4, r.odst.addr);
	mnl_attr_put_u16(nlh, TL_A_SDP_PORT, 4000);
	mnl_attr_put_u32(nlh, TL_A_LEARN_WINDOW_MS, 3000);
	fails += bad_one("SDP endpoint without TL_F_LEARN", -EINVAL,
	    send_raw(nlh));
	for (int w = 0; w < 2; w++) {
		nlh = put_add(buf, &r);
		mnl_attr_put_u32(nlh, TL_A_FLAGS, TL_F_LEARN);
		mnl_attr_put_u32(nlh, TL_A_SDP_ADDR4, r.odst.addr);
		mnl_attr_put_u16(nlh, TL_A_SDP_PORT, 4000);
		mnl_attr_put_u32(nlh, TL_A_LEARN_WINDOW_MS, w ? 60001 : 0);
		fails += bad_one(w ? "learning window 60001 ms" :
		    "learning window 0", -ERANGE, send_raw(nlh));
	}
	nlh = put_add(buf, &r);
	mnl_attr_put_u32(nlh, TL_A_FLAGS, TL_F_LEARN);
	mnl_attr_put_u32(nlh, TL_A_SDP_ADDR4, r.odst.addr);
	mnl_attr_put_u16(nlh, TL_A_SDP_PORT, 4000);
	mnl_attr_put_u32(nlh, TL_A_LEARN_WINDOW_MS, 3000);
	mnl_attr_put_u8(nlh, TL_A_LEARN_RANK, 3);
	fails += bad_one("reply-only attribute (learn rank)", -EINVAL,
	    send_raw(nlh));
	nlh = put_add(buf, &r);
	mnl_attr_put_u32(nlh, TL_A_SRC_ADDR4, r.odst.addr);
	mnl_attr_put_u32(nlh, TL_A_FLAGS, TL_F_LEARN);
	mnl_attr_put_u32(nlh, TL_A_SDP_ADDR4, r.odst.addr);
	mnl_attr_put_u16(nlh, TL_A_SDP_PORT, 4000);
	mnl_attr_put_u32(nlh, TL_A_LEARN_WINDOW_MS, 3000);
	fails += bad_one("learning candidate without a port", -EINVAL,
	    send_raw(nlh));

	/* a non-local output source */
	{
		struct entry_req x = r;
		parse_ep("192.0.2.1:1000", &x.osrc, true);
		nlh = put_add(buf, &x);
		fails += bad_one("non-local output source", -EADDRNOTAVAIL,
		    send_raw(nlh));
	}

	/* NLM_F_EXCL is ambiguous (NLM_F_MATCH) for strict genl */
	nlh = put_add(buf, &r);
	nlh->nlmsg_flags |= NLM_F_EXCL;
	fails += bad_one("NLM_F_EXCL", -EINVAL, send_raw(nlh));

	/* delete of an entry that is not there */
	nlh = put_hdr(buf, family_id, TL_CMD_DEL, NLM_F_ACK);
	put_key(nlh, &r.local);
	fails += bad_one("delete a missing entry", -ENOENT, send_raw(nlh));

	/* unknown command, reserved header field, truncated message */
	nlh = put_hdr(buf, family_id, 77, NLM_F_ACK);
	fails += bad_one("unknown command 77", -EOPNOTSUPP, send_raw(nlh));
	nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
	((struct genlmsghdr *)mnl_nlmsg_get_payload(nlh))->reserved = 1;
	put_key(nlh, &r.local);
	fails += bad_one("reserved header field set", -EINVAL, send_raw(nlh));
	nlh = put_hdr(buf, family_id, TL_CMD_ADD, NLM_F_ACK);
	put_key(nlh, &r.local);
	a = (struct nlattr *)mnl_nlmsg_get_payload_tail(nlh);
	a->nla_type = TL_A_OUT_DADDR4;
	a->nla_len = 200;		/* claims more than the message holds */
	nlh->nlmsg_len += 8;
	fails += bad_one("attribute longer than the message", -EINVAL,
	    send_raw(nlh));
	nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_ACK);
	put_key(nlh, &r.local);
	memset(mnl_nlmsg_get_payload_tail(nlh), 0xff, 3);
	nlh->nlmsg_len += 3;		/* trailing garbage shorter than a header */
	fails += bad_one("trailing garbage", 0, send_raw(nlh));

	/* the table must still be empty and usable */
	nlh = put_add(buf, &r);
	if (send_raw(nlh) != 0) {
		printf("FAIL (control) a valid add is refused\n");
		fails++;
	}
	nlh = put_hdr(buf, family_id, TL_CMD_DEL, NLM_F_ACK);
	put_key(nlh, &r.local);
	if (send_raw(nlh) != 0) {
		printf("FAIL (control) delete of the valid entry\n");
		fails++;
	}
	printf("bad inputs: %d unexpected\n", fails);
	return fails ? 1 : 0;
}

/* ---- traffic with checksums the stack did not offload ---- */

static uint32_t
sum16(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	return sum;
}

/* The RTP packet i of a run: seq i (one skipped at gap_at), SSRC 0x4242. */
static void
fill_rtp(uint8_t *rtp, size_t len, unsigned long i, long gap_at)
{
	uint16_t seq = (uint16_t)(i + (gap_at >= 0 && (long)i >= gap_at));

	memset(rtp, 0, len);
	rtp[0] = 0x80;
	rtp[2] = (uint8_t)(seq >> 8);
	rtp[3] = (uint8_t)seq;
	rtp[10] = 0x42;
	rtp[11] = 0x42;
	for (size_t k = 12; k < len; k++)
		rtp[k] = (uint8_t)(k ^ i);
}

/*
 * IPv6: a raw IPPROTO_UDP socket bound to the source address; the
 * kernel adds the IPv6 header, the checksum is ours (full, or 0, which
 * IPv6 forbids, with nocsum).
 */
static int
send_raw_udp6(const struct endpoint *src, const struct endpoint *dst,
    unsigned long n, bool nocsum, long gap_at)
{
	struct {
		struct udphdr	udp;
		uint8_t		rtp[160];
	} pkt;
	struct sockaddr_in6 from = { .sin6_family = AF_INET6, .sin6_addr = src->addr6 };
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_addr = dst->addr6 };
	int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_UDP);
	unsigned long sent = 0;

	if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0) {
		perror("tlk: raw IPv6 socket");
		return 1;
	}
	for (unsigned long i = 0; i < n; i++) {
		uint32_t sum;

		memset(&pkt.udp, 0, sizeof(pkt.udp));
		fill_rtp(pkt.rtp, sizeof(pkt.rtp), i, gap_at);
		pkt.udp.source = htons(src->port);
		pkt.udp.dest = htons(dst->port);
		pkt.udp.len = htons(sizeof(pkt));
		if (!nocsum) {
			sum = sum16(&src->addr6, 16, 0);
			sum = sum16(&dst->addr6, 16, sum);
			sum += IPPROTO_UDP + (uint32_t)sizeof(pkt);
			sum = sum16(&pkt, sizeof(pkt), sum);
			while (sum >> 16)
				sum = (sum & 0xffff) + (sum >> 16);
			pkt.udp.check = htons((uint16_t)~sum);
			if (pkt.udp.check == 0)
				pkt.udp.check = 0xffff;
		}
		if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		    sizeof(to)) == (ssize_t)sizeof(pkt))
			sent++;
		if ((i & 15) == 15)
			usleep(1000);
	}
	close(fd);
	printf("tlk: sent %lu of %lu\n", sent, n);
	return sent == n ? 0 : 1;
}

static int
send_raw_udp(const struct endpoint *src, const struct endpoint *dst,
    unsigned long n, bool nocsum, long gap_at)
{
	struct {
		struct iphdr	ip;
		struct udphdr	udp;
		uint8_t		rtp[160];
	} pkt;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = dst->addr };
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW), one = 1;
	unsigned long sent = 0;

	if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0) {
		perror("tlk: raw socket");
		return 1;
	}
	if (dst->family == AF_INET6)
		return send_raw_udp6(src, dst, n, nocsum, gap_at);
	for (unsigned long i = 0; i < n; i++) {
		uint32_t sum;

		memset(&pkt, 0, sizeof(pkt));
		fill_rtp(pkt.rtp, sizeof(pkt.rtp), i, gap_at);
		pkt.ip.version = 4;
		pkt.ip.ihl = 5;
		pkt.ip.ttl = 64;
		pkt.ip.protocol = IPPROTO_UDP;
		pkt.ip.saddr = src->addr;
		pkt.ip.daddr = dst->addr;
		pkt.ip.tot_len = htons(sizeof(pkt));
		pkt.udp.source = htons(src->port);
		pkt.udp.dest = htons(dst->port);
		pkt.udp.len = htons(sizeof(pkt) - sizeof(pkt.ip));
		if (!nocsum) {
			sum = sum16(&pkt.ip.saddr, 8, 0);
			sum += IPPROTO_UDP + (uint32_t)(sizeof(pkt) - sizeof(pkt.ip));
			sum = sum16(&pkt.udp, sizeof(pkt) - sizeof(pkt.ip), sum);
			while (sum >> 16)
				sum = (sum & 0xffff) + (sum >> 16);
			pkt.udp.check = htons((uint16_t)~sum);
			if (pkt.udp.check == 0)
				pkt.udp.check = 0xffff;
		}
		if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		    sizeof(to)) == (ssize_t)sizeof(pkt))
			sent++;
		if ((i & 15) == 15)
			usleep(1000);	/* stay within socket buffers */
	}
	close(fd);
	printf("tlk: sent %lu of %lu\n", sent, n);
	return sent == n ? 0 : 1;
}

static int
recv_udp(const struct endpoint *bind_to, unsigned long n, int timeout_ms,
    const struct endpoint *from, int dscp)
{
	bool v6 = bind_to->family == AF_INET6;
	struct sockaddr_storage sa = { 0 };
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0), one = 1;
	unsigned long got = 0, wrong = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[2048];
	socklen_t salen;

	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = bind_to->addr6;
		s6->sin6_port = htons(bind_to->port);
		salen = sizeof(*s6);
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = bind_to->addr;
		s4->sin_port = htons(bind_to->port);
		salen = sizeof(*s4);
		setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, salen) < 0) {
		perror("tlk: recv socket");
		return 1;
	}
	while (got < n && poll(&p, 1, timeout_ms) > 0) {
		struct sockaddr_storage src;
		char cbuf[64];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_name = &src, .msg_namelen = sizeof(src),
		    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
		    .msg_controllen = sizeof(cbuf) };
		bool from_ok = true;
		int tos = -1;

		if (recvmsg(fd, &mh, 0) < 0)
			continue;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
		    c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
				tos = *(unsigned char *)CMSG_DATA(c);
			if (c->cmsg_level == IPPROTO_IPV6 &&
			    c->cmsg_type == IPV6_TCLASS)
				tos = *(int *)CMSG_DATA(c);
		}
		if (from->family == AF_INET6) {
			const struct sockaddr_in6 *f = (void *)&src;
			from_ok = src.ss_family == AF_INET6 &&
			    !memcmp(&f->sin6_addr, &from->addr6, 16) &&
			    ntohs(f->sin6_port) == from->port;
		} else if (from->addr) {
			const struct sockaddr_in *f = (void *)&src;
			from_ok = src.ss_family == AF_INET &&
			    f->sin_addr.s_addr == from->addr &&
			    ntohs(f->sin_port) == from->port;
		}
		if (!from_ok || (dscp >= 0 && tos >> 2 != dscp))
			wrong++;
		else
			got++;
	}
	printf("tlk: received %lu of %lu, %lu from elsewhere or with another DSCP\n",
	    got, n, wrong);
	return got == n && wrong == 0 ? 0 : 1;
}

static void
drop_privileges(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0) {
		perror("tlk: dropping privileges");
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct entry_req r = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "-u")) {
		drop_privileges();
		argv++;
		argc--;
	}
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "send") && argc >= 5) {
		struct endpoint a, b;
		bool nocsum = false;
		long gap = -1;
		for (int i = 5; i < argc; i++) {
			if (!strcmp(argv[i], "--nocsum"))
				nocsum = true;
			else if (!strcmp(argv[i], "--gap-at") && i + 1 < argc)
				gap = atol(argv[++i]);
			else
				usage();
		}
		if (parse_ep(argv[2], &a, true) < 0 || parse_ep(argv[3], &b, true) < 0)
			usage();
		return send_raw_udp(&a, &b, strtoul(argv[4], NULL, 10), nocsum, gap);
	}
	if (!strcmp(argv[1], "recv") && argc >= 5) {
		struct endpoint a, from = { 0 };
		int dscp = -1;
		if (parse_ep(argv[2], &a, true) < 0)
			usage();
		for (int i = 5; i < argc; i++) {
			if (!strcmp(argv[i], "--from") && i + 1 < argc) {
				if (parse_ep(argv[++i], &from, true) < 0)
					usage();
			} else if (!strcmp(argv[i], "--dscp") && i + 1 < argc) {
				dscp = atoi(argv[++i]);
			} else
				usage();
		}
		return recv_udp(&a, strtoul(argv[3], NULL, 10), atoi(argv[4]), &from,
		    dscp);
	}
	nl = mnl_socket_open(NETLINK_GENERIC);
	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("tlk: netlink socket");
		return 1;
	}
	portid = mnl_socket_get_portid(nl);
	{
		int one = 1;
		mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
		mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	}
	if ((rc = resolve_family()) < 0) {
		fprintf(stderr, "tlk: genl family '%s' not found: %s\n",
		    TL_GENL_NAME, strerror(-rc));
		return 1;
	}

	if (!strcmp(argv[1], "add") && argc >= 5) {
		if (parse_ep(argv[2], &r.local, true) < 0 ||
		    parse_ep(argv[3], &r.osrc, true) < 0 ||
		    parse_ep(argv[4], &r.odst, true) < 0 ||
		    parse_add_opts(argc - 5, argv + 5, &r) < 0)
			usage();
		nlh = put_add(buf, &r);
		return report("add", send_raw(nlh));
	}
	if ((!strcmp(argv[1], "del") || !strcmp(argv[1], "get")) && argc == 3) {
		bool get = argv[1][0] == 'g';
		if (parse_ep(argv[2], &r.local, true) < 0)
			usage();
		nlh = put_hdr(buf, family_id, get ? TL_CMD_GET : TL_CMD_DEL,
		    NLM_F_ACK);
		put_key(nlh, &r.local);
		return report(argv[1], talk(nlh, nlh->nlmsg_len, 1,
		    get ? print_entry : NULL, NULL));
	}
	if (!strcmp(argv[1], "dump") || !strcmp(argv[1], "count")) {
		unsigned long n = 0;
		bool dump = argv[1][0] == 'd';
		nlh = put_hdr(buf, family_id, TL_CMD_GET, NLM_F_DUMP | NLM_F_ACK);
		rc = talk(nlh, nlh->nlmsg_len, 1, dump ? print_entry :
		    count_entry, &n);
		if (!dump && rc == 0)
			printf("%lu\n", n);
		return report(argv[1], rc);
	}
	if (!strcmp(argv[1], "flush")) {
		if (parse_add_opts(argc - 2, argv + 2, &r) < 0)
			usage();
		nlh = put_hdr(buf, family_id, TL_CMD_FLUSH, NLM_F_ACK);
		if (r.has_cookie)
			mnl_attr_put_u64(nlh, TL_A_COOKIE, r.cookie);
		return report("flush", talk(nlh, nlh->nlmsg_len, 1, print_entry,
		    NULL));
	}
	if (!strcmp(argv[1], "stats") && argc == 2) {
		nlh = put_hdr(buf, family_id, TL_CMD_STATS, NLM_F_ACK);
		return report("stats", talk(nlh, nlh->nlmsg_len, 1, print_entry,
		    NULL));
	}
	if (!strcmp(argv[1], "bulk") && argc >= 7) {
		unsigned long n = strtoul(argv[3], NULL, 10);
		if (parse_ep(argv[4], &r.local, true) < 0 ||
		    parse_ep(argv[5], &r.osrc, true) < 0 ||
		    parse_ep(argv[6], &r.odst, true) < 0 ||
		    parse_add_opts(argc - 7, argv + 7, &r) < 0)
			usage();
		return report("bulk", bulk(!strcmp(argv[2], "add"), n, &r));
	}
	if (!strcmp(argv[1], "churn") && argc == 7) {
		unsigned long rounds = strtoul(argv[2], NULL, 10);
		unsigned long n = strtoul(argv[3], NULL, 10);
		if (parse_ep(argv[4], &r.local, true) < 0 ||
		    parse_ep(argv[5], &r.osrc, true) < 0 ||
		    parse_ep(argv[6], &r.odst, true) < 0)
			usage();
		for (unsigned long i = 0; i < rounds; i++) {
			struct entry_req x = r;
			if ((rc = bulk(true, n, &r)) < 0)
				return report("churn add", rc);
			x.odst.port = (uint16_t)(r.odst.port + 2);
			x.flags = TL_F_RTP;
			if ((rc = bulk(true, n, &x)) < 0)
				return report("churn replace", rc);
			if ((rc = bulk(false, n, &r)) < 0)
				return report("churn delete", rc);
		}
		return 0;
	}
	if (!strcmp(argv[1], "bad"))
		return bad_inputs();
	usage();
	return 2;
}
