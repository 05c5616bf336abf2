/*
 * divert.c: call diversion of local accounts: unconditional (before the
 * account's phones are tried), busy (486/600 from them) and no answer
 * (no 2xx within no_answer_timeout, or 408/480; with reason "unavailable"
 * at once when no phone is registered). The diverted call
 * carries a Diversion header (RFC 5806) naming the diverting account,
 * and its CDR names that account in "diverted_by": the account is
 * charged for the onward leg. A diversion target is a number: another
 * account (or alias), or anything the routing rules route. Chains stop
 * after DIVERT_MAX hops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#define DIVERT_MAX	5

int	 local_target(struct call *, const char *number);

static double
rnd01(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

static int hops(const struct call *k)
{
	const char *p = strstr(k->diversion, "counter=");
	return p ? atoi(p + 8) : 0;
}

/* Record the diversion and take the new number. */
static void
divert_to(struct call *k, const struct account *a, const char *number,
    const char *reason)
{
	int n = hops(k) + 1;

	snprintf(k->diverted_by, sizeof(k->diverted_by), "%s",
	    a->trunk.username);
	snprintf(k->diversion, sizeof(k->diversion), "Diversion: "
	    "<sip:%s@%s>;reason=%s;counter=%d", a->trunk.username,
	    k->ctl->contact, reason, n);
	clog_msg(k->ctl, LL_INFO, "call %s: %s diverts (%s) %s -> %s",
	    k->call_id, a->trunk.username, reason, k->called, number);
	snprintf(k->called, sizeof(k->called), "%s", number);
}

/* The new destination's candidates: an account's contacts, else the
 * routing rules. >0, or -status. */
static int
candidates(struct call *k)
{
	char ruri[260], from[260];
	int n;

	if ((n = local_target(k, k->called)) != 0)
		return n;
	snprintf(ruri, sizeof(ruri), "sip:%s@%s", k->called, k->ctl->contact);
	snprintf(from, sizeof(from), "sip:%s@%s", k->calling, k->ctl->contact);
	n = route_lookup(k->conf, k->trunk, ruri, from, k->called, rnd01,
	    k->cand, CTL_MAX_CANDIDATES, &k->route);
	return n > 0 ? n : -404;
}

int
divert_unconditional(struct call *k)
{
	int n = 0;

	while (k->callee != NULL && k->callee->divert.unconditional[0] &&
	    n++ < DIVERT_MAX) {
		const struct account *a = k->callee;
		divert_to(k, a, a->divert.unconditional, "unconditional");
		k->callee = local_find(k->conf, k->called);
	}
	if (n == 0)
		return 0;
	if (k->callee != NULL && k->callee->divert.unconditional[0])
		return -482;	/* a loop of diversions */
	n = candidates(k);
	if (n > 0 && k->callee != NULL)
		divert_arm(k);
	return n;
}

/* The account has no phone registered: its no-answer target now. */
int
divert_unavailable(struct call *k)
{
	const struct account *a = k->callee;
	int n;

	divert_to(k, a, a->divert.no_answer, "unavailable");
	k->callee = NULL;
	n = candidates(k);
	if (n > 0 && k->callee != NULL && k->callee != a)
		divert_arm(k);
	return n;
}

static void
divert_now(struct call *k, const char *number, const char *reason)
{
	const struct account *a = k->callee;
	int n;

	divert_to(k, a, number, reason);
	k->callee = NULL;
	n = candidates(k);
	if (n > 0 && k->callee != NULL && k->callee != a)
		divert_arm(k);
	b2bua_retarget(k, n);
}

int
divert_on_status(struct call *k, int status)
{
	const struct account *a = k->callee;

	if (a == NULL || !leg_live(&k->a) || k->a.answered ||
	    k->state == CS_ENDING || hops(k) >= DIVERT_MAX)
		return 0;
	if ((status == 486 || status == 600) && a->divert.busy[0]) {
		divert_now(k, a->divert.busy, "user-busy");
		return 1;
	}
	if ((status == 408 || status == 480) && a->divert.no_answer[0]) {
		divert_now(k, a->divert.no_answer, "no-answer");
		return 1;
	}
	return 0;
}

static void
on_no_answer(struct ctl *c, su_timer_t *t, void *arg)
{
	struct call *k = arg;

	if (k->finished || k->callee == NULL || k->a.answered ||
	    k->b.answered || k->state == CS_ENDING || !leg_live(&k->a) ||
	    hops(k) >= DIVERT_MAX)
		return;
	clog_msg(c, LL_INFO, "call %s: %s did not answer within %gs",
	    k->call_id, k->callee->trunk.username,
	    k->callee->divert.no_answer_timeout);
	divert_now(k, k->callee->divert.no_answer, "no-answer");
}

void
divert_arm(struct call *k)
{
	const struct account *a = k->callee;

	if (a == NULL || a->divert.no_answer[0] == '\0')
		return;
	if (k->divert_timer == NULL)
		k->divert_timer = su_timer_create(su_root_task(k->ctl->root),
		    1000);
	if (k->divert_timer != NULL)
		su_timer_set_interval(k->divert_timer, on_no_answer, k,
		    (su_duration_t)(a->divert.no_answer_timeout * 1000));
}

void
divert_cancel(struct call *k)
{
	if (k->divert_timer != NULL)
		su_timer_destroy(k->divert_timer);
	k->divert_timer = NULL;
}
