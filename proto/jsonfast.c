/*
 * jsonfast.c: a fast path in front of jansson's json_loadb for the
 * requests a relay gets by the ten thousand a second (issue 16: 50,000
 * offers/s). jansson's lexer reads a byte at a time through a stream
 * callback and was three quarters of request parsing. This one takes
 * only the plain shape controllers send: an object of objects, arrays,
 * strings of printable ASCII without escapes, integers of at most 18
 * digits, true, false, null. Anything else (escapes, UTF-8, reals, big
 * numbers, duplicate keys, deep nesting, any syntax error) is not judged
 * here: the caller hands the line to json_loadb, whose value and error
 * message are the protocol's. So a line either parses to what json_loadb
 * would return or is left to it (test_proto_jsonfast checks this on
 * mutated requests).
 */
#include <stdint.h>
#include <string.h>

#include "proto.h"

#define FAST_MAX_DEPTH	16

struct fast {
	const char	*p, *end;
};

static json_t *fast_value(struct fast *, int depth);

static void
skip_ws(struct fast *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' ||
	    *f->p == '\n' || *f->p == '\r'))
		f->p++;
}

/* At the opening quote: the text up to the closing one; false: not ours. */
static bool
fast_string(struct fast *f, const char **s, size_t *n)
{
	const char *q = ++f->p;

	while (q < f->end && *q != '"') {
		unsigned char c = (unsigned char)*q;
		if (c < 0x20 || c >= 0x7f || c == '\\')
			return false;
		q++;
	}
	if (q == f->end)
		return false;
	*s = f->p;
	*n = (size_t)(q - f->p);
	f->p = q + 1;
	return true;
}

static json_t *
fast_int(struct fast *f)
{
	bool neg = false;
	uint64_t v = 0;
	int digits = 0;

	if (*f->p == '-') {
		neg = true;
		f->p++;
	}
	if (f->p < f->end && *f->p == '0') {
		f->p++;
		digits = 1;
		if (f->p < f->end && *f->p >= '0' && *f->p <= '9')
			return NULL;	/* a leading zero: jansson says why */
	} else {
		while (f->p < f->end && *f->p >= '0' && *f->p <= '9') {
			if (++digits > 18)
				return NULL;
			v = v * 10 + (uint64_t)(*f->p++ - '0');
		}
	}
	if (digits == 0 || (f->p < f->end && (*f->p == '.' || *f->p == 'e' ||
	    *f->p == 'E')))
		return NULL;
	return json_integer(neg ? -(json_int_t)v : (json_int_t)v);
}

static json_t *
fast_word(struct fast *f, const char *w, size_t n, json_t *v)
{
	if ((size_t)(f->end - f->p) < n || memcmp(f->p, w, n) != 0)
		return NULL;
	f->p += n;
	return v;
}

enum sep { SEP_MORE, SEP_CLOSE, SEP_BAD };

/* After a member or element: a comma (and what follows it), or close. */
static enum sep
fast_sep(struct fast *f, char close)
{
	skip_ws(f);
	if (f->p == f->end)
		return SEP_BAD;
	if (*f->p == ',') {
		f->p++;
		skip_ws(f);
		return SEP_MORE;
	}
	if (*f->p == close) {
		f->p++;
		return SEP_CLOSE;
	}
	return SEP_BAD;
}

static json_t *
fast_object(struct fast *f, int depth)
{
	json_t *o = json_object(), *v;
	const char *key;
	size_t klen;
	enum sep sep;

	if (o == NULL)
		return NULL;
	f->p++;
	skip_ws(f);
	if (f->p < f->end && *f->p == '}') {
		f->p++;
		return o;
	}
	for (;;) {
		if (f->p == f->end || *f->p != '"' ||
		    !fast_string(f, &key, &klen))
			break;
		skip_ws(f);
		if (f->p == f->end || *f->p++ != ':')
			break;
		skip_ws(f);
		/* a duplicate key is an error: jansson's to report */
		if (json_object_getn(o, key, klen) != NULL ||
		    (v = fast_value(f, depth + 1)) == NULL)
			break;
		if (json_object_setn_new_nocheck(o, key, klen, v) < 0)
			break;
		sep = fast_sep(f, '}');
		if (sep == SEP_CLOSE)
			return o;
		if (sep == SEP_BAD)
			break;
	}
	json_decref(o);
	return NULL;
}

static json_t *
fast_array(struct fast *f, int depth)
{
	json_t *a = json_array(), *v;
	enum sep sep;

	if (a == NULL)
		return NULL;
	f->p++;
	skip_ws(f);
	if (f->p < f->end && *f->p == ']') {
		f->p++;
		return a;
	}
	for (;;) {
		if ((v = fast_value(f, depth + 1)) == NULL ||
		    json_array_append_new(a, v) < 0)
			break;
		sep = fast_sep(f, ']');
		if (sep == SEP_CLOSE)
			return a;
		if (sep == SEP_BAD)
			break;
	}
	json_decref(a);
	return NULL;
}

static json_t *
fast_value(struct fast *f, int depth)
{
	const char *s;
	size_t n;

	if (f->p == f->end || depth > FAST_MAX_DEPTH)
		return NULL;
	switch (*f->p) {
	case '{':
		return fast_object(f, depth);
	case '[':
		return fast_array(f, depth);
	case '"':
		return fast_string(f, &s, &n) ? json_stringn_nocheck(s, n) :
		    NULL;
	case 't':
		return fast_word(f, "true", 4, json_true());
	case 'f':
		return fast_word(f, "false", 5, json_false());
	case 'n':
		return fast_word(f, "null", 4, json_null());
	default:
		if (*f->p == '-' || (*f->p >= '0' && *f->p <= '9'))
			return fast_int(f);
		return NULL;
	}
}

json_t *
proto_json_fast(const char *text, size_t len)
{
	struct fast f = { text, text + len };
	json_t *v;

	skip_ws(&f);
	if (f.p == f.end || *f.p != '{')
		return NULL;
	if ((v = fast_object(&f, 0)) == NULL)
		return NULL;
	skip_ws(&f);
	if (f.p != f.end) {
		json_decref(v);
		return NULL;
	}
	return v;
}
