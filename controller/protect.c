/*
 * protect.c: the controller's edge protection, checked on every request
 * that starts a transaction outside a dialog (b2bua.c asks before
 * anything else):
 *  - scanners: a User-Agent containing one of drop_user_agents (case
 *    insensitive) gets no answer at all, so the scan learns nothing;
 *  - flood: a token bucket per source IP (rate per second, burst); a
 *    source that empties it is banned for `ban` seconds, and every
 *    request it sends meanwhile is dropped unanswered. Sources of the
 *    configured trunks are exempt (they have max_cps) unless
 *    limit_trunks is set;
 *  - size: max_message is the SIP stack's own limit (larger messages
 *    never reach us), max_body refuses larger bodies with 413;
 *  - guessing (issue 12): auth.c reports every failed digest login with
 *    its source and username; auth_failures of them within auth_window
 *    seconds ban the source for auth_ban seconds (dropped like a flood,
 *    whatever the rate setting) or the username (its logins refused
 *    with 403 from anywhere, right password or not, so a distributed
 *    guess gets nowhere). Unknown usernames are counted like known
 *    ones, so the limits tell nothing about which exist.
 * Retransmissions are absorbed by the transaction layer and do not
 * count. Sources are kept in a hash table, idle ones swept every 10 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "controller.h"

#include <sofia-sip/su_time.h>

/* mono_now() is main.c's; these files also link into the unit tests. */

#include <sofia-sip/nta_tag.h>

#define PROT_BUCKETS	4096
#define PROT_MAX_SRC	65536

struct src {
	uint8_t		 ip[16];
	double		 tokens, last, banned_until;
	uint64_t	 dropped;
	int		 auth_fails;	/* in the window from auth_since */
	double		 auth_since;
	struct src	*next;
};

struct uban {			/* failed logins of one username */
	char		 user[64];
	int		 fails;
	double		 since, banned_until;
	uint64_t	 refused;
	struct uban	*next;
};

struct protect {
	uint64_t	 hkey[2];	/* tab's hash key: sources are chosen
					 * by whoever sends */
	struct src	*tab[PROT_BUCKETS];
	int		 nsrc;
	uint64_t	 scanners, flood, bans;
	struct uban	*users[PROT_BUCKETS];
	int		 nusers;
	uint64_t	 auth_failed, auth_bans, user_bans, user_refused;
	su_timer_t	*sweep;
};

static const char *const default_agents[] = { "friendly-scanner",
	"sipvicious", "sipcli", "sip-scan", "sundayddr", "iWar", "SIVuS",
	"VaxSIPUserAgent", "pplsip", NULL };

static struct protect_conf *
conf_new(void)
{
	struct protect_conf *p = calloc(1, sizeof(*p));
	int n = 0;

	if (p == NULL)
		return NULL;
	while (default_agents[n] != NULL)
		n++;
	p->rate = 0;
	p->burst = 0;
	p->ban = 60;
	p->max_message = 65536;
	p->max_body = 32768;
	p->auth_failures = 10;
	p->auth_window = 60;
	p->auth_ban = 600;
	if ((p->agents = calloc((size_t)n, sizeof(*p->agents))) == NULL) {
		free(p);
		return NULL;
	}
	for (p->nagents = 0; p->nagents < n; p->nagents++)
		snprintf(p->agents[p->nagents], sizeof(p->agents[0]), "%s",
		    default_agents[p->nagents]);
	return p;
}

void
protect_conf_free(struct protect_conf *p)
{
	if (p == NULL)
		return;
	free(p->agents);
	free(p);
}

int
protect_parse(struct proto_cfg *c, json_t *o, struct ctl_conf *conf)
{
	static const char *const keys[] = { "rate", "burst", "ban",
	    "max_message", "max_body", "drop_user_agents", "limit_trunks",
	    "auth_failures", "auth_window", "auth_ban", NULL };
	const char *path = "protection";
	struct protect_conf *p;
	double d;
	json_t *arr, *v;
	size_t i;
	char q[PROTO_CFG_PATH];

	if ((p = conf->protect = conf_new()) == NULL)
		return proto_cfg_fail(c, path, "out of memory");
	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return proto_cfg_fail(c, path, "expected an object");
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_number(c, o, path, "rate", &p->rate, 0, 1e6) < 0 ||
	    proto_cfg_number(c, o, path, "burst", &p->burst, 0, 1e6) < 0 ||
	    proto_cfg_number(c, o, path, "ban", &p->ban, 1, 86400 * 7) < 0 ||
	    proto_cfg_bool(c, o, path, "limit_trunks", &p->limit_trunks) < 0)
		return -1;
	d = p->max_message;
	if (proto_cfg_number(c, o, path, "max_message", &d, 1024,
	    1 << 24) < 0)
		return -1;
	p->max_message = (int)d;
	d = p->max_body;
	if (proto_cfg_number(c, o, path, "max_body", &d, 128, 1 << 24) < 0)
		return -1;
	p->max_body = (int)d;
	d = p->auth_failures;
	if (proto_cfg_number(c, o, path, "auth_failures", &d, 0, 1e6) < 0 ||
	    proto_cfg_number(c, o, path, "auth_window", &p->auth_window, 1,
	    86400) < 0 ||
	    proto_cfg_number(c, o, path, "auth_ban", &p->auth_ban, 1,
	    86400 * 7) < 0)
		return -1;
	if (d != (int)d) {
		proto_cfg_join(q, sizeof(q), path, "auth_failures");
		return proto_cfg_fail(c, q, "must be a whole number (0: off)");
	}
	p->auth_failures = (int)d;
	if (p->burst == 0)
		p->burst = p->rate;	/* one second's worth */
	else if (p->rate == 0) {
		proto_cfg_join(q, sizeof(q), path, "burst");
		return proto_cfg_fail(c, q, "a burst needs a 'rate'");
	}
	if (p->burst > 0 && p->burst < 1) {
		proto_cfg_join(q, sizeof(q), path, "burst");
		return proto_cfg_fail(c, q, "must be at least 1 request");
	}
	if ((arr = json_object_get(o, "drop_user_agents")) != NULL) {
		proto_cfg_join(q, sizeof(q), path, "drop_user_agents");
		if (!json_is_array(arr) || json_array_size(arr) > 256)
			return proto_cfg_fail(c, q, "expected an array of up to "
			    "256 strings ([] drops none)");
		free(p->agents);
		p->agents = calloc(json_array_size(arr) + 1, sizeof(*p->agents));
		p->nagents = 0;
		json_array_foreach(arr, i, v) {
			const char *s = json_string_value(v);
			if (s == NULL || s[0] == '\0' ||
			    strlen(s) >= sizeof(p->agents[0])) {
				snprintf(q, sizeof(q), "%s.drop_user_agents[%zu]",
				    path, i);
				return proto_cfg_fail(c, q, "a non-empty string "
				    "of up to %zu characters is required",
				    sizeof(p->agents[0]) - 1);
			}
			snprintf(p->agents[p->nagents++], sizeof(p->agents[0]),
			    "%s", s);
		}
	}
	return 0;
}

static void
ip_key(const struct sockaddr *sa, uint8_t ip[16])
{
	memset(ip, 0, 16);
	if (sa->sa_family == AF_INET) {
		ip[10] = ip[11] = 0xff;	/* v4-mapped */
		memcpy(ip + 12, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(ip, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
	}
}

static unsigned
ip_hash(const struct protect *pr, const uint8_t ip[16])
{
	return (unsigned)(siphash24(ip, 16, pr->hkey) % PROT_BUCKETS);
}

static void
ip_text(const uint8_t ip[16], char *buf, size_t len)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (memcmp(ip, mapped, 12) == 0)
		inet_ntop(AF_INET, ip + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, ip, buf, (socklen_t)len);
}

/* Forget sources that are neither banned nor short of tokens. */
static void
on_sweep(su_root_magic_t *m, su_timer_t *t, void *arg)
{
	struct ctl *c = arg;
	struct protect *pr = c->protect;
	const struct protect_conf *p = c->conf->protect;
	double now = mono_now();

	for (int b = 0; b < PROT_BUCKETS; b++) {
		struct src **pp = &pr->tab[b], *s;
		while ((s = *pp) != NULL) {
			double full = p ? s->tokens + (now - s->last) * p->rate :
			    0;
			bool counting = s->auth_fails > 0 && p != NULL &&
			    now - s->auth_since < p->auth_window;
			if (s->banned_until <= now && !counting && (p == NULL ||
			    p->rate == 0 || full >= p->burst)) {
				*pp = s->next;
				free(s);
				pr->nsrc--;
			} else {
				pp = &s->next;
			}
		}
		for (struct uban **up = &pr->users[b], *u; (u = *up) != NULL;) {
			if (u->banned_until <= now && (p == NULL ||
			    now - u->since >= p->auth_window)) {
				*up = u->next;
				free(u);
				pr->nusers--;
			} else {
				up = &u->next;
			}
		}
	}
}

void
protect_apply(struct ctl *c)
{
	const struct protect_conf *p = c->conf->protect;

	if (c->protect == NULL && (c->protect = calloc(1,
	    sizeof(*c->protect))) != NULL) {
		if (getrandom(c->protect->hkey, sizeof(c->protect->hkey), 0) !=
		    sizeof(c->protect->hkey))
			clog_msg(c, LL_WARNING, "protection: no random hash "
			    "key (getrandom: %s); the source table is "
			    "unkeyed", strerror(errno));
		c->protect->sweep = su_timer_create(su_root_task(c->root),
		    10000);
		su_timer_set_for_ever(c->protect->sweep, on_sweep, c);
	}
	if (c->nua != NULL && p != NULL)
		nua_set_params(c->nua, NTATAG_MAXSIZE((usize_t)p->max_message),
		    TAG_END());
	if (c->nua6 != NULL && p != NULL)	/* stack6.c */
		nua_set_params(c->nua6, NTATAG_MAXSIZE((usize_t)p->max_message),
		    TAG_END());
	listenfilter_apply(c);	/* drop mode: TCP/TLS from trunks only */
}

void
protect_close(struct ctl *c)
{
	struct protect *pr = c->protect;

	if (pr == NULL)
		return;
	for (int b = 0; b < PROT_BUCKETS; b++) {
		while (pr->tab[b] != NULL) {
			struct src *s = pr->tab[b];
			pr->tab[b] = s->next;
			free(s);
		}
		while (pr->users[b] != NULL) {
			struct uban *u = pr->users[b];
			pr->users[b] = u->next;
			free(u);
		}
	}
	su_timer_destroy(pr->sweep);
	free(pr);
	c->protect = NULL;
}

static bool
from_trunk(const struct ctl_conf *conf, const struct sockaddr *sa)
{
	if (conf->srcidx != NULL)
		return srcindex_lookup(conf->srcidx, sa, TP_ANY, true) != NULL;
	for (int i = 0; i < conf->ntrunks; i++)
		for (int k = 0; k < conf->trunks[i].nsources; k++) {
			const struct source *s = &conf->trunks[i].sources[k];
			if (source_match(s, sa, s->transport))
				return true;
		}
	return false;
}

static bool
scanner(const struct protect_conf *p, const sip_t *sip)
{
	const char *ua = sip->sip_user_agent ?
	    sip->sip_user_agent->g_string : NULL;

	if (ua == NULL)
		return false;
	for (int i = 0; i < p->nagents; i++)
		if (strcasestr(ua, p->agents[i]) != NULL)
			return true;
	return false;
}

static struct src *
src_get(struct protect *pr, const uint8_t ip[16], double burst, double now)
{
	unsigned h = ip_hash(pr, ip);
	struct src *s;

	for (s = pr->tab[h]; s != NULL; s = s->next)
		if (memcmp(s->ip, ip, 16) == 0)
			return s;
	if (pr->nsrc >= PROT_MAX_SRC || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	memcpy(s->ip, ip, 16);
	s->tokens = burst;
	s->last = now;
	s->next = pr->tab[h];
	pr->tab[h] = s;
	pr->nsrc++;
	return s;
}

static struct src *
src_find(struct protect *pr, const uint8_t ip[16])
{
	for (struct src *s = pr->tab[ip_hash(pr, ip)]; s != NULL; s = s->next)
		if (memcmp(s->ip, ip, 16) == 0)
			return s;
	return NULL;
}

int
protect_check(struct ctl *c, const struct sockaddr *sa, const sip_t *sip)
{
	const struct protect_conf *p = c->conf->protect;
	struct protect *pr = c->protect;
	double now = mono_now();
	uint8_t ip[16];
	char text[64];
	struct src *s;

	if (p == NULL || pr == NULL || sip == NULL)
		return 0;
	ip_key(sa, ip);
	if (scanner(p, sip)) {
		pr->scanners++;
		ip_text(ip, text, sizeof(text));
		clog_msg(c, LL_DEBUG, "%s from %s: scanner \"%s\": dropped",
		    sip->sip_request->rq_method_name, text,
		    sip->sip_user_agent->g_string);
		return 1;
	}
	/* A ban (flood or failed logins) holds whatever the rate. */
	if ((s = src_find(pr, ip)) != NULL && s->banned_until > now &&
	    (p->limit_trunks || !from_trunk(c->conf, sa))) {
		s->dropped++;
		pr->flood++;
		return 1;
	}
	if (p->rate > 0 && (p->limit_trunks || !from_trunk(c->conf, sa)) &&
	    (s = src_get(pr, ip, p->burst, now)) != NULL) {
		s->tokens += (now - s->last) * p->rate;
		if (s->tokens > p->burst)
			s->tokens = p->burst;
		s->last = now;
		if (s->tokens < 1) {
			s->banned_until = now + p->ban;
			s->dropped++;
			pr->flood++;
			pr->bans++;
			ip_text(ip, text, sizeof(text));
			clog_msg(c, LL_WARNING, "source %s: more than %g "
			    "requests/s: banned for %gs", text, p->rate, p->ban);
			return 1;
		}
		s->tokens -= 1;
	}
	if (sip->sip_payload != NULL &&
	    sip->sip_payload->pl_len > (usize_t)p->max_body)
		return 413;
	return 0;
}

int
protect_silent(struct ctl *c, const struct sockaddr *sa, const sip_t *sip,
    bool count)
{
	const struct protect_conf *p = c->conf->protect;
	struct protect *pr = c->protect;
	uint8_t ip[16];
	struct src *s;

	if (p == NULL || pr == NULL || sip == NULL)
		return 0;
	if (scanner(p, sip)) {
		pr->scanners += count;
		return 1;
	}
	ip_key(sa, ip);
	if ((s = src_find(pr, ip)) != NULL && s->banned_until > mono_now() &&
	    (p->limit_trunks || !from_trunk(c->conf, sa))) {
		s->dropped += count;
		pr->flood += count;
		return 2;
	}
	return 0;
}

static unsigned
user_hash(const char *user)
{
	unsigned h = 2166136261u;

	for (; *user != '\0'; user++)
		h = (h ^ (uint8_t)*user) * 16777619u;
	return h % PROT_BUCKETS;
}

static struct uban *
user_get(struct protect *pr, const char *user, bool create, double now)
{
	unsigned h = user_hash(user);
	struct uban *u;

	for (u = pr->users[h]; u != NULL; u = u->next)
		if (strncmp(u->user, user, sizeof(u->user) - 1) == 0)
			return u;
	if (!create || pr->nusers >= PROT_MAX_SRC ||
	    (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	snprintf(u->user, sizeof(u->user), "%s", user);
	u->since = now;
	u->next = pr->users[h];
	pr->users[h] = u;
	pr->nusers++;
	return u;
}

/* One more failure in a window that restarts once it has passed: true
 * when this one reaches the limit. */
static bool
count_failure(int *fails, double *since, const struct protect_conf *p,
    double now)
{
	if (*fails == 0 || now - *since >= p->auth_window) {
		*fails = 0;
		*since = now;
	}
	return ++*fails >= p->auth_failures;
}

void
protect_auth_failed(struct ctl *c, const struct sockaddr *sa,
    const char *user)
{
	const struct protect_conf *p = c->conf->protect;
	struct protect *pr = c->protect;
	double now = mono_now();
	uint8_t ip[16];
	char text[64];
	struct src *s;
	struct uban *u;

	if (p == NULL || pr == NULL)
		return;
	pr->auth_failed++;
	if (p->auth_failures == 0)
		return;
	ip_key(sa, ip);
	if ((s = src_get(pr, ip, p->burst, now)) != NULL &&
	    s->banned_until <= now &&
	    count_failure(&s->auth_fails, &s->auth_since, p, now)) {
		s->banned_until = now + p->auth_ban;
		s->auth_fails = 0;
		pr->auth_bans++;
		ip_text(ip, text, sizeof(text));
		clog_msg(c, LL_WARNING, "source %s: %d failed logins in %gs: "
		    "banned for %gs", text, p->auth_failures, p->auth_window,
		    p->auth_ban);
	}
	if (user[0] != '\0' && (u = user_get(pr, user, true, now)) != NULL &&
	    u->banned_until <= now &&
	    count_failure(&u->fails, &u->since, p, now)) {
		u->banned_until = now + p->auth_ban;
		u->fails = 0;
		pr->user_bans++;
		clog_msg(c, LL_WARNING, "username '%s': %d failed logins in "
		    "%gs: its logins are refused for %gs", u->user,
		    p->auth_failures, p->auth_window, p->auth_ban);
	}
}

bool
protect_auth_banned(struct ctl *c, const char *user)
{
	struct protect *pr = c->protect;
	double now = mono_now();
	struct uban *u;

	if (pr == NULL || user[0] == '\0' ||
	    (u = user_get(pr, user, false, now)) == NULL ||
	    u->banned_until <= now)
		return false;
	u->refused++;
	pr->user_refused++;
	return true;
}

bool
protect_source_banned(struct ctl *c, const struct sockaddr *sa)
{
	struct protect *pr = c->protect;
	uint8_t ip[16];
	struct src *s;

	if (pr == NULL)
		return false;
	ip_key(sa, ip);
	if ((s = src_find(pr, ip)) == NULL || s->banned_until <= mono_now())
		return false;
	s->dropped++;
	return true;
}

json_t *
protect_json(struct ctl *c)
{
	const struct protect_conf *p = c->conf->protect;
	struct protect *pr = c->protect;
	json_t *bans = json_array(), *users = json_array();
	double now = mono_now();
	char text[64];

	if (pr == NULL || p == NULL) {
		json_decref(users);
		return json_pack("{s:o}", "banned", bans);
	}
	for (int b = 0; b < PROT_BUCKETS; b++)
		for (struct src *s = pr->tab[b]; s != NULL; s = s->next) {
			if (s->banned_until <= now)
				continue;
			ip_text(s->ip, text, sizeof(text));
			json_array_append_new(bans, json_pack("{s:s,s:f,s:I}",
			    "source", text, "remaining", s->banned_until - now,
			    "dropped", (json_int_t)s->dropped));
		}
	for (int b = 0; b < PROT_BUCKETS; b++)
		for (struct uban *u = pr->users[b]; u != NULL; u = u->next)
			if (u->banned_until > now)
				json_array_append_new(users, json_pack(
				    "{s:s,s:f,s:I}", "username", u->user,
				    "remaining", u->banned_until - now,
				    "refused", (json_int_t)u->refused));
	return json_pack("{s:f,s:f,s:f,s:i,s:i,s:i,s:I,s:I,s:I,s:i,s:o,"
	    "s:i,s:f,s:f,s:I,s:I,s:I,s:I,s:o}",
	    "rate", p->rate, "burst", p->burst, "ban", p->ban,
	    "max_message", p->max_message, "max_body", p->max_body,
	    "user_agents", p->nagents,
	    "dropped_scanners", (json_int_t)pr->scanners,
	    "dropped_flood", (json_int_t)pr->flood,
	    "bans", (json_int_t)pr->bans,
	    "sources", pr->nsrc, "banned", bans,
	    "auth_failures", p->auth_failures, "auth_window", p->auth_window,
	    "auth_ban", p->auth_ban,
	    "auth_failed", (json_int_t)pr->auth_failed,
	    "auth_bans", (json_int_t)pr->auth_bans,
	    "auth_user_bans", (json_int_t)pr->user_bans,
	    "auth_user_refused", (json_int_t)pr->user_refused,
	    "banned_users", users);
}
