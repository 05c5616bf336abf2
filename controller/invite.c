/*
 * invite.c: a new call, from the caller's INVITE to the gateway's answer.
 * The INVITE goes through the stages in order: identify (source address,
 * registered contact, else digest account), limits, the local step
 * (local_route(): accounts, emergency, ENUM, maybe asynchronous), the
 * rules (b2bua_routed()), then the offer to a relay. Only when the relay
 * has rewritten the offer is B created; B's answer goes to the relay
 * before A hears it. The nua runs with AUTOACK(0): B's 2xx is ACKed when
 * A's ACK arrives (b2bua.c).
 *
 * Reply codes from gateways: 2xx connect; 401/407 are answered once with
 * the gateway's credentials; a code in failover_codes (and 3xx: redirects
 * are not followed, the next candidate is tried instead) moves to the
 * next candidate, as does no reply within invite_timeout; 6xx ends the
 * call at once (no other gateway would do better); any other final code
 * goes back to the caller. When the candidates run out the caller gets
 * the last code (480 after a 3xx, 408 after a timeout).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

static void start_attempt(struct call *k);

static double
rnd01(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

/* ---- the caller's INVITE ---- */

static void
fmt_sa(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[64] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s:%d", ip, port);
}

/* The username the caller authenticates as (credentials), else From's. */
static const char *
account_name(su_home_t *home, const sip_t *sip)
{
	const sip_proxy_authorization_t *pa = sip->sip_proxy_authorization;

	for (; pa != NULL; pa = pa->au_next) {
		const char *u = msg_params_find(pa->au_params, "username=");
		if (u != NULL) {
			char *s = su_strdup(home, u);
			size_t n = strlen(s);
			if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
				s[n - 1] = '\0';
				s++;
			}
			return s;
		}
	}
	return sip->sip_from && sip->sip_from->a_url->url_user ?
	    sip->sip_from->a_url->url_user : NULL;
}

static struct trunk *
first_account(const struct ctl_conf *conf)
{
	for (int i = 0; i < conf->ntrunks; i++)
		if (conf->trunks[i].username[0] != '\0')
			return &conf->trunks[i];
	return NULL;
}

static void
user_of(const url_t *u, char *out, size_t len)
{
	snprintf(out, len, "%s", u && u->url_user ? u->url_user : "");
}

static void
on_offered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	struct relay *next;
	char err[160];

	if (rr->ok)
		k->relay_session = true;
	if (!leg_live(&k->a) || k->finished) {
		call_check(k);	/* the caller went away meanwhile */
		return;
	}
	if (!k->relay_session && !rr->answered && ++k->relay_tries < c->nrelays &&
	    (next = relay_pick(c)) != NULL && next != k->relay) {
		/* That relay went down with our offer: try the next one. */
		clog_msg(c, LL_NOTICE, "call %s: relay %s did not answer; "
		    "trying %s", k->call_id, relay_name(k->relay),
		    relay_name(next));
		k->relay = next;
		relay_offer_retry(k, on_offered, k);
		return;
	}
	if (!k->relay_session) {
		clog_msg(c, LL_WARNING, "call %s: relay %s: offer failed: %s",
		    k->call_id, relay_name(k->relay), rr->error);
		b2bua_relay_lost(k, rr->answered ? "media relay failed "
		    "(offer refused)" : "media relay failed (no reply)");
		call_check(k);
		return;
	}
	if (k->b_web)		/* webcall.c: an offer for a browser */
		webcall_b_offer(k, rr->media, err, sizeof(err));
	else
		k->b_offer = sdp_rewrite(k->offer, strlen(k->offer),
		    rr->media, &k->b.sdp, err,
		    sizeof(err));
	if (k->b_offer == NULL) {
		clog_msg(c, LL_WARNING, "call %s: %s", k->call_id, err);
		fail_a(k, 500, "SDP rewrite failed");
		return;
	}
	start_attempt(k);
}

static int
numbers_in(struct call *k, const sip_t *sip)
{
	user_of(sip->sip_request->rq_url, k->called_in, sizeof(k->called_in));
	user_of(sip->sip_from->a_url, k->calling_in, sizeof(k->calling_in));
	if (xform_apply(&k->trunk->xf.called, k->called_in, k->called,
	    sizeof(k->called)) < 0 ||
	    xform_apply(&k->trunk->xf.calling, k->calling_in, k->calling,
	    sizeof(k->calling)) < 0)
		return -1;
	return 0;
}

void
new_invite(struct ctl *c, nua_t *nua, nua_handle_t *nh, const sip_t *sip)
{
	struct ctl_conf *conf = c->conf;
	su_addrinfo_t *ai = msg_addrinfo(nua_current_request(nua));
	su_home_t home[1] = { SU_HOME_INIT(home) };
	struct trunk *t;
	struct call *k;
	char src[64], ruri[512], from[512], why[160];
	int retry;
	bool bypass = false;

	fmt_sa(ai->ai_addr, src, sizeof(src));
	t = identify_by_source(conf, ai->ai_addr,
	    identify_transport(nua_current_request(nua), sip));
	if (t == NULL)		/* a call to a registered contact */
		t = register_identify(c, ai->ai_addr, sip);
	if (t == NULL) {
		t = identify_by_account(conf, account_name(home, sip));
		if (t == NULL)	/* a local account (registrar.c) */
			t = local_identify(conf, account_name(home, sip));
		/*
		 * No credentials yet and From names no account: challenge
		 * with the first account's realm; the answer names the
		 * account. Unknown usernames in credentials are refused by
		 * auth_check() exactly like wrong passwords.
		 */
		if (t == NULL && sip->sip_proxy_authorization == NULL)
			t = first_account(conf);
		if (t == NULL && sip->sip_proxy_authorization == NULL)
			t = local_first(conf);
		if ((t != NULL || sip->sip_proxy_authorization != NULL) &&
		    !auth_check(c, nua, nh, t, sip)) {
			su_home_deinit(home);
			return;
		}
	}
	su_home_deinit(home);
	if (t == NULL) {
		c->stats.rejected_unknown++;
		clog_msg(c, LL_NOTICE, "INVITE %s from %s: no trunk%s",
		    sip->sip_call_id->i_id, src, conf->unknown_drop ?
		    " (dropped)" : ": 403");
		cdr_refusal(c, sip, ai->ai_addr, NULL, conf->unknown_drop ? 0 :
		    403, "no trunk");
		if (conf->unknown_drop)
			drop_request(c, nh);
		else
			nua_respond(nh, SIP_403_FORBIDDEN, TAG_END());
		return;
	}
	/* A call that came back to us (targets.c): never a new B-leg. */
	if ((retry = loop_check(c, sip, why, sizeof(why))) != 0) {
		clog_msg(c, LL_NOTICE, "INVITE %s from %s: %s: %d",
		    sip->sip_call_id->i_id, src, why, retry);
		nua_respond(nh, retry, sip_status_phrase(retry), TAG_END());
		return;
	}
	/* Emergency numbers: local accounts only, never limited. */
	if ((retry = local_admit(c, t, sip->sip_request->rq_url->url_user,
	    &bypass)) != 0) {
		cdr_refusal(c, sip, ai->ai_addr, t, retry, "local admission");
		nua_respond(nh, retry, sip_status_phrase(retry), TAG_END());
		return;
	}
	if (!bypass && (retry = limits_admit(c, t, mono_now())) > 0) {
		char ra[16];
		c->stats.rejected_limits++;
		snprintf(ra, sizeof(ra), "%d", retry);
		clog_msg(c, LL_NOTICE, "INVITE %s: trunk %s over its limits: "
		    "503", sip->sip_call_id->i_id, t->name);
		cdr_refusal(c, sip, ai->ai_addr, t, 503, "trunk limits");
		nua_respond(nh, SIP_503_SERVICE_UNAVAILABLE,
		    SIPTAG_RETRY_AFTER_STR(ra), TAG_END());
		return;
	}
	/* The stack's automatic 100 is off (drop mode must stay silent). */
	nua_respond(nh, SIP_100_TRYING, TAG_END());
	if ((k = call_new(c, nh, sip)) == NULL) {
		if (!bypass)
			limits_release(c, t->name);
		nua_respond(nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	k->trunk = t;
	/* identity.c: PAI trust is by address, never by a digest login. */
	k->from_source = identify_by_source(conf, ai->ai_addr,
	    identify_transport(nua_current_request(nua), sip)) == t;
	k->limit_held = !bypass;
	/* B carries A's Max-Forwards minus one (at most 69), so a loop
	 * through other hops still ends. */
	k->max_forwards = sip->sip_max_forwards == NULL ||
	    sip->sip_max_forwards->mf_count > 70 ? 69 :
	    (unsigned)sip->sip_max_forwards->mf_count - 1;
	snprintf(k->src, sizeof(k->src), "%s", src);
	if (numbers_in(k, sip) < 0 || identity_in(k, sip) < 0) {
		fail_a(k, 484, "number too long after transforms");
		return;
	}
	url_e(ruri, sizeof(ruri), sip->sip_request->rq_url);
	url_e(from, sizeof(from), sip->sip_from->a_url);
	ruri[sizeof(ruri) - 1] = from[sizeof(from) - 1] = '\0';
	k->rq_uri = su_strdup(k->home, ruri);
	k->from_uri = su_strdup(k->home, from);
	if (sip->sip_payload != NULL && sip->sip_payload->pl_len > 0)
		k->offer = strndup(sip->sip_payload->pl_data,
		    sip->sip_payload->pl_len);
	/* Local accounts, emergency numbers, ENUM (maybe asynchronous:
	 * enum.c resumes with b2bua_routed()), then the rules. */
	if ((k->ncand = local_route(k)) == CTL_ROUTE_PENDING) {
		k->ncand = 0;
		return;
	}
	b2bua_routed(k, k->ncand);
}

/* The rest of a new call once local routing is done: n candidates are
 * in k->cand, 0 the rules decide, <0 fail with -n. */
void
b2bua_routed(struct call *k, int n)
{
	struct ctl *c = k->ctl;
	struct trunk *t = k->trunk;
	char err[160];
	json_t *media;

	if (!leg_live(&k->a) || k->finished || k->state == CS_ENDING) {
		call_check(k);	/* the caller went away meanwhile */
		return;
	}
	if (n < 0) {
		k->ncand = 0;
		fail_a(k, -n, "local routing");
		return;
	}
	k->ncand = n;
	if (k->ncand == 0)
		k->ncand = route_lookup(k->conf, t, k->rq_uri, k->from_uri,
		    k->called, rnd01, k->cand, CTL_MAX_CANDIDATES, &k->route);
	if (k->ncand > 0 && (k->ncand = health_filter(c, k->cand,
	    k->ncand)) == 0) {
		clog_msg(c, LL_NOTICE, "call %s: every gateway of route %s is "
		    "down", k->call_id, k->route ? k->route->name : "(local)");
		fail_a(k, 503, "all gateways down");
		return;
	}
	if (k->ncand == 0) {
		clog_msg(c, LL_NOTICE, "call %s: trunk %s, %s: no route",
		    k->call_id, t->name, k->called);
		fail_a(k, 404, "no route");
		return;
	}
	if (k->route != NULL && (xform_apply(&k->route->xf.called, k->called,
	    k->called, sizeof(k->called)) < 0 ||
	    xform_apply(&k->route->xf.calling, k->calling, k->calling,
	    sizeof(k->calling)) < 0)) {
		fail_a(k, 484, "number too long after transforms");
		return;
	}
	if (identity_map(k) < 0) {
		fail_a(k, 403, "identity not mapped");
		return;
	}
	if (k->offer == NULL) {
		fail_a(k, 488, "no SDP offer (late offer is not supported)");
		return;
	}
	media = k->a.web != NULL ? webleg_offer_media(k, err, sizeof(err)) :
	    sdp_to_media(k->offer, strlen(k->offer), err, sizeof(err));
	if (media == NULL) {
		clog_msg(c, LL_NOTICE, "call %s: %s", k->call_id, err);
		fail_a(k, 488, err);
		return;
	}
	if ((k->relay = relay_pick(c)) == NULL) {
		json_decref(media);
		clog_msg(c, LL_WARNING, "call %s: no relay answers: 503",
		    k->call_id);
		fail_a(k, 503, "no media relay");
		return;
	}
	webcall_offer_media(k, media);	/* a browser B leg: WebRTC on the relay */
	k->state = CS_OFFERING;
	relay_offer(k, media, on_offered, k);
}

/* ---- the gateway leg ---- */

static int
numbers_out(struct call *k, const struct gateway *gw)
{
	return xform_apply(&gw->xf.called, k->called, k->called_out,
	    sizeof(k->called_out)) < 0 ||
	    xform_apply(&gw->xf.calling, k->calling, k->calling_out,
	    sizeof(k->calling_out)) < 0 ? -1 : 0;
}

void
on_invite_timeout(struct ctl *c, su_timer_t *t, void *arg)
{
	struct call *k = arg;

	if (k->b.nh == NULL)
		return;
	clog_msg(c, LL_INFO, "call %s: gateway %s: no reply within %gs",
	    k->call_id, k->cand[k->attempt].gw->name, k->conf->invite_timeout);
	record_attempt(k, 408);
	destroy_leg(&k->b);
	if (!leg_live(&k->a) || k->state == CS_ENDING) {
		call_check(k);
		return;
	}
	if (++k->attempt < k->ncand) {
		start_attempt(k);
		return;
	}
	fail_a(k, 408, "all gateways timed out or failed");
	call_check(k);
}

static void
start_attempt(struct call *k)
{
	struct ctl *c = k->ctl;
	const struct gateway *gw = NULL;
	char ruri[420], to[320], from[320], port[8] = "", tp[20] = "";
	char cid[320] = "", hostbuf[160], route[220] = "", mf[12];
	const char *host, *user;

	for (; k->attempt < k->ncand; k->attempt++) {
		gw = k->cand[k->attempt].gw;
		if (numbers_out(k, gw) == 0)
			break;
		json_array_append_new(k->attempts, json_pack("{s:s,s:s,s:i}",
		    "gateway", gw->name, "carrier", k->cand[k->attempt].carrier,
		    "code", 484));
	}
	if (k->attempt >= k->ncand || gw == NULL) {
		fail_a(k, 484, "number too long after transforms");
		call_check(k);
		return;
	}
	/* webcall.c: a logged-in browser is rung over its WebSocket (after
	 * a re-offer when the relay's B leg must change transport). */
	if (webcall_switch(k))
		return;
	if (candidate_is_web(&k->cand[k->attempt])) {
		webcall_ring(k);
		return;
	}
	if (gw->port != 0)
		snprintf(port, sizeof(port), ":%u", gw->port);
	if (gw->transport == TP_TCP)
		strcpy(tp, ";transport=tcp");
	else if (gw->transport == TP_TLS && strcmp(gw->scheme, "sips") != 0)
		strcpy(tp, ";transport=tls");
	/* A URI destination (contact, ENUM, emergency) keeps its user. */
	user = k->cand[k->attempt].user ? k->cand[k->attempt].user :
	    k->called_out;
	snprintf(ruri, sizeof(ruri), "%s:%s%s%s%s%s%s", gw->scheme, user,
	    user[0] ? "@" : "", gw->host, port, tp, gw->uri_params);
	snprintf(to, sizeof(to), "<%s:%s%s%s%s>", gw->scheme, user,
	    user[0] ? "@" : "", gw->host, port);
	host = gw->from_host[0] ? gw->from_host : c->contact;
	snprintf(hostbuf, sizeof(hostbuf), "%s", host);
	/* identity.c: From, P-Asserted-Identity/Remote-Party-ID, Privacy */
	identity_out(k, gw, hostbuf, from, sizeof(from), cid, sizeof(cid));
	json_array_append_new(k->attempts, json_pack("{s:s,s:s}", "gateway",
	    gw->name, "carrier", k->cand[k->attempt].carrier));
	k->b = (struct leg){ k, NULL, 1, k->b.sdp, false, NULL };
	k->b_acked = k->auth_tried = false;
	/* An outbound proxy is a pre-loaded loose route (RFC 3261 8.1.2). */
	if (gw->proxy[0] != '\0')
		snprintf(route, sizeof(route), "<%s%s>", gw->proxy,
		    strstr(gw->proxy, ";lr") ? "" : ";lr");
	k->b.nh = nua_handle(c->nua, &k->b, NUTAG_URL(ruri),
	    SIPTAG_TO_STR(to), SIPTAG_FROM_STR(from), TAG_END());
	if (k->b.nh == NULL) {
		fail_a(k, 500, "cannot create the outgoing leg");
		call_check(k);
		return;
	}
	clog_msg(c, LL_INFO, "call %s: attempt %d: %s -> %s", k->call_id,
	    k->attempt + 1, gw->name, ruri);
	k->state = CS_CALLING;
	snprintf(mf, sizeof(mf), "%u", k->max_forwards);
	nua_invite(k->b.nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
	    SIPTAG_MAX_FORWARDS_STR(mf),
	    SIPTAG_PAYLOAD_STR(k->b_offer),
	    TAG_IF(route[0], SIPTAG_ROUTE_STR(route)),
	    TAG_IF(cid[0], SIPTAG_HEADER_STR(cid)),
	    TAG_IF(k->diversion[0], SIPTAG_HEADER_STR(k->diversion)),
	    TAG_END());
	su_timer_set_interval(k->invite_timer, on_invite_timeout, k,
	    (su_duration_t)(k->conf->invite_timeout * 1000));
}

struct answer_ctx {
	struct call	*k;
	int		 status;
	char		*body;
};

static void
on_max_duration(struct ctl *c, su_timer_t *t, void *arg)
{
	struct call *k = arg;

	clog_msg(c, LL_INFO, "call %s: max duration %gs reached", k->call_id,
	    k->conf->max_duration);
	b2bua_hangup(c, k->relay_key, BY_CONTROLLER, "max duration");
}

static void
on_answered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct answer_ctx *ax = arg;
	struct call *k = ax->k;
	char err[160], *sdp = NULL;

	if (k->a.web != NULL && !k->a.answered && !k->finished) {
		/* webcall.c: the browser's answer, or the end */
		webleg_relay_answer(k, ax->status, rr, ax->body);
	} else if (k->a.nh != NULL && !k->a.answered && !k->finished) {
		if (rr->ok)
			sdp = sdp_rewrite(ax->body, strlen(ax->body),
			    rr->media, &k->a.sdp, err, sizeof(err));
		if (!rr->ok) {
			clog_msg(c, LL_WARNING, "call %s: relay %s: answer "
			    "failed: %s", k->call_id, relay_name(k->relay),
			    rr->error);
			b2bua_relay_lost(k, rr->answered ? "media relay "
			    "failed (answer refused)" : "media relay failed "
			    "(no reply)");
		} else if (sdp == NULL && ax->status >= 200) {
			clog_msg(c, LL_WARNING, "call %s: %s", k->call_id, err);
			b2bua_hangup(c, k->relay_key, BY_CONTROLLER, err);
		} else if (sdp == NULL) {
			nua_respond(k->a.nh, ax->status,
			    sip_status_phrase(ax->status), TAG_END());
		} else {
			if (ax->status >= 200) {
				k->a.answered = true;
				k->state = CS_CONNECTED;
				k->connect_t = wall_now();
				k->final_code = ax->status;
				if (k->conf->max_duration > 0)
					su_timer_set_interval(k->duration_timer,
					    on_max_duration, k, (su_duration_t)
					    (k->conf->max_duration * 1000));
			}
			nua_respond(k->a.nh, ax->status,
			    sip_status_phrase(ax->status),
			    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
			    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
		}
	}
	free(sdp);
	free(ax->body);
	free(ax);
	call_check(k);
}

void
b2bua_attempt(struct call *k)
{
	start_attempt(k);
}

/* B's answer media (stolen) and body to the relay; A hears status. */
void
b2bua_answer(struct call *k, int status, json_t *media, const char *body)
{
	struct answer_ctx *ax = calloc(1, sizeof(*ax));

	if (ax == NULL || (ax->body = strdup(body)) == NULL) {
		free(ax);
		json_decref(media);
		b2bua_hangup(k->ctl, k->relay_key, BY_CONTROLLER,
		    "out of memory");
		return;
	}
	ax->k = k;
	ax->status = status;
	relay_answer(k, media, on_answered, ax);
}

/* B's SDP goes to the relay; A hears status with the rewritten SDP. */
static void
answer_via_relay(struct call *k, int status, const sip_t *sip)
{
	struct ctl *c = k->ctl;
	struct answer_ctx *ax;
	char err[160];
	json_t *media;

	media = sdp_to_media(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len, err, sizeof(err));
	if (media == NULL) {
		clog_msg(c, LL_NOTICE, "call %s: gateway SDP: %s", k->call_id,
		    err);
		if (status >= 200)
			b2bua_hangup(c, k->relay_key, BY_CONTROLLER, err);
		return;
	}
	if (k->a.web != NULL)
		webleg_answer_media(k, media);
	ax = calloc(1, sizeof(*ax));
	ax->k = k;
	ax->status = status;
	ax->body = strndup(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
	snprintf(k->to_tag, sizeof(k->to_tag), "%s", sip->sip_to->a_tag ?
	    sip->sip_to->a_tag : "-");
	relay_answer(k, media, on_answered, ax);
}

void
b_response(struct ctl *c, struct leg *l, int status, const sip_t *sip)
{
	struct call *k = l->call;
	const struct gateway *gw = k->cand[k->attempt].gw;
	bool has_sdp = sip != NULL && sip->sip_payload != NULL &&
	    sip->sip_payload->pl_len > 0;

	if (status >= 100)
		su_timer_reset(k->invite_timer);
	if (sip != NULL && sip->sip_call_id != NULL && k->b_call_id[0] == '\0')
		snprintf(k->b_call_id, sizeof(k->b_call_id), "%s",
		    sip->sip_call_id->i_id);
	if (!leg_live(&k->a) || k->state == CS_ENDING) {
		/* The caller is gone: a late answer is hung up. */
		if (status >= 200 && status < 300) {
			nua_ack(l->nh, TAG_END());
			nua_bye(l->nh, TAG_END());
			l->answered = true;
		} else if (status >= 300) {
			record_attempt(k, status);
			destroy_leg(l);
			call_check(k);
		}
		return;
	}
	if (status < 200) {
		if (status == 100)
			return;
		k->state = CS_EARLY;
		if (has_sdp)
			answer_via_relay(k, status, sip);
		else if (k->a.web != NULL)
			webleg_respond(&k->a, status, NULL);
		else
			nua_respond(k->a.nh, status, sip_status_phrase(status),
			    TAG_END());
		return;
	}
	if (status < 300) {
		l->answered = true;
		record_attempt(k, status);
		if (has_sdp) {
			answer_via_relay(k, status, sip);
			return;
		}
		b2bua_hangup(c, k->relay_key, BY_CONTROLLER,
		    "gateway answered without SDP");
		return;
	}
	if ((status == 401 || status == 407) && gw->username[0] &&
	    !k->auth_tried) {
		const msg_auth_t *au = status == 401 ?
		    (const msg_auth_t *)sip->sip_www_authenticate :
		    (const msg_auth_t *)sip->sip_proxy_authenticate;
		const char *realm = au ? msg_params_find(au->au_params,
		    "realm=") : NULL;
		char cred[400];
		if (realm != NULL) {
			k->auth_tried = true;
			snprintf(cred, sizeof(cred), "%s:%s:%s:%s",
			    au->au_scheme, realm, gw->username, gw->password);
			nua_authenticate(l->nh, NUTAG_AUTH(cred), TAG_END());
			su_timer_set_interval(k->invite_timer,
			    on_invite_timeout, k,
			    (su_duration_t)(k->conf->invite_timeout * 1000));
			return;
		}
	}
	record_attempt(k, status);
	destroy_leg(l);
	clog_msg(c, LL_INFO, "call %s: gateway %s: %d", k->call_id, gw->name,
	    status);
	if (divert_on_status(k, status))	/* divert.c: busy, no answer */
		return;
	if (status >= 600) {
		fail_a(k, status, "global failure from the gateway");
	} else if ((status < 400 || config_failover_code(k->conf, status)) &&
	    k->attempt + 1 < k->ncand) {
		k->attempt++;
		start_attempt(k);
		return;
	} else {
		fail_a(k, status < 400 ? 480 : status, "gateway failed");
	}
	call_check(k);
}

void
b2bua_retarget(struct call *k, int n)
{
	if (k->b.web != NULL) {		/* a ringing browser (webcall.c) */
		webleg_bye(&k->b, "diverted");
		destroy_leg(&k->b);
	}
	if (k->b.nh != NULL) {
		if (!k->b.answered)
			nua_cancel(k->b.nh, TAG_END());
		destroy_leg(&k->b);
	}
	su_timer_reset(k->invite_timer);
	if (n <= 0) {
		k->ncand = 0;
		fail_a(k, -n, "no route after diversion");
		call_check(k);
		return;
	}
	k->ncand = n;
	k->attempt = 0;
	start_attempt(k);
}
