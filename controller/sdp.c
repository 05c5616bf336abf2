/*
 * sdp.c: SDP belongs to the controller. Bodies are parsed with Sofia's
 * SDP parser into the relay's media objects (PROTOCOL.md), and rewritten
 * with the relay's reply: o= and c= addresses, m= ports, a=rtcp, and
 * our own o= session-version per leg (it must grow with each new
 * description a leg receives). Everything else (codecs, fmtp, unknown
 * attributes, rejected streams) passes through as it was.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

json_t *
sdp_to_media(const char *body, size_t len, char *err, size_t errlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sdp_parser_t *p;
	sdp_session_t *s = parse(home, body, len, &p, err, errlen);
	json_t *arr = NULL;
	int n = 0;

	if (s == NULL)
		goto out;
	arr = json_array();
	for (sdp_media_t *m = s->sdp_media; m != NULL; m = m->m_next) {
		sdp_connection_t *c = m->m_connections ? m->m_connections :
		    s->sdp_connection;
		sdp_attribute_t *a;
		json_t *o;

		if (++n > PROTO_MAX_MEDIA) {
			snprintf(err, errlen, "more than %d m= lines",
			    PROTO_MAX_MEDIA);
			goto fail;
		}
		if (c == NULL || c->c_address == NULL) {
			snprintf(err, errlen, "bad SDP: m= line %d has no c= "
			    "address", n);
			goto fail;
		}
		o = json_pack("{s:s,s:s,s:s,s:I,s:s}", "type", media_type(m),
		    "transport", m->m_proto_name ? m->m_proto_name : "RTP/AVP",
		    "address", c->c_address, "rtp_port",
		    (json_int_t)(m->m_port & 0xffff), "direction",
		    direction(s, m));
		if ((a = attr_find(m->m_attributes, "rtcp")) != NULL &&
		    a->a_value != NULL && m->m_port != 0) {
			long port = strtol(a->a_value, NULL, 10);
			if (port > 0 && port < 65536)
				json_object_set_new(o, "rtcp_port",
				    json_integer(port));
		}
		if (attr_find(m->m_attributes, "rtcp-mux") != NULL)
			json_object_set_new(o, "rtcp_mux", json_true());
		json_array_append_new(arr, o);
	}
	goto out;
fail:
	json_decref(arr);
	arr = NULL;
out:
	if (p != NULL)
		sdp_parser_free(p);
	su_home_deinit(home);
	return arr;
}

static void
set_addr(su_home_t *home, sdp_connection_t *c, const char *addr)
{
	/* A hold address (0.0.0.0) keeps its meaning. */
	if (c == NULL || (c->c_address != NULL &&
	    strcmp(c->c_address, "0.0.0.0") == 0))
		return;
	c->c_address = su_strdup(home, addr);
	c->c_addrtype = strchr(addr, ':') ? sdp_addr_ip6 : sdp_addr_ip4;
	c->c_nettype = sdp_net_in;
}

static void
set_rtcp(su_home_t *home, sdp_media_t *m, json_t *rm)
{
	json_int_t rtp = json_integer_value(json_object_get(rm, "rtp_port"));
	json_t *jr = json_object_get(rm, "rtcp_port");
	json_int_t rtcp = jr ? json_integer_value(jr) : rtp + 1;
	sdp_attribute_t *a = attr_find(m->m_attributes, "rtcp");
	char val[24];

	snprintf(val, sizeof(val), "%lld", (long long)rtcp);
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

char *
sdp_rewrite(const char *body, size_t len, json_t *media,
    unsigned long version, char *err, size_t errlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sdp_parser_t *p;
	sdp_printer_t *pr = NULL;
	sdp_session_t *s = parse(home, body, len, &p, err, errlen);
	const char *addr;
	char *out = NULL;
	size_t i = 0;

	if (s == NULL)
		goto out;
	addr = json_string_value(json_object_get(json_array_get(media, 0),
	    "address"));
	if (addr == NULL) {
		snprintf(err, errlen, "relay reply without a media address");
		goto out;
	}
	if (s->sdp_origin != NULL) {
		s->sdp_origin->o_version = version;
		set_addr(home, s->sdp_origin->o_address, addr);
	}
	set_addr(home, s->sdp_connection, addr);
	for (sdp_media_t *m = s->sdp_media; m != NULL; m = m->m_next, i++) {
		json_t *rm = json_array_get(media, i);
		const char *maddr = json_string_value(json_object_get(rm,
		    "address"));
		if (rm == NULL || maddr == NULL) {
			snprintf(err, errlen, "relay reply has fewer media "
			    "than the SDP");
			goto out;
		}
		if (m->m_port == 0)
			continue;	/* rejected stream stays rejected */
		m->m_port = (unsigned long)json_integer_value(
		    json_object_get(rm, "rtp_port"));
		for (sdp_connection_t *c = m->m_connections; c; c = c->c_next)
			set_addr(home, c, maddr);
		set_rtcp(home, m, rm);
	}
	pr = sdp_print(home, s, NULL, 0, SDP_FLAGS);
	if (sdp_message(pr) == NULL) {
		snprintf(err, errlen, "cannot print SDP: %s",
		    sdp_printing_error(pr));
		goto out;
	}
	out = strdup(sdp_message(pr));
out:
	if (pr != NULL)
		sdp_printer_free(pr);
	if (p != NULL)
		sdp_parser_free(p);
	su_home_deinit(home);
	return out;
}
