/*
 * hangup.c: the end of a call. A leg that terminates takes the other one
 * down with it (BYE once answered, CANCEL or an error before); the
 * controller hangs up on request (control socket, max duration, a
 * gateway answer we cannot use) and when a relay reports that it ended
 * the session (media timeout). call.c then finishes the call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>

static const char *
by_name(enum hangup_by b)
{
	static const char *const n[] = { "none", "caller", "callee",
	    "controller", "relay" };
	return n[b];
}

static void
bye_leg(struct leg *l, const char *reason)
{
	if (l->web != NULL)
		webleg_bye(l, reason);
	if (l->nh == NULL)
		return;
	if (l->side == 1 && l->answered && !l->call->b_acked) {
		nua_ack(l->nh, TAG_END());
		l->call->b_acked = true;
	}
	if (l->answered)
		nua_bye(l->nh, TAG_IF(reason, SIPTAG_REASON_STR(reason)),
		    TAG_END());
	else if (l->side == 1)
		nua_cancel(l->nh, TAG_IF(reason, SIPTAG_REASON_STR(reason)),
		    TAG_END());
}

/* One leg is over: take the other one down with it. */
void
leg_terminated(struct ctl *c, struct leg *l)
{
	struct call *k = l->call;
	struct leg *peer = l->side == 0 ? &k->b : &k->a;

	call_hungup(k, l->side == 0 ? BY_CALLER : BY_CALLEE,
	    k->state == CS_CONNECTED ? "bye" : "cancel");
	call_drop_leg(l);
	if (k->state != CS_ENDING) {
		call_ending(k);
		if (peer->side == 0 && !peer->answered)
			call_fail(k, 487, NULL);
		else
			bye_leg(peer, NULL);
		/* A gateway that ignores our CANCEL is dropped after 5 s. */
		if (peer->side == 1 && peer->nh != NULL && !peer->answered)
			su_timer_set_interval(k->invite_timer,
			    on_invite_timeout, k, 5000);
		fork_cancel_all(k, NULL);	/* fork.c: contacts ringing */
	}
	if (l->side == 0)
		call_final(k, 487);
	call_check(k);
}

/* Hang up k: status to a caller not answered yet, else BYE with a Reason
 * (Q.850 cause). */
static int
hangup_call(struct call *k, enum hangup_by by, const char *reason,
    int status, int cause)
{
	struct ctl *c = k->ctl;
	char hdr[200];

	if (k->state == CS_ENDING)
		return -EALREADY;
	call_hungup(k, by, reason);
	snprintf(hdr, sizeof(hdr), "Q.850;cause=%d;text=\"%s\"", cause,
	    reason);
	clog_msg(c, LL_INFO, "call %s: hangup by %s: %s", k->call_id,
	    by_name(by), reason);
	/* A re-offer in progress gets its answer now: the call is over. */
	if (k->reinv != 0)
		reinvite_abort(k, status);
	if (!k->a.answered) {
		call_fail(k, status, reason);
	} else {
		call_ending(k);
		bye_leg(&k->a, hdr);
	}
	bye_leg(&k->b, hdr);
	fork_cancel_all(k, hdr);	/* fork.c: contacts ringing */
	if (k->b.nh != NULL && !k->b.answered && k->state == CS_ENDING)
		su_timer_set_interval(k->invite_timer, on_invite_timeout, k,
		    2000);	/* a gateway that ignores CANCEL */
	return 0;
}

int
b2bua_hangup(struct ctl *c, const char *call_id, enum hangup_by by,
    const char *reason)
{
	struct call *k;

	/* Our relay key names one call; a caller's Call-ID may name two. */
	for (k = c->calls; k != NULL; k = k->next)
		if ((strcmp(k->relay_key, call_id) == 0 ||
		    strcmp(k->call_id, call_id) == 0) && !k->finished)
			break;
	if (k == NULL)
		return -ENOENT;
	hangup_call(k, by, reason, 480, 16);
	return 0;
}

/* 503 before the answer (the caller may try elsewhere), cause 41
 * (temporary failure) after it. */
int
b2bua_relay_lost(struct call *k, const char *reason)
{
	if (k->finished)
		return -EALREADY;
	return hangup_call(k, BY_RELAY, reason, 503, 41);
}

void
b2bua_relay_timeout(struct ctl *c, const char *key, const char *why,
    const struct media_stats *ms)
{
	char reason[96];
	struct call *k;

	for (k = c->calls; k != NULL; k = k->next)
		if (strcmp(k->relay_key, key) == 0 && !k->finished)
			break;
	if (k == NULL)
		return;
	/* The relay has ended the session: no delete, its stats are here. */
	k->relay_session = false;
	k->ms = *ms;
	k->ms_set = true;
	snprintf(reason, sizeof(reason), "media timeout (%s)", why);
	b2bua_hangup(c, key, BY_RELAY, reason);
}
