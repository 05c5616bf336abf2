/*
 * info.c: INFO inside a call (RFC 6086; DTMF as application/dtmf-relay
 * or application/dtmf, SIP-I's ISUP, anything else) is passed to the
 * other leg with its body, Content-Type, Content-Disposition and
 * Info-Package, and the other side's final answer goes back to the
 * sender. The stack would answer INFO itself (200, to anything), so
 * b2bua.c names it an application method and the request is held as a
 * saved event until the far side answers.
 *
 * Answers come back in request order on a handle, so each direction
 * keeps a queue; it is bounded (a peer sending INFO faster than the far
 * side answers gets 500 with Retry-After). An INFO before the call is
 * answered, or after it began to end, gets 481 (no dialog to pass it
 * to) or 488.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#define INFO_PENDING_MAX	16	/* per direction and call */

struct info_pending {
	nua_saved_event_t	 saved[1];
	struct info_pending	*next;
};

struct info_state {
	struct info_pending	*q[2];	/* by the sender's side, oldest first */
	int			 n[2];
};

static struct info_state *
state(struct call *k)
{
	if (k->info == NULL)
		k->info = su_zalloc(k->home, sizeof(*k->info));
	return k->info;
}

/* Headers other than the body's that the far side needs to read it. */
static void
extra_headers(const sip_t *sip, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (const sip_unknown_t *u = sip->sip_unknown; u != NULL;
	    u = u->un_next) {
		if (u->un_name == NULL || u->un_value == NULL ||
		    strcasecmp(u->un_name, "Info-Package") != 0)
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
		    "%sInfo-Package: %s", n ? "\r\n" : "", u->un_value);
	}
	if (n >= len)
		buf[0] = '\0';	/* too long: better none than a cut one */
}

void
info_in(struct ctl *c, nua_t *nua, struct leg *l, const sip_t *sip)
{
	struct call *k = l->call;
	struct leg *peer = l->side == 0 ? &k->b : &k->a;
	struct info_state *is;
	struct info_pending *p, **pp;
	char hdrs[256];

	if (k->state != CS_CONNECTED || peer->nh == NULL || !peer->answered) {
		int st = k->state == CS_ENDING || k->state == CS_DONE ? 481 :
		    488;
		nua_respond(l->nh, st, sip_status_phrase(st),
		    NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	if ((is = state(k)) == NULL || is->n[l->side] >= INFO_PENDING_MAX ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		clog_msg(c, LL_NOTICE, "call %s: INFO from the %s: %d pending: "
		    "500", k->call_id, l->side == 0 ? "caller" : "callee",
		    is != NULL ? is->n[l->side] : 0);
		nua_respond(l->nh, SIP_500_INTERNAL_SERVER_ERROR,
		    SIPTAG_RETRY_AFTER_STR("1"), NUTAG_WITH_THIS(nua),
		    TAG_END());
		return;
	}
	nua_save_event(nua, p->saved);
	for (pp = &is->q[l->side]; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = p;
	is->n[l->side]++;
	extra_headers(sip, hdrs, sizeof(hdrs));
	clog_msg(c, LL_DEBUG, "call %s: INFO (%s) from the %s passed on",
	    k->call_id, sip->sip_content_type && sip->sip_content_type->c_type ?
	    sip->sip_content_type->c_type : "no body",
	    l->side == 0 ? "caller" : "callee");
	/* Tags are copied: the request's own headers can go as they are. */
	nua_info(peer->nh,
	    TAG_IF(sip->sip_content_type != NULL,
	    SIPTAG_CONTENT_TYPE(sip->sip_content_type)),
	    TAG_IF(sip->sip_content_disposition != NULL,
	    SIPTAG_CONTENT_DISPOSITION(sip->sip_content_disposition)),
	    TAG_IF(hdrs[0], SIPTAG_HEADER_STR(hdrs)),
	    TAG_IF(sip->sip_payload != NULL, SIPTAG_PAYLOAD(sip->sip_payload)),
	    TAG_END());
}

/* The far side's answer to an INFO we passed on to leg l. */
void
info_response(struct ctl *c, struct leg *l, int status, const sip_t *sip)
{
	struct call *k = l->call;
	int from = l->side == 0 ? 1 : 0;
	struct leg *sender = from == 0 ? &k->a : &k->b;
	struct info_state *is = k->info;
	struct info_pending *p;

	if (status < 200 || is == NULL || (p = is->q[from]) == NULL)
		return;
	is->q[from] = p->next;
	is->n[from]--;
	if (status >= 300)
		clog_msg(c, LL_INFO, "call %s: INFO to the %s: %d %s", k->call_id,
		    l->side == 0 ? "caller" : "callee", status,
		    sip != NULL && sip->sip_status != NULL ?
		    sip->sip_status->st_phrase : "(no response)");
	/* 7xx/9xx are the stack's own (no answer, transport): 408, 503. */
	if (status >= 700)
		status = status == 408 || status == 904 ? 408 : 503;
	if (sender->nh != NULL)
		nua_respond(sender->nh, status, sip_status_phrase(status) ?
		    sip_status_phrase(status) : "Failed",
		    NUTAG_WITH_SAVED(p->saved), TAG_END());
	nua_destroy_event(p->saved);
	free(p);
}

void
info_free(struct call *k)
{
	struct info_pending *p;

	for (int side = 0; k->info != NULL && side < 2; side++)
		while ((p = k->info->q[side]) != NULL) {
			k->info->q[side] = p->next;
			nua_destroy_event(p->saved);
			free(p);
		}
}
