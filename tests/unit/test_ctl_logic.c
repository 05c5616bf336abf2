/*
 * test_ctl_logic.c: the controller's pure stages: number transforms,
 * trunk identification by source, routing (rules, LCR longest prefix,
 * priority and weight), admission limits, SDP to relay media and back.
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

static struct ctl_conf *
load(const char *text)
{
	char path[] = "/tmp/tl-ctllogic-XXXXXX", err[512];
	struct ctl_conf *c = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (config_load(path, NULL, &c, err, sizeof(err)) < 0)
		fprintf(stderr, "%s\n", err);
	unlink(path);
	assert_non_null(c);
	return c;
}

static void
test_transforms(void **state)
{
	struct ctl_conf *c = load("{\"trunks\": [{\"name\": \"t\", \"sources\": [\"1.2.3.4\"],"
	    "\"transforms\": {\"called\": ["
	    "  {\"match\": \"^00([1-9][0-9]*)$\", \"replace\": \"+\\\\1\"},"
	    "  {\"match\": \"^0([1-9][0-9]*)$\", \"replace\": \"+44\\\\1\"},"
	    "  {\"strip\": 1}, {\"prefix\": \"00\"}],"
	    " \"calling\": [{\"match\": \"^(.*)$\", \"replace\": \"[\\\\0]\\\\\\\\\"}]}}]}");
	const struct xform_set *xf = &c->trunks[0].xf;
	char out[CTL_NUM_MAX];

	assert_int_equal(xform_apply(&xf->called, "0049301234", out, sizeof(out)), 0);
	assert_string_equal(out, "0049301234");	/* +49.. -> strip -> 0049.. */
	assert_int_equal(xform_apply(&xf->called, "02071234567", out, sizeof(out)), 0);
	assert_string_equal(out, "00442071234567");
	assert_int_equal(xform_apply(&xf->called, "123", out, sizeof(out)), 0);
	assert_string_equal(out, "0023");	/* no regex matched: strip, prefix */
	assert_int_equal(xform_apply(&xf->calling, "555", out, sizeof(out)), 0);
	assert_string_equal(out, "[555]\\");
	assert_int_equal(xform_apply(&xf->called, "1", out, 2), -ENOSPC);
	assert_int_equal(xform_apply(NULL, "77", out, sizeof(out)), 0);
	assert_string_equal(out, "77");
	config_unref(c);
}

static struct sockaddr_storage
sa(const char *ip, int port)
{
	struct sockaddr_storage s = { 0 };

	if (strchr(ip, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&s;
		in6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
		in6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&s;
		in->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &in->sin_addr);
		in->sin_port = htons((uint16_t)port);
	}
	return s;
}

static void
test_identify(void **state)
{
	struct ctl_conf *c = load("{\"trunks\": ["
	    "{\"name\": \"wide\", \"sources\": [\"10.0.0.0/8\", \"2001:db8::/32\"]},"
	    "{\"name\": \"narrow\", \"sources\": [\"10.1.2.0/24\"]},"
	    "{\"name\": \"port\", \"sources\": [{\"address\": \"10.1.2.3\", \"port\": 5080, \"transport\": \"tcp\"}]},"
	    "{\"name\": \"acct\", \"digest\": {\"username\": \"alice\", \"password\": \"x\"}}]}");
	struct sockaddr_storage s;
	struct source src;

#define WHO(ip, port, tp) (s = sa(ip, port), identify_by_source(c, (struct sockaddr *)&s, tp))
	assert_string_equal(WHO("10.9.9.9", 5060, TP_UDP)->name, "wide");
	assert_string_equal(WHO("10.1.2.9", 5060, TP_UDP)->name, "narrow");
	assert_string_equal(WHO("10.1.2.3", 5060, TP_UDP)->name, "narrow");
	assert_string_equal(WHO("10.1.2.3", 5080, TP_UDP)->name, "narrow");
	assert_string_equal(WHO("10.1.2.3", 5080, TP_TCP)->name, "port");
	assert_string_equal(WHO("2001:db8:1::5", 5060, TP_TLS)->name, "wide");
	assert_null(WHO("11.0.0.1", 5060, TP_UDP));
	assert_null(WHO("2001:db9::1", 5060, TP_UDP));
	assert_string_equal(identify_by_account(c, "alice")->name, "acct");
	assert_null(identify_by_account(c, "bob"));
	assert_null(identify_by_account(c, ""));
	assert_int_equal(source_parse("10.0.0.1/33", &src), -EINVAL);
	assert_int_equal(source_parse("10.0.0.1/", &src), -EINVAL);
	assert_int_equal(source_parse("host.example", &src), -EINVAL);
	assert_int_equal(source_parse("10.0.0.7", &src), 0);
	assert_int_equal(src.plen, 32);
	/* v4-mapped (issue 15): an IPv4 peer so spelt is the IPv4 peer; an
	 * IPv6 network never takes it, an ACL so written is the IPv4 one. */
	assert_string_equal(WHO("::ffff:10.1.2.9", 5060, TP_UDP)->name, "narrow");
	assert_null(WHO("::ffff:11.0.0.1", 5060, TP_UDP));
	memset(&src, 0, sizeof(src));	/* port 0, TP_ANY */
	assert_int_equal(source_parse("::ffff:10.0.0.0/104", &src), 0);
	assert_int_equal(src.net.ss_family, AF_INET);
	assert_int_equal(src.plen, 8);
	s = sa("10.200.0.1", 1);
	assert_true(source_match(&src, (struct sockaddr *)&s, TP_UDP));
	assert_int_equal(source_parse("::/0", &src), 0);
	assert_false(source_match(&src, (struct sockaddr *)&s, TP_UDP));
	s = sa("::ffff:10.200.0.1", 1);
	assert_false(source_match(&src, (struct sockaddr *)&s, TP_UDP));
	config_unref(c);
}

static double fixed_r;
static double
rnd_fixed(void)
{
	return fixed_r;
}

static const char *lcr_conf =
	"{\"trunks\": [{\"name\": \"a\", \"sources\": [\"10.0.0.1\"]}, {\"name\": \"b\", \"sources\": [\"10.0.0.2\"]}],"
	" \"gateways\": [{\"name\": \"g1\", \"host\": \"h1\"}, {\"name\": \"g2\", \"host\": \"h2\"},"
	"   {\"name\": \"g3\", \"host\": \"h3\"}, {\"name\": \"g4\", \"host\": \"h4\"}],"
	" \"carriers\": ["
	"   {\"name\": \"cheap\", \"gateways\": [{\"gateway\": \"g1\", \"priority\": 1, \"weight\": 1},"
	"       {\"gateway\": \"g2\", \"priority\": 1, \"weight\": 3}, {\"gateway\": \"g3\", \"priority\": 2}]},"
	"   {\"name\": \"safe\", \"gateways\": [\"g4\", \"g1\"]}],"
	" \"lcr\": [{\"name\": \"t\", \"prefixes\": ["
	"   {\"prefix\": \"44\", \"carriers\": [\"safe\"]},"
	"   {\"prefix\": \"4420\", \"carriers\": [\"cheap\", \"safe\"]},"
	"   {\"prefix\": \"\", \"carriers\": [\"safe\"]}]},"
	"  {\"name\": \"nodefault\", \"prefixes\": [{\"prefix\": \"1\", \"carriers\": [\"safe\"]}]}],"
	" \"routes\": ["
	"   {\"name\": \"vip\", \"trunk\": \"b\", \"from\": \"^sip:vip@\", \"carriers\": [\"cheap\"]},"
	"   {\"name\": \"us\", \"ruri\": \"^sips?:1\", \"lcr\": \"nodefault\"},"
	"   {\"name\": \"rest\", \"lcr\": \"t\"}]}";

static void
test_route(void **state)
{
	struct ctl_conf *c = load(lcr_conf);
	struct candidate cand[CTL_MAX_CANDIDATES];
	const struct route *r;
	int n;

	assert_string_equal(lcr_longest(&c->tables[0], "442071234")->prefix, "4420");
	assert_string_equal(lcr_longest(&c->tables[0], "+4413")->prefix, "44");
	assert_string_equal(lcr_longest(&c->tables[0], "33")->prefix, "");
	assert_null(lcr_longest(&c->tables[1], "33"));

	/* longest prefix 4420: cheap (g1/g2 by weight, then g3), then safe (g4; g1 not twice) */
	fixed_r = 0.0;	/* picks the first eligible: g1 */
	n = route_lookup(c, &c->trunks[0], "sip:4420777@x", "sip:a@y", "4420777",
	    rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
	assert_string_equal(r->name, "rest");
	assert_int_equal(n, 4);
	assert_string_equal(cand[0].gw->name, "g1");
	assert_string_equal(cand[1].gw->name, "g2");
	assert_string_equal(cand[2].gw->name, "g3");
	assert_string_equal(cand[3].gw->name, "g4");
	assert_string_equal(cand[3].carrier, "safe");
	fixed_r = 0.5;	/* 0.5 * 4 = 2 >= weight of g1 (1): g2 first */
	n = route_lookup(c, &c->trunks[0], "sip:4420777@x", "sip:a@y", "4420777",
	    rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
	assert_int_equal(n, 4);
	assert_string_equal(cand[0].gw->name, "g2");
	assert_string_equal(cand[1].gw->name, "g1");
	/* prefix 44: safe only, its gateways in list order */
	n = route_lookup(c, &c->trunks[0], "sip:4413@x", "sip:a@y", "4413",
	    rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
	assert_int_equal(n, 2);
	assert_string_equal(cand[0].gw->name, "g4");
	/* rule on trunk + From */
	n = route_lookup(c, &c->trunks[1], "sip:4413@x", "sip:vip@y", "4413",
	    rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
	assert_string_equal(r->name, "vip");
	assert_int_equal(n, 3);
	/* the same From on the other trunk does not match the rule */
	route_lookup(c, &c->trunks[0], "sip:4413@x", "sip:vip@y", "4413",
	    rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
	assert_string_equal(r->name, "rest");
	/* request-URI rule whose table has no entry: no route */
	n = route_lookup(c, &c->trunks[0], "sip:33@x", "sip:a@y", "33",
	    rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
	assert_int_equal(n, 2);
	n = route_lookup(c, &c->trunks[0], "sip:1999@x", "sip:a@y", "99",
	    rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
	assert_string_equal(r->name, "us");
	assert_int_equal(n, 0);
	/* the list is cut at max */
	n = route_lookup(c, &c->trunks[0], "sip:4420777@x", "sip:a@y", "4420777",
	    rnd_fixed, cand, 2, &r);
	assert_int_equal(n, 2);
	config_unref(c);
}

static void
test_weights_spread(void **state)
{
	struct ctl_conf *c = load(lcr_conf);
	struct candidate cand[CTL_MAX_CANDIDATES];
	const struct route *r;
	int first_g2 = 0;

	for (int i = 0; i < 400; i++) {
		fixed_r = (i + 0.5) / 400.0;
		route_lookup(c, &c->trunks[0], "sip:4420777@x", "sip:a@y",
		    "4420777", rnd_fixed, cand, CTL_MAX_CANDIDATES, &r);
		first_g2 += strcmp(cand[0].gw->name, "g2") == 0;
	}
	assert_int_equal(first_g2, 300);	/* weight 3 of 4 */
	config_unref(c);
}

static void
test_limits(void **state)
{
	struct ctl ctl = { 0 };
	struct trunk t = { .name = "t", .max_calls = 2, .max_cps = 2 };

	assert_int_equal(limits_admit(&ctl, &t, 100.0), 0);
	assert_int_equal(limits_admit(&ctl, &t, 100.0), 0);
	assert_true(limits_admit(&ctl, &t, 100.0) > 0);	/* 2 active */
	limits_release(&ctl, "t");
	limits_release(&ctl, "t");
	assert_true(limits_admit(&ctl, &t, 100.1) > 0);	/* bucket empty */
	assert_int_equal(limits_admit(&ctl, &t, 100.7), 0);	/* refilled 1.2 */
	assert_int_equal(limits_get(&ctl, "t")->active, 1);
	assert_int_equal(limits_get(&ctl, "t")->rejected, 2);
	limits_free(&ctl);
}

static const char *offer =
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.10\r\n"
	"t=0 0\r\n"
	"m=audio 49170 RTP/AVP 0 8 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-15\r\n"
	"a=rtcp:49175\r\n"
	"a=x-custom:keep me\r\n"
	"a=sendrecv\r\n"
	"m=video 0 RTP/AVP 31\r\n"
	"m=image 49180 udptl t38\r\n"
	"c=IN IP4 192.0.2.11\r\n"
	"a=sendonly\r\n";

static void
test_sdp(void **state)
{
	char err[160];
	struct media_desc *m = sdp_to_media(offer, strlen(offer), err, sizeof(err));
	struct media_desc relay = { 3, {
		{ .address = "203.0.113.5", .rtp_port = 30000, .rtcp_port = 30001 },
		{ .address = "203.0.113.5", .rtp_port = 0 },
		{ .address = "203.0.113.5", .rtp_port = 30002, .rtcp_port = 30009 },
	} };
	struct sdp_origin o = { 0, 6, 0, NULL };
	char *out;

	assert_non_null(m);
	assert_int_equal(m->n, 3);
	assert_string_equal(m->line[0].address, "192.0.2.10");
	assert_int_equal(m->line[0].rtp_port, 49170);
	assert_int_equal(m->line[0].rtcp_port, 49175);
	assert_string_equal(m->line[0].transport, "RTP/AVP");
	assert_string_equal(m->line[0].type, "audio");
	assert_string_equal(m->line[0].direction, "sendrecv");
	assert_int_equal(m->line[1].rtp_port, 0);
	assert_string_equal(m->line[2].type, "image");
	assert_string_equal(m->line[2].address, "192.0.2.11");
	assert_string_equal(m->line[2].direction, "sendonly");
	free(m);

	out = sdp_rewrite(offer, strlen(offer), &relay, &o, err, sizeof(err));
	assert_non_null(out);
	assert_non_null(strstr(out, " 7 IN IP4 203.0.113.5"));	/* test_ctl_sdp.c */
	assert_non_null(strstr(out, "c=IN IP4 203.0.113.5"));
	assert_null(strstr(out, "192.0.2."));
	assert_non_null(strstr(out, "m=audio 30000 RTP/AVP 0 8 101"));
	assert_non_null(strstr(out, "a=rtcp:30001"));
	assert_non_null(strstr(out, "m=video 0 RTP/AVP 31"));
	assert_non_null(strstr(out, "m=image 30002 udptl t38"));
	assert_non_null(strstr(out, "a=rtcp:30009"));	/* added: not port+1 */
	assert_non_null(strstr(out, "a=fmtp:101 0-15"));
	assert_non_null(strstr(out, "a=x-custom:keep me"));
	assert_non_null(strstr(out, "a=sendrecv"));
	assert_non_null(strstr(out, "a=sendonly"));
	free(out);

	/* fewer relay media than m= lines */
	relay.n = 2;
	assert_null(sdp_rewrite(offer, strlen(offer), &relay, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "fewer media"));

	/* an address longer than the relay takes: refused, not cut */
	{
		char body[512];
		snprintf(body, sizeof(body), "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n"
		    "s=-\r\nc=IN IP4 %0100d\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", 1);
		assert_null(sdp_to_media(body, strlen(body), err, sizeof(err)));
	}
	sdp_origin_clear(&o);

	assert_null(sdp_to_media("garbage", 7, err, sizeof(err)));
	assert_null(sdp_to_media("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n", 42, err, sizeof(err)));
	{
		const char *noc = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
		    "m=audio 4000 RTP/AVP 0\r\n";
		assert_null(sdp_to_media(noc, strlen(noc), err, sizeof(err)));
		assert_non_null(strstr(err, "c="));
	}
}

/*
 * Bodies that make Sofia 1.12.11's sdp_parse() take all memory or loop
 * (found by fuzz_sdp): refused by the pre-check, quickly.
 */
static void
test_sdp_parser_traps(void **state)
{
	static const char *const traps[] = {
		"m=image 4000 udptl /0\r\n",
		"m=audio 46 a::b 0\r\n",
		"m=image 4000 udptl x::\r\n",
		"m=aud3/008/00rtc 49170 RTPseux\r\n",
		" m=i 4n0\r\n",
		"m=audio 4000/2 RTP/AVP 0\r\n",
		"m=audio 4000 RTP/AVP 0\rx=1\r\n",
		"m=audio 4000 RTP/AVP 0\r\n\x01\r\n",
		NULL,
	};
	char body[256], err[160];

	for (int i = 0; traps[i] != NULL; i++) {
		snprintf(body, sizeof(body), "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
		    "s=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n%s", traps[i]);
		assert_null(sdp_to_media(body, strlen(body), err, sizeof(err)));
		assert_non_null(strstr(err, "bad SDP"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transforms),
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_weights_spread),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_sdp),
		cmocka_unit_test(test_sdp_parser_traps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
