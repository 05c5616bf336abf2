/*
 * encode.c: compact JSON text of a message (proto_encode), written by hand
 * instead of json_dumps(). The relay encodes a reply per request; jansson
 * prints every number with snprintf and every string through a callback
 * per piece, which was a fifth of relayd's CPU per offer+answer
 * (bench/findings/offer-rate.md). The output is what json_dumps(msg,
 * JSON_COMPACT) gives: keys in insertion order, no spaces, strings as
 * UTF-8 with only '"', '\\' and control characters escaped, reals as
 * "%.17g" with ".0" added when they would read as integers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define ENCODE_MAX_DEPTH	64	/* deeper than any message of ours */

struct enc {
	char	*buf;
	size_t	 len, cap;
	int	 err;
};

static void
need(struct enc *e, size_t n)
{
	size_t cap;
	char *p;

	if (e->err || e->len + n <= e->cap)
		return;
	cap = e->cap ? e->cap : 256;
	while (cap < e->len + n)
		cap *= 2;
	if ((p = realloc(e->buf, cap)) == NULL) {
		e->err = 1;
		return;
	}
	e->buf = p;
	e->cap = cap;
}

static void
put(struct enc *e, const char *s, size_t n)
{
	need(e, n);
	if (e->err)
		return;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
}

static void
put_int(struct enc *e, json_int_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	/* in unsigned arithmetic: -LLONG_MIN does not fit */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	put(e, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* As jansson's jsonp_dtostr: "%.17g", no '+' or leading zeros in the
 * exponent, ".0" when nothing marks it as a real. Rare (durations). */
static void
put_real(struct enc *e, double v)
{
	char tmp[64], out[64], *exp;
	size_t n = 0;
	int len = snprintf(tmp, sizeof(tmp), "%.17g", v);

	if (len < 0 || (size_t)len >= sizeof(tmp)) {
		e->err = 1;
		return;
	}
	for (char *c = tmp; *c != '\0'; c++)
		if (*c == ',')
			*c = '.';	/* a locale's decimal comma */
	exp = strchr(tmp, 'e');
	for (char *c = tmp; *c != '\0' && n < sizeof(out) - 3; c++) {
		if (exp != NULL && c > exp && (*c == '+' ||
		    (*c == '0' && (c[-1] == 'e' || c[-1] == '-' ||
		    c[-1] == '+') && c[1] != '\0')))
			continue;
		out[n++] = *c;
	}
	if (strpbrk(tmp, ".e") == NULL) {
		out[n++] = '.';
		out[n++] = '0';
	}
	put(e, out, n);
}

/* Bytes a JSON string must escape: '"', '\\' and the controls. */
static bool
needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

static void
put_str(struct enc *e, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0, i = 0;

	/* The usual string (a tag, an address) needs no escape: one copy. */
	while (i < len && !needs_escape((unsigned char)s[i]))
		i++;
	if (i == len) {
		need(e, len + 2);
		if (e->err)
			return;
		e->buf[e->len++] = '"';
		memcpy(e->buf + e->len, s, len);
		e->len += len;
		e->buf[e->len++] = '"';
		return;
	}
	put(e, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 0 };
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(e, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		put(e, esc, n);
	}
	put(e, s + run, len - run);
	put(e, "\"", 1);
}

static void
put_value(struct enc *e, const json_t *v, int depth)
{
	const char *key;
	json_t *m;
	size_t i;
	bool first = true;

	if (depth > ENCODE_MAX_DEPTH) {
		e->err = 1;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put(e, "{", 1);
		json_object_foreach((json_t *)v, key, m) {
			if (!first)
				put(e, ",", 1);
			first = false;
			put_str(e, key, strlen(key));
			put(e, ":", 1);
			put_value(e, m, depth + 1);
		}
		put(e, "}", 1);
		break;
	case JSON_ARRAY:
		put(e, "[", 1);
		json_array_foreach(v, i, m) {
			if (i > 0)
				put(e, ",", 1);
			put_value(e, m, depth + 1);
		}
		put(e, "]", 1);
		break;
	case JSON_STRING:
		put_str(e, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		put_int(e, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(e, json_real_value(v));
		break;
	case JSON_TRUE:
		put(e, "true", 4);
		break;
	case JSON_FALSE:
		put(e, "false", 5);
		break;
	case JSON_NULL:
		put(e, "null", 4);
		break;
	}
}

char *
proto_encode(const json_t *msg, size_t *len)
{
	struct enc e = { 0 };

	if (msg == NULL || (!json_is_object(msg) && !json_is_array(msg)))
		return NULL;
	put_value(&e, msg, 0);
	put(&e, "\n", 1);
	need(&e, 1);
	if (e.err) {
		free(e.buf);
		return NULL;
	}
	e.buf[e.len] = '\0';
	*len = e.len;
	return e.buf;
}
