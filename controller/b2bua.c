/*
 * b2bua.c: the SIP side of the controller. One nua: b2bua_open() creates
 * it with NUTAG_MEDIA_ENABLE(0) (SDP is ours, sdp.c) and AUTOACK(0) (B's
 * 2xx is ACKed when A's ACK arrives), on_event() dispatches its events:
 * probes and registrations (health.c, register.c), edge protection on
 * every new request (protect.c), a new INVITE (invite.c), re-offers
 * (reinvite.c), gateway answers (gateway.c), ACKs and the caller's PRACKs
 * (lateoffer.c: a late offer's answer), BYEs checked by
 * indialog.c, leg ends (hangup.c), INFO (info.c), the responses to our
 * own session refreshes (session_timer.c),
 * REGISTER (registrar.c), and the rest answered out of dialog.
 * Requests we drop without an answer are held here until they expire.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/nta_tag.h>

/*
 * unknown_source "drop": no answer at all. The handle is kept unanswered
 * until the caller's transaction has given up (64*T1), then destroyed.
 * At most DROP_MAX are held; beyond that they are let go at once.
 * Destroyed unanswered, a request would get the stack's 500 (an INVITE
 * its 480): a non-INVITE request is first answered 408, which nta never
 * sends (RFC 4320), so it ends without a word; an INVITE still gets the
 * 480, after its caller has given up (and nta's "100 Trying" at 200 ms).
 *
 * Why an INVITE cannot be silent through nua (Sofia 1.12.11, checked in
 * the shipped library): nta arms timer N1 (200 ms, T2/2 on a stream) on
 * every new INVITE transaction and sends "100 Trying" when it fires
 * unless the transaction's own extra_100 flag is clear. That flag starts
 * set and only nta_incoming_set_params() or the tags of
 * nta_incoming_treply() clear it; nua calls neither with anything of
 * ours, and gives no access to the transaction. NTATAG_EXTRA_100 is the
 * agent's flag (a retransmission's 100), not this one. Any final
 * answer, or destroying the transaction, sends a final response. Only
 * a filter in front of the stack can keep an INVITE silent: over UDP
 * sipfilter.c is that filter, so what is held here came over TCP or TLS
 * (or slipped past the filter, see there).
 */
#define DROP_MAX	10000
#define DROP_HOLD_S	40.0

struct dropped {
	nua_handle_t	*nh;
	nua_saved_event_t saved[1];	/* a non-INVITE request */
	double		 until;
	struct dropped	*next;
};

/* End a dropped request as silently as the stack allows. */
static void
drop_release(struct ctl *c, nua_handle_t *nh, nua_saved_event_t *saved)
{
	if (c->nua != NULL && saved != NULL && saved[0] != NULL)
		nua_respond(nh, SIP_408_REQUEST_TIMEOUT,
		    NUTAG_WITH_SAVED(saved), TAG_END());
	if (saved != NULL)
		nua_destroy_event(saved);
	if (c->nua != NULL)
		nua_handle_destroy(nh);
}

void
drop_request(struct ctl *c, nua_handle_t *nh)
{
	msg_t *m = c->ev_nua != NULL ? nua_current_request(c->ev_nua) : NULL;
	sip_t const *sip = m != NULL ? sip_object(m) : NULL;
	bool invite = sip == NULL || sip->sip_request == NULL ||
	    sip->sip_request->rq_method == sip_method_invite;
	nua_saved_event_t now[1] = { NULL };
	struct dropped *d, **pp;

	if (c->ndropped >= DROP_MAX || (d = calloc(1, sizeof(*d))) == NULL) {
		if (!invite)
			nua_save_event(c->ev_nua, now);
		drop_release(c, nh, now);
		return;
	}
	d->nh = nh;
	if (!invite)
		nua_save_event(c->ev_nua, d->saved);
	d->until = mono_now() + DROP_HOLD_S;
	for (pp = &c->dropped; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = d;	/* oldest first */
	c->ndropped++;
}

static void
drop_expire(struct ctl *c, bool all)
{
	double now = mono_now();

	while (c->dropped != NULL && (all || c->dropped->until <= now)) {
		struct dropped *d = c->dropped;
		c->dropped = d->next;
		c->ndropped--;
		drop_release(c, d->nh, d->saved);
		free(d);
	}
}

static void
on_drop_tick(struct ctl *c, su_timer_t *t, void *arg)
{
	drop_expire(c, false);
}

/* ---- the nua callback ---- */

static void
reply_out_of_dialog(nua_t *nua, nua_handle_t *nh, nua_event_t event)
{
	if (event == nua_i_options) {
		/* Ours to answer (APPL_METHOD): a scanner gets nothing. */
		nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_END());
		nua_handle_destroy(nh);
		return;
	}
	nua_respond(nh, SIP_405_METHOD_NOT_ALLOWED, NUTAG_WITH_THIS(nua),
	    TAG_END());
	nua_handle_destroy(nh);
}

/* An event that starts a server transaction on a new handle. */
static bool
new_request(nua_event_t e)
{
	return e == nua_i_invite || e == nua_i_options || e == nua_i_refer ||
	    e == nua_i_publish || e == nua_i_info || e == nua_i_update ||
	    e == nua_i_message || e == nua_i_subscribe ||
	    e == nua_i_notify || e == nua_i_method || e == nua_i_register;
}

static void
on_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
    struct ctl *c, nua_handle_t *nh, struct leg *l, sip_t const *sip,
    tagi_t tags[])
{
	int cs = -1, pc;

	c->ev_nua = nua;	/* stack6.c: answers go by the stack asked */
	/* Probes and registrations (health.c, register.c); then the edge
	 * protection on every request outside a dialog (protect.c). */
	if (l == NULL && (health_event(c, event, status, nh) ||
	    register_event(c, event, status, nh, sip)))
		return;
	if (l == NULL && sip != NULL && sip->sip_request != NULL &&
	    new_request(event) &&
	    (pc = protect_check(c, msg_addrinfo(nua_current_request(nua))->
	    ai_addr, sip)) != 0) {
		if (event == nua_i_invite)	/* cdr.c: refused at the door */
			cdr_refusal(c, sip, msg_addrinfo(nua_current_request(
			    nua))->ai_addr, NULL, pc == 1 ? 0 : pc,
			    "protection");
		if (pc == 1) {
			drop_request(c, nh);
		} else {
			nua_respond(nh, pc, sip_status_phrase(pc),
			    NUTAG_WITH_THIS(nua), TAG_END());
			if (event != nua_i_invite)
				nua_handle_destroy(nh);
		}
		return;
	}
	/* unknown_source "drop": silence for every method (issue 12). */
	if (l == NULL && sip != NULL && sip->sip_request != NULL &&
	    new_request(event) &&
	    identify_silent(c, nua_current_request(nua), sip)) {
		c->stats.rejected_unknown++;
		clog_msg(c, LL_DEBUG, "%s %s: no trunk source: dropped",
		    sip->sip_request->rq_method_name, sip->sip_call_id->i_id);
		drop_request(c, nh);
		return;
	}

	/* fork.c: a contact ringing in parallel, until it wins (then B) */
	if (l != NULL && l->side == LEG_FORK &&
	    fork_event(c, event, status, &l, sip, tags))
		return;
	switch (event) {
	case nua_i_invite:
		if (l == NULL)
			new_invite(c, nua, nh, sip);
		else
			reinvite_in(c, nua, l, sip, false);
		return;
	case nua_i_update:
		if (l == NULL)
			reply_out_of_dialog(nua, nh, event);
		else
			reinvite_in(c, nua, l, sip, true);
		return;
	case nua_r_update:
		/* session_timer.c: our own refreshes */
		if (l != NULL && session_timer_response(c, l, event, status,
		    sip))
			return;
		if (l != NULL && l->call->reinv != 0 && l->call->reinv_update &&
		    l == reinv_to(l->call))
			reinvite_response(c, l, status, sip);
		return;
	case nua_r_invite:
		if (l != NULL && session_timer_response(c, l, event, status,
		    sip))
			return;
		if (l != NULL && l->call->reinv != 0 &&
		    !l->call->reinv_update && l == reinv_to(l->call))
			reinvite_response(c, l, status, sip);
		else if (l != NULL && l->side == 1) {
			if (status >= 180 && status < 300)
				reinvite_peer_sdp(l, sip);	/* B's SDP */
			if (status >= 200 && status < 300 && !l->answered)
				session_timer_callee(l, sip);
			b_response(c, l, status, sip);
		}
		return;
	case nua_i_ack:
		if (l != NULL && l->side == 0 && lateoffer_ack(l->call, sip))
			return;	/* the answer to a late offer */
		/* reinvite.c: the answer to our offer in an offerless
		 * re-INVITE's 2xx */
		if (l != NULL && reinvite_ack(c, l, sip))
			return;
		if (l != NULL && l->call->reinv_ack != NULL &&
		    l->call->reinv_ack != l) {
			if (l->call->reinv_ack->nh != NULL)
				nua_ack(l->call->reinv_ack->nh, TAG_END());
			l->call->reinv_ack = NULL;
		} else if (l != NULL && l->side == 0 && l->call->b.nh != NULL &&
		    !l->call->b_acked) {
			l->call->b_acked = true;
			nua_ack(l->call->b.nh, TAG_END());
		}
		return;
	case nua_i_prack:	/* the stack answered it */
		if (l != NULL && l->side == 0) {
			lateoffer_prack(l->call, sip);
			reinvite_a_pracked(l->call);
		}
		return;
	case nua_i_state:
		tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
		if (cs != nua_callstate_terminated)
			return;
		if (l == NULL)
			nua_handle_destroy(nh);	/* an INVITE we refused */
		else
			leg_terminated(c, l);
		return;
	case nua_i_bye:
		/*
		 * Ours to answer (APPL_METHOD): a BYE that is not from the
		 * dialog's peer (indialog.c) is left unanswered while the
		 * call lasts. Any answer, even 481, would end the session
		 * in nua; the stack answers it when the call's handle goes
		 * (487 when the real BYE comes). They hold memory until
		 * then: past CTL_REFUSED_BYE_MAX the call is hung up.
		 */
		if (l != NULL && status < 200) {
			char why[192];
			if (indialog_check(l, nua_current_request(nua), sip,
			    why, sizeof(why)) < 0) {
				clog_msg(c, LL_NOTICE, "call %s: %s: ignored",
				    l->call->call_id, why);
				if (++l->call->refused_bye > CTL_REFUSED_BYE_MAX)
					b2bua_hangup(c, l->call->relay_key,
					    BY_CONTROLLER, "too many BYEs not "
					    "from the peer");
				return;
			}
		}
		/* FALLTHROUGH */
	case nua_i_cancel:
		if (l != NULL)
			call_hungup(l->call, l->side == 0 ? BY_CALLER :
			    BY_CALLEE, event == nua_i_bye ? "bye" : "cancel");
		if (event == nua_i_bye && status < 200)
			nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua),
			    TAG_END());
		return;
	case nua_r_info:
		if (l != NULL)
			info_response(c, l, status, sip);
		return;
	case nua_r_shutdown:
		if (status >= 200 && stack_down(c))	/* stack6.c: both */
			su_root_break(c->root);
		return;
	case nua_i_register:
		if (l == NULL) {	/* registrar.c: local accounts */
			registrar_request(c, nua, nh, sip);
			return;
		}
		/* FALLTHROUGH */
	case nua_i_options:
	case nua_i_subscribe:
	case nua_i_publish:
	case nua_i_message:
	case nua_i_refer:
	case nua_i_notify:
	case nua_i_info:
		if (l == NULL)
			reply_out_of_dialog(nua, nh, event);
		else if (event == nua_i_info)	/* info.c: to the other leg */
			info_in(c, nua, l, sip);
		else if (event != nua_i_options)
			nua_respond(nh, SIP_488_NOT_ACCEPTABLE,
			    NUTAG_WITH_THIS(nua), TAG_END());
		else	/* in-dialog keepalive: ours since APPL_METHOD */
			nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua),
			    TAG_END());
		return;
	default:
		if (status >= 300 && l == NULL && nh != NULL &&
		    event >= nua_r_set_params)
			clog_msg(c, LL_DEBUG, "%s: %d %s", nua_event_name(event),
			    status, phrase);
		return;
	}
}

/* ---- setup ---- */


/* One stack (stack6.c: one per family): its listeners, our behaviour. */
static nua_t *
stack_create(struct ctl *c, const char *url, const char *sips,
    tagi_t *tls)
{
	struct ctl_conf *conf = c->conf;

	return nua_create(c->root, on_event, c,
	    NUTAG_URL(url),
	    TAG_IF(sips[0], NUTAG_SIPS_URL(sips)),
	    TAG_IF(sips[0], TPTAG_CERTIFICATE(conf->tls_cert_dir)),
	    NUTAG_MEDIA_ENABLE(0),
	    NUTAG_AUTOANSWER(0), NUTAG_AUTOALERT(0), NUTAG_AUTOACK(0),
	    NUTAG_SESSION_TIMER(0),
	    /* Sofia still writes Session-Expires into refreshes on our client
	     * legs (session_timer.c): never below our min_se, not its 120 */
	    NUTAG_MIN_SE(conf->min_se > 0 ? (unsigned)conf->min_se : 90),
	    NUTAG_ENABLEINVITE(1),
	    NUTAG_OUTBOUND("no-options-keepalive no-validate no-natify"),
	    NUTAG_AUTO302(0), NUTAG_AUTO305(0),
	    NUTAG_AUTO100(0),
	    NUTAG_APPL_METHOD("UPDATE"),	/* re-offers are relayed */
	    NUTAG_APPL_METHOD("REGISTER"),	/* registrar.c */
	    NUTAG_APPL_METHOD("OPTIONS"),	/* protect.c may drop them */
	    NUTAG_APPL_METHOD("BYE"),		/* indialog.c checks them */
	    NUTAG_APPL_METHOD("INFO"),		/* info.c passes them on */
	    NUTAG_ALLOW("REGISTER"),
	    NUTAG_ALLOW("INFO"),		/* info.c */
	    SIPTAG_SUPPORTED_STR(CTL_SUPPORTED),	/* RFC 3262, per leg: the stack
					 * PRACKs a gateway, and sends the
					 * caller reliable 18x it asks for */
	    SIPTAG_USER_AGENT_STR(conf->user_agent),
	    NTATAG_UDP_MTU(65535),
	    TPTAG_UDP_RMEM(conf->udp_rmem),
	    TAG_NEXT(tls));	/* tls.c: peer verification */
}

int
b2bua_open(struct ctl *c)
{
	struct ctl_conf *conf = c->conf;
	char url[200], sips[200] = "", url6[200] = "", sips6[200] = "";
	tagi_t *tls;
	int rc;

	/* listen.c: with sip.advertise, our Via and Contact name the public
	 * address (1:1 NAT); c->contact is our host in From. */
	listen_urls(conf, url, sizeof(url), sips, sizeof(sips), c->contact,
	    sizeof(c->contact));
	/* stack6.c: the IPv6 listeners are a second stack's */
	(void)listen_url6(conf, url6, sizeof(url6));
	listen_sips6(conf, sips6, sizeof(sips6));
	tls_log_open(c);
	tls = tls_tags(c);
	c->nua = stack_create(c, url, sips, tls);
	if (c->nua == NULL) {
		clog_msg(c, LL_ERROR, "cannot listen on %s%s%s (address in "
		    "use, or not local?)", url, sips[0] ? " / " : "", sips);
		return -EADDRINUSE;
	}
	if (url6[0] != '\0' &&
	    (c->nua6 = stack_create(c, url6, sips6, tls)) == NULL) {
		clog_msg(c, LL_ERROR, "cannot listen on %s%s%s (address in "
		    "use, or not local?)", url6, sips6[0] ? " / " : "", sips6);
		return -EADDRINUSE;
	}
	c->drop_timer = su_timer_create(su_root_task(c->root), 1000);
	su_timer_set_for_ever(c->drop_timer, on_drop_tick, NULL);
	if ((rc = sipfilter_open(c)) < 0) {
		clog_msg(c, LL_ERROR, "SIP filter on %s: %s: refusing to run "
		    "without it", url, strerror(-rc));
		return rc;
	}
	clog_msg(c, LL_INFO, "SIP on %s (UDP and TCP)%s%s", url,
	    sips[0] ? ", TLS on " : "", sips);
	if (c->nua6 != NULL)
		clog_msg(c, LL_INFO, "SIP on %s (UDP and TCP)%s%s", url6,
		    sips6[0] ? ", TLS on " : "", sips6);
	if (conf->tls_listen[0])
		clog_msg(c, conf->tls_verify ? LL_INFO : LL_WARNING, "TLS: servers we call are %s; clients "
		    "%s", conf->tls_verify ? "verified (chain and name)" :
		    "NOT verified (tls_verify: false)",
		    conf->tls_client_required ? "must present a verified "
		    "certificate" : "need no certificate");
	return 0;
}

void
b2bua_close(struct ctl *c)
{
	if (c->drop_timer != NULL)
		su_timer_destroy(c->drop_timer);
	c->drop_timer = NULL;
	drop_expire(c, true);
	sipfilter_close(c);
	listenfilter_close(c);
	if (c->nua6 != NULL)
		nua_destroy(c->nua6);
	c->nua6 = NULL;
	if (c->nua != NULL)
		nua_destroy(c->nua);
	c->nua = c->ev_nua = NULL;
	tls_log_close(c);
	call_end_all(c);	/* calls still here at exit */
}
