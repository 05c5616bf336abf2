/*
 * confread.c: the pieces every daemon's JSON config loader needs, so that
 * their errors look alike: "file:line: field: message". The line comes
 * from proto_json_locate() over the file's text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int
proto_cfg_fail(struct proto_cfg *c, const char *path, const char *fmt, ...)
{
	int line = proto_json_locate(c->text, c->len, path);
	size_t n;
	va_list ap;

	n = (size_t)snprintf(c->err, c->errlen, "%s:%d: %s: ", c->file,
	    line > 0 ? line : 1, path[0] ? path : "(top level)");
	if (n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

void
proto_cfg_join(char *out, size_t len, const char *base, const char *key)
{
	snprintf(out, len, "%s%s%s", base, base[0] ? "." : "", key);
}

int
proto_cfg_keys(struct proto_cfg *c, json_t *obj, const char *path,
    const char *const *allowed)
{
	const char *key;
	json_t *v;
	char p[PROTO_CFG_PATH];

	if (!json_is_object(obj))
		return proto_cfg_fail(c, path, "expected an object");
	json_object_foreach(obj, key, v) {
		const char *const *a;
		for (a = allowed; *a != NULL && strcmp(*a, key) != 0; a++)
			;
		if (*a == NULL) {
			proto_cfg_join(p, sizeof(p), path, key);
			return proto_cfg_fail(c, p, "unknown field");
		}
	}
	return 0;
}

int
proto_cfg_string(struct proto_cfg *c, json_t *obj, const char *path,
    const char *key, char *out, size_t len, bool required)
{
	json_t *v = json_object_get(obj, key);
	char p[PROTO_CFG_PATH];

	proto_cfg_join(p, sizeof(p), path, key);
	if (v == NULL)
		return required ? proto_cfg_fail(c, path, "missing field '%s'",
		    key) : 0;
	if (!json_is_string(v))
		return proto_cfg_fail(c, p, "expected a string");
	if (strlen(json_string_value(v)) >= len)
		return proto_cfg_fail(c, p, "longer than %zu characters",
		    len - 1);
	strcpy(out, json_string_value(v));
	return 1;
}

int
proto_cfg_number(struct proto_cfg *c, json_t *obj, const char *path,
    const char *key, double *out, double min, double max)
{
	json_t *v = json_object_get(obj, key);
	char p[PROTO_CFG_PATH];

	proto_cfg_join(p, sizeof(p), path, key);
	if (v == NULL)
		return 0;
	if (!json_is_number(v))
		return proto_cfg_fail(c, p, "expected a number");
	if (json_number_value(v) < min || json_number_value(v) > max)
		return proto_cfg_fail(c, p, "must be between %g and %g", min,
		    max);
	*out = json_number_value(v);
	return 1;
}

int
proto_cfg_bool(struct proto_cfg *c, json_t *obj, const char *path,
    const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	char p[PROTO_CFG_PATH];

	proto_cfg_join(p, sizeof(p), path, key);
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return proto_cfg_fail(c, p, "expected true or false");
	*out = json_is_true(v);
	return 1;
}

int
proto_cfg_mode(struct proto_cfg *c, json_t *obj, const char *path,
    const char *key, unsigned *out)
{
	char text[8] = "", p[PROTO_CFG_PATH], *end;
	long m;
	int rc;

	rc = proto_cfg_string(c, obj, path, key, text, sizeof(text), false);
	if (rc <= 0)
		return rc;
	m = strtol(text, &end, 8);
	if (text[0] == '\0' || *end != '\0' || m < 0 || m > 0777) {
		proto_cfg_join(p, sizeof(p), path, key);
		return proto_cfg_fail(c, p, "'%s' is not an octal file mode "
		    "such as \"0660\"", text);
	}
	*out = (unsigned)m;
	return 1;
}

json_t *
proto_cfg_open(struct proto_cfg *c, const char *path, char *err,
    size_t errlen)
{
	json_error_t jerr;
	char *text;
	size_t len;
	json_t *root;
	int rc;

	memset(c, 0, sizeof(*c));
	c->file = path;
	c->err = err;
	c->errlen = errlen;
	rc = proto_read_file(path, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		free(text);
		return NULL;
	}
	c->text = text;
	c->len = len;
	return root;
}

void
proto_cfg_close(struct proto_cfg *c, json_t *root)
{
	json_decref(root);
	free((char *)c->text);
	c->text = NULL;
}
