/*
 * message.c: building and encoding protocol messages, and the error codes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char *const codes[] = {
	[PROTO_OK] = "ok",
	[PROTO_E_PARSE] = "parse_error",
	[PROTO_E_INVALID] = "invalid_request",
	[PROTO_E_UNKNOWN_CMD] = "unknown_command",
	[PROTO_E_MISSING] = "missing_field",
	[PROTO_E_TYPE] = "wrong_type",
	[PROTO_E_UNKNOWN_FIELD] = "unknown_field",
	[PROTO_E_VALUE] = "invalid_value",
	[PROTO_E_NOT_FOUND] = "not_found",
	[PROTO_E_EXHAUSTED] = "ports_exhausted",
	[PROTO_E_UNAUTHORIZED] = "unauthorized",
	[PROTO_E_TOO_LONG] = "line_too_long",
	[PROTO_E_INTERNAL] = "internal",
};

const char *
proto_err_code(enum proto_err code)
{
	if ((size_t)code >= sizeof(codes) / sizeof(codes[0]))
		return "internal";
	return codes[code];
}

int
proto_errorf(struct proto_error *err, enum proto_err code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	proto_utf8_trim(err->message);	/* the text may have been cut */
	return -1;
}

json_t *
proto_request(json_int_t id, const char *cmd)
{
	return json_pack("{s:I, s:s}", "id", id, "cmd", cmd);
}

json_t *
proto_reply_ok(json_t *id)
{
	json_t *o = json_object();

	json_object_set(o, "id", id != NULL ? id : json_null());
	json_object_set_new(o, "ok", json_true());
	return o;
}

json_t *
proto_reply_error(json_t *id, const struct proto_error *err)
{
	json_t *o = json_object();
	char msg[sizeof(err->message)];

	/* Filled by hand or cut by vsnprintf: never lose the error member. */
	memcpy(msg, err->message, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	proto_utf8_trim(msg);
	json_object_set(o, "id", id != NULL ? id : json_null());
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code",
	    proto_err_code(err->code), "message", msg));
	return o;
}

json_t *
proto_event(const char *name)
{
	return json_pack("{s:s}", "event", name);
}
