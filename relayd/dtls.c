/*
 * dtls.c: DTLS-SRTP for WebRTC legs (RFC 5763/5764) with OpenSSL.
 *
 * One SSL object per leg, fed through memory BIOs: Chromium's ClientHello
 * arrives in two datagrams, which DTLSv1_listen() cannot take, and the
 * leg's socket is shared with STUN and SRTP anyway (webrtc.c demuxes).
 * What OpenSSL writes is cut at record boundaries into datagrams of at
 * most DTLS_MTU bytes and handed to the leg's send callback.
 *
 * The certificate is the relay's own: ECDSA P-256, made at start (or
 * loaded from the files the configuration names); its SHA-256
 * fingerprint goes into our SDP. The peer's certificate is not checked
 * against any CA but against the fingerprint of its SDP: a mismatch fails
 * the handshake (the verify callback refuses it) and no keys exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "relayd.h"

#define DTLS_MTU	1200
#define DTLS_SRTP_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"

struct dtls_ctx {
	SSL_CTX		*ctx;
	char		 fingerprint[DTLS_FP_TEXT];
};

struct dtls_conn {
	SSL		*ssl;
	BIO		*rbio, *wbio;	/* owned by ssl */
	bool		 server;
	uint8_t		 want_fp[DTLS_FP_LEN];
	bool		 bad_fp;
	bool		 done;
	char		 error[160];
	dtls_send_fn	 send;
	void		*arg;
};

/* ---- fingerprints ---- */

static void
fp_format(const uint8_t *d, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "sha-256 ");

	for (int i = 0; i < DTLS_FP_LEN && o + 3 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%02X", i ? ":" : "",
		    d[i]);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
dtls_fingerprint_parse(const char *s, uint8_t fp[DTLS_FP_LEN])
{
	if (s == NULL || strncasecmp(s, "sha-256 ", 8) != 0 ||
	    strlen(s) != 8 + DTLS_FP_LEN * 3 - 1)
		return -EINVAL;
	s += 8;
	for (int i = 0; i < DTLS_FP_LEN; i++, s += 3) {
		int hi = hexval(s[0]), lo = hexval(s[1]);
		if (hi < 0 || lo < 0 || (i + 1 < DTLS_FP_LEN && s[2] != ':'))
			return -EINVAL;
		fp[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int
cert_digest(X509 *x, uint8_t d[DTLS_FP_LEN])
{
	unsigned int n = 0;

	return X509_digest(x, EVP_sha256(), d, &n) == 1 && n == DTLS_FP_LEN ?
	    0 : -EIO;
}

/* ---- the certificate ---- */

static X509 *
make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;
	uint8_t serial[8];

	if (x == NULL)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto err;
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ==
	    NULL) {
		BN_free(bn);
		goto err;
	}
	BN_free(bn);
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"trunkline-relayd", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha256()) == 0)
		goto err;
	return x;
err:
	X509_free(x);
	return NULL;
}

static int
use_generated(SSL_CTX *ctx, char *err, size_t errlen)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = key != NULL ? make_cert(key) : NULL;
	int rc = -EIO;

	if (x == NULL)
		snprintf(err, errlen, "cannot make an ECDSA P-256 certificate");
	else if (SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1)
		snprintf(err, errlen, "cannot use the new certificate");
	else
		rc = 0;
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static int
use_files(SSL_CTX *ctx, const char *cert, const char *key, char *err,
    size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "webrtc.certificate %s: cannot load a PEM "
		    "certificate from it", cert);
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "webrtc.key %s: cannot load a PEM key "
		    "matching %s", key, cert);
		return -EINVAL;
	}
	return 0;
}

int
dtls_files_check(const struct relayd *rd, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
	int rc;

	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new(DTLS) failed");
		return -EIO;
	}
	rc = use_files(ctx, rd->conf.dtls_cert, rd->conf.dtls_key, err,
	    errlen);
	SSL_CTX_free(ctx);
	return rc;
}

/*
 * The peer's certificate is self-signed (browsers make their own): it is
 * accepted when its digest is the fingerprint of the peer's SDP, and
 * refused otherwise, which fails the handshake.
 */
static int
verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct dtls_conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	uint8_t d[DTLS_FP_LEN];

	(void)preverify_ok;
	if (c == NULL)
		return 0;
	if (X509_STORE_CTX_get_error_depth(xs) != 0)
		return 1;	/* only the peer's own certificate counts */
	if (cert_digest(X509_STORE_CTX_get_current_cert(xs), d) < 0 ||
	    CRYPTO_memcmp(d, c->want_fp, DTLS_FP_LEN) != 0) {
		c->bad_fp = true;
		return 0;
	}
	return 1;
}

int
dtls_ctx_open(struct relayd *rd, char *err, size_t errlen)
{
	struct dtls_ctx *d = calloc(1, sizeof(*d));
	uint8_t fp[DTLS_FP_LEN];
	int rc = -EIO;

	if (d == NULL)
		return -ENOMEM;
	d->ctx = SSL_CTX_new(DTLS_method());
	if (d->ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new(DTLS) failed");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(d->ctx, DTLS1_2_VERSION);
	rc = rd->conf.dtls_cert[0] != '\0' ?
	    use_files(d->ctx, rd->conf.dtls_cert, rd->conf.dtls_key, err,
	    errlen) : use_generated(d->ctx, err, errlen);
	if (rc < 0)
		goto fail;
	rc = -EIO;
	/* (returns 0 on success) */
	if (SSL_CTX_set_tlsext_use_srtp(d->ctx, DTLS_SRTP_PROFILES) != 0) {
		snprintf(err, errlen, "OpenSSL refuses the SRTP profiles");
		goto fail;
	}
	SSL_CTX_set_verify(d->ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_options(d->ctx, SSL_OP_NO_QUERY_MTU);
	if (cert_digest(SSL_CTX_get0_certificate(d->ctx), fp) < 0) {
		snprintf(err, errlen, "cannot digest the certificate");
		goto fail;
	}
	fp_format(fp, d->fingerprint, sizeof(d->fingerprint));
	rd->dtls = d;
	return 0;
fail:
	SSL_CTX_free(d->ctx);
	free(d);
	return rc;
}

void
dtls_ctx_close(struct relayd *rd)
{
	if (rd->dtls == NULL)
		return;
	SSL_CTX_free(rd->dtls->ctx);
	free(rd->dtls);
	rd->dtls = NULL;
}

const char *
dtls_fingerprint(const struct relayd *rd)
{
	return rd->dtls != NULL ? rd->dtls->fingerprint : "";
}

/* ---- one leg's handshake ---- */

struct dtls_conn *
dtls_conn_new(struct dtls_ctx *d, bool server,
    const uint8_t want_fp[DTLS_FP_LEN], dtls_send_fn send, void *arg)
{
	struct dtls_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ssl = SSL_new(d->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	/* An empty read BIO means "wait for the next datagram", not EOF. */
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);
	SSL_set_mtu(c->ssl, DTLS_MTU - 28);
	DTLS_set_link_mtu(c->ssl, DTLS_MTU);
	c->server = server;
	memcpy(c->want_fp, want_fp, DTLS_FP_LEN);
	c->send = send;
	c->arg = arg;
	if (server)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	return c;
}

void
dtls_conn_free(struct dtls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);	/* frees both BIOs */
	free(c);
}

/* Send what OpenSSL wrote: whole records, at most DTLS_MTU a datagram. */
static void
drain(struct dtls_conn *c)
{
	uint8_t buf[16384];
	int n;

	while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0) {
		size_t off = 0, start = 0, len = (size_t)n;

		while (off + 13 <= len) {
			size_t rec = 13 + (size_t)(buf[off + 11] << 8 |
			    buf[off + 12]);
			if (off + rec > len)
				break;
			if (off + rec - start > DTLS_MTU && off > start) {
				c->send(c->arg, buf + start, off - start);
				start = off;
			}
			off += rec;
		}
		if (len > start)
			c->send(c->arg, buf + start, len - start);
	}
}

static enum dtls_step
after(struct dtls_conn *c, int rc)
{
	int e = SSL_get_error(c->ssl, rc);
	unsigned long ee;

	drain(c);
	if (rc > 0)
		return DTLS_STEP_AGAIN;
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return DTLS_STEP_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return DTLS_STEP_CLOSED;
	default:
		ee = ERR_peek_last_error();
		snprintf(c->error, sizeof(c->error), "%s",
		    c->bad_fp ? "certificate does not match the SDP "
		    "fingerprint" : ee ? ERR_reason_error_string(ee) ?
		    ERR_reason_error_string(ee) : "handshake failed" :
		    "handshake failed");
		ERR_clear_error();
		return DTLS_STEP_FAILED;
	}
}

static enum dtls_step
handshake(struct dtls_conn *c)
{
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		X509 *peer = SSL_get1_peer_certificate(c->ssl);
		uint8_t d[DTLS_FP_LEN];
		bool ok = peer != NULL && cert_digest(peer, d) == 0 &&
		    CRYPTO_memcmp(d, c->want_fp, DTLS_FP_LEN) == 0;
		X509_free(peer);
		drain(c);
		if (!ok) {	/* the callback should have caught it */
			c->bad_fp = true;
			snprintf(c->error, sizeof(c->error), "certificate does "
			    "not match the SDP fingerprint");
			return DTLS_STEP_FAILED;
		}
		if (SSL_get_selected_srtp_profile(c->ssl) == NULL) {
			snprintf(c->error, sizeof(c->error), "the peer offered "
			    "no SRTP profile we speak (use_srtp)");
			return DTLS_STEP_FAILED;
		}
		c->done = true;
		return DTLS_STEP_DONE;
	}
	return after(c, rc);
}

enum dtls_step
dtls_conn_start(struct dtls_conn *c)
{
	return handshake(c);
}

enum dtls_step
dtls_conn_input(struct dtls_conn *c, const uint8_t *p, size_t len)
{
	uint8_t buf[256];
	int rc;

	if (BIO_write(c->rbio, p, (int)len) != (int)len)
		return DTLS_STEP_AGAIN;
	if (!c->done)
		return handshake(c);
	/* After the handshake: a retransmitted flight, an alert, or data
	 * (none is expected: WebRTC audio needs no data channel). */
	ERR_clear_error();
	rc = SSL_read(c->ssl, buf, sizeof(buf));
	return after(c, rc);
}

void
dtls_conn_tick(struct dtls_conn *c)
{
	if (c->done)
		return;
	if (DTLSv1_handle_timeout(c->ssl) > 0)
		drain(c);
}

bool
dtls_conn_bad_fingerprint(const struct dtls_conn *c)
{
	return c->bad_fp;
}

const char *
dtls_conn_error(const struct dtls_conn *c)
{
	return c->error[0] != '\0' ? c->error : "none";
}

/*
 * RFC 5764 4.2: the exporter gives client key, server key, client salt,
 * server salt; we send with our role's half.
 */
int
dtls_conn_srtp_keys(struct dtls_conn *c, struct rtc_srtp_keys *k)
{
	SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(c->ssl);
	static const char label[] = "EXTRACTOR-dtls_srtp";
	uint8_t m[2 * RTC_SRTP_KEYLEN_MAX];
	size_t kl, sl;
	const uint8_t *ck, *sk, *cs, *ss;

	memset(k, 0, sizeof(*k));
	if (!c->done || c->bad_fp)
		return -EPERM;	/* no keys from a handshake that failed */
	if (p == NULL)
		return -ENOENT;
	if (p->id == SRTP_AES128_CM_SHA1_80)
		k->profile = RTC_SRTP_AES_CM_128_HMAC_SHA1_80;
	else if (p->id == SRTP_AEAD_AES_128_GCM)
		k->profile = RTC_SRTP_AEAD_AES_128_GCM;
	else
		return -ENOTSUP;
	kl = srtp_leg_key_len(k->profile, &sl);
	if (SSL_export_keying_material(c->ssl, m, 2 * (kl + sl), label,
	    sizeof(label) - 1, NULL, 0, 0) != 1)
		return -EIO;
	ck = m;
	sk = m + kl;
	cs = m + 2 * kl;
	ss = m + 2 * kl + sl;
	memcpy(k->local, c->server ? sk : ck, kl);
	memcpy(k->local + kl, c->server ? ss : cs, sl);
	memcpy(k->remote, c->server ? ck : sk, kl);
	memcpy(k->remote + kl, c->server ? cs : ss, sl);
	k->len = kl + sl;
	OPENSSL_cleanse(m, sizeof(m));
	return 0;
}
