/*
 * relayif.c: which relay interface each leg of a call uses (issue 15).
 * A multi-homed relay has an access side and a core side; the leg that
 * faces a trunk's caller takes the trunk's `relay_interface`, the leg
 * that faces a gateway takes the gateway's, so a customer never sees a
 * core address and a carrier never an access one, whichever way the
 * call goes. A local account names its phones' side the same way, for
 * its calls and for calls to its registered contacts. A side that names
 * none keeps the relay's `interfaces`.
 */
#include <stdio.h>
#include <string.h>

#include "controller.h"

/*
 * The `relay_interface` of a trunk or gateway at `path` into out ("" when
 * absent). It needs every relay's `interfaces`: they name the other
 * side's default, and relayd's own default cannot be named.
 */
int
relayif_parse(struct proto_cfg *c, json_t *o, const char *path,
    const struct ctl_conf *conf, char *out, size_t len)
{
	char p[PROTO_CFG_PATH];

	if (proto_cfg_string(c, o, path, "relay_interface", out, len,
	    false) < 0)
		return -1;
	if (out[0] == '\0')
		return 0;
	snprintf(p, sizeof(p), "%s.relay_interface", path);
	for (int i = 0; i < conf->nrelays; i++)
		if (conf->relays[i].interfaces[0][0] == '\0')
			return proto_cfg_fail(c, p, "'%s' needs 'interfaces' "
			    "on every relay (relay '%s' has none): they name "
			    "the default for the other side", out,
			    conf->relays[i].name);
	return 0;
}

/*
 * The offer's `interfaces` for call k on relay rc: [caller side, callee
 * side], or NULL when neither the relay nor the call names one (relayd's
 * default). The callee side is the gateway being tried when the session
 * is made; a failover to another gateway keeps that session's interface.
 */
json_t *
relayif_names(const struct call *k, const struct relay_conf *rc)
{
	const char *side[2] = { rc->interfaces[0], rc->interfaces[1] };
	const struct gateway *gw = k->ncand > 0 && k->attempt < k->ncand ?
	    k->cand[k->attempt].gw : NULL;

	if (k->trunk != NULL && k->trunk->relay_interface[0] != '\0')
		side[0] = k->trunk->relay_interface;
	if (gw != NULL && gw->relay_interface[0] != '\0')
		side[1] = gw->relay_interface;
	else if (gw != NULL && k->callee != NULL &&
	    k->diverted_by[0] == '\0' &&
	    strcmp(k->cand[k->attempt].carrier, "local") == 0 &&
	    k->callee->trunk.relay_interface[0] != '\0')
		side[1] = k->callee->trunk.relay_interface;	/* its contact */
	if (side[0][0] == '\0' || side[1][0] == '\0')
		return NULL;
	return json_pack("[s,s]", side[0], side[1]);
}
