/*
 * lateoffer.c: a call whose INVITE has no SDP (a delayed offer, the
 * default of Cisco CUCM trunks, RFC 3261 13.2.1). The gateway gets an
 * INVITE without SDP too and offers in its 2xx. That offer goes through
 * the relay (relay_offer_callee(): the session is made from leg B) and
 * reaches the caller as the offer in our 2xx; the caller answers in its
 * ACK, which goes through the relay (relay_answer_caller()) and reaches
 * the gateway in B's ACK. The nua runs with AUTOACK(0), so B's 2xx waits
 * for that ACK. An ACK without SDP, or an answer we cannot use, ends the
 * call: B is ACKed (without SDP: there is none to give) and both legs
 * get a BYE with a Reason.
 *
 * The gateway may offer earlier, in a reliable 18x (RFC 3262 section
 * 5). Its B handle has PRACK as an application method, so the stack
 * leaves B's PRACKs to us. When the caller takes reliable 18x, the offer
 * goes through the relay to the caller in a reliable 183, the caller's
 * answer comes in its PRACK (which the stack answers), goes through the
 * relay and reaches the gateway in B's PRACK; the 2xx and ACKs then
 * carry no SDP. Any other reliable 18x is PRACKed at once without SDP,
 * and its SDP is not passed on: a caller cannot answer an offer in an
 * unreliable provisional, and the same offer comes again in the 2xx (RFC
 * 6337 section 3.1.1).
 *
 * The contacts of a local account ring in parallel (fork.c) with the
 * same INVITE without SDP; each fork's reliable 18x is PRACKed at once
 * (its offer is not passed on: the caller can only answer one offer,
 * and the fork that made it may lose), the first 2xx goes on here as
 * B's, and a losing 2xx is ACKed with an answer declining its streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

enum {
	LO_CALLING = 1,	/* the gateway has our INVITE without SDP */
	LO_OFFERING,	/* its offer is at the relay */
	LO_WAIT_ACK,	/* the caller has it; its answer comes in the ACK */
	LO_ANSWERING,	/* the caller's answer is at the relay */
	LO_WAIT_PRACK,	/* (offer in a reliable 18x) the caller has it */
	LO_DONE
};

static void on_late_answered(struct ctl *, void *, const struct relay_reply *);

void
lateoffer_start(struct call *k)
{
	struct ctl *c = k->ctl;

	/* The relay is chosen now: without one, the call fails before a
	 * gateway rings for nothing. */
	if ((k->relay = relay_pick(c)) == NULL) {
		clog_msg(c, LL_WARNING, "call %s: no relay answers: 503",
		    k->call_id);
		call_fail(k, 503, "no media relay");
		return;
	}
	clog_msg(c, LL_INFO, "call %s: INVITE without SDP: late offer, the "
	    "gateway offers", k->call_id);
	k->late_offer = true;
	k->late_state = LO_CALLING;
	gateway_start(k);
}

/* The call ends on a late offer that cannot complete. */
static void
late_fail(struct call *k, const char *why)
{
	clog_msg(k->ctl, LL_NOTICE, "call %s: late offer: %s: hanging up",
	    k->call_id, why);
	k->late_state = LO_DONE;
	b2bua_hangup(k->ctl, k->relay_key, BY_CONTROLLER, why);
}

/* The gateway's offer went through the relay: the caller's 2xx. */
static void
on_late_offered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	struct relay *next;
	char err[160], *sdp;

	if (rr->ok)
		k->relay_session = true;
	if (k->a.nh == NULL || k->finished || k->state == CS_ENDING) {
		call_check(k);
		return;
	}
	if (!k->relay_session && !rr->answered && ++k->relay_tries <
	    c->nrelays && (next = relay_pick(c)) != NULL && next != k->relay) {
		clog_msg(c, LL_NOTICE, "call %s: relay %s did not answer; "
		    "trying %s", k->call_id, relay_name(k->relay),
		    relay_name(next));
		k->relay = next;
		relay_offer_retry(k, on_late_offered, k);
		return;
	}
	if (!k->relay_session) {
		clog_msg(c, LL_WARNING, "call %s: relay %s: late offer failed: "
		    "%s", k->call_id, relay_name(k->relay), rr->error);
		b2bua_relay_lost(k, rr->answered ? "media relay failed "
		    "(offer refused)" : "media relay failed (no reply)");
		call_check(k);
		return;
	}
	sdp = sdp_rewrite(k->late_sdp, strlen(k->late_sdp), rr->media,
	    &k->a.sdp, err, sizeof(err));
	if (sdp == NULL) {
		late_fail(k, err);
		call_check(k);
		return;
	}
	if (k->late_early) {
		/* Reliable: the caller said it takes 100rel. */
		k->late_state = LO_WAIT_PRACK;
		nua_respond(k->a.nh, SIP_183_SESSION_PROGRESS,
		    TAG_IF(k->a_contact[0], SIPTAG_CONTACT_STR(k->a_contact)),
		    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	} else {
		k->late_state = LO_WAIT_ACK;
		gateway_connected(k, 200);
		nua_respond(k->a.nh, SIP_200_OK,
		    TAG_IF(k->a_contact[0], SIPTAG_CONTACT_STR(k->a_contact)),
		    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	}
	free(sdp);
	call_check(k);
}

/* B's offer (in its 2xx, or in a reliable 18x) goes to the relay. */
static void
late_offer_to_relay(struct call *k, const sip_t *sip)
{
	char err[160];
	struct media_desc *media;

	media = sdp_to_media(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len, err, sizeof(err));
	if (media == NULL) {
		late_fail(k, err);
		return;
	}
	k->late_sdp = su_strndup(k->home, sip->sip_payload->pl_data,
	    (isize_t)sip->sip_payload->pl_len);
	snprintf(k->to_tag, sizeof(k->to_tag), "%s", sip->sip_to->a_tag ?
	    sip->sip_to->a_tag : "-");
	k->late_state = LO_OFFERING;
	relay_offer_callee(k, media, on_late_offered, k);
}

static bool
has_sdp(const sip_t *sip)
{
	return sip != NULL && sip->sip_payload != NULL &&
	    sip->sip_payload->pl_len > 0;
}

void
lateoffer_b_answer(struct call *k, int status, const sip_t *sip)
{
	(void)status;	/* the caller gets 200 whatever 2xx B sent */
	if (k->late_state == LO_DONE && k->late_early) {
		/* The offer and answer were in the 18x and PRACK: a 2xx
		 * SDP can only repeat it (RFC 3261 13.2.1). */
		if (!k->a.answered) {
			gateway_connected(k, 200);
			nua_respond(k->a.nh, SIP_200_OK, TAG_IF(k->a_contact[0],
			    SIPTAG_CONTACT_STR(k->a_contact)), TAG_END());
		}
		return;
	}
	if (k->late_state != LO_CALLING) {
		if (k->late_state != LO_WAIT_ACK && k->late_state != LO_OFFERING &&
		    k->late_state != LO_ANSWERING)
			late_fail(k, "the gateway answered before its early "
			    "offer was answered");
		return;		/* else a retransmission or a second 2xx */
	}
	if (!has_sdp(sip)) {
		late_fail(k, "the gateway answered a late offer without SDP");
		return;
	}
	late_offer_to_relay(k, sip);
}

void
lateoffer_b_leg(struct leg *l)
{
	/* The handle's own list replaces the stack's: keep those too. */
	nua_set_hparams(l->nh, NUTAG_APPL_METHOD("UPDATE, REGISTER, "
	    "OPTIONS, BYE, PRACK"), TAG_END());
}

/* The PRACK on nh for its reliable 18x (RFC 3262 7.2: RAck), with sdp
 * or not. */
static void
prack(nua_handle_t *nh, uint32_t rseq, uint32_t cseq, const char *sdp)
{
	sip_rack_t rack[1];

	sip_rack_init(rack);
	rack->ra_response = rseq;
	rack->ra_cseq = cseq;
	rack->ra_method = sip_method_invite;
	rack->ra_method_name = "INVITE";
	nua_prack(nh, SIPTAG_RACK(rack),
	    TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
	    TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
}

bool
lateoffer_b_early(struct call *k, int status, const sip_t *sip)
{
	if (sip == NULL || sip->sip_rseq == NULL || sip->sip_cseq == NULL ||
	    !sip_has_feature(sip->sip_require, "100rel"))
		return false;	/* unreliable: passed on without SDP */
	if (has_sdp(sip) && k->late_state == LO_CALLING && k->a_100rel) {
		clog_msg(k->ctl, LL_DEBUG, "call %s: late offer in a reliable "
		    "%d: to the caller in a reliable 183", k->call_id, status);
		k->late_early = true;
		k->late_rseq = sip->sip_rseq->rs_response;
		k->late_cseq = sip->sip_cseq->cs_seq;
		late_offer_to_relay(k, sip);
		return true;
	}
	/* Without an offer for the caller (none in it, one already, or a
	 * caller without 100rel): acknowledged now. */
	prack(k->b.nh, sip->sip_rseq->rs_response, sip->sip_cseq->cs_seq,
	    NULL);
	return false;
}

/*
 * A fork's reliable 18x (fork.c): PRACKed at once without SDP. Several
 * contacts ring at once and only the one that answers first is the
 * caller's peer, so no fork's early offer goes to the caller (it could
 * not take back an answer given to a fork that then loses); the winner
 * offers again in its 2xx (RFC 6337 section 3.1.1), as above.
 */
void
lateoffer_fork_early(struct leg *l, const sip_t *sip)
{
	if (sip == NULL || sip->sip_rseq == NULL || sip->sip_cseq == NULL ||
	    !sip_has_feature(sip->sip_require, "100rel"))
		return;
	prack(l->nh, sip->sip_rseq->rs_response, sip->sip_cseq->cs_seq, NULL);
}

/*
 * A fork's 2xx that lost (fork.c hangs it up next): its ACK. A 2xx to
 * our INVITE without SDP carries the contact's offer, and the ACK must
 * then carry an answer (RFC 3261 13.2.2.4): every stream declined (port
 * 0, no address), so the contact sends no media before our BYE.
 */
void
lateoffer_ack_declined(struct call *k, struct leg *l, const sip_t *sip)
{
	char err[160], *sdp = NULL;
	const char *body;
	size_t len = 0;

	if (has_sdp(sip))
		multipart_sdp(sip, &body, &len);
	if (len > 0 && (sdp = sdp_decline(body, len, err, sizeof(err))) ==
	    NULL)
		clog_msg(k->ctl, LL_NOTICE, "call %s: a late 2xx's offer: %s: "
		    "ACK without an answer", k->call_id, err);
	nua_ack(l->nh, TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
	    TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
	free(sdp);
}

void
lateoffer_prack(struct call *k, const sip_t *sip)
{
	char err[160];
	struct media_desc *media;

	if (!k->late_offer || k->late_state != LO_WAIT_PRACK)
		return;
	if (!has_sdp(sip)) {
		late_fail(k, "no SDP answer in the caller's PRACK");
		return;
	}
	media = sdp_to_media(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len, err, sizeof(err));
	if (media == NULL) {
		late_fail(k, err);
		return;
	}
	k->late_sdp = su_strndup(k->home, sip->sip_payload->pl_data,
	    (isize_t)sip->sip_payload->pl_len);
	k->late_state = LO_ANSWERING;
	relay_answer_caller(k, media, on_late_answered, k);
}

/* The caller's answer went through the relay: B's ACK carries it (or
 * B's PRACK, for an offer in a reliable 18x). */
static void
on_late_answered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	char err[160], *sdp = NULL;

	if (k->finished || k->b.nh == NULL || k->b_acked ||
	    k->state == CS_ENDING || k->late_state != LO_ANSWERING) {
		call_check(k);	/* hung up meanwhile: B was ACKed then */
		return;
	}
	if (!rr->ok) {
		clog_msg(c, LL_WARNING, "call %s: relay %s: late answer "
		    "failed: %s", k->call_id, relay_name(k->relay), rr->error);
		k->late_state = LO_DONE;
		b2bua_relay_lost(k, rr->answered ? "media relay failed "
		    "(answer refused)" : "media relay failed (no reply)");
	} else if ((sdp = sdp_rewrite(k->late_sdp, strlen(k->late_sdp),
	    rr->media, &k->b.sdp, err, sizeof(err))) == NULL) {
		late_fail(k, err);
	} else if (k->late_early) {
		k->late_state = LO_DONE;
		prack(k->b.nh, k->late_rseq, k->late_cseq, sdp);
	} else {
		k->late_state = LO_DONE;
		k->b_acked = true;
		nua_ack(k->b.nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
		    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	}
	free(sdp);
	call_check(k);
}

bool
lateoffer_ack(struct call *k, const sip_t *sip)
{
	char err[160];
	struct media_desc *media;

	if (!k->late_offer || k->late_state != LO_WAIT_ACK)
		return false;
	if (k->b.nh == NULL || k->b_acked)
		return false;
	if (sip == NULL || sip->sip_payload == NULL ||
	    sip->sip_payload->pl_len == 0) {
		late_fail(k, "no SDP answer in the caller's ACK");
		return true;
	}
	media = sdp_to_media(sip->sip_payload->pl_data,
	    sip->sip_payload->pl_len, err, sizeof(err));
	if (media == NULL) {
		late_fail(k, err);
		return true;
	}
	k->late_sdp = su_strndup(k->home, sip->sip_payload->pl_data,
	    (isize_t)sip->sip_payload->pl_len);
	k->late_state = LO_ANSWERING;
	relay_answer_caller(k, media, on_late_answered, k);
	return true;
}
