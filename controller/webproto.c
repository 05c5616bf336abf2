/*
 * webproto.c: the browser signalling protocol over the WebSocket
 * (proto/PROTOCOL.md, "Browser signalling"): one JSON object per text
 * message, with a "type". The order is hello (version), login (a
 * username: we answer a challenge with the realm and a fresh nonce),
 * auth (the digest response the page computed from the password; the
 * password never crosses the wire), then call, hangup, dtmf and ping.
 *
 * Validation is strict as in proto/: unknown types and unknown fields are
 * refused, every string has a length and character limit, and every
 * refusal is a clear error object naming the code, the message type and
 * the client's seq. Hostile input is bounded per connection: a token
 * bucket on messages, a cap on the messages of one connection, a cap on
 * bad messages and one on failed logins; past a cap the connection is
 * closed (1008). Failed logins also count in protect.c's failed-login
 * limits (per source and per username) like SIP digest failures.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "controller.h"

#include <sofia-sip/su_md5.h>

#define WEBPROTO_VERSION	1

enum { WS_NEW, WS_HELLO, WS_CHALLENGED, WS_USER };

void
webproto_error(struct webconn *cn, const char *code, const char *in,
    json_t *seq, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	json_t *e;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code,
	    "message", msg);
	if (in != NULL)
		json_object_set_new(e, "in", json_string(in));
	if (seq != NULL)
		json_object_set(e, "seq", seq);
	web_send(cn, e);
}

/* A bad message: counted, answered, and past max_errors the end. */
static void
bad(struct webconn *cn, const char *code, const char *in, json_t *seq,
    const char *what)
{
	struct web_stats *st = web_stats(cn->ctl);

	st->malformed++;
	webproto_error(cn, code, in, seq, "%s", what);
	if (++cn->errors >= web_limits(cn->ctl)->max_errors) {
		st->closed_by_limit++;
		web_close_conn(cn, 1008, "too many bad messages");
	}
}

static json_t *
reply(const char *type, json_t *seq)
{
	json_t *r = json_pack("{s:s}", "type", type);

	if (seq != NULL)
		json_object_set(r, "seq", seq);
	return r;
}

/* ---- field checks ---- */

static bool
chars_ok(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || strchr(extra, *s) != NULL))
			return false;
	return true;
}

/* Every key of o is in allowed ("type" and "seq" always are). */
static const char *
unknown_key(json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		bool ok = strcmp(k, "type") == 0 || strcmp(k, "seq") == 0;
		for (int i = 0; !ok && allowed[i] != NULL; i++)
			ok = strcmp(k, allowed[i]) == 0;
		if (!ok)
			return k;
	}
	return NULL;
}

/* A string field: 0 ok, -1 refused (answered). */
static int
field(struct webconn *cn, json_t *o, const char *type, json_t *seq,
    const char *key, size_t min, size_t max, const char *extra,
    const char **out)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);
	char what[160];

	if (v == NULL) {
		snprintf(what, sizeof(what), "'%s' is required", key);
		bad(cn, "missing_field", type, seq, what);
		return -1;
	}
	if (s == NULL || strlen(s) < min || strlen(s) > max ||
	    (extra != NULL && !chars_ok(s, extra))) {
		snprintf(what, sizeof(what), "'%s' must be a string of %zu..%zu "
		    "characters%s%s", key, min, max, extra == NULL ? "" :
		    extra[0] ? ": letters, digits, or any of " : ": letters and "
		    "digits", extra ? extra : "");
		bad(cn, "invalid_value", type, seq, what);
		return -1;
	}
	*out = s;
	return 0;
}

/* ---- the messages ---- */

static void
on_hello(struct webconn *cn, json_t *o, json_t *seq)
{
	json_t *v = json_object_get(o, "version"), *r;

	if (!json_is_integer(v)) {
		bad(cn, "missing_field", "hello", seq, "'version' (integer) is "
		    "required");
		return;
	}
	if (json_integer_value(v) != WEBPROTO_VERSION) {
		webproto_error(cn, "unsupported_version", "hello", seq,
		    "this server speaks version %d", WEBPROTO_VERSION);
		web_close_conn(cn, 1002, "unsupported version");
		return;
	}
	cn->state = WS_HELLO;
	r = reply("hello", seq);
	json_object_update_new(r, json_pack("{s:i,s:s,s:s,s:i}", "version",
	    WEBPROTO_VERSION, "server", "trunkline-controller", "release",
	    TRUNKLINE_VERSION, "max_message",
	    web_limits(cn->ctl)->max_message));
	web_send(cn, r);
}

static const char *
realm_of(const struct ctl_conf *conf, const struct trunk *t)
{
	const struct trunk *f = t != NULL ? t : local_first(conf);

	return f != NULL ? f->realm : "trunkline";
}

static void
on_login(struct webconn *cn, json_t *o, json_t *seq)
{
	const char *user;
	uint8_t rnd[16];
	json_t *r;

	if (field(cn, o, "login", seq, "username", 1, 63, "._-+@", &user) < 0)
		return;
	if (cn->logged_in) {
		webproto_error(cn, "already_logged_in", "login", seq, "this "
		    "connection is logged in as %s", cn->user);
		return;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		webproto_error(cn, "internal", "login", seq, "no randomness");
		return;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(cn->nonce + 2 * i, 3, "%02x", rnd[i]);
	snprintf(cn->user, sizeof(cn->user), "%s", user);
	cn->state = WS_CHALLENGED;
	/* An unknown username gets a challenge too (it cannot be probed);
	 * its answer is then refused like a wrong password. */
	r = reply("challenge", seq);
	json_object_update_new(r, json_pack("{s:s,s:s,s:s,s:s}", "username",
	    user, "realm", realm_of(cn->ctl->conf,
	    local_identify(cn->ctl->conf, user)), "nonce", cn->nonce,
	    "algorithm", "MD5"));
	web_send(cn, r);
}

static void
md5_hex(su_md5_t *m, char out[33])
{
	su_md5_hexdigest(m, out);
	out[32] = '\0';
}

/* MD5(HA1 ":" nonce ":" cnonce), HA1 = MD5(username:realm:password). */
static void
expected(const struct trunk *t, const char *nonce, const char *cnonce,
    char out[33])
{
	char ha1[33];
	su_md5_t m;

	if (t->ha1[0] != '\0') {
		snprintf(ha1, sizeof(ha1), "%s", t->ha1);
	} else {
		su_md5_init(&m);
		su_md5_strupdate(&m, t->username);
		su_md5_update(&m, ":", 1);
		su_md5_strupdate(&m, t->realm);
		su_md5_update(&m, ":", 1);
		su_md5_strupdate(&m, t->password);
		md5_hex(&m, ha1);
	}
	su_md5_init(&m);
	su_md5_strupdate(&m, ha1);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, nonce);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, cnonce);
	md5_hex(&m, out);
}

static bool
same(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned d = n != strlen(b);

	for (size_t i = 0; i < n && b[i] != '\0'; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static void
on_auth(struct webconn *cn, json_t *o, json_t *seq)
{
	struct web_stats *st = web_stats(cn->ctl);
	const struct trunk *t = local_identify(cn->ctl->conf, cn->user);
	const char *resp, *cnonce;
	char want[33];
	bool banned;

	if (field(cn, o, "auth", seq, "cnonce", 8, 64, "", &cnonce) < 0 ||
	    field(cn, o, "auth", seq, "response", 32, 32, "", &resp) < 0)
		return;
	banned = protect_auth_banned(cn->ctl, cn->user) ||
	    protect_source_banned(cn->ctl, (struct sockaddr *)&cn->sa);
	if (t != NULL)
		expected(t, cn->nonce, cnonce, want);
	/* The nonce is single-use: a new login is needed after any answer. */
	cn->nonce[0] = '\0';
	cn->state = WS_HELLO;
	cn->logged_in = false;
	if (t == NULL || banned || !same(want, resp)) {
		st->login_failures++;
		if (banned)
			st->login_banned++;
		protect_auth_failed(cn->ctl, (struct sockaddr *)&cn->sa,
		    cn->user);
		clog_msg(cn->ctl, LL_NOTICE, "web %s: login as '%s' refused%s",
		    cn->peer, cn->user, banned ? " (username or source "
		    "banned)" : "");
		webproto_error(cn, "auth_failed", "auth", seq, "wrong username "
		    "or password");
		if (++cn->login_failures >=
		    web_limits(cn->ctl)->max_login_failures) {
			st->closed_by_limit++;
			web_close_conn(cn, 1008, "too many failed logins");
		}
		return;
	}
	st->logins++;
	cn->state = WS_USER;
	cn->logged_in = true;
	clog_msg(cn->ctl, LL_INFO, "web %s: logged in as %s", cn->peer,
	    cn->user);
	web_send(cn, json_pack("{s:s,s:s,s:O*}", "type", "logged_in",
	    "username", cn->user, "seq", seq));
}

static void
on_call(struct webconn *cn, json_t *o, json_t *seq)
{
	const char *id, *to, *sdp, *code = "internal";
	char why[160];

	if (field(cn, o, "call", seq, "call", 1, 32, "_-", &id) < 0 ||
	    field(cn, o, "call", seq, "to", 1, CTL_NUM_MAX - 1, "+*#._-",
	    &to) < 0 ||
	    field(cn, o, "call", seq, "sdp", 10, 65536, NULL, &sdp) < 0)
		return;
	if (webcall_find(cn, id) != NULL) {
		bad(cn, "invalid_value", "call", seq, "'call' names a call of "
		    "this connection already");
		return;
	}
	if (webcall_start(cn, seq, id, to, sdp, &code, why, sizeof(why)) < 0) {
		webproto_error(cn, code, "call", seq, "%s", why);
		return;
	}
	web_stats(cn->ctl)->calls++;
}

/* An incoming call's answer from the browser. */
static void
on_answer(struct webconn *cn, json_t *o, json_t *seq)
{
	const char *id, *sdp, *code = "internal";
	char why[160];

	if (field(cn, o, "answer", seq, "call", 1, 47, "_-", &id) < 0 ||
	    field(cn, o, "answer", seq, "sdp", 10, 65536, NULL, &sdp) < 0)
		return;
	if (webcall_answer(cn, id, sdp, &code, why, sizeof(why)) < 0)
		webproto_error(cn, code, "answer", seq, "%s", why);
}

static void
on_hangup(struct webconn *cn, json_t *o, json_t *seq)
{
	const char *id;

	if (field(cn, o, "hangup", seq, "call", 1, 47, "_-", &id) < 0)
		return;
	if (webcall_hangup(cn, id) < 0)
		webproto_error(cn, "no_such_call", "hangup", seq, "no call '%s' "
		    "on this connection", id);
}

/* The tones go in the media (RFC 4733, RTCRtpSender.dtmf); this message
 * only records them, so that the log and the client agree. */
static void
on_dtmf(struct webconn *cn, json_t *o, json_t *seq)
{
	const char *id, *digits;

	if (field(cn, o, "dtmf", seq, "call", 1, 47, "_-", &id) < 0 ||
	    field(cn, o, "dtmf", seq, "digits", 1, 32, "*#", &digits) < 0)
		return;
	if (strspn(digits, "0123456789*#ABCD") != strlen(digits)) {
		bad(cn, "invalid_value", "dtmf", seq, "'digits' may hold "
		    "0-9 * # A-D only");
		return;
	}
	if (webcall_find(cn, id) == NULL) {
		webproto_error(cn, "no_such_call", "dtmf", seq, "no call '%s' "
		    "on this connection", id);
		return;
	}
	clog_msg(cn->ctl, LL_INFO, "web %s: call %s: DTMF %s", cn->peer, id,
	    digits);
	web_send(cn, json_pack("{s:s,s:s,s:s,s:O*}", "type", "dtmf", "call",
	    id, "digits", digits, "seq", seq));
}

/* ---- dispatch ---- */

struct handler {
	const char	*type;
	int		 min_state;	/* WS_HELLO: after hello; WS_USER: logged in */
	const char	*keys[4];
	void		(*fn)(struct webconn *, json_t *, json_t *);
};

static void
on_ping(struct webconn *cn, json_t *o, json_t *seq)
{
	web_send(cn, reply("pong", seq));
}

static const struct handler handlers[] = {
	{ "hello", WS_NEW, { "version", NULL }, on_hello },
	{ "ping", WS_NEW, { NULL }, on_ping },
	{ "login", WS_HELLO, { "username", NULL }, on_login },
	{ "auth", WS_CHALLENGED, { "cnonce", "response", NULL }, on_auth },
	{ "call", WS_USER, { "call", "to", "sdp", NULL }, on_call },
	{ "answer", WS_USER, { "call", "sdp", NULL }, on_answer },
	{ "hangup", WS_USER, { "call", NULL }, on_hangup },
	{ "dtmf", WS_USER, { "call", "digits", NULL }, on_dtmf },
};

/* The token bucket: false if this message is over the rate. */
static bool
rate_ok(struct webconn *cn)
{
	const struct web_conf *wc = web_limits(cn->ctl);
	double now = mono_now();

	cn->tokens += (now - cn->last) * wc->rate;
	if (cn->tokens > wc->burst)
		cn->tokens = wc->burst;
	cn->last = now;
	if (cn->tokens < 1)
		return false;
	cn->tokens -= 1;
	return true;
}

static void
dispatch(struct webconn *cn, json_t *o)
{
	json_t *seq = json_object_get(o, "seq");
	const char *type = json_string_value(json_object_get(o, "type"));
	const struct handler *h = NULL;
	const char *uk;
	char what[160];

	if (seq != NULL && !json_is_integer(seq)) {
		bad(cn, "invalid_value", type, NULL, "'seq' must be an integer");
		return;
	}
	if (type == NULL) {
		bad(cn, "missing_field", NULL, seq, "'type' (string) is required");
		return;
	}
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, type) == 0)
			h = &handlers[i];
	if (h == NULL) {
		bad(cn, "unknown_type", NULL, seq, "unknown message type");
		return;
	}
	if ((uk = unknown_key(o, h->keys)) != NULL) {
		snprintf(what, sizeof(what), "unknown field '%.64s'", uk);
		bad(cn, "unknown_field", type, seq, what);
		return;
	}
	if (cn->state < h->min_state) {
		if (h->min_state == WS_USER) {
			web_stats(cn->ctl)->unauthenticated++;
			bad(cn, "not_logged_in", type, seq, "log in first");
		} else if (h->min_state == WS_CHALLENGED) {
			bad(cn, "no_challenge", type, seq, "send login first "
			    "(for a nonce)");
		} else {
			bad(cn, "hello_first", type, seq, "send hello first");
		}
		return;
	}
	h->fn(cn, o, seq);
}

void
webproto_message(struct webconn *cn, const char *buf, size_t len)
{
	const struct web_conf *wc = web_limits(cn->ctl);
	struct web_stats *st = web_stats(cn->ctl);
	json_error_t je;
	json_t *o;

	if (++cn->nmsg > (uint64_t)wc->max_messages) {
		st->closed_by_limit++;
		web_close_conn(cn, 1008, "message limit of the connection");
		return;
	}
	if (!rate_ok(cn)) {
		/* Dropped unanswered: answering a flood feeds it. */
		st->rate_limited++;
		if (++cn->errors >= wc->max_errors * 10) {
			st->closed_by_limit++;
			web_close_conn(cn, 1008, "over the message rate");
		}
		return;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL || !json_is_object(o)) {
		bad(cn, "bad_json", NULL, NULL, o == NULL ? "not JSON" :
		    "a message is a JSON object");
		json_decref(o);
		return;
	}
	dispatch(cn, o);
	json_decref(o);
}

void
webproto_closed(struct webconn *cn)
{
	webcall_conn_gone(cn);
}
