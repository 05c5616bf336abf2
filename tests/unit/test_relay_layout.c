/*
 * test_relay_layout.c: relayd's memory per stream stays within issue 16's
 * budget (1 KiB per stream), so that a field added to struct stream, leg
 * or session cannot silently bring back the 3.5 KiB streams of before.
 *
 * Two checks: the sizes of the per-stream structures against ceilings,
 * and the heap a call with one stream really takes (malloc's own
 * accounting, chunk headers included: session, stream, strings, reason)
 * against the 1 KiB itself. The structures' ceilings are today's sizes:
 * a change that grows one fails here and must raise its ceiling on
 * purpose, within the heap budget. The compact pieces behave as the wide
 * ones did: struct raddr as a sockaddr_storage, a socket finds its leg,
 * path_reason and the session strings keep their text.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"
#include "backend_nft.h"
#include "backend_kmod.h"
#include "relay_fixture.h"

#define PMIN 41400
#define PMAX 41999

/* Issue 16: 1 KiB per stream (x86-64, one stream per call). */
#define BUDGET_PER_STREAM	1024
#define HEAP_CEIL		BUDGET_PER_STREAM	/* 912 measured */
#define CEIL_STREAM		680	/* two legs of 312 and the stream's own */
#define CEIL_LEG		312
#define CEIL_SESSION		120	/* strings held apart, at their length */
#define CEIL_RADDR		24
#define CEIL_NFT_FLOW		76	/* nft backend: made when needed */
/* nft backend's state per stream in the kernel (struct nft_stream and its
 * kinds): IPv4 with RTCP (the bench's streams), IPv4 rtcp-mux, IPv6. */
#define CEIL_NFT4		72	/* an 80-byte malloc chunk */
#define CEIL_NFT4_MUX		40
#define CEIL_NFT6		120
#define CEIL_NFT4_CHUNK		80	/* glibc's count: what RSS grows by */
/* kmod backend's state per stream in trunkline.ko (struct kmod_stream):
 * four entries (RTP and RTCP per leg), two (rtcp-mux); it was a 592-byte
 * struct with every entry's full plan (1,675 B of RSS per stream in
 * bench/results/2026-12-04-vm-kmod-scale3.md). */
#define CEIL_KMOD4		56	/* a 64-byte malloc chunk */
#define CEIL_KMOD2		32
#define CEIL_KMOD4_CHUNK	64

static void
test_structs_within_their_ceilings(void **state)
{
	(void)state;
	printf("# struct stream %zu, leg %zu (sdp %zu, latched %zu, stats %zu,"
	    " seq %zu), session %zu, raddr %zu, nft_flow %zu\n",
	    sizeof(struct stream), sizeof(struct leg),
	    sizeof(struct leg_sdp), sizeof(((struct leg *)0)->latched),
	    sizeof(struct leg_stats), sizeof(struct rtp_seq),
	    sizeof(struct session), sizeof(struct raddr),
	    sizeof(struct nft_flow));
	assert_true(sizeof(struct leg) <= CEIL_LEG);
	assert_true(sizeof(struct stream) <= CEIL_STREAM);
	assert_true(sizeof(struct session) <= CEIL_SESSION);
	assert_true(sizeof(struct raddr) <= CEIL_RADDR);
	assert_true(sizeof(struct nft_flow) <= CEIL_NFT_FLOW);
	printf("# nft_stream: IPv4 %zu (rtcp-mux %zu), IPv6 %zu (rtcp-mux "
	    "%zu)\n", nft_stream_size(AF_INET, 2), nft_stream_size(AF_INET, 1),
	    nft_stream_size(AF_INET6, 2), nft_stream_size(AF_INET6, 1));
	assert_true(nft_stream_size(AF_INET, 2) <= CEIL_NFT4);
	assert_true(nft_stream_size(AF_INET, 1) <= CEIL_NFT4_MUX);
	assert_true(nft_stream_size(AF_INET6, 2) <= CEIL_NFT6);
	assert_true(sizeof(struct stream) + sizeof(struct session) <=
	    BUDGET_PER_STREAM);
}

/* A plan of n entries on 192.0.2.1, as kmod_hold/kmod_learn make them. */
static void
kmod_test_plan(struct kmod_plan *p, int n, bool learning)
{
	struct sockaddr_storage ss;

	memset(p, 0, sizeof(*p));
	assert_int_equal(addr_parse("192.0.2.1", 0, &ss), 0);
	p->n = n;
	p->learning = learning;
	for (int i = 0; i < n; i++) {
		assert_int_equal(kaddr_of(&ss, &p->e[i].laddr, NULL), 0);
		p->e[i].osaddr = p->e[i].laddr;
		p->e[i].lport = (uint16_t)(41400 + i);
	}
}

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_COUNTED	0	/* ASan's allocator: mallinfo2 says nothing */
#else
#define HEAP_COUNTED	1
#endif

/*
 * The heap of N calls of one stream each (call ids and tags as a SIP
 * stack makes them), measured as glibc counts it: what the relay's RSS
 * grows by, less the kernel backends' state (bench/scale measures that).
 */
static void
test_heap_per_stream_within_budget(void **state)
{
	enum { N = 100 };
	struct relayd *rd = calloc(1, sizeof(*rd));
	struct proto_error perr;
	struct session *s;
	struct kmod_plan plan;
	size_t before, after;
	char id[64], tag[32];

	(void)state;
	assert_non_null(rd);
	config_defaults(&rd->conf);
	rd->conf.journal[0] = '\0';
	assert_int_equal(ports_init(&rd->pools[0], PMIN, PMAX), 0);
	assert_int_equal(session_table_init(&rd->sessions, 1024), 0);
	rd->epfd = epoll_create1(0);
	assert_true(rd->epfd >= 0);
	rd->backend.ops = &backend_userspace_ops;

	before = mallinfo2().uordblks;
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%08x-4f2a-11ef-9c1b@pbx.example.net",
		    (unsigned)i);
		snprintf(tag, sizeof(tag), "as%08x", (unsigned)i);
		s = session_create(rd, id, tag, 0, 0);
		assert_non_null(s);
		assert_int_equal(session_set_str(&s->tag[SIDE_B], "b7c1e0"), 0);
		assert_int_equal(session_add_streams(rd, s, 1, &perr), 0);
		for (int side = SIDE_A; side <= SIDE_B; side++) {
			struct leg *leg = &s->streams[0]->leg[side];
			for (int k = SK_RTP; k <= SK_RTCP; k++)
				assert_ptr_equal(leg_of_sock(&leg->sock[k]),
				    leg);
		}
	}
	after = mallinfo2().uordblks;
	printf("# heap per call of one stream: %zu B (ceiling %d, target %d)\n",
	    (after - before) / N, HEAP_CEIL, BUDGET_PER_STREAM);
	if (HEAP_COUNTED)
		assert_true((after - before) / N <= HEAP_CEIL);
	/* the same calls with the kmod backend's state of four entries
	 * (reason literals: no allocation): still within the budget */
	kmod_test_plan(&plan, 4, true);
	for (s = rd->sessions.first; s != NULL; s = s->next) {
		s->streams[0]->backend_priv = kmod_stream_new(&plan);
		assert_non_null(s->streams[0]->backend_priv);
		kmod_reason_in(s->streams[0], "learning", &plan);
	}
	after = mallinfo2().uordblks;
	printf("# heap per call of one stream in trunkline.ko: %zu B "
	    "(target %d)\n", (after - before) / N, BUDGET_PER_STREAM);
	if (HEAP_COUNTED)
		assert_true((after - before) / N <= BUDGET_PER_STREAM);
	for (s = rd->sessions.first; s != NULL; s = s->next) {
		free(s->streams[0]->backend_priv);
		s->streams[0]->backend_priv = NULL;
	}

	while (rd->sessions.first != NULL)
		session_destroy(rd, rd->sessions.first);
	graveyard_empty(rd);
	session_table_free(&rd->sessions);
	ports_free(&rd->pools[0]);
	close(rd->epfd);
	free(rd);
}

/*
 * The nft backend's state of an IPv4 stream with RTCP, as malloc counts
 * it (chunk header and rounding included): what bench/scale's relay
 * grows by per stream for it.
 */
static void
test_nft_stream_heap(void **state)
{
	enum { N = 1000 };
	void **v = calloc(N, sizeof(*v));
	size_t before, after;

	(void)state;
	assert_non_null(v);
	before = mallinfo2().uordblks;
	for (int i = 0; i < N; i++)
		assert_non_null(v[i] = calloc(1, nft_stream_size(AF_INET, 2)));
	after = mallinfo2().uordblks;
	printf("# nft_stream heap, IPv4 with RTCP: %zu B (ceiling %d)\n",
	    (after - before) / N, CEIL_NFT4_CHUNK);
	if (HEAP_COUNTED)
		assert_true((after - before) / N <= CEIL_NFT4_CHUNK);
	for (int i = 0; i < N; i++)
		free(v[i]);
	free(v);
}

/*
 * The kmod backend's state of a stream in the kernel, as malloc counts it:
 * what bench/kmod/scale's relay grows by per stream for it; with the
 * heap of the call (test_heap_per_stream_within_budget) within 1 KiB.
 * Its path_reason is a literal (no allocation), and what it keeps of a
 * learning stream is the same size (the leg is found by its port, with no
 * node of its own).
 */
static void
test_kmod_stream_heap(void **state)
{
	enum { N = 1000 };
	struct kmod_stream **v = calloc(N, sizeof(*v));
	struct kmod_plan p;
	struct stream st;
	size_t before, after;

	(void)state;
	assert_non_null(v);
	printf("# kmod_stream: 4 entries %zu, 2 entries (rtcp-mux) %zu\n",
	    kmod_stream_size(4), kmod_stream_size(2));
	assert_true(kmod_stream_size(4) <= CEIL_KMOD4);
	assert_true(kmod_stream_size(2) <= CEIL_KMOD2);
	kmod_test_plan(&p, 4, true);
	before = mallinfo2().uordblks;
	for (int i = 0; i < N; i++)
		assert_non_null(v[i] = kmod_stream_new(&p));
	after = mallinfo2().uordblks;
	printf("# kmod_stream heap, 4 entries: %zu B (ceiling %d)\n",
	    (after - before) / N, CEIL_KMOD4_CHUNK);
	if (HEAP_COUNTED)
		assert_true((after - before) / N <= CEIL_KMOD4_CHUNK);
	assert_int_equal(v[0]->n, 4);
	assert_true(v[0]->flags & KS_LEARNING);
	for (int i = 0; i < N; i++)
		free(v[i]);
	free(v);

	/* every reason of a stream in the kernel: a literal, no heap */
	memset(&st, 0, sizeof(st));
	for (int n = 2; n <= 4; n += 2) {
		const char *what[] = { "latched", "learned", "learning",
		    "adopted", "held" };
		char want[80];

		kmod_test_plan(&p, n, false);
		for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
			kmod_reason_in(&st, what[i], &p);
			assert_false(st.reason_owned);
			snprintf(want, sizeof(want), "%d ", n);
			assert_non_null(strstr(stream_reason(&st), want));
		}
	}
	kmod_reason_in(&st, "learning", &p);
	assert_string_equal(stream_reason(&st),
	    "learning in trunkline.ko; 4 entries");
	p.e[0].osaddr.family = AF_INET6;
	kmod_reason_in(&st, "latched", &p);
	assert_string_equal(stream_reason(&st), "latched; 4 entries in "
	    "trunkline.ko (IPv4<->IPv6 translated)");
}

/* The relay totals kmod_count adds to (test_kmod_counts_deltas). */
static struct relayd_totals kmod_test_totals;

static void
kmod_test_apply(struct stream *st, int idx, uint64_t packets, uint64_t bytes,
    uint64_t mismatch, uint64_t lost)
{
	kmod_count(&kmod_test_totals, st, idx, packets, bytes, mismatch,
	    &lost);
}

/*
 * What kmod keeps of an entry is the low 32 bits of its last reading
 * (24 of the loss): the leg still gets what the kernel counted since,
 * across a 2^32 wrap of the bytes and a 2^24 one of the loss, and the RTP
 * entry's loss moves the leg's loss by as much (down too: a late packet).
 * The relay's totals (stats packets, bytes, drops) grow by the same as the
 * legs: they are the legs' sums, as with nft and userspace.
 */
static void
test_kmod_counts_deltas(void **state)
{
	const struct relay_fixture f = { .port_min = PMIN, .port_max = PMAX,
	    .buckets = 16, .ops = &backend_userspace_ops };
	struct relayd *rd = relay_fixture_new(&f);
	struct session *se;
	struct stream *st;
	struct proto_error perr;
	struct kmod_plan p;
	struct kmod_stream *ks;
	struct leg_stats *a, *b;

	(void)state;
	assert_non_null(se = session_create(rd, "kmod-deltas@x", "t", 0, 0));
	assert_int_equal(session_add_streams(rd, se, 1, &perr), 0);
	st = se->streams[0];
	kmod_test_plan(&p, 4, false);
	assert_non_null(ks = kmod_stream_new(&p));
	st->backend_priv = ks;
	a = &st->leg[SIDE_A].stats;
	b = &st->leg[SIDE_B].stats;
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->lost = 7;		/* userspace's before the install */

	kmod_test_apply(st, 0, 10, 1000, 2, 3);	/* leg A RTP */
	kmod_test_apply(st, 3, 4, 400, 0, 0);	/* leg B RTCP */
	assert_int_equal(a->packets, 10);
	assert_int_equal(a->bytes, 1000);
	assert_int_equal(a->kpackets, 10);
	assert_int_equal(a->drops, 2);
	assert_int_equal(a->lost, 10);
	assert_int_equal(b->packets, 4);
	assert_int_equal(b->lost, 0);		/* RTCP has no loss */
	/* bytes past 2^32, loss down by one */
	kmod_test_apply(st, 0, 15, (1ull << 32) + 500, 2, 2);
	assert_int_equal(a->packets, 15);
	assert_int_equal(a->bytes, (1ull << 32) + 500);
	assert_int_equal(a->lost, 9);
	assert_int_equal(a->drops, 2);
	/* another entry (fewer packets than read): nothing added */
	kmod_test_apply(st, 0, 1, 100, 2, 2);
	assert_int_equal(a->packets, 15);
	kmod_test_apply(st, 0, 3, 300, 2, 2);
	assert_int_equal(a->packets, 17);
	assert_int_equal(a->bytes, (1ull << 32) + 700);
	/* loss past 2^24 over reads (a peer that reset its sequence
	 * numbers many times), then down by 5 */
	kmod_test_apply(st, 0, 3, 300, 2, (1ull << 23) - 100);
	kmod_test_apply(st, 0, 3, 300, 2, (1ull << 24) - 200);
	assert_int_equal(a->lost, 7 + (1ull << 24) - 200);
	kmod_test_apply(st, 0, 3, 300, 2, (1ull << 24) + 2);
	assert_int_equal(a->lost, 7 + (1ull << 24) + 2);
	kmod_test_apply(st, 0, 3, 300, 2, (1ull << 24) - 3);
	assert_int_equal(a->lost, 7 + (1ull << 24) - 3);
	assert_int_equal(kmod_test_totals.packets, a->packets + b->packets);
	assert_int_equal(kmod_test_totals.bytes, a->bytes + b->bytes);
	assert_int_equal(kmod_test_totals.drops, a->drops + b->drops);
	assert_int_equal(kmod_test_totals.packets_userspace, 0);

	st->backend_priv = NULL;
	free(ks);
	relay_fixture_free(rd);
}

static struct ct_counters
reading(uint32_t id, bool from_peer, uint64_t p0, uint64_t b0, uint64_t p1,
    uint64_t b1)
{
	struct ct_counters c = { .found = true, .id = id,
	    .orig_from_peer = from_peer, .pkts = { p0, p1 },
	    .bytes = { b0, b1 } };
	return c;
}

/*
 * A kind's counters keep only the last reading's low 32 bits: what the
 * kernel counted since is still right across a 2^32 wrap, a new entry
 * (another id: the old one timed out) counts from 0, and an entry found
 * the other way round (created by leg B's peer) counts into the right
 * legs.
 */
static void
test_nft_kind_counts_deltas(void **state)
{
	uint8_t buf[64] = { 0 };
	struct nft_kind *k = (struct nft_kind *)(void *)buf;
	struct ct_counters c, none = { .found = false };
	uint32_t p[2], b[2];

	(void)state;
	c = reading(7, true, 10, 1000, 4, 400);
	nft_kind_count(k, &c, p, b);
	assert_int_equal(p[SIDE_A], 10);
	assert_int_equal(b[SIDE_A], 1000);
	assert_int_equal(p[SIDE_B], 4);
	assert_int_equal(b[SIDE_B], 400);
	/* bytes past 2^32 between readings: the delta is still right */
	c = reading(7, true, 15, (1ull << 32) + 500, 9, 900);
	nft_kind_count(k, &c, p, b);
	assert_int_equal(p[SIDE_A], 5);
	assert_int_equal(b[SIDE_A], (uint32_t)((1ull << 32) + 500 - 1000));
	assert_int_equal(p[SIDE_B], 5);
	assert_int_equal(b[SIDE_B], 500);
	c = reading(7, true, 15, (1ull << 32) + 700, 9, 900);
	nft_kind_count(k, &c, p, b);
	assert_int_equal(b[SIDE_A], 200);
	assert_int_equal(p[SIDE_A], 0);
	/* the entry ended: nothing new; then another one, counted from 0,
	 * created by leg B's peer (original direction into leg B) */
	nft_kind_count(k, &none, p, b);
	assert_int_equal(p[SIDE_A] + p[SIDE_B] + b[SIDE_A] + b[SIDE_B], 0);
	c = reading(8, false, 3, 300, 2, 200);
	nft_kind_count(k, &c, p, b);
	assert_int_equal(p[SIDE_A], 2);
	assert_int_equal(b[SIDE_A], 200);
	assert_int_equal(p[SIDE_B], 3);
	assert_int_equal(b[SIDE_B], 300);
	/* replaced between two readings, without a miss in between */
	c = reading(9, true, 1, 100, 1, 100);
	nft_kind_count(k, &c, p, b);
	assert_int_equal(p[SIDE_A], 1);
	assert_int_equal(b[SIDE_B], 100);
}

static struct sockaddr_storage
sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	assert_int_equal(addr_parse(ip, port, &ss), 0);
	return ss;
}

static void
test_raddr_stands_for_the_sockaddr(void **state)
{
	const char *ips[] = { "192.0.2.7", "2001:db8::5", "fe80::1" };
	struct sockaddr_storage ss, back, other;
	struct raddr r;
	char a[64], b[64];

	(void)state;
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		ss = sa(ips[i], 40000);
		if (ss.ss_family == AF_INET6 && i == 2)
			((struct sockaddr_in6 *)&ss)->sin6_scope_id = 3;
		raddr_from(&r, &ss);
		raddr_to(&r, &back);
		assert_true(addr_equal(&ss, &back));
		assert_string_equal(addr_fmt(&ss, a, sizeof(a)),
		    addr_fmt(RADDR_SS(&r), b, sizeof(b)));
		assert_true(raddr_equal(&r, &ss));
		assert_true(raddr_same_host(&r, &ss));
		if (ss.ss_family == AF_INET6)	/* a link-local peer's link */
			assert_int_equal(((struct sockaddr_in6 *)&back)->
			    sin6_scope_id, i == 2 ? 3 : 0);
		other = ss;
		addr_set_port(&other, 40001);
		assert_false(raddr_equal(&r, &other));
		assert_true(raddr_same_host(&r, &other));
	}
	ss = sa("192.0.2.8", 40000);
	raddr_from(&r, &ss);
	other = sa("::ffff:192.0.2.8", 40000);	/* another family */
	assert_false(raddr_equal(&r, &other));
	assert_false(raddr_same_host(&r, &other));
	memset(&r, 0, sizeof(r));		/* nothing latched */
	assert_false(raddr_equal(&r, &ss));
}

static void
test_reason_and_strings_keep_their_text(void **state)
{
	struct stream st;
	struct session s;
	char long_text[700], cut[PROTO_MAX_STRING + 20];

	(void)state;
	memset(&st, 0, sizeof(st));
	stream_set_reason(&st, "latched; %d entries in trunkline.ko", 4);
	assert_string_equal(stream_reason(&st),
	    "latched; 4 entries in trunkline.ko");
	stream_append_reason(&st, "; a port could not be bound again: %s",
	    "Address in use");
	assert_string_equal(stream_reason(&st), "latched; 4 entries in "
	    "trunkline.ko; a port could not be bound again: Address in use");
	/* the longest reasons (a backend's choice text) are kept whole */
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	stream_set_reason(&st, "latched; no kernel backend active: %s",
	    long_text);
	assert_int_equal(strlen(stream_reason(&st)),
	    strlen("latched; no kernel backend active: ") + 699);
	stream_set_reason(&st, "latching");	/* a literal, kept as is */
	assert_string_equal(stream_reason(&st), "latching");
	stream_append_reason(&st, "; a port could not be bound again: %s",
	    "No buffer space available");
	assert_string_equal(stream_reason(&st), "latching; a port could not "
	    "be bound again: No buffer space available");
	stream_reason_free(&st);
	assert_non_null(stream_reason(&st));

	/* session strings: cut at PROTO_MAX_STRING as the arrays did,
	 * valid UTF-8 kept */
	memset(&s, 0, sizeof(s));	/* NULL: nothing to free yet */
	memset(cut, 'a', sizeof(cut) - 1);
	cut[sizeof(cut) - 1] = '\0';
	cut[PROTO_MAX_STRING - 1] = (char)0xc3;	/* a 2-byte char cut */
	cut[PROTO_MAX_STRING] = (char)0xa9;
	assert_int_equal(session_set_str(&s.label, cut), 0);
	assert_int_equal(strlen(s.label), PROTO_MAX_STRING - 1);
	assert_int_equal(session_set_str(&s.label, "tab\there"), 0);
	assert_string_equal(s.label, "tab\there");
	assert_int_equal(session_set_str(&s.label, ""), 0);
	assert_string_equal(s.label, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structs_within_their_ceilings),
		cmocka_unit_test(test_heap_per_stream_within_budget),
		cmocka_unit_test(test_nft_stream_heap),
		cmocka_unit_test(test_kmod_stream_heap),
		cmocka_unit_test(test_kmod_counts_deltas),
		cmocka_unit_test(test_nft_kind_counts_deltas),
		cmocka_unit_test(test_raddr_stands_for_the_sockaddr),
		cmocka_unit_test(test_reason_and_strings_keep_their_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
