/*
 * test_ctl_srcindex.c: srcindex.c gives the answer the scan of every
 * trunk source gave (identify_by_source() without the index), with a
 * carrier-sized ACL: 100 trunks of 100 sources (10,000: hosts, /24 and
 * /16 networks, ports, transports, IPv6), checked for every source's own
 * address (every 5th) and 1,500 drawn ones; and the rules by name: the most specific
 * source wins whatever the trunk order, a port beats none, the first in
 * config order among equals, v4-mapped peers match IPv4 sources.
 * Correctness only, no timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "controller.h"

#define NTRUNKS		100
#define NPER		100

static uint32_t rng = 12345;

static uint32_t
draw(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

static struct ctl_conf *
load_file(const char *path)
{
	struct ctl_conf *c = NULL;
	char err[512];

	if (config_load(path, NULL, &c, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	return c;
}

/* One source, as JSON, drawn from a small space so that they overlap. */
static void
put_source(FILE *f, int idx)
{
	unsigned x = draw() % 4, y = draw() % 64, z = draw() % 256;
	static const char *const tps[] = { "udp", "tcp", "tls" };

	switch (idx % 10) {
	case 0: case 1: case 2: case 3:
		fprintf(f, "\"10.%u.%u.%u\"", x, y, z);
		break;
	case 4: case 5:
		fprintf(f, "\"10.%u.%u.0/24\"", x, y);
		break;
	case 6:
		fprintf(f, "\"10.%u.0.0/16\"", x);
		break;
	case 7:
		fprintf(f, "{\"address\": \"10.%u.%u.%u\", \"port\": %u}", x, y,
		    z, 5060 + draw() % 2);
		break;
	case 8:
		fprintf(f, "{\"address\": \"10.%u.%u.0/%u\", \"transport\": "
		    "\"%s\"}", x, y, 20 + draw() % 9, tps[draw() % 3]);
		break;
	default:
		fprintf(f, "\"2001:db8:%x::%x/%u\"", x, z, 64 + 32 * (draw() % 3));
		break;
	}
}

static struct ctl_conf *
big_conf(void)
{
	char path[] = "/tmp/tl-ctlsrcindex-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "{\"trunks\": [");
	for (int t = 0; t < NTRUNKS; t++) {
		fprintf(f, "%s{\"name\": \"t%d\", \"sources\": [", t ? "," : "",
		    t);
		for (int k = 0; k < NPER; k++) {
			if (k)
				fputc(',', f);
			put_source(f, t * NPER + k);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]}\n");
	fclose(f);
	struct ctl_conf *c = load_file(path);
	unlink(path);
	return c;
}

static void
sin4(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
}

static void
sin6(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
}

/* The answer of the scan: the index set aside for the call. */
static struct trunk *
scan(struct ctl_conf *c, const struct sockaddr *sa, enum transport tp)
{
	struct source_index *ix = c->srcidx;
	struct trunk *t;

	c->srcidx = NULL;
	t = identify_by_source(c, sa, tp);
	c->srcidx = ix;
	return t;
}

static bool
scan_any(const struct ctl_conf *c, const struct sockaddr *sa)
{
	for (int i = 0; i < c->ntrunks; i++)
		for (int k = 0; k < c->trunks[i].nsources; k++) {
			const struct source *s = &c->trunks[i].sources[k];
			if (source_match(s, sa, s->transport))
				return true;
		}
	return false;
}

static int
check(struct ctl_conf *c, const struct sockaddr *sa)
{
	static const enum transport tps[] = { TP_UDP, TP_TCP, TP_TLS };
	int found = 0;

	for (int i = 0; i < 3; i++) {
		struct trunk *want = scan(c, sa, tps[i]);
		struct trunk *got = srcindex_lookup(c->srcidx, sa, tps[i],
		    false);
		if (got != want)
			fail_msg("transport %d: index says %s, scan says %s",
			    tps[i], got ? got->name : "none",
			    want ? want->name : "none");
		found += want != NULL;
	}
	assert_int_equal(srcindex_lookup(c->srcidx, sa, TP_ANY, true) != NULL,
	    scan_any(c, sa));
	return found;
}

static void
test_same_answer_as_the_scan_with_10000_sources(void **state)
{
	struct ctl_conf *c = big_conf();
	struct sockaddr_storage ss;
	char ip[64];
	int found = 0;

	assert_int_equal(c->ntrunks, NTRUNKS);
	assert_non_null(c->srcidx);
	/* Every source's own address (and its port, if it names one). */
	/* (Every 5th: the scan this compares with is the slow part.) */
	for (int t = 0; t < c->ntrunks; t++)
		for (int k = t % 5; k < c->trunks[t].nsources; k += 5) {
			const struct source *s = &c->trunks[t].sources[k];
			ss = s->net;
			if (ss.ss_family == AF_INET)
				((struct sockaddr_in *)&ss)->sin_port =
				    htons(s->port ? s->port : 5060);
			assert_true(check(c, (struct sockaddr *)&ss) > 0 ||
			    s->transport != TP_ANY);
		}
	/* Drawn addresses, ports and IPv6 ones, most of them near sources. */
	for (int i = 0; i < 1500; i++) {
		if (i % 5 == 4) {
			snprintf(ip, sizeof(ip), "2001:db8:%x::%x", draw() % 5,
			    draw() % 300);
			sin6(&ss, ip, 5060);
		} else {
			snprintf(ip, sizeof(ip), "10.%u.%u.%u", draw() % 5,
			    draw() % 70, draw() % 256);
			sin4(&ss, ip, 5060 + draw() % 3);
		}
		found += check(c, (struct sockaddr *)&ss) > 0;
	}
	/* The drawn ones hit sources and miss them both. */
	assert_true(found > 50 && found < 1500);
	config_unref(c);
}

static struct ctl_conf *
small_conf(const char *json)
{
	char path[] = "/tmp/tl-ctlsrcindex-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	struct ctl_conf *c = load_file(path);
	unlink(path);
	return c;
}

static const char *
who(struct ctl_conf *c, const char *ip, unsigned port, enum transport tp)
{
	struct sockaddr_storage ss;
	struct trunk *t;

	if (strchr(ip, ':') != NULL)
		sin6(&ss, ip, port);
	else
		sin4(&ss, ip, port);
	t = identify_by_source(c, (struct sockaddr *)&ss, tp);
	assert_ptr_equal(t, scan(c, (struct sockaddr *)&ss, tp));
	return t ? t->name : "none";
}

static void
test_most_specific_port_then_order(void **state)
{
	struct ctl_conf *c = small_conf("{\"trunks\": ["
	    "{\"name\": \"wide\", \"sources\": [\"10.0.0.0/8\"]},"
	    "{\"name\": \"net\", \"sources\": [\"10.1.0.0/16\"]},"
	    "{\"name\": \"host\", \"sources\": [\"10.1.2.3\"]},"
	    "{\"name\": \"hostport\", \"sources\": [{\"address\": \"10.1.2.3\","
	    " \"port\": 5070}]},"
	    "{\"name\": \"twin\", \"sources\": [\"10.1.2.3\"]},"
	    "{\"name\": \"tls\", \"sources\": [{\"address\": \"10.9.9.9\","
	    " \"transport\": \"tls\"}]}]}");

	assert_non_null(c->srcidx);
	assert_string_equal(who(c, "10.200.0.1", 5060, TP_UDP), "wide");
	assert_string_equal(who(c, "10.1.200.1", 5060, TP_UDP), "net");
	/* host and twin are equal: the first in config order. */
	assert_string_equal(who(c, "10.1.2.3", 5060, TP_UDP), "host");
	assert_string_equal(who(c, "10.1.2.3", 5070, TP_UDP), "hostport");
	/* A v4-mapped peer is its IPv4 address. */
	assert_string_equal(who(c, "::ffff:10.1.2.3", 5070, TP_TCP),
	    "hostport");
	assert_string_equal(who(c, "10.9.9.9", 5061, TP_TLS), "tls");
	assert_string_equal(who(c, "10.9.9.9", 5060, TP_UDP), "wide");
	assert_string_equal(who(c, "192.0.2.1", 5060, TP_UDP), "none");
	assert_string_equal(who(c, "2001:db8::1", 5060, TP_UDP), "none");
	config_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_answer_as_the_scan_with_10000_sources),
		cmocka_unit_test(test_most_specific_port_then_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
