/*
 * attempt.c: the clock of one gateway attempt (issue 13, "Timers"), and
 * its settings. An INVITE to a gateway goes through phases, each with
 * its own deadline on the call's invite timer:
 *
 *   waiting  no 18x yet                  invite_timeout -> next gateway
 *            (no answer, and the post-dial delay, from the INVITE)
 *   ringing  a 18x (180, 183...)         ring_timeout   -> the call ends:
 *            (counted from the first 18x)   480 to the caller, CANCEL
 *
 * "100 Trying" never reaches us: Sofia's transaction layer consumes it,
 * and asking for it (NTATAG_PASS_100) leaks the response's message in
 * this Sofia (1.12.11: ASan shows one per call), so a gateway that says
 * 100 and then nothing is failed over like a silent one, after
 * invite_timeout, which is therefore also the post-dial delay limit.
 *
 * A provisional response only ever moves the clock forward, so a late
 * 18x does not restart the ring time, and once the call is ending (the
 * CANCEL guard of hangup.c) nothing here touches the timer: a late
 * provisional from a gateway that ignores CANCEL cannot keep its leg
 * alive. gateway.c acts on the expiry (on_invite_timeout).
 *
 * Settings: global keys, a route's (ring_timeout, failover_after_early)
 * and a gateway's (invite_timeout); the gateway's win over the route's,
 * the route's over the global ones.
 */
#include <stdio.h>

#include "controller.h"

int
attempt_parse(struct proto_cfg *c, json_t *o, const char *path,
    struct attempt_conf *a)
{
	int r[3];

	*a = (struct attempt_conf){ 0 };
	if ((r[0] = proto_cfg_number(c, o, path, "invite_timeout", &a->invite,
	    0.1, 300)) < 0 ||
	    (r[1] = proto_cfg_number(c, o, path, "ring_timeout", &a->ring, 0,
	    3600)) < 0 ||
	    (r[2] = proto_cfg_bool(c, o, path, "failover_after_early",
	    &a->failover_early)) < 0)
		return -1;
	a->set = (r[0] > 0 ? AT_INVITE : 0) | (r[1] > 0 ? AT_RING : 0) |
	    (r[2] > 0 ? AT_EARLY : 0);
	return 0;
}

static const struct gateway *
current_gw(const struct call *k)
{
	return k->attempt < k->ncand ? k->cand[k->attempt].gw : NULL;
}

/* The gateway's value, else the route's, else the global one. */
static double
pick(const struct call *k, unsigned bit, double global)
{
	const struct gateway *gw = current_gw(k);
	const struct attempt_conf *g = gw ? &gw->at : NULL;
	const struct attempt_conf *r = k->route ? &k->route->at : NULL;
	const struct attempt_conf *a = g && (g->set & bit) ? g :
	    r && (r->set & bit) ? r : NULL;

	if (a == NULL)
		return global;
	return bit == AT_INVITE ? a->invite : bit == AT_RING ? a->ring :
	    a->failover_early;
}

double
attempt_invite_timeout(const struct call *k)
{
	return pick(k, AT_INVITE, k->conf->invite_timeout);
}

double
attempt_ring_timeout(const struct call *k)
{
	return pick(k, AT_RING, k->conf->ring_timeout);
}

bool
attempt_failover_early(const struct call *k)
{
	return pick(k, AT_EARLY, k->conf->failover_early) != 0;
}

static void
arm(struct call *k, double seconds)
{
	if (seconds <= 0) {
		su_timer_reset(k->invite_timer);
		return;
	}
	su_timer_set_interval(k->invite_timer, on_invite_timeout, k,
	    (su_duration_t)(seconds * 1000) + 1);
}

/* The INVITE went out (again, with credentials): waiting for a 18x. */
void
attempt_start(struct call *k)
{
	k->attempt_phase = AP_WAITING;
	arm(k, attempt_invite_timeout(k));
}

/* A response to the INVITE while the call is up (not ending). */
void
attempt_progress(struct call *k, int status)
{
	if (status >= 200) {
		k->attempt_phase = AP_DONE;
		su_timer_reset(k->invite_timer);
		return;
	}
	if (status > 100 && k->attempt_phase != AP_RINGING) {
		k->attempt_phase = AP_RINGING;
		arm(k, attempt_ring_timeout(k));
	}
}

const char *
attempt_phase_name(int phase)
{
	static const char *const n[] = { "none", "waiting", "ringing",
	    "done" };

	return phase >= 0 && phase <= AP_DONE ? n[phase] : "?";
}
