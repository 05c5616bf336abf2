/*
 * emergency.c: emergency numbers (112, 911, ...). Only local accounts
 * may dial them (a trunk gets 403, registrar.c:local_admit); the call
 * goes to the destination of the caller's region, bypasses the call
 * limits and every routing rule. An account without a region uses the
 * region named "default", else the first one.
 */
#include <stdio.h>
#include <string.h>

#include "controller.h"


int
local_admit(struct ctl *c, const struct trunk *t, const char *called,
    bool *bypass)
{
	*bypass = false;
	if (called == NULL || !emergency_number(c->conf, called))
		return 0;
	if (local_account(c->conf, t) == NULL) {
		clog_msg(c, LL_NOTICE, "emergency number %s dialled from "
		    "trunk %s: only local accounts may: 403", called,
		    t->name);
		return 403;
	}
	*bypass = true;		/* emergency calls are never limited */
	return 0;
}

/* The destination of the caller's region: 1, or -503. */
int
emergency_route(struct call *k, const struct account *from)
{
	const char *uri;

	k->emergency = true;
	uri = emergency_region_uri(k->conf, from->region);
	if (uri == NULL ||
	    local_uri_candidate(k, uri, "emergency", &k->cand[0]) < 0) {
		clog_msg(k->ctl, LL_ERROR, "call %s: emergency %s from "
		    "%s: no destination for region '%s'", k->call_id,
		    k->called, from->trunk.username, from->region);
		return -503;
	}
	snprintf(k->cand[0].gw->name, sizeof(k->cand[0].gw->name),
	    "emergency:%s", from->region[0] ? from->region : "default");
	clog_msg(k->ctl, LL_NOTICE, "call %s: emergency %s from %s -> "
	    "%s", k->call_id, k->called, from->trunk.username, uri);
	return 1;
}
