/*
 * registrar.c: local accounts. An account is a digest identity that
 * registers its phones here (REGISTER, answered by this file, contacts
 * kept by location.c) and makes calls through the normal routing; calls
 * to it (its username or an alias) go to its registered contacts. Each
 * account carries a struct trunk, so identification, digest checks,
 * limits and CDRs treat it as a trunk named after the account.
 *
 * Quick dial (prefix completion, as in AG Projects' MSP routing guide):
 * an account with quick_dial "0031" dialling "20123" calls "003120123".
 * Completion applies to a dialled number of digits only that starts
 * with neither '0' nor '+' and is no local username, alias or
 * emergency number.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/url.h>


#define CONTACTS_MAX	8	/* per account, tried in turn; the most one account may register */


/* ---- REGISTER ---- */

static void
fmt_source(const su_addrinfo_t *ai, char *buf, size_t len)
{
	char ip[64] = "?";

	if (ai != NULL && ai->ai_addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ai->ai_addr;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%d", ip, ntohs(in->sin_port));
	} else if (ai != NULL && ai->ai_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ai->ai_addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%d", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

static int
contact_expires(const struct local_conf *lc, const sip_t *sip,
    const sip_contact_t *m)
{
	long e = lc->default_expires;

	if (m->m_expires != NULL)
		e = strtol(m->m_expires, NULL, 10);
	else if (sip->sip_expires != NULL)
		e = (long)sip->sip_expires->ex_delta;
	if (e < 0)
		e = 0;
	return e > lc->max_expires ? lc->max_expires : (int)e;
}

/* The flow a REGISTER came on: its source and its transport (TLS is
 * told from TCP by the Via the client wrote on that connection). */
static void
req_flow(const su_addrinfo_t *ai, const sip_t *sip, struct flow *f)
{
	const char *p = sip->sip_via ? sip->sip_via->v_protocol : NULL;

	memset(f, 0, sizeof(*f));
	if (ai != NULL && ai->ai_addrlen <= sizeof(f->addr))
		memcpy(&f->addr, ai->ai_addr, ai->ai_addrlen);
	if (ai == NULL || ai->ai_protocol != IPPROTO_TCP)
		f->transport = TP_UDP;
	else if (p != NULL && strcasestr(p, "TLS") != NULL)
		f->transport = TP_TLS;
	else
		f->transport = TP_TCP;
}

/* The 200's Contact: every live binding with its remaining time. */
static void
bindings(struct ctl *c, const char *account, char *out, size_t len)
{
	struct location *ls[CONTACTS_MAX];
	int n = location_lookup(c, account, ls, CONTACTS_MAX);
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s<%s>;expires=%d",
		    i ? ", " : "", ls[i]->contact,
		    (int)(ls[i]->expires - mono_now() + 0.5));
	if (off >= len)
		out[0] = '\0';
}

/* Would this REGISTER leave the account more than CONTACTS_MAX live
 * bindings? (A bound on what one account can put in the table.) */
static bool
too_many(struct ctl *c, const char *account, const struct local_conf *lc,
    const sip_t *sip)
{
	struct location *ls[CONTACTS_MAX + 1];
	int have = location_lookup(c, account, ls, CONTACTS_MAX + 1), n = have;
	char uri[256];

	for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
		bool known = false;
		url_e(uri, sizeof(uri), m->m_url);
		uri[sizeof(uri) - 1] = '\0';
		for (int i = 0; i < have; i++)
			if (strcmp(ls[i]->contact, uri) == 0)
				known = true;
		if (contact_expires(lc, sip, m) == 0)
			n -= known;
		else if (!known)
			n++;
	}
	return n > CONTACTS_MAX;
}

void
registrar_request(struct ctl *c, nua_t *nua, nua_handle_t *nh,
    const sip_t *sip)
{
	const struct local_conf *lc = c->conf->local;
	const char *user = sip->sip_to ? sip->sip_to->a_url->url_user : NULL;
	struct account *a = user ? local_find(c->conf, user) : NULL;
	char src[64], uri[256], contacts[2048], minexp[16], why[160];
	struct flow flow;
	int status = 200;

	/* No account (or an alias): challenged and refused exactly like
	 * a wrong password (auth.c), so accounts cannot be probed. */
	if (a != NULL && strcmp(a->trunk.username, user) != 0)
		a = NULL;
	if (!auth_check(c, nua, nh, a ? &a->trunk : NULL, sip))
		goto out;
	fmt_source(msg_addrinfo(nua_current_request(nua)), src, sizeof(src));
	req_flow(msg_addrinfo(nua_current_request(nua)), sip, &flow);
	/* "Contact: *" with Expires: 0 removes every binding. */
	if (sip->sip_contact != NULL && sip->sip_contact->m_url->url_type ==
	    url_any) {
		if (sip->sip_expires == NULL || sip->sip_expires->ex_delta != 0 ||
		    sip->sip_contact->m_next != NULL) {
			nua_respond(nh, SIP_400_BAD_REQUEST, NUTAG_WITH_THIS(nua),
			    TAG_END());
			goto out;
		}
		location_remove_all(c, a->trunk.username);
		nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_END());
		goto out;
	}
	for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
		int e = contact_expires(lc, sip, m);
		/* Only contacts we can call, whole: nothing half-stored. */
		if ((m->m_url->url_type != url_sip &&
		    m->m_url->url_type != url_sips) ||
		    m->m_url->url_host == NULL ||
		    url_e(NULL, 0, m->m_url) >= (isize_t)sizeof(uri)) {
			clog_msg(c, LL_NOTICE, "REGISTER %s: account %s: a "
			    "contact is not a usable sip: URI: 400",
			    sip->sip_call_id->i_id, a->trunk.username);
			nua_respond(nh, 400, "Bad Contact",
			    NUTAG_WITH_THIS(nua), TAG_END());
			goto out;
		}
		/* Where the phone says it is may not be a gateway or us. */
		if (e > 0 && target_check_contact(c, m->m_url, &flow, why,
		    sizeof(why)) < 0) {
			c->stats.contacts_refused++;
			clog_msg(c, LL_NOTICE, "REGISTER %s from %s: account %s: "
			    "%s: 403", sip->sip_call_id->i_id, src,
			    a->trunk.username, why);
			nua_respond(nh, 403, "Contact Not Allowed",
			    NUTAG_WITH_THIS(nua), TAG_END());
			goto out;
		}
		if (e > 0 && e < lc->min_expires)
			status = 423;
	}
	if (status != 423 && too_many(c, a->trunk.username, lc, sip)) {
		clog_msg(c, LL_NOTICE, "REGISTER %s: account %s: more than %d "
		    "contacts: 403", sip->sip_call_id->i_id, a->trunk.username,
		    CONTACTS_MAX);
		nua_respond(nh, 403, "Too Many Contacts", NUTAG_WITH_THIS(nua),
		    TAG_END());
		goto out;
	}
	if (status == 423) {
		snprintf(minexp, sizeof(minexp), "%d", lc->min_expires);
		nua_respond(nh, SIP_423_INTERVAL_TOO_BRIEF, NUTAG_WITH_THIS(nua),
		    SIPTAG_MIN_EXPIRES_STR(minexp), TAG_END());
		goto out;
	}
	for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
		url_e(uri, sizeof(uri), m->m_url);
		uri[sizeof(uri) - 1] = '\0';
		if (location_update(c, a->trunk.username, uri,
		    sip->sip_call_id->i_id, &flow, contact_expires(lc, sip,
		    m)) < 0) {
			nua_respond(nh, SIP_503_SERVICE_UNAVAILABLE,
			    NUTAG_WITH_THIS(nua), TAG_END());
			goto out;
		}
	}
	bindings(c, a->trunk.username, contacts, sizeof(contacts));
	nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua),
	    TAG_IF(contacts[0], SIPTAG_CONTACT_STR(contacts)), TAG_END());
out:
	nua_handle_destroy(nh);
}

/* ---- routing ---- */

int
local_uri_candidate(struct call *k, const char *uri, const char *name,
    struct candidate *cd)
{
	url_t *u = url_hdup(k->home, (url_t *)url_make(k->home, uri));
	struct gateway *gw;
	char tp[16] = "";

	if (u == NULL || u->url_host == NULL ||
	    (u->url_type != url_sip && u->url_type != url_sips))
		return -EINVAL;
	if ((gw = su_zalloc(k->home, sizeof(*gw))) == NULL)
		return -ENOMEM;
	snprintf(gw->name, sizeof(gw->name), "%s", name);
	snprintf(gw->host, sizeof(gw->host), "%s", u->url_host);
	gw->port = u->url_port ? (uint16_t)atoi(u->url_port) : 0;
	snprintf(gw->scheme, sizeof(gw->scheme), "%s",
	    u->url_type == url_sips ? "sips" : "sip");
	if (u->url_params != NULL &&
	    url_param(u->url_params, "transport", tp, sizeof(tp)) > 0) {
		if (strcasecmp(tp, "tcp") == 0)
			gw->transport = TP_TCP;
		else if (strcasecmp(tp, "tls") == 0)
			gw->transport = TP_TLS;
		else
			gw->transport = TP_UDP;
	}
	cd->gw = gw;
	cd->carrier = "local";
	cd->user = su_strdup(k->home, u->url_user ? u->url_user : "");
	return 0;
}

/* The contacts of a local account as candidates: >0, or -480. */
static int
account_candidates(struct call *k, const struct account *a)
{
	struct location *ls[CONTACTS_MAX];
	char name[80];
	int n, m = 0;

	snprintf(name, sizeof(name), "account:%s", a->trunk.username);
	if (webcall_candidate(k, a, &k->cand[m]) == 0)	/* a browser first */
		m++;
	n = location_lookup(k->ctl, a->trunk.username, ls, CONTACTS_MAX);
	for (int i = 0; i < n && m < CTL_MAX_CANDIDATES; i++)
		if (location_candidate(k, ls[i], name, &k->cand[m]) == 0)
			m++;
	if (m == 0) {
		clog_msg(k->ctl, LL_INFO, "call %s: account %s is not "
		    "registered", k->call_id, a->trunk.username);
		return -480;
	}
	return m;
}

static bool
quick_dial_applies(const struct account *a, const char *num)
{
	return a != NULL && a->quick_dial[0] != '\0' && num[0] != '\0' &&
	    num[0] != '0' && num[0] != '+' &&
	    strspn(num, "0123456789") == strlen(num);
}

int
local_route(struct call *k)
{
	struct account *from = local_account(k->conf, k->trunk);
	struct account *to;
	char buf[CTL_NUM_MAX];
	int rc;

	if (emergency_number(k->conf, k->called))	/* account or trunk */
		return emergency_route(k, from);
	to = local_find(k->conf, k->called);
	if (to == NULL && quick_dial_applies(from, k->called)) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s%s", from->quick_dial,
		    k->called) >= sizeof(buf))
			return -484;
		clog_msg(k->ctl, LL_INFO, "call %s: quick dial %s -> %s",
		    k->call_id, k->called, buf);
		snprintf(k->called, sizeof(k->called), "%s", buf);
		to = local_find(k->conf, k->called);
	}
	if (to == NULL)
		return enum_route(k);
	k->callee = to;
	if ((rc = divert_unconditional(k)) != 0)
		return rc;
	if ((rc = account_candidates(k, to)) > 0)
		divert_arm(k);
	else if (rc == -480 && to->divert.no_answer[0] != '\0')
		rc = divert_unavailable(k);	/* no phone registered */
	return rc;
}

/* For divert.c: the candidates of a number after a diversion. */
int
local_target(struct call *k, const char *number)
{
	struct account *to = local_find(k->conf, number);

	k->callee = to;
	if (to != NULL)
		return account_candidates(k, to);
	return 0;
}

json_t *
accounts_to_json(struct ctl *c)
{
	const struct local_conf *lc = c->conf->local;
	json_t *arr = json_array();

	for (int i = 0; lc != NULL && i < lc->naccounts; i++) {
		const struct account *a = &lc->accounts[i];
		struct location *ls[CONTACTS_MAX];
		json_t *al = json_array();
		for (int k = 0; k < a->naliases; k++)
			json_array_append_new(al, json_string(a->aliases[k]));
		json_array_append_new(arr, json_pack(
		    "{s:s,s:o,s:s,s:s,s:i}", "username", a->trunk.username,
		    "aliases", al, "quick_dial", a->quick_dial,
		    "region", a->region, "contacts",
		    location_lookup(c, a->trunk.username, ls, CONTACTS_MAX)));
	}
	return arr;
}
