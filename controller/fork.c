/*
 * fork.c: parallel forking (issue 15). A call to a local account rings
 * every registered SIP contact of the account at once (the default; an
 * account or the top level may say "forking": "sequential", and then
 * gateway.c tries them one after another as before). A late offer (an
 * INVITE without SDP, lateoffer.c) forks too: each contact gets an
 * INVITE without SDP and offers in its 2xx; the winner's offer goes
 * through lateoffer.c like one gateway's, a loser's 2xx is ACKed with
 * an answer declining its streams, and no fork's 18x SDP is passed on
 * (there is no relay session before the winner's offer). A logged-in
 * browser of the account (webcall.c) rings along with the contacts: it
 * stays in k->b (webcall_ring() starts the set after it, on its clock),
 * the relay's B leg is WebRTC while they ring (the browser's offer) and
 * the contacts' offer names the same B port as plain RTP
 * (k->fork_offer); a contact's answer turns the leg plain (relayd keeps
 * the ports), so no contact's early media is passed on while the
 * browser rings (it would void the browser's ICE credentials). The
 * browser answering cancels the contacts (fork_web_answered()); a
 * contact winning ends the browser (webcall_fork_lost()); the browser
 * declining or going away leaves the contacts ringing
 * (fork_web_failed()). A late offer still skips the browser.
 *
 * Each contact gets its own leg (side LEG_FORK, its own nua handle and
 * CDR attempt entry); the set shares the call's B offer and attempt.c's
 * clock (invite_timeout until the first 18x of any fork, then
 * ring_timeout for the whole set). Outcomes:
 *
 *   first 2xx    wins: promoted into k->b and handled as B's 2xx by
 *                gateway.c; every other fork gets CANCEL with
 *                Reason: SIP;cause=200;text="Call completed elsewhere"
 *   later 2xx    (after the winner, or after our CANCEL) ACK, then BYE
 *   3xx-5xx      ends that fork only; when every fork has failed the
 *                caller gets the best final answer (best_code())
 *   6xx          the caller gets it at once, the others are cancelled
 *   timeouts     no 18x from any fork: 408; ringing past ring_timeout:
 *                480, all cancelled; no-answer/busy diversion applies
 *                to the set's outcome, not to one fork's
 *   caller gone  (CANCEL, relay lost, control hangup) all cancelled
 *
 * Early media: the relay takes a new To tag as a new B side while the
 * call rings (PROTOCOL.md, answer), so the caller hears one fork at a
 * time: the one whose 18x with SDP came last. A 18x without SDP is
 * passed on only while no fork's early media is heard (a 180 after a
 * 183 could switch the caller to local ringback). When the winner is
 * not the fork heard, its answer makes it the relay's B side.
 *
 * Lifetime: a fork's handle lives until its final answer (a 487 after
 * our CANCEL) or, after a late 2xx, until its BYE is done; a fork that
 * never answers the CANCEL or BYE is dropped by the guard timer.
 * call_check() waits for every fork (fork_live()); the forks themselves
 * are freed with the call (fork_free()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#define FORK_GUARD_MS		5000
#define REASON_ELSEWHERE	"SIP;cause=200;text=\"Call completed elsewhere\""

struct fork {
	struct leg	 leg;		/* first: a handle's magic is &leg */
	int		 cand;		/* its candidate in k->cand */
	size_t		 entry;		/* its entry in k->attempts */
	int		 gen;		/* the set it rang in */
	int		 code;		/* its final answer; 0 none yet */
	bool		 lost;		/* cancelled (or late): never wins */
	double		 lost_at;	/* since when (monotonic): the guard */
	char		*early;		/* its last 18x SDP */
	struct fork	*next;
};

struct forkset {
	struct fork	*forks;		/* every fork of the call */
	int		 gen;		/* the set ringing now */
	int		 n;		/* how many of it rang */
	int		 best;		/* its best final answer so far */
	struct fork	*early;		/* whose early media the caller hears */
	struct fork	*winner;
	su_timer_t	*guard;
};

int
fork_parse(struct proto_cfg *c, json_t *o, const char *path, int *mode)
{
	char v[16] = "", p[PROTO_CFG_PATH];

	if (proto_cfg_string(c, o, path, "forking", v, sizeof(v), false) < 0)
		return -1;
	if (v[0] == '\0')
		return 0;
	if (strcmp(v, "parallel") == 0)
		*mode = FORK_PARALLEL;
	else if (strcmp(v, "sequential") == 0)
		*mode = FORK_SEQUENTIAL;
	else {
		proto_cfg_join(p, sizeof(p), path, "forking");
		return proto_cfg_fail(c, p, "'%s' is not parallel (all "
		    "contacts at once) or sequential (one after another)", v);
	}
	return 0;
}

static bool
is_contact(const struct call *k, int i)
{
	return !candidate_is_web(&k->cand[i]) &&
	    strncmp(k->cand[i].gw->name, "account:", 8) == 0;
}

static int
fork_mode(const struct call *k)
{
	const struct account *a = k->callee;

	return a != NULL && a->forking != FORK_DEFAULT ? a->forking :
	    k->conf->forking;
}

/* How many SIP contacts follow from candidate i on. */
static int
contacts_from(const struct call *k, int i)
{
	int n = 0;

	while (i + n < k->ncand && is_contact(k, i + n))
		n++;
	return n;
}

bool
fork_wanted(const struct call *k)
{
	if (fork_mode(k) == FORK_SEQUENTIAL ||
	    (k->b_offer == NULL && !k->late_offer))
		return false;
	return contacts_from(k, k->attempt) >= 2;
}

bool
fork_with_web(const struct call *k)
{
	return fork_mode(k) != FORK_SEQUENTIAL && !k->late_offer &&
	    k->b_offer != NULL && k->attempt < k->ncand &&
	    candidate_is_web(&k->cand[k->attempt]) &&
	    contacts_from(k, k->attempt + 1) >= 1;
}

static struct fork *
leg_fork(struct leg *l)
{
	return (struct fork *)(void *)l;	/* leg is the first member */
}

/* A fork of the set ringing now that may still answer. */
static bool
set_live(const struct forkset *fs)
{
	for (const struct fork *f = fs->forks; f != NULL; f = f->next)
		if (f->gen == fs->gen && !f->lost && f->leg.nh != NULL)
			return true;
	return false;
}

bool
fork_live(const struct call *k)
{
	for (const struct fork *f = k->fork ? k->fork->forks : NULL;
	    f != NULL; f = f->next)
		if (f->leg.nh != NULL)
			return true;
	return false;
}

static void	 on_guard(struct ctl *, su_timer_t *, void *);

/* f can no longer win; the guard lets it go if it never finishes. */
static void
fork_lost(struct call *k, struct fork *f)
{
	if (f->lost)
		return;
	f->lost = true;
	f->lost_at = mono_now();
	if (f->leg.nh != NULL && !su_timer_is_set(k->fork->guard))
		su_timer_set_interval(k->fork->guard, on_guard, k,
		    FORK_GUARD_MS);
}

/* The forks cancelled or hung up FORK_GUARD_MS ago that never finished
 * are dropped; the guard runs again for the younger ones. */
static void
on_guard(struct ctl *c, su_timer_t *t, void *arg)
{
	struct call *k = arg;
	double now = mono_now(), next = 0;

	for (struct fork *f = k->fork->forks; f != NULL; f = f->next) {
		if (!f->lost || f->leg.nh == NULL)
			continue;
		if (now - f->lost_at < FORK_GUARD_MS / 1000.0 - 0.05) {
			if (next == 0 || f->lost_at < next)
				next = f->lost_at;
			continue;
		}
		clog_msg(c, LL_INFO, "call %s: contact %d: no final answer "
		    "to our %s in time: dropped", k->call_id, f->cand + 1,
		    f->leg.answered ? "BYE" : "CANCEL");
		if (f->code == 0)
			call_attempt_code_at(k, f->entry, 487);
		call_drop_leg(&f->leg);
	}
	if (next > 0)
		su_timer_set_interval(k->fork->guard, on_guard, k,
		    (su_duration_t)((next - now) * 1000) + FORK_GUARD_MS + 1);
	call_check(k);
}

/* CANCEL the forks still ringing but `except`; from now on none of
 * them can win. Returns how many were cancelled. */
static int
cancel_forks(struct call *k, const struct fork *except, const char *reason)
{
	struct forkset *fs = k->fork;
	int n = 0;

	for (struct fork *f = fs->forks; f != NULL; f = f->next) {
		if (f == except || f->leg.nh == NULL)
			continue;
		if (!f->lost && !f->leg.answered) {
			nua_cancel(f->leg.nh, TAG_IF(reason,
			    SIPTAG_REASON_STR(reason)), TAG_END());
			n++;
		}
		fork_lost(k, f);
	}
	return n;
}

void
fork_cancel_all(struct call *k, const char *reason)
{
	if (k->fork != NULL)
		cancel_forks(k, NULL, reason);
}

/*
 * Which final answer wins when every fork failed (RFC 3261 16.7, item
 * 6; a 6xx never gets here, it ends the set at once): the lowest class,
 * a 3xx counting as 480 (redirects are not followed) and a challenge
 * (401/407: the contact's, which the caller cannot answer) as 480 too;
 * within 4xx those that tell the caller how to retry (484, 415, 420)
 * first, then 486 (busy: also what diversion on busy looks for), then
 * the lowest code.
 */
static int
rank(int code)
{
	int pref = code == 484 || code == 415 || code == 420 ? 0 :
	    code == 486 ? 1 : 2;

	return (code / 100) * 10000 + pref * 1000 + code % 1000;
}

static int
best_code(int best, int code)
{
	if (code < 400 || code == 401 || code == 407)
		code = 480;
	return best == 0 || rank(code) < rank(best) ? code : best;
}

/* Every fork of the set failed: the caller gets the best answer (503
 * as 500: the contact is overloaded, not we, RFC 3261 16.7), unless
 * the account diverts on it. */
static void
set_failed(struct call *k)
{
	struct forkset *fs = k->fork;
	int code = fs->best != 0 ? fs->best : 480;

	if (code == 503)
		code = 500;
	clog_msg(k->ctl, LL_INFO, "call %s: all %d contacts failed: %d to "
	    "the caller", k->call_id, fs->n, code);
	if (divert_on_status(k, code))	/* divert.c: busy, no answer */
		return;
	call_fail(k, code, "every contact failed");
	call_check(k);
}

void
fork_start(struct call *k)
{
	struct forkset *fs = k->fork;
	struct fork *f;
	bool web = k->b.web != NULL;	/* a browser rings along */
	int rc;

	if (fs == NULL && (fs = calloc(1, sizeof(*fs))) != NULL &&
	    (fs->guard = su_timer_create(su_root_task(k->ctl->root),
	    1000)) == NULL) {
		free(fs);
		fs = NULL;
	}
	if (fs == NULL) {
		call_fail(k, 500, "out of memory");
		call_check(k);
		return;
	}
	k->fork = fs;
	fs->gen++;
	fs->n = fs->best = 0;
	fs->early = fs->winner = NULL;
	if (!web) {
		k->b = (struct leg){ k, NULL, 1, k->b.sdp, false, NULL };
		free(k->b_early);
		k->b_early = NULL;
		k->b_acked = k->auth_tried = false;
		k->att_entry = 0;
		k->state = CS_CALLING;
	}
	for (int i = k->attempt + (web ? 1 : 0); i < k->ncand &&
	    is_contact(k, i); i++) {
		if ((f = calloc(1, sizeof(*f))) == NULL)
			break;
		f->leg = (struct leg){ k, NULL, LEG_FORK, { 0, 0, 0, NULL },
		    false, NULL };
		f->cand = i;
		f->gen = fs->gen;
		f->next = fs->forks;
		fs->forks = f;
		if ((rc = gateway_invite(k, &f->leg, i, &f->entry)) < 0) {
			clog_msg(k->ctl, LL_WARNING, "call %s: contact %d: "
			    "cannot ring it: %s", k->call_id, i + 1,
			    strerror(-rc));
			f->lost = true;
			f->code = rc == -ENOSPC ? 484 : 500;
			if (rc != -ENOSPC)
				call_attempt_code_at(k, f->entry, f->code);
			fs->best = best_code(fs->best, f->code);
			continue;
		}
		fs->n++;
	}
	if (web) {	/* the browser's clock (webcall_ring()) runs on */
		clog_msg(k->ctl, LL_INFO, "call %s: %d contacts ring along with "
		    "the browser", k->call_id, fs->n);
		return;
	}
	if (fs->n == 0) {
		call_fail(k, 500, "cannot ring the contacts");
		call_check(k);
		return;
	}
	clog_msg(k->ctl, LL_INFO, "call %s: %d contacts ring in parallel",
	    k->call_id, fs->n);
	attempt_start(k);	/* attempt.c: one clock for the set */
	tls_attempt_start(k);
}

/* A 18x from a fork of the set while the call rings. */
static void
fork_early(struct call *k, struct fork *f, int status, const sip_t *sip)
{
	struct forkset *fs = k->fork;
	const char *body;
	size_t len = 0;
	char *copy;

	attempt_progress(k, status);	/* the first 18x: ring time */
	k->state = CS_EARLY;
	if (k->late_offer)	/* no session yet: its SDP waits for a 2xx */
		lateoffer_fork_early(&f->leg, sip);
	else if (k->b.web != NULL)
		;	/* plain early media would void the browser's WebRTC leg */
	else if (sip->sip_payload != NULL && sip->sip_payload->pl_len > 0)
		multipart_sdp(sip, &body, &len);
	if (len > 0 && (copy = strndup(body, len)) != NULL) {
		free(f->early);
		f->early = copy;
		if (fs->early != f)
			clog_msg(k->ctl, LL_INFO, "call %s: the caller hears "
			    "contact %d's early media", k->call_id,
			    f->cand + 1);
		fs->early = f;
		reinvite_peer_sdp(&k->b, sip);	/* B's SDP, for now */
		gateway_answer_sdp(k, status, sip);	/* the relay's new B */
		return;
	}
	if (fs->early != NULL)
		return;	/* keep the early media the caller hears */
	if (k->a.web != NULL)
		webleg_respond(&k->a, status, NULL);
	else
		nua_respond(k->a.nh, status, sip_status_phrase(status),
		    TAG_END());
}

/* The first 2xx: f becomes B; the others are cancelled. */
static void
fork_win(struct call *k, struct fork *f)
{
	struct forkset *fs = k->fork;

	fs->winner = f;
	clog_msg(k->ctl, LL_INFO, "call %s: contact %d answered; %d other "
	    "contacts cancelled", k->call_id, f->cand + 1,
	    cancel_forks(k, f, REASON_ELSEWHERE));
	if (k->b.web != NULL)	/* its answer makes the relay's B leg plain */
		webcall_fork_lost(k);
	k->attempt = f->cand;
	k->att_entry = (int)f->entry + 1;
	k->b.nh = f->leg.nh;
	k->b.answered = false;
	nua_handle_bind(k->b.nh, &k->b);
	f->leg.nh = NULL;
	free(k->b_early);	/* its own early answer stands for its 2xx */
	k->b_early = f->early;
	f->early = NULL;
}

/* A 2xx that lost (another fork won, or we cancelled it): ACK, BYE. */
static void
fork_late(struct call *k, struct fork *f, int status, const sip_t *sip)
{
	clog_msg(k->ctl, LL_INFO, "call %s: contact %d answered %d too late: "
	    "ACK and BYE", k->call_id, f->cand + 1, status);
	f->code = status;
	call_attempt_code_at(k, f->entry, status);
	if (k->late_offer)	/* its 2xx offered: the ACK answers */
		lateoffer_ack_declined(k, &f->leg, sip);
	else
		nua_ack(f->leg.nh, TAG_END());
	nua_bye(f->leg.nh, SIPTAG_REASON_STR(REASON_ELSEWHERE), TAG_END());
	f->leg.answered = true;
	f->lost = false;	/* its BYE gets the guard's full time */
	fork_lost(k, f);
}

/* A fork's final failure (3xx-6xx, or its handle ended without one). */
static void
fork_final(struct call *k, struct fork *f, int status)
{
	struct forkset *fs = k->fork;
	bool counts = !f->lost && f->gen == fs->gen && fs->winner == NULL &&
	    leg_live(&k->a) && k->state != CS_ENDING;
	char reason[96];

	if (status >= 700)	/* the stack's own (9xx): not the contact's */
		status = 500;
	f->code = status;
	call_attempt_code_at(k, f->entry, status);
	call_drop_leg(&f->leg);
	if (fs->early == f)
		fs->early = NULL;
	clog_msg(k->ctl, LL_INFO, "call %s: contact %d: %d", k->call_id,
	    f->cand + 1, status);
	if (!counts) {
		call_check(k);
		return;
	}
	if (status >= 600) {	/* global: the others would not do better */
		if (divert_on_status(k, status))
			return;
		snprintf(reason, sizeof(reason), "SIP;cause=%d;text=\"%s\"",
		    status, sip_status_phrase(status) ?
		    sip_status_phrase(status) : "Global failure");
		cancel_forks(k, NULL, reason);
		call_fail(k, status, "global failure from a contact");
		call_check(k);
		return;
	}
	fs->best = best_code(fs->best, status);
	if (!set_live(fs) && k->b.web == NULL)	/* else the browser rings on */
		set_failed(k);
}

void
fork_web_answered(struct call *k)
{
	if (k->fork != NULL)
		clog_msg(k->ctl, LL_INFO, "call %s: the browser answered; %d "
		    "contacts cancelled", k->call_id,
		    cancel_forks(k, NULL, REASON_ELSEWHERE));
}

bool
fork_web_failed(struct call *k, int code)
{
	struct forkset *fs = k->fork;

	if (fs == NULL || fs->winner != NULL || k->b.web == NULL)
		return false;
	clog_msg(k->ctl, LL_INFO, "call %s: the browser: %d; the contacts "
	    "ring on", k->call_id, code);
	call_attempt_code(k, code);	/* the browser's entry (att_entry) */
	call_drop_leg(&k->b);
	k->att_entry = 0;
	k->b_acked = false;	/* a contact's 2xx waits for the caller's ACK */
	fs->best = best_code(fs->best, code);
	if (!set_live(fs))
		set_failed(k);
	return true;
}

bool
fork_event(struct ctl *c, nua_event_t event, int status, struct leg **lp,
    const sip_t *sip, tagi_t tags[])
{
	struct fork *f = leg_fork(*lp);
	struct call *k = f->leg.call;
	bool up = !f->lost && f->gen == k->fork->gen &&
	    k->fork->winner == NULL && leg_live(&k->a) &&
	    k->state != CS_ENDING;
	int cs = -1;

	switch (event) {
	case nua_r_invite:
		if (status < 200) {
			if (status > 100 && up && sip != NULL)
				fork_early(k, f, status, sip);
			return true;
		}
		if (status >= 300) {
			fork_final(k, f, status);
			return true;
		}
		if (!up || sip == NULL) {
			fork_late(k, f, status, sip);
			return true;
		}
		fork_win(k, f);
		*lp = &k->b;	/* b2bua.c goes on with B's 2xx */
		return false;
	case nua_i_state:
		tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
		if (cs != nua_callstate_terminated || f->leg.nh == NULL)
			return true;
		if (f->code == 0) {	/* ended without a final answer */
			fork_final(k, f, 500);
			return true;
		}
		call_drop_leg(&f->leg);	/* its BYE is done */
		call_check(k);
		return true;
	case nua_i_bye:
		if (status < 200)
			nua_respond(f->leg.nh, SIP_200_OK, NUTAG_WITH_THIS(c->ev_nua),
			    TAG_END());
		return true;
	case nua_i_options:
		nua_respond(f->leg.nh, SIP_200_OK, NUTAG_WITH_THIS(c->ev_nua),
		    TAG_END());
		return true;
	case nua_i_invite:
	case nua_i_update:
	case nua_i_info:
	case nua_i_refer:
	case nua_i_notify:
	case nua_i_message:
	case nua_i_subscribe:
	case nua_i_publish:
	case nua_i_register:
		/* Nothing in a fork's early dialog is passed on. */
		nua_respond(f->leg.nh, SIP_488_NOT_ACCEPTABLE,
		    NUTAG_WITH_THIS(c->ev_nua), TAG_END());
		return true;
	default:
		return true;
	}
}

bool
fork_timeout(struct call *k)
{
	struct forkset *fs = k->fork;
	struct ctl *c = k->ctl;

	if (fs == NULL || fs->winner != NULL || !set_live(fs) ||
	    !leg_live(&k->a) || k->state == CS_ENDING)
		return false;
	if (k->attempt_phase == AP_RINGING) {
		clog_msg(c, LL_INFO, "call %s: no contact answered within %gs "
		    "of ringing: 480", k->call_id, attempt_ring_timeout(k));
		for (struct fork *f = fs->forks; f != NULL; f = f->next)
			if (f->gen == fs->gen && !f->lost && f->leg.nh != NULL)
				call_attempt_code_at(k, f->entry, 480);
		if (divert_on_status(k, 480))	/* cancels the set */
			return true;
		call_hungup(k, BY_CONTROLLER, "ring timeout");
		call_fail(k, 480, "ring timeout");
		cancel_forks(k, NULL, "SIP;cause=480;text=\"ring timeout\"");
		return true;
	}
	clog_msg(c, LL_INFO, "call %s: no contact sent a 18x or final reply "
	    "within %gs", k->call_id, attempt_invite_timeout(k));
	for (struct fork *f = fs->forks; f != NULL; f = f->next) {
		if (f->gen != fs->gen || f->lost || f->leg.nh == NULL)
			continue;
		f->code = 408;
		f->lost = true;
		call_attempt_code_at(k, f->entry, 408);
		call_drop_leg(&f->leg);	/* nta CANCELs it if it sent 100 */
	}
	fs->best = best_code(fs->best, 408);
	set_failed(k);
	return true;
}

void
fork_cdr(const struct call *k, json_t *o)
{
	json_t *a;

	/* Who answered: B's attempt entry names its contact (gateway.c). */
	if (k->connect_t > 0 && (a = json_array_get(k->attempts,
	    k->att_entry > 0 ? (size_t)k->att_entry - 1 :
	    json_array_size(k->attempts) - 1)) != NULL &&
	    json_object_get(a, "contact") != NULL)
		json_object_set(o, "contact", json_object_get(a, "contact"));
	if (k->fork != NULL)
		json_object_set_new(o, "forks", json_integer(k->fork->n));
}

void
fork_free(struct call *k)
{
	struct forkset *fs = k->fork;

	if (fs == NULL)
		return;
	while (fs->forks != NULL) {
		struct fork *f = fs->forks;
		fs->forks = f->next;
		free(f->early);
		free(f);
	}
	su_timer_destroy(fs->guard);
	free(fs);
	k->fork = NULL;
}
