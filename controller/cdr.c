/*
 * cdr.c: one JSON line per call, appended to the CDR file when the call
 * is over (after the relay's delete, whose statistics it carries). The
 * file is opened O_APPEND per daemon and each line is one write(), so
 * lines never interleave and a rotated file is picked up on reload.
 *
 * Refusal CDRs: an INVITE refused at the door (no trunk, failed digest,
 * trunk limits, edge protection) never becomes a call, yet a fraud team
 * needs to see it. Each gets one line in a file of its own ("refusals":
 * billing never sees them), through a token bucket so a flood cannot
 * fill the disk: the lines beyond it are counted, and the count goes in
 * the next line written, or in a summary line once the bucket refills.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "controller.h"

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

static json_t *
stamp(double t)
{
	char buf[40], out[48];
	struct tm tm;
	time_t s = (time_t)t;

	if (t <= 0)
		return json_null();
	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof(out), "%s.%03dZ", buf,
	    (int)((t - (double)s) * 1000));
	return json_string(out);
}

/* A direction's counters; "webrtc" when its sender was a browser leg:
 * what that leg refused (SRTP tags, DTLS handshakes, ICE checks). */
static json_t *
direction(const struct call *k, int d)
{
	json_t *o = json_pack("{s:I,s:I,s:I}", "packets",
	    (json_int_t)k->ms.packets[d], "bytes", (json_int_t)k->ms.bytes[d],
	    "lost", (json_int_t)k->ms.lost[d]);

	if (k->ms.webrtc[d])
		json_object_set_new(o, "webrtc", json_pack("{s:I,s:I,s:I}",
		    "srtp_auth_fail", (json_int_t)k->ms.srtp_auth_fail[d],
		    "dtls_fail", (json_int_t)k->ms.dtls_fail[d],
		    "stun_bad", (json_int_t)k->ms.stun_bad[d]));
	return o;
}

json_t *
cdr_build(const struct call *k)
{
	static const char *const by[] = { "none", "caller", "callee",
	    "controller", "relay" };
	const struct gateway *gw = NULL;
	json_t *o;

	if (k->connect_t > 0 && k->attempt < k->ncand)
		gw = k->cand[k->attempt].gw;
	o = json_pack("{s:s,s:s,s:s,s:s,s:O,s:i}",
	    "call_id", k->call_id, "b_call_id", k->b_call_id,
	    "trunk", k->trunk ? k->trunk->name : "",
	    "source", k->src,
	    "attempts", k->attempts,
	    "final_code", k->final_code);
	json_object_set_new(o, "route", k->route && k->route->name[0] ?
	    json_string(k->route->name) : json_null());
	json_object_set_new(o, "gateway", gw ? json_string(gw->name) :
	    json_null());
	json_object_set_new(o, "carrier", gw ? json_string(
	    k->cand[k->attempt].carrier) : json_null());
	json_object_set_new(o, "relay", k->relay ?
	    json_string(relay_name(k->relay)) : json_null());
	json_object_set_new(o, "numbers", json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s}",
	    "called_in", k->called_in, "calling_in", k->calling_in,
	    "called", k->called, "calling", k->calling,
	    "called_out", k->called_out, "calling_out", k->calling_out));
	json_object_set_new(o, "setup", stamp(k->setup_t));
	json_object_set_new(o, "connect", stamp(k->connect_t));
	json_object_set_new(o, "end", stamp(k->end_t));
	json_object_set_new(o, "duration", json_real(k->connect_t > 0 ?
	    k->end_t - k->connect_t : 0.0));
	json_object_set_new(o, "hangup_by", json_string(by[k->hangup_by]));
	/* divert.c: the account charged for a diverted call */
	json_object_set_new(o, "diverted_by", k->diverted_by[0] ?
	    json_string(k->diverted_by) : json_null());
	if (k->emergency)
		json_object_set_new(o, "emergency", json_true());
	/* identity.c: what the caller presented, what we asserted. */
	json_object_set_new(o, "identity", json_pack("{s:s,s:o,s:s,s:s,s:b}",
	    "presented", k->calling_in,
	    "pai", k->pai_in[0] ? json_string(k->pai_in) : json_null(),
	    "asserted", k->asserted_out[0] ? k->asserted_out : k->asserted,
	    "screening", k->screening ? k->screening : "unverified",
	    "privacy", k->privacy));
	json_object_set_new(o, "reason", json_string(k->reason));
	fork_cdr(k, o);		/* fork.c: contact, forks */
	if (k->ms_set)
		json_object_set_new(o, "media", json_pack("{s:o,s:o}",
		    "caller_to_callee", direction(k, 0),
		    "callee_to_caller", direction(k, 1)));
	else
		json_object_set_new(o, "media", json_null());
	return o;
}

int
cdr_write(struct ctl *c, const struct call *k)
{
	json_t *o = cdr_build(k);
	char *line = json_dumps(o, JSON_COMPACT);
	size_t len;
	ssize_t n;

	json_decref(o);
	if (line == NULL)
		return -ENOMEM;
	if (c->cdr_fd < 0) {
		c->cdr_fd = open(c->conf->cdr_path, O_WRONLY | O_APPEND |
		    O_CREAT | O_CLOEXEC, 0640);
		if (c->cdr_fd < 0)
			clog_msg(c, LL_ERROR, "CDR file %s: %s; CDR: %s",
			    c->conf->cdr_path, strerror(errno), line);
	}
	len = strlen(line);
	line[len++] = '\n';	/* json_dumps' NUL becomes the newline */
	n = c->cdr_fd >= 0 ? write(c->cdr_fd, line, len) : -1;
	if (c->cdr_fd >= 0 && n != (ssize_t)len)
		clog_msg(c, LL_ERROR, "CDR file %s: short write: %s",
		    c->conf->cdr_path, strerror(errno));
	free(line);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* ---- refusals ---- */

struct refusal_log {
	int		 fd;		/* -1: closed */
	char		 path[256];	/* what fd is open on */
	double		 tokens, last;	/* the bucket (monotonic) */
	uint64_t	 written, suppressed;	/* totals */
	uint64_t	 pending;	/* suppressed since the last line */
	double		 since;		/* wall time of the first of those */
	su_timer_t	*timer;		/* writes the summary of a flood */
};

int
refusal_parse(struct proto_cfg *c, json_t *o, struct ctl_conf *conf)
{
	static const char *const keys[] = { "file", "rate", "burst", NULL };
	const char *slash = strrchr(conf->cdr_path, '/');

	/* Next to the CDR file by default. */
	snprintf(conf->refusal_path, sizeof(conf->refusal_path),
	    "%.*srefused.jsonl", slash ? (int)(slash - conf->cdr_path + 1) :
	    0, conf->cdr_path);
	conf->refusal_rate = 10;
	conf->refusal_burst = 50;
	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return proto_cfg_fail(c, "refusals", "expected an object");
	if (proto_cfg_keys(c, o, "refusals", keys) < 0 ||
	    proto_cfg_string(c, o, "refusals", "file", conf->refusal_path,
	    sizeof(conf->refusal_path), false) < 0 ||
	    proto_cfg_number(c, o, "refusals", "rate", &conf->refusal_rate,
	    0, 100000) < 0 ||
	    proto_cfg_number(c, o, "refusals", "burst", &conf->refusal_burst,
	    1, 1000000) < 0)
		return -1;
	if (conf->refusal_path[0] == '\0')
		return proto_cfg_fail(c, "refusals.file", "must not be empty "
		    "(\"rate\": 0 turns refusal CDRs off)");
	return 0;
}

static struct refusal_log *
refusal_state(struct ctl *c)
{
	if (c->refusals == NULL && (c->refusals = calloc(1,
	    sizeof(*c->refusals))) != NULL) {
		c->refusals->fd = -1;
		c->refusals->tokens = -1;	/* full on first use */
	}
	return c->refusals;
}

static int
refusal_line(struct ctl *c, struct refusal_log *r, json_t *o)
{
	char *line;
	size_t len;
	ssize_t n;

	if (r->pending > 0) {
		json_object_set_new(o, "suppressed", json_integer(
		    (json_int_t)r->pending));
		json_object_set_new(o, "suppressed_since", stamp(r->since));
		r->pending = 0;
	}
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line == NULL)
		return -ENOMEM;
	if (r->fd >= 0 && strcmp(r->path, c->conf->refusal_path) != 0) {
		close(r->fd);	/* a reload moved the file */
		r->fd = -1;
	}
	if (r->fd < 0) {
		snprintf(r->path, sizeof(r->path), "%s", c->conf->refusal_path);
		r->fd = open(r->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (r->fd < 0)
			clog_msg(c, LL_ERROR, "refusal file %s: %s; refusal: %s",
			    r->path, strerror(errno), line);
	}
	len = strlen(line);
	line[len++] = '\n';
	n = r->fd >= 0 ? write(r->fd, line, len) : -1;
	if (r->fd >= 0 && n != (ssize_t)len)
		clog_msg(c, LL_ERROR, "refusal file %s: short write: %s",
		    r->path, strerror(errno));
	free(line);
	r->written++;
	return n == (ssize_t)len ? 0 : -EIO;
}

static void
refill(struct refusal_log *r, const struct ctl_conf *conf, double now)
{
	if (r->tokens < 0)
		r->tokens = conf->refusal_burst;
	else
		r->tokens += (now - r->last) * conf->refusal_rate;
	if (r->tokens > conf->refusal_burst)
		r->tokens = conf->refusal_burst;
	r->last = now;
}

/* A flood went quiet (or goes on): say how much was left out. */
static void
on_refusal_timer(struct ctl *c, su_timer_t *t, void *arg)
{
	struct refusal_log *r = c->refusals;

	if (r == NULL || r->pending == 0 || c->conf->refusal_rate <= 0)
		return;
	refill(r, c->conf, mono_now());
	if (r->tokens < 1) {	/* not yet: a line costs a token too */
		su_timer_set_interval(t, on_refusal_timer, NULL,
		    (su_duration_t)(1000 / c->conf->refusal_rate) + 1);
		return;
	}
	r->tokens -= 1;
	clog_msg(c, LL_WARNING, "refusal CDRs: %llu suppressed (rate limit "
	    "%g/s)", (unsigned long long)r->pending, c->conf->refusal_rate);
	refusal_line(c, r, json_pack("{s:b,s:o,s:s}", "refused", 1,
	    "setup", stamp(wall_now()), "reason", "summary"));
}

static void
fmt_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[64] = "?";

	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%d", ip, ntohs(in->sin_port));
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%d", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

/* A value from the request, or null: the request may be anything. */
static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
credentials_user(const sip_t *sip)
{
	const sip_proxy_authorization_t *pa = sip->sip_proxy_authorization;
	const char *u = pa ? msg_params_find(pa->au_params, "username=") :
	    NULL;
	char buf[128];
	size_t n;

	if (u == NULL)
		return json_null();
	snprintf(buf, sizeof(buf), "%s", u);
	n = strlen(buf);
	if (n >= 2 && buf[0] == '"' && buf[n - 1] == '"') {
		buf[n - 1] = '\0';
		return json_string(buf + 1);
	}
	return json_string(buf);
}

void
cdr_refusal(struct ctl *c, const sip_t *sip, const struct sockaddr *sa,
    const struct trunk *t, int code, const char *reason)
{
	struct refusal_log *r;
	char src[80];
	json_t *o;

	if (c->conf->refusal_rate <= 0 || (r = refusal_state(c)) == NULL)
		return;
	refill(r, c->conf, mono_now());
	if (r->tokens < 1) {
		if (r->pending++ == 0)
			r->since = wall_now();
		r->suppressed++;
		if (r->timer == NULL)
			r->timer = su_timer_create(su_root_task(c->root), 1000);
		/* One summary at most per second, however long the flood. */
		if (r->timer != NULL && r->pending == 1)
			su_timer_set_interval(r->timer, on_refusal_timer, NULL,
			    1000);
		return;
	}
	r->tokens -= 1;
	fmt_addr(sa, src, sizeof(src));
	o = json_pack("{s:b,s:o,s:s,s:o,s:i,s:s}", "refused", 1,
	    "setup", stamp(wall_now()), "source", src,
	    "trunk", t ? json_string(t->name) : json_null(),
	    "final_code", code, "reason", reason);
	json_object_set_new(o, "call_id", jstr(sip && sip->sip_call_id ?
	    sip->sip_call_id->i_id : NULL));
	json_object_set_new(o, "account", sip ? credentials_user(sip) :
	    json_null());
	json_object_set_new(o, "numbers", json_pack("{s:o,s:o}",
	    "called_in", jstr(sip && sip->sip_request ?
	    sip->sip_request->rq_url->url_user : NULL),
	    "calling_in", jstr(sip && sip->sip_from ?
	    sip->sip_from->a_url->url_user : NULL)));
	json_object_set_new(o, "user_agent", jstr(sip && sip->sip_user_agent ?
	    sip->sip_user_agent->g_string : NULL));
	refusal_line(c, r, o);
}

json_t *
refusals_json(struct ctl *c)
{
	const struct refusal_log *r = c->refusals;

	return json_pack("{s:s,s:f,s:I,s:I}", "file", c->conf->refusal_path,
	    "rate", c->conf->refusal_rate,
	    "written", (json_int_t)(r ? r->written : 0),
	    "suppressed", (json_int_t)(r ? r->suppressed : 0));
}

void
refusal_close(struct ctl *c, bool all)
{
	struct refusal_log *r = c->refusals;

	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);	/* reopened on the next line: rotation */
	r->fd = -1;
	if (!all)
		return;
	if (r->timer != NULL)
		su_timer_destroy(r->timer);
	free(r);
	c->refusals = NULL;
}
