/*
 * test_relay_webrtc.c: the crypto of relayd's WebRTC legs without a
 * network: two DTLS ends (dtls.c) over an in-memory wire agree on SRTP
 * keys, refuse a certificate that is not the SDP fingerprint, and the
 * keys they export protect and unprotect RTP/RTCP (srtp.c) in both
 * profiles, with a bad tag refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relayd.h"

#define WIRE_MAX	64

struct wire {
	uint8_t		 pkt[WIRE_MAX][2048];
	size_t		 len[WIRE_MAX];
	int		 n;
};

static void
wire_send(void *arg, const uint8_t *p, size_t len)
{
	struct wire *w = arg;

	assert_true(w->n < WIRE_MAX && len <= 2048);
	memcpy(w->pkt[w->n], p, len);
	w->len[w->n++] = len;
}

/* Deliver everything queued on `w` to `to`; the last step seen. */
static enum dtls_step
deliver(struct wire *w, struct dtls_conn *to, enum dtls_step last)
{
	for (int i = 0; i < w->n; i++) {
		enum dtls_step s = dtls_conn_input(to, w->pkt[i], w->len[i]);
		if (s != DTLS_STEP_AGAIN)
			last = s;
	}
	w->n = 0;
	return last;
}

static struct relayd *
relayd_with_cert(void)
{
	static struct relayd rd;
	char err[256];

	memset(&rd, 0, sizeof(rd));
	config_defaults(&rd.conf);
	assert_int_equal(dtls_ctx_open(&rd, err, sizeof(err)), 0);
	return &rd;
}

static void
handshake(struct relayd *rd, const uint8_t *server_wants,
    enum dtls_step *ss, enum dtls_step *cs, struct dtls_conn **sp,
    struct dtls_conn **cp)
{
	static struct wire to_client, to_server;
	uint8_t fp[DTLS_FP_LEN];
	struct dtls_conn *s, *c;

	to_client.n = to_server.n = 0;
	assert_int_equal(dtls_fingerprint_parse(dtls_fingerprint(rd), fp), 0);
	s = dtls_conn_new(rd->dtls, true, server_wants, wire_send, &to_client);
	c = dtls_conn_new(rd->dtls, false, fp, wire_send, &to_server);
	assert_non_null(s);
	assert_non_null(c);
	*ss = DTLS_STEP_AGAIN;
	*cs = dtls_conn_start(c);
	for (int round = 0; round < 10 && (to_server.n || to_client.n);
	    round++) {
		*ss = deliver(&to_server, s, *ss);
		*cs = deliver(&to_client, c, *cs);
	}
	*sp = s;
	*cp = c;
}

static void
test_dtls_handshake_exports_matching_keys(void **state)
{
	struct relayd *rd = relayd_with_cert();
	struct rtc_srtp_keys ks, kc;
	struct dtls_conn *s, *c;
	enum dtls_step ss, cs;
	uint8_t fp[DTLS_FP_LEN];

	assert_int_equal(dtls_fingerprint_parse(dtls_fingerprint(rd), fp), 0);
	handshake(rd, fp, &ss, &cs, &s, &c);
	assert_int_equal(ss, DTLS_STEP_DONE);
	assert_int_equal(cs, DTLS_STEP_DONE);
	assert_int_equal(dtls_conn_srtp_keys(s, &ks), 0);
	assert_int_equal(dtls_conn_srtp_keys(c, &kc), 0);
	/* Both offer GCM first: it wins. */
	assert_int_equal(ks.profile, RTC_SRTP_AEAD_AES_128_GCM);
	assert_int_equal(ks.len, 28);
	assert_memory_equal(ks.local, kc.remote, ks.len);
	assert_memory_equal(ks.remote, kc.local, ks.len);
	assert_memory_not_equal(ks.local, ks.remote, ks.len);
	dtls_conn_free(s);
	dtls_conn_free(c);
	dtls_ctx_close(rd);
}

static void
test_dtls_wrong_fingerprint_refused(void **state)
{
	struct relayd *rd = relayd_with_cert();
	uint8_t wrong[DTLS_FP_LEN];
	struct rtc_srtp_keys k;
	struct dtls_conn *s, *c;
	enum dtls_step ss, cs;

	memset(wrong, 0xab, sizeof(wrong));
	handshake(rd, wrong, &ss, &cs, &s, &c);
	assert_int_equal(ss, DTLS_STEP_FAILED);
	assert_true(dtls_conn_bad_fingerprint(s));
	assert_int_not_equal(cs, DTLS_STEP_DONE);
	assert_int_not_equal(dtls_conn_srtp_keys(s, &k), 0);
	dtls_conn_free(s);
	dtls_conn_free(c);
	dtls_ctx_close(rd);
}

static void
test_fingerprint_text(void **state)
{
	uint8_t fp[DTLS_FP_LEN];
	char good[] = "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	    "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff";

	assert_int_equal(dtls_fingerprint_parse(good, fp), 0);
	assert_int_equal(fp[10], 0xaa);
	assert_int_equal(fp[31], 0xff);
	good[10] = 'x';
	assert_int_equal(dtls_fingerprint_parse(good, fp), -EINVAL);
	assert_int_equal(dtls_fingerprint_parse("sha-1 00:11", fp), -EINVAL);
	assert_int_equal(dtls_fingerprint_parse("sha-256 00:11", fp), -EINVAL);
	assert_int_equal(dtls_fingerprint_parse(NULL, fp), -EINVAL);
}

static size_t
rtp_packet(uint8_t *p, uint16_t seq)
{
	memset(p, 0, 172);
	p[0] = 0x80;
	p[1] = 0;		/* PCMU */
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[11] = 0x42;		/* SSRC */
	memset(p + 12, 0xd5, 160);
	return 172;
}

static void
srtp_roundtrip(enum rtc_srtp_profile prof)
{
	struct rtc_srtp_keys a = { .profile = prof }, b;
	struct srtp_leg *sa, *sb;
	uint8_t p[2048 + RTC_SRTP_ROOM], orig[172];
	size_t salt, len;

	a.len = srtp_leg_key_len(prof, &salt) + salt;
	for (size_t i = 0; i < a.len; i++) {
		a.local[i] = (uint8_t)i;
		a.remote[i] = (uint8_t)(0x80 + i);
	}
	b = a;
	memcpy(b.local, a.remote, a.len);
	memcpy(b.remote, a.local, a.len);
	assert_int_equal(srtp_leg_new(&a, &sa), 0);
	assert_int_equal(srtp_leg_new(&b, &sb), 0);

	for (uint16_t seq = 1; seq <= 3; seq++) {
		len = rtp_packet(p, seq);
		memcpy(orig, p, len);
		assert_int_equal(srtp_leg_protect(sa, p, &len, false), 0);
		assert_true(len > 172);
		assert_memory_not_equal(p + 12, orig + 12, 160);
		assert_int_equal(srtp_leg_unprotect(sb, p, &len, false), 0);
		assert_int_equal(len, 172);
		assert_memory_equal(p, orig, 172);
	}
	/* A bad tag (last byte) is refused; the next good one passes. */
	len = rtp_packet(p, 10);
	assert_int_equal(srtp_leg_protect(sa, p, &len, false), 0);
	p[len - 1] ^= 1;
	assert_int_equal(srtp_leg_unprotect(sb, p, &len, false), -EBADMSG);
	/* A replay of a packet already taken is refused too. */
	len = rtp_packet(p, 11);
	assert_int_equal(srtp_leg_protect(sa, p, &len, false), 0);
	memcpy(orig, p, 172);
	{
		uint8_t copy[2048 + RTC_SRTP_ROOM];
		size_t clen = len;
		memcpy(copy, p, len);
		assert_int_equal(srtp_leg_unprotect(sb, p, &len, false), 0);
		assert_int_equal(srtp_leg_unprotect(sb, copy, &clen, false),
		    -EBADMSG);
	}
	/* SRTCP: a receiver report. */
	memset(p, 0, 8);
	p[0] = 0x80;
	p[1] = 201;
	p[3] = 1;
	p[7] = 0x42;
	len = 8;
	assert_int_equal(srtp_leg_protect(sa, p, &len, true), 0);
	assert_true(len > 8);
	assert_int_equal(srtp_leg_unprotect(sb, p, &len, true), 0);
	assert_int_equal(len, 8);
	srtp_leg_free(sa);
	srtp_leg_free(sb);
}

static void
test_srtp_aes_cm_roundtrip_and_bad_tag(void **state)
{
	srtp_roundtrip(RTC_SRTP_AES_CM_128_HMAC_SHA1_80);
}

static void
test_srtp_aes_gcm_roundtrip_and_bad_tag(void **state)
{
	srtp_roundtrip(RTC_SRTP_AEAD_AES_128_GCM);
}

/* libsrtp's state is process-wide: started once, like the daemon does. */
static int
group_setup(void **state)
{
	return srtp_leg_lib_init();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dtls_handshake_exports_matching_keys),
		cmocka_unit_test(test_dtls_wrong_fingerprint_refused),
		cmocka_unit_test(test_fingerprint_text),
		cmocka_unit_test(test_srtp_aes_cm_roundtrip_and_bad_tag),
		cmocka_unit_test(test_srtp_aes_gcm_roundtrip_and_bad_tag),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
