/*
 * relay.c: the clients of the relays (trunkline-relayd), in the proto/
 * protocol over their Unix sockets. Non-blocking and driven by the
 * su_root: a request is queued with a callback that runs once, with the
 * reply or with NULL when the relay failed. Replies come in request
 * order; a relay that leaves a request unanswered for relay_timeout, closes
 * the connection or refuses our `auth` is taken down (its requests fail,
 * its calls are ended, new calls go elsewhere) and reconnected later; once
 * back, its sessions are reconciled with our calls (`list`). Each
 * connection subscribes to events (media timeouts), and a periodic
 * `stats` gives the load that relay_pick() balances on.
 *
 * This file is the only one that builds or reads relay messages for a
 * call (relay_offer, relay_answer, relay_delete). A callback never runs
 * inside the function that issued its request: replies are read by the
 * loop, and failures (relay down, a write error, a relay not connected)
 * are queued and run from a zero-delay timer. So a caller may touch its
 * call after issuing a request, and a failure cannot free it under it.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "controller.h"

#define RELAY_TICK_MS		200
#define RELAY_RETRY_S		1.0
#define RELAY_STATS_S		1.0
#define RELAY_OUTBUF_MAX	(8u << 20)
#define RELAY_LIST_PAGE		500	/* sessions per `list` page */

/* relay.c's own requests (auth, stats, list...) read the JSON reply. */
typedef void relay_json_cb(struct ctl *, void *arg, json_t *reply);

struct pending {
	json_int_t	 id;
	relay_json_cb	*jcb;		/* either this ... */
	relay_cb	*cb;		/* ... or a call's, typed */
	void		*arg;
	struct call	*call;		/* its pending count, or NULL */
	double		 deadline;
	struct pending	*next;
};

struct relay {
	struct ctl	*ctl;
	struct relay_conf conf;
	int		 fd;
	int		 widx;		/* su_root registration, 0 none */
	su_wait_t	 wait[1];
	bool		 up, connecting;
	double		 connect_deadline;
	struct proto_framer in;
	struct proto_outbuf out;
	struct pending	*head, *tail;
	struct pending	*failed, *failed_tail;	/* callbacks to run, NULL */
	su_timer_t	*defer;		/* runs them from the loop */
	bool		 end_calls;	/* ... and ends the calls on it */
	bool		 holding;	/* down, its calls kept until ... */
	double		 end_calls_at;	/* ... this (relay_grace) */
	bool		 authed;	/* auth answered (or not needed) */
	bool		 reconcile;	/* list its sessions once authed */
	char		 down_why[96];	/* why it went down: the calls' reason */
	json_int_t	 next_id;
	double		 next_connect;
	double		 next_stats;
	bool		 stats_pending;
	long		 sessions;	/* from the last stats */
	json_t		*webrtc;	/* its WebRTC totals, last stats */
	long		 assigned;	/* calls given to it since then */
	uint64_t	 requests, failures;
	char		 last_error[128];
};

const char *
relay_name(const struct relay *r)
{
	return r->conf.name;
}

/* A WebRTC leg's refusals; dtls_fail counts the fingerprint mismatches. */
static void
rtc_stats_from_leg(struct media_stats *ms, int d, json_t *w)
{
	if (!json_is_object(w))
		return;
	ms->webrtc[d] = true;
	ms->srtp_auth_fail[d] += (uint64_t)json_integer_value(
	    json_object_get(w, "srtp_auth_fail"));
	ms->dtls_fail[d] += (uint64_t)json_integer_value(
	    json_object_get(w, "dtls_fail")) + (uint64_t)json_integer_value(
	    json_object_get(w, "dtls_bad_fingerprint"));
	ms->stun_bad[d] += (uint64_t)json_integer_value(
	    json_object_get(w, "stun_bad"));
}

static void
media_stats_from_streams(struct media_stats *ms, json_t *streams)
{
	size_t i, j;
	json_t *st, *leg;

	memset(ms, 0, sizeof(*ms));
	json_array_foreach(streams, i, st) {
		json_array_foreach(json_object_get(st, "legs"), j, leg) {
			const char *side = json_string_value(json_object_get(leg,
			    "side"));
			json_t *s = json_object_get(leg, "stats");
			int d = side != NULL && strcmp(side, "B") == 0;
			ms->packets[d] += (uint64_t)json_integer_value(
			    json_object_get(s, "packets"));
			ms->bytes[d] += (uint64_t)json_integer_value(
			    json_object_get(s, "bytes"));
			ms->lost[d] += (uint64_t)json_integer_value(
			    json_object_get(s, "lost"));
			rtc_stats_from_leg(ms, d, json_object_get(leg,
			    "webrtc"));
		}
	}
}

/* ---- the relay's media objects (PROTOCOL.md "media") <-> media_desc ---- */

/* A WebRTC leg's fields (websdp.c's), only those set: a relay without
 * the webrtc feature refuses them, and SIP-only calls never have them. */
static void
webrtc_to_json(const struct media_line *l, json_t *o)
{
	static const struct { const char *name; size_t off; } f[] = {
		{ "ice_ufrag", offsetof(struct media_line, ice_ufrag) },
		{ "ice_pwd", offsetof(struct media_line, ice_pwd) },
		{ "fingerprint", offsetof(struct media_line, fingerprint) },
		{ "setup", offsetof(struct media_line, setup) },
		{ "peer_transport", offsetof(struct media_line, peer_transport) },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		const char *v = (const char *)l + f[i].off;
		if (v[0] != '\0')
			json_object_set_new(o, f[i].name, json_string(v));
	}
}

static json_t *
media_to_json(const struct media_desc *md)
{
	json_t *arr = json_array();

	for (int i = 0; i < md->n; i++) {
		const struct media_line *l = &md->line[i];
		json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s}", "type", l->type,
		    "transport", l->transport, "address", l->address,
		    "rtp_port", (int)l->rtp_port, "direction", l->direction);

		if (l->rtcp_port != 0)
			json_object_set_new(o, "rtcp_port",
			    json_integer(l->rtcp_port));
		if (l->rtcp_mux)
			json_object_set_new(o, "rtcp_mux", json_true());
		webrtc_to_json(l, o);
		json_array_append_new(arr, o);
	}
	return arr;
}

static void
copy_str(char *dst, size_t size, json_t *v)
{
	snprintf(dst, size, "%s", json_is_string(v) ? json_string_value(v) :
	    "");
}

/* A string that must not be truncated (an address, a key, a hash): one
 * too long stays empty, and websdp.c refuses the reply. */
static void
copy_whole(char *dst, size_t size, json_t *v)
{
	const char *s = json_string_value(v);

	dst[0] = '\0';
	if (s != NULL && strlen(s) < size)
		memcpy(dst, s, strlen(s) + 1);
}

/* A reply's candidates; a field that does not fit stays empty/0 (websdp.c
 * refuses such a candidate). */
static void
cands_from_json(json_t *arr, struct media_line *l)
{
	size_t i;
	json_t *c;

	json_array_foreach(arr, i, c) {
		struct media_cand *mc = &l->cand[l->ncand];
		json_int_t port = json_integer_value(json_object_get(c, "port"));
		json_int_t prio = json_integer_value(json_object_get(c,
		    "priority"));

		if (l->ncand == MEDIA_MAX_CANDS)
			break;
		copy_whole(mc->address, sizeof(mc->address), json_object_get(c,
		    "address"));
		mc->port = port > 0 && port < 65536 ? (unsigned)port : 0;
		mc->priority = prio > 0 && prio <= 0xffffffffLL ?
		    (uint32_t)prio : 0;
		copy_whole(mc->foundation, sizeof(mc->foundation),
		    json_object_get(c, "foundation"));
		l->ncand++;
	}
}

/* A reply's WebRTC leg fields (PROTOCOL.md); absent ones stay empty. */
static void
webrtc_from_json(json_t *o, struct media_line *l)
{
	copy_whole(l->ice_ufrag, sizeof(l->ice_ufrag), json_object_get(o,
	    "ice_ufrag"));
	copy_whole(l->ice_pwd, sizeof(l->ice_pwd), json_object_get(o,
	    "ice_pwd"));
	copy_whole(l->fingerprint, sizeof(l->fingerprint), json_object_get(o,
	    "fingerprint"));
	copy_whole(l->setup, sizeof(l->setup), json_object_get(o, "setup"));
	l->ice_lite = json_is_true(json_object_get(o, "ice_lite"));
	cands_from_json(json_object_get(o, "candidates"), l);
}

/* A reply's media; what is missing stays empty (sdp_rewrite() refuses
 * a line without an address). */
static void
media_from_json(json_t *arr, struct media_desc *md)
{
	size_t i;
	json_t *o;

	memset(md, 0, sizeof(*md));
	json_array_foreach(arr, i, o) {
		struct media_line *l = &md->line[md->n];
		json_int_t rtp = json_integer_value(json_object_get(o,
		    "rtp_port"));
		json_int_t rtcp = json_integer_value(json_object_get(o,
		    "rtcp_port"));

		if (md->n == PROTO_MAX_MEDIA)
			break;
		copy_str(l->type, sizeof(l->type), json_object_get(o, "type"));
		copy_str(l->transport, sizeof(l->transport),
		    json_object_get(o, "transport"));
		copy_str(l->address, sizeof(l->address),
		    json_object_get(o, "address"));
		copy_str(l->direction, sizeof(l->direction),
		    json_object_get(o, "direction"));
		l->rtp_port = rtp > 0 && rtp < 65536 ? (unsigned)rtp : 0;
		l->rtcp_port = rtcp > 0 && rtcp < 65536 ? (unsigned)rtcp : 0;
		l->rtcp_mux = json_is_true(json_object_get(o, "rtcp_mux"));
		webrtc_from_json(o, l);
		md->n++;
	}
}

/* A reply (NULL: none) as the call's callbacks see it; md holds its
 * media. */
static void
read_reply(json_t *reply, struct relay_reply *rr, struct media_desc *md)
{
	json_t *streams = json_object_get(reply, "streams");

	memset(rr, 0, sizeof(*rr));
	rr->answered = reply != NULL;
	rr->ok = json_is_true(json_object_get(reply, "ok"));
	if (!rr->answered)
		rr->error = "no reply";
	else if (!rr->ok && (rr->error = json_string_value(json_object_get(
	    json_object_get(reply, "error"), "message"))) == NULL)
		rr->error = "refused";
	if (rr->ok && json_is_array(json_object_get(reply, "media"))) {
		media_from_json(json_object_get(reply, "media"), md);
		rr->media = md;
	}
	if (rr->ok && json_is_array(streams)) {
		media_stats_from_streams(&rr->ms, streams);
		rr->has_stats = true;
	}
}

/* Run one callback: the call's request is no longer in flight. */
static void
complete(struct ctl *c, struct pending *p, json_t *reply)
{
	struct relay_reply rr;
	struct media_desc md;

	if (p->call != NULL)
		p->call->pending--;
	if (p->jcb != NULL) {
		p->jcb(c, p->arg, reply);
	} else if (p->cb != NULL) {
		read_reply(reply, &rr, &md);
		p->cb(c, p->arg, &rr);
	}
	free(p);
}

static void hangup_calls(struct relay *);

static void
run_failed(struct ctl *c, su_timer_t *t, void *arg)
{
	struct relay *r = arg;
	struct pending *p = r->failed;

	r->failed = r->failed_tail = NULL;
	while (p != NULL) {
		struct pending *n = p->next;
		complete(c, p, NULL);
		p = n;
	}
	/* After the callbacks: a failed offer may have moved its call to
	 * another relay. */
	if (r->end_calls) {
		r->end_calls = false;
		if (!r->up)
			hangup_calls(r);
	}
}

/*
 * Requests that failed: their callbacks run from the loop, never from
 * the caller of send_request() (which may be in the middle of its call).
 */
static void
fail_pending(struct relay *r, struct pending *p)
{
	struct pending *last = p;

	if (p == NULL && !r->end_calls)
		return;
	if (p != NULL) {
		while (last->next != NULL)
			last = last->next;
		if (r->failed_tail != NULL)
			r->failed_tail->next = p;
		else
			r->failed = p;
		r->failed_tail = last;
	}
	if (r->defer != NULL)
		su_timer_set_interval(r->defer, run_failed, r, 0);
}

static void
relay_down(struct relay *r, const char *why)
{
	struct pending *p = r->head;

	if (r->fd >= 0) {
		clog_msg(r->ctl, LL_WARNING, "relay %s: %s; new calls go to "
		    "other relays until it is back", r->conf.name, why);
		snprintf(r->last_error, sizeof(r->last_error), "%s", why);
		if (r->widx > 0)
			su_root_deregister(r->ctl->root, r->widx);
		close(r->fd);
	}
	if (r->up) {
		/*
		 * Its calls may have lost their media. A relay restarted from
		 * its journal (kill -9, systemd's Restart=) keeps them, and the
		 * kernel may be forwarding meanwhile: keep them for
		 * relay_grace, then end them (from the loop). Back in time,
		 * reconcile() ends only those whose session it lost.
		 */
		snprintf(r->down_why, sizeof(r->down_why), "%s", why);
		r->reconcile = true;
		if (r->ctl->conf->relay_grace > 0) {
			r->holding = true;
			r->end_calls_at = mono_now() + r->ctl->conf->relay_grace;
			clog_msg(r->ctl, LL_WARNING, "relay %s: its calls are "
			    "kept for %gs until it is back", r->conf.name,
			    r->ctl->conf->relay_grace);
		} else {
			r->end_calls = true;
		}
	}
	r->widx = 0;
	r->fd = -1;
	r->up = false;
	r->authed = false;
	r->head = r->tail = NULL;
	r->out.len = 0;		/* unsent requests failed below */
	r->stats_pending = false;
	proto_framer_free(&r->in);
	proto_framer_init(&r->in, PROTO_MAX_LINE);
	r->next_connect = mono_now() + RELAY_RETRY_S;
	fail_pending(r, p);
}

static void
want_write(struct relay *r, bool want)
{
	su_root_eventmask(r->ctl->root, r->widx, r->fd,
	    SU_WAIT_IN | (want ? SU_WAIT_OUT : 0));
}

static int
flush_out(struct relay *r)
{
	int more = proto_outbuf_flush(&r->out, r->fd);

	if (more < 0) {
		relay_down(r, "write failed");
		return -1;
	}
	want_write(r, more);
	return 0;
}

/*
 * A call's relay session is keyed on an id we make, never on the
 * caller's Call-ID: a second caller reusing a victim's Call-ID and
 * From-tag must not reach (re-latch, answer, delete) the victim's
 * session. The counter makes it unique; the random part makes it
 * unguessable for anyone who can see one.
 */
void
relay_key_new(struct ctl *c, struct call *k)
{
	uint64_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint64_t)random() << 32 ^ (uint64_t)random();
	if (c->relay_instance == 0)
		c->relay_instance = (uint32_t)(rnd >> 32) | 1;
	snprintf(k->relay_key, sizeof(k->relay_key), "tl-%08" PRIx32 "-%"
	    PRIx64 "-%016" PRIx64, c->relay_instance, ++c->relay_seq, rnd);
}

/* "tl-<instance>-": the sessions this process made (reconciliation). */
static void
instance_prefix(const struct ctl *c, char *buf, size_t len)
{
	snprintf(buf, len, "tl-%08" PRIx32 "-", c->relay_instance);
}

static void
session_ids(const struct call *k, json_t *req)
{
	json_object_set_new(req, "call_id", json_string(k->relay_key));
	json_object_set_new(req, "from_tag", json_string(k->from_tag));
}

/*
 * Send a request (stolen). cb runs once, later, from the loop: with the
 * reply, or with NULL when the relay is down or goes down before it
 * answers. k (may be NULL) counts it in k->pending until then.
 */
static void
send_request(struct relay *r, json_t *req, relay_json_cb *jcb, relay_cb *cb,
    void *arg, struct call *k)
{
	struct ctl *c = r->ctl;
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		/* The callback is promised; without memory to queue it the
		 * call would hang for ever, holding its limits. */
		clog_msg(c, LL_ERROR, "relay %s: out of memory for a request",
		    r->conf.name);
		abort();
	}
	*p = (struct pending){ ++r->next_id, jcb, cb, arg, k,
	    mono_now() + c->conf->relay_timeout, NULL };
	if (k != NULL)
		k->pending++;
	r->requests++;
	json_object_set_new(req, "id", json_integer(p->id));
	if (!r->up)
		json_decref(req);
	if (!r->up || proto_outbuf_append(&r->out, req) < 0) {
		r->failures++;
		fail_pending(r, p);
		return;
	}
	if (r->tail != NULL)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	/* Written now when the socket takes it; the loop does the rest. A
	 * write error takes the relay down: p fails from the loop. */
	flush_out(r);
}

static void
on_stats(struct ctl *c, void *arg, json_t *reply)
{
	struct relay *r = arg;

	if (reply == NULL)
		return;
	r->stats_pending = false;
	if (json_is_true(json_object_get(reply, "ok"))) {
		r->sessions = (long)json_integer_value(json_object_get(reply,
		    "sessions"));
		r->assigned = 0;
		json_decref(r->webrtc);	/* shown by status as it came */
		r->webrtc = json_incref(json_object_get(reply, "webrtc"));
	}
}

static void relay_ready(struct relay *);
static void connect_failed(struct relay *, int);

static const char *
relay_where(const struct relay *r)
{
	return r->conf.address[0] != '\0' ? r->conf.address : r->conf.socket;
}

static void relay_down(struct relay *, const char *);
static void reconcile(struct relay *);

/* A relay that refuses our secret is down (not merely unusable). */
static void
on_authed(struct ctl *c, void *arg, json_t *reply)
{
	struct relay *r = arg;

	if (reply == NULL)
		return;		/* went down already */
	if (!json_is_true(json_object_get(reply, "ok"))) {
		clog_msg(c, LL_ERROR, "relay %s refused our secret",
		    r->conf.name);
		relay_down(r, "auth refused");
		return;
	}
	r->authed = true;
	reconcile(r);
}

static void
on_subscribed(struct ctl *c, void *arg, json_t *reply)
{
	struct relay *r = arg;

	if (reply != NULL && !json_is_true(json_object_get(reply, "ok")))
		clog_msg(c, LL_WARNING, "relay %s refused subscribe: media "
		    "timeouts will not end calls", r->conf.name);
}

/*
 * A query after a resync or a reconnect came back: a call whose session
 * is gone has ended. After a reconnect (the relay restarted) a browser's
 * call says why: its DTLS/SRTP keys died with the process and are never
 * journalled, so the call ends rather than stay up without media.
 */
static void
resync_answer(struct ctl *c, char *call_id, json_t *reply, bool restarted)
{
	const char *code = json_string_value(json_object_get(
	    json_object_get(reply, "error"), "code"));
	struct call *k;

	if (reply != NULL && code != NULL && strcmp(code, "not_found") == 0) {
		for (k = c->calls; k != NULL; k = k->next)
			if (strcmp(k->relay_key, call_id) == 0 && !k->finished)
				break;
		if (k != NULL && k->relay_session) {
			bool web = k->a.web != NULL || k->b.web != NULL;
			k->relay_session = false;
			b2bua_hangup(c, call_id, BY_RELAY, restarted && web ?
			    "media relay restarted: a WebRTC session (DTLS "
			    "keys) does not survive it" :
			    "media timeout (event lost, found by resync)");
		}
	}
	free(call_id);
}

static void
on_resync_query(struct ctl *c, void *arg, json_t *reply)
{
	resync_answer(c, arg, reply, false);
}

static void
on_reconcile_query(struct ctl *c, void *arg, json_t *reply)
{
	resync_answer(c, arg, reply, true);
}

/* Ask for each of our calls on this relay; those it no longer knows are
 * hung up as a timeout would have. */
static int
query_calls(struct relay *r, relay_json_cb *cb)
{
	struct call *k;
	json_t *req;
	char *id;
	int n = 0;

	for (k = r->ctl->calls; k != NULL; k = k->next) {
		if (k->relay != r || !k->relay_session || k->finished)
			continue;
		if ((id = strdup(k->relay_key)) == NULL)
			break;
		req = proto_request(0, "query");
		json_object_set_new(req, "call_id", json_string(id));
		send_request(r, req, cb, NULL, id, NULL);
		n++;
	}
	return n;
}

/* The relay dropped events for us (we read too slowly): the timeouts
 * among them are lost. */
static void
relay_resync(struct relay *r, json_t *ev)
{
	clog_msg(r->ctl, LL_WARNING, "relay %s: %lld events lost; checking "
	    "our calls on it", r->conf.name,
	    (long long)json_integer_value(json_object_get(ev, "missed")));
	clog_msg(r->ctl, LL_INFO, "relay %s: resync: %d calls queried",
	    r->conf.name, query_calls(r, on_resync_query));
}

static void
on_orphan_deleted(struct ctl *c, void *arg, json_t *reply)
{
	(void)c;
	(void)arg;
	(void)reply;
}

static void list_page(struct relay *, json_int_t offset);

/*
 * One page of the relay's sessions after a reconnect: a session this
 * process made whose call is over (its delete failed while the relay was
 * away) is deleted now; the next page follows.
 */
static void
on_list(struct ctl *c, void *arg, json_t *reply)
{
	struct relay *r = arg;
	json_t *calls = json_object_get(reply, "calls"), *e, *next, *req;
	char prefix[24];
	size_t i;
	int n = 0;

	if (reply == NULL || !json_is_true(json_object_get(reply, "ok")))
		return;
	instance_prefix(c, prefix, sizeof(prefix));
	json_array_foreach(calls, i, e) {
		const char *id = json_string_value(json_object_get(e,
		    "call_id"));
		struct call *k;
		if (id == NULL || strncmp(id, prefix, strlen(prefix)) != 0)
			continue;
		for (k = c->calls; k != NULL; k = k->next)
			if (strcmp(k->relay_key, id) == 0 && !k->finished &&
			    k->relay == r)
				break;
		if (k != NULL)
			continue;
		req = proto_request(0, "delete");
		json_object_set_new(req, "call_id", json_string(id));
		send_request(r, req, on_orphan_deleted, NULL, NULL, NULL);
		n++;
	}
	if (n > 0)
		clog_msg(c, LL_NOTICE, "relay %s: reconcile: %d sessions of "
		    "ended calls deleted", r->conf.name, n);
	next = json_object_get(reply, "next");
	if (json_is_integer(next) && json_integer_value(next) > 0)
		list_page(r, json_integer_value(next));
}

static void
list_page(struct relay *r, json_int_t offset)
{
	json_t *req = proto_request(0, "list");

	json_object_set_new(req, "offset", json_integer(offset));
	json_object_set_new(req, "limit", json_integer(RELAY_LIST_PAGE));
	send_request(r, req, on_list, NULL, r, NULL);
}

/*
 * Back after going down: our calls on it were ended, but their deletes
 * failed, so its sessions may outlive them (a relay restarted from its
 * journal keeps them); and a call may still think it is there. List its
 * sessions page by page, and query our calls on it.
 */
static void
reconcile(struct relay *r)
{
	if (!r->reconcile || !r->up)
		return;
	r->reconcile = false;
	r->holding = false;	/* the calls it still has go on */
	clog_msg(r->ctl, LL_INFO, "relay %s: reconciling after a reconnect: "
	    "%d calls queried", r->conf.name, query_calls(r,
	    on_reconcile_query));
	list_page(r, 0);
}

/* The relay ended a session by itself: the call with that key ends. */
static void
relay_event(struct relay *r, json_t *ev)
{
	const char *name = json_string_value(json_object_get(ev, "event"));
	const char *id = json_string_value(json_object_get(ev, "call_id"));
	const char *why = json_string_value(json_object_get(ev, "reason"));
	struct media_stats ms;

	if (name == NULL || strcmp(name, "timeout") != 0 || id == NULL)
		return;
	media_stats_from_streams(&ms, json_object_get(ev, "streams"));
	b2bua_relay_timeout(r->ctl, id, why != NULL ? why : "?", &ms);
}

static void
handle_line(struct relay *r, const char *line, size_t len)
{
	struct proto_error err;
	json_t *msg = proto_parse_message(line, len, &err);
	struct pending *p = r->head;

	if (msg == NULL) {
		clog_msg(r->ctl, LL_WARNING, "relay %s: bad message: %s",
		    r->conf.name, err.message);
		return;
	}
	if (json_object_get(msg, "event") != NULL) {
		if (json_is_string(json_object_get(msg, "event")) &&
		    strcmp(json_string_value(json_object_get(msg, "event")),
		    "resync") == 0)
			relay_resync(r, msg);
		else
			relay_event(r, msg);
		json_decref(msg);
		return;
	}
	if (p == NULL || json_integer_value(json_object_get(msg, "id")) != p->id) {
		clog_msg(r->ctl, LL_WARNING, "relay %s: reply to no request",
		    r->conf.name);
		json_decref(msg);
		return;
	}
	r->head = p->next;
	if (r->head == NULL)
		r->tail = NULL;
	if (!json_is_true(json_object_get(msg, "ok")))
		r->failures++;
	complete(r->ctl, p, msg);
	json_decref(msg);
}

/* Read and handle what the relay sent, until the socket is empty. */
static void
read_lines(struct relay *r)
{
	char *line;
	size_t len;
	int rc;

	for (;;) {
		rc = proto_framer_recv(&r->in, r->fd);
		if (rc == 0)
			return;
		if (rc < 0) {
			relay_down(r, rc == -EPIPE ? "connection closed" :
			    rc == -ENOMEM ? "out of memory" : "read failed");
			return;
		}
		while ((rc = proto_framer_next(&r->in, &line, &len)) == 1) {
			handle_line(r, line, len);
			if (!r->up)
				return;
		}
		if (rc < 0) {
			relay_down(r, "line too long");
			return;
		}
	}
}

static int
on_readable(struct ctl *c, su_wait_t *w, void *arg)
{
	struct relay *r = arg;
	int ev = su_wait_events(w, r->fd);

	if (r->connecting) {
		int err = 0;
		socklen_t elen = sizeof(err);
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err != 0)
			connect_failed(r, err);
		else if (ev & (SU_WAIT_OUT | SU_WAIT_IN))
			relay_ready(r);
		return 0;
	}
	if ((ev & SU_WAIT_OUT) && flush_out(r) < 0)
		return 0;
	if (ev & (SU_WAIT_IN | SU_WAIT_HUP | SU_WAIT_ERR))
		read_lines(r);
	return 0;
}

/* Connected (or the TCP connect completed): auth, subscribe, stats. */
static void
relay_ready(struct relay *r)
{
	json_t *req;

	r->connecting = false;
	r->up = true;
	r->last_error[0] = '\0';
	su_root_eventmask(r->ctl->root, r->widx, r->fd, SU_WAIT_IN);
	clog_msg(r->ctl, LL_INFO, "relay %s connected (%s)", r->conf.name,
	    relay_where(r));
	/* New calls wait for the auth reply (TCP); a Unix socket needs none. */
	r->authed = r->conf.address[0] == '\0';
	if (!r->authed) {
		req = proto_request(0, "auth");
		json_object_set_new(req, "secret", json_string(r->conf.secret));
		send_request(r, req, on_authed, NULL, r, NULL);
	}
	if (r->up) {
		req = proto_request(0, "subscribe");
		json_object_set_new(req, "events", json_pack("[s]", "timeout"));
		send_request(r, req, on_subscribed, NULL, r, NULL);
	}
	if (r->up) {
		send_request(r, proto_request(0, "stats"), on_stats, NULL, r,
		    NULL);
		r->stats_pending = true;
	}
	r->next_stats = mono_now() + RELAY_STATS_S;
	if (r->authed)
		reconcile(r);
}

static void
connect_failed(struct relay *r, int err)
{
	if (r->widx > 0)
		su_root_deregister(r->ctl->root, r->widx);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->widx = 0;
	r->connecting = false;
	snprintf(r->last_error, sizeof(r->last_error), "connect %s: %s",
	    relay_where(r), strerror(err));
	r->next_connect = mono_now() + RELAY_RETRY_S;
}

static void
relay_connect(struct relay *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const struct sockaddr *sa = (const struct sockaddr *)&sun;
	socklen_t salen = sizeof(sun);
	int family = AF_UNIX, rc;

	if (r->conf.address[0] != '\0') {
		sa = (const struct sockaddr *)&r->conf.tcp;
		salen = addr_len(&r->conf.tcp);
		family = r->conf.tcp.ss_family;
	} else if (strlen(r->conf.socket) >= sizeof(sun.sun_path)) {
		return;
	} else {
		strcpy(sun.sun_path, r->conf.socket);
	}
	r->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		connect_failed(r, errno);
		return;
	}
	rc = connect(r->fd, sa, salen);
	if (rc < 0 && errno != EINPROGRESS) {
		connect_failed(r, errno);
		return;
	}
	su_wait_create(r->wait, r->fd, SU_WAIT_IN | SU_WAIT_OUT);
	r->widx = su_root_register(r->ctl->root, r->wait, on_readable, r, 0);
	if (r->widx <= 0) {
		r->widx = 0;
		connect_failed(r, ENOMEM);
		return;
	}
	if (rc == 0) {
		relay_ready(r);
		return;
	}
	/* TCP in progress: on_readable finishes it when writable. */
	r->connecting = true;
	r->connect_deadline = mono_now() + r->ctl->conf->relay_timeout;
}

static void
relay_tick(struct ctl *c, su_timer_t *t, void *arg)
{
	double now = mono_now();

	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		if (r->connecting) {
			if (now > r->connect_deadline)
				connect_failed(r, ETIMEDOUT);
			continue;
		}
		if (!r->up && r->holding && now >= r->end_calls_at) {
			r->holding = false;
			r->end_calls = true;
			fail_pending(r, NULL);	/* ends them from the loop */
		}
		if (!r->up) {
			if (now >= r->next_connect)
				relay_connect(r);
			continue;
		}
		if (r->head != NULL && now > r->head->deadline) {
			relay_down(r, "no reply within relay_timeout");
			continue;
		}
		if (!r->stats_pending && now >= r->next_stats) {
			r->next_stats = now + RELAY_STATS_S;
			r->stats_pending = true;
			send_request(r, proto_request(0, "stats"), on_stats,
			    NULL, r, NULL);
		}
	}
}

int
relay_open_all(struct ctl *c)
{
	for (int i = 0; i < c->conf->nrelays; i++) {
		struct relay *r = calloc(1, sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		r->ctl = c;
		r->conf = c->conf->relays[i];
		r->fd = -1;
		proto_framer_init(&r->in, PROTO_MAX_LINE);
		proto_outbuf_init(&r->out, RELAY_OUTBUF_MAX);
		c->relays[c->nrelays++] = r;
		r->defer = su_timer_create(su_root_task(c->root), 0);
		if (r->defer == NULL)
			return -ENOMEM;
		relay_connect(r);
		if (!r->up && !r->connecting)
			clog_msg(c, LL_WARNING, "relay %s: %s (retrying)",
			    r->conf.name, r->last_error);
	}
	c->relay_timer = su_timer_create(su_root_task(c->root), RELAY_TICK_MS);
	if (c->relay_timer == NULL)
		return -ENOMEM;
	su_timer_set_for_ever(c->relay_timer, relay_tick, NULL);
	return 0;
}

void
relay_close_all(struct ctl *c)
{
	if (c->relay_timer != NULL)
		su_timer_destroy(c->relay_timer);
	c->relay_timer = NULL;
	/* All down first: failed callbacks may try another relay. */
	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		if (r->widx > 0)
			su_root_deregister(c->root, r->widx);
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
		r->widx = 0;
		r->up = false;
	}
	/* The loop has stopped: the failed callbacks run now. */
	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		struct pending *p = r->head;
		r->head = r->tail = NULL;
		r->end_calls = false;
		r->holding = false;
		fail_pending(r, p);
		if (r->defer != NULL)
			su_timer_reset(r->defer);
		run_failed(c, r->defer, r);
	}
}

void
relay_free_all(struct ctl *c)
{
	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		proto_framer_free(&r->in);
		proto_outbuf_free(&r->out);
		su_timer_destroy(r->defer);
		json_decref(r->webrtc);
		free(r);
	}
	c->nrelays = 0;
}

struct relay *
relay_pick(struct ctl *c)
{
	struct relay *best = NULL;

	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		if (!r->up || !r->authed)
			continue;
		if (best == NULL || r->sessions + r->assigned <
		    best->sessions + best->assigned)
			best = r;
	}
	if (best != NULL)
		best->assigned++;
	return best;
}

json_t *
relays_to_json(struct ctl *c)
{
	json_t *arr = json_array();

	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:s}",
		    "name", r->conf.name, "socket", relay_where(r), "up", r->up && r->authed,
		    "sessions", (json_int_t)r->sessions,
		    "requests", (json_int_t)r->requests,
		    "failures", (json_int_t)r->failures,
		    "last_error", r->last_error);
		if (r->webrtc != NULL)	/* the relay's stats "webrtc" */
			json_object_set(o, "webrtc", r->webrtc);
		json_array_append_new(arr, o);
	}
	return arr;
}

/* ---- the typed client: a call's offer, answer and delete ---- */

static void first_offer(struct call *, json_t *req);

/*
 * The caller's media (its first offer, or a re-offer from the caller's
 * side). The first one carries the label and the relay's interfaces and
 * is kept for relay_offer_retry().
 */
void
relay_offer(struct call *k, struct media_desc *media, relay_cb *cb,
    void *arg)
{
	json_t *req = proto_request(0, "offer");

	session_ids(k, req);
	json_object_set_new(req, "media", media_to_json(media));
	free(media);
	first_offer(k, req);
	send_request(k->relay, req, NULL, cb, arg, k);
}

/*
 * A late offer (the caller's INVITE had no SDP): the callee's media in
 * its 2xx is the offer and makes the session, on leg B (`sender`
 * "callee", PROTOCOL.md); the reply has leg A's ports for the caller.
 * Kept for relay_offer_retry() like the caller's first offer.
 */
void
relay_offer_callee(struct call *k, struct media_desc *media, relay_cb *cb,
    void *arg)
{
	json_t *req = proto_request(0, "offer");

	session_ids(k, req);
	json_object_set_new(req, "to_tag", json_string(k->to_tag));
	json_object_set_new(req, "sender", json_string("callee"));
	json_object_set_new(req, "media", media_to_json(media));
	free(media);
	first_offer(k, req);
	send_request(k->relay, req, NULL, cb, arg, k);
}

/* The request that makes the session also names it and its interfaces. */
static void
first_offer(struct call *k, json_t *req)
{
	const struct relay_conf *rc = &k->relay->conf;
	json_t *ifs;

	if (!k->relay_session) {
		/* The call rings until B's final answer; attempt.c times it. */
		json_object_set_new(req, "ringing", json_true());
		if (k->trunk != NULL)
			json_object_set_new(req, "label",
			    json_string(k->trunk->name));
		ifs = relayif_names(k, rc);	/* the trunk's, the gateway's */
		if (ifs != NULL)
			json_object_set_new(req, "interfaces", ifs);
		json_decref(k->offer_req);
		k->offer_req = json_deep_copy(req);
	}
}

/* The first offer again, to k->relay (another relay after a failure). */
void
relay_offer_retry(struct call *k, relay_cb *cb, void *arg)
{
	json_t *req = json_deep_copy(k->offer_req);
	json_t *ifs = relayif_names(k, &k->relay->conf);

	json_object_del(req, "interfaces");
	if (ifs != NULL)
		json_object_set_new(req, "interfaces", ifs);
	send_request(k->relay, req, NULL, cb, arg, k);
}

/* An answer: the callee's media (its answer, or a re-offer from the
 * callee's side), or with sender "caller" the caller's answer to a late
 * offer (the reply then has leg B's ports, for the callee). */
static void
answer(struct call *k, struct media_desc *media, bool early,
    const char *sender, relay_cb *cb, void *arg)
{
	json_t *req = proto_request(0, "answer");

	session_ids(k, req);
	json_object_set_new(req, "to_tag", json_string(k->to_tag));
	if (sender != NULL)
		json_object_set_new(req, "sender", json_string(sender));
	json_object_set_new(req, "media", media_to_json(media));
	free(media);
	if (early)
		json_object_set_new(req, "early", json_true());
	send_request(k->relay, req, NULL, cb, arg, k);
}

void
relay_answer(struct call *k, struct media_desc *media, relay_cb *cb,
    void *arg)
{
	answer(k, media, false, NULL, cb, arg);
}

/* Early media (18x with SDP): the relay's session keeps ringing. */
void
relay_answer_early(struct call *k, struct media_desc *media, relay_cb *cb,
    void *arg)
{
	answer(k, media, true, NULL, cb, arg);
}

void
relay_answer_caller(struct call *k, struct media_desc *media, relay_cb *cb,
    void *arg)
{
	answer(k, media, false, "caller", cb, arg);
}

void
relay_delete(struct call *k, relay_cb *cb, void *arg)
{
	json_t *req = proto_request(0, "delete");

	session_ids(k, req);
	send_request(k->relay, req, NULL, cb, arg, k);
}

/* The relay went down: its calls have no media any more. */
static void
hangup_calls(struct relay *r)
{
	struct ctl *c = r->ctl;
	char reason[128];
	int n = 0;

	snprintf(reason, sizeof(reason), "media relay failed (%s)",
	    r->down_why);
	for (struct call *k = c->calls; k != NULL; k = k->next) {
		if (k->relay != r || k->finished)
			continue;
		/* No delete to send; a reconnect deletes what is left. */
		k->relay_session = false;
		if (b2bua_relay_lost(k, reason) == 0)
			n++;
	}
	if (n > 0)
		clog_msg(c, LL_WARNING, "relay %s: %d calls on it ended",
		    r->conf.name, n);
}
