/*
 * session.c: the session table and the lifetime of sessions, streams and
 * legs. A session is a call; each stream (one per m= line) has leg A,
 * facing the caller (from-tag), and leg B, facing the callee. A leg owns a
 * port pair on its interface, bound when the stream is created, and
 * registered with epoll so the userspace path sees its packets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "relayd.h"

/* Keyed: call ids are chosen by the network (proto/siphash.c says why). */
static size_t
hash_str(const struct session_table *t, const char *s)
{
	return (size_t)siphash24(s, strlen(s), t->key);
}

int
session_table_init(struct session_table *t, size_t nbuckets)
{
	memset(t, 0, sizeof(*t));
	if (getrandom(t->key, sizeof(t->key), 0) != sizeof(t->key)) {
		/* no entropy yet (early boot): time and address, better than none */
		t->key[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
		t->key[1] = (uint64_t)clock() * 0x9e3779b97f4a7c15ull ^ t->key[0];
	}
	t->buckets = calloc(nbuckets, sizeof(*t->buckets));
	if (t->buckets == NULL)
		return -ENOMEM;
	t->nbuckets = nbuckets;
	return 0;
}

void
session_table_free(struct session_table *t)
{
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

struct session *
session_find(struct session_table *t, const char *call_id)
{
	struct session *s;

	for (s = t->buckets[hash_str(t, call_id) % t->nbuckets]; s; s = s->hnext)
		if (strcmp(s->call_id, call_id) == 0)
			return s;
	return NULL;
}

/* Double the buckets when chains get long; failure keeps the old table. */
static void
table_grow(struct session_table *t)
{
	size_t n = t->nbuckets * 2;
	struct session **b = calloc(n, sizeof(*b));
	struct session *s;

	if (b == NULL)
		return;
	for (s = t->first; s != NULL; s = s->next) {
		size_t i = hash_str(t, s->call_id) % n;
		s->hnext = b[i];
		b[i] = s;
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static void
table_insert(struct session_table *t, struct session *s)
{
	size_t i;

	if (t->count >= t->nbuckets)
		table_grow(t);
	i = hash_str(t, s->call_id) % t->nbuckets;
	s->hnext = t->buckets[i];
	t->buckets[i] = s;
	s->prev = t->last;
	s->next = NULL;
	if (t->last != NULL)
		t->last->next = s;
	else
		t->first = s;
	t->last = s;
	t->count++;
}

static void
table_remove(struct session_table *t, struct session *s)
{
	struct session **pp = &t->buckets[hash_str(t, s->call_id) % t->nbuckets];

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp != NULL)
		*pp = s->hnext;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		t->first = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	else
		t->last = s->prev;
	t->count--;
}

/*
 * Session strings are held at their length: a relay keeps 100,000 calls,
 * and four arrays of PROTO_MAX_STRING + 1 were 1 KiB of each (issue 16).
 * Unset ones share `empty`; nothing is ever written through it.
 */
static const char empty[] = "";

int
session_set_str(const char **field, const char *src)
{
	size_t n = strlen(src);
	char *p;

	if (n > PROTO_MAX_STRING)
		n = PROTO_MAX_STRING;	/* proto checks it; cut as before */
	if (n == 0) {
		p = NULL;
	} else if ((p = malloc(n + 1)) == NULL) {
		return -ENOMEM;
	} else {
		memcpy(p, src, n);
		p[n] = '\0';
		proto_utf8_trim(p);	/* a cut keeps it valid UTF-8 */
	}
	if (*field != empty)
		free((char *)*field);
	*field = p != NULL ? p : empty;
	return 0;
}

/*
 * The call id and the caller's tag are set once, together: one allocation
 * holds both (a malloc chunk is 32 B at least; issue 16's 1 KiB per
 * stream). tag[SIDE_A] points into call_id's buffer.
 */
static int
session_set_ids(struct session *s, const char *call_id, const char *from_tag)
{
	size_t n = strnlen(call_id, PROTO_MAX_STRING);
	size_t m = strnlen(from_tag, PROTO_MAX_STRING);
	char *p = malloc(n + m + 2);

	if (p == NULL)
		return -ENOMEM;
	memcpy(p, call_id, n);
	p[n] = '\0';
	proto_utf8_trim(p);	/* a cut keeps it valid UTF-8 */
	memcpy(p + n + 1, from_tag, m);
	p[n + 1 + m] = '\0';
	proto_utf8_trim(p + n + 1);
	s->call_id = p;
	s->tag[SIDE_A] = p + n + 1;
	return 0;
}

static void
strings_free(struct session *s)
{
	const char **f[] = { &s->call_id, &s->tag[SIDE_B], &s->label };

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (*f[i] != empty)
			free((char *)*f[i]);
		*f[i] = empty;
	}
	s->tag[SIDE_A] = empty;	/* it was in call_id's buffer */
}

struct session *
session_create(struct relayd *rd, const char *call_id, const char *from_tag,
    int iface_a, int iface_b)
{
	struct session *s = calloc(1, sizeof(*s));
	struct timespec ts;

	if (s == NULL)
		return NULL;
	s->call_id = s->tag[SIDE_A] = s->tag[SIDE_B] = s->label = empty;
	if (session_set_ids(s, call_id, from_tag) < 0) {
		free(s);
		return NULL;
	}
	s->iface[SIDE_A] = iface_a;
	s->iface[SIDE_B] = iface_b;
	s->state = SS_OFFERED;
	s->created_ms = now_ms();
	clock_gettime(CLOCK_REALTIME, &ts);
	s->created_wall = ts.tv_sec;
	table_insert(&rd->sessions, s);
	rd->totals.sessions_created++;
	return s;
}

static void
leg_close(struct relayd *rd, struct leg *leg)
{
	/* a kernel backend carried it without sockets (legsock.c) */
	bool sockless = leg->port != 0 && !leg_bound(leg);

	webrtc_leg_disable(leg);
	park_put(rd, leg);	/* kept bound for the next leg: sockpark.c */
	for (int k = SK_RTP; k <= SK_RTCP; k++) {
		if (leg->sock[k].fd < 0)
			continue;
		epoll_del(rd, leg->sock[k].fd);
		close(leg->sock[k].fd);
		leg->sock[k].fd = -1;
	}
	if (leg->port != 0) {
		ports_release(&rd->pools[leg->iface], leg->port);
		if (sockless)
			warm_again(rd, leg->iface, leg->port);
	}
	leg->port = 0;
}

/*
 * Take a free pair whose two ports we can bind. A pair that some other
 * process holds goes to the back of the queue; we try each pair at most
 * once.
 */
static int
leg_open(struct relayd *rd, struct leg *leg)
{
	struct port_pool *pp = &rd->pools[leg->iface];
	const struct sockaddr_storage *bind_addr = &rd->conf.ifaces[leg->iface].bind;
	size_t tries = ports_available(pp);
	uint16_t port;
	int fd[2], sockless;

	if ((sockless = leg_take_sockless(rd, leg)) <= 0)
		return sockless;	/* offerhold.c: the backend holds them */
	while (tries-- > 0) {
		if (ports_take(pp, &port) < 0)
			break;
		if (park_take(rd, leg, port) > 0) {
			leg->port = port;	/* its sockets still bound */
			return 0;
		}
		fd[SK_RTP] = udp_bind(bind_addr, port);
		fd[SK_RTCP] = fd[SK_RTP] < 0 ? -1 : udp_bind(bind_addr, port + 1);
		/* Out of descriptors: parked sockets give theirs first. */
		for (int n = 0; n < 4 && (fd[SK_RTP] == -EMFILE ||
		    fd[SK_RTCP] == -EMFILE) && park_evict_one(rd); n++) {
			if (fd[SK_RTP] < 0)
				fd[SK_RTP] = udp_bind(bind_addr, port);
			if (fd[SK_RTP] >= 0 && fd[SK_RTCP] < 0)
				fd[SK_RTCP] = udp_bind(bind_addr, port + 1);
		}
		if (fd[SK_RTP] >= 0 && fd[SK_RTCP] >= 0) {
			/* both owned by the leg at once: leg_close frees both */
			leg->port = port;
			leg->sock[SK_RTP].fd = fd[SK_RTP];
			leg->sock[SK_RTCP].fd = fd[SK_RTCP];
			for (int k = SK_RTP; k <= SK_RTCP; k++) {
				int rc = leg_sock_watch(rd, leg, (enum sock_kind)k);
				if (rc < 0) {
					/* not parked: one may not be in epoll */
					for (int j = SK_RTP; j <= SK_RTCP; j++) {
						close(leg->sock[j].fd);
						leg->sock[j].fd = -1;
					}
					leg_close(rd, leg);
					return rc;
				}
			}
			return 0;
		}
		if (fd[SK_RTP] >= 0)
			close(fd[SK_RTP]);
		ports_release(pp, port);
		if (fd[SK_RTP] != -EADDRINUSE && fd[SK_RTCP] != -EADDRINUSE)
			return fd[SK_RTP] < 0 ? fd[SK_RTP] : fd[SK_RTCP];
	}
	return -ENOSPC;
}

static void
stream_free(struct relayd *rd, struct stream *st)
{
	/* Out of the kernel without binding again: the call is over. */
	backend_stream_release(rd, st);
	st->path = PATH_USERSPACE;
	backend_uncarry(rd, st);
	unbind_forget(rd, st);
	leg_close(rd, &st->leg[SIDE_A]);
	leg_close(rd, &st->leg[SIDE_B]);
	stream_reason_free(st);
	rd->nstreams--;
	defer_free(rd, st);
}

static struct stream *
stream_new(struct relayd *rd, struct session *s, int index)
{
	struct stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->session = s;
	st->index = index;
	st->path = PATH_USERSPACE;
	st->type = st->transport = "";
	stream_set_reason(st, "latching");
	for (int side = SIDE_A; side <= SIDE_B; side++) {
		struct leg *leg = &st->leg[side];
		leg->stream = st;
		leg->transport = "";
		leg->side = (enum leg_side)side;
		leg->iface = s->iface[side];
		for (int k = SK_RTP; k <= SK_RTCP; k++) {
			leg->sock[k].tag.kind = TAG_LEG;
			leg->sock[k].fd = -1;
			leg->sock[k].kind = (enum sock_kind)k;
		}
	}
	rd->nstreams++;
	return st;
}

/*
 * Room for n stream pointers. A call of one stream (the usual one) keeps
 * its pointer in the session: no array of its own (issue 16's budget).
 */
static int
streams_room(struct session *s, int n)
{
	struct stream **v;

	if (n <= 1 && (s->streams == NULL || s->streams == &s->stream0)) {
		s->streams = &s->stream0;
		return 0;
	}
	if (s->streams == &s->stream0) {
		if ((v = malloc((size_t)n * sizeof(*v))) == NULL)
			return -ENOMEM;
		v[0] = s->stream0;
	} else if ((v = realloc(s->streams, (size_t)n * sizeof(*v))) == NULL) {
		return -ENOMEM;
	}
	s->streams = v;
	return 0;
}

int
session_add_streams(struct relayd *rd, struct session *s, int n,
    struct proto_error *err)
{
	int rc;

	if (n <= s->nstreams)
		return 0;
	if (streams_room(s, n) < 0)
		return proto_errorf(err, PROTO_E_INTERNAL, "out of memory");
	while (s->nstreams < n) {
		struct stream *st = stream_new(rd, s, s->nstreams);
		if (st == NULL)
			return proto_errorf(err, PROTO_E_INTERNAL,
			    "out of memory");
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			rc = leg_open(rd, &st->leg[side]);
			if (rc < 0) {
				const char *name =
				    rd->conf.ifaces[st->leg[side].iface].name;
				stream_free(rd, st);
				if (rc == -ENOSPC)
					return proto_errorf(err,
					    PROTO_E_EXHAUSTED, "no free port "
					    "pair on interface '%s'", name);
				return proto_errorf(err, PROTO_E_INTERNAL,
				    "bind on interface '%s': %s", name,
				    strerror(-rc));
			}
		}
		s->streams[s->nstreams++] = st;
	}
	return 0;
}

int
session_restore_streams(struct relayd *rd, struct session *s, int n,
    const uint16_t ports[][2])
{
	if (streams_room(s, n ? n : 1) < 0)
		return -ENOMEM;
	while (s->nstreams < n) {
		struct stream *st = stream_new(rd, s, s->nstreams);
		if (st == NULL)
			return -ENOMEM;
		s->streams[s->nstreams++] = st;
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			struct leg *leg = &st->leg[side];
			uint16_t port = ports[st->index][side];
			if (ports_take_port(&rd->pools[leg->iface], port) < 0)
				return -EADDRINUSE;
			park_drop(rd, leg->iface, port);	/* owned unbound */
			/* Owned unbound: a stream the kernel still carries
			 * never needs a socket (legsock.c). */
			leg->port = port;
		}
	}
	return 0;
}

void
session_destroy(struct relayd *rd, struct session *s)
{
	journal_drop(rd, s);
	timers_disarm(rd, s);
	for (int i = 0; i < s->nstreams; i++)
		stream_free(rd, s->streams[i]);
	if (s->streams != &s->stream0)
		free(s->streams);
	table_remove(&rd->sessions, s);
	strings_free(s);
	free(s);
}

bool
session_release(struct relayd *rd, struct session *s)
{
	bool kernel = false;

	/* A second release finds no backend state and does nothing. */
	for (int i = 0; i < s->nstreams; i++) {
		kernel |= s->streams[i]->path == PATH_KERNEL;
		backend_stream_release(rd, s->streams[i]);
	}
	return kernel;
}

json_t *
session_finish(struct relayd *rd, struct session *s,
    json_t *(*report)(struct relayd *, const struct session *, void *),
    void *arg)
{
	json_t *out;

	/* A backend that batches its removals (nft) commits them now and
	 * reads the final counters; the reply waits for one transaction
	 * (nothing to do if the caller released and flushed already). */
	if (session_release(rd, s))
		backend_flush(rd);
	out = report(rd, s, arg);
	for (int i = 0; i < s->nstreams; i++)
		s->streams[i]->path = PATH_USERSPACE;	/* released above */
	session_destroy(rd, s);
	return out;
}

struct leg *
leg_of_sock(struct leg_sock *ls)
{
	struct leg_sock *first = ls - ls->kind;	/* &leg->sock[0] */

	return (struct leg *)(void *)((char *)first -
	    offsetof(struct leg, sock));
}

void
leg_unlatch(struct leg *leg)
{
	latch_reset(leg);	/* learning starts over */
}

bool
leg_set_endpoint(struct leg *leg, const struct endpoint *ep)
{
	bool changed = !leg->sdp.set ||
	    !raddr_equal(&leg->sdp.rtp, &ep->rtp) ||
	    !raddr_equal(&leg->sdp.rtcp, &ep->rtcp) ||
	    leg->sdp.rtcp_mux != ep->rtcp_mux;

	raddr_from(&leg->sdp.rtp, &ep->rtp);
	raddr_from(&leg->sdp.rtcp, &ep->rtcp);
	leg->sdp.rtcp_mux = ep->rtcp_mux;
	leg->sdp.direction = ep->direction;
	leg->sdp.set = true;
	if (changed)
		leg_unlatch(leg);
	return changed;
}

uint64_t
session_last_activity(const struct session *s)
{
	uint64_t last = 0;

	for (int i = 0; i < s->nstreams; i++)
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			uint64_t t = s->streams[i]->leg[side].stats.last_seen_ms;
			if (t > last)
				last = t;
		}
	return last;
}

/* On hold: some leg said it will not send (sendonly/inactive on hold). */
bool
session_on_hold(const struct session *s)
{
	for (int i = 0; i < s->nstreams; i++)
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			enum direction d = s->streams[i]->leg[side].sdp.direction;
			if (d == DIR_SENDONLY || d == DIR_INACTIVE ||
			    d == DIR_RECVONLY)
				return true;
		}
	return false;
}
