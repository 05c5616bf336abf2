/*
 * invite.c: a new call, from the caller's INVITE to the relay's offer.
 * The INVITE goes through the stages in order: identify (source address,
 * registered contact, else digest account), limits, the local step
 * (local_route(): accounts, emergency, ENUM, maybe asynchronous), the
 * rules (b2bua_routed()), then the offer to a relay. Only when the relay
 * has rewritten the offer does gateway.c create B; B's answer goes to
 * the relay before A hears it. The nua runs with AUTOACK(0): B's 2xx is ACKed when
 * A's ACK arrives (b2bua.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

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
	/* "[2001:db8::1]:5060", as cdr.c writes refusals */
	snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
	    ip, port);
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
		call_fail(k, 500, "SDP rewrite failed");
		return;
	}
	gateway_start(k);
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
	char src[64], ruri[512], from[512], why[160], ac[96] = "";
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
	/* session_timer.c: 422 below our Min-SE, before any limit */
	if ((retry = session_timer_refuse(c, nh, sip)) != 0) {
		cdr_refusal(c, sip, ai->ai_addr, t, retry,
		    "session interval too small");
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
	/* listen.c: with an IPv6 listener too, our Contact to the caller
	 * names the listener of the caller's family. */
	(void)listen_contact(conf, ai->ai_addr->sa_family,
	    identify_transport(nua_current_request(nua), sip), ac, sizeof(ac));
	/* The stack's automatic 100 is off (drop mode must stay silent). */
	nua_respond(nh, SIP_100_TRYING, TAG_IF(ac[0], SIPTAG_CONTACT_STR(ac)),
	    TAG_END());
	if ((k = call_new(c, nh, sip)) == NULL) {
		if (!bypass)
			limits_release(c, t->name);
		nua_respond(nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	k->trunk = t;
	session_timer_caller(k, sip);
	/* identity.c: PAI trust is by address, never by a digest login. */
	k->from_source = identify_by_source(conf, ai->ai_addr,
	    identify_transport(nua_current_request(nua), sip)) == t;
	k->limit_held = !bypass;
	snprintf(k->a_contact, sizeof(k->a_contact), "%s", ac);
	/* B carries A's Max-Forwards minus one (at most 69), so a loop
	 * through other hops still ends. */
	k->max_forwards = sip->sip_max_forwards == NULL ||
	    sip->sip_max_forwards->mf_count > 70 ? 69 :
	    (unsigned)sip->sip_max_forwards->mf_count - 1;
	snprintf(k->src, sizeof(k->src), "%s", src);
	if (numbers_in(k, sip) < 0 || identity_in(k, sip) < 0) {
		call_fail(k, 484, "number too long after transforms");
		return;
	}
	url_e(ruri, sizeof(ruri), sip->sip_request->rq_url);
	url_e(from, sizeof(from), sip->sip_from->a_url);
	ruri[sizeof(ruri) - 1] = from[sizeof(from) - 1] = '\0';
	k->rq_uri = su_strdup(k->home, ruri);
	k->from_uri = su_strdup(k->home, from);
	if (sip->sip_payload != NULL && sip->sip_payload->pl_len > 0 &&
	    multipart_offer(k, sip) == 0)	/* multipart.c: SIP-I */
		k->offer = strndup(sip->sip_payload->pl_data,
		    sip->sip_payload->pl_len);
	/* lateoffer.c: can the caller take an offer in a reliable 18x? */
	k->a_100rel = sip_has_feature(sip->sip_supported, "100rel") ||
	    sip_has_feature(sip->sip_require, "100rel");
	k->a_100rel_req = sip_has_feature(sip->sip_require, "100rel");
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
	struct media_desc *media;

	if (!leg_live(&k->a) || k->finished || k->state == CS_ENDING) {
		call_check(k);	/* the caller went away meanwhile */
		return;
	}
	if (n < 0) {
		k->ncand = 0;
		call_fail(k, -n, "local routing");
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
		call_fail(k, 503, "all gateways down");
		return;
	}
	if (k->ncand == 0) {
		clog_msg(c, LL_NOTICE, "call %s: trunk %s, %s: no route",
		    k->call_id, t->name, k->called);
		call_fail(k, 404, "no route");
		return;
	}
	if (k->route != NULL && (xform_apply(&k->route->xf.called, k->called,
	    k->called, sizeof(k->called)) < 0 ||
	    xform_apply(&k->route->xf.calling, k->calling, k->calling,
	    sizeof(k->calling)) < 0)) {
		call_fail(k, 484, "number too long after transforms");
		return;
	}
	if (identity_map(k) < 0) {
		call_fail(k, 403, "identity not mapped");
		return;
	}
	if (k->offer == NULL) {
		lateoffer_start(k);	/* the gateway will offer */
		return;
	}
	media = k->a.web != NULL ? webleg_offer_media(k, err, sizeof(err)) :
	    sdp_to_media(k->offer, strlen(k->offer), err, sizeof(err));
	if (media == NULL) {
		clog_msg(c, LL_NOTICE, "call %s: %s", k->call_id, err);
		call_fail(k, 488, err);
		return;
	}
	if ((k->relay = relay_pick(c)) == NULL) {
		free(media);
		clog_msg(c, LL_WARNING, "call %s: no relay answers: 503",
		    k->call_id);
		call_fail(k, 503, "no media relay");
		return;
	}
	webcall_offer_media(k, media);	/* a browser B leg: WebRTC on the relay */
	k->state = CS_OFFERING;
	relay_offer(k, media, on_offered, k);
}
