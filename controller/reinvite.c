/*
 * reinvite.c: a new offer inside a connected call (re-INVITE or UPDATE,
 * from either side), or an UPDATE in the early dialog (RFC 3311). The
 * offer goes through the relay before the other side sees it, and the
 * answer goes through the relay before the side
 * that re-offered hears it, so the relay follows every media change.
 * One re-offer at a time (another one gets 491); an UPDATE is answered
 * through its saved event, a re-INVITE's 2xx is ACKed when the re-offerer
 * ACKs (b2bua.c).
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

/* ---- re-INVITE: a new offer from either side goes through the relay ---- */

/* The caller's media is the relay's offer side, the callee's its
 * answer side, whichever of them re-offers or answers. */
static void
relay_media(struct leg *l, struct media_desc *media, relay_cb *cb)
{
	if (l->side == 0)
		relay_offer(l->call, media, cb, l->call);
	else
		relay_answer(l->call, media, cb, l->call);
}

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

	if (from->nh != NULL)
		nua_respond(from->nh, status, sip_status_phrase(status),
		    TAG_IF(k->reinv_update, NUTAG_WITH_SAVED(k->reinv_saved)),
		    TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
		    TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
	if (k->reinv_update)
		nua_destroy_event(k->reinv_saved);
	k->reinv_update = false;
	k->reinv = 0;
}

static void
reinv_fail(struct call *k, int status)
{
	reinv_respond(k, status, NULL);
}

void
reinvite_abort(struct call *k, int status)
{
	if (k->reinv == 0)
		return;
	/* The other side's 2xx would wait for an ACK that never comes:
	 * the re-offerer gets an error, not that 2xx. */
	if (k->reinv_ack != NULL && k->reinv_ack->nh != NULL)
		nua_ack(k->reinv_ack->nh, TAG_END());
	k->reinv_ack = NULL;
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
	if (k->reinv_update)
		nua_update(to->nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	else
		nua_invite(to->nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	free(sdp);
}

void
reinvite_in(struct ctl *c, nua_t *nua, struct leg *l, const sip_t *sip,
    bool update)
{
	struct call *k = l->call;
	char err[160];
	struct media_desc *media;

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
		nua_respond(l->nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	/* A browser leg (webcall.c) takes no re-offer yet. */
	if (!can_reoffer(k, update) || k->reinv != 0 || k->a.web != NULL ||
	    k->b.web != NULL) {
		int st = k->reinv ? 491 : 488;
		nua_respond(l->nh, st, sip_status_phrase(st),
		    NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	if (sip->sip_payload == NULL || sip->sip_payload->pl_len == 0 ||
	    (media = sdp_to_media(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len, err, sizeof(err))) == NULL) {
		/* A re-INVITE without an offer is not relayed (yet). */
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
	relay_media(l, media, on_reinv_offered);
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
	if (sdp == NULL) {
		reinv_fail(k, !rr->answered ? 503 : 500);
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
		reinv_fail(k, status);
		return;
	}
	if (!k->reinv_update)
		k->reinv_ack = l;	/* ACKed when the re-offerer ACKs */
	if (sip->sip_payload == NULL || (media = sdp_to_media(
	    sip->sip_payload->pl_data, sip->sip_payload->pl_len, err,
	    sizeof(err))) == NULL) {
		reinv_fail(k, 500);
		return;
	}
	free(k->reinv_sdp);
	k->reinv_sdp = strndup(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len);
	relay_media(l, media, on_reinv_answered);
}
