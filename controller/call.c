/*
 * call.c: the call object. A call is created by invite.c once the caller
 * is admitted and holds two legs: A faces the caller, B the current
 * gateway (a failover destroys B and makes a new one).
 *
 * Lifetime: a call lives while either handle lives or a relay request is
 * in flight. When both handles are gone and nothing is in flight, the
 * call is finished: the relay session is deleted (its statistics go to
 * the CDR), the CDR line is written, the call is freed. call_check() is
 * the one place that decides it, so every other file only drops its
 * handle or its request and calls it.
 *
 * This file also owns the call's outcome: the states that end a call
 * (connected, ending, done), who hung up and why (call_hungup(), first
 * one wins), the final code (call_fail(), call_final()), and the one
 * place a CDR is written (call_done(), from call_check() and, at exit,
 * call_end_all()). The rules are in controller.h above struct call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

static const char *
state_name(enum call_state s)
{
	static const char *const n[] = { "init", "offering", "calling",
	    "early", "connected", "ending", "done" };
	return n[s];
}

/* ---- call bookkeeping ---- */

/* A call whose caller is not a SIP handle (webcall.c: a browser). */
struct call *
call_alloc(struct ctl *c, const char *call_id, const char *from_tag)
{
	struct call *k = su_home_new(sizeof(*k));

	if (k == NULL)
		return NULL;
	k->ctl = c;
	k->conf = config_ref(c->conf);
	k->a = (struct leg){ k, NULL, 0, { 0, 0, 0, NULL }, false, NULL };
	k->b = (struct leg){ k, NULL, 1, { 0, 0, 0, NULL }, false, NULL };
	k->setup_t = wall_now();
	k->attempts = json_array();
	snprintf(k->call_id, sizeof(k->call_id), "%s", call_id);
	snprintf(k->from_tag, sizeof(k->from_tag), "%s", from_tag);
	relay_key_new(c, k);
	k->invite_timer = su_timer_create(su_root_task(c->root), 1000);
	k->duration_timer = su_timer_create(su_root_task(c->root), 1000);
	k->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = k;
	c->calls = k;
	c->ncalls++;
	c->stats.calls_total++;
	return k;
}

struct call *
call_new(struct ctl *c, nua_handle_t *nh, const sip_t *sip)
{
	struct call *k = call_alloc(c, sip->sip_call_id->i_id,
	    sip->sip_from->a_tag ? sip->sip_from->a_tag : "");

	if (k == NULL)
		return NULL;
	k->a_cseq = sip->sip_cseq->cs_seq;
	k->a.nh = nh;
	nua_handle_bind(nh, &k->a);
	return k;
}

void
call_free(struct call *k)
{
	struct ctl *c = k->ctl;

	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		c->calls = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	c->ncalls--;
	su_timer_destroy(k->invite_timer);
	su_timer_destroy(k->duration_timer);
	divert_cancel(k);
	fork_free(k);
	json_decref(k->attempts);
	free(k->offer);
	free(k->b_offer);
	free(k->b_early);
	free(k->reinv_sdp);
	if (k->reinv_update)
		nua_destroy_event(k->reinv_saved);
	json_decref(k->offer_req);
	reinvite_free(k);
	session_timer_free(k);
	info_free(k);
	multipart_free(k->mp);
	free(k->b_body);
	config_unref(k->conf);
	su_home_unref(k->home);
}

static void
on_deleted(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct call *k = arg;

	if (rr->ok && rr->has_stats) {
		k->ms = rr->ms;
		k->ms_set = true;
	} else if (!rr->answered) {
		clog_msg(c, LL_WARNING, "call %s: relay delete failed; no "
		    "media statistics in the CDR", k->call_id);
	}
	k->relay_session = false;
	call_check(k);
}

static void
call_finish(struct call *k)
{
	struct ctl *c = k->ctl;

	k->finished = true;
	k->state = CS_DONE;
	k->end_t = wall_now();
	su_timer_reset(k->invite_timer);
	su_timer_reset(k->duration_timer);
	if (k->limit_held)
		limits_release(c, k->trunk->name);
	k->limit_held = false;
	if (k->connect_t > 0)
		c->stats.calls_connected++;
	else
		c->stats.calls_failed++;
	/* Its callback comes from the loop, never from here. */
	if (k->relay_session && k->relay != NULL)
		relay_delete(k, on_deleted, k);
}

/* The only writer of CDRs: the call's line, then the call is gone. */
static void
call_done(struct call *k)
{
	cdr_write(k->ctl, k);
	call_free(k);
}

/*
 * The one place a call ends: when both handles are gone and no relay
 * request is in flight, finish it; once the relay's delete is back,
 * write the CDR and free it. k must not be used after this.
 */
void
call_check(struct call *k)
{
	if (leg_live(&k->a) || leg_live(&k->b) || fork_live(k) ||
	    k->pending > 0)
		return;
	if (!k->finished) {
		call_finish(k);
		if (k->pending > 0)
			return;
	}
	call_done(k);
}

/*
 * The only writer of hangup_by and reason: each is kept once set (by
 * NONE: the reason of a call that failed without anyone hanging up).
 */
static void
note_end(struct call *k, enum hangup_by by, const char *reason)
{
	if (k->hangup_by == BY_NONE)
		k->hangup_by = by;
	if (reason != NULL && k->reason[0] == '\0')
		snprintf(k->reason, sizeof(k->reason), "%s", reason);
}

/*
 * Exit (the nua is gone, the relays closed): the calls still here are
 * ended by the controller; their CDR says so, then they go.
 */
void
call_end_all(struct ctl *c)
{
	while (c->calls != NULL) {
		struct call *k = c->calls;
		if (!k->finished) {
			k->finished = true;
			k->state = CS_DONE;
			k->end_t = wall_now();
			note_end(k, BY_CONTROLLER, "shutdown");
			if (k->limit_held)
				limits_release(c, k->trunk->name);
			k->limit_held = false;
		}
		call_done(k);
	}
}

/*
 * Who ended the call and why: the first to say so while the call was
 * still up wins (later hangups are consequences of it).
 */
void
call_hungup(struct call *k, enum hangup_by by, const char *reason)
{
	if (k->hangup_by != BY_NONE || k->state == CS_ENDING)
		return;
	note_end(k, by, reason);
}

/* The call is being torn down: no new attempt, no new answer. */
void
call_ending(struct call *k)
{
	k->state = CS_ENDING;
}

/* The final code the CDR reports, if none was set before. */
void
call_final(struct call *k, int status)
{
	if (k->final_code == 0)
		k->final_code = status;
}

/* B's final answer reached the caller: the call is up. */
void
call_connected(struct call *k, int status)
{
	k->a.answered = true;
	k->state = CS_CONNECTED;
	k->connect_t = wall_now();
	k->final_code = status;
}

void
call_drop_leg(struct leg *l)
{
	if (l->web != NULL)
		webleg_destroy(l);
	if (l->nh == NULL)
		return;
	nua_handle_bind(l->nh, NULL);
	nua_handle_destroy(l->nh);
	l->nh = NULL;
}

/* Answer the caller's INVITE with an error (only before it was answered). */
void
call_fail(struct call *k, int status, const char *reason)
{
	call_final(k, status);
	note_end(k, BY_NONE, reason);
	call_ending(k);
	if (k->a.web != NULL && !k->a.answered) {
		k->a.answered = true;
		webleg_respond(&k->a, status, reason);
	} else if (k->a.nh != NULL && !k->a.answered) {
		k->a.answered = true;	/* no second final response */
		nua_respond(k->a.nh, status, sip_status_phrase(status),
		    TAG_IF(status == 503, SIPTAG_RETRY_AFTER_STR("5")),
		    TAG_END());
	}
}

void
call_attempt_code_at(struct call *k, size_t i, int code)
{
	json_t *a = json_array_get(k->attempts, i);

	if (a != NULL)
		json_object_set_new(a, "code", json_integer(code));
	if (a != NULL)
		tls_attempt_note(k, a, code);	/* tls.c: a TLS failure? */
}

void
call_attempt_code(struct call *k, int code)
{
	call_attempt_code_at(k, k->att_entry > 0 ? (size_t)k->att_entry - 1 :
	    json_array_size(k->attempts) - 1, code);
}

json_t *
calls_to_json(struct ctl *c)
{
	json_t *arr = json_array();
	double now = wall_now();

	for (struct call *k = c->calls; k != NULL; k = k->next) {
		const struct gateway *gw = k->ncand > 0 && k->attempt < k->ncand ?
		    k->cand[k->attempt].gw : NULL;
		json_array_append_new(arr, json_pack(
		    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f}",
		    "call_id", k->call_id, "relay_session", k->relay_key,
		    "trunk", k->trunk ? k->trunk->name : "",
		    "state", state_name(k->state),
		    "calling", k->calling, "called", k->called,
		    "gateway", gw ? gw->name : "",
		    "relay", k->relay ? relay_name(k->relay) : "",
		    "age", now - k->setup_t,
		    "duration", k->connect_t > 0 ? now - k->connect_t : 0.0));
	}
	return arr;
}
