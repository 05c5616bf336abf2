/*
 * reinvite.c: a new offer inside a connected call (re-INVITE or UPDATE,
 * from either side), or an UPDATE in the early dialog (RFC 3311). The
 * offer goes through the relay before the other side sees it, and the
 * answer goes through the relay before the side
 * that re-offered hears it, so the relay follows every media change.
 * One re-offer at a time (another one gets 491); an UPDATE is answered
 * through its saved event, a re-INVITE's 2xx is ACKed when the re-offerer
 * ACKs (b2bua.c).
 *
 * A re-INVITE without an offer (RFC 3261 14.2; session refreshes, RFC
 * 4028) is answered on its own leg: our offer in the 200 is the SDP we
 * last sent that peer (sdp.c keeps it, o= version unchanged), and the
 * answer in the ACK goes to the relay only if it changes that peer's
 * media. The other leg hears nothing: its media did not move.
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

/* ---- what each peer sent last ---- */

static void
set_peer_sdp(struct call *k, int side, const char *body, size_t len)
{
	char *copy = strndup(body, len);

	if (copy == NULL)
		return;	/* the older one stays: a refresh may be relayed */
	free(k->peer_sdp[side]);
	k->peer_sdp[side] = copy;
}

void
reinvite_peer_sdp(struct leg *l, const sip_t *sip)
{
	if (sip != NULL && sip->sip_payload != NULL &&
	    sip->sip_payload->pl_len > 0)
		set_peer_sdp(l->call, l->side, sip->sip_payload->pl_data,
		    sip->sip_payload->pl_len);
}

static const char *
peer_sdp(const struct call *k, int side)
{
	if (k->peer_sdp[side] != NULL)
		return k->peer_sdp[side];
	return side == 0 ? k->offer : NULL;
}

/* Would media change what the relay holds for that side? Unknown: yes. */
static bool
media_changed(const struct call *k, int side, const struct media_desc *media)
{
	const char *old = peer_sdp(k, side);
	char err[160];
	struct media_desc *om;
	bool changed;

	if (old == NULL || (om = sdp_to_media(old, strlen(old), err,
	    sizeof(err))) == NULL)
		return true;
	changed = !media_equal(om, media);
	free(om);
	return changed;
}

void
reinvite_free(struct call *k)
{
	free(k->peer_sdp[0]);
	free(k->peer_sdp[1]);
	free(k->reinv_prev);
	free(k->reinv_held);
	k->reinv_prev = k->reinv_held = NULL;
	k->peer_sdp[0] = k->peer_sdp[1] = NULL;
	sdp_origin_clear(&k->a.sdp);
	sdp_origin_clear(&k->b.sdp);
}

/* ---- re-INVITE: a new offer from either side goes through the relay ---- */

/* The caller's media is the relay's offer side, the callee's its
 * answer side, whichever of them re-offers or answers. Before the call
 * is answered (an UPDATE in the early dialog) the callee's is early:
 * the relay's session keeps ringing. */
static void
relay_media(struct leg *l, struct media_desc *media, relay_cb *cb)
{
	if (l->side == 0)
		relay_offer(l->call, media, cb, l->call);
	else if (l->call->state != CS_CONNECTED)
		relay_answer_early(l->call, media, cb, l->call);
	else
		relay_answer(l->call, media, cb, l->call);
}

static void	 send_offer(struct call *, struct leg *, const char *sdp);

static struct leg *
reinv_from(struct call *k)
{
	return k->reinv == 1 ? &k->a : &k->b;
}

struct leg *
reinv_to(struct call *k)
{
	return k->reinv == 1 ? &k->b : &k->a;
}

/* Answer the re-offer (an UPDATE is answered through its saved event). */
static void
reinv_respond(struct call *k, int status, const char *sdp)
{
	struct leg *from = reinv_from(k);
	/* A re-offer that went through refreshes the re-offerer's leg. */
	const char *st = status >= 200 && status < 300 ?
	    session_timer_refreshed(from, NULL) : NULL;

	if (from->nh != NULL)
		nua_respond(from->nh, status, sip_status_phrase(status),
		    TAG_IF(st, SIPTAG_HEADER_STR(st)),
		    TAG_IF(k->reinv_update, NUTAG_WITH_SAVED(k->reinv_saved)),
		    TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
		    TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
	if (k->reinv_update)
		nua_destroy_event(k->reinv_saved);
	k->reinv_update = false;
	k->reinv = 0;
}

/* The re-offerer gets an error. A 2xx the other side sent is ACKed now
 * (RFC 3261 13.2.2.4): it would wait for an ACK that never comes, the
 * re-offerer's ACK of an error never reaching us. */
static void
reinv_fail(struct call *k, int status)
{
	if (k->reinv_ack != NULL && k->reinv_ack->nh != NULL)
		nua_ack(k->reinv_ack->nh, TAG_END());
	k->reinv_ack = NULL;
	free(k->reinv_held);	/* never sent: nothing to roll back there */
	k->reinv_held = NULL;
	reinv_respond(k, status, NULL);
}

void
reinvite_abort(struct call *k, int status)
{
	if (k->reinv == 0)
		return;
	reinv_fail(k, status);
}

/*
 * A re-offer needs both legs' dialogs and the first offer/answer done: a
 * connected call, or for an UPDATE (RFC 3311) an early one whose
 * gateway's 18x SDP went to the relay (B's tag is set then; a late offer
 * has its first offer/answer in the 2xx and ACK).
 */
static bool
can_reoffer(const struct call *k, bool update)
{
	if (k->state == CS_CONNECTED)
		return true;
	return update && k->state == CS_EARLY && k->to_tag[0] != '\0' &&
	    !k->late_offer && k->relay_session;
}

/* The far side took the offer, and we cannot follow (its answer is
 * unusable, the relay refused it): its 2xx is ACKed, the re-offerer gets
 * 500, and the call ends, the two sides no longer using the same media. */
static void
fail_after_2xx(struct call *k, const char *why)
{
	clog_msg(k->ctl, LL_WARNING, "call %s: %s", k->call_id, why);
	reinv_fail(k, 500);
	b2bua_hangup(k->ctl, k->relay_key, BY_CONTROLLER, why);
}

static void
on_rolled_back(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;

	if (k->finished) {
		call_check(k);
		return;
	}
	if (rr->answered && !rr->ok)
		b2bua_hangup(c, k->relay_key, BY_CONTROLLER,
		    "media relay refused to roll back a refused re-offer");
}

/*
 * The far side refused the re-offer (491, 488...): nothing changed for
 * either peer, but the relay already holds the re-offerer's new media.
 * It gets back the media the re-offerer still uses, and our SDP on the
 * far leg is again the one before the refused offer.
 */
static void
rollback(struct call *k)
{
	struct leg *from = reinv_from(k), *to = reinv_to(k);
	const char *old = peer_sdp(k, from->side);
	char err[160];
	struct media_desc *media;

	if (k->reinv_prev != NULL) {
		free(to->sdp.body);
		to->sdp.body = k->reinv_prev;
		to->sdp.digest = k->reinv_prev_digest;
		k->reinv_prev = NULL;
	}
	if (old == NULL || (media = sdp_to_media(old, strlen(old), err,
	    sizeof(err))) == NULL)
		return;
	clog_msg(k->ctl, LL_DEBUG, "call %s: re-offer refused: the relay gets "
	    "the %s's media back", k->call_id, from->side == 0 ? "caller" :
	    "callee");
	relay_media(from, media, on_rolled_back);
}

/* The offer went through the relay: pass it on to the other side. */
static void
on_reinv_offered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	struct leg *to;
	char err[160], *sdp = NULL;

	if (k->finished || k->reinv == 0 || !can_reoffer(k, k->reinv_update)) {
		call_check(k);
		return;
	}
	to = reinv_to(k);
	/* What we sent to leg `to` before, should it refuse (rollback()). */
	free(k->reinv_prev);
	k->reinv_prev = to->sdp.body != NULL ? strdup(to->sdp.body) : NULL;
	k->reinv_prev_digest = to->sdp.digest;
	if (rr->ok)
		sdp = sdp_rewrite(k->reinv_sdp, strlen(k->reinv_sdp),
		    rr->media, &to->sdp, err,
		    sizeof(err));
	if (sdp == NULL || to->nh == NULL) {
		/* No reply: the relay failed, and its calls end next. */
		reinv_fail(k, !rr->answered ? 503 : 500);
		free(sdp);
		return;
	}
	if (to == &k->a && k->state == CS_EARLY && k->a_prack_wait) {
		clog_msg(c, LL_DEBUG, "call %s: the callee's early UPDATE "
		    "waits for the caller's PRACK", k->call_id);
		free(k->reinv_held);
		k->reinv_held = sdp;
		return;
	}
	send_offer(k, to, sdp);
	free(sdp);
}

/* The re-offer, through the relay, to leg `to`. */
static void
send_offer(struct call *k, struct leg *to, const char *sdp)
{
	/* It refreshes that leg too: its session timer goes with it. */
	const char *st = session_timer_request(to);

	if (k->reinv_update)
		nua_update(to->nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    TAG_IF(st, SIPTAG_HEADER_STR(st)),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	else
		nua_invite(to->nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    TAG_IF(st, SIPTAG_HEADER_STR(st)),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
}

/*
 * RFC 3311 5.1: the callee (we, on the caller's leg) must not send an
 * offer in an UPDATE until the caller has PRACKed the reliable 18x that
 * carried the answer. The gateway's own leg is PRACKed by the stack at
 * once, so its UPDATE can come before the caller's PRACK (or overtake
 * our 200 to it): it waits here. Sofia sends a reliable 183 to a caller
 * that supports 100rel, any reliable 18x to one that requires it.
 */
void
reinvite_a_early(struct call *k, int status)
{
	if (k->a_100rel_req || (k->a_100rel && status == 183))
		k->a_prack_wait = true;
}

/* The caller's PRACK was answered (the stack reports it after its 200),
 * or the call was answered: a held early UPDATE goes now. */
void
reinvite_a_pracked(struct call *k)
{
	char *sdp = k->reinv_held;

	k->a_prack_wait = false;
	if (sdp == NULL)
		return;
	k->reinv_held = NULL;
	if (!k->finished && k->reinv == 2 && k->a.nh != NULL) {
		clog_msg(k->ctl, LL_DEBUG, "call %s: the caller PRACKed: "
		    "the callee's early UPDATE goes on", k->call_id);
		send_offer(k, &k->a, sdp);
	}
	free(sdp);
}

/* ---- a re-offer from the SIP side of a browser's call ---- */

static const char *
answer_direction(const char *offer)
{
	if (strcmp(offer, "sendonly") == 0)
		return "recvonly";
	if (strcmp(offer, "recvonly") == 0)
		return "sendonly";
	if (strcmp(offer, "inactive") == 0)
		return "inactive";
	return "sendrecv";
}

static bool
is_direction_line(const char *p, size_t n)
{
	static const char *const d[] = { "a=sendrecv", "a=sendonly",
	    "a=recvonly", "a=inactive" };

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (n == strlen(d[i]) && memcmp(p, d[i], n) == 0)
			return true;
	return false;
}

/* The format list of the idx-th m= line of sdp (" 0 8 101 "), or "". */
static void
m_formats(const char *sdp, int idx, char *out, size_t len)
{
	int m = -1;

	snprintf(out, len, " ");
	for (const char *p = sdp; *p != '\0'; p += strcspn(p, "\n"),
	    p += *p == '\n') {
		const char *f;
		size_t n;
		if (p[0] != 'm' || p[1] != '=' || ++m != idx)
			continue;
		n = strcspn(p, "\r\n");
		/* skip "m=type port proto" */
		f = p;
		for (int sp = 0; sp < 3 && f < p + n; f++)
			if (*f == ' ')
				sp++;
		if (f < p + n && n - (size_t)(f - p) + 3 < len)
			snprintf(out, len, " %.*s ", (int)(n - (size_t)(f - p)),
			    f);
		return;
	}
}

static bool
has_format(const char *list, const char *pt, size_t n)
{
	char tok[16];

	if (n == 0 || n + 3 > sizeof(tok))
		return false;
	snprintf(tok, sizeof(tok), " %.*s ", (int)n, pt);
	return strstr(list, tok) != NULL;
}

/* An a=rtpmap:/fmtp:/rtcp-fb: line's payload type, or n 0. */
static const char *
attr_pt(const char *p, size_t t, size_t *n)
{
	static const char *const a[] = { "a=rtpmap:", "a=fmtp:",
	    "a=rtcp-fb:" };

	*n = 0;
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (t > strlen(a[i]) && strncmp(p, a[i], strlen(a[i])) == 0) {
			p += strlen(a[i]);
			*n = strcspn(p, " \r\n");
			return p;
		}
	return p;
}

/* One m= line with only the formats the offer has; 0, or -1: none. */
static int
filter_m_line(const char *p, size_t t, const char *keep, char *kept,
    size_t klen, char **o)
{
	const char *f = p, *e = p + t;

	for (int sp = 0; sp < 3 && f < e; f++)
		if (*f == ' ')
			sp++;
	memcpy(*o, p, (size_t)(f - p));
	*o += f - p;
	snprintf(kept, klen, " ");
	while (f < e) {
		size_t n = strcspn(f, " \r\n");
		if (n > (size_t)(e - f))
			n = (size_t)(e - f);
		if (has_format(keep, f, n) && strlen(kept) + n + 2 < klen) {
			*o += sprintf(*o, "%s%.*s", kept[1] ? " " : "", (int)n,
			    f);
			strncat(kept, f, n);
			strcat(kept, " ");
		}
		f += n + (f + n < e);
	}
	*o += sprintf(*o, "\r\n");
	if (kept[1] == '\0')
		return -1;
	return 0;
}

/*
 * Our last SDP on the leg as the answer to the re-offer: each m-section
 * keeps the formats the offer also has (an answer's are a subset, RFC
 * 3264 6.1) and its direction is the answering one. malloc'd, or NULL
 * with err set.
 */
static char *
reanswer_body(const char *body, const char *offer_sdp,
    const struct media_desc *offer, char *err, size_t errlen)
{
	size_t len = strlen(body), cap = len + 32 * (size_t)(offer->n + 1);
	char *out = malloc(cap), *o = out, keep[256], kept[256] = " ";
	int m = -1;

	if (out == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (const char *p = body; *p != '\0';) {
		const char *e = strchr(p, '\n'), *pt;
		size_t n = e ? (size_t)(e - p + 1) : strlen(p), t = n, ptn;

		while (t > 0 && (p[t - 1] == '\n' || p[t - 1] == '\r'))
			t--;
		if (t >= 2 && p[0] == 'm' && p[1] == '=') {
			if (m >= 0 && m < offer->n)
				o += sprintf(o, "a=%s\r\n", answer_direction(
				    offer->line[m].direction));
			m++;
			m_formats(offer_sdp, m, keep, sizeof(keep));
			if (filter_m_line(p, t, keep, kept, sizeof(kept),
			    &o) < 0) {
				snprintf(err, errlen, "the re-offer's media "
				    "line %d has none of the call's formats",
				    m);
				free(out);
				return NULL;
			}
			p += n;
			continue;
		}
		pt = attr_pt(p, t, &ptn);
		if (!(m >= 0 && (is_direction_line(p, t) ||
		    (ptn > 0 && !has_format(kept, pt, ptn))))) {
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	if (m >= 0 && m < offer->n)
		o += sprintf(o, "a=%s\r\n", answer_direction(
		    offer->line[m].direction));
	*o = '\0';
	return out;
}

/*
 * The answer to the SIP side's re-offer when the other leg is a browser:
 * the browser is not asked (its ICE, DTLS and codecs stay as they are),
 * so the answer is our last SDP on this leg (the relay's address, the
 * codecs agreed at the call's start, those the re-offer also has) with
 * the answering direction (hold: recvonly to a sendonly offer);
 * sdp_rewrite() bumps its o= version.
 */
static char *
web_reanswer(struct call *k, struct leg *from, char *err, size_t errlen)
{
	struct media_desc *offer = NULL, *ours = NULL;
	char *body = NULL, *sdp = NULL;

	if (from->sdp.body == NULL) {
		snprintf(err, errlen, "no SDP sent on this leg yet");
		return NULL;
	}
	if ((offer = sdp_to_media(k->reinv_sdp, strlen(k->reinv_sdp), err,
	    errlen)) == NULL || (ours = sdp_to_media(from->sdp.body,
	    strlen(from->sdp.body), err, errlen)) == NULL)
		goto out;
	if (offer->n != ours->n) {
		snprintf(err, errlen, "the re-offer has %d media lines, the "
		    "call %d", offer->n, ours->n);
		goto out;
	}
	if ((body = reanswer_body(from->sdp.body, k->reinv_sdp, offer, err,
	    errlen)) == NULL)
		goto out;
	sdp = sdp_rewrite(body, strlen(body), ours, &from->sdp, err, errlen);
out:
	free(offer);
	free(ours);
	free(body);
	return sdp;
}

/* The SIP side's new media are on the relay: it gets its answer. */
static void
on_web_reoffered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	struct leg *from;
	char err[160], *sdp;

	if (k->finished || k->reinv == 0) {
		call_check(k);
		return;
	}
	from = reinv_from(k);
	if (!rr->ok) {
		clog_msg(c, LL_WARNING, "call %s: relay %s refused a re-offer "
		    "of the SIP side: %s", k->call_id, relay_name(k->relay),
		    rr->error ? rr->error : "no reply");
		reinv_fail(k, rr->answered ? 488 : 503);
		return;
	}
	if ((sdp = web_reanswer(k, from, err, sizeof(err))) == NULL) {
		clog_msg(c, LL_WARNING, "call %s: re-offer of the SIP side: "
		    "%s: 488", k->call_id, err);
		rollback(k);
		reinv_fail(k, 488);
		return;
	}
	clog_msg(c, LL_DEBUG, "call %s: re-offer of the SIP side answered "
	    "by the gateway; the browser's leg is unchanged", k->call_id);
	set_peer_sdp(k, from->side, k->reinv_sdp, strlen(k->reinv_sdp));
	reinv_respond(k, 200, sdp);
	free(sdp);
}

/* ---- a re-INVITE without an offer: answered on its own leg ---- */

static void
offerless_in(struct ctl *c, nua_t *nua, struct leg *l, const sip_t *sip)
{
	struct call *k = l->call;
	const char *sdp = l->sdp.body, *st;

	if (sdp == NULL) {	/* nothing sent yet: cannot happen connected */
		nua_respond(l->nh, SIP_500_INTERNAL_SERVER_ERROR,
		    NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	clog_msg(c, LL_DEBUG, "call %s: re-INVITE without SDP from the %s: "
	    "our current SDP offered", k->call_id, l->side == 0 ? "caller" :
	    "callee");
	k->offerless = l;
	st = session_timer_refreshed(l, sip);
	nua_respond(l->nh, SIP_200_OK, NUTAG_WITH_THIS(nua),
	    TAG_IF(st, SIPTAG_HEADER_STR(st)),
	    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
	    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
}

static void
on_ack_media(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;

	if (k->finished) {
		call_check(k);
		return;
	}
	/* No reply: the relay failed, and its calls end through relay.c. */
	if (rr->answered && !rr->ok) {
		clog_msg(c, LL_WARNING, "call %s: relay %s refused the media "
		    "of an ACK: %s", k->call_id, relay_name(k->relay),
		    rr->error);
		b2bua_hangup(c, k->relay_key, BY_CONTROLLER,
		    "media relay refused the new media");
	}
}

bool
reinvite_ack(struct ctl *c, struct leg *l, const sip_t *sip)
{
	struct call *k = l->call;

	if (k->offerless != l) {
		reinvite_peer_sdp(l, sip);	/* a late offer's answer */
		return false;
	}
	k->offerless = NULL;
	if (sip == NULL || sip->sip_payload == NULL ||
	    sip->sip_payload->pl_len == 0) {
		/* RFC 3261 13.2.1 wants the answer here; without one the
		 * media stay as they were. */
		clog_msg(c, LL_NOTICE, "call %s: ACK without the answer to our "
		    "offer: media unchanged", k->call_id);
		return true;
	}
	reinvite_media_in(l, sip);
	return true;
}

void
reinvite_media_in(struct leg *l, const sip_t *sip)
{
	struct call *k = l->call;
	struct ctl *c = k->ctl;
	char err[160];
	struct media_desc *media;
	bool changed;

	if (sip == NULL || sip->sip_payload == NULL ||
	    sip->sip_payload->pl_len == 0)
		return;
	if ((media = sdp_to_media(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len, err, sizeof(err))) == NULL) {
		clog_msg(c, LL_NOTICE, "call %s: answer from the %s: %s",
		    k->call_id, l->side == 0 ? "caller" : "callee", err);
		b2bua_hangup(c, k->relay_key, BY_CONTROLLER,
		    "unusable SDP answer");
		return;
	}
	changed = media_changed(k, l->side, media);
	reinvite_peer_sdp(l, sip);
	if (!changed) {
		free(media);
		return;
	}
	clog_msg(c, LL_DEBUG, "call %s: the %s moved its media in an answer: "
	    "to relay %s", k->call_id, l->side == 0 ? "caller" : "callee",
	    relay_name(k->relay));
	relay_media(l, media, on_ack_media);
}

/* ---- a re-offer ---- */

/* The o= line of an SDP body, without its line end. */
static size_t
origin_line(const char *p, size_t len, const char **out)
{
	for (size_t i = 0; i + 1 < len; i++)
		if ((i == 0 || p[i - 1] == '\n') && p[i] == 'o' &&
		    p[i + 1] == '=') {
			size_t n = i;
			while (n < len && p[n] != '\r' && p[n] != '\n')
				n++;
			*out = p + i;
			return n - i;
		}
	return 0;
}

/* RFC 3264 section 8: an SDP whose o= (session id and version) is the
 * one its sender used before has not changed. */
static bool
unchanged(const char *old, const sip_payload_t *pl)
{
	const char *a, *b;
	size_t na, nb;

	if (old == NULL || (na = origin_line(old, strlen(old), &a)) == 0 ||
	    (nb = origin_line(pl->pl_data, pl->pl_len, &b)) == 0)
		return false;
	return na == nb && memcmp(a, b, na) == 0;
}

static void
refresh_in(struct ctl *c, nua_t *nua, struct leg *l, const sip_t *sip,
    bool update)
{
	struct call *k = l->call;
	const char *sdp = l->sdp.body, *st;

	if (sdp == NULL) {
		nua_respond(l->nh, SIP_500_INTERNAL_SERVER_ERROR,
		    NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	clog_msg(c, LL_DEBUG, "call %s: %s with unchanged SDP from the %s: "
	    "answered here", k->call_id, update ? "UPDATE" : "re-INVITE",
	    l->side == 0 ? "caller" : "callee");
	st = session_timer_refreshed(l, sip);
	nua_respond(l->nh, SIP_200_OK, NUTAG_WITH_THIS(nua),
	    TAG_IF(st, SIPTAG_HEADER_STR(st)),
	    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
	    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
}

void
reinvite_in(struct ctl *c, nua_t *nua, struct leg *l, const sip_t *sip,
    bool update)
{
	struct call *k = l->call;
	char err[160];
	const char *st;
	struct media_desc *media;
	bool offerless, local;

	/*
	 * Sofia matches a request without a To tag to a dialog with the
	 * same Call-ID and From tag: that is someone's new INVITE reusing
	 * this call's identifiers (issue 12), never a re-offer of it. 400:
	 * a code that ends the transaction only (482 or 481 would end the
	 * victim's dialog, RFC 5057).
	 */
	if (sip->sip_to == NULL || sip->sip_to->a_tag == NULL) {
		clog_msg(c, LL_NOTICE, "call %s: a %s without To tag reuses "
		    "this call's Call-ID and From tag: 400", k->call_id,
		    update ? "UPDATE" : "INVITE");
		nua_respond(l->nh, SIP_400_BAD_REQUEST, NUTAG_WITH_THIS(nua),
		    TAG_END());
		return;
	}
	if (update && (sip->sip_payload == NULL ||
	    sip->sip_payload->pl_len == 0)) {
		/* No offer (a session refresh): nothing to pass on. */
		st = k->state == CS_CONNECTED ? session_timer_refreshed(l, sip) :
		    NULL;
		nua_respond(l->nh, SIP_200_OK, NUTAG_WITH_THIS(nua),
		    TAG_IF(st, SIPTAG_HEADER_STR(st)), TAG_END());
		return;
	}
	offerless = sip->sip_payload == NULL || sip->sip_payload->pl_len == 0;
	/* Answered on this leg: no offer, or the same offer again. */
	local = offerless || unchanged(peer_sdp(k, l->side), sip->sip_payload);
	/*
	 * One offer/answer at a time: a re-offer passed on involves both
	 * legs, so anything in progress on either one makes it wait (491,
	 * RFC 3261 14.2); one answered here only meets what is in
	 * progress on its own leg (the legs are separate dialogs).
	 */
	if (!can_reoffer(k, update) || k->reinv != 0 || k->offerless != NULL ||
	    session_timer_busy(k, local ? l : NULL)) {
		int code = can_reoffer(k, update) ? 491 : 488;
		clog_msg(c, LL_DEBUG, "call %s: %s from the %s while another "
		    "offer is in progress or the call is not up: %d",
		    k->call_id, update ? "UPDATE" : "re-INVITE",
		    l->side == 0 ? "caller" : "callee", code);
		nua_respond(l->nh, code, sip_status_phrase(code),
		    NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	if (offerless) {
		offerless_in(c, nua, l, sip);
		return;
	}
	if (local) {
		/* A refresh (RFC 4028) with the same SDP: answered here with
		 * ours, also unchanged; nothing moves. */
		refresh_in(c, nua, l, sip, update);
		return;
	}
	if ((media = sdp_to_media(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len, err, sizeof(err))) == NULL) {
		clog_msg(c, LL_NOTICE, "call %s: re-offer from the %s: %s: 488",
		    k->call_id, l->side == 0 ? "caller" : "callee", err);
		nua_respond(l->nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua),
		    TAG_END());
		return;
	}
	k->reinv = l->side + 1;
	k->reinv_update = update;
	if (update)
		nua_save_event(nua, k->reinv_saved);
	free(k->reinv_sdp);
	k->reinv_sdp = strndup(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len);
	clog_msg(c, LL_DEBUG, "call %s: re-offer from the %s: to relay %s",
	    k->call_id, l->side == 0 ? "caller" : "callee",
	    relay_name(k->relay));
	/* A browser's leg (webcall.c) is not re-offered: answered here. */
	relay_media(l, media, k->a.web != NULL || k->b.web != NULL ?
	    on_web_reoffered : on_reinv_offered);
}

/* The answer went through the relay: answer the side that re-offered. */
static void
on_reinv_answered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	struct leg *from;
	char err[160], *sdp = NULL;

	if (k->finished || k->reinv == 0) {
		call_check(k);
		return;
	}
	from = reinv_from(k);
	if (rr->ok)
		sdp = sdp_rewrite(k->reinv_sdp, strlen(k->reinv_sdp),
		    rr->media, &from->sdp, err,
		    sizeof(err));
	if (sdp == NULL && !rr->answered) {
		reinv_fail(k, 503);	/* the relay failed: relay.c ends it */
		return;
	}
	if (sdp == NULL) {
		fail_after_2xx(k, "media relay refused the re-offer's answer");
		return;
	}
	reinv_respond(k, 200, sdp);
	free(sdp);
}

/* The other side answered our re-INVITE. */
void
reinvite_response(struct ctl *c, struct leg *l, int status, const sip_t *sip)
{
	struct call *k = l->call;
	char err[160];
	struct media_desc *media;

	if (status < 200 || k->reinv == 0)
		return;
	if (status >= 300) {
		rollback(k);
		/* 7xx/9xx: the stack's own (no answer, transport) */
		reinv_fail(k, status >= 700 ? 500 : status);
		return;
	}
	if (!k->reinv_update)
		k->reinv_ack = l;	/* ACKed when the re-offerer ACKs */
	/* Both peers take the new media now (the offer was accepted). */
	set_peer_sdp(k, reinv_from(k)->side, k->reinv_sdp,
	    strlen(k->reinv_sdp));
	reinvite_peer_sdp(l, sip);
	session_timer_request_ok(l, sip);
	if (sip->sip_payload == NULL || (media = sdp_to_media(
	    sip->sip_payload->pl_data, sip->sip_payload->pl_len, err,
	    sizeof(err))) == NULL) {
		fail_after_2xx(k, "unusable SDP in the answer to a re-offer");
		return;
	}
	free(k->reinv_sdp);
	k->reinv_sdp = strndup(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len);
	relay_media(l, media, on_reinv_answered);
}
