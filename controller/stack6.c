/*
 * stack6.c: the IPv6 listeners (issue 15), a SIP stack of their own.
 *
 * Sofia-SIP 1.12.11's nua binds what two URLs name (NUTAG_URL,
 * NUTAG_SIPS_URL) and keeps its nta agent, the only door to more
 * transports (nta_agent_add_tport), to itself: nua_stack_init_transport()
 * can be called again, but without the TLS verification tags
 * (nua_args is gone after nua_stack_init()), so an IPv6 TLS listener
 * added that way would verify nobody. "sip:*" binds every local address
 * of both families, not the configured ones. So each family has its own
 * nua on the same su_root and the same event callback, built with the
 * same tags (tls.c's verification included): c->nua binds sip.listen
 * (UDP, TCP) and sip.tls_listen (TLS), c->nua6 binds sip.listen6 and
 * sip.tls_listen6 on the same ports.
 *
 * A leg lives on the stack that received it or that we chose for its
 * far side's family (stack_for()): an IPv6 peer is sent to from an IPv6
 * socket, with our IPv6 address in Via and Contact, and the two legs of
 * a call may be on different stacks (the B2BUA joins them, not nua).
 * Code that answers the current request asks c->ev_nua, the stack whose
 * event is being handled (b2bua.c sets it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"

nua_t *
stack_for(struct ctl *c, int family)
{
	return family == AF_INET6 && c->nua6 != NULL ? c->nua6 : c->nua;
}

nua_t *
stack_for_uri(struct ctl *c, const char *uri)
{
	return stack_for(c, listen_family(uri));
}

void
stack_shutdown(struct ctl *c)
{
	c->nstacks = 0;
	if (c->nua != NULL) {
		c->nstacks++;
		nua_shutdown(c->nua);
	}
	if (c->nua6 != NULL) {
		c->nstacks++;
		nua_shutdown(c->nua6);
	}
}

/* One stack finished its shutdown: true when it was the last. */
bool
stack_down(struct ctl *c)
{
	return --c->nstacks <= 0;
}

/* sip.tls_listen6: an IPv6 address, brackets optional, tls_listen's
 * port; needs sip.listen6 (its stack) and sip.tls_listen. Stored bare. */
int
stack6_check(struct proto_cfg *cf, struct ctl_conf *conf)
{
	struct in6_addr a6;
	char v[64];
	size_t n;

	if (conf->tls_listen6[0] == '\0')
		return 0;
	snprintf(v, sizeof(v), "%s", conf->tls_listen6);
	n = strlen(v);
	if (v[0] == '[' && n > 2 && v[n - 1] == ']') {
		memmove(v, v + 1, n - 2);
		v[n - 2] = '\0';
	}
	if (inet_pton(AF_INET6, v, &a6) != 1 || IN6_IS_ADDR_V4MAPPED(&a6) ||
	    IN6_IS_ADDR_UNSPECIFIED(&a6))
		return proto_cfg_fail(cf, "sip.tls_listen6", "'%s' is not an "
		    "IPv6 address (the port is sip.tls_listen's)",
		    conf->tls_listen6);
	if (conf->listen6[0] == '\0' || conf->tls_listen[0] == '\0')
		return proto_cfg_fail(cf, "sip.tls_listen6", "needs sip.listen6 "
		    "and sip.tls_listen (an IPv4 TLS listener, whose port and "
		    "certificates it shares)");
	snprintf(conf->tls_listen6, sizeof(conf->tls_listen6), "%s", v);
	return 0;
}
