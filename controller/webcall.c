/*
 * webcall.c: the browser leg of a call (issue 14).
 *
 * A call's leg is a SIP dialog (its nua handle) or, here, a browser on a
 * WebSocket: struct leg carries a `web` pointer instead of a handle, and
 * the few places where the call code speaks to its caller ask this file
 * (leg_live() for "is the caller still there", webleg_respond() for a
 * final status, webleg_relay_answer() for the answer, webleg_bye() for a
 * hangup, webleg_destroy() when the leg goes). Everything else (limits,
 * local routing, rules, LCR, transforms, failover, relay, CDRs) is the
 * SIP pipeline unchanged: a web user's call is a call from that local
 * account's trunk.
 *
 * Nua reports a leg's end from the loop, never inside the call that
 * caused it, and the call code relies on that (it goes on using the call
 * after call_fail() or bye_leg()). A browser leg keeps the rule: its end is
 * a zero timer that detaches it and runs call_check() on the next turn.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "controller.h"

#include <sofia-sip/sip_status.h>

#define WEB_MAX_CALLS	2	/* per connection: a call and one more */

bool
leg_live(const struct leg *l)
{
	return l->nh != NULL || l->web != NULL;
}

struct webleg *
webcall_find(struct webconn *cn, const char *id)
{
	for (struct webleg *wl = cn->legs; wl != NULL; wl = wl->next)
		if (strcmp(wl->id, id) == 0)
			return wl;
	return NULL;
}

static void
unlink_leg(struct webleg *wl)
{
	struct webconn *cn = wl->conn;

	if (cn == NULL)
		return;
	for (struct webleg **pp = &cn->legs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == wl) {
			*pp = wl->next;
			cn->nlegs--;
			break;
		}
	wl->conn = NULL;
}

static void
event(struct webleg *wl, json_t *msg)
{
	if (wl->conn != NULL)
		web_send(wl->conn, msg);
	else
		json_decref(msg);
}

/* The leg is gone: the call no longer waits for it. */
void
webleg_destroy(struct leg *l)
{
	struct webleg *wl = l->web;

	if (wl == NULL)
		return;
	l->web = NULL;
	unlink_leg(wl);
	su_timer_destroy(wl->end_timer);
	free(wl->media);
	free(wl->offer);
	free(wl);
}

/* The timer belongs to the webleg (destroying the leg cancels it). */
static void
on_end_timer(struct ctl *c, su_timer_t *t, void *arg)
{
	struct webleg *wl = arg;
	struct call *k = wl->call;

	call_drop_leg(k->a.web == wl ? &k->a : &k->b);
	call_check(k);
}

/* Tell the browser the call ended; the leg goes on the next turn. */
static void
end_leg(struct leg *l, int code, const char *reason)
{
	struct webleg *wl = l->web;

	if (wl->ended)
		return;
	wl->ended = true;
	event(wl, json_pack("{s:s,s:s,s:i,s:s}", "type", "ended", "call",
	    wl->id, "code", code, "reason", reason ? reason :
	    sip_status_phrase(code) ? sip_status_phrase(code) : ""));
	unlink_leg(wl);
	su_timer_set_interval(wl->end_timer, on_end_timer, wl, 0);
}

void
webleg_respond(struct leg *l, int status, const char *why)
{
	struct webleg *wl = l->web;

	if (status < 200) {
		if (status >= 180)
			event(wl, json_pack("{s:s,s:s,s:i}", "type", "ringing",
			    "call", wl->id, "code", status));
		return;
	}
	end_leg(l, status, why);
}

void
webleg_bye(struct leg *l, const char *reason)
{
	end_leg(l, l->answered ? 200 : 487, reason ? reason : "hangup");
}

/* Every line's peer_transport: the transport the relay's reply must
 * describe (that of the other leg). */
static void
set_peer(struct media_desc *media, const char *peer)
{
	for (int i = 0; i < media->n; i++)
		snprintf(media->line[i].peer_transport,
		    sizeof(media->line[i].peer_transport), "%s", peer);
}

struct media_desc *
webleg_offer_media(struct call *k, char *err, size_t errlen)
{
	struct webleg *wl = k->a.web;
	struct media_desc *md;

	if (wl->media == NULL) {
		snprintf(err, errlen, "no browser offer");
		return NULL;
	}
	/* relay_offer() frees what it is given: a copy, kept for re-offers */
	if ((md = malloc(sizeof(*md))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(md, wl->media, sizeof(*md));
	return md;
}

void
webleg_answer_media(struct call *k, struct media_desc *media)
{
	set_peer(media, "UDP/TLS/RTP/SAVPF");
}

void
webleg_relay_answer(struct call *k, int status, const struct relay_reply *rr,
    const char *sip_sdp)
{
	struct ctl *c = k->ctl;
	struct webleg *wl = k->a.web;
	char err[160], *sdp;

	if (!rr->ok) {
		clog_msg(c, LL_WARNING, "call %s: relay %s: answer failed: %s",
		    k->call_id, relay_name(k->relay), rr->error);
		b2bua_relay_lost(k, rr->answered ? "media relay failed "
		    "(answer refused)" : "media relay failed (no reply)");
		return;
	}
	snprintf(err, sizeof(err), "out of memory");
	if (wl->offer == NULL || (sdp = websdp_answer(rr->media, sip_sdp,
	    wl->offer, err, sizeof(err))) == NULL) {
		clog_msg(c, LL_WARNING, "call %s: %s", k->call_id, err);
		if (status < 200) {	/* the 2xx may still come: no early media */
			webleg_respond(&k->a, status, NULL);
			return;
		}
		b2bua_hangup(c, k->relay_key, BY_CONTROLLER, err);
		return;
	}
	if (status < 200) {
		/*
		 * Early media (a 18x with SDP): the browser applies this as its
		 * answer and hears the relay now. The relay's browser leg stays
		 * the same for the 2xx (same ICE, DTLS, port), so "answered"
		 * later only confirms it; one "early" per call.
		 */
		if (!wl->early_sent)
			event(wl, json_pack("{s:s,s:s,s:i,s:s}", "type", "early",
			    "call", wl->id, "code", status, "sdp", sdp));
		else
			webleg_respond(&k->a, status, NULL);
		wl->early_sent = true;
		free(sdp);
		return;
	}
	gateway_connected(k, status);	/* call.c's state, max duration */
	/* No ACK will come from a browser: B's 2xx is ACKed now. */
	if (k->b.nh != NULL && !k->b_acked) {
		nua_ack(k->b.nh, TAG_END());
		k->b_acked = true;
	}
	event(wl, json_pack("{s:s,s:s,s:s}", "type", "answered", "call",
	    wl->id, "sdp", sdp));
	free(sdp);
}

static void
random_hex(char *out, size_t bytes)
{
	uint8_t r[16] = { 0 };

	if (bytes > sizeof(r))
		bytes = sizeof(r);
	(void)getrandom(r, bytes, 0);
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* Identity of a web user's call: the account's number, no PAI. */
static int
numbers_in(struct call *k, const char *to, const char *user)
{
	snprintf(k->called_in, sizeof(k->called_in), "%s", to);
	snprintf(k->calling_in, sizeof(k->calling_in), "%s", user);
	if (xform_apply(&k->trunk->xf.called, k->called_in, k->called,
	    sizeof(k->called)) < 0 ||
	    xform_apply(&k->trunk->xf.calling, k->calling_in, k->calling,
	    sizeof(k->calling)) < 0)
		return -ENOSPC;
	snprintf(k->asserted, sizeof(k->asserted), "%s", k->calling);
	k->screening = "unverified";
	return 0;
}

int
webcall_start(struct webconn *cn, json_t *seq, const char *id,
    const char *to, const char *sdp, const char **code, char *why,
    size_t len)
{
	struct ctl *c = cn->ctl;
	struct trunk *t = local_identify(c->conf, cn->user);
	char cid[48], tag[24], uri[256];
	struct webleg *wl;
	struct media_desc *media;
	char *sip_sdp;
	struct call *k;
	bool bypass = false;
	int st;

	if (t == NULL) {
		*code = "not_logged_in";
		snprintf(why, len, "the account is gone (reload)");
		return -EPERM;
	}
	if (cn->nlegs >= WEB_MAX_CALLS) {
		*code = "too_many_calls";
		snprintf(why, len, "at most %d calls per connection",
		    WEB_MAX_CALLS);
		return -EBUSY;
	}
	if (websdp_offer(sdp, "RTP/AVP", &media, &sip_sdp, why, len) < 0) {
		*code = "bad_sdp";
		return -EINVAL;
	}
	if ((st = local_admit(c, t, to, &bypass)) != 0 ||
	    (!bypass && limits_admit(c, t, mono_now()) > 0)) {
		if (st == 0)
			c->stats.rejected_limits++;
		*code = "refused";
		snprintf(why, len, "%s (%d)", st ? "not admitted" :
		    "over the account's limits", st ? st : 503);
		free(media);
		free(sip_sdp);
		return -EPERM;
	}
	snprintf(cid, sizeof(cid), "web-");
	random_hex(cid + 4, 12);
	random_hex(tag, 8);
	if ((k = call_alloc(c, cid, tag)) == NULL ||
	    (wl = calloc(1, sizeof(*wl))) == NULL) {
		if (k != NULL)
			call_free(k);
		if (!bypass)
			limits_release(c, t->name);
		free(media);
		free(sip_sdp);
		*code = "internal";
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	wl->conn = cn;
	wl->call = k;
	wl->media = media;
	wl->end_timer = su_timer_create(su_root_task(c->root), 0);
	snprintf(wl->id, sizeof(wl->id), "%s", id);
	wl->offer = strdup(sdp);
	wl->next = cn->legs;
	cn->legs = wl;
	cn->nlegs++;
	k->a.web = wl;
	k->trunk = t;
	k->limit_held = !bypass;
	k->max_forwards = 69;
	snprintf(k->src, sizeof(k->src), "%.59s", cn->peer);
	k->offer = sip_sdp;
	snprintf(uri, sizeof(uri), "sip:%s@%s", to, c->contact);
	k->rq_uri = su_strdup(k->home, uri);
	snprintf(uri, sizeof(uri), "sip:%s@%s", cn->user, c->contact);
	k->from_uri = su_strdup(k->home, uri);
	clog_msg(c, LL_INFO, "call %s: web user %s (%s) calls %s", k->call_id,
	    cn->user, cn->peer, to);
	/* Before anything the pipeline may say about the call. */
	web_send(cn, json_pack("{s:s,s:s,s:O*}", "type", "calling", "call", id,
	    "seq", seq));
	if (numbers_in(k, to, cn->user) < 0) {
		call_fail(k, 484, "number too long after transforms");
		return 0;
	}
	/* The SIP pipeline from the local step on (invite.c). */
	if ((k->ncand = local_route(k)) == CTL_ROUTE_PENDING) {
		k->ncand = 0;
		return 0;
	}
	b2bua_routed(k, k->ncand);
	return 0;
}

int
webcall_hangup(struct webconn *cn, const char *id)
{
	struct webleg *wl = webcall_find(cn, id);
	struct call *k;

	if (wl == NULL)
		return -ENOENT;
	k = wl->call;
	clog_msg(cn->ctl, LL_INFO, "call %s: web user %s hangs up", k->call_id,
	    cn->user);
	/* "ended" closes every call on the client's side too */
	if (!wl->ended)
		event(wl, json_pack("{s:s,s:s,s:i,s:s}", "type", "ended",
		    "call", wl->id, "code", (k->b.web == wl ? k->b.answered :
		    k->a.answered) ? 200 : k->b.web == wl ? 603 : 487,
		    "reason", "hangup"));
	wl->ended = true;
	if (k->b.web == wl && !k->b.answered) {	/* an incoming call declined */
		if (!fork_web_failed(k, 603))	/* phones ringing along */
			b_response(cn->ctl, &k->b, 603, NULL);
	} else
		leg_terminated(cn->ctl, k->b.web == wl ? &k->b : &k->a);
	return 0;
}

/* The WebSocket closed: each of its calls is hung up by its caller. */
void
webcall_conn_gone(struct webconn *cn)
{
	for (int i = 0; cn->legs != NULL && i < WEB_MAX_CALLS + 1; i++) {
		struct webleg *wl = cn->legs;
		struct call *k = wl->call;
		unlink_leg(wl);
		if (wl->ended)
			continue;
		if (k->b.web == wl && !k->b.answered) {
			if (!fork_web_failed(k, 480))	/* phones ring on */
				b_response(cn->ctl, &k->b, 480, NULL);
		} else
			leg_terminated(cn->ctl, k->b.web == wl ? &k->b : &k->a);
	}
}

/* ---- calls to a web user: the browser as the B leg ---- */

bool
candidate_is_web(const struct candidate *cd)
{
	return cd->gw != NULL && strcmp(cd->gw->scheme, "web") == 0;
}

int
webcall_candidate(struct call *k, const struct account *a,
    struct candidate *cd)
{
	struct gateway *gw;

	if (web_find_user(k->ctl, a->trunk.username) == NULL)
		return -ENOENT;
	if ((gw = su_zalloc(k->home, sizeof(*gw))) == NULL)
		return -ENOMEM;
	snprintf(gw->name, sizeof(gw->name), "web:%.59s", a->trunk.username);
	snprintf(gw->scheme, sizeof(gw->scheme), "web");
	snprintf(gw->host, sizeof(gw->host), "%s", a->trunk.username);
	cd->gw = gw;
	cd->carrier = "local";
	cd->user = "";
	return 0;
}

/* The transport the relay's other leg must have for this candidate. */
static const char *
peer_for(struct call *k)
{
	bool web = k->attempt < k->ncand &&
	    candidate_is_web(&k->cand[k->attempt]);

	k->b_web = web;
	return web ? "UDP/TLS/RTP/SAVPF" : "RTP/AVP";
}

void
webcall_offer_media(struct call *k, struct media_desc *media)
{
	const char *peer = peer_for(k);

	/* A relay without WebRTC legs knows no peer_transport: a SIP-only
	 * call never names it. */
	if (!k->b_web && k->a.web == NULL)
		return;
	set_peer(media, peer);
}

/*
 * The offer for SIP contacts ringing along with the browser (fork.c):
 * A's SDP on the same relay B port as plain RTP. The B leg is WebRTC
 * while they ring (its ICE credentials are the browser's, and relayd
 * draws new ones whenever a leg turns WebRTC again); a contact's plain
 * answer turns it plain on the same ports (relayd's apply_media_rtc()).
 */
static void
fork_offer(struct call *k, const struct media_desc *relay_media)
{
	struct media_desc md;
	char err[160], *sdp;

	k->fork_offer = NULL;
	memcpy(&md, relay_media, sizeof(md));
	for (int i = 0; i < md.n; i++) {
		md.line[i].rtcp_mux = false;
		md.line[i].rtcp_port = 0;	/* RTP + 1 */
	}
	if ((sdp = sdp_rewrite(k->offer, strlen(k->offer), &md, &k->b.sdp,
	    err, sizeof(err))) == NULL) {
		clog_msg(k->ctl, LL_NOTICE, "call %s: no plain offer for the "
		    "contacts: %s: they ring after the browser", k->call_id,
		    err);
		return;
	}
	k->fork_offer = su_strdup(k->home, sdp);
	free(sdp);
}

int
webcall_b_offer(struct call *k, const struct media_desc *relay_media,
    char *err, size_t errlen)
{
	free(k->b_offer);
	/* A's codecs (G.711 and telephone-event among them), the relay's
	 * WebRTC leg: an offer for the browser, mid 0. */
	k->b_offer = websdp_answer(relay_media, k->offer, NULL, err, errlen);
	if (k->b_offer != NULL && fork_with_web(k))
		fork_offer(k, relay_media);
	return k->b_offer != NULL ? 0 : -EINVAL;
}

void
webcall_fork_lost(struct call *k)
{
	struct webleg *wl = k->b.web;

	if (wl == NULL)
		return;
	clog_msg(k->ctl, LL_INFO, "call %s: web user %s: completed elsewhere",
	    k->call_id, k->cand[k->attempt].gw->host);
	if (!wl->ended) {
		wl->ended = true;
		event(wl, json_pack("{s:s,s:s,s:i,s:s}", "type", "ended",
		    "call", wl->id, "code", 487, "reason",
		    "completed elsewhere"));
	}
	call_attempt_code(k, 487);	/* its entry: k->att_entry */
	/* Now, not on the next turn: the winner takes k->b at once. */
	webleg_destroy(&k->b);
	k->b_web = false;
	k->b_acked = false;
}

static void
on_reoffered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	char err[160];

	if (!leg_live(&k->a) || k->finished || k->state == CS_ENDING) {
		call_check(k);
		return;
	}
	if (!rr->ok) {
		clog_msg(c, LL_WARNING, "call %s: relay %s: re-offer failed: %s",
		    k->call_id, relay_name(k->relay), rr->error);
		b2bua_relay_lost(k, "media relay failed (re-offer refused)");
		call_check(k);
		return;
	}
	if (k->b_web)
		webcall_b_offer(k, rr->media, err, sizeof(err));
	else {
		free(k->b_offer);
		k->b_offer = sdp_rewrite(k->offer, strlen(k->offer), rr->media,
		    &k->b.sdp, err, sizeof(err));
	}
	if (k->b_offer == NULL) {
		clog_msg(c, LL_WARNING, "call %s: %s", k->call_id, err);
		call_fail(k, 500, "SDP for the next destination failed");
		call_check(k);
		return;
	}
	gateway_start(k);
}

/*
 * The relay's B leg is WebRTC for a browser and plain RTP for a SIP
 * contact: moving from one to the other (an unanswered browser, then the
 * account's phones) re-offers A's media with the other peer_transport
 * first. 1: sent, gateway_start() follows from the reply (or the browser
 * was skipped); 0: go on.
 */
int
webcall_switch(struct call *k)
{
	bool was = k->b_web;
	char err[160];
	struct media_desc *media;

	if (k->late_offer && candidate_is_web(&k->cand[k->attempt])) {
		/* An INVITE without SDP (lateoffer.c) has no offer for a
		 * browser: skipped like a logged-out one (the next contact). */
		const struct candidate *cd = &k->cand[k->attempt];
		json_array_append_new(k->attempts, json_pack("{s:s,s:s}",
		    "gateway", cd->gw->name, "carrier", cd->carrier));
		clog_msg(k->ctl, LL_INFO, "call %s: %s skipped: a browser "
		    "takes no call without SDP (late offer)", k->call_id,
		    cd->gw->name);
		b_response(k->ctl, &k->b, 480, NULL);
		return 1;
	}
	if (candidate_is_web(&k->cand[k->attempt]) == was)
		return 0;
	media = k->a.web != NULL ? webleg_offer_media(k, err, sizeof(err)) :
	    sdp_to_media(k->offer, strlen(k->offer), err, sizeof(err));
	if (media == NULL) {
		call_fail(k, 500, err);
		call_check(k);
		return 1;
	}
	webcall_offer_media(k, media);
	k->fork_offer = NULL;	/* (k->home) made again from the reply */
	clog_msg(k->ctl, LL_INFO, "call %s: re-offer for %s (%s)", k->call_id,
	    k->cand[k->attempt].gw->name, k->b_web ? "WebRTC" : "RTP");
	relay_offer(k, media, on_reoffered, k);
	return 1;
}

void
webcall_ring(struct call *k)
{
	const struct candidate *cd = &k->cand[k->attempt];
	struct webconn *cn = web_find_user(k->ctl, cd->gw->host);
	struct webleg *wl;

	json_array_append_new(k->attempts, json_pack("{s:s,s:s}", "gateway",
	    cd->gw->name, "carrier", cd->carrier));
	if (cn != NULL && k->fork_offer != NULL && fork_with_web(k))
		k->att_entry = (int)json_array_size(k->attempts);
	if (cn == NULL || cn->nlegs >= WEB_MAX_CALLS ||
	    (wl = calloc(1, sizeof(*wl))) == NULL) {
		/* logged out meanwhile, or busy: like a phone's 480/486 */
		b_response(k->ctl, &k->b, cn == NULL ? 480 : 486, NULL);
		return;
	}
	wl->conn = cn;
	wl->call = k;
	wl->end_timer = su_timer_create(su_root_task(k->ctl->root), 0);
	snprintf(wl->id, sizeof(wl->id), "in-%.44s", k->relay_key);
	wl->next = cn->legs;
	cn->legs = wl;
	cn->nlegs++;
	k->b = (struct leg){ k, NULL, 1, k->b.sdp, false, wl };
	k->b_acked = true;		/* a browser sends no 2xx to ACK */
	k->state = CS_CALLING;
	clog_msg(k->ctl, LL_INFO, "call %s: attempt %d: ringing web user %s "
	    "(%s)", k->call_id, k->attempt + 1, cn->user, cn->peer);
	event(wl, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "incoming",
	    "call", wl->id, "from", k->calling, "to", cn->user, "sdp",
	    k->b_offer));
	/* The browser shows the call: it rings from now on, for the route's
	 * (or the global) ring_timeout (attempt.c's clock). */
	attempt_start(k);
	attempt_progress(k, 180);
	/* The caller hears it ring. */
	if (k->a.web != NULL)
		webleg_respond(&k->a, 180, NULL);
	else if (k->a.nh != NULL)
		nua_respond(k->a.nh, SIP_180_RINGING, TAG_END());
	/* fork.c: the account's phones ring along (one relay session: the
	 * phones' offer is the same B port as plain RTP, k->fork_offer). */
	if (k->fork_offer != NULL && fork_with_web(k))
		fork_start(k);
}

/*
 * The browser rang for ring_timeout without an answer: like a gateway's
 * (gateway.c), the callee was reached, so the call ends with 480 to the
 * caller (unless a no-answer diversion takes it elsewhere) and the
 * browser gets "ended" (487, "ring timeout").
 */
void
webcall_ring_timeout(struct call *k)
{
	if (!leg_live(&k->a) || k->state == CS_ENDING || k->b.answered ||
	    k->b.web == NULL)
		return;
	clog_msg(k->ctl, LL_INFO, "call %s: web user %s: no answer within "
	    "%gs of ringing: 480", k->call_id, k->cand[k->attempt].gw->host,
	    attempt_ring_timeout(k));
	call_attempt_code(k, 480);
	if (divert_on_status(k, 480))	/* ends the browser's leg itself */
		return;
	call_hungup(k, BY_CONTROLLER, "ring timeout");
	call_fail(k, 480, "ring timeout");
	webleg_bye(&k->b, "ring timeout");
	fork_cancel_all(k, "SIP;cause=480;text=\"ring timeout\"");
}

int
webcall_answer(struct webconn *cn, const char *id, const char *sdp,
    const char **code, char *why, size_t len)
{
	struct webleg *wl = webcall_find(cn, id);
	struct call *k;
	struct media_desc *media;
	char *plain;

	if (wl == NULL || wl->call->b.web != wl || wl->ended) {
		*code = "no_such_call";
		snprintf(why, len, "no incoming call '%s' on this connection",
		    id);
		return -ENOENT;
	}
	k = wl->call;
	if (k->b.answered) {
		*code = "invalid_value";
		snprintf(why, len, "call '%s' is answered already", id);
		return -EALREADY;
	}
	if (websdp_offer(sdp, k->a.web ? "UDP/TLS/RTP/SAVPF" : "RTP/AVP",
	    &media, &plain, why, len) < 0) {
		*code = "bad_sdp";
		return -EINVAL;
	}
	k->b.answered = true;
	attempt_progress(k, 200);	/* the ring timer stops */
	call_attempt_code(k, 200);
	snprintf(k->to_tag, sizeof(k->to_tag), "web-%s", id);
	clog_msg(k->ctl, LL_INFO, "call %s: web user %s answers", k->call_id,
	    cn->user);
	fork_web_answered(k);	/* fork.c: phones ringing along */
	b2bua_answer(k, 200, media, plain);
	free(plain);
	return 0;
}
