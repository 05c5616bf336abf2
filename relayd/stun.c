/*
 * stun.c: the STUN messages of ICE-lite (RFC 5389, RFC 8445): parse a
 * Binding request, check its short-term credential (MESSAGE-INTEGRITY,
 * HMAC-SHA1 keyed with our ice-pwd) and FINGERPRINT, and build the
 * Binding success answer (XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY,
 * FINGERPRINT). Pure functions over buffers: webrtc.c decides what a
 * check means for the leg; unit tests and the fuzz target call these
 * directly. Everything read from the wire is bounds-checked here.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "relayd.h"

#define ATTR_MAPPED		0x0001
#define ATTR_USERNAME		0x0006
#define ATTR_INTEGRITY		0x0008
#define ATTR_XOR_MAPPED		0x0020
#define ATTR_PRIORITY		0x0024
#define ATTR_USE_CANDIDATE	0x0025
#define ATTR_FINGERPRINT	0x8028
#define ATTR_CONTROLLED		0x8029
#define ATTR_CONTROLLING	0x802A
#define FP_XOR			0x5354554eu
#define MI_LEN			20

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* CRC-32 (ISO-HDLC, as zlib): STUN checks ~1 packet a second per leg. */
static uint32_t
crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

uint32_t
stun_crc32(const uint8_t *p, size_t n)
{
	return crc32_update(0, p, n);
}

static int
parse_xor_mapped(const uint8_t *v, size_t n, const uint8_t *hdr,
    struct sockaddr_storage *out)
{
	uint16_t port;

	if (n < 4)
		return -EBADMSG;
	port = get16(v + 2) ^ (uint16_t)(STUN_COOKIE >> 16);
	memset(out, 0, sizeof(*out));
	if (v[1] == 1 && n == 8) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(get32(v + 4) ^ STUN_COOKIE);
		return 0;
	}
	if (v[1] == 2 && n == 20) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		/* XOR with the magic cookie and the transaction id: hdr+4.. */
		for (int i = 0; i < 16; i++)
			sin6->sin6_addr.s6_addr[i] = v[4 + i] ^ hdr[4 + i];
		return 0;
	}
	return -EBADMSG;
}

/* One attribute at offset `off` of type t and value length n. */
static int
parse_attr(const uint8_t *pkt, size_t off, uint16_t t, size_t n,
    struct stun_msg *m)
{
	const uint8_t *v = pkt + off + 4;

	if (m->fp_off != 0)
		return -EBADMSG;	/* FINGERPRINT must be the last */
	if (m->mi_off != 0 && t != ATTR_FINGERPRINT)
		return 0;		/* after integrity: ignored (15.4) */
	switch (t) {
	case ATTR_USERNAME:
		if (n == 0 || n > STUN_MAX_USERNAME)
			return -EBADMSG;
		m->username = v;
		m->username_len = n;
		break;
	case ATTR_INTEGRITY:
		if (n != MI_LEN)
			return -EBADMSG;
		m->mi_off = off;
		break;
	case ATTR_FINGERPRINT:
		if (n != 4)
			return -EBADMSG;
		m->fp_off = off;
		break;
	case ATTR_USE_CANDIDATE:
		m->use_candidate = true;
		break;
	case ATTR_PRIORITY:
		if (n != 4)
			return -EBADMSG;
		m->priority = get32(v);
		break;
	case ATTR_XOR_MAPPED:
		if (parse_xor_mapped(v, n, pkt, &m->xor_mapped) < 0)
			return -EBADMSG;
		m->has_xor_mapped = true;
		break;
	case ATTR_CONTROLLING:
	case ATTR_CONTROLLED:
		if (n != 8)
			return -EBADMSG;
		m->role_attr = t == ATTR_CONTROLLING ? 1 : 2;
		break;
	default:
		/* Unknown (GOOG-NETWORK-INFO, SOFTWARE, ...): not needed. */
		break;
	}
	return 0;
}

int
stun_parse(const uint8_t *pkt, size_t len, struct stun_msg *m)
{
	size_t off, n;

	memset(m, 0, sizeof(*m));
	if (len < STUN_HDR || len > STUN_MAX_MSG || (pkt[0] & 0xc0) != 0 ||
	    get32(pkt + 4) != STUN_COOKIE)
		return -EINVAL;		/* not STUN (RFC 7983 demux) */
	m->type = get16(pkt);
	m->len = get16(pkt + 2);
	if ((m->len & 3) != 0 || (size_t)m->len + STUN_HDR != len)
		return -EBADMSG;
	m->txid = pkt + 8;
	for (off = STUN_HDR; off < len; off += 4 + ((n + 3) & ~(size_t)3)) {
		if (len - off < 4)
			return -EBADMSG;
		n = get16(pkt + off + 2);
		if (n > len - off - 4)
			return -EBADMSG;
		if (parse_attr(pkt, off, get16(pkt + off), n, m) < 0)
			return -EBADMSG;
	}
	return 0;
}

/*
 * HMAC-SHA1 over the message up to MESSAGE-INTEGRITY with the length
 * field rewritten to end just after it (RFC 5389 15.4).
 */
static int
integrity(const uint8_t *pkt, size_t mi_off, const char *key, size_t keylen,
    uint8_t mac[MI_LEN])
{
	uint8_t buf[STUN_MAX_MSG];
	unsigned int maclen = 0;

	if (mi_off < STUN_HDR || mi_off > sizeof(buf))
		return -EINVAL;
	memcpy(buf, pkt, mi_off);
	put16(buf + 2, (uint16_t)(mi_off - STUN_HDR + 4 + MI_LEN));
	if (HMAC(EVP_sha1(), key, (int)keylen, buf, mi_off, mac,
	    &maclen) == NULL || maclen != MI_LEN)
		return -EIO;
	return 0;
}

bool
stun_integrity_ok(const uint8_t *pkt, const struct stun_msg *m,
    const char *key, size_t keylen)
{
	uint8_t mac[MI_LEN];

	if (m->mi_off == 0 || integrity(pkt, m->mi_off, key, keylen, mac) < 0)
		return false;
	return CRYPTO_memcmp(mac, pkt + m->mi_off + 4, MI_LEN) == 0;
}

static uint32_t
fingerprint(const uint8_t *pkt, size_t fp_off)
{
	uint8_t hdr[4];
	uint32_t crc;

	/* The length as if the message ended after FINGERPRINT. */
	memcpy(hdr, pkt, 2);
	put16(hdr + 2, (uint16_t)(fp_off - STUN_HDR + 8));
	crc = crc32_update(0, hdr, 4);
	crc = crc32_update(crc, pkt + 4, fp_off - 4);
	return crc ^ FP_XOR;
}

bool
stun_fingerprint_ok(const uint8_t *pkt, const struct stun_msg *m)
{
	return m->fp_off != 0 &&
	    fingerprint(pkt, m->fp_off) == get32(pkt + m->fp_off + 4);
}

/* Append an attribute; returns the new length or -ENOSPC. */
static int
add_attr(uint8_t *out, size_t len, size_t cap, uint16_t t, const void *v,
    size_t n)
{
	size_t pad = (n + 3) & ~(size_t)3;

	if (len + 4 + pad > cap)
		return -ENOSPC;
	put16(out + len, t);
	put16(out + len + 2, (uint16_t)n);
	memset(out + len + 4, 0, pad);
	if (n > 0)
		memcpy(out + len + 4, v, n);
	return (int)(len + 4 + pad);
}

static int
add_xor_mapped(uint8_t *out, size_t len, size_t cap,
    const struct sockaddr_storage *a)
{
	uint8_t v[20];
	size_t n;

	v[0] = 0;
	put16(v + 2, addr_port(a) ^ (uint16_t)(STUN_COOKIE >> 16));
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)a;
		v[1] = 1;
		put32(v + 4, ntohl(sin->sin_addr.s_addr) ^ STUN_COOKIE);
		n = 8;
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)a;
		v[1] = 2;
		for (int i = 0; i < 16; i++)
			v[4 + i] = sin6->sin6_addr.s6_addr[i] ^ out[4 + i];
		n = 20;
	} else
		return -EAFNOSUPPORT;
	return add_attr(out, len, cap, ATTR_XOR_MAPPED, v, n);
}

/* MESSAGE-INTEGRITY (if key) then FINGERPRINT; sets the final length. */
static int
seal(uint8_t *out, size_t len, size_t cap, const char *key, size_t keylen)
{
	uint8_t mac[MI_LEN];
	int rc;

	if (key != NULL) {
		if (len + 4 + MI_LEN > cap)
			return -ENOSPC;
		if (integrity(out, len, key, keylen, mac) < 0)
			return -EIO;
		if ((rc = add_attr(out, len, cap, ATTR_INTEGRITY, mac,
		    MI_LEN)) < 0)
			return rc;
		len = (size_t)rc;
	}
	if (len + 8 > cap)
		return -ENOSPC;
	put16(out + 2, (uint16_t)(len + 8 - STUN_HDR));
	uint32_t fp = fingerprint(out, len);
	uint8_t v[4];
	put32(v, fp);
	rc = add_attr(out, len, cap, ATTR_FINGERPRINT, v, 4);
	if (rc > 0)
		put16(out + 2, (uint16_t)(rc - STUN_HDR));
	return rc;
}

static void
header(uint8_t *out, uint16_t type, const uint8_t txid[12])
{
	put16(out, type);
	put16(out + 2, 0);
	put32(out + 4, STUN_COOKIE);
	memcpy(out + 8, txid, 12);
}

int
stun_binding_success(const uint8_t txid[12],
    const struct sockaddr_storage *mapped, const char *key, size_t keylen,
    uint8_t *out, size_t cap)
{
	int rc;

	if (cap < STUN_HDR)
		return -ENOSPC;
	header(out, STUN_BINDING_SUCCESS, txid);
	if ((rc = add_xor_mapped(out, STUN_HDR, cap, mapped)) < 0)
		return rc;
	return seal(out, (size_t)rc, cap, key, keylen);
}

int
stun_binding_request(const uint8_t txid[12], const char *username,
    uint32_t priority, bool use_candidate, const char *key, size_t keylen,
    uint8_t *out, size_t cap)
{
	uint8_t v[8];
	int rc = STUN_HDR;

	if (cap < STUN_HDR)
		return -ENOSPC;
	header(out, STUN_BINDING_REQUEST, txid);
	if (username != NULL && (rc = add_attr(out, (size_t)rc, cap,
	    ATTR_USERNAME, username, strlen(username))) < 0)
		return rc;
	put32(v, priority);
	if ((rc = add_attr(out, (size_t)rc, cap, ATTR_PRIORITY, v, 4)) < 0)
		return rc;
	memset(v, 0x5a, sizeof(v));	/* tie-breaker: tests only */
	if ((rc = add_attr(out, (size_t)rc, cap, ATTR_CONTROLLING, v, 8)) < 0)
		return rc;
	if (use_candidate && (rc = add_attr(out, (size_t)rc, cap,
	    ATTR_USE_CANDIDATE, NULL, 0)) < 0)
		return rc;
	return seal(out, (size_t)rc, cap, key, keylen);
}

/* "OURS:THEIRS": ours must match; theirs too when it is known. */
bool
stun_username_ok(const struct stun_msg *m, const char *local_ufrag,
    const char *remote_ufrag)
{
	size_t ln = strlen(local_ufrag), rn;

	if (m->username == NULL || m->username_len <= ln ||
	    memcmp(m->username, local_ufrag, ln) != 0 ||
	    m->username[ln] != ':')
		return false;
	if (remote_ufrag == NULL || remote_ufrag[0] == '\0')
		return true;
	rn = strlen(remote_ufrag);
	return m->username_len - ln - 1 == rn &&
	    memcmp(m->username + ln + 1, remote_ufrag, rn) == 0;
}
