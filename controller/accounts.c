/*
 * accounts.c: the configuration of local accounts ("accounts",
 * "registrar"), emergency numbers ("emergency") and ENUM ("enum"), and
 * the lookups over it (accounts by username or alias, emergency numbers
 * and regions). Nothing here depends on the running daemon, so the
 * config unit tests link it alone. See registrar.c for what an account
 * is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"


typedef struct proto_cfg cfg_t;
#define fail	proto_cfg_fail

/* Field paths are bounded; a cut one still names the place. */
static void __attribute__((format(printf, 3, 4)))
pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- configuration ---- */

static int
parse_divert(cfg_t *c, json_t *o, const char *path, struct divert_conf *d)
{
	static const char *const keys[] = { "unconditional", "busy",
	    "no_answer", "no_answer_timeout", NULL };

	d->no_answer_timeout = 20;
	if (o == NULL)
		return 0;
	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "unconditional", d->unconditional,
	    sizeof(d->unconditional), false) < 0 ||
	    proto_cfg_string(c, o, path, "busy", d->busy, sizeof(d->busy),
	    false) < 0 ||
	    proto_cfg_string(c, o, path, "no_answer", d->no_answer,
	    sizeof(d->no_answer), false) < 0 ||
	    proto_cfg_number(c, o, path, "no_answer_timeout",
	    &d->no_answer_timeout, 1, 600) < 0)
		return -1;
	return 0;
}

static int
parse_account(cfg_t *c, json_t *o, const char *path, struct ctl_conf *conf,
    struct account *a, su_root_t *root)
{
	static const char *const keys[] = { "username", "password", "ha1",
	    "realm", "aliases", "quick_dial", "region", "max_calls",
	    "max_cps", "diversion", "numbers", "default_cli", "relay_interface",
	    "forking", NULL };
	static const char *const dkeys[] = { "username", "password", "ha1",
	    "realm", NULL };
	char p[PROTO_CFG_PATH];
	json_t *dig, *al, *v;
	size_t i;
	double mc = 0;
	int rc;

	if (proto_cfg_keys(c, o, path, keys) < 0 ||
	    proto_cfg_string(c, o, path, "quick_dial", a->quick_dial,
	    sizeof(a->quick_dial), false) < 0 ||
	    proto_cfg_string(c, o, path, "region", a->region,
	    sizeof(a->region), false) < 0 ||
	    proto_cfg_number(c, o, path, "max_calls", &mc, 0, 1000000) < 0 ||
	    proto_cfg_number(c, o, path, "max_cps", &a->trunk.max_cps, 0,
	    100000) < 0 ||
	    relayif_parse(c, o, path, conf, a->trunk.relay_interface,
	    sizeof(a->trunk.relay_interface)) < 0 ||
	    fork_parse(c, o, path, &a->forking) < 0)	/* fork.c */
		return -1;
	a->trunk.max_calls = (int)mc;
	if (strspn(a->quick_dial, "0123456789+") != strlen(a->quick_dial)) {
		pathf(p, sizeof(p), "%s.quick_dial", path);
		return fail(c, p, "'%s': digits only", a->quick_dial);
	}
	/* The digest fields are the trunk's: parsed by config.c. */
	dig = json_object();
	for (const char *const *k = dkeys; *k != NULL; k++)
		if ((v = json_object_get(o, *k)) != NULL)
			json_object_set(dig, *k, v);
	rc = parse_digest(c, dig, path, &a->trunk, root);
	json_decref(dig);
	if (rc < 0)
		return -1;
	snprintf(a->trunk.name, sizeof(a->trunk.name), "%s",
	    a->trunk.username);
	for (int k = 0; k < conf->ntrunks; k++)
		if (strcmp(conf->trunks[k].name, a->trunk.name) == 0 ||
		    strcmp(conf->trunks[k].username, a->trunk.username) == 0) {
			pathf(p, sizeof(p), "%s.username", path);
			return fail(c, p, "'%s' is also a trunk's name or "
			    "digest username", a->trunk.username);
		}
	al = json_object_get(o, "aliases");
	pathf(p, sizeof(p), "%s.aliases", path);
	if (al != NULL && !json_is_array(al))
		return fail(c, p, "expected an array of numbers or names");
	a->aliases = calloc(json_array_size(al) + 1, sizeof(*a->aliases));
	json_array_foreach(al, i, v) {
		pathf(p, sizeof(p), "%s.aliases[%zu]", path, i);
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= sizeof(a->aliases[0]))
			return fail(c, p, "expected a non-empty string of at "
			    "most %zu characters", sizeof(a->aliases[0]) - 1);
		snprintf(a->aliases[i], sizeof(a->aliases[i]), "%s",
		    json_string_value(v));
		a->naliases++;
	}
	if (trust_parse(c, o, path, &a->trunk, true) < 0)	/* identity.c */
		return -1;
	pathf(p, sizeof(p), "%s.diversion", path);
	return parse_divert(c, json_object_get(o, "diversion"), p, &a->divert);
}

static int
parse_registrar(cfg_t *c, json_t *o, struct local_conf *lc)
{
	static const char *const keys[] = { "min_expires", "max_expires",
	    "default_expires", "contact_networks", "nat_keepalive", NULL };
	double mn = 60, mx = 3600, df = 600, ka = 25;

	if (o != NULL && (proto_cfg_keys(c, o, "registrar", keys) < 0 ||
	    proto_cfg_number(c, o, "registrar", "min_expires", &mn, 1,
	    86400) < 0 ||
	    proto_cfg_number(c, o, "registrar", "max_expires", &mx, 1,
	    7 * 86400) < 0 ||
	    proto_cfg_number(c, o, "registrar", "default_expires", &df, 1,
	    7 * 86400) < 0 ||
	    targets_parse_networks(c, json_object_get(o, "contact_networks"),
	    "registrar.contact_networks", &lc->contact_nets,
	    &lc->ncontact_nets) < 0 ||
	    proto_cfg_number(c, o, "registrar", "nat_keepalive", &ka, 0,
	    3600) < 0))	/* natping.c */
		return -1;
	lc->nat_keepalive = ka;
	if (mn > mx || df < mn || df > mx)
		return fail(c, "registrar", "need min_expires <= "
		    "default_expires <= max_expires");
	lc->min_expires = (int)mn;
	lc->max_expires = (int)mx;
	lc->default_expires = (int)df;
	return 0;
}


static int
emergency_parse(cfg_t *, json_t *, struct local_conf *);
static int
enum_parse(cfg_t *, json_t *, struct local_conf *);

int
local_conf_parse(cfg_t *c, json_t *root, struct ctl_conf *conf,
    su_root_t *sroot)
{
	struct local_conf *lc;
	json_t *arr = json_object_get(root, "accounts"), *v;
	char p[PROTO_CFG_PATH];
	size_t i;

	if ((lc = conf->local = calloc(1, sizeof(*lc))) == NULL)
		return fail(c, "accounts", "out of memory");
	if (arr != NULL && !json_is_array(arr))
		return fail(c, "accounts", "expected an array");
	lc->accounts = calloc(json_array_size(arr) + 1, sizeof(*lc->accounts));
	json_array_foreach(arr, i, v) {
		pathf(p, sizeof(p), "accounts[%zu]", i);
		if (parse_account(c, v, p, conf, &lc->accounts[i], sroot) < 0)
			return -1;
		lc->naccounts++;
		for (int k = 0; k < (int)i; k++)
			if (strcmp(lc->accounts[k].trunk.username,
			    lc->accounts[i].trunk.username) == 0)
				return fail(c, p, "duplicate account '%s'",
				    lc->accounts[i].trunk.username);
	}
	/* Aliases must name one account only. */
	for (int a = 0; a < lc->naccounts; a++)
		for (int k = 0; k < lc->accounts[a].naliases; k++) {
			const char *al = lc->accounts[a].aliases[k];
			struct account *o = local_find(conf, al);
			if (o != NULL && o != &lc->accounts[a]) {
				pathf(p, sizeof(p), "accounts[%d].aliases[%d]",
				    a, k);
				return fail(c, p, "'%s' already names account "
				    "'%s'", al, o->trunk.username);
			}
		}
	if (parse_registrar(c, json_object_get(root, "registrar"), lc) < 0 ||
	    emergency_parse(c, json_object_get(root, "emergency"), lc) < 0 ||
	    enum_parse(c, json_object_get(root, "enum"), lc) < 0)
		return -1;
	for (int a = 0; a < lc->naccounts; a++)
		if (lc->accounts[a].region[0] != '\0' &&
		    emergency_region_uri(conf, lc->accounts[a].region) == NULL) {
			pathf(p, sizeof(p), "accounts[%d].region", a);
			return fail(c, p, "no emergency region '%s'",
			    lc->accounts[a].region);
		}
	return 0;
}

void
local_conf_free(struct local_conf *lc)
{
	if (lc == NULL)
		return;
	for (int i = 0; lc->accounts != NULL && i < lc->naccounts + 1; i++)
		free(lc->accounts[i].aliases);
	free(lc->accounts);
	free(lc->regions);
	free(lc->contact_nets);
	free(lc->enum_domains);
	free(lc);
}

/* ---- lookups ---- */

/* An account by username or alias. */
struct account *
local_find(const struct ctl_conf *conf, const char *name)
{
	const struct local_conf *lc = conf->local;

	if (lc == NULL || name == NULL || name[0] == '\0')
		return NULL;
	for (int i = 0; i < lc->naccounts; i++) {
		struct account *a = &lc->accounts[i];
		if (strcmp(a->trunk.username, name) == 0)
			return a;
		for (int k = 0; k < a->naliases; k++)
			if (strcmp(a->aliases[k], name) == 0)
				return a;
	}
	return NULL;
}

/* The trunk of the account with this digest username (not an alias). */
struct trunk *
local_identify(const struct ctl_conf *conf, const char *user)
{
	const struct local_conf *lc = conf->local;

	for (int i = 0; lc != NULL && user != NULL && i < lc->naccounts; i++)
		if (strcmp(lc->accounts[i].trunk.username, user) == 0)
			return &lc->accounts[i].trunk;
	return NULL;
}

struct trunk *
local_first(const struct ctl_conf *conf)
{
	return conf->local != NULL && conf->local->naccounts > 0 ?
	    &conf->local->accounts[0].trunk : NULL;
}

/* The account a trunk belongs to, or NULL for a real trunk. */
struct account *
local_account(const struct ctl_conf *conf, const struct trunk *t)
{
	const struct local_conf *lc = conf->local;

	if (lc == NULL || t == NULL || lc->naccounts == 0 ||
	    (const void *)t < (const void *)lc->accounts ||
	    (const void *)t >= (const void *)(lc->accounts + lc->naccounts))
		return NULL;
	return (struct account *)((const char *)t -
	    offsetof(struct account, trunk));
}

/* ---- emergency ---- */

static int
emergency_parse(cfg_t *c, json_t *o, struct local_conf *lc)
{
	static const char *const keys[] = { "numbers", "regions", NULL };
	static const char *const rkeys[] = { "name", "destination", NULL };
	json_t *nums, *regs, *v;
	char p[PROTO_CFG_PATH];
	size_t i;

	if (o == NULL)
		return 0;
	if (proto_cfg_keys(c, o, "emergency", keys) < 0)
		return -1;
	nums = json_object_get(o, "numbers");
	if (nums == NULL || !json_is_array(nums) || json_array_size(nums) == 0 ||
	    json_array_size(nums) > 16)
		return fail(c, nums ? "emergency.numbers" : "emergency",
		    "'numbers': an array of 1..16 numbers is required");
	json_array_foreach(nums, i, v) {
		const char *s = json_string_value(v);
		snprintf(p, sizeof(p), "emergency.numbers[%zu]", i);
		if (s == NULL || s[0] == '\0' || strlen(s) >= 16 ||
		    strspn(s, "0123456789*#+") != strlen(s))
			return fail(c, p, "expected a number of up to 15 digits");
		snprintf(lc->em_numbers[i], sizeof(lc->em_numbers[i]), "%s", s);
		lc->nem_numbers++;
	}
	regs = json_object_get(o, "regions");
	if (regs == NULL || !json_is_array(regs) || json_array_size(regs) == 0)
		return fail(c, regs ? "emergency.regions" : "emergency",
		    "'regions': a non-empty array of {name, destination} is "
		    "required");
	lc->regions = calloc(json_array_size(regs), sizeof(*lc->regions));
	json_array_foreach(regs, i, v) {
		struct em_region *r = &lc->regions[i];
		snprintf(p, sizeof(p), "emergency.regions[%zu]", i);
		if (proto_cfg_keys(c, v, p, rkeys) < 0 ||
		    proto_cfg_string(c, v, p, "name", r->name, sizeof(r->name),
		    true) < 0 ||
		    proto_cfg_string(c, v, p, "destination", r->uri,
		    sizeof(r->uri), true) < 0)
			return -1;
		if (strncmp(r->uri, "sip:", 4) != 0 &&
		    strncmp(r->uri, "sips:", 5) != 0) {
			snprintf(p, sizeof(p), "emergency.regions[%zu]."
			    "destination", i);
			return fail(c, p, "'%s' is not a sip: or sips: URI",
			    r->uri);
		}
		for (int k = 0; k < lc->nregions; k++)
			if (strcmp(lc->regions[k].name, r->name) == 0)
				return fail(c, p, "duplicate region '%s'",
				    r->name);
		lc->nregions++;
	}
	return 0;
}

bool
emergency_number(const struct ctl_conf *conf, const char *number)
{
	const struct local_conf *lc = conf->local;

	for (int i = 0; lc != NULL && number != NULL && i < lc->nem_numbers; i++)
		if (strcmp(lc->em_numbers[i], number) == 0)
			return true;
	return false;
}

const char *
emergency_region_uri(const struct ctl_conf *conf, const char *region)
{
	const struct local_conf *lc = conf->local;

	if (lc == NULL || lc->nregions == 0)
		return NULL;
	if (region == NULL || region[0] == '\0')
		region = "default";
	for (int i = 0; i < lc->nregions; i++)
		if (strcmp(lc->regions[i].name, region) == 0)
			return lc->regions[i].uri;
	return strcmp(region, "default") == 0 ? lc->regions[0].uri : NULL;
}

/* ---- ENUM ---- */

static int
enum_parse(cfg_t *c, json_t *o, struct local_conf *lc)
{
	static const char *const keys[] = { "suffix", "resolv_conf",
	    "timeout", "domains", "gateways", NULL };

	lc->enum_timeout = 2;
	if (o == NULL)
		return 0;
	if (proto_cfg_keys(c, o, "enum", keys) < 0 ||
	    proto_cfg_string(c, o, "enum", "suffix", lc->enum_suffix,
	    sizeof(lc->enum_suffix), true) < 0 ||
	    proto_cfg_string(c, o, "enum", "resolv_conf", lc->enum_resolv,
	    sizeof(lc->enum_resolv), false) < 0 ||
	    proto_cfg_number(c, o, "enum", "timeout", &lc->enum_timeout,
	    0.1, 30) < 0 ||
	    proto_cfg_bool(c, o, "enum", "gateways", &lc->enum_gateways) < 0 ||
	    targets_parse_domains(c, json_object_get(o, "domains"),
	    "enum.domains", &lc->enum_domains, &lc->nenum_domains) < 0)
		return -1;
	return 0;
}

