/*
 * test_ctl_multipart.c: SIP-I multipart bodies (controller/multipart.c).
 * The SDP part is found wherever it is, with or without a preamble, a
 * quoted boundary or the compact Content-Type; hostile bodies (no
 * closing delimiter, no blank line after the part headers, too many
 * parts, a boundary longer than RFC 2046 allows, no boundary) give no
 * SDP and no crash; a plain body is passed through whole.
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

#include <sofia-sip/sip_header.h>

static const char *sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
    "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/* multipart_sdp() on a message with this Content-Type and body. */
static int
sdp_of(const char *ctype, const char *body, char *out, size_t outlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sip_t sip;
	const char *b;
	size_t n;
	int rc;

	memset(&sip, 0, sizeof(sip));
	sip.sip_content_type = sip_content_type_make(home, ctype);
	sip.sip_payload = sip_payload_create(home, body, strlen(body));
	assert_non_null(sip.sip_content_type);
	rc = multipart_sdp(&sip, &b, &n);
	out[0] = '\0';
	if (n > 0 && b != NULL)
		snprintf(out, outlen, "%.*s", (int)n, b);
	su_home_deinit(home);
	return rc;
}

static void
test_sdp_part_found(void **state)
{
	char body[1024], out[512];

	snprintf(body, sizeof(body), "preamble\r\n--b1\r\nContent-Type: "
	    "application/ISUP;version=itu-t92+\r\n\r\n\x01\x02isup\r\n"
	    "--b1\r\nContent-Type: application/sdp\r\n\r\n%s\r\n--b1--\r\n",
	    sdp);
	assert_int_equal(sdp_of("multipart/mixed;boundary=b1", body, out,
	    sizeof(out)), 1);
	assert_string_equal(out, sdp);
	/* quoted boundary, compact header, no preamble */
	snprintf(body, sizeof(body), "--x y\r\nc: application/sdp\r\n\r\n%s"
	    "\r\n--x y--", sdp);
	assert_int_equal(sdp_of("multipart/mixed; boundary=\"x y\"", body, out,
	    sizeof(out)), 1);
	assert_string_equal(out, sdp);
}

static void
test_plain_body_whole(void **state)
{
	char out[512];

	assert_int_equal(sdp_of("application/sdp", sdp, out, sizeof(out)), 0);
	assert_string_equal(out, sdp);
}

static void
test_hostile_bodies(void **state)
{
	char body[4096], out[512], longb[100];
	size_t n = 0;

	/* no closing delimiter */
	snprintf(body, sizeof(body), "--b\r\nContent-Type: application/sdp"
	    "\r\n\r\n%s", sdp);
	assert_true(sdp_of("multipart/mixed;boundary=b", body, out,
	    sizeof(out)) < 0);
	/* part headers without the blank line */
	assert_true(sdp_of("multipart/mixed;boundary=b", "--b\r\nContent-Type: "
	    "application/sdp\r\n--b--\r\n", out, sizeof(out)) < 0);
	/* no boundary parameter, an empty body, a delimiter only */
	assert_true(sdp_of("multipart/mixed", "--b\r\n\r\nx\r\n--b--", out,
	    sizeof(out)) < 0);
	assert_true(sdp_of("multipart/mixed;boundary=b", "", out,
	    sizeof(out)) < 0);
	assert_true(sdp_of("multipart/mixed;boundary=b", "--b--", out,
	    sizeof(out)) < 0);
	/* a boundary longer than 70 characters */
	memset(longb, 'a', 80);
	longb[80] = '\0';
	snprintf(body, sizeof(body), "multipart/mixed;boundary=%s", longb);
	assert_true(sdp_of(body, "--x\r\n\r\nx\r\n--x--", out,
	    sizeof(out)) < 0);
	/* more parts than we keep */
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		    "--b\r\nContent-Type: text/plain\r\n\r\n%d\r\n", i);
	snprintf(body + n, sizeof(body) - n, "--b\r\nContent-Type: "
	    "application/sdp\r\n\r\n%s\r\n--b--\r\n", sdp);
	assert_true(sdp_of("multipart/mixed;boundary=b", body, out,
	    sizeof(out)) < 0);
	/* a multipart body without an SDP part */
	assert_true(sdp_of("multipart/mixed;boundary=b", "--b\r\nContent-Type: "
	    "application/ISUP\r\n\r\nx\r\n--b--\r\n", out, sizeof(out)) < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdp_part_found),
		cmocka_unit_test(test_plain_body_whole),
		cmocka_unit_test(test_hostile_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
