/*
 * listenfilter.c: with unknown_source "drop", the TCP and TLS listeners
 * take connections only from sources the controller may talk to (issue
 * 12). sipfilter.c keeps strangers' datagrams from the SIP stack; a
 * stream is read and parsed by the stack itself, so here the kernel
 * keeps the connection from ever being made: a classic BPF socket filter
 * on each listening socket (found by its local port, as sipfilter.c
 * finds the UDP ones) drops every segment from any other address, the
 * SYN first. The stranger's connection attempt times out, as against a
 * firewall's DROP; nothing is sent and the stack sees nothing.
 *
 * Allowed: the trunks' sources (any transport, TCP or TLS), the numeric
 * registrars of outbound registrations, and gateways and outbound
 * proxies given as numeric addresses (a gateway given by name can still
 * be reached over a connection we open: only the listeners are
 * filtered). Connections accepted earlier keep the filter they were
 * accepted under. The filter is rebuilt on every reload (protect_apply()
 * calls listenfilter_apply()) and removed in reject mode.
 *
 * The kernel counts what a socket's filter drops in the socket's drops
 * (SO_MEMINFO; also backlog overflows): status sip_filter.stream.dropped,
 * segments, not connections.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>

#include "controller.h"

#define LF_MAX_SOCKS	8

struct listenfilter {
	int		 fds[LF_MAX_SOCKS];	/* the stack's; not ours to close */
	int		 nfds;
	bool		 on;
	int		 allowed;		/* networks in the filter */
	struct sock_filter prog[BPF_MAXINSNS];
};

/* The program: the IP version, then one short block per network that
 * accepts on a match (jumps stay within a block: cBPF's are 8 bits). */
struct prog {
	struct sock_filter	*v;
	int			 n;
	struct sockaddr_storage	 nets[2][512];	/* [0] v4, [1] v6 */
	int			 plens[2][512];
	int			 nnets[2];
};

static void
add_net(struct prog *p, const struct sockaddr *sa, int plen)
{
	int k = sa->sa_family == AF_INET6;

	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    p->nnets[k] >= 512)
		return;
	memcpy(&p->nets[k][p->nnets[k]], sa, sa->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	p->plens[k][p->nnets[k]++] = plen;
}

static void
add_host(struct prog *p, const char *host)
{
	struct sockaddr_storage ss;
	char h[128];
	size_t len = strlen(host);

	memset(&ss, 0, sizeof(ss));
	if (len >= sizeof(h))
		return;
	if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
		memcpy(h, host + 1, len - 2);
		h[len - 2] = '\0';
	} else {
		memcpy(h, host, len + 1);
	}
	if (inet_pton(AF_INET, h, &((struct sockaddr_in *)&ss)->sin_addr) ==
	    1) {
		ss.ss_family = AF_INET;
		add_net(p, (struct sockaddr *)&ss, 32);
	} else if (inet_pton(AF_INET6, h,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		add_net(p, (struct sockaddr *)&ss, 128);
	}
}

/* The host of a SIP URI ("sip:user@host:port;params"), if numeric. */
static void
add_uri_host(struct prog *p, const char *uri)
{
	char h[128];
	const char *s = strchr(uri, ':'), *at;
	size_t n;

	if (s == NULL)
		return;
	s++;
	if ((at = strchr(s, '@')) != NULL)
		s = at + 1;
	if (*s == '[')
		n = strcspn(s, "]") + 1;
	else
		n = strcspn(s, ":;>?");
	if (n == 0 || n >= sizeof(h))
		return;
	memcpy(h, s, n);
	h[n] = '\0';
	add_host(p, h);
}

static int
emit(struct prog *p, struct sock_filter f)
{
	if (p->n >= BPF_MAXINSNS)
		return -E2BIG;
	p->v[p->n++] = f;
	return 0;
}

#define ACCEPT	BPF_STMT(BPF_RET | BPF_K, 0xffffffffU)
#define DROP	BPF_STMT(BPF_RET | BPF_K, 0)

static uint32_t
mask32(int bits)	/* the top `bits` of a word, 0..32 */
{
	return bits <= 0 ? 0 : bits >= 32 ? 0xffffffffU :
	    0xffffffffU << (32 - bits);
}

static int
emit_v4(struct prog *p, const struct sockaddr_in *in, int plen)
{
	uint32_t m = mask32(plen), a = ntohl(in->sin_addr.s_addr) & m;
	int rc = 0;

	rc |= emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)(SKF_NET_OFF + 12)));
	rc |= emit(p, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K,
	    m));
	rc |= emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    a, 0, 1));
	rc |= emit(p, (struct sock_filter)ACCEPT);
	return rc;
}

static int
emit_v6(struct prog *p, const struct sockaddr_in6 *in6, int plen)
{
	int words = (plen + 31) / 32, rc = 0;

	for (int w = 0; w < words; w++) {
		uint32_t m = mask32(plen - 32 * w), a;
		memcpy(&a, &in6->sin6_addr.s6_addr[4 * w], 4);
		a = ntohl(a) & m;
		rc |= emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W |
		    BPF_ABS, (uint32_t)(SKF_NET_OFF + 8 + 4 * w)));
		rc |= emit(p, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND |
		    BPF_K, m));
		/* no match: skip this network's other words and its accept */
		rc |= emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
		    BPF_K, a, 0, (uint8_t)(3 * (words - w - 1) + 1)));
	}
	rc |= emit(p, (struct sock_filter)ACCEPT);
	return rc;
}

static int
build(struct ctl *c, struct prog *p)
{
	const struct ctl_conf *conf = c->conf;
	int ja, rc = 0;

	for (int i = 0; i < conf->ntrunks; i++) {
		const struct trunk *t = &conf->trunks[i];
		for (int k = 0; k < t->nsources; k++)
			if (t->sources[k].transport != TP_UDP)
				add_net(p, (const struct sockaddr *)
				    &t->sources[k].net, t->sources[k].plen);
		if (t->reg != NULL && t->reg->has_src)
			add_net(p, (const struct sockaddr *)&t->reg->src,
			    t->reg->src.ss_family == AF_INET ? 32 : 128);
	}
	for (int i = 0; i < conf->ngateways; i++) {
		add_host(p, conf->gateways[i].host);
		if (conf->gateways[i].proxy[0] != '\0')
			add_uri_host(p, conf->gateways[i].proxy);
	}
	/* version: IPv6 jumps over the IPv4 block (BPF_JA: 32-bit offset) */
	rc |= emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS,
	    (uint32_t)SKF_NET_OFF));
	rc |= emit(p, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K,
	    4));
	rc |= emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    6, 0, 1));
	ja = p->n;
	rc |= emit(p, (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0));
	for (int i = 0; i < p->nnets[0]; i++)
		rc |= emit_v4(p, (struct sockaddr_in *)&p->nets[0][i],
		    p->plens[0][i]);
	rc |= emit(p, (struct sock_filter)DROP);
	if (rc == 0)
		p->v[ja].k = (uint32_t)(p->n - ja - 1);
	for (int i = 0; i < p->nnets[1]; i++)
		rc |= emit_v6(p, (struct sockaddr_in6 *)&p->nets[1][i],
		    p->plens[1][i]);
	rc |= emit(p, (struct sock_filter)DROP);
	return rc < 0 ? -E2BIG : 0;
}

void
listenfilter_apply(struct ctl *c)
{
	struct listenfilter *lf = c->listenfilter;
	struct prog *p;
	struct sock_fprog fp;
	int n;

	if (lf == NULL) {
		if (c->nua == NULL ||
		    (lf = c->listenfilter = calloc(1, sizeof(*lf))) == NULL)
			return;
		n = stacksock_find(lf->fds, LF_MAX_SOCKS, SOCK_STREAM,
		    stacksock_port(c->conf->listen, 5060),
		    stacksock_port(c->conf->tls_listen, 5061));
		lf->nfds = n < 0 ? 0 : n;
	}
	if (!c->conf->unknown_drop) {
		for (int i = 0; i < lf->nfds && lf->on; i++)
			(void)setsockopt(lf->fds[i], SOL_SOCKET,
			    SO_DETACH_FILTER, NULL, 0);
		lf->on = false;
		lf->allowed = 0;
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		clog_msg(c, LL_ERROR, "stream listener filter: out of memory; "
		    "strangers can still connect over TCP and TLS");
		return;
	}
	p->v = lf->prog;
	if (build(c, p) < 0) {
		clog_msg(c, LL_ERROR, "stream listener filter: more than %d "
		    "instructions; strangers can still connect over TCP and "
		    "TLS", BPF_MAXINSNS);
		free(p);
		return;
	}
	fp.len = (unsigned short)p->n;
	fp.filter = lf->prog;
	lf->allowed = p->nnets[0] + p->nnets[1];
	free(p);
	for (int i = 0; i < lf->nfds; i++)
		if (setsockopt(lf->fds[i], SOL_SOCKET, SO_ATTACH_FILTER, &fp,
		    sizeof(fp)) < 0) {
			clog_msg(c, LL_ERROR, "stream listener filter: %s; "
			    "strangers can still connect over TCP and TLS",
			    strerror(errno));
			return;
		}
	lf->on = true;
	clog_msg(c, LL_DEBUG, "stream listener filter: %d listeners, %d "
	    "networks allowed", lf->nfds, lf->allowed);
}

void
listenfilter_close(struct ctl *c)
{
	free(c->listenfilter);
	c->listenfilter = NULL;
}

json_t *
listenfilter_json(struct ctl *c)
{
	struct listenfilter *lf = c->listenfilter;
	json_int_t dropped = 0;

	if (lf == NULL)
		return json_pack("{s:i,s:b}", "listeners", 0, "on", 0);
	for (int i = 0; i < lf->nfds; i++) {
		uint32_t mem[SK_MEMINFO_VARS];
		socklen_t l = sizeof(mem);
		if (getsockopt(lf->fds[i], SOL_SOCKET, SO_MEMINFO, mem, &l) == 0 &&
		    l > SK_MEMINFO_DROPS * sizeof(mem[0]))
			dropped += mem[SK_MEMINFO_DROPS];
	}
	return json_pack("{s:i,s:b,s:i,s:I}", "listeners", lf->nfds,
	    "on", lf->on, "allowed", lf->allowed, "dropped", dropped);
}
