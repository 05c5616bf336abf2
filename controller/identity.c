/*
 * identity.c: who the caller is, toward the gateway (issue 12 for the
 * trust model; trunkline-controller.conf(5), TRUST MODEL).
 *
 * Identity mapping per trunk: callers on a trunk present local
 * identities (the From user, e.g. extension 1001); toward the provider
 * they must appear as an external account identity: a From user and
 * display name. Either one to one ("map": each local identity to its own
 * account) or one shared account ("shared") for everybody else. A local
 * identity with no mapping keeps its number, or, with "unmapped":
 * "reject", the call is refused (403). The mapped user replaces the
 * calling number before the gateway's transforms.
 *
 * Trust: a call has a presented identity (From) and an asserted one
 * (what we vouch for in P-Asserted-Identity or Remote-Party-ID). A
 * P-Asserted-Identity is believed only from a "trusted" trunk, and
 * only when the request came from one of its sources (a password can
 * be stolen; the address is the carrier's contract); from anyone else
 * it is ignored (a B2BUA forwards no header it does not build). A request to hide (Privacy id/user/header, or From
 * "anonymous") is honoured from anyone: hiding vouches for nothing. A
 * trunk or account with owned "numbers" may present only those; any
 * other number, presented or asserted, becomes its "default_cli". Toward
 * a gateway that is not trusted a private call is anonymous; a trusted
 * one gets the asserted identity with "Privacy: id". Emergency calls
 * carry the identity whatever the caller asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

#include <sofia-sip/sip_extra.h>
#include <sofia-sip/msg_header.h>

static int
parse_account(struct proto_cfg *c, json_t *o, const char *path, char *user,
    char *display)
{
	static const char *const keys[] = { "local", "user", "display", NULL };

	if (!json_is_object(o))
		return proto_cfg_fail(c, path, "expected an object");
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "user", user, 64, true) < 0 ||
	    proto_cfg_string(c, o, path, "display", display, 64, false) < 0)
		return -1;
	if (strpbrk(display, "\"\\\r\n") != NULL || strpbrk(user,
	    " \t\r\n<>\"@;:") != NULL) {
		char q[PROTO_CFG_PATH];
		proto_cfg_join(q, sizeof(q), path, strpbrk(display,
		    "\"\\\r\n") ? "display" : "user");
		return proto_cfg_fail(c, q, "characters not allowed here");
	}
	return 0;
}

int
identity_parse(struct proto_cfg *c, json_t *o, const char *path,
    struct trunk *t)
{
	static const char *const keys[] = { "map", "shared", "unmapped", NULL };
	struct ident_conf *ic;
	char q[PROTO_CFG_PATH], unm[16] = "keep";
	json_t *arr, *v;
	size_t i;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return proto_cfg_fail(c, path, "expected an object");
	if ((ic = t->ident = calloc(1, sizeof(*ic))) == NULL)
		return proto_cfg_fail(c, path, "out of memory");
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "unmapped", unm, sizeof(unm),
	    false) < 0)
		return -1;
	if (strcmp(unm, "keep") != 0 && strcmp(unm, "reject") != 0) {
		proto_cfg_join(q, sizeof(q), path, "unmapped");
		return proto_cfg_fail(c, q, "'%s' is not keep or reject", unm);
	}
	ic->reject_unmapped = strcmp(unm, "reject") == 0;
	if ((v = json_object_get(o, "shared")) != NULL) {
		proto_cfg_join(q, sizeof(q), path, "shared");
		if (json_object_get(v, "local") != NULL)
			return proto_cfg_fail(c, q, "a shared account has no "
			    "'local'");
		if (parse_account(c, v, q, ic->shared_user,
		    ic->shared_display) < 0)
			return -1;
		if (ic->reject_unmapped)
			return proto_cfg_fail(c, path, "'shared' takes every "
			    "unmapped identity: 'unmapped': 'reject' makes no "
			    "sense with it");
	}
	if ((arr = json_object_get(o, "map")) == NULL) {
		if (ic->shared_user[0] == '\0')
			return proto_cfg_fail(c, path, "give 'map', 'shared' "
			    "or both");
		return 0;
	}
	proto_cfg_join(q, sizeof(q), path, "map");
	if (!json_is_array(arr))
		return proto_cfg_fail(c, q, "expected an array of {local, "
		    "user, display}");
	ic->map = calloc(json_array_size(arr) + 1, sizeof(*ic->map));
	json_array_foreach(arr, i, v) {
		struct ident_map *m = &ic->map[i];
		snprintf(q, sizeof(q), "%s.map[%zu]", path, i);
		if (parse_account(c, v, q, m->user, m->display) < 0 ||
		    proto_cfg_string(c, v, q, "local", m->local,
		    sizeof(m->local), true) < 0)
			return -1;
		for (int k = 0; k < ic->nmap; k++)
			if (strcmp(ic->map[k].local, m->local) == 0) {
				char q2[PROTO_CFG_PATH];
				proto_cfg_join(q2, sizeof(q2), q, "local");
				return proto_cfg_fail(c, q2, "'%s' is mapped "
				    "twice", m->local);
			}
		ic->nmap++;
	}
	return 0;
}

void
identity_free(struct ident_conf *ic)
{
	if (ic == NULL)
		return;
	free(ic->map);
	free(ic);
}

/* After a rule's transforms of the calling number (invite.c): the
 * asserted one follows them, as a copy of the From's or on its own (a
 * trusted PAI, or a default CLI in place of a PAI not owned). */
static int
asserted_follow(struct call *k)
{
	if (!k->asserted_own)
		snprintf(k->asserted, sizeof(k->asserted), "%s", k->calling);
	else if (k->route != NULL && xform_apply(&k->route->xf.calling,
	    k->asserted, k->asserted, sizeof(k->asserted)) < 0)
		return -ENOSPC;
	return 0;
}

int
identity_map(struct call *k)
{
	const struct ident_conf *ic = k->trunk->ident;
	const char *user = NULL, *display = NULL;

	if (asserted_follow(k) < 0)
		return -ENOSPC;
	if (ic == NULL)
		return 0;
	for (int i = 0; i < ic->nmap; i++)
		if (strcmp(ic->map[i].local, k->calling_in) == 0) {
			user = ic->map[i].user;
			display = ic->map[i].display;
			break;
		}
	if (user == NULL && ic->shared_user[0] != '\0') {
		user = ic->shared_user;
		display = ic->shared_display;
	}
	if (user == NULL)	/* an emergency call is never refused */
		return ic->reject_unmapped && !k->emergency ? -EPERM : 0;
	clog_msg(k->ctl, LL_DEBUG, "call %s: identity %s -> %s \"%s\"",
	    k->call_id, k->calling_in, user, display);
	snprintf(k->calling, sizeof(k->calling), "%s", user);
	snprintf(k->display, sizeof(k->display), "%s", display);
	/* The carrier configured this identity: it is what we assert. */
	snprintf(k->asserted, sizeof(k->asserted), "%s", user);
	k->asserted_own = false;
	k->screening = "mapped";
	return 0;
}

/* ---- trust: configuration ---- */

/* A number or, with one trailing '*', a prefix of numbers. */
static bool
number_ok(const char *s, bool pattern)
{
	size_t n = strlen(s), d = strspn(s, "+0123456789*#");

	if (n == 0 || d != n)
		return false;
	if (pattern && s[n - 1] == '*')
		n--;
	return n > 0 && memchr(s, '*', n) == NULL;
}

static int
parse_numbers(struct proto_cfg *c, json_t *arr, const char *path,
    struct trunk *t)
{
	char q[PROTO_CFG_PATH];
	json_t *v;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > CTL_OWNED_MAX)
		return proto_cfg_fail(c, path, "expected an array of 1..%d "
		    "numbers", CTL_OWNED_MAX);
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		snprintf(q, sizeof(q), "%.*s[%d]", PROTO_CFG_PATH - 8, path, (int)i);
		if (s == NULL || strlen(s) >= sizeof(t->numbers[0]) ||
		    !number_ok(s, true))
			return proto_cfg_fail(c, q, "expected a number of up to "
			    "%zu characters, or a prefix ending in '*'",
			    sizeof(t->numbers[0]) - 1);
		snprintf(t->numbers[i], sizeof(t->numbers[i]), "%s", s);
		t->nnumbers++;
	}
	return 0;
}

int
trust_parse(struct proto_cfg *c, json_t *o, const char *path,
    struct trunk *t, bool account)
{
	char q[PROTO_CFG_PATH];

	if ((!account && (proto_cfg_bool(c, o, path, "trusted",
	    &t->trusted) < 0 || proto_cfg_string(c, o, path, "region",
	    t->region, sizeof(t->region), false) < 0)) ||
	    proto_cfg_string(c, o, path, "default_cli", t->default_cli,
	    sizeof(t->default_cli), false) < 0)
		return -1;
	proto_cfg_join(q, sizeof(q), path, "numbers");
	if (parse_numbers(c, json_object_get(o, "numbers"), q, t) < 0)
		return -1;
	proto_cfg_join(q, sizeof(q), path, "default_cli");
	if (t->default_cli[0] != '\0' && !number_ok(t->default_cli, false))
		return proto_cfg_fail(c, q, "'%s' is not a number",
		    t->default_cli);
	if (t->default_cli[0] == '\0' && t->nnumbers > 0) {
		/* The first owned number, unless it is a range. */
		if (strchr(t->numbers[0], '*') != NULL)
			return proto_cfg_fail(c, path, "'numbers' starts with "
			    "a range: give 'default_cli'");
		snprintf(t->default_cli, sizeof(t->default_cli), "%s",
		    t->numbers[0]);
	} else if (t->default_cli[0] != '\0' && t->nnumbers == 0) {
		/* One number and nothing else. */
		snprintf(t->numbers[0], sizeof(t->numbers[0]), "%s",
		    t->default_cli);
		t->nnumbers = 1;
	}
	if (t->trusted && t->nsources == 0) {
		proto_cfg_join(q, sizeof(q), path, "trusted");
		return proto_cfg_fail(c, q, "trust is given to source "
		    "addresses: a trunk without 'sources' cannot be trusted");
	}
	return 0;
}

/* ---- trust: the caller's INVITE ---- */

static bool
owned(const struct trunk *t, const char *num)
{
	for (int i = 0; i < t->nnumbers; i++) {
		const char *p = t->numbers[i];
		size_t n = strlen(p);
		if (p[n - 1] == '*' ? strncmp(p, num, n - 1) == 0 &&
		    num[n - 1] != '\0' : strcmp(p, num) == 0)
			return true;
	}
	return false;
}

/* The user of a URI in a header value: "Name" <sip:123@h>;x, tel:+123. */
static void
uri_user(const char *v, char *out, size_t len)
{
	const char *p = strchr(v, '<'), *e;
	bool tel = false;

	p = p != NULL ? p + 1 : v + strspn(v, " \t");
	if (strncasecmp(p, "sips:", 5) == 0)
		p += 5;
	else if (strncasecmp(p, "sip:", 4) == 0)
		p += 4;
	else if (strncasecmp(p, "tel:", 4) == 0 && (tel = true))
		p += 4;
	else
		p = "";
	e = p + strcspn(p, tel ? ";>, \t?" : "@;>, \t?");
	if (!tel && *e != '@')
		e = p;		/* a sip: URI without a user part */
	snprintf(out, len, "%.*s", (int)(e - p), p);
}

/* The first P-Asserted-Identity's user; false if there is none. */
static bool
pai_user(const sip_t *sip, char *out, size_t len)
{
	const sip_p_asserted_identity_t *pai = sip_p_asserted_identity(sip);
	const sip_unknown_t *u;

	out[0] = '\0';
	if (pai != NULL) {
		const url_t *url = pai->paid_url;
		snprintf(out, len, "%s", url->url_type == url_tel ?
		    (url->url_host ? url->url_host : "") :
		    (url->url_user ? url->url_user : ""));
		return true;
	}
	/* A stack that does not parse it keeps it as an unknown header. */
	for (u = sip->sip_unknown; u != NULL; u = u->un_next)
		if (u->un_name != NULL && u->un_value != NULL &&
		    strcasecmp(u->un_name, "P-Asserted-Identity") == 0) {
			uri_user(u->un_value, out, len);
			return true;
		}
	return false;
}

/* RFC 3323: id, user and header all ask that the caller not be shown. */
static bool
privacy_asked(const sip_t *sip)
{
	const sip_privacy_t *pv = sip->sip_privacy;
	const char *fu = sip->sip_from ? sip->sip_from->a_url->url_user : NULL;

	for (int i = 0; pv != NULL && pv->priv_values != NULL &&
	    pv->priv_values[i] != NULL; i++)
		if (strcasecmp(pv->priv_values[i], "id") == 0 ||
		    strcasecmp(pv->priv_values[i], "user") == 0 ||
		    strcasecmp(pv->priv_values[i], "header") == 0)
			return true;
	return fu != NULL && strcasecmp(fu, "anonymous") == 0;
}

int
identity_in(struct call *k, const sip_t *sip)
{
	const struct trunk *t = k->trunk;
	char pai[CTL_NUM_MAX];
	bool has_pai = pai_user(sip, pai, sizeof(pai));

	k->privacy = privacy_asked(sip);
	snprintf(k->pai_in, sizeof(k->pai_in), "%s", pai);
	k->screening = "unverified";
	k->asserted_own = false;
	if (has_pai && pai[0] != '\0' && t->trusted && k->from_source) {
		if (xform_apply(&t->xf.calling, pai, k->asserted,
		    sizeof(k->asserted)) < 0)
			return -ENOSPC;
		k->asserted_own = true;
		k->screening = "trusted";
	} else {
		if (has_pai)
			k->ctl->stats.pai_ignored++;
		if (has_pai)
			clog_msg(k->ctl, LL_INFO, "call %s: P-Asserted-Identity "
			    "'%s' from %s (trunk %s, not trusted there): "
			    "ignored", k->call_id, pai, k->src, t->name);
		snprintf(k->asserted, sizeof(k->asserted), "%s", k->calling);
	}
	if (t->nnumbers == 0)
		return 0;
	if (!owned(t, k->calling)) {
		k->ctl->stats.cli_replaced++;
		clog_msg(k->ctl, LL_NOTICE, "call %s: trunk %s does not own "
		    "'%s': presented as %s", k->call_id, t->name, k->calling,
		    t->default_cli);
		snprintf(k->calling, sizeof(k->calling), "%s", t->default_cli);
	}
	if (!owned(t, k->asserted)) {
		snprintf(k->asserted, sizeof(k->asserted), "%s",
		    t->default_cli);
		k->screening = "replaced";
	} else if (!k->asserted_own) {
		k->screening = "owned";
	}
	return 0;
}

/* ---- trust: the gateway leg ---- */

#define ANON_FROM	"\"Anonymous\" <sip:anonymous@anonymous.invalid>"

void
identity_out(struct call *k, const struct gateway *gw, const char *host,
    char *from, size_t fromlen, char *hdrs, size_t hdrslen)
{
	const char *display = gw->from_display[0] ? gw->from_display :
	    k->display;
	/* An emergency call is never anonymous (the PSAP calls back). */
	bool hide = k->privacy && !k->emergency;
	bool screened = k->screening != NULL &&
	    strcmp(k->screening, "unverified") != 0;
	const char *id = k->asserted_out;
	size_t off = 0;

	if (xform_apply(&gw->xf.calling, k->asserted, k->asserted_out,
	    sizeof(k->asserted_out)) < 0)
		snprintf(k->asserted_out, sizeof(k->asserted_out), "%s",
		    k->calling_out);
	hdrs[0] = '\0';
	if (hide) {
		/* Neither the From nor the display name may leak it. */
		snprintf(from, fromlen, ANON_FROM);
	} else if (gw->cid == CID_FROM && gw->from_user[0] != '\0') {
		snprintf(from, fromlen, "<sip:%s@%s>", gw->from_user, host);
	} else {
		snprintf(from, fromlen, "%s%s%s<sip:%s@%s>",
		    display[0] ? "\"" : "", display, display[0] ? "\" " : "",
		    gw->cid == CID_FROM || gw->from_user[0] == '\0' ?
		    k->calling_out : gw->from_user, host);
	}
	if (hide && !gw->trusted) {
		/* Outside the trust domain: the identity stays with us. */
		snprintf(hdrs, hdrslen, "Privacy: id");
		return;
	}
	if (gw->cid == CID_RPID)
		off = (size_t)snprintf(hdrs, hdrslen, "Remote-Party-ID: "
		    "<sip:%s@%s>;party=calling;screen=%s;privacy=%s", id, host,
		    screened ? "yes" : "no", hide ? "full" : "off");
	else if (gw->cid == CID_PAI || hide || k->emergency)
		off = (size_t)snprintf(hdrs, hdrslen,
		    "P-Asserted-Identity: <sip:%s@%s>", id, host);
	if (hide && off < hdrslen)
		snprintf(hdrs + off, hdrslen - off, "%sPrivacy: id",
		    off ? "\r\n" : "");
}
