/*
 * config.c: relayd's JSON configuration. Everything is validated before
 * the daemon starts; an error names the file, the line and the field
 * ("relayd.json:12: ports.min: must be even"). Unknown fields are errors
 * too: a misspelt key silently ignored is a production outage later.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

/* The helpers are shared with the controller's loader (proto/confread.c). */
#define cfgctx		proto_cfg
#define fail		proto_cfg_fail
#define join		proto_cfg_join
#define check_keys	proto_cfg_keys
#define get_string	proto_cfg_string
#define get_number	proto_cfg_number
#define get_bool	proto_cfg_bool

static int
parse_tcp(struct cfgctx *c, json_t *tcp, struct relayd_conf *conf)
{
	static const char *const keys[] = { "listen", "secret", NULL };
	char listen[80];

	if (check_keys(c, tcp, "control.tcp", keys) < 0 ||
	    get_string(c, tcp, "control.tcp", "listen", listen, sizeof(listen),
	    true) < 0 ||
	    get_string(c, tcp, "control.tcp", "secret", conf->tcp_secret,
	    sizeof(conf->tcp_secret), true) < 0)
		return -1;
	if (addr_parse_hostport(listen, &conf->tcp_listen) < 0)
		return fail(c, "control.tcp.listen", "'%s' is not ADDRESS:PORT",
		    listen);
	if (strlen(conf->tcp_secret) < 16)
		return fail(c, "control.tcp.secret", "at least 16 characters "
		    "are required");
	conf->tcp_enabled = true;
	return 0;
}

static int
parse_control(struct cfgctx *c, json_t *ctl, struct relayd_conf *conf)
{
	static const char *const keys[] = { "socket", "mode", "tcp",
	    "idle_timeout", "max_pending", NULL };
	double pending = conf->control_max_pending;
	json_t *tcp;

	if (ctl == NULL)
		return 0;
	if (check_keys(c, ctl, "control", keys) < 0 ||
	    get_string(c, ctl, "control", "socket", conf->socket_path,
	    sizeof(conf->socket_path), false) < 0 ||
	    proto_cfg_mode(c, ctl, "control", "mode", &conf->socket_mode) < 0 ||
	    get_number(c, ctl, "control", "idle_timeout",
	    &conf->control_idle_timeout, 0.1, 3600) < 0 ||
	    get_number(c, ctl, "control", "max_pending", &pending, 1,
	    4096) < 0)
		return -1;
	if (pending != (int)pending)
		return fail(c, "control.max_pending", "must be an integer");
	conf->control_max_pending = (int)pending;
	tcp = json_object_get(ctl, "tcp");
	return tcp == NULL ? 0 : parse_tcp(c, tcp, conf);
}

static int
parse_iface(struct cfgctx *c, json_t *o, int i, struct relayd_conf *conf)
{
	static const char *const keys[] = { "name", "bind", "advertise", NULL };
	struct iface_conf *ifc = &conf->ifaces[i];
	char path[32], p[64], bind[64];
	struct sockaddr_storage tmp;

	memset(ifc, 0, sizeof(*ifc));	/* no default leaks into a listed one */
	snprintf(path, sizeof(path), "interfaces[%d]", i);
	if (check_keys(c, o, path, keys) < 0 ||
	    get_string(c, o, path, "name", ifc->name, sizeof(ifc->name),
	    true) < 0 ||
	    get_string(c, o, path, "bind", bind, sizeof(bind), true) < 0 ||
	    get_string(c, o, path, "advertise", ifc->advertise,
	    sizeof(ifc->advertise), false) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s.bind", path);
	if (addr_parse(bind, 0, &ifc->bind) < 0)
		return fail(c, p, "'%s' is not an IPv4 or IPv6 address", bind);
	snprintf(p, sizeof(p), "%s.advertise", path);
	if (ifc->advertise[0] == '\0') {
		if (addr_is_any(&ifc->bind))
			return fail(c, path, "'advertise' is required when "
			    "bind is a wildcard address");
		strcpy(ifc->advertise, bind);
	} else if (addr_parse(ifc->advertise, 0, &tmp) < 0) {
		return fail(c, p, "'%s' is not an IPv4 or IPv6 address",
		    ifc->advertise);
	}
	for (int j = 0; j < i; j++)
		if (strcmp(conf->ifaces[j].name, ifc->name) == 0) {
			snprintf(p, sizeof(p), "%s.name", path);
			return fail(c, p, "duplicate interface name '%s'",
			    ifc->name);
		}
	return 0;
}

static int
parse_ifaces(struct cfgctx *c, json_t *arr, struct relayd_conf *conf)
{
	size_t i;
	json_t *v;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return fail(c, "interfaces", "expected an array");
	if (json_array_size(arr) < 1 || json_array_size(arr) > RELAYD_MAX_IFACES)
		return fail(c, "interfaces", "between 1 and %d interfaces",
		    RELAYD_MAX_IFACES);
	conf->nifaces = (int)json_array_size(arr);
	json_array_foreach(arr, i, v)
		if (parse_iface(c, v, (int)i, conf) < 0)
			return -1;
	return 0;
}

static int
parse_ports(struct cfgctx *c, json_t *o, struct relayd_conf *conf)
{
	static const char *const keys[] = { "min", "max", NULL };
	double min = conf->port_min, max = conf->port_max;

	if (o == NULL)
		return 0;
	if (check_keys(c, o, "ports", keys) < 0 ||
	    get_number(c, o, "ports", "min", &min, 1024, 65534) < 0 ||
	    get_number(c, o, "ports", "max", &max, 1025, 65535) < 0)
		return -1;
	if (min != (int)min || ((int)min & 1) != 0)
		return fail(c, "ports.min", "must be an even integer "
		    "(RTP takes the even port, RTCP the odd one)");
	if (max != (int)max || max <= min)
		return fail(c, "ports.max", "must be an integer above ports.min");
	conf->port_min = (uint16_t)min;
	conf->port_max = (uint16_t)max;
	return 0;
}

static int
parse_timeouts(struct cfgctx *c, json_t *o, struct relayd_conf *conf)
{
	static const char *const keys[] = { "setup", "inactivity", "hold",
	    "max_duration", "ringing", NULL };
	const double day = 7 * 86400.0;

	if (o == NULL)
		return 0;
	if (check_keys(c, o, "timeouts", keys) < 0 ||
	    get_number(c, o, "timeouts", "setup", &conf->setup_timeout, 0.1,
	    day) < 0 ||
	    get_number(c, o, "timeouts", "ringing", &conf->ringing_timeout,
	    0.1, day) < 0 ||
	    get_number(c, o, "timeouts", "inactivity",
	    &conf->inactivity_timeout, 0.1, day) < 0 ||
	    get_number(c, o, "timeouts", "hold", &conf->hold_timeout, 0,
	    day) < 0 ||
	    get_number(c, o, "timeouts", "max_duration", &conf->max_duration,
	    0, day) < 0)
		return -1;
	return 0;
}

/* "journal": an absolute directory, or null to run without one. */
static int
parse_journal(struct cfgctx *c, json_t *root, struct relayd_conf *conf)
{
	json_t *v = json_object_get(root, "journal");
	int rc;

	if (json_is_null(v)) {
		conf->journal[0] = '\0';
		return 0;
	}
	rc = get_string(c, root, "", "journal", conf->journal,
	    sizeof(conf->journal), false);
	if (rc <= 0)
		return rc;
	if (conf->journal[0] != '/')
		return fail(c, "journal", "'%s' is not an absolute path (or "
		    "null to disable the journal)", conf->journal);
	return 0;
}

/* "endpoint_learning": how a leg finds its peer (latch.c). */
static int
parse_learning(struct cfgctx *c, json_t *o, struct relayd_conf *conf)
{
	static const char *const keys[] = { "mode", "window", "roaming_ssrc",
	    NULL };
	static const char *const modes[] = { [LEARN_HEURISTIC] = "heuristic",
	    [LEARN_IMMEDIATE] = "immediate", [LEARN_SDP_ONLY] = "sdp-only" };
	char mode[16] = "";

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return fail(c, "endpoint_learning", "expected an object");
	if (check_keys(c, o, "endpoint_learning", keys) < 0 ||
	    get_string(c, o, "endpoint_learning", "mode", mode, sizeof(mode),
	    false) < 0 ||
	    get_number(c, o, "endpoint_learning", "window",
	    &conf->learn_window, 0.1, 60) < 0 ||
	    get_bool(c, o, "endpoint_learning", "roaming_ssrc",
	    &conf->roaming_ssrc) < 0)
		return -1;
	if (mode[0] == '\0')
		return 0;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i]) == 0) {
			conf->learn_mode = (enum learn_mode)i;
			return 0;
		}
	return fail(c, "endpoint_learning.mode", "'%s' is not one of "
	    "heuristic, immediate, sdp-only", mode);
}

/* "webrtc": the DTLS certificate of WebRTC legs (else one made at start). */
static int
parse_webrtc(struct cfgctx *c, json_t *o, struct relayd_conf *conf)
{
	static const char *const keys[] = { "certificate", "key",
	    "consent_timeout", "start", NULL };
	char start[16] = "startup";

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return fail(c, "webrtc", "expected an object");
	if (check_keys(c, o, "webrtc", keys) < 0 ||
	    get_string(c, o, "webrtc", "certificate", conf->dtls_cert,
	    sizeof(conf->dtls_cert), false) < 0 ||
	    get_string(c, o, "webrtc", "key", conf->dtls_key,
	    sizeof(conf->dtls_key), false) < 0 ||
	    get_number(c, o, "webrtc", "consent_timeout",
	    &conf->consent_timeout, 0.5, 300) < 0 ||
	    get_string(c, o, "webrtc", "start", start, sizeof(start),
	    false) < 0)
		return -1;
	if (strcmp(start, "first_leg") == 0)
		conf->rtc_first_leg = true;
	else if (strcmp(start, "startup") != 0)
		return fail(c, "webrtc.start", "'%s': expected \"startup\" "
		    "or \"first_leg\"", start);
	if (conf->dtls_cert[0] == '\0' && conf->dtls_key[0] == '\0')
		return 0;	/* a certificate made at start */
	if (conf->dtls_key[0] == '\0')
		return fail(c, "webrtc", "'key' is required with 'certificate'");
	if (conf->dtls_cert[0] == '\0')
		return fail(c, "webrtc", "'certificate' is required with 'key'");
	if (conf->dtls_cert[0] != '/')
		return fail(c, "webrtc.certificate", "'%s' is not an absolute "
		    "path", conf->dtls_cert);
	if (conf->dtls_key[0] != '/')
		return fail(c, "webrtc.key", "'%s' is not an absolute path",
		    conf->dtls_key);
	return 0;
}

static int
parse_top(struct cfgctx *c, json_t *root, struct relayd_conf *conf)
{
	static const char *const keys[] = { "control", "interfaces", "ports",
	    "timeouts", "backend", "log_level", "strict_source", "journal",
	    "endpoint_learning", "webrtc", NULL };
	static const char *const backends[] = { "auto", "userspace", "nft",
	    "kmod" };
	char level[16] = "";
	bool ok = false;

	if (check_keys(c, root, "", keys) < 0 ||
	    parse_control(c, json_object_get(root, "control"), conf) < 0 ||
	    parse_ifaces(c, json_object_get(root, "interfaces"), conf) < 0 ||
	    parse_ports(c, json_object_get(root, "ports"), conf) < 0 ||
	    parse_timeouts(c, json_object_get(root, "timeouts"), conf) < 0 ||
	    get_string(c, root, "", "backend", conf->backend,
	    sizeof(conf->backend), false) < 0 ||
	    get_string(c, root, "", "log_level", level, sizeof(level),
	    false) < 0 ||
	    get_bool(c, root, "", "strict_source", &conf->strict_source) < 0 ||
	    parse_journal(c, root, conf) < 0 ||
	    parse_learning(c, json_object_get(root, "endpoint_learning"),
	    conf) < 0 ||
	    parse_webrtc(c, json_object_get(root, "webrtc"), conf) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		ok |= strcmp(conf->backend, backends[i]) == 0;
	if (!ok)
		return fail(c, "backend", "'%s' is not one of auto, userspace, "
		    "nft, kmod", conf->backend);
	if (level[0] != '\0' && log_level_parse(level, &conf->log_level) < 0)
		return fail(c, "log_level", "'%s' is not one of debug, info, "
		    "notice, warning, error", level);
	return 0;
}

void
config_defaults(struct relayd_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	strcpy(conf->socket_path, "/run/trunkline/relayd.sock");
	conf->socket_mode = 0660;
	conf->control_idle_timeout = 10;
	conf->control_max_pending = 32;
	conf->nifaces = 1;
	strcpy(conf->ifaces[0].name, "default");
	addr_parse("127.0.0.1", 0, &conf->ifaces[0].bind);
	strcpy(conf->ifaces[0].advertise, "127.0.0.1");
	/* below Linux's ephemeral range (32768-60999) */
	conf->port_min = 20000;
	conf->port_max = 29999;
	conf->setup_timeout = 60;
	conf->ringing_timeout = 900;
	conf->inactivity_timeout = 30;
	conf->hold_timeout = 3600;
	conf->max_duration = 4 * 3600;
	strcpy(conf->backend, "auto");
	conf->log_level = LL_INFO;
	conf->strict_source = true;
	conf->learn_mode = LEARN_HEURISTIC;
	conf->learn_window = 3;
	conf->roaming_ssrc = true;
	conf->consent_timeout = 30;
	strcpy(conf->journal, "/run/trunkline/journal");
}

int
config_load(const char *path, struct relayd_conf *conf, char *err,
    size_t errlen)
{
	struct cfgctx c = { .file = path, .err = err, .errlen = errlen };
	json_error_t jerr;
	char *text;
	size_t len;
	json_t *root;
	int rc;

	config_defaults(conf);
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	rc = proto_read_file(path, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return -1;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		free(text);
		return -1;
	}
	c.text = text;
	c.len = len;
	rc = parse_top(&c, root, conf);
	json_decref(root);
	free(text);
	return rc;
}
