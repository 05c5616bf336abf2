/*
 * test_relay_stun.c: relayd's STUN for ICE-lite (stun.c) against the
 * RFC 5769 test vectors (sample request, sample IPv4 response), the
 * answer it builds, and what it refuses: a wrong password, a flipped
 * integrity or fingerprint byte, a wrong USERNAME, truncated and
 * inconsistent messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "relayd.h"

/* RFC 5769 2.1: username "evtj:h6vY", password below, SOFTWARE,
 * PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT. */
static const uint8_t rfc_req[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
	0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
	0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
	0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
	0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
	0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
	0x59, 0x20, 0x20, 0x20,
	0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56,
	0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2,
	0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 2.2: Binding success, XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
static const uint8_t rfc_resp4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
	0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20,
	0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
	0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
	0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
	0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

static const char rfc_pwd[] = "VOkJxbRl1RmTxUk/WvJxBt";

static void
test_rfc5769_request_parses_and_verifies(void **state)
{
	struct stun_msg m;

	assert_int_equal(stun_parse(rfc_req, sizeof(rfc_req), &m), 0);
	assert_int_equal(m.type, STUN_BINDING_REQUEST);
	assert_int_equal(m.username_len, 9);
	assert_memory_equal(m.username, "evtj:h6vY", 9);
	assert_int_equal(m.priority, 0x6e0001ff);
	assert_int_equal(m.role_attr, 2);	/* ICE-CONTROLLED */
	assert_false(m.use_candidate);
	assert_true(stun_integrity_ok(rfc_req, &m, rfc_pwd, strlen(rfc_pwd)));
	assert_true(stun_fingerprint_ok(rfc_req, &m));
	/* Our ufrag is the part before the colon (the responder's). */
	assert_true(stun_username_ok(&m, "evtj", "h6vY"));
	assert_true(stun_username_ok(&m, "evtj", NULL));
	assert_false(stun_username_ok(&m, "evtj", "h6vZ"));
	assert_false(stun_username_ok(&m, "evt", NULL));
	assert_false(stun_username_ok(&m, "h6vY", NULL));
}

static void
test_rfc5769_ipv4_response_mapped_address(void **state)
{
	struct sockaddr_storage want;
	struct stun_msg m;

	assert_int_equal(stun_parse(rfc_resp4, sizeof(rfc_resp4), &m), 0);
	assert_int_equal(m.type, STUN_BINDING_SUCCESS);
	assert_true(m.has_xor_mapped);
	assert_int_equal(addr_parse("192.0.2.1", 32853, &want), 0);
	assert_true(addr_equal(&m.xor_mapped, &want));
	assert_true(stun_integrity_ok(rfc_resp4, &m, rfc_pwd, strlen(rfc_pwd)));
	assert_true(stun_fingerprint_ok(rfc_resp4, &m));
}

static void
test_wrong_password_or_flipped_bytes_fail(void **state)
{
	uint8_t p[sizeof(rfc_req)];
	struct stun_msg m;

	assert_int_equal(stun_parse(rfc_req, sizeof(rfc_req), &m), 0);
	assert_false(stun_integrity_ok(rfc_req, &m, "VOkJxbRl1RmTxUk/WvJxBu",
	    22));
	assert_false(stun_integrity_ok(rfc_req, &m, "", 0));
	/* A byte of the HMAC itself. */
	memcpy(p, rfc_req, sizeof(p));
	p[m.mi_off + 4] ^= 1;
	assert_int_equal(stun_parse(p, sizeof(p), &m), 0);
	assert_false(stun_integrity_ok(p, &m, rfc_pwd, strlen(rfc_pwd)));
	/* A byte the HMAC covers (PRIORITY). */
	memcpy(p, rfc_req, sizeof(p));
	p[44] ^= 0x80;
	assert_int_equal(stun_parse(p, sizeof(p), &m), 0);
	assert_false(stun_integrity_ok(p, &m, rfc_pwd, strlen(rfc_pwd)));
	assert_false(stun_fingerprint_ok(p, &m));
	/* The FINGERPRINT value. */
	memcpy(p, rfc_req, sizeof(p));
	p[sizeof(p) - 1] ^= 1;
	assert_int_equal(stun_parse(p, sizeof(p), &m), 0);
	assert_true(stun_integrity_ok(p, &m, rfc_pwd, strlen(rfc_pwd)));
	assert_false(stun_fingerprint_ok(p, &m));
}

static void
test_malformed_messages_refused(void **state)
{
	uint8_t p[sizeof(rfc_req)];
	struct stun_msg m;

	/* Not STUN at all (RTP, DTLS, short). */
	assert_int_equal(stun_parse((const uint8_t *)"\x80\x00\x00\x01", 4, &m),
	    -EINVAL);
	assert_int_equal(stun_parse(rfc_req, 19, &m), -EINVAL);
	memcpy(p, rfc_req, sizeof(p));
	p[4] ^= 1;			/* magic cookie */
	assert_int_equal(stun_parse(p, sizeof(p), &m), -EINVAL);
	/* Length field disagrees with the datagram. */
	assert_int_equal(stun_parse(rfc_req, sizeof(rfc_req) - 4, &m),
	    -EBADMSG);
	memcpy(p, rfc_req, sizeof(p));
	p[3] = 0x59;			/* not a multiple of 4 */
	assert_int_equal(stun_parse(p, sizeof(p), &m), -EBADMSG);
	/* An attribute running past the end. */
	memcpy(p, rfc_req, sizeof(p));
	p[22] = 0x00;
	p[23] = 0xf0;
	assert_int_equal(stun_parse(p, sizeof(p), &m), -EBADMSG);
	/* MESSAGE-INTEGRITY of the wrong size. */
	memcpy(p, rfc_req, sizeof(p));
	p[78] = 0x00;
	p[79] = 0x10;
	assert_int_equal(stun_parse(p, sizeof(p), &m), -EBADMSG);
}

static void
test_binding_success_roundtrip(void **state)
{
	const uint8_t txid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct sockaddr_storage a, a6;
	struct stun_msg m;
	uint8_t out[256];
	int n;

	assert_int_equal(addr_parse("10.0.1.2", 40000, &a), 0);
	n = stun_binding_success(txid, &a, "secretpassword", 14, out,
	    sizeof(out));
	assert_true(n > 0);
	assert_int_equal(stun_parse(out, (size_t)n, &m), 0);
	assert_int_equal(m.type, STUN_BINDING_SUCCESS);
	assert_memory_equal(m.txid, txid, 12);
	assert_true(m.has_xor_mapped);
	assert_true(addr_equal(&m.xor_mapped, &a));
	assert_true(stun_integrity_ok(out, &m, "secretpassword", 14));
	assert_false(stun_integrity_ok(out, &m, "secretpassworD", 14));
	assert_true(stun_fingerprint_ok(out, &m));

	assert_int_equal(addr_parse("2001:db8::7", 5000, &a6), 0);
	n = stun_binding_success(txid, &a6, "pw", 2, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(stun_parse(out, (size_t)n, &m), 0);
	assert_true(addr_equal(&m.xor_mapped, &a6));
	assert_true(stun_fingerprint_ok(out, &m));

	/* No room: refused, not truncated. */
	assert_int_equal(stun_binding_success(txid, &a, "pw", 2, out, 40),
	    -ENOSPC);
}

static void
test_binding_request_roundtrip(void **state)
{
	const uint8_t txid[12] = { 9 };
	struct stun_msg m;
	uint8_t out[256];
	int n;

	n = stun_binding_request(txid, "ours:theirs", 12345, true,
	    "0123456789012345678901", 22, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(stun_parse(out, (size_t)n, &m), 0);
	assert_int_equal(m.type, STUN_BINDING_REQUEST);
	assert_true(m.use_candidate);
	assert_int_equal(m.priority, 12345);
	assert_int_equal(m.role_attr, 1);
	assert_true(stun_username_ok(&m, "ours", "theirs"));
	assert_true(stun_integrity_ok(out, &m, "0123456789012345678901", 22));
	assert_true(stun_fingerprint_ok(out, &m));
}

static void
test_crc32_reference(void **state)
{
	/* The CRC-32 check value of "123456789". */
	assert_int_equal(stun_crc32((const uint8_t *)"123456789", 9),
	    0xcbf43926u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5769_request_parses_and_verifies),
		cmocka_unit_test(test_rfc5769_ipv4_response_mapped_address),
		cmocka_unit_test(test_wrong_password_or_flipped_bytes_fail),
		cmocka_unit_test(test_malformed_messages_refused),
		cmocka_unit_test(test_binding_success_roundtrip),
		cmocka_unit_test(test_binding_request_roundtrip),
		cmocka_unit_test(test_crc32_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
