/*
 * emergency.c: emergency numbers (112, 911, ...). Anyone may dial them:
 * a local account or a trunk (a PBX's users must reach the emergency
 * services as much as a phone's: a 403 there is a life-safety and
 * regulatory failure). The call goes to the destination of the caller's
 * region (an account's or a trunk's "region"; without one the region
 * named "default", else the first), bypasses the call limits and every
 * routing rule, and keeps the caller's identity (identity.c: never
 * anonymous, the asserted number goes in P-Asserted-Identity so the
 * emergency service can call back).
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
	clog_msg(c, LL_NOTICE, "emergency number %s dialled from %s %s: "
	    "not limited", called, local_account(c->conf, t) ? "account" :
	    "trunk", t->name);
	*bypass = true;		/* emergency calls are never limited */
	return 0;
}

/* The destination of the caller's region: 1, or -503. */
int
emergency_route(struct call *k, const struct account *from)
{
	const char *region = from != NULL ? from->region : k->trunk->region;
	const char *uri;

	k->emergency = true;
	uri = emergency_region_uri(k->conf, region);
	if (uri == NULL ||
	    local_uri_candidate(k, uri, "emergency", &k->cand[0]) < 0) {
		clog_msg(k->ctl, LL_ERROR, "call %s: emergency %s from "
		    "%s: no destination for region '%s'", k->call_id,
		    k->called, k->trunk->name, region);
		return -503;
	}
	snprintf(k->cand[0].gw->name, sizeof(k->cand[0].gw->name),
	    "emergency:%s", region[0] ? region : "default");
	clog_msg(k->ctl, LL_NOTICE, "call %s: emergency %s from %s (%s) -> "
	    "%s", k->call_id, k->called, k->trunk->name, k->asserted, uri);
	return 1;
}

int
emergency_check_regions(struct proto_cfg *c, struct ctl_conf *conf)
{
	char p[PROTO_CFG_PATH];

	for (int i = 0; i < conf->ntrunks; i++) {
		const char *r = conf->trunks[i].region;
		if (r[0] == '\0' || emergency_region_uri(conf, r) != NULL)
			continue;
		snprintf(p, sizeof(p), "trunks[%d].region", i);
		return proto_cfg_fail(c, p, "no emergency region '%s'", r);
	}
	return 0;
}
