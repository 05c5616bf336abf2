/*
 * websdp.c: SDP between a browser (WebRTC) and the relay (issue 14).
 *
 * The browser's offer becomes two things: the relay media of a WebRTC
 * leg (PROTOCOL.md: transport UDP/TLS/RTP/SAVPF with the browser's
 * ice_ufrag, ice_pwd, fingerprint and setup, rtcp_mux, and peer_transport
 * RTP/AVP for the SIP leg the reply describes), and a plain RTP/AVP offer
 * for the SIP side holding only what both sides accept: G.711 (PCMU,
 * PCMA) and telephone-event/8000 (no transcoding here). sdp_rewrite()
 * then points that one at the relay as for any SIP call, so the SIP side
 * never sees an ICE, DTLS or browser attribute.
 *
 * The other way, the relay's reply for the WebRTC leg and the SIP side's
 * answer (for its codecs and direction) become the browser's answer,
 * written from scratch rather than edited: a=ice-lite, our ice-ufrag and
 * ice-pwd, our fingerprint and setup, the relay's candidates only,
 * rtcp-mux, the browser's mid in a=mid and a BUNDLE group of that one
 * audio m-line. No rtcp-fb, extmap or ssrc: the relay implements none of
 * them (transport-cc answered would bring ~16 RTCP packets/s).
 *
 * The browser's SDP is checked by sdp_to_media() first (sdp.c's
 * pre-parse checks guard Sofia's parser), then read with Sofia's parser.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "controller.h"

#include <sofia-sip/sdp.h>

#define WEB_TRANSPORT	"UDP/TLS/RTP/SAVPF"
#define SDP_FLAGS	(sdp_f_mode_manual | sdp_f_mode_always)

/* The codecs both a browser and a G.711 carrier have. */
struct codecs {
	int	 pt[8];
	char	 name[8][24];
	int	 n;
	int	 te;		/* telephone-event/8000's PT, -1 none */
};

static const char *
attr(const sdp_session_t *s, const sdp_media_t *m, const char *name)
{
	const sdp_attribute_t *lists[2] = { m->m_attributes,
	    s->sdp_attributes };

	for (int l = 0; l < 2; l++)
		for (const sdp_attribute_t *a = lists[l]; a; a = a->a_next)
			if (a->a_name && strcasecmp(a->a_name, name) == 0)
				return a->a_value ? a->a_value : "";
	return NULL;
}

static bool
ice_chars(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/')
			return false;
	return true;
}

/* "sha-256 AB:CD:..." with 32 hex pairs. */
static bool
fingerprint_ok(const char *f)
{
	if (strncasecmp(f, "sha-256 ", 8) != 0)
		return false;
	f += 8;
	for (int i = 0; i < 32; i++, f += 3) {
		if (!isxdigit((unsigned char)f[0]) ||
		    !isxdigit((unsigned char)f[1]))
			return false;
		if (f[2] != (i == 31 ? '\0' : ':'))
			return false;
	}
	return true;
}

static void
codec_add(struct codecs *cs, int pt, const char *name, unsigned long rate)
{
	if (rate != 8000 || pt < 0 || pt > 127)
		return;
	if ((strcasecmp(name, "PCMU") == 0 || strcasecmp(name, "PCMA") == 0) &&
	    cs->n < 8) {
		cs->pt[cs->n] = pt;
		snprintf(cs->name[cs->n], sizeof(cs->name[0]), "%s/8000",
		    strcasecmp(name, "PCMU") == 0 ? "PCMU" : "PCMA");
		cs->n++;
	} else if (strcasecmp(name, "telephone-event") == 0 && cs->te < 0) {
		cs->te = pt;
	}
}

/*
 * PCMU, PCMA, telephone-event/8000 of m, in m's order. Sofia reads the
 * rtpmaps of RTP/AVP-like transports only; for UDP/TLS/RTP/SAVPF (an
 * unknown transport to it) the formats stay text and a=rtpmap stays an
 * attribute, read here.
 */
static void
common_codecs(const sdp_media_t *m, struct codecs *cs)
{
	cs->n = 0;
	cs->te = -1;
	for (const sdp_rtpmap_t *r = m->m_rtpmaps; r; r = r->rm_next)
		codec_add(cs, (int)r->rm_pt, r->rm_encoding ? r->rm_encoding :
		    "", r->rm_rate);
	if (m->m_rtpmaps != NULL)
		return;
	for (const sdp_list_t *f = m->m_format; f; f = f->l_next) {
		int pt = f->l_text ? atoi(f->l_text) : -1;
		char name[32];
		unsigned long rate;
		bool found = false;
		for (const sdp_attribute_t *a = m->m_attributes; a && !found;
		    a = a->a_next) {
			char *end;
			if (a->a_name == NULL || a->a_value == NULL ||
			    strcasecmp(a->a_name, "rtpmap") != 0 ||
			    strtol(a->a_value, &end, 10) != pt || *end != ' ')
				continue;
			found = sscanf(end + 1, "%31[^/]/%lu", name, &rate) == 2;
			if (found)
				codec_add(cs, pt, name, rate);
		}
		if (!found && pt == 0)	/* static payload types */
			codec_add(cs, 0, "PCMU", 8000);
		else if (!found && pt == 8)
			codec_add(cs, 8, "PCMA", 8000);
	}
}

static const char *
direction(const sdp_session_t *s, const sdp_media_t *m)
{
	static const char *const dirs[] = { "sendonly", "recvonly", "inactive",
	    "sendrecv" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (attr(s, m, dirs[i]) != NULL)
			return dirs[i];
	return "sendrecv";
}

/* Append to a growing string; false when out of room. */
static bool __attribute__((format(printf, 3, 4)))
add(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	return w >= 0 && (size_t)w < len - n;
}

static char *
sip_offer(const char *addr, long port, const struct codecs *cs,
    const char *dir)
{
	bool v6 = strchr(addr, ':') != NULL;
	char *b = calloc(1, 2048);
	bool ok;

	if (b == NULL)
		return NULL;
	ok = add(b, 2048, "v=0\r\no=- 1 1 IN IP%c %s\r\ns=-\r\nc=IN IP%c %s\r\n"
	    "t=0 0\r\nm=audio %ld RTP/AVP", v6 ? '6' : '4', addr,
	    v6 ? '6' : '4', addr, port);
	for (int i = 0; i < cs->n; i++)
		ok = ok && add(b, 2048, " %d", cs->pt[i]);
	if (cs->te >= 0)
		ok = ok && add(b, 2048, " %d", cs->te);
	ok = ok && add(b, 2048, "\r\n");
	for (int i = 0; i < cs->n; i++)
		ok = ok && add(b, 2048, "a=rtpmap:%d %s\r\n", cs->pt[i],
		    cs->name[i]);
	if (cs->te >= 0)
		ok = ok && add(b, 2048, "a=rtpmap:%d telephone-event/8000\r\n"
		    "a=fmtp:%d 0-15\r\n", cs->te, cs->te);
	ok = ok && add(b, 2048, "a=ptime:20\r\na=%s\r\n", dir);
	if (!ok) {
		free(b);
		return NULL;
	}
	return b;
}

/* A string field of the relay media; false when it does not fit. */
static bool
set_field(char *dst, size_t size, const char *v)
{
	return (size_t)snprintf(dst, size, "%s", v) < size;
}

int
websdp_offer(const char *sdp, const char *peer_transport,
    struct media_desc **media, char **sip_sdp, char *err, size_t errlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	struct media_desc *md;
	struct media_line *o;
	sdp_parser_t *p = NULL;
	sdp_session_t *s;
	sdp_media_t *m;
	struct codecs cs;
	const char *ufrag, *pwd, *fp, *setup;
	int rc = -EINVAL;

	*media = NULL;
	*sip_sdp = NULL;
	/* sdp.c's checks first: they guard Sofia's parser */
	if ((md = sdp_to_media(sdp, strlen(sdp), err, errlen)) == NULL)
		return -EINVAL;
	p = sdp_parse(home, sdp, (issize_t)strlen(sdp), SDP_FLAGS);
	s = sdp_session(p);
	if (s == NULL || (m = s->sdp_media) == NULL) {
		snprintf(err, errlen, "bad SDP");
		goto out;
	}
	o = &md->line[0];
	if (md->n != 1 || m->m_type != sdp_media_audio) {
		snprintf(err, errlen, "one audio m= line is required (BUNDLE "
		    "with audio only)");
		goto out;
	}
	if (m->m_proto_name == NULL || strcmp(m->m_proto_name,
	    WEB_TRANSPORT) != 0) {
		snprintf(err, errlen, "the m= line must be %s", WEB_TRANSPORT);
		goto out;
	}
	ufrag = attr(s, m, "ice-ufrag");
	pwd = attr(s, m, "ice-pwd");
	fp = attr(s, m, "fingerprint");
	setup = attr(s, m, "setup");
	if (ufrag == NULL || !ice_chars(ufrag, 4, 256) || pwd == NULL ||
	    !ice_chars(pwd, 22, 256)) {
		snprintf(err, errlen, "a=ice-ufrag (4..256) and a=ice-pwd "
		    "(22..256 ICE characters) are required");
		goto out;
	}
	if (fp == NULL || !fingerprint_ok(fp)) {
		snprintf(err, errlen, "a=fingerprint:sha-256 with 32 hex bytes "
		    "is required");
		goto out;
	}
	if (setup == NULL || (strcmp(setup, "actpass") != 0 &&
	    strcmp(setup, "active") != 0 && strcmp(setup, "passive") != 0)) {
		snprintf(err, errlen, "a=setup must be actpass, active or "
		    "passive");
		goto out;
	}
	if (attr(s, m, "rtcp-mux") == NULL) {
		snprintf(err, errlen, "a=rtcp-mux is required");
		goto out;
	}
	common_codecs(m, &cs);
	if (cs.n == 0) {
		snprintf(err, errlen, "no common codec: the offer needs PCMU or "
		    "PCMA (G.711)");
		goto out;
	}
	/* the lengths were checked above; peer_transport is ours */
	if (!set_field(o->ice_ufrag, sizeof(o->ice_ufrag), ufrag) ||
	    !set_field(o->ice_pwd, sizeof(o->ice_pwd), pwd) ||
	    !set_field(o->fingerprint, sizeof(o->fingerprint), fp) ||
	    !set_field(o->setup, sizeof(o->setup), setup) ||
	    !set_field(o->peer_transport, sizeof(o->peer_transport),
	    peer_transport)) {
		snprintf(err, errlen, "an ICE or DTLS attribute is too long");
		goto out;
	}
	o->rtcp_mux = true;
	o->rtcp_port = 0;
	if ((*sip_sdp = sip_offer(o->address, (long)o->rtp_port, &cs,
	    direction(s, m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*media = md;
	md = NULL;
	rc = 0;
out:
	free(md);
	if (p != NULL)
		sdp_parser_free(p);
	su_home_deinit(home);
	return rc;
}

void
websdp_mid(const char *sdp, char *out, size_t len)
{
	const char *a = strstr(sdp, "\na=mid:");
	size_t n = 0;

	snprintf(out, len, "0");
	if (a == NULL)
		return;
	a += 7;
	while (a[n] != '\0' && a[n] != '\r' && a[n] != '\n' && n + 1 < len &&
	    n < 32 && (isalnum((unsigned char)a[n]) || a[n] == '-' ||
	    a[n] == '_'))
		n++;
	if (n > 0)
		snprintf(out, len, "%.*s", (int)n, a);
}

/* relay.c left a field that did not fit empty (0), refused here. */
static bool
cand_ok(const struct media_cand *c)
{
	const char *found = c->foundation[0] ? c->foundation : "1";

	return c->address[0] != '\0' && strspn(c->address,
	    "0123456789abcdefABCDEF.:") == strlen(c->address) && c->port > 0 &&
	    c->port < 65536 && c->priority > 0 && ice_chars(found, 1, 32);
}

/* Keep in a the codecs b has too, with the same payload type. */
static void
intersect(struct codecs *a, const struct codecs *b)
{
	int n = 0;

	for (int i = 0; i < a->n; i++)
		for (int j = 0; j < b->n; j++)
			if (a->pt[i] == b->pt[j] &&
			    strcmp(a->name[i], b->name[j]) == 0) {
				a->pt[n] = a->pt[i];
				memcpy(a->name[n], a->name[i], sizeof(a->name[0]));
				n++;
				break;
			}
	a->n = n;
	if (a->te != b->te)
		a->te = -1;	/* another PT: the browser would not know it */
}

/* The codecs of an SDP's first m= line, and its direction. */
static int
sdp_codecs(const char *body, struct codecs *cs, const char **dir, char *err,
    size_t errlen)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	struct media_desc *chk = sdp_to_media(body, strlen(body), err, errlen);
	sdp_parser_t *p;
	sdp_session_t *s;

	cs->n = 0;
	cs->te = -1;
	if (chk == NULL)
		return -EINVAL;
	free(chk);
	p = sdp_parse(home, body, (issize_t)strlen(body), SDP_FLAGS);
	if ((s = sdp_session(p)) != NULL && s->sdp_media != NULL) {
		common_codecs(s->sdp_media, cs);
		if (dir != NULL)
			*dir = direction(s, s->sdp_media);
	}
	sdp_parser_free(p);
	su_home_deinit(home);
	return 0;
}

char *
websdp_answer(const struct media_desc *media, const char *sip_sdp,
    const char *offer, char *err, size_t errlen)
{
	static const struct media_line none;
	const struct media_line *o = media != NULL && media->n > 0 ?
	    &media->line[0] : &none;
	const char *addr = o->address, *ufrag = o->ice_ufrag;
	const char *pwd = o->ice_pwd, *fp = o->fingerprint, *setup = o->setup;
	const char *dir = "sendrecv";
	struct codecs cs, bc;
	char mid[40];
	uint64_t sess = 0;
	char *b = NULL;
	size_t len = 4096;
	bool ok, v6;

	if (addr[0] == '\0' || o->ncand == 0 || !ice_chars(ufrag, 4, 256) ||
	    !ice_chars(pwd, 22, 256) || !fingerprint_ok(fp) ||
	    (strcmp(setup, "active") != 0 && strcmp(setup, "passive") != 0 &&
	    strcmp(setup, "actpass") != 0)) {
		snprintf(err, errlen, "the relay's reply has no usable WebRTC "
		    "leg (ice_ufrag, ice_pwd, fingerprint, setup, candidates)");
		return NULL;
	}
	if (sdp_codecs(sip_sdp, &cs, &dir, err, errlen) < 0 ||
	    (offer != NULL && sdp_codecs(offer, &bc, NULL, err, errlen) < 0))
		return NULL;
	if (offer != NULL)
		intersect(&cs, &bc);
	websdp_mid(offer != NULL ? offer : "", mid, sizeof(mid));
	if (cs.n == 0) {
		snprintf(err, errlen, "no common codec: the SIP side answered "
		    "without the browser's PCMU or PCMA");
		return NULL;
	}
	if ((b = calloc(1, len)) == NULL)
		return NULL;
	(void)getrandom(&sess, sizeof(sess), 0);
	v6 = strchr(addr, ':') != NULL;
	ok = add(b, len, "v=0\r\no=- %llu 2 IN IP%c %s\r\ns=-\r\nt=0 0\r\n"
	    "%sa=group:BUNDLE %s\r\nm=audio %u %s",
	    (unsigned long long)(sess >> 2), v6 ? '6' : '4', addr,
	    o->ice_lite ? "a=ice-lite\r\n" : "", mid, o->rtp_port,
	    WEB_TRANSPORT);
	for (int k = 0; k < cs.n; k++)
		ok = ok && add(b, len, " %d", cs.pt[k]);
	if (cs.te >= 0)
		ok = ok && add(b, len, " %d", cs.te);
	ok = ok && add(b, len, "\r\nc=IN IP%c %s\r\na=mid:%s\r\na=%s\r\n"
	    "a=rtcp-mux\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
	    "a=fingerprint:%s\r\na=setup:%s\r\n", v6 ? '6' : '4', addr, mid,
	    dir, ufrag, pwd, fp, setup);
	for (int k = 0; k < cs.n; k++)
		ok = ok && add(b, len, "a=rtpmap:%d %s\r\n", cs.pt[k],
		    cs.name[k]);
	if (cs.te >= 0)
		ok = ok && add(b, len, "a=rtpmap:%d telephone-event/8000\r\n"
		    "a=fmtp:%d 0-15\r\n", cs.te, cs.te);
	for (int i = 0; i < o->ncand; i++) {
		const struct media_cand *c = &o->cand[i];
		if (!cand_ok(c)) {
			snprintf(err, errlen, "the relay's candidate %d is not "
			    "usable", i);
			free(b);
			return NULL;
		}
		ok = ok && add(b, len, "a=candidate:%s 1 udp %" PRIu32 " %s %u "
		    "typ host\r\n", c->foundation[0] ? c->foundation : "1",
		    c->priority, c->address, c->port);
	}
	ok = ok && add(b, len, "a=end-of-candidates\r\n");
	if (!ok) {
		snprintf(err, errlen, "the browser's answer is too long");
		free(b);
		return NULL;
	}
	return b;
}
