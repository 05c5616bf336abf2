/*
 * identity.c: identity mapping per trunk. Callers on a trunk present
 * local identities (the From user, e.g. extension 1001); toward the
 * provider they must appear as an external account identity: a From
 * user and display name. Either one to one ("map": each local identity
 * to its own account) or one shared account ("shared") for everybody
 * else. A local identity with no mapping keeps its number, or, with
 * "unmapped": "reject", the call is refused (403). The mapped user
 * replaces the calling number before the gateway's transforms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

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

int
identity_map(struct call *k)
{
	const struct ident_conf *ic = k->trunk->ident;
	const char *user = NULL, *display = NULL;

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
	if (user == NULL)
		return ic->reject_unmapped ? -EPERM : 0;
	clog_msg(k->ctl, LL_DEBUG, "call %s: identity %s -> %s \"%s\"",
	    k->call_id, k->calling_in, user, display);
	snprintf(k->calling, sizeof(k->calling), "%s", user);
	snprintf(k->display, sizeof(k->display), "%s", display);
	return 0;
}
