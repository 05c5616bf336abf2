/*
 * schema.c: the fields of every command (PROTOCOL.md) and their checks.
 * Validation is table-driven so that a new command is a table entry, and
 * every error message names the command and the field's path.
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "schema.h"

static const char *const media_types[] = { "audio", "video", "image", "text",
	"application", "message", "other", NULL };
static const char *const directions[] = { "sendrecv", "sendonly", "recvonly",
	"inactive", NULL };
static const char *const event_names[] = { "timeout", NULL };
static const char *const senders[] = { "caller", "callee", NULL };
static const char *const dtls_setups[] = { "actpass", "active", "passive",
	NULL };

#define STR(n, req)	{ n, FT_STRING, req, 0, 0, NULL, NULL }
#define SSTR(n, req)	{ n, FT_STRING, req, 1, PROTO_MAX_STRING, NULL, NULL }
#define END		{ NULL, 0, false, 0, 0, NULL, NULL }

static const struct field media_fields[] = {
	{ "type", FT_STRING, true, 0, 0, media_types, NULL },
	STR("transport", false),
	STR("address", true),
	{ "rtp_port", FT_INT, true, 0, 65535, NULL, NULL },
	{ "rtcp_port", FT_INT, false, 0, 65535, NULL, NULL },
	{ "rtcp_mux", FT_BOOL, false, 0, 0, NULL, NULL },
	{ "direction", FT_STRING, false, 0, 0, directions, NULL },
	/* WebRTC (transport UDP/TLS/RTP/SAVPF): the browser's ICE and DTLS */
	{ "ice_ufrag", FT_STRING, false, 4, 256, NULL, NULL },
	{ "ice_pwd", FT_STRING, false, 22, 256, NULL, NULL },
	{ "fingerprint", FT_STRING, false, 1, 200, NULL, NULL },
	{ "setup", FT_STRING, false, 0, 0, dtls_setups, NULL },
	{ "peer_transport", FT_STRING, false, 1, 31, NULL, NULL },
	END
};

static const struct field f_none[] = { END };
static const struct field f_hello[] = {
	{ "protocol", FT_INT, false, 1, 1000000, NULL, NULL },
	STR("client", false), END
};
static const struct field f_auth[] = { STR("secret", true), END };
static const struct field f_offer[] = {
	SSTR("call_id", true), SSTR("from_tag", true), SSTR("to_tag", false),
	{ "media", FT_OBJARRAY, true, 1, PROTO_MAX_MEDIA, NULL, media_fields },
	{ "interfaces", FT_STRARRAY, false, 1, 2, NULL, NULL },
	SSTR("label", false),
	{ "sender", FT_STRING, false, 0, 0, senders, NULL },
	{ "ringing", FT_BOOL, false, 0, 0, NULL, NULL }, END
};
static const struct field f_answer[] = {
	SSTR("call_id", true), SSTR("from_tag", true), SSTR("to_tag", true),
	{ "media", FT_OBJARRAY, true, 1, PROTO_MAX_MEDIA, NULL, media_fields },
	SSTR("label", false),
	{ "sender", FT_STRING, false, 0, 0, senders, NULL },
	{ "early", FT_BOOL, false, 0, 0, NULL, NULL }, END
};
static const struct field f_delete[] = {
	SSTR("call_id", true), SSTR("from_tag", false), END
};
static const struct field f_query[] = { SSTR("call_id", true), END };
static const struct field f_list[] = {
	{ "offset", FT_INT, false, 0, 1LL << 40, NULL, NULL },
	{ "limit", FT_INT, false, 1, PROTO_LIST_MAX, NULL, NULL }, END
};
static const struct field f_subscribe[] = {
	{ "events", FT_STRARRAY, false, 0, 8, event_names, NULL }, END
};
static const struct field f_hangup[] = {
	SSTR("call_id", true), STR("reason", false), END
};

const struct command commands[] = {
	{ "hello", PROTO_ROLE_RELAY | PROTO_ROLE_CONTROLLER, f_hello },
	{ "auth", PROTO_ROLE_RELAY | PROTO_ROLE_CONTROLLER, f_auth },
	{ "ping", PROTO_ROLE_RELAY | PROTO_ROLE_CONTROLLER, f_none },
	{ "offer", PROTO_ROLE_RELAY, f_offer },
	{ "answer", PROTO_ROLE_RELAY, f_answer },
	{ "delete", PROTO_ROLE_RELAY, f_delete },
	{ "query", PROTO_ROLE_RELAY, f_query },
	{ "list", PROTO_ROLE_RELAY, f_list },
	{ "stats", PROTO_ROLE_RELAY, f_none },
	{ "subscribe", PROTO_ROLE_RELAY | PROTO_ROLE_CONTROLLER, f_subscribe },
	{ "status", PROTO_ROLE_CONTROLLER, f_none },
	{ "calls", PROTO_ROLE_CONTROLLER, f_none },
	{ "trunks", PROTO_ROLE_CONTROLLER, f_none },
	{ "locations", PROTO_ROLE_CONTROLLER, f_none },
	{ "reload", PROTO_ROLE_CONTROLLER, f_none },
	{ "hangup", PROTO_ROLE_CONTROLLER, f_hangup },
	{ NULL, 0, NULL },
};

const struct command *
command_find(const char *name, enum proto_role role)
{
	for (const struct command *c = commands; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0 && (c->roles & role) != 0)
			return c;
	return NULL;
}

bool
proto_command_known(const char *cmd, enum proto_role role)
{
	return command_find(cmd, role) != NULL;
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE: case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static bool
in_set(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

/*
 * Where a value is in the request ("media[0].address"), written out only
 * for an error message: printing every field's path up front was most of
 * the validation's cost (issue 16: 50,000 offers/s).
 */
struct fpath {
	const struct fpath	*up;	/* NULL: the request itself */
	const char		*key;	/* NULL: an array index */
	size_t			 index;
};

static const char *
path_text(const struct fpath *p, char *buf, size_t len)
{
	size_t n;

	buf[0] = '\0';
	if (p == NULL)
		return buf;
	path_text(p->up, buf, len);
	n = strlen(buf);
	if (p->key != NULL)
		snprintf(buf + n, len - n, "%s%.*s", n ? "." : "",
		    (int)proto_utf8_prefix(p->key, 64), p->key);
	else
		snprintf(buf + n, len - n, "[%zu]", p->index);
	return buf;
}

#define PATH(p)	path_text((p), (char[160]){ 0 }, 160)

static int
check_string(const struct field *f, const struct fpath *at, json_t *v,
    struct proto_error *err, const char *cmd)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (f->max > 0 && (n < (size_t)f->min || n > (size_t)f->max))
		return proto_errorf(err, PROTO_E_VALUE, "%s: %s: length must "
		    "be %lld..%lld", cmd, PATH(at), f->min, f->max);
	/* Identifiers (call ids, tags, labels) reach logs and tables. */
	for (size_t i = 0; f->max > 0 && i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return proto_errorf(err, PROTO_E_VALUE, "%s: %s: control "
			    "character 0x%02x at byte %zu", cmd, PATH(at),
			    (unsigned char)s[i], i);
	if (f->values != NULL && !in_set(s, f->values))
		return proto_errorf(err, PROTO_E_VALUE, "%s: %s: '%.*s' is "
		    "not an allowed value", cmd, PATH(at),
		    (int)proto_utf8_prefix(s, 64), s);
	return 0;
}

static int check_object(const struct field *, json_t *,
    const struct fpath *, const char *, struct proto_error *);

static int
check_array(const struct field *f, const struct fpath *at, json_t *v,
    struct proto_error *err, const char *cmd)
{
	size_t i, n = json_array_size(v);
	json_t *item;

	if (n < (size_t)f->min || n > (size_t)f->max)
		return proto_errorf(err, PROTO_E_VALUE, "%s: %s: %lld..%lld "
		    "entries required, got %zu", cmd, PATH(at), f->min, f->max,
		    n);
	json_array_foreach(v, i, item) {
		struct fpath sub = { at, NULL, i };
		if (f->type == FT_OBJARRAY) {
			if (check_object(f->items, item, &sub, cmd, err) < 0)
				return -1;
			continue;
		}
		if (!json_is_string(item))
			return proto_errorf(err, PROTO_E_TYPE, "%s: %s: expected "
			    "string, got %s", cmd, PATH(&sub), type_name(item));
		if (f->values != NULL && !in_set(json_string_value(item),
		    f->values))
			return proto_errorf(err, PROTO_E_VALUE, "%s: %s: '%.*s' "
			    "is not an allowed value", cmd, PATH(&sub),
			    (int)proto_utf8_prefix(json_string_value(item), 64),
			    json_string_value(item));
	}
	return 0;
}

static int
check_field(const struct field *f, const struct fpath *at, json_t *v,
    const char *cmd, struct proto_error *err)
{
	static const char *const want[] = { [FT_STRING] = "string",
	    [FT_INT] = "integer", [FT_BOOL] = "boolean",
	    [FT_OBJARRAY] = "array", [FT_STRARRAY] = "array" };
	bool ok = false;

	switch (f->type) {
	case FT_STRING: ok = json_is_string(v); break;
	case FT_INT: ok = json_is_integer(v); break;
	case FT_BOOL: ok = json_is_boolean(v); break;
	case FT_OBJARRAY: case FT_STRARRAY: ok = json_is_array(v); break;
	}
	if (!ok)
		return proto_errorf(err, PROTO_E_TYPE, "%s: %s: expected %s, "
		    "got %s", cmd, PATH(at), want[f->type], type_name(v));
	if (f->type == FT_STRING)
		return check_string(f, at, v, err, cmd);
	if (f->type == FT_INT && (json_integer_value(v) < f->min ||
	    json_integer_value(v) > f->max))
		return proto_errorf(err, PROTO_E_VALUE, "%s: %s: must be "
		    "%lld..%lld", cmd, PATH(at), f->min, f->max);
	if (f->type == FT_OBJARRAY || f->type == FT_STRARRAY)
		return check_array(f, at, v, err, cmd);
	return 0;
}

static int
check_object(const struct field *fields, json_t *obj,
    const struct fpath *base, const char *cmd, struct proto_error *err)
{
	const struct field *f;
	const char *key, *b;
	json_t *v;

	if (!json_is_object(obj))
		return proto_errorf(err, PROTO_E_TYPE, "%s: %s: expected "
		    "object, got %s", cmd, PATH(base), type_name(obj));
	json_object_foreach(obj, key, v) {
		struct fpath here = { base, key, 0 };
		if (base == NULL && (strcmp(key, "id") == 0 ||
		    strcmp(key, "cmd") == 0))
			continue;
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL)
			return proto_errorf(err, PROTO_E_UNKNOWN_FIELD,
			    "%s: unknown field '%s'", cmd, PATH(&here));
		if (check_field(f, &here, v, cmd, err) < 0)
			return -1;
	}
	for (f = fields; f->name != NULL; f++)
		if (f->required && json_object_get(obj, f->name) == NULL) {
			b = PATH(base);
			return proto_errorf(err, PROTO_E_MISSING, "%s: missing "
			    "required field '%s%s%s'", cmd, b, b[0] ? "." : "",
			    f->name);
		}
	return 0;
}

int
schema_validate(const struct command *c, json_t *req, struct proto_error *err)
{
	return check_object(c->fields, req, NULL, c->name, err);
}
