/*
 * auth.c: digest authentication of callers (INVITE, 407) and phones
 * (REGISTER, 401) for digest trunks and local accounts (issue 12). Ours
 * rather than Sofia's auth_mod, whose check ignores uri=, keeps no
 * nonce-count state, accepts answers without qop and signs its nonces
 * with a default key: a Proxy-Authorization sniffed from one call could
 * be replayed for the nonce's lifetime with any request-URI.
 *
 * An answer is accepted only with qop=auth, algorithm MD5 (or none), a
 * uri= equal to the request-URI, the right response, a nonce we issued
 * that has not expired, and an nc above every nc seen with that nonce.
 *
 * Nonces: hex(issued[8] | random[8] | HMAC-MD5(key, issued | random |
 * realm | binding)) with a random key drawn at start, so issuing one
 * costs no memory (a flood of unauthenticated requests stores nothing)
 * and a restart invalidates them all (clients get stale=true and retry).
 * A REGISTER's nonce is bound to its To user and Contact set: a captured
 * Authorization replayed with a foreign Contact fails the nonce check.
 *
 * Replay: a strictly increasing nc per nonce rather than single-use
 * nonces. Both stop a captured answer (its nc was seen); nc also lets
 * an honest client that keeps its nonce (nua's registration refreshes,
 * PBXs that cache the challenge) go on without a new 401/407 round trip
 * per request. The nc state is created only when a correct answer uses
 * a nonce and lives until the nonce expires; when the table is full a
 * nonce is answered stale (a new challenge), never accepted unchecked.
 *
 * An answer for a username we do not know is checked against a random
 * secret the same way and refused the same way (403) as a wrong
 * password, so usernames cannot be probed; every refusal is reported to
 * protect.c (failed-login limits per source and per username).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "controller.h"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_md5.h>
#include <sofia-sip/url.h>

#define AUTH_NONCE_LIFETIME	300.0	/* seconds */
#define AUTH_BUCKETS		4096
#define AUTH_MAX_NONCES		65536	/* nonces in use at once */
#define AUTH_NONCE_HEX		64	/* 32 bytes */

struct nonce_use {
	uint8_t		 id[16];	/* issued | random */
	uint32_t	 nc;		/* the highest seen */
	double		 expires;	/* mono */
	struct nonce_use *next;
};

struct auth {
	uint8_t		 key[32];	/* signs our nonces */
	uint64_t	 hkey[2];	/* the nonce table's hash key */
	char		 dummy[33];	/* the secret of unknown usernames */
	struct nonce_use *tab[AUTH_BUCKETS];
	int		 n;
	uint64_t	 challenges, accepted, failed, stale, replayed;
};

static struct auth *
auth_get(struct ctl *c)
{
	struct auth *a = c->auth;
	uint8_t d[16];

	if (a != NULL)
		return a;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	if (getrandom(a->key, sizeof(a->key), 0) != sizeof(a->key) ||
	    getrandom(a->hkey, sizeof(a->hkey), 0) != sizeof(a->hkey) ||
	    getrandom(d, sizeof(d), 0) != sizeof(d)) {
		clog_msg(c, LL_ERROR, "auth: no random key (getrandom: %s); "
		    "digest logins are refused", strerror(errno));
		free(a);
		return NULL;
	}
	for (int i = 0; i < 16; i++)
		snprintf(a->dummy + 2 * i, 3, "%02x", d[i]);
	c->auth = a;
	return a;
}

void
auth_close(struct ctl *c)
{
	struct auth *a = c->auth;

	if (a == NULL)
		return;
	for (int b = 0; b < AUTH_BUCKETS; b++)
		while (a->tab[b] != NULL) {
			struct nonce_use *u = a->tab[b];
			a->tab[b] = u->next;
			free(u);
		}
	explicit_bzero(a->key, sizeof(a->key));
	free(a);
	c->auth = NULL;
}

/* ---- hashing ---- */

static void
md5_hex(su_md5_t *m, char out[33])
{
	su_md5_hexdigest(m, out);
	su_md5_deinit(m);
}

static void
hmac_md5(const uint8_t key[32], const void *data, size_t len,
    const char *realm, const char *bind, uint8_t out[16])
{
	uint8_t pad[64], inner[16];
	su_md5_t m;

	memset(pad, 0x36, sizeof(pad));
	for (int i = 0; i < 32; i++)
		pad[i] ^= key[i];
	su_md5_init(&m);
	su_md5_update(&m, pad, sizeof(pad));
	su_md5_update(&m, data, len);
	su_md5_str0update(&m, realm);
	su_md5_str0update(&m, bind);
	su_md5_digest(&m, inner);
	memset(pad, 0x5c, sizeof(pad));
	for (int i = 0; i < 32; i++)
		pad[i] ^= key[i];
	su_md5_init(&m);
	su_md5_update(&m, pad, sizeof(pad));
	su_md5_update(&m, inner, sizeof(inner));
	su_md5_digest(&m, out);
	su_md5_deinit(&m);
}

/* Equal strings in a time that does not depend on where they differ. */
static bool
same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static int
unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    strspn(s + 2 * i, "0123456789abcdef") < 2)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* ---- nonces ---- */

static void
nonce_make(struct auth *a, const char *realm, const char *bind,
    char out[AUTH_NONCE_HEX + 1])
{
	uint8_t raw[32];
	uint64_t ms = (uint64_t)(mono_now() * 1000);

	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(ms >> (56 - 8 * i));
	if (getrandom(raw + 8, 8, 0) != 8)
		memset(raw + 8, 0, 8);	/* still signed; unique enough by time */
	hmac_md5(a->key, raw, 16, realm, bind, raw + 16);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* 0 a nonce of ours for this realm and binding that has not expired;
 * -ESTALE expired; -EINVAL not ours (another key, binding or realm). */
static int
nonce_check(struct auth *a, const char *nonce, const char *realm,
    const char *bind, uint8_t id[16])
{
	uint8_t raw[32], mac[16];
	uint64_t ms = 0;
	double now = mono_now();

	if (strlen(nonce) != AUTH_NONCE_HEX || unhex(nonce, raw, 32) < 0)
		return -EINVAL;
	hmac_md5(a->key, raw, 16, realm, bind, mac);
	if (memcmp(mac, raw + 16, 16) != 0)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		ms = ms << 8 | raw[i];
	memcpy(id, raw, 16);
	if ((double)ms / 1000 > now + 1 ||
	    (double)ms / 1000 + AUTH_NONCE_LIFETIME < now)
		return -ESTALE;
	return 0;
}

static unsigned
id_hash(const struct auth *a, const uint8_t id[16])
{
	return (unsigned)(siphash24(id, 16, a->hkey) % AUTH_BUCKETS);
}

static void
sweep_bucket(struct auth *a, int b, double now)
{
	struct nonce_use **pp = &a->tab[b], *u;

	while ((u = *pp) != NULL) {
		if (u->expires <= now) {
			*pp = u->next;
			free(u);
			a->n--;
		} else {
			pp = &u->next;
		}
	}
}

/* Record nc for a nonce: 0, -EALREADY an nc not above the last one
 * (a replay), -ENOSPC no room (answered stale: a new challenge). */
static int
nonce_use(struct auth *a, const uint8_t id[16], uint32_t nc, double expires)
{
	double now = mono_now();
	unsigned h = id_hash(a, id);
	struct nonce_use *u;

	sweep_bucket(a, (int)h, now);
	for (u = a->tab[h]; u != NULL; u = u->next)
		if (memcmp(u->id, id, 16) == 0) {
			if (nc <= u->nc)
				return -EALREADY;
			u->nc = nc;
			return 0;
		}
	if (a->n >= AUTH_MAX_NONCES)
		for (int b = 0; b < AUTH_BUCKETS; b++)
			sweep_bucket(a, b, now);
	if (a->n >= AUTH_MAX_NONCES || (u = calloc(1, sizeof(*u))) == NULL)
		return -ENOSPC;
	memcpy(u->id, id, 16);
	u->nc = nc;
	u->expires = expires;
	u->next = a->tab[h];
	a->tab[h] = u;
	a->n++;
	return 0;
}

/* ---- the answer ---- */

enum verdict { V_OK, V_CHALLENGE, V_STALE, V_FAILED };

struct answer {
	char	*username, *realm, *nonce, *uri, *response, *qop, *nc;
	char	*cnonce, *algorithm;
};

static char *
param(su_home_t *home, const msg_auth_t *au, const char *name)
{
	const char *v = msg_params_find(au->au_params, name);

	return v != NULL ? msg_unquote_dup(home, v) : NULL;
}

/* The credentials for this realm among the request's, or NULL. */
static const msg_auth_t *
for_realm(su_home_t *home, const msg_auth_t *au, const char *realm)
{
	for (; au != NULL; au = au->au_next) {
		char *r;
		if (au->au_scheme == NULL ||
		    strcasecmp(au->au_scheme, "Digest") != 0)
			continue;
		if ((r = param(home, au, "realm=")) != NULL &&
		    strcmp(r, realm) == 0)
			return au;
	}
	return NULL;
}

static bool
uri_is_request(su_home_t *home, const char *uri, const url_t *rq)
{
	char buf[1024];
	url_t *u;

	if (url_e(buf, sizeof(buf), rq) > 0 && (buf[sizeof(buf) - 1] = '\0',
	    strcmp(buf, uri) == 0))
		return true;
	return (u = url_make(home, uri)) != NULL && url_cmp_all(u, rq) == 0;
}

/* The expected response (RFC 2617 3.2.2.1, qop=auth). */
static void
expected(const char *ha1, const char *method, const struct answer *w,
    char out[33])
{
	su_md5_t m;
	char ha2[33];

	su_md5_init(&m);
	su_md5_strupdate(&m, method);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, w->uri);
	md5_hex(&m, ha2);
	su_md5_init(&m);
	su_md5_strupdate(&m, ha1);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, w->nonce);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, w->nc);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, w->cnonce);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, w->qop);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, ha2);
	md5_hex(&m, out);
}

static void
ha1_of(const char *user, const char *realm, const char *secret, char out[33])
{
	su_md5_t m;

	su_md5_init(&m);
	su_md5_strupdate(&m, user);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, realm);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, secret);
	md5_hex(&m, out);
}

/*
 * Check one answer for account t (NULL: unknown username) in realm.
 * *why says what failed, for the log.
 */
static enum verdict
verify(struct auth *a, su_home_t *home, const struct trunk *t,
    const char *realm, const msg_auth_t *au, const sip_t *sip,
    const char *bind, const char **why)
{
	struct answer w;
	char ha1[33], want[33], lower[33];
	uint8_t id[16];
	unsigned long nc;
	char *end;
	int rc;

	w.username = param(home, au, "username=");
	w.realm = param(home, au, "realm=");
	w.nonce = param(home, au, "nonce=");
	w.uri = param(home, au, "uri=");
	w.response = param(home, au, "response=");
	w.qop = param(home, au, "qop=");
	w.nc = param(home, au, "nc=");
	w.cnonce = param(home, au, "cnonce=");
	w.algorithm = param(home, au, "algorithm=");
	if (w.username == NULL || w.nonce == NULL || w.uri == NULL ||
	    w.response == NULL || strlen(w.response) != 32) {
		*why = "incomplete answer";
		return V_FAILED;
	}
	if (w.qop == NULL || strcmp(w.qop, "auth") != 0 || w.nc == NULL ||
	    w.cnonce == NULL || w.cnonce[0] == '\0') {
		*why = "answer without qop=auth, nc and cnonce";
		return V_FAILED;
	}
	nc = strtoul(w.nc, &end, 16);
	if (strlen(w.nc) != 8 || *end != '\0' || nc == 0) {
		*why = "bad nc";
		return V_FAILED;
	}
	if (w.algorithm != NULL && strcasecmp(w.algorithm, "MD5") != 0) {
		*why = "algorithm other than MD5";
		return V_FAILED;
	}
	if (!uri_is_request(home, w.uri, sip->sip_request->rq_url)) {
		*why = "uri= is not the request-URI";
		return V_FAILED;
	}
	/* An unknown username costs the same work and fails the same way:
	 * one HA1 computed whatever the account (or none) keeps. */
	ha1_of(w.username, realm, t != NULL && t->ha1[0] == '\0' &&
	    strcmp(w.username, t->username) == 0 ? t->password : a->dummy,
	    ha1);
	if (t != NULL && strcmp(w.username, t->username) == 0 &&
	    t->ha1[0] != '\0')
		snprintf(ha1, sizeof(ha1), "%s", t->ha1);
	expected(ha1, sip->sip_request->rq_method_name, &w, want);
	for (int i = 0; i < 32; i++)
		lower[i] = (char)(w.response[i] >= 'A' && w.response[i] <= 'F' ?
		    w.response[i] - 'A' + 'a' : w.response[i]);
	lower[32] = '\0';
	if (!same_secret(want, lower) || t == NULL ||
	    strcmp(w.username, t->username) != 0) {
		*why = "wrong credentials";
		return V_FAILED;
	}
	/* Right password: whatever is wrong now is the nonce. */
	if ((rc = nonce_check(a, w.nonce, realm, bind, id)) < 0) {
		*why = rc == -ESTALE ? "nonce expired" : "nonce not ours "
		    "(another key, realm or binding)";
		return V_STALE;
	}
	{
		uint64_t ms = 0;
		for (int i = 0; i < 8; i++)
			ms = ms << 8 | id[i];
		rc = nonce_use(a, id, (uint32_t)nc, (double)ms / 1000 +
		    AUTH_NONCE_LIFETIME);
	}
	if (rc == -EALREADY) {
		a->replayed++;
		*why = "nc already used with this nonce (a replay)";
		return V_STALE;
	}
	if (rc < 0) {
		*why = "too many nonces in use";
		return V_STALE;
	}
	return V_OK;
}

/* What a REGISTER's nonce is bound to: its To user and Contacts. */
static void
binding(const sip_t *sip, bool reg, char *out, size_t len)
{
	size_t off;

	out[0] = '\0';
	if (!reg)
		return;
	off = (size_t)snprintf(out, len, "%s", sip->sip_to &&
	    sip->sip_to->a_url->url_user ? sip->sip_to->a_url->url_user : "");
	for (const sip_contact_t *m = sip->sip_contact; m != NULL &&
	    off < len; m = m->m_next) {
		out[off++] = '\n';
		if (off < len) {
			isize_t n = url_e(out + off, (isize_t)(len - off),
			    m->m_url);
			off += n > 0 ? (size_t)n : 0;
		}
	}
	if (off >= len)
		off = len - 1;
	out[off] = '\0';
}

/* The realm to challenge for: t's, else the first account's (a local
 * account's for a REGISTER, as a known one would be challenged). */
static const char *
realm_for(const struct ctl_conf *conf, const struct trunk *t, bool reg)
{
	const struct trunk *f = reg ? local_first(conf) : NULL;

	if (t != NULL)
		return t->realm;
	for (int i = 0; i < conf->ntrunks && f == NULL; i++)
		if (conf->trunks[i].username[0] != '\0')
			f = &conf->trunks[i];
	if (f == NULL)
		f = local_first(conf);
	return f != NULL ? f->realm : NULL;
}

/* The username the answer names, for the failure limits. */
static const char *
answer_user(su_home_t *home, const msg_auth_t *au)
{
	char *u = au ? param(home, au, "username=") : NULL;

	return u != NULL ? u : "";
}

int
auth_check(struct ctl *c, nua_t *nua, nua_handle_t *nh,
    const struct trunk *t, const sip_t *sip)
{
	su_home_t home[1] = { SU_HOME_INIT(home) };
	bool reg = sip->sip_request->rq_method == sip_method_register;
	const msg_auth_t *creds = reg ?
	    (const msg_auth_t *)sip->sip_authorization :
	    (const msg_auth_t *)sip->sip_proxy_authorization;
	const struct sockaddr *sa =
	    msg_addrinfo(nua_current_request(nua))->ai_addr;
	struct auth *a = auth_get(c);
	const char *realm = realm_for(c->conf, t, reg), *why = "", *user;
	const msg_auth_t *au = NULL;
	enum verdict v = V_CHALLENGE;
	char bind[1024], nonce[AUTH_NONCE_HEX + 1], hdr[400];
	int status;

	if (a == NULL || realm == NULL) {	/* no key, or no account at all */
		nua_respond(nh, SIP_403_FORBIDDEN, TAG_IF(reg,
		    NUTAG_WITH_THIS(nua)), TAG_END());
		su_home_deinit(home);
		return 0;
	}
	binding(sip, reg, bind, sizeof(bind));
	/* An unknown username answering for one of our realms is checked
	 * in that realm, as a known one would be. */
	if (t == NULL && creds != NULL)
		for (int i = 0; i < c->conf->ntrunks && au == NULL; i++)
			if (c->conf->trunks[i].username[0] != '\0' &&
			    (au = for_realm(home, creds,
			    c->conf->trunks[i].realm)) != NULL)
				realm = c->conf->trunks[i].realm;
	if (t == NULL && creds != NULL && au == NULL && c->conf->local)
		for (int i = 0; i < c->conf->local->naccounts && au == NULL;
		    i++) {
			const char *r = c->conf->local->accounts[i].trunk.realm;
			if ((au = for_realm(home, creds, r)) != NULL)
				realm = r;
		}
	if (au == NULL && creds != NULL)
		au = for_realm(home, creds, realm);
	user = answer_user(home, au);
	if (au != NULL && protect_auth_banned(c, user)) {
		v = V_FAILED;
		why = "username banned after failed logins";
	} else if (au != NULL) {
		v = verify(a, home, t, realm, au, sip, bind, &why);
	}
	if (v == V_OK) {
		a->accepted++;
		su_home_deinit(home);
		return 1;
	}
	if (v == V_FAILED) {
		a->failed++;
		c->stats.rejected_auth++;
		protect_auth_failed(c, sa, user);
		clog_msg(c, LL_NOTICE, "%s %s: digest login '%s': %s: 403",
		    sip->sip_request->rq_method_name, sip->sip_call_id->i_id,
		    user, why);
		/* A failed answer is a refused call attempt (cdr.c); the
		 * first challenge is the normal flow and writes nothing. */
		if (!reg) {
			char reason[128];
			snprintf(reason, sizeof(reason),
			    "authentication failed: %s", why);
			cdr_refusal(c, sip, sa, t, 403, reason);
		}
		nua_respond(nh, SIP_403_FORBIDDEN, TAG_IF(reg,
		    NUTAG_WITH_THIS(nua)), TAG_END());
		su_home_deinit(home);
		return 0;
	}
	if (v == V_STALE) {
		a->stale++;
		clog_msg(c, LL_INFO, "%s %s: digest login '%s': %s: "
		    "challenged again", sip->sip_request->rq_method_name,
		    sip->sip_call_id->i_id, user, why);
		/* A replayed answer is a refused attempt, not the normal
		 * flow of an expired nonce: cdr.c records it. */
		if (!reg && strstr(why, "replay") != NULL)
			cdr_refusal(c, sip, sa, t, 407,
			    "authentication replayed");
	}
	a->challenges++;
	nonce_make(a, realm, bind, nonce);
	snprintf(hdr, sizeof(hdr), "Digest realm=\"%s\", nonce=\"%s\", "
	    "algorithm=MD5, qop=\"auth\"%s", realm, nonce,
	    v == V_STALE ? ", stale=true" : "");
	status = reg ? 401 : 407;
	nua_respond(nh, status, sip_status_phrase(status),
	    TAG_IF(reg, NUTAG_WITH_THIS(nua)),
	    TAG_IF(reg, SIPTAG_WWW_AUTHENTICATE_STR(hdr)),
	    TAG_IF(!reg, SIPTAG_PROXY_AUTHENTICATE_STR(hdr)), TAG_END());
	su_home_deinit(home);
	return 0;
}

json_t *
auth_json(struct ctl *c)
{
	struct auth *a = c->auth;

	if (a == NULL)
		return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i}", "challenges", 0,
		    "accepted", 0, "failed", 0, "stale", 0, "replayed", 0,
		    "nonces", 0);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:i}",
	    "challenges", (json_int_t)a->challenges,
	    "accepted", (json_int_t)a->accepted,
	    "failed", (json_int_t)a->failed,
	    "stale", (json_int_t)a->stale,
	    "replayed", (json_int_t)a->replayed, "nonces", a->n);
}
