/*
 * session_timer.c: RFC 4028 session timers, per leg. The two legs are
 * independent dialogs: each has its own interval and its own refresher
 * (the caller's INVITE and our answer settle leg A; our INVITE and the
 * gateway's 2xx settle leg B), and a refresh on one leg is answered on
 * that leg (reinvite.c), never passed to the other one.
 *
 * Where we refresh, a refresh goes out at half the interval (on the
 * gateway's leg sooner, see below): an UPDATE without a body when the
 * peer allows UPDATE, else a re-INVITE with the SDP we last sent it (same
 * o= version: no media change). Its 2xx sets the next one; 408, 481 or
 * no answer ends the call (RFC 4028 section 10). Where the peer refreshes and does not, the call is hung up at the
 * interval minus min(32, interval/3) with a Reason and a CDR saying
 * "session expired". An INVITE asking for less than min_se gets 422
 * with our Min-SE.
 *
 * Sofia's own session timer must not act: it refreshes from its saved
 * INVITE template (whatever SDP that had) and ends a session with a BYE
 * of its own, on one handle, without the other leg or a CDR reason. On
 * the caller's leg it stays off as long as "timer" is in neither the
 * stack's Supported nor our responses' (so our 2xx carry Require and
 * Session-Expires only). On our client leg Sofia 1.12 arms it from any
 * 2xx with Session-Expires, whatever we configure: a local refresher
 * refreshes at a random point in [(SE+2)/4, 3(SE+2)/4] (SE 90..300:
 * 60..30 s before the end) after each 2xx of a refresh. So on the
 * gateway's leg we ask to be the refresher (refresher=uac) and refresh
 * before Sofia's earliest point; each of our refreshes re-arms its timer,
 * which then never fires. A gateway that takes the refresher role anyway
 * is watched by our expiry timer as on the caller's leg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#define ST_RETRY_MS	2000	/* a refresh that met a re-offer (491) */
#define ST_SE_MAX	86400

struct st_leg {
	unsigned	 interval;	/* seconds; 0: no timer on this leg */
	bool		 we_refresh;
	bool		 peer_update;	/* the peer allows UPDATE */
	bool		 peer_timer;	/* the peer supports "timer" */
	bool		 refreshing;	/* our refresh is out ... */
	bool		 by_update;	/* ... as an UPDATE */
	su_timer_t	*timer;
};

struct session_timer {
	struct st_leg	 leg[2];
	unsigned	 min_se;	/* leg A's: ours, or the caller's if
					 * higher (leg B's is ours) */
	char		 hdr[200];	/* headers for the message being built */
};

/* ---- configuration ---- */

static int
parse_interval(struct proto_cfg *c, json_t *o, const char *path,
    const char *key, int *out, bool *set, int min)
{
	double d = *out;
	int rc = proto_cfg_number(c, o, path, key, &d, 0, ST_SE_MAX);
	char p[PROTO_CFG_PATH];

	if (rc <= 0)
		return rc;
	proto_cfg_join(p, sizeof(p), path, key);
	if (d != (int)d)
		return proto_cfg_fail(c, p, "whole seconds expected");
	if (d != 0 && d < min)
		return proto_cfg_fail(c, p, "%g is below min_se (%d); 0 turns "
		    "session timers off", d, min);
	*out = (int)d;
	if (set != NULL)
		*set = true;
	return 1;
}

int
session_timer_parse(struct proto_cfg *c, json_t *root, struct ctl_conf *conf)
{
	double min = 90;

	conf->session_expires = 1800;
	conf->min_se = 90;
	if (proto_cfg_number(c, root, "", "min_se", &min, 1, ST_SE_MAX) < 0)
		return -1;
	if (min != (int)min)
		return proto_cfg_fail(c, "min_se", "whole seconds expected");
	conf->min_se = (int)min;
	return parse_interval(c, root, "", "session_expires",
	    &conf->session_expires, NULL, conf->min_se) < 0 ? -1 : 0;
}

int
session_timer_parse_override(struct proto_cfg *c, json_t *o, const char *path,
    const struct ctl_conf *conf, int *out, bool *set)
{
	/* conf->min_se is read already: top-level keys come first. */
	return parse_interval(c, o, path, "session_expires", out, set,
	    conf->min_se) < 0 ? -1 : 0;
}

static int
conf_interval(const struct call *k, int side)
{
	const struct gateway *gw = k->ncand > 0 && k->attempt < k->ncand ?
	    k->cand[k->attempt].gw : NULL;

	if (side == 0 && k->trunk != NULL && k->trunk->has_session_expires)
		return k->trunk->session_expires;
	if (side == 1 && gw != NULL && gw->has_session_expires)
		return gw->session_expires;
	return k->conf->session_expires;
}

/* ---- state ---- */

static struct session_timer *
st_get(struct call *k)
{
	if (k->st == NULL)
		k->st = su_zalloc(k->home, sizeof(*k->st));
	if (k->st != NULL && k->st->min_se == 0)
		k->st->min_se = (unsigned)k->conf->min_se;
	return k->st;
}

void
session_timer_free(struct call *k)
{
	for (int i = 0; k->st != NULL && i < 2; i++)
		if (k->st->leg[i].timer != NULL) {
			su_timer_destroy(k->st->leg[i].timer);
			k->st->leg[i].timer = NULL;
		}
}

static struct leg *
leg_of(struct call *k, int side)
{
	return side == 0 ? &k->a : &k->b;
}

static const char *
who(int side)
{
	return side == 0 ? "caller" : "callee";
}

static void on_timer(struct ctl *, su_timer_t *, void *);

/* Seconds from the network, capped: a day is plenty, and the timers'
 * milliseconds must not wrap (a huge Session-Expires would otherwise
 * come out as a tiny one: a refresh storm or an early hangup). */
static unsigned
delta(unsigned long v)
{
	return v > ST_SE_MAX ? ST_SE_MAX : (unsigned)v;
}

static void
arm_ms(struct call *k, int side, su_duration_t ms)
{
	struct st_leg *s = &k->st->leg[side];

	if (s->timer == NULL)
		s->timer = su_timer_create(su_root_task(k->ctl->root), 1000);
	if (s->timer != NULL)
		su_timer_set_interval(s->timer, on_timer, leg_of(k, side), ms);
}

/* Seconds: before Sofia's own refresh of our client leg (see above). */
static unsigned
refresh_before_sofia(unsigned t)
{
	unsigned first = t > 90 && t < 300 ? t - 60 : (t + 2) / 4;
	unsigned at = first > 2 ? first - 2 : 1;

	return at < t / 2 ? at : t / 2;
}

/* From now: our refresh at half the interval, or the end of a session
 * the peer should have refreshed (RFC 4028 section 10). */
static void
arm(struct call *k, int side)
{
	struct st_leg *s = &k->st->leg[side];
	unsigned t = s->interval, margin = t / 3 < 32 ? t / 3 : 32;

	if (t == 0) {
		if (s->timer != NULL)
			su_timer_reset(s->timer);
		return;
	}
	arm_ms(k, side, (su_duration_t)(!s->we_refresh ? (t - margin) * 1000u :
	    side == 0 ? t * 500u : refresh_before_sofia(t) * 1000u));
}

static bool
allows_update(const sip_t *sip)
{
	return sip != NULL && sip->sip_allow != NULL &&
	    sip_is_allowed(sip->sip_allow, sip_method_update, "UPDATE");
}

/* ---- leg A: the caller's INVITE and our answer ---- */

int
session_timer_refuse(struct ctl *c, nua_handle_t *nh, const sip_t *sip)
{
	const sip_session_expires_t *se = sip->sip_session_expires;
	char min[16];

	if (c->conf->session_expires == 0 || se == NULL ||
	    se->x_delta >= (unsigned long)c->conf->min_se)
		return 0;
	clog_msg(c, LL_NOTICE, "INVITE %s: Session-Expires %lu below our "
	    "Min-SE %d: 422", sip->sip_call_id->i_id, se->x_delta,
	    c->conf->min_se);
	snprintf(min, sizeof(min), "%d", c->conf->min_se);
	nua_respond(nh, SIP_422_SESSION_TIMER_TOO_SMALL,
	    SIPTAG_MIN_SE_STR(min), TAG_END());
	return 422;
}

void
session_timer_caller(struct call *k, const sip_t *sip)
{
	const sip_session_expires_t *se = sip->sip_session_expires;
	struct session_timer *st;
	struct st_leg *a;
	int own = conf_interval(k, 0);

	if (own == 0 || (st = st_get(k)) == NULL)
		return;
	a = &st->leg[0];
	if (sip->sip_min_se != NULL && sip->sip_min_se->min_delta > st->min_se)
		st->min_se = delta(sip->sip_min_se->min_delta);
	a->peer_timer = sip_has_feature(sip->sip_supported, "timer");
	a->peer_update = allows_update(sip);
	a->interval = se != NULL ? delta(se->x_delta) : (unsigned)own;
	if (a->interval < st->min_se)
		a->interval = st->min_se;
	/* Unasked, the caller refreshes if it can (it is the UAC). */
	if (se != NULL && se->x_refresher != NULL)
		a->we_refresh = strcasecmp(se->x_refresher, "uas") == 0;
	else
		a->we_refresh = !a->peer_timer;
}

/* Session-Expires with the refresher named from the side of the
 * transaction (we_uas: we answer it). A request says Supported: timer
 * (RFC 4028 section 7.1); a response never does (see above). Our
 * Supported replaces the stack's, so it repeats CTL_SUPPORTED. */
static const char *
hdr_build(struct session_timer *st, const struct st_leg *s, bool we_uas,
    bool require)
{
	const char *role = s->we_refresh == we_uas ? "uas" : "uac";

	snprintf(st->hdr, sizeof(st->hdr), "Session-Expires: %u;refresher=%s"
	    "%s%s", s->interval, role, require ? "\r\nRequire: timer" : "",
	    we_uas ? "" : "\r\nSupported: " CTL_SUPPORTED ", timer");
	return st->hdr;
}

const char *
session_timer_answer(struct call *k)
{
	struct session_timer *st = k->st;
	struct st_leg *a;

	if (st == NULL || (a = &st->leg[0])->interval == 0)
		return NULL;
	arm(k, 0);
	clog_msg(k->ctl, LL_DEBUG, "call %s: session timer %us on the caller's "
	    "leg, refreshed by %s", k->call_id, a->interval, a->we_refresh ?
	    "us" : "the caller");
	return hdr_build(st, a, true, a->peer_timer);
}

/* ---- leg B: our INVITE and the gateway's 2xx ---- */

const char *
session_timer_offer(struct call *k)
{
	struct session_timer *st;
	int own = conf_interval(k, 1);

	if (own == 0 || (st = st_get(k)) == NULL)
		return NULL;
	/* We refresh (see above). The caller's Min-SE binds leg A only. */
	snprintf(st->hdr, sizeof(st->hdr), "Session-Expires: %d;refresher=uac"
	    "\r\nMin-SE: %d\r\nSupported: " CTL_SUPPORTED ", timer", own,
	    k->conf->min_se);
	return st->hdr;
}

void
session_timer_callee(struct leg *l, const sip_t *sip)
{
	struct call *k = l->call;
	const sip_session_expires_t *se = sip->sip_session_expires;
	struct session_timer *st = k->st;
	struct st_leg *b;

	if (st == NULL || conf_interval(k, 1) == 0)
		return;
	b = &st->leg[1];
	b->peer_update = allows_update(sip);
	b->peer_timer = sip_has_feature(sip->sip_supported, "timer") ||
	    sip_has_feature(sip->sip_require, "timer");
	/* No Session-Expires in the 2xx: no expiry (section 7.2). */
	b->interval = se != NULL ? delta(se->x_delta) : 0;
	b->we_refresh = se == NULL || se->x_refresher == NULL ||
	    strcasecmp(se->x_refresher, "uac") == 0;
	if (b->interval > 0)
		clog_msg(k->ctl, LL_DEBUG, "call %s: session timer %us on the "
		    "callee's leg, refreshed by %s", k->call_id, b->interval,
		    b->we_refresh ? "us" : "the callee");
	arm(k, 1);
}

/* ---- refreshes on an established leg ---- */

const char *
session_timer_refreshed(struct leg *l, const sip_t *req)
{
	struct call *k = l->call;
	const sip_session_expires_t *se = req != NULL ?
	    req->sip_session_expires : NULL;
	struct session_timer *st = k->st;
	struct st_leg *s;

	if (st == NULL || ((s = &st->leg[l->side])->interval == 0 &&
	    se == NULL) || conf_interval(k, l->side) == 0)
		return NULL;
	if (req == NULL)	/* answered later: as the request left it */
		goto out;
	s->peer_timer = sip_has_feature(req->sip_supported, "timer");
	if (se != NULL) {
		unsigned min = l->side == 0 ? st->min_se :
		    (unsigned)k->conf->min_se;
		s->interval = se->x_delta < min ? min : delta(se->x_delta);
		if (se->x_refresher != NULL)
			s->we_refresh = strcasecmp(se->x_refresher, "uas") == 0;
	}
	if (req->sip_allow != NULL)
		s->peer_update = allows_update(req);
out:
	arm(k, l->side);
	return hdr_build(st, s, true, s->peer_timer);
}

const char *
session_timer_request(struct leg *l)
{
	struct session_timer *st = l->call->st;
	struct st_leg *s;

	if (st == NULL || (s = &st->leg[l->side])->interval == 0)
		return NULL;
	return hdr_build(st, s, false, false);
}

void
session_timer_request_ok(struct leg *l, const sip_t *resp)
{
	struct call *k = l->call;
	const sip_session_expires_t *se = resp != NULL ?
	    resp->sip_session_expires : NULL;
	struct session_timer *st = k->st;
	struct st_leg *s;

	if (st == NULL || (s = &st->leg[l->side])->interval == 0)
		return;
	if (se != NULL) {
		s->interval = delta(se->x_delta);
		s->we_refresh = se->x_refresher == NULL ||
		    strcasecmp(se->x_refresher, "uac") == 0;
	} else {
		s->interval = 0;	/* the peer dropped the timer */
	}
	if (resp != NULL && resp->sip_allow != NULL)
		s->peer_update = allows_update(resp);
	arm(k, l->side);
}

bool
session_timer_busy(const struct call *k, const struct leg *l)
{
	if (k->st == NULL)
		return false;
	if (l != NULL)
		return k->st->leg[l->side].refreshing;
	return k->st->leg[0].refreshing || k->st->leg[1].refreshing;
}

/* Our refresh on l: UPDATE without a body, else a re-INVITE with the
 * SDP we last sent (RFC 4028 section 7.4 prefers UPDATE). */
static void
refresh(struct call *k, struct leg *l)
{
	struct st_leg *s = &k->st->leg[l->side];
	const char *hdr = hdr_build(k->st, s, false, false);

	if (k->reinv != 0 || k->offerless != NULL || l->nh == NULL ||
	    (!s->peer_update && l->sdp.body == NULL)) {
		arm_ms(k, l->side, ST_RETRY_MS);	/* a re-offer is on */
		return;
	}
	s->refreshing = true;
	s->by_update = s->peer_update;
	clog_msg(k->ctl, LL_DEBUG, "call %s: session refresh to the %s (%s)",
	    k->call_id, who(l->side), s->by_update ? "UPDATE" : "re-INVITE");
	if (s->by_update)
		nua_update(l->nh, SIPTAG_HEADER_STR(hdr), TAG_END());
	else
		nua_invite(l->nh, SIPTAG_HEADER_STR(hdr),
		    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(l->sdp.body), TAG_END());
}

static void
on_timer(struct ctl *c, su_timer_t *t, void *arg)
{
	struct leg *l = arg;
	struct call *k = l->call;
	struct st_leg *s = &k->st->leg[l->side];
	char why[96];

	if (k->finished || k->state != CS_CONNECTED || s->interval == 0)
		return;
	if (s->we_refresh) {
		if (!s->refreshing)
			refresh(k, l);
		return;
	}
	clog_msg(c, LL_NOTICE, "call %s: session expired: no refresh from the "
	    "%s within %us", k->call_id, who(l->side), s->interval);
	snprintf(why, sizeof(why), "session expired (no refresh from the %s)",
	    who(l->side));
	b2bua_hangup(c, k->relay_key, BY_CONTROLLER, why);
}

bool
session_timer_response(struct ctl *c, struct leg *l, nua_event_t e,
    int status, const sip_t *sip)
{
	struct call *k = l->call;
	struct st_leg *s = k->st != NULL ? &k->st->leg[l->side] : NULL;
	char why[96];

	if (s == NULL || !s->refreshing ||
	    (e == nua_r_update) != s->by_update)
		return false;
	if (status < 200)
		return true;
	s->refreshing = false;
	if (!s->by_update && status < 300)
		nua_ack(l->nh, TAG_END());
	if (k->finished || k->state != CS_CONNECTED)
		return true;
	if (status < 300) {
		/* The peer may answer our unchanged offer with moved media. */
		if (!s->by_update)
			reinvite_media_in(l, sip);
		session_timer_request_ok(l, sip);
		return true;
	}
	if (status == 491) {
		arm_ms(k, l->side, ST_RETRY_MS);
		return true;
	}
	if (s->by_update && (status == 405 || status == 501)) {
		s->peer_update = false;	/* then with re-INVITEs */
		arm_ms(k, l->side, 10);
		return true;
	}
	if (status == 408 || status == 481 || status >= 700) {
		/* RFC 4028 section 10; 7xx/9xx: the stack's own errors
		 * (no answer, transport) */
		clog_msg(c, LL_NOTICE, "call %s: session refresh to the %s "
		    "failed: %d", k->call_id, who(l->side), status);
		snprintf(why, sizeof(why), "session refresh to the %s failed "
		    "(%d)", who(l->side), status);
		b2bua_hangup(c, k->relay_key, BY_CONTROLLER, why);
		return true;
	}
	/* Another refusal leaves the session as it was: try again later. */
	clog_msg(c, LL_INFO, "call %s: session refresh to the %s: %d",
	    k->call_id, who(l->side), status);
	arm(k, l->side);
	return true;
}
