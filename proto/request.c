/*
 * request.c: parsing a received line into a validated request (server
 * side) or a reply/event (client side).
 */
#include <errno.h>
#include <string.h>

#include "proto.h"
#include "schema.h"

static json_t *
read_id(json_t *req, struct proto_error *err)
{
	json_t *id = json_object_get(req, "id");

	if (id == NULL)
		return json_null();
	if (json_is_integer(id) || json_is_string(id))
		return json_incref(id);
	proto_errorf(err, PROTO_E_INVALID, "'id' must be an integer or a "
	    "string");
	return NULL;
}

json_t *
proto_parse_request(const char *line, size_t len, enum proto_role role,
    json_t **id, const char **cmd, struct proto_error *err)
{
	const struct command *c;
	json_error_t jerr;
	json_t *req, *jcmd;

	*id = json_null();
	*cmd = NULL;
	req = proto_json_fast(line, len);
	if (req == NULL)
		req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		proto_errorf(err, PROTO_E_PARSE, "invalid JSON at column %d: %s",
		    jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(req)) {
		proto_errorf(err, PROTO_E_PARSE, "a request must be a JSON "
		    "object");
		goto fail;
	}
	json_decref(*id);
	*id = read_id(req, err);
	if (*id == NULL) {
		*id = json_null();
		goto fail;
	}
	jcmd = json_object_get(req, "cmd");
	if (!json_is_string(jcmd)) {
		proto_errorf(err, PROTO_E_INVALID, "'cmd' must be present and "
		    "a string");
		goto fail;
	}
	c = command_find(json_string_value(jcmd), role);
	if (c == NULL) {
		proto_errorf(err, PROTO_E_UNKNOWN_CMD, "unknown command "
		    "'%.*s'", (int)proto_utf8_prefix(json_string_value(jcmd),
		    64), json_string_value(jcmd));
		goto fail;
	}
	if (schema_validate(c, req, err) < 0)
		goto fail;
	*cmd = c->name;
	return req;
fail:
	json_decref(req);
	return NULL;
}

json_t *
proto_parse_message(const char *line, size_t len, struct proto_error *err)
{
	json_error_t jerr;
	json_t *msg = json_loadb(line, len, 0, &jerr);

	if (msg == NULL) {
		proto_errorf(err, PROTO_E_PARSE, "invalid JSON at column %d: %s",
		    jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(msg) || (!json_is_boolean(json_object_get(msg,
	    "ok")) && !json_is_string(json_object_get(msg, "event")))) {
		json_decref(msg);
		proto_errorf(err, PROTO_E_PARSE, "neither a reply nor an event");
		return NULL;
	}
	return msg;
}
