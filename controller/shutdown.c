/*
 * shutdown.c: SIGTERM to exit in bounded time. nua_shutdown() waits for
 * every client transaction of the stack: an un-REGISTER to a registrar
 * that has gone away, or a REGISTER still waiting on a TLS connection
 * that failed verification (nta is not told), holds it for up to 30 s
 * (Sofia's own shutdown timeout). So the registrations go first, on our
 * terms: REGISTERs in flight are dropped at once (nothing is registered
 * to remove), registrations in place get an un-REGISTER and
 * SHUTDOWN_UNREGISTER seconds to be answered, then are dropped; only then
 * does nua_shutdown() run (BYE to the calls), with SHUTDOWN_STACK seconds
 * before the loop stops without it.
 */
#include "controller.h"

#define SHUTDOWN_UNREGISTER	1.5	/* seconds for the un-REGISTERs */
#define SHUTDOWN_STACK		1.5	/* seconds for nua_shutdown() */

static void	on_deadline(struct ctl *, su_timer_t *, void *);

static void
arm(struct ctl *c, double secs)
{
	if (c->shutdown_timer == NULL)
		c->shutdown_timer = su_timer_create(su_root_task(c->root), 0);
	if (c->shutdown_timer == NULL ||
	    su_timer_set_interval(c->shutdown_timer, on_deadline, NULL,
	    (su_duration_t)(secs * 1000)) < 0) {
		clog_msg(c, LL_ERROR, "shutdown: no timer; stopping now");
		su_root_break(c->root);
	}
}

static void
shutdown_stacks(struct ctl *c)
{
	c->stack_down = true;
	stack_shutdown(c);	/* stack6.c: both families' */
	arm(c, SHUTDOWN_STACK);
}

void
shutdown_start(struct ctl *c)
{
	int n;

	c->quitting = true;
	if ((n = register_shutdown(c, false)) == 0) {
		shutdown_stacks(c);
		return;
	}
	clog_msg(c, LL_INFO, "shutdown: removing %d registration%s (%gs at "
	    "most)", n, n == 1 ? "" : "s", SHUTDOWN_UNREGISTER);
	arm(c, SHUTDOWN_UNREGISTER);
}

void
shutdown_continue(struct ctl *c)
{
	if (!c->stack_down && register_shutdown(c, false) == 0)
		shutdown_stacks(c);
}

static void
on_deadline(struct ctl *c, su_timer_t *t, void *arg)
{
	if (!c->stack_down) {
		clog_msg(c, LL_WARNING, "shutdown: un-REGISTER unanswered after "
		    "%gs; leaving the registration to expire",
		    SHUTDOWN_UNREGISTER);
		register_shutdown(c, true);
		shutdown_stacks(c);
		return;
	}
	clog_msg(c, LL_WARNING, "shutdown: the SIP stack still has "
	    "transactions after %gs; stopping without them", SHUTDOWN_STACK);
	su_root_break(c->root);
}
