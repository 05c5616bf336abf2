/*
 * srtp.c: SRTP and SRTCP of a WebRTC leg with libsrtp2. The keys come
 * from the leg's DTLS handshake (dtls.c): one libsrtp session decrypts
 * what the browser sends, another encrypts what the relay sends it (two,
 * because libsrtp keeps one "any SSRC" template per session). Profiles:
 * AES_CM_128_HMAC_SHA1_80 (RFC 5764) and AEAD_AES_128_GCM (RFC 7714).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <srtp2/srtp.h>

#include "relayd.h"

struct srtp_leg {
	srtp_t		 in;
	srtp_t		 out;
};

int
srtp_leg_lib_init(void)
{
	return srtp_init() == srtp_err_status_ok ? 0 : -EIO;
}

const char *
srtp_leg_profile_name(enum rtc_srtp_profile p)
{
	switch (p) {
	case RTC_SRTP_AES_CM_128_HMAC_SHA1_80:
		return "AES_CM_128_HMAC_SHA1_80";
	case RTC_SRTP_AEAD_AES_128_GCM:
		return "AEAD_AES_128_GCM";
	default:
		return "none";
	}
}

size_t
srtp_leg_key_len(enum rtc_srtp_profile p, size_t *salt)
{
	switch (p) {
	case RTC_SRTP_AES_CM_128_HMAC_SHA1_80:
		*salt = 14;
		return 16;
	case RTC_SRTP_AEAD_AES_128_GCM:
		*salt = 12;
		return 16;
	default:
		*salt = 0;
		return 0;
	}
}

static int
session(enum rtc_srtp_profile p, const uint8_t *key, bool inbound,
    srtp_t *out)
{
	srtp_policy_t pol;

	memset(&pol, 0, sizeof(pol));
	if (p == RTC_SRTP_AES_CM_128_HMAC_SHA1_80) {
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	} else if (p == RTC_SRTP_AEAD_AES_128_GCM) {
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
	} else
		return -EINVAL;
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.key = (unsigned char *)(uintptr_t)key;	/* libsrtp copies it */
	pol.window_size = 1024;
	/* The plain side may repeat a sequence number: send it anyway. */
	pol.allow_repeat_tx = 1;
	return srtp_create(out, &pol) == srtp_err_status_ok ? 0 : -EIO;
}

int
srtp_leg_new(const struct rtc_srtp_keys *k, struct srtp_leg **out)
{
	struct srtp_leg *s = calloc(1, sizeof(*s));
	size_t salt, len = srtp_leg_key_len(k->profile, &salt);
	int rc;

	if (s == NULL)
		return -ENOMEM;
	if (len == 0 || len + salt != k->len) {
		free(s);
		return -EINVAL;
	}
	if ((rc = session(k->profile, k->remote, true, &s->in)) < 0 ||
	    (rc = session(k->profile, k->local, false, &s->out)) < 0) {
		srtp_leg_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
srtp_leg_free(struct srtp_leg *s)
{
	if (s == NULL)
		return;
	if (s->in != NULL)
		srtp_dealloc(s->in);
	if (s->out != NULL)
		srtp_dealloc(s->out);
	free(s);
}

int
srtp_leg_unprotect(struct srtp_leg *s, uint8_t *p, size_t *len, bool rtcp)
{
	int n = (int)*len;
	srtp_err_status_t st;

	if (*len > RELAYD_MAX_PKT)
		return -EBADMSG;
	st = rtcp ? srtp_unprotect_rtcp(s->in, p, &n) :
	    srtp_unprotect(s->in, p, &n);
	if (st != srtp_err_status_ok || n < 0)
		return -EBADMSG;
	*len = (size_t)n;
	return 0;
}

int
srtp_leg_protect(struct srtp_leg *s, uint8_t *p, size_t *len, bool rtcp)
{
	int n = (int)*len;
	srtp_err_status_t st;

	if (*len > RELAYD_MAX_PKT)
		return -EMSGSIZE;
	st = rtcp ? srtp_protect_rtcp(s->out, p, &n) :
	    srtp_protect(s->out, p, &n);
	if (st != srtp_err_status_ok || n < 0)
		return -EIO;
	*len = (size_t)n;
	return 0;
}
