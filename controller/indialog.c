/*
 * indialog.c: is an in-dialog request really from the dialog's peer?
 *
 * Sofia's transaction layer (nta) hands a request without a To tag to
 * the dialog with the same Call-ID and From tag: it keeps a dialog
 * "tagged after creation" reachable without the tag, for the caller's
 * retransmissions and CANCEL. Those are matched to their transaction
 * before that. Anything else reaching a call's leg without a To tag is
 * someone who knows (or guessed, or sniffed) the Call-ID and From tag:
 * a BYE from anywhere would end the call (issue 12). RFC 3261 12.2.1.1:
 * a request within a dialog carries the remote tag in To.
 *
 * Defence in depth on the caller's leg of a call whose trunk was
 * identified by its source address: the request must come from one of
 * that trunk's sources too (any of them, not only the INVITE's address:
 * carriers send a BYE from another node of the same cluster). Calls
 * identified otherwise (a digest account, a registration's provider)
 * have no source to hold them to; the gateway's leg neither (its
 * address may come from DNS and change).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>

static void
ip_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, buf, (socklen_t)len) ==
	    NULL)
		snprintf(buf, len, "?");
}

int
indialog_check(const struct leg *l, msg_t *m, const sip_t *sip, char *why,
    size_t len)
{
	const struct call *k = l->call;
	su_addrinfo_t *ai = m != NULL ? msg_addrinfo(m) : NULL;
	const struct trunk *t;
	char src[64] = "?";

	if (ai != NULL && ai->ai_addr != NULL)
		ip_text(ai->ai_addr, src, sizeof(src));
	if (sip->sip_to == NULL || sip->sip_to->a_tag == NULL) {
		snprintf(why, len, "%s without To tag from %s",
		    sip->sip_request->rq_method_name, src);
		return -EPERM;
	}
	if (l->side != 0 || !k->from_source || k->trunk == NULL)
		return 0;
	t = ai != NULL && ai->ai_addr != NULL ? identify_by_source(k->conf,
	    ai->ai_addr, identify_transport(m, sip)) : NULL;
	if (t != k->trunk) {
		snprintf(why, len, "%s from %s, not a source of trunk %s",
		    sip->sip_request->rq_method_name, src, k->trunk->name);
		return -EPERM;
	}
	return 0;
}
