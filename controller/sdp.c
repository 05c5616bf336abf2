/*
 * sdp.c: SDP belongs to the controller. Bodies are parsed with Sofia's
 * SDP parser into typed media lines (struct media_desc; relay.c alone
 * turns them into the relay's messages), and rewritten
 * with the relay's reply so that each side sees the relay and nothing of
 * the other side's network or identity: every c= (rejected streams too)
 * and the o= address name the relay, m= ports and a=rtcp are the relay's,
 * o= username and session id are our own per leg (the version grows by
 * one when the body we send on that leg changes, RFC 3264 section 8),
 * s= is "-", and lines that carry the far side's addresses or contacts
 * (ICE, a=altc, a=source-filter, a=ssrc cnames; i=, u=, e=, p=) are
 * dropped: our legs are plain RTP through the relay, so ICE would only
 * let media route around it. A hold address (0.0.0.0 or ::) stays a hold.
 * Codecs, fmtp, directions and unknown attributes pass through.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "controller.h"

#include <sofia-sip/sdp.h>


#define SDP_FLAGS	(sdp_f_mode_manual | sdp_f_mode_always)

static const char *const relay_types[] = { "audio", "video", "image", "text",
	"application", "message", NULL };

static const char *
media_type(const sdp_media_t *m)
{
	for (const char *const *t = relay_types; *t != NULL; t++)
		if (m->m_type_name != NULL && strcmp(m->m_type_name, *t) == 0)
			return *t;
	return "other";
}

/* In manual mode the direction stays an attribute: media, then session. */
static const char *
direction(const sdp_session_t *s, const sdp_media_t *m)
{
	static const char *const dirs[] = { "sendonly", "recvonly", "inactive",
	    "sendrecv", NULL };
	const sdp_attribute_t *lists[2] = { m->m_attributes, s->sdp_attributes };

	for (int l = 0; l < 2; l++)
		for (const sdp_attribute_t *a = lists[l]; a; a = a->a_next)
			for (int i = 0; dirs[i] != NULL; i++)
				if (a->a_name && strcasecmp(a->a_name, dirs[i]) == 0)
					return dirs[i];
	return "sendrecv";
}

static sdp_attribute_t *
attr_find(sdp_attribute_t *a, const char *name)
{
	for (; a != NULL; a = a->a_next)
		if (a->a_name != NULL && strcasecmp(a->a_name, name) == 0)
			return a;
	return NULL;
}

/*
 * Sofia 1.12.11's sdp_parse() allocates without end on some m= lines
 * (found by fuzz_sdp): a format of a non-RTP transport that starts with a
 * character outside its token set ("m=image 4 udptl /0"), a transport
 * such as "a::b", a media such as "aud3/008". RFC 4566 makes the media
 * and each format a token and the transport "/"-separated tokens, so the
 * m= lines are checked against the
 * characters both agree on before the parser sees the body; control
 * characters are refused too.
 */
static bool
sdp_token(const char *p, size_t n)
{
	static const char ok[] = "-.!%*_+`'~";

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) || p[i] == '\0')
			if (p[i] == '\0' || strchr(ok, p[i]) == NULL)
				return false;
	return true;
}

/* One m= line, without "m=" and the line end: media port transport fmt... */
static bool
mline_ok(const char *p, size_t n)
{
	size_t i = 0, f = 0, start;

	while (i < n) {
		start = i;
		while (i < n && p[i] != ' ')
			i++;
		const char *w = p + start;
		size_t wl = i - start;
		if (f == 0 && !sdp_token(w, wl)) {	/* media */
			return false;
		} else if (f == 1) {
			/* port; a "/count" is refused: the relay has one
			 * port pair per stream */
			if (wl == 0 || wl > 5)
				return false;
			for (size_t k = 0; k < wl; k++)
				if (!isdigit((unsigned char)w[k]))
					return false;
		} else if (f == 2) {	/* token *("/" token) */
			size_t a = 0;
			for (size_t k = 0; k <= wl; k++)
				if (k == wl || w[k] == '/') {
					if (!sdp_token(w + a, k - a))
						return false;
					a = k + 1;
				}
		} else if (f > 2 && !sdp_token(w, wl)) {	/* formats */
			return false;
		}
		f++;
		while (i < n && p[i] == ' ')
			i++;
	}
	return f >= 3;
}

static int
precheck(const char *body, size_t len, char *err, size_t errlen)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)body[i] < 0x20 && body[i] != '\r' &&
		    body[i] != '\n' && body[i] != '\t') {
			snprintf(err, errlen, "bad SDP: control character");
			return -1;
		}
		/* CR only before LF */
		if (body[i] == '\r' && (i + 1 >= len || body[i + 1] != '\n')) {
			snprintf(err, errlen, "bad SDP: CR without LF");
			return -1;
		}
		/* every line is "x=..." with a lowercase type letter */
		if ((i == 0 || body[i - 1] == '\n') && body[i] != '\r' &&
		    body[i] != '\n' && (i + 1 >= len || body[i] < 'a' ||
		    body[i] > 'z' || body[i + 1] != '=')) {
			snprintf(err, errlen, "bad SDP: a line is not type=value");
			return -1;
		}
	}
	for (size_t i = 0; i + 2 < len; i++) {
		size_t j;
		if ((i != 0 && body[i - 1] != '\n') ||
		    body[i] != 'm' || body[i + 1] != '=')
			continue;
		for (j = i + 2; j < len && body[j] != '\r' && body[j] != '\n'; j++)
			;
		if (!mline_ok(body + i + 2, j - i - 2)) {
			snprintf(err, errlen, "bad SDP: malformed m= line");
			return -1;
		}
	}
	return 0;
}

static sdp_session_t *
parse(su_home_t *home, const char *body, size_t len, sdp_parser_t **pp,
    char *err, size_t errlen)
{
	sdp_parser_t *p;

	*pp = NULL;
	if (precheck(body, len, err, errlen) < 0)
		return NULL;
	p = sdp_parse(home, body, (issize_t)len, SDP_FLAGS);
	sdp_session_t *s = sdp_session(p);

	*pp = p;
	if (s == NULL) {
		snprintf(err, errlen, "bad SDP: %s", sdp_parsing_error(p) ?
		    sdp_parsing_error(p) : "unparsable");
		return NULL;
	}
	if (s->sdp_media == NULL) {
		snprintf(err, errlen, "bad SDP: no m= line");
		return NULL;
	}
	return s;
}

/* Copy into a fixed field; false when it does not fit. */
static bool
copy_field(char *dst, size_t size, const char *src)
{
	return (size_t)snprintf(dst, size, "%s", src) < size;
}

/* One m= line into l; -1 and err when the relay could not take it. */
static int
media_line(const sdp_session_t *s, sdp_media_t *m, int n,
    struct media_line *l, char *err, size_t errlen)
{
	sdp_connection_t *c = m->m_connections ? m->m_connections :
	    s->sdp_connection;
	sdp_attribute_t *a;

	if (c == NULL || c->c_address == NULL) {
		snprintf(err, errlen, "bad SDP: m= line %d has no c= address",
		    n);
		return -1;
	}
	if (!copy_field(l->address, sizeof(l->address), c->c_address) ||
	    !copy_field(l->transport, sizeof(l->transport), m->m_proto_name ?
	    m->m_proto_name : "RTP/AVP")) {
		snprintf(err, errlen, "bad SDP: m= line %d: address or "
		    "transport too long", n);
		return -1;
	}
	copy_field(l->type, sizeof(l->type), media_type(m));
	copy_field(l->direction, sizeof(l->direction), direction(s, m));
	l->rtp_port = (unsigned)(m->m_port & 0xffff);
	if ((a = attr_find(m->m_attributes, "rtcp")) != NULL &&
	    a->a_value != NULL && m->m_port != 0) {
		long port = strtol(a->a_value, NULL, 10);
		if (port > 0 && port < 65536)
			l->rtcp_port = (unsigned)port;
	}
	l->rtcp_mux = attr_find(m->m_attributes, "rtcp-mux") != NULL;
	return 0;
}

struct media_desc *
sdp_to_media(const char *body, size_t len, char *err, size_t errlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sdp_parser_t *p;
	sdp_session_t *s = parse(home, body, len, &p, err, errlen);
	struct media_desc *md = NULL;

	if (s == NULL)
		goto out;
	if ((md = calloc(1, sizeof(*md))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (sdp_media_t *m = s->sdp_media; m != NULL; m = m->m_next) {
		if (md->n == PROTO_MAX_MEDIA) {
			snprintf(err, errlen, "more than %d m= lines",
			    PROTO_MAX_MEDIA);
			goto fail;
		}
		if (media_line(s, m, md->n + 1, &md->line[md->n], err,
		    errlen) < 0)
			goto fail;
		md->n++;
	}
	goto out;
fail:
	free(md);
	md = NULL;
out:
	if (p != NULL)
		sdp_parser_free(p);
	su_home_deinit(home);
	return md;
}

bool
media_equal(const struct media_desc *a, const struct media_desc *b)
{
	/* Lines are zero-filled before they are written (calloc, the
	 * relay's reply memset), so bytes past a string's end compare. */
	return a->n == b->n && memcmp(a->line, b->line,
	    (size_t)a->n * sizeof(a->line[0])) == 0;
}

/* 0.0.0.0 or :: (in any spelling): a hold, not an address to relay to. */
static bool
is_hold(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (addr == NULL)
		return false;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return a4.s_addr == 0;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_UNSPECIFIED(&a6);
	return false;
}

/*
 * Point a c= (or the o= address) at the relay. A hold keeps its meaning
 * but is spelt in the relay's family, so that it says nothing about the
 * far side's. Multicast TTL and group counts are the far side's and go.
 */
static void
set_addr(su_home_t *home, sdp_connection_t *c, const char *addr,
    bool keep_hold)
{
	bool v6 = strchr(addr, ':') != NULL;

	if (keep_hold && is_hold(c->c_address))
		addr = v6 ? "::" : "0.0.0.0";
	c->c_address = su_strdup(home, addr);
	c->c_addrtype = v6 ? sdp_addr_ip6 : sdp_addr_ip4;
	c->c_nettype = sdp_net_in;
	c->c_ttl = 0;
	c->c_mcast = 0;
	c->c_groups = 0;
}

/* A c= list becomes one c= naming the relay. */
static void
set_conn(su_home_t *home, sdp_connection_t *c, const char *addr)
{
	if (c == NULL)
		return;
	set_addr(home, c, addr, true);
	c->c_next = NULL;
}

static void
set_rtcp(su_home_t *home, sdp_media_t *m, const struct media_line *rm)
{
	unsigned rtp = rm->rtp_port;
	unsigned rtcp = rm->rtcp_port != 0 ? rm->rtcp_port : rtp + 1;
	sdp_attribute_t *a = attr_find(m->m_attributes, "rtcp");
	char val[24];

	/* The port alone: the address is the c= one, the relay's. */
	snprintf(val, sizeof(val), "%u", rtcp);
	if (a != NULL) {
		a->a_value = su_strdup(home, val);
		return;
	}
	if (rtcp == rtp + 1)
		return;		/* the default; no attribute needed */
	a = su_zalloc(home, sizeof(*a));
	a->a_size = sizeof(*a);
	a->a_name = "rtcp";
	a->a_value = su_strdup(home, val);
	a->a_next = m->m_attributes;
	m->m_attributes = a;
}

/*
 * Attributes that carry the far side's addresses or names: ICE (RFC
 * 8839: a plain RTP leg through the relay has no use for it, and its
 * candidates would let media bypass the relay), alternative connection
 * addresses (RFC 6947), source filters (RFC 4570), and a=ssrc, whose
 * cname is often user@host (RFC 5576). `rtcp` too where it is not
 * rewritten (session level, rejected streams).
 */
static bool
hidden_attr(const char *name, bool drop_rtcp)
{
	static const char *const names[] = { "candidate", "remote-candidates",
	    "end-of-candidates", "altc", "source-filter", "ssrc",
	    "ssrc-group", NULL };

	if (name == NULL)
		return false;
	if (strncasecmp(name, "ice-", 4) == 0)
		return true;
	if (drop_rtcp && strcasecmp(name, "rtcp") == 0)
		return true;
	for (int i = 0; names[i] != NULL; i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static void
strip_attrs(sdp_attribute_t **list, bool drop_rtcp)
{
	while (*list != NULL) {
		if (hidden_attr((*list)->a_name, drop_rtcp))
			*list = (*list)->a_next;
		else
			list = &(*list)->a_next;
	}
}

/* Session lines that name the far side: i=, u=, e=, p=; s= is ours. */
static void
hide_session(su_home_t *home, sdp_session_t *s, const char *addr)
{
	s->sdp_subject = "-";
	s->sdp_information = NULL;
	s->sdp_uri = NULL;
	s->sdp_emails = NULL;
	s->sdp_phones = NULL;
	strip_attrs(&s->sdp_attributes, true);
	if (s->sdp_connection != NULL)
		set_addr(home, s->sdp_connection, addr, true);
	if (s->sdp_origin == NULL) {
		s->sdp_origin = su_zalloc(home, sizeof(*s->sdp_origin));
		s->sdp_origin->o_size = sizeof(*s->sdp_origin);
	}
	if (s->sdp_origin->o_address == NULL) {
		s->sdp_origin->o_address = su_zalloc(home,
		    sizeof(*s->sdp_origin->o_address));
		s->sdp_origin->o_address->c_size =
		    sizeof(*s->sdp_origin->o_address);
	}
	s->sdp_origin->o_username = "-";
	set_addr(home, s->sdp_origin->o_address, addr, false);
}

/* Media lines: relay ports and addresses, nothing of the far side. */
static int
hide_media(su_home_t *home, sdp_session_t *s, const struct media_desc *media,
    char *err, size_t errlen)
{
	int i = 0;

	for (sdp_media_t *m = s->sdp_media; m != NULL; m = m->m_next, i++) {
		const struct media_line *rm = i < media->n ? &media->line[i] :
		    NULL;
		const char *maddr = rm != NULL && rm->address[0] != '\0' ?
		    rm->address : NULL;
		if (rm == NULL || maddr == NULL) {
			snprintf(err, errlen, "relay reply has fewer media "
			    "than the SDP");
			return -1;
		}
		/* A rejected stream stays rejected, but its c= and a=rtcp
		 * are the far side's as much as a live one's. */
		strip_attrs(&m->m_attributes, m->m_port == 0);
		set_conn(home, m->m_connections, maddr);
		if (m->m_port == 0)
			continue;
		m->m_port = rm->rtp_port;
		set_rtcp(home, m, rm);
	}
	return 0;
}

/* FNV-1a: tells whether the body sent on a leg changed. */
static uint64_t
digest(const char *p)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* Ours, unrelated to the far side's: random, below 2^62 (some stacks
 * read it as a signed 64-bit number), never 0 (0 means "not drawn"). */
static uint64_t
new_session_id(void)
{
	uint64_t id = 0;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint64_t)random() << 31 ^ (uint64_t)random();
	id &= (1ULL << 62) - 1;
	return id != 0 ? id : 1;
}

static char *
print(su_home_t *home, sdp_session_t *s, char *err, size_t errlen)
{
	sdp_printer_t *pr = sdp_print(home, s, NULL, 0, SDP_FLAGS);
	char *out = NULL;

	if (sdp_message(pr) == NULL)
		snprintf(err, errlen, "cannot print SDP: %s",
		    sdp_printing_error(pr));
	else if ((out = strdup(sdp_message(pr))) == NULL)
		snprintf(err, errlen, "cannot print SDP: out of memory");
	if (pr != NULL)
		sdp_printer_free(pr);
	return out;
}

char *
sdp_rewrite(const char *body, size_t len, const struct media_desc *media,
    struct sdp_origin *o, char *err, size_t errlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sdp_parser_t *p;
	sdp_session_t *s = parse(home, body, len, &p, err, errlen);
	const char *addr;
	char *out = NULL;
	uint64_t version, d;

	if (s == NULL)
		goto out;
	addr = media != NULL && media->n > 0 && media->line[0].address[0] ?
	    media->line[0].address : NULL;
	if (addr == NULL) {
		snprintf(err, errlen, "relay reply without a media address");
		goto out;
	}
	hide_session(home, s, addr);
	if (hide_media(home, s, media, err, errlen) < 0)
		goto out;
	if (o->session == 0)
		o->session = new_session_id();
	s->sdp_origin->o_id = o->session;
	/* The same body again (a session refresh) keeps its version. */
	s->sdp_origin->o_version = 0;
	if ((out = print(home, s, err, errlen)) == NULL)
		goto out;
	d = digest(out);
	free(out);
	version = o->version != 0 && d == o->digest ? o->version :
	    o->version + 1;
	s->sdp_origin->o_version = version;
	if ((out = print(home, s, err, errlen)) == NULL)
		goto out;
	o->version = version;
	o->digest = d;
	free(o->body);
	o->body = strdup(out);
out:
	if (p != NULL)
		sdp_parser_free(p);
	su_home_deinit(home);
	return out;
}

void
sdp_origin_clear(struct sdp_origin *o)
{
	free(o->body);
	o->body = NULL;
}

char *
sdp_decline(const char *body, size_t len, char *err, size_t errlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sdp_parser_t *p;
	sdp_session_t *s = parse(home, body, len, &p, err, errlen);
	char *out = NULL;

	if (s != NULL) {
		hide_session(home, s, "0.0.0.0");
		for (sdp_media_t *m = s->sdp_media; m != NULL; m = m->m_next) {
			strip_attrs(&m->m_attributes, true);
			set_conn(home, m->m_connections, "0.0.0.0");
			m->m_port = 0;
		}
		s->sdp_origin->o_id = new_session_id();
		s->sdp_origin->o_version = 1;
		out = print(home, s, err, errlen);
	}
	if (p != NULL)
		sdp_parser_free(p);
	su_home_deinit(home);
	return out;
}
