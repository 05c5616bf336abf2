/*
 * test_ctl_sdp.c: the SDP we send names the relay and nothing of the far
 * side (controller/sdp.c): every c= is the relay's, rejected streams
 * too; ICE and other address-carrying attributes are gone; o= username
 * and session id are ours and differ between legs, the version grows by
 * one only when the body changes; s= is "-"; :: is a hold like 0.0.0.0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "controller.h"

/* A caller that tells too much: private addresses everywhere. */
static const char *leaky =
	"v=0\r\n"
	"o=alice-pbx 1234567890123 2890844526 IN IP4 10.11.12.13\r\n"
	"s=Alice Secret PBX\r\n"
	"i=office of alice\r\n"
	"u=http://pbx.alice.example/\r\n"
	"e=alice@alice.example\r\n"
	"p=+1 555 0100\r\n"
	"c=IN IP4 10.11.12.13\r\n"
	"t=0 0\r\n"
	"a=ice-lite\r\n"
	"a=ice-options:trickle\r\n"
	"a=rtcp:9 IN IP4 10.11.12.99\r\n"
	"m=audio 49170 RTP/AVP 0 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=rtcp:49171 IN IP4 10.11.12.14\r\n"
	"a=ice-ufrag:F7gI\r\n"
	"a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
	"a=candidate:1 1 UDP 2130706431 10.11.12.13 49170 typ host\r\n"
	"a=candidate:2 1 UDP 1694498815 198.51.100.77 61665 typ srflx raddr 10.11.12.13 rport 49170\r\n"
	"a=remote-candidates:1 10.11.12.15 5000\r\n"
	"a=end-of-candidates\r\n"
	"a=altc:1 IP6 fd00::13 49170\r\n"
	"a=ssrc:314159 cname:alice@10.11.12.13\r\n"
	"a=x-custom:keep me\r\n"
	"a=sendrecv\r\n"
	"m=video 0 RTP/AVP 31\r\n"
	"c=IN IP4 172.16.99.5\r\n"
	"a=rtcp:6001 IN IP4 172.16.99.5\r\n"
	"a=candidate:1 1 UDP 2130706431 172.16.99.5 6000 typ host\r\n";

static struct media_desc
relay_reply(const char *addr)
{
	struct media_desc r = { 2, {
		{ .rtp_port = 30000, .rtcp_port = 30001 },
		{ .rtp_port = 0 },
	} };

	snprintf(r.line[0].address, sizeof(r.line[0].address), "%s", addr);
	snprintf(r.line[1].address, sizeof(r.line[1].address), "%s", addr);
	return r;
}

static char *
rewrite(const char *body, const char *addr, struct sdp_origin *o)
{
	char err[160];
	struct media_desc r = relay_reply(addr);
	char *out = sdp_rewrite(body, strlen(body), &r, o, err, sizeof(err));

	if (out == NULL)
		fail_msg("rewrite: %s", err);
	return out;
}

/* Every c= line in out names addr. */
static void
assert_all_c(const char *out, const char *want)
{
	int n = 0;

	for (const char *p = out; (p = strstr(p, "c=")) != NULL; p++) {
		if (p != out && p[-1] != '\n')
			continue;
		assert_int_equal(strncmp(p, want, strlen(want)), 0);
		assert_true(p[strlen(want)] == '\r' || p[strlen(want)] == '\n');
		n++;
	}
	assert_true(n > 0);
}

static void
test_rejected_stream_c_is_rewritten(void **state)
{
	struct sdp_origin o = { 0, 0, 0, NULL };
	char *out = rewrite(leaky, "203.0.113.5", &o);

	assert_non_null(strstr(out, "m=video 0 RTP/AVP 31"));
	assert_null(strstr(out, "172.16.99.5"));
	assert_all_c(out, "c=IN IP4 203.0.113.5");
	/* the rejected stream's a=rtcp is dropped, the live one rewritten */
	assert_non_null(strstr(out, "a=rtcp:30001\r\n"));
	assert_null(strstr(out, "a=rtcp:6001"));
	free(out);
	sdp_origin_clear(&o);
}

static void
test_ice_and_address_attributes_stripped(void **state)
{
	static const char *const gone[] = { "a=candidate", "a=ice-",
	    "a=remote-candidates", "a=end-of-candidates", "a=altc", "a=ssrc",
	    "a=rtcp:9", "10.11.12.", "198.51.100.77", "fd00::", NULL };
	struct sdp_origin o = { 0, 0, 0, NULL };
	char *out = rewrite(leaky, "203.0.113.5", &o);

	for (int i = 0; gone[i] != NULL; i++)
		if (strstr(out, gone[i]) != NULL)
			fail_msg("'%s' is still in:\n%s", gone[i], out);
	/* what is not the far side's passes */
	assert_non_null(strstr(out, "a=rtpmap:101 telephone-event/8000"));
	assert_non_null(strstr(out, "a=x-custom:keep me"));
	assert_non_null(strstr(out, "a=sendrecv"));
	assert_non_null(strstr(out, "m=audio 30000 RTP/AVP 0 101"));
	free(out);
	sdp_origin_clear(&o);
}

static void
test_origin_and_name_ours_per_leg(void **state)
{
	struct sdp_origin a = { 0, 0, 0, NULL }, b = { 0, 0, 0, NULL };
	char *oa = rewrite(leaky, "203.0.113.5", &a);
	char *ob = rewrite(leaky, "198.51.100.9", &b);
	unsigned long long ida, idb, va, vb;
	char ua[32], ub[32];

	for (int i = 0; i < 2; i++) {
		const char *out = i ? ob : oa;
		assert_null(strstr(out, "alice"));
		assert_null(strstr(out, "1234567890123"));
		assert_null(strstr(out, "2890844526"));
		assert_null(strstr(out, "Secret"));
		assert_non_null(strstr(out, "\r\ns=-\r\n"));
		assert_null(strstr(out, "\r\ni="));
		assert_null(strstr(out, "\r\nu="));
		assert_null(strstr(out, "\r\ne="));
		assert_null(strstr(out, "\r\np="));
	}
	assert_int_equal(sscanf(strstr(oa, "o="), "o=%31s %llu %llu", ua, &ida,
	    &va), 3);
	assert_int_equal(sscanf(strstr(ob, "o="), "o=%31s %llu %llu", ub, &idb,
	    &vb), 3);
	assert_string_equal(ua, "-");
	assert_string_equal(ub, "-");
	assert_true(ida != idb);
	assert_true(ida == a.session && idb == b.session);
	assert_int_equal(va, 1);
	assert_int_equal(vb, 1);
	assert_non_null(strstr(oa, " IN IP4 203.0.113.5\r\n"));
	assert_non_null(strstr(ob, " IN IP4 198.51.100.9\r\n"));
	free(oa);
	free(ob);
	sdp_origin_clear(&a);
	sdp_origin_clear(&b);
}

/* RFC 3264 section 8: same o= on a leg, version +1 per changed body. */
static void
test_origin_version_per_leg(void **state)
{
	struct sdp_origin a = { 0, 0, 0, NULL };
	char *first = rewrite(leaky, "203.0.113.5", &a);
	uint64_t id = a.session;
	char *same = rewrite(leaky, "203.0.113.5", &a);
	char *moved = rewrite(leaky, "203.0.113.6", &a);
	char want[80];

	assert_string_equal(first, same);	/* a refresh: unchanged */
	assert_int_equal(a.session, id);
	assert_int_equal(a.version, 2);
	snprintf(want, sizeof(want), "o=- %llu 2 IN IP4 203.0.113.6\r\n",
	    (unsigned long long)id);
	assert_non_null(strstr(moved, want));
	free(first);
	free(same);
	free(moved);
	sdp_origin_clear(&a);
}

static void
test_ipv6_unspecified_is_hold(void **state)
{
	static const char *held =
		"v=0\r\n"
		"o=bob 42 42 IN IP6 fd00::42\r\n"
		"s=-\r\n"
		"c=IN IP6 ::\r\n"
		"t=0 0\r\n"
		"m=audio 49170 RTP/AVP 0\r\n"
		"a=sendonly\r\n"
		"m=video 0 RTP/AVP 31\r\n"
		"c=IN IP6 0::0\r\n";
	struct sdp_origin o = { 0, 0, 0, NULL };
	char *v4 = rewrite(held, "203.0.113.5", &o);
	char *v6 = rewrite(held, "2001:db8::5", &o);

	/* a hold, spelt in the relay's family; never the relay's address */
	assert_all_c(v4, "c=IN IP4 0.0.0.0");
	assert_all_c(v6, "c=IN IP6 ::");
	assert_null(strstr(v4, "fd00::42"));
	assert_non_null(strstr(v4, " IN IP4 203.0.113.5\r\n"));	/* o= */
	assert_non_null(strstr(v6, " IN IP6 2001:db8::5\r\n"));
	free(v4);
	free(v6);
	{
		/* and 0.0.0.0 stays a hold, too */
		static const char *held4 = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n"
		    "s=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
		    "m=video 0 RTP/AVP 31\r\n";
		char *out = rewrite(held4, "203.0.113.5", &o);
		assert_all_c(out, "c=IN IP4 0.0.0.0");
		free(out);
		sdp_origin_clear(&o);
	}
}

/* fork.c's answer to a losing late 2xx: every stream declined, hold
 * addresses, nothing of the offerer's (addresses, ICE, names). */
static void
test_decline_rejects_every_stream(void **state)
{
	char err[160];
	char *out = sdp_decline(leaky, strlen(leaky), err, sizeof(err));

	if (out == NULL)
		fail_msg("decline: %s", err);
	assert_non_null(strstr(out, "m=audio 0 RTP/AVP 0 101"));
	assert_non_null(strstr(out, "m=video 0 RTP/AVP 31"));
	assert_all_c(out, "c=IN IP4 0.0.0.0");
	assert_null(strstr(out, "10.11.12."));
	assert_null(strstr(out, "172.16.99.5"));
	assert_null(strstr(out, "198.51.100.77"));
	assert_null(strstr(out, "a=candidate"));
	assert_null(strstr(out, "alice"));
	assert_null(strstr(out, "a=rtcp"));
	free(out);
	assert_null(sdp_decline("garbage", 7, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rejected_stream_c_is_rewritten),
		cmocka_unit_test(test_ice_and_address_attributes_stripped),
		cmocka_unit_test(test_origin_and_name_ours_per_leg),
		cmocka_unit_test(test_origin_version_per_leg),
		cmocka_unit_test(test_ipv6_unspecified_is_hold),
		cmocka_unit_test(test_decline_rejects_every_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
