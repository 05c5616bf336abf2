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
 * Before the answer, a gateway's 18x SDP is not passed on (gateway.c):
 * a caller cannot answer an offer in an unreliable provisional, and the
 * same offer comes again in the 2xx (RFC 6337 section 3.1.1).
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
	LO_DONE
};

void
lateoffer_start(struct call *k)
{
	struct ctl *c = k->ctl;

	/* The relay is chosen now: without one, the call fails before a
	 * gateway rings for nothing. */
	if ((k->relay = relay_pick(c)) == NULL) {
		clog_msg(c, LL_WARNING, "call %s: no relay answers: 503",
		    k->call_id);
		fail_a(k, 503, "no media relay");
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
	k->late_state = LO_WAIT_ACK;
	gateway_connected(k, 200);
	nua_respond(k->a.nh, SIP_200_OK,
	    SIPTAG_CONTENT_TYPE_STR("application/sdp"),
	    SIPTAG_PAYLOAD_STR(sdp), TAG_END());
	free(sdp);
	call_check(k);
}

void
lateoffer_b_offer(struct call *k, int status, const sip_t *sip)
{
	char err[160];
	json_t *media;

	(void)status;	/* the caller gets 200 whatever 2xx B sent */
	if (k->late_state != LO_CALLING)
		return;		/* a retransmission or a second 2xx */
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

/* The caller's answer went through the relay: B's ACK carries it. */
static void
on_late_answered(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;
	char err[160], *sdp = NULL;

	if (k->finished || k->b.nh == NULL || k->b_acked ||
	    k->state == CS_ENDING) {
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
	json_t *media;

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
