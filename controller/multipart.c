/*
 * multipart.c: multipart bodies (RFC 2046; SIP-I, ITU-T Q.1912.5: an
 * INVITE with multipart/mixed holding application/sdp and
 * application/ISUP). The SDP part is the offer the relay sees and
 * sdp.c rewrites; the other parts are kept byte for byte, headers and
 * all, and go to a gateway configured with "isup": "pass" inside a
 * multipart body again, around the rewritten SDP part. The default,
 * "strip", sends the SDP alone: most SIP trunks are not SIP-I, and the
 * ISUP part carries the caller's numbers as received (our transforms and
 * identity rules never touch it).
 *
 * A gateway's multipart answer (SIP-I's ANM/CPG with SDP) is read for its
 * SDP part; toward the caller only the SDP goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>

#define MP_PARTS_MAX	8
#define MP_BOUNDARY_MAX	70	/* RFC 2046 section 5.1.1 */

struct mp_part {
	const char	*raw;		/* headers, blank line, body */
	size_t		 rawlen;
	size_t		 hdrlen;	/* up to and with the blank line */
	bool		 sdp;
};

struct multipart {
	char		 boundary[MP_BOUNDARY_MAX + 1];
	char		*body;		/* our copy; parts point into it */
	struct mp_part	 part[MP_PARTS_MAX];
	int		 nparts;
	int		 sdp;		/* index of the SDP part, -1 none */
};

/* ---- configuration ---- */

int
multipart_parse_gateway(struct proto_cfg *c, json_t *o, const char *path,
    struct gateway *g)
{
	char v[16] = "strip", p[PROTO_CFG_PATH];

	if (proto_cfg_string(c, o, path, "isup", v, sizeof(v), false) < 0)
		return -1;
	if (strcmp(v, "pass") != 0 && strcmp(v, "strip") != 0) {
		proto_cfg_join(p, sizeof(p), path, "isup");
		return proto_cfg_fail(c, p, "'%s' is not pass (multipart bodies "
		    "go on with the rewritten SDP) or strip (SDP only)", v);
	}
	g->isup_pass = strcmp(v, "pass") == 0;
	return 0;
}

/* ---- parsing ---- */

static bool
is_multipart(const sip_content_type_t *ct)
{
	return ct != NULL && ct->c_type != NULL &&
	    strncasecmp(ct->c_type, "multipart/", 10) == 0;
}

static int
get_boundary(const sip_content_type_t *ct, char *out, size_t len)
{
	const char *b = msg_params_find(ct->c_params, "boundary=");
	size_t n;

	if (b == NULL)
		return -1;
	n = strlen(b);
	if (n >= 2 && b[0] == '"' && b[n - 1] == '"') {
		b++;
		n -= 2;
	}
	if (n == 0 || n > MP_BOUNDARY_MAX || n >= len)
		return -1;
	memcpy(out, b, n);
	out[n] = '\0';
	return 0;
}

/* The next delimiter line ("--boundary" at a line start) from p. */
static const char *
find_delim(const char *body, const char *p, const char *end, const char *b,
    size_t bl)
{
	for (; p + 2 + bl <= end; p++)
		if ((p == body || p[-1] == '\n') && p[0] == '-' && p[1] == '-' &&
		    memcmp(p + 2, b, bl) == 0)
			return p;
	return NULL;
}

static bool
part_is_sdp(const char *raw, size_t hdrlen)
{
	const char *p = raw, *end = raw + hdrlen;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		const char *v = NULL;
		if (n > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
			v = p + 13;
		else if (n > 2 && strncasecmp(p, "c:", 2) == 0)
			v = p + 2;
		if (v != NULL) {
			while (*v == ' ' || *v == '\t')
				v++;
			return (size_t)(p + n - v) >= 15 &&
			    strncasecmp(v, "application/sdp", 15) == 0;
		}
		p = eol ? eol + 1 : end;
	}
	return false;
}

/* Split a copy of the body into parts. 0, or -EINVAL. */
static int
split(struct multipart *m, size_t len)
{
	const char *p = m->body, *end = m->body + len, *d;
	size_t bl = strlen(m->boundary);

	d = find_delim(p, p, end, m->boundary, bl);	/* after a preamble */
	while (d != NULL) {
		const char *start = d + 2 + bl, *next, *stop, *blank;
		if (start + 2 <= end && start[0] == '-' && start[1] == '-')
			return m->nparts > 0 ? 0 : -EINVAL;	/* the last */
		/* the rest of the delimiter line (transport padding) */
		while (start < end && *start != '\n')
			start++;
		if (start >= end)
			return -EINVAL;
		start++;
		next = find_delim(p, start, end, m->boundary, bl);
		if (next == NULL || m->nparts >= MP_PARTS_MAX)
			return -EINVAL;
		/* The CRLF before the delimiter belongs to it. */
		stop = next;
		if (stop > start && stop[-1] == '\n')
			stop--;
		if (stop > start && stop[-1] == '\r')
			stop--;
		struct mp_part *pt = &m->part[m->nparts++];
		pt->raw = start;
		pt->rawlen = (size_t)(stop - start);
		blank = start;
		if (blank < stop && (*blank == '\n' || (*blank == '\r' &&
		    blank + 1 < stop && blank[1] == '\n'))) {
			pt->hdrlen = 0;	/* no headers */
		} else {
			const char *h = NULL;
			for (const char *q = start; q + 1 < stop; q++)
				if (q[0] == '\n' && (q[1] == '\n' ||
				    (q[1] == '\r' && q + 2 < stop &&
				    q[2] == '\n'))) {
					h = q + 1;
					break;
				}
			if (h == NULL)
				return -EINVAL;
			pt->hdrlen = (size_t)(h - start);
		}
		pt->sdp = part_is_sdp(start, pt->hdrlen);
		d = next;
	}
	return -EINVAL;	/* no closing delimiter */
}

static const char *
part_body(const struct mp_part *pt, size_t *len)
{
	const char *b = pt->raw + pt->hdrlen;
	const char *end = pt->raw + pt->rawlen;

	if (b < end && *b == '\r')
		b++;
	if (b < end && *b == '\n')
		b++;
	*len = (size_t)(end - b);
	return b;
}

static struct multipart *
parse(const sip_t *sip)
{
	struct multipart *m;
	const sip_payload_t *pl = sip->sip_payload;

	if (!is_multipart(sip->sip_content_type) || pl == NULL ||
	    (m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->sdp = -1;
	if (get_boundary(sip->sip_content_type, m->boundary,
	    sizeof(m->boundary)) < 0 ||
	    (m->body = malloc(pl->pl_len + 1)) == NULL) {
		free(m);
		return NULL;
	}
	memcpy(m->body, pl->pl_data, pl->pl_len);
	m->body[pl->pl_len] = '\0';
	if (split(m, pl->pl_len) < 0) {
		multipart_free(m);
		return NULL;
	}
	for (int i = 0; i < m->nparts; i++)
		if (m->part[i].sdp) {
			m->sdp = i;
			break;
		}
	return m;
}

void
multipart_free(struct multipart *m)
{
	if (m == NULL)
		return;
	free(m->body);
	free(m);
}

int
multipart_offer(struct call *k, const sip_t *sip)
{
	struct multipart *m;
	const char *b;
	size_t n;

	if (!is_multipart(sip->sip_content_type))
		return 0;
	if ((m = parse(sip)) == NULL) {
		clog_msg(k->ctl, LL_NOTICE, "call %s: multipart body not "
		    "understood: no offer", k->call_id);
		return 1;
	}
	if (m->sdp >= 0) {
		b = part_body(&m->part[m->sdp], &n);
		free(k->offer);
		k->offer = strndup(b, n);
	}
	clog_msg(k->ctl, LL_DEBUG, "call %s: multipart offer, %d parts, SDP "
	    "%s", k->call_id, m->nparts, m->sdp >= 0 ? "found" : "missing");
	multipart_free(k->mp);
	k->mp = m;
	return 1;
}

int
multipart_sdp(const sip_t *sip, const char **body, size_t *len)
{
	struct multipart *m;
	char *copy;

	*body = sip->sip_payload != NULL ? sip->sip_payload->pl_data : NULL;
	*len = sip->sip_payload != NULL ? sip->sip_payload->pl_len : 0;
	if (!is_multipart(sip->sip_content_type))
		return 0;
	if ((m = parse(sip)) == NULL || m->sdp < 0) {
		multipart_free(m);
		*len = 0;
		return -EINVAL;
	}
	/* The same offset in the message as in our copy. */
	copy = m->body;
	*body = sip->sip_payload->pl_data + (part_body(&m->part[m->sdp],
	    len) - copy);
	multipart_free(m);
	return 1;
}

/* ---- the gateway's INVITE ---- */

char *
multipart_body(const struct call *k, const struct gateway *gw,
    const char *sdp, char *ctype, size_t ctlen)
{
	const struct multipart *m = k->mp;
	size_t cap = strlen(sdp) + 256, n = 0;
	char *out;

	if (m == NULL || gw == NULL || !gw->isup_pass || m->sdp < 0)
		return NULL;
	for (int i = 0; i < m->nparts; i++)
		cap += m->part[i].rawlen + strlen(m->boundary) + 8;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	for (int i = 0; i < m->nparts; i++) {
		const struct mp_part *pt = &m->part[i];
		n += (size_t)snprintf(out + n, cap - n, "--%s\r\n",
		    m->boundary);
		if (pt->sdp) {
			/* its own headers (Content-Type...), then ours */
			memcpy(out + n, pt->raw, pt->hdrlen);
			n += pt->hdrlen;
			n += (size_t)snprintf(out + n, cap - n, "\r\n%s", sdp);
			/* sdp ends with CRLF; the delimiter brings its own */
			if (n >= 2 && out[n - 2] == '\r' && out[n - 1] == '\n')
				n -= 2;
		} else {
			memcpy(out + n, pt->raw, pt->rawlen);
			n += pt->rawlen;
		}
		n += (size_t)snprintf(out + n, cap - n, "\r\n");
	}
	n += (size_t)snprintf(out + n, cap - n, "--%s--\r\n", m->boundary);
	if (n >= cap) {
		free(out);
		return NULL;
	}
	snprintf(ctype, ctlen, "multipart/mixed;boundary=%s", m->boundary);
	return out;
}
