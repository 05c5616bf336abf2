/*
 * register.c: outbound registrations, one per trunk with a "register"
 * block: we register username@domain at the provider's registrar with
 * our Contact sip:contact_user@us, answer its digest challenge once with
 * auth_user/password, and nua refreshes before expiry. Any failure (a
 * final error, a second challenge, no reply within the timeout, a failed
 * refresh: nua does not retry those) destroys the handle and retries
 * after an exponential backoff, retry_min doubling up to retry_max: we
 * never give up and never hammer the provider. The state is kept by
 * trunk name in the daemon context; a reload restarts a registration
 * only when its configuration changed.
 *
 * Calls the provider sends to the registered contact are matched to
 * the trunk (register_identify()) by the request-URI user (contact_user)
 * and either the registrar's address, when it is numeric, or the secret
 * parameter of our Contact: tlr=<128 random bits> drawn per registration
 * (issue 12). Never by the user part alone: with a registrar given by
 * hostname any host could otherwise send INVITE sip:<contact_user>@us and
 * be taken as the provider. Providers route to the registered Contact
 * as it was registered (RFC 3261 10.3, 16.5), parameters included.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "controller.h"

#include <sofia-sip/su_time.h>

/* mono_now() is main.c's; these files also link into the unit tests. */

#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

enum rs_state { RS_REGISTERING, RS_REGISTERED, RS_BACKOFF };

struct reg_state {
	char		 trunk[64];
	struct reg_conf	 rc;		/* what it was started with */
	enum rs_state	 state;
	int		 last_code;	/* 0: no reply */
	int		 failures;	/* consecutive */
	uint64_t	 attempts, refreshes;
	double		 next_try;	/* mono, in RS_BACKOFF */
	double		 expires_at;	/* mono, in RS_REGISTERED */
	double		 since;
	bool		 auth_tried, live;
	bool		 unregistering;	/* at shutdown */
	char		 secret[33];	/* our Contact's tlr= parameter */
	nua_handle_t	*nh;
	su_timer_t	*timer;		/* reply timeout, then retry */
	struct ctl	*ctl;
	struct reg_state *next;
};

static const char *const state_names[] = { "registering", "registered",
	"backoff" };

int
register_parse(struct proto_cfg *c, json_t *o, const char *path,
    struct trunk *t)
{
	static const char *const keys[] = { "username", "domain",
	    "auth_user", "password", "registrar", "realm", "expires",
	    "contact_user", "timeout", "retry_min", "retry_max", NULL };
	su_home_t home[1] = { SU_HOME_INIT(home) };
	struct reg_conf *r;
	char q[PROTO_CFG_PATH];
	double exp = 3600;
	url_t *u;
	int rc = 0;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return proto_cfg_fail(c, path, "expected an object");
	if ((r = t->reg = calloc(1, sizeof(*r))) == NULL)
		return proto_cfg_fail(c, path, "out of memory");
	r->timeout = 10;
	r->retry_min = 5;
	r->retry_max = 600;
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "username", r->username,
	    sizeof(r->username), true) < 0 ||
	    proto_cfg_string(c, o, path, "password", r->password,
	    sizeof(r->password), true) < 0 ||
	    proto_cfg_string(c, o, path, "registrar", r->registrar,
	    sizeof(r->registrar), true) < 0 ||
	    proto_cfg_string(c, o, path, "domain", r->domain,
	    sizeof(r->domain), false) < 0 ||
	    proto_cfg_string(c, o, path, "auth_user", r->auth_user,
	    sizeof(r->auth_user), false) < 0 ||
	    proto_cfg_string(c, o, path, "realm", r->realm,
	    sizeof(r->realm), false) < 0 ||
	    proto_cfg_string(c, o, path, "contact_user", r->contact_user,
	    sizeof(r->contact_user), false) < 0 ||
	    proto_cfg_number(c, o, path, "expires", &exp, 10, 86400) < 0 ||
	    proto_cfg_number(c, o, path, "timeout", &r->timeout, 0.2, 60) < 0 ||
	    proto_cfg_number(c, o, path, "retry_min", &r->retry_min, 0.2,
	    3600) < 0 ||
	    proto_cfg_number(c, o, path, "retry_max", &r->retry_max, 0.2,
	    86400) < 0)
		return -1;
	r->expires = (int)exp;
	if (r->retry_max < r->retry_min) {
		proto_cfg_join(q, sizeof(q), path, "retry_max");
		return proto_cfg_fail(c, q, "%g s is below retry_min (%g s)",
		    r->retry_max, r->retry_min);
	}
	u = url_make(home, r->registrar);
	if (u == NULL || (u->url_type != url_sip && u->url_type != url_sips) ||
	    u->url_host == NULL || u->url_user != NULL) {
		proto_cfg_join(q, sizeof(q), path, "registrar");
		rc = proto_cfg_fail(c, q, "'%s' is not a registrar URI such as "
		    "\"sip:registrar.example.net:5060\"", r->registrar);
		goto out;
	}
	if (r->domain[0] == '\0')
		snprintf(r->domain, sizeof(r->domain), "%s", u->url_host);
	if (r->auth_user[0] == '\0')
		snprintf(r->auth_user, sizeof(r->auth_user), "%s", r->username);
	if (r->contact_user[0] == '\0')
		snprintf(r->contact_user, sizeof(r->contact_user), "%s",
		    r->username);
	/* A numeric registrar: calls to our contact must come from it. An
	 * IPv6 one is bracketed in its URI ("sip:[2001:db8::1]"). */
	snprintf(q, sizeof(q), "%.*s", u->url_host[0] == '[' ?
	    (int)strcspn(u->url_host + 1, "]") : (int)strlen(u->url_host),
	    u->url_host + (u->url_host[0] == '['));
	r->has_src = addr_parse(q, 0, &r->src) == 0;
out:
	su_home_deinit(home);
	return rc;
}

static void on_timer(su_root_magic_t *, su_timer_t *, void *);

static void
drop_handle(struct reg_state *r)
{
	if (r->nh != NULL && r->ctl->nua != NULL)
		nua_handle_destroy(r->nh);
	r->nh = NULL;
}

static void
start(struct ctl *c, struct reg_state *r)
{
	char aor[260], exp[16], params[40];

	snprintf(aor, sizeof(aor), "<sip:%s@%s>", r->rc.username, r->rc.domain);
	snprintf(exp, sizeof(exp), "%d", r->rc.expires);
	r->state = RS_REGISTERING;
	r->auth_tried = false;
	r->attempts++;
	snprintf(params, sizeof(params), "tlr=%s", r->secret);
	/* stack6.c: an IPv6 registrar by the IPv6 listener */
	r->nh = nua_handle(stack_for_uri(c, r->rc.registrar), NULL,
	    SIPTAG_TO_STR(aor),
	    SIPTAG_FROM_STR(aor), TAG_END());
	if (r->nh == NULL) {
		su_timer_set_interval(r->timer, on_timer, r, 1000);
		return;
	}
	clog_msg(c, LL_INFO, "trunk %s: REGISTER %s at %s (attempt %llu)",
	    r->trunk, aor, r->rc.registrar, (unsigned long long)r->attempts);
	nua_register(r->nh, NUTAG_REGISTRAR(r->rc.registrar),
	    NUTAG_M_USERNAME(r->rc.contact_user), NUTAG_M_PARAMS(params),
	    SIPTAG_EXPIRES_STR(exp),
	    NUTAG_OUTBOUND("no-options-keepalive no-validate no-natify"),
	    TAG_END());
	su_timer_set_interval(r->timer, on_timer, r,
	    (su_duration_t)(r->rc.timeout * 1000));
}

/* Failed (code 0: no reply): back off, doubling up to retry_max. */
static void
failed(struct ctl *c, struct reg_state *r, int code)
{
	double delay = r->rc.retry_min;

	for (int i = 0; i < r->failures && delay < r->rc.retry_max; i++)
		delay *= 2;
	if (delay > r->rc.retry_max)
		delay = r->rc.retry_max;
	r->failures++;
	r->last_code = code;
	r->state = RS_BACKOFF;
	r->next_try = mono_now() + delay;
	r->since = mono_now();
	drop_handle(r);
	if (code == 0)
		clog_msg(c, LL_WARNING, "trunk %s: registration at %s: no reply "
		    "within %gs; retrying in %gs", r->trunk, r->rc.registrar,
		    r->rc.timeout, delay);
	else
		clog_msg(c, LL_WARNING, "trunk %s: registration at %s failed: "
		    "%d; retrying in %gs", r->trunk, r->rc.registrar, code,
		    delay);
	su_timer_set_interval(r->timer, on_timer, r,
	    (su_duration_t)(delay * 1000));
}

static void
on_timer(su_root_magic_t *m, su_timer_t *t, void *arg)
{
	struct reg_state *r = arg;
	struct ctl *c = r->ctl;

	if (c->nua == NULL || c->quitting)
		return;
	if (r->state == RS_REGISTERING && r->nh != NULL) {
		failed(c, r, 0);
		return;
	}
	if (r->state == RS_BACKOFF || r->nh == NULL)
		start(c, r);
}

static int
expires_of(const struct reg_state *r, const sip_t *sip)
{
	if (sip != NULL && sip->sip_contact != NULL &&
	    sip->sip_contact->m_expires != NULL)
		return atoi(sip->sip_contact->m_expires);
	if (sip != NULL && sip->sip_expires != NULL)
		return (int)sip->sip_expires->ex_delta;
	return r->rc.expires;
}

bool
register_event(struct ctl *c, nua_event_t ev, int status, nua_handle_t *nh,
    const sip_t *sip)
{
	struct reg_state *r;

	if (ev != nua_r_register && ev != nua_r_unregister)
		return false;
	for (r = c->regs; r != NULL; r = r->next)
		if (r->nh == nh)
			break;
	if (r == NULL)
		return false;
	if (ev == nua_r_unregister && status >= 200 && c->quitting) {
		drop_handle(r);		/* shutdown.c waits for these */
		shutdown_continue(c);
		return true;
	}
	if (status < 200 || ev == nua_r_unregister)
		return true;
	su_timer_reset(r->timer);
	if (status < 300) {
		int exp = expires_of(r, sip);
		if (r->state == RS_REGISTERED)
			r->refreshes++;
		else
			clog_msg(c, LL_NOTICE, "trunk %s: registered at %s for "
			    "%ds (contact user %s)", r->trunk, r->rc.registrar,
			    exp, r->rc.contact_user);
		if (r->state != RS_REGISTERED)
			r->since = mono_now();
		r->state = RS_REGISTERED;
		r->last_code = status;
		r->failures = 0;
		r->auth_tried = false;
		r->expires_at = mono_now() + exp;
		return true;	/* nua refreshes it before expiry */
	}
	if ((status == 401 || status == 407) && !r->auth_tried && sip) {
		const msg_auth_t *au = status == 401 ?
		    (const msg_auth_t *)sip->sip_www_authenticate :
		    (const msg_auth_t *)sip->sip_proxy_authenticate;
		const char *realm = au ? msg_params_find(au->au_params,
		    "realm=") : NULL;
		char cred[400], want[80];
		snprintf(want, sizeof(want), "\"%s\"", r->rc.realm);
		if (realm != NULL && (r->rc.realm[0] == '\0' ||
		    strcmp(realm, want) == 0)) {
			r->auth_tried = true;
			snprintf(cred, sizeof(cred), "%s:%s:%s:%s",
			    au->au_scheme, realm, r->rc.auth_user,
			    r->rc.password);
			nua_authenticate(nh, NUTAG_AUTH(cred), TAG_END());
			su_timer_set_interval(r->timer, on_timer, r,
			    (su_duration_t)(r->rc.timeout * 1000));
			return true;
		}
		clog_msg(c, LL_WARNING, "trunk %s: challenge for realm %s, "
		    "configured realm is \"%s\"", r->trunk, realm ? realm : "?",
		    r->rc.realm);
	}
	failed(c, r, status);
	return true;
}

static void
reg_free(struct reg_state *r)
{
	drop_handle(r);
	su_timer_destroy(r->timer);
	free(r);
}

void
register_sync(struct ctl *c)
{
	struct reg_state *r, **pp;

	for (r = c->regs; r != NULL; r = r->next)
		r->live = false;
	for (int i = 0; i < c->conf->ntrunks; i++) {
		const struct trunk *t = &c->conf->trunks[i];
		if (t->reg == NULL)
			continue;
		for (r = c->regs; r != NULL; r = r->next)
			if (strcmp(r->trunk, t->name) == 0)
				break;
		if (r != NULL && memcmp(&r->rc, t->reg, sizeof(r->rc)) != 0) {
			/* Changed: start over with the new account. */
			drop_handle(r);
			r->rc = *t->reg;
			r->failures = 0;
			su_timer_set_interval(r->timer, on_timer, r, 10);
		}
		if (r == NULL) {
			uint8_t rnd[16];
			if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
				clog_msg(c, LL_ERROR, "trunk %s: no random "
				    "contact secret: not registering", t->name);
				continue;
			}
			if ((r = calloc(1, sizeof(*r))) == NULL)
				continue;
			for (int k = 0; k < 16; k++)
				snprintf(r->secret + 2 * k, 3, "%02x", rnd[k]);
			snprintf(r->trunk, sizeof(r->trunk), "%s", t->name);
			r->rc = *t->reg;
			r->ctl = c;
			r->since = mono_now();
			r->state = RS_BACKOFF;
			r->next_try = mono_now();
			r->timer = su_timer_create(su_root_task(c->root), 1000);
			r->next = c->regs;
			c->regs = r;
			su_timer_set_interval(r->timer, on_timer, r, 10 + i % 100);
		}
		r->live = true;
	}
	for (pp = &c->regs; (r = *pp) != NULL;) {
		if (r->live) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		clog_msg(c, LL_INFO, "trunk %s: registration removed", r->trunk);
		if (r->nh != NULL && c->nua != NULL)
			nua_unregister(r->nh, TAG_END());	/* best effort */
		r->nh = NULL;
		reg_free(r);
	}
}

int
register_shutdown(struct ctl *c, bool force)
{
	int n = 0;

	for (struct reg_state *r = c->regs; r != NULL; r = r->next) {
		su_timer_reset(r->timer);
		if (r->nh == NULL)
			continue;
		/* Only a registration in place is removed; a REGISTER in
		 * flight (or one past its deadline) is dropped, since it
		 * would hold nua_shutdown() for up to 30 s. */
		if (force || r->state != RS_REGISTERED) {
			drop_handle(r);
			continue;
		}
		if (!r->unregistering) {
			r->unregistering = true;
			nua_unregister(r->nh, TAG_END());
		}
		n++;
	}
	return n;
}

void
register_close(struct ctl *c)
{
	while (c->regs != NULL) {
		struct reg_state *r = c->regs;
		c->regs = r->next;
		reg_free(r);
	}
}

static bool
same_ip(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
		    16) == 0;
	return false;
}

/* The request-URI's tlr= is this registration's secret. */
static bool
has_secret(const struct reg_state *r, const url_t *ruri)
{
	char v[40];
	unsigned char d = 0;

	if (ruri->url_params == NULL ||
	    url_param(ruri->url_params, "tlr", v, sizeof(v)) <= 0 ||
	    strlen(v) != 32)
		return false;
	for (int i = 0; i < 32; i++)	/* in constant time */
		d |= (unsigned char)(v[i] ^ r->secret[i]);
	return d == 0;
}

struct trunk *
register_identify(struct ctl *c, const struct sockaddr *src,
    const sip_t *sip)
{
	const struct ctl_conf *conf = c->conf;
	const char *user = sip->sip_request->rq_url->url_user;

	if (user == NULL)
		return NULL;
	for (int i = 0; i < conf->ntrunks; i++) {
		const struct reg_conf *rc = conf->trunks[i].reg;
		const struct reg_state *r;
		if (rc == NULL || strcmp(rc->contact_user, user) != 0)
			continue;
		if (rc->has_src && same_ip(&rc->src, src))
			return &conf->trunks[i];
		for (r = c->regs; r != NULL; r = r->next)
			if (strcmp(r->trunk, conf->trunks[i].name) == 0 &&
			    has_secret(r, sip->sip_request->rq_url))
				return &conf->trunks[i];
	}
	return NULL;
}

json_t *
register_json(struct ctl *c, const struct trunk *t)
{
	struct reg_state *r;
	double now = mono_now();
	json_t *j;

	if (t->reg == NULL)
		return json_null();
	for (r = c->regs; r != NULL; r = r->next)
		if (strcmp(r->trunk, t->name) == 0)
			break;
	if (r == NULL)
		return json_null();
	j = json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:i,s:f}",
	    "state", state_names[r->state],
	    "registrar", r->rc.registrar,
	    "contact_user", r->rc.contact_user,
	    "last_code", r->last_code,
	    "attempts", (json_int_t)r->attempts,
	    "refreshes", (json_int_t)r->refreshes,
	    "failures", r->failures,
	    "since", now - r->since);
	if (r->state == RS_BACKOFF) {
		double in = r->next_try > now ? r->next_try - now : 0;
		json_object_set_new(j, "retry_in", json_real(in));
		/* "backing off until": wall clock, epoch seconds */
		json_object_set_new(j, "retry_at", json_real((double)time(NULL) +
		    in));
	}
	if (r->state == RS_REGISTERED)
		json_object_set_new(j, "expires_in", json_real(
		    r->expires_at > now ? r->expires_at - now : 0));
	return j;
}
