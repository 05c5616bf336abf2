/*
 * gateway.c: the gateway (outbound) leg of a call, from the INVITE sent
 * to a candidate gateway to its final answer. invite.c hands over a call
 * whose offer the relay has rewritten (gateway_start()); this file tries
 * the candidates in order, answers gateway challenges once with the
 * gateway's credentials, fails over on failover_codes, 3xx and no 18x
 * or final reply within invite_timeout (attempt.c keeps the clock; a
 * gateway that rings past ring_timeout is cancelled, 480), but not after
 * the caller heard early media unless the route allows it, and puts the
 * gateway's SDP through the relay before the caller hears it (a 183's
 * SDP stands for a 200 without one). divert.c re-targets a call that is
 * not answered yet (b2bua_retarget()). Two or more contacts of a local
 * account ring in parallel through fork.c (gateway_invite() makes each
 * leg's INVITE); the one that answers comes back here as B.
 *
 * Reply codes from gateways: 2xx connect; 401/407 are answered once with
 * the gateway's credentials; a code in failover_codes (and 3xx: redirects
 * are not followed, the next candidate is tried instead) moves to the
 * next candidate, as does no reply within invite_timeout; 6xx ends the
 * call at once (no other gateway would do better); any other final code
 * goes back to the caller. When the candidates run out the caller gets
 * the last code (480 after a 3xx, 408 after a timeout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

static int
numbers_out(struct call *k, const struct gateway *gw)
{
	return xform_apply(&gw->xf.called, k->called, k->called_out,
	    sizeof(k->called_out)) < 0 ||
	    xform_apply(&gw->xf.calling, k->calling, k->calling_out,
	    sizeof(k->calling_out)) < 0 ? -1 : 0;
}

/*
 * attempt.c's ring time is over: the callee was reached and did not
 * answer, so no other gateway is tried. The gateway gets a CANCEL (and
 * the guard below, if it ignores it), the caller 480, unless the callee's
 * no-answer diversion takes the call elsewhere.
 */
static void
ring_timeout(struct ctl *c, struct call *k)
{
	clog_msg(c, LL_INFO, "call %s: gateway %s: no answer within %gs of "
	    "ringing: 480", k->call_id, k->cand[k->attempt].gw->name,
	    attempt_ring_timeout(k));
	call_attempt_code(k, 480);
	if (divert_on_status(k, 480))	/* cancels B itself */
		return;
	call_hungup(k, BY_CONTROLLER, "ring timeout");
	call_fail(k, 480, "ring timeout");
	nua_cancel(k->b.nh, SIPTAG_REASON_STR("SIP;cause=480;text=\"ring "
	    "timeout\""), TAG_END());
	/* A gateway that ignores the CANCEL is dropped after 5 s. */
	su_timer_set_interval(k->invite_timer, on_invite_timeout, k, 5000);
}

void
on_invite_timeout(struct ctl *c, su_timer_t *t, void *arg)
{
	struct call *k = arg;
	bool ending = !leg_live(&k->a) || k->state == CS_ENDING;

	if (k->b.web != NULL) {		/* a ringing browser (webcall.c) */
		webcall_ring_timeout(k);
		return;
	}
	if (fork_timeout(k))	/* fork.c: the fork set's clock */
		return;
	if (k->b.nh == NULL)
		return;
	if (!ending && k->attempt_phase == AP_RINGING) {
		ring_timeout(c, k);
		return;
	}
	if (ending)
		clog_msg(c, LL_INFO, "call %s: gateway %s: no final reply to "
		    "our CANCEL in time: dropped", k->call_id,
		    k->cand[k->attempt].gw->name);
	else
		clog_msg(c, LL_INFO, "call %s: gateway %s: no 18x or final "
		    "reply within %gs", k->call_id,
		    k->cand[k->attempt].gw->name, attempt_invite_timeout(k));
	call_attempt_code(k, 408);
	call_drop_leg(&k->b);	/* nta CANCELs it if it sent 100 */
	if (!leg_live(&k->a) || k->state == CS_ENDING) {
		call_check(k);
		return;
	}
	if (++k->attempt < k->ncand) {
		gateway_start(k);
		return;
	}
	call_fail(k, 408, "all gateways timed out or failed");
	call_check(k);
}

void
gateway_start(struct call *k)
{
	const struct gateway *gw = NULL;

	k->att_entry = 0;	/* B's attempt is the CDR's last entry */
	for (; k->attempt < k->ncand; k->attempt++) {
		gw = k->cand[k->attempt].gw;
		if (numbers_out(k, gw) == 0)
			break;
		json_array_append_new(k->attempts, json_pack("{s:s,s:s,s:i}",
		    "gateway", gw->name, "carrier", k->cand[k->attempt].carrier,
		    "code", 484));
	}
	if (k->attempt >= k->ncand || gw == NULL) {
		call_fail(k, 484, "number too long after transforms");
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
	/* fork.c: an account's contacts ring in parallel */
	if (fork_wanted(k)) {
		fork_start(k);
		return;
	}
	k->b = (struct leg){ k, NULL, 1, k->b.sdp, false, NULL };
	free(k->b_early);	/* the last gateway's early answer */
	k->b_early = NULL;
	k->b_acked = k->auth_tried = false;
	if (gateway_invite(k, &k->b, k->attempt, NULL) < 0) {
		call_fail(k, 500, "cannot create the outgoing leg");
		call_check(k);
		return;
	}
	k->state = CS_CALLING;
	attempt_start(k);	/* attempt.c: no 18x, then the ring time */
	tls_attempt_start(k);
}

/*
 * The INVITE to candidate i on leg l (k->b, or one of fork.c's legs),
 * with its CDR attempt entry (its index in *entry). B's offer is ready.
 * 0, or -ENOSPC (numbers too long) / -ENOMEM (no handle).
 */
int
gateway_invite(struct call *k, struct leg *l, int i, size_t *entry)
{
	struct ctl *c = k->ctl;
	const struct gateway *gw = k->cand[i].gw;
	char ruri[420], to[320], from[320], port[8] = "", tp[20] = "";
	char cid[320] = "", hostbuf[160], route[220] = "", mf[12], ctype[96];
	const char *host, *user, *st;
	/* webcall.c: contacts ringing along with a browser */
	const char *offer = l->side == LEG_FORK && k->fork_offer != NULL ?
	    k->fork_offer : k->b_offer;
	int fam;
	json_t *att;

	if (numbers_out(k, gw) < 0)
		return -ENOSPC;
	if (gw->port != 0)
		snprintf(port, sizeof(port), ":%u", gw->port);
	if (gw->transport == TP_TCP)
		strcpy(tp, ";transport=tcp");
	else if (gw->transport == TP_TLS && strcmp(gw->scheme, "sips") != 0)
		strcpy(tp, ";transport=tls");
	/* A URI destination (contact, ENUM, emergency) keeps its user. */
	user = k->cand[i].user ? k->cand[i].user : k->called_out;
	snprintf(ruri, sizeof(ruri), "%s:%s%s%s%s%s%s", gw->scheme, user,
	    user[0] ? "@" : "", gw->host, port, tp, gw->uri_params);
	snprintf(to, sizeof(to), "<%s:%s%s%s%s>", gw->scheme, user,
	    user[0] ? "@" : "", gw->host, port);
	host = gw->from_host[0] ? gw->from_host : c->contact;
	snprintf(hostbuf, sizeof(hostbuf), "%s", host);
	/* listen.c: with an IPv6 listener too, Contact and our From host
	 * are the listener of the family the request goes to. */
	fam = listen_family(gw->proxy[0] ? gw->proxy : gw->flow[0] ?
	    gw->flow : gw->host);
	if (listen_contact(k->conf, fam, gw->transport, k->b_contact,
	    sizeof(k->b_contact)) == 0 && gw->from_host[0] == '\0')
		(void)listen_host(k->conf, fam, hostbuf, sizeof(hostbuf));
	/* identity.c: From, P-Asserted-Identity/Remote-Party-ID, Privacy */
	identity_out(k, gw, hostbuf, from, sizeof(from), cid, sizeof(cid));
	att = json_pack("{s:s,s:s}", "gateway", gw->name, "carrier",
	    k->cand[i].carrier);
	/* fork.c: a registered contact is named (the CDR's "contact") */
	if (strncmp(gw->name, "account:", 8) == 0)
		json_object_set_new(att, "contact", json_string(ruri));
	if (entry != NULL)
		*entry = json_array_size(k->attempts);
	json_array_append_new(k->attempts, att);
	/* An outbound proxy is a pre-loaded loose route (RFC 3261 8.1.2). */
	if (gw->proxy[0] != '\0')
		snprintf(route, sizeof(route), "<%s%s>", gw->proxy,
		    strstr(gw->proxy, ";lr") ? "" : ";lr");
	l->nh = nua_handle(stack_for(c, fam), l, NUTAG_URL(ruri),
	    SIPTAG_TO_STR(to), SIPTAG_FROM_STR(from), TAG_END());
	if (l->nh != NULL && gw->flow[0])	/* location.c: a NAT'd phone */
		nua_set_hparams(l->nh, NUTAG_PROXY(gw->flow), TAG_END());
	if (l->nh == NULL)
		return -ENOMEM;
	if (k->late_offer)
		lateoffer_b_leg(l);	/* its PRACKs are ours */
	clog_msg(c, LL_INFO, "call %s: attempt %d: %s -> %s", k->call_id,
	    i + 1, gw->name, ruri);
	snprintf(mf, sizeof(mf), "%u", k->max_forwards);
	st = session_timer_offer(k);
	/* multipart.c: a SIP-I caller's other parts, if gw takes them */
	free(k->b_body);
	k->b_body = offer != NULL ? multipart_body(k, gw, offer,
	    ctype, sizeof(ctype)) : NULL;
	/* No SDP for a late offer (lateoffer.c): the gateway offers. */
	nua_invite(l->nh,
	    TAG_IF(offer, SIPTAG_CONTENT_TYPE_STR(k->b_body ? ctype :
	    "application/sdp")),
	    TAG_IF(k->b_body, SIPTAG_MIME_VERSION_STR("1.0")),
	    TAG_IF(st, SIPTAG_HEADER_STR(st)),
	    SIPTAG_MAX_FORWARDS_STR(mf),
	    TAG_IF(offer, SIPTAG_PAYLOAD_STR(k->b_body ? k->b_body : offer)),
	    TAG_IF(route[0], SIPTAG_ROUTE_STR(route)),
	    TAG_IF(k->b_contact[0], SIPTAG_CONTACT_STR(k->b_contact)),
	    TAG_IF(cid[0], SIPTAG_HEADER_STR(cid)),
	    TAG_IF(k->diversion[0], SIPTAG_HEADER_STR(k->diversion)),
	    TAG_END());
	return 0;
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

void
gateway_connected(struct call *k, int status)
{
	call_connected(k, status);
	if (k->conf->max_duration > 0)
		su_timer_set_interval(k->duration_timer, on_max_duration, k,
		    (su_duration_t)(k->conf->max_duration * 1000));
}

static void
on_answered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct answer_ctx *ax = arg;
	struct call *k = ax->k;
	char err[160], *sdp = NULL;
	const char *st;

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
			    sip_status_phrase(ax->status),
			    TAG_IF(k->a_contact[0],
			    SIPTAG_CONTACT_STR(k->a_contact)), TAG_END());
		} else {
			if (ax->status < 200)
				k->early_media = true;	/* the caller hears B */
			if (ax->status >= 200)
				gateway_connected(k, ax->status);
			st = ax->status >= 200 ? session_timer_answer(k) :
			    NULL;
			nua_respond(k->a.nh, ax->status,
			    sip_status_phrase(ax->status),
			    TAG_IF(st, SIPTAG_HEADER_STR(st)),
			    TAG_IF(k->a_contact[0],
			    SIPTAG_CONTACT_STR(k->a_contact)),
			    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
			    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
			if (ax->status < 200)
				reinvite_a_early(k, ax->status);
			else
				reinvite_a_pracked(k);
		}
	}
	free(sdp);
	free(ax->body);
	free(ax);
	call_check(k);
}

/* B's answer media and body to the relay; A hears status. */
void
b2bua_answer(struct call *k, int status, struct media_desc *media,
    const char *body)
{
	struct answer_ctx *ax = calloc(1, sizeof(*ax));

	if (ax == NULL || (ax->body = strdup(body)) == NULL) {
		free(ax);
		free(media);
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
answer_body(struct call *k, int status, const char *body, size_t len,
    const char *to_tag)
{
	struct ctl *c = k->ctl;
	struct answer_ctx *ax;
	char err[160];
	struct media_desc *media;

	media = sdp_to_media(body, len, err, sizeof(err));
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
	ax->body = strndup(body, len);
	/* A new tag (another gateway after early media) is a new B side
	 * for the relay (proto/PROTOCOL.md, answer). */
	snprintf(k->to_tag, sizeof(k->to_tag), "%s", to_tag ? to_tag : "-");
	if (status < 200) {
		/* B's early answer: it stands if its 2xx has no SDP */
		free(k->b_early);
		k->b_early = strndup(body, len);
		relay_answer_early(k, media, on_answered, ax);
	} else {
		relay_answer(k, media, on_answered, ax);
	}
}

/* B's 18x or 2xx SDP (sip's) through the relay to the caller; fork.c
 * sends a fork's early media this way. */
void
gateway_answer_sdp(struct call *k, int status, const sip_t *sip)
{
	const char *body;
	size_t blen;

	multipart_sdp(sip, &body, &blen);	/* SIP-I: its SDP part */
	answer_body(k, status, body, blen, sip->sip_to->a_tag);
}

/*
 * Carrier practice: once the caller has heard early media (a 18x with
 * SDP), the call does not move to another gateway, which would switch
 * the announcement or ringback under the caller; a route may allow it
 * (failover_after_early), and the relay then takes the new gateway as
 * the call's B side.
 */
static bool
failover_allowed(struct call *k)
{
	if (!k->early_media || attempt_failover_early(k))
		return true;
	clog_msg(k->ctl, LL_INFO, "call %s: the caller heard early media: no "
	    "failover (failover_after_early is off)", k->call_id);
	return false;
}

void
b_response(struct ctl *c, struct leg *l, int status, const sip_t *sip)
{
	struct call *k = l->call;
	const struct gateway *gw = k->cand[k->attempt].gw;
	bool has_sdp = sip != NULL && sip->sip_payload != NULL &&
	    sip->sip_payload->pl_len > 0;

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
			call_attempt_code(k, status);
			call_drop_leg(l);
			call_check(k);
		}
		return;
	}
	/* Only while the call is up: the CANCEL guard is not ours. */
	if (status >= 100)
		attempt_progress(k, status);
	if (status < 200) {
		if (status == 100)
			return;
		k->state = CS_EARLY;
		if (k->late_offer && lateoffer_b_early(k, status, sip))
			return;	/* a reliable 18x with the offer */
		/* A late offer's 18x SDP is passed on with the 2xx's. */
		if (has_sdp && !k->late_offer)
			gateway_answer_sdp(k, status, sip);
		else if (k->a.web != NULL)
			webleg_respond(&k->a, status, NULL);
		else
			nua_respond(k->a.nh, status, sip_status_phrase(status),
			    TAG_IF(k->a_contact[0],
			    SIPTAG_CONTACT_STR(k->a_contact)), TAG_END());
		return;
	}
	if (status < 300) {
		l->answered = true;
		call_attempt_code(k, status);
		if (k->late_offer) {
			lateoffer_b_answer(k, status, sip);
			return;
		}
		if (has_sdp) {
			gateway_answer_sdp(k, status, sip);
			return;
		}
		/* The answer of B's 18x stands (RFC 3261 13.2.1): the relay
		 * gets it again as the final one, the caller a 2xx with it. */
		if (k->b_early != NULL) {
			answer_body(k, status, k->b_early, strlen(k->b_early),
			    sip->sip_to->a_tag);
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
			attempt_start(k);
			return;
		}
	}
	call_attempt_code(k, status);
	call_drop_leg(l);
	clog_msg(c, LL_INFO, "call %s: gateway %s: %d", k->call_id, gw->name,
	    status);
	if (divert_on_status(k, status))	/* divert.c: busy, no answer */
		return;
	if (status >= 600) {
		call_fail(k, status, "global failure from the gateway");
	} else if ((status < 400 || config_failover_code(k->conf, status)) &&
	    k->attempt + 1 < k->ncand && failover_allowed(k)) {
		k->attempt++;
		gateway_start(k);
		return;
	} else {
		call_fail(k, status < 400 ? 480 : status, "gateway failed");
	}
	call_check(k);
}

void
b2bua_retarget(struct call *k, int n)
{
	if (k->b.web != NULL) {		/* a ringing browser (webcall.c) */
		webleg_bye(&k->b, "diverted");
		call_drop_leg(&k->b);
	}
	if (k->b.nh != NULL) {
		if (!k->b.answered)
			nua_cancel(k->b.nh, TAG_END());
		call_drop_leg(&k->b);
	}
	fork_cancel_all(k, NULL);	/* fork.c: the contacts ringing */
	su_timer_reset(k->invite_timer);
	if (n <= 0) {
		k->ncand = 0;
		call_fail(k, -n, "no route after diversion");
		call_check(k);
		return;
	}
	k->ncand = n;
	k->attempt = 0;
	gateway_start(k);
}
