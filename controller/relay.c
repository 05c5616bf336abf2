/*
 * relay.c: the clients of the relays (trunkline-relayd), in the proto/
 * protocol over their Unix sockets. Non-blocking and driven by the
 * su_root: a request is queued with a callback that runs once, with the
 * reply or with NULL when the relay failed. Replies come in request
 * order; a relay that leaves a request unanswered for relay_timeout is
 * taken down (its requests fail, new calls go elsewhere) and reconnected
 * later. Each connection subscribes to events (media timeouts), and a
 * periodic `stats` gives the load that relay_pick() balances on.
 */
#include <errno.h>
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

struct pending {
	json_int_t	 id;
	relay_cb	*cb;
	void		*arg;
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
	json_int_t	 next_id;
	double		 next_connect;
	double		 next_stats;
	bool		 stats_pending;
	long		 sessions;	/* from the last stats */
	long		 assigned;	/* calls given to it since then */
	uint64_t	 requests, failures;
	char		 last_error[128];
};

const struct relay_conf *
relay_config(const struct relay *r)
{
	return &r->conf;
}

const char *
relay_name(const struct relay *r)
{
	return r->conf.name;
}

static void
fail_pending(struct ctl *c, struct pending *p)
{
	while (p != NULL) {
		struct pending *n = p->next;
		if (p->cb != NULL)
			p->cb(c, p->arg, NULL);
		free(p);
		p = n;
	}
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
	r->widx = 0;
	r->fd = -1;
	r->up = false;
	r->head = r->tail = NULL;
	r->out.len = 0;		/* unsent requests failed below */
	r->stats_pending = false;
	proto_framer_free(&r->in);
	proto_framer_init(&r->in, PROTO_MAX_LINE);
	r->next_connect = mono_now() + RELAY_RETRY_S;
	fail_pending(r->ctl, p);
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
	snprintf(k->relay_key, sizeof(k->relay_key), "tl-%" PRIx64 "-%016"
	    PRIx64, ++c->relay_seq, rnd);
}

void
relay_session_ids(const struct call *k, json_t *req)
{
	json_object_set_new(req, "call_id", json_string(k->relay_key));
	json_object_set_new(req, "from_tag", json_string(k->from_tag));
}

int
relay_request(struct ctl *c, struct relay *r, json_t *req, relay_cb *cb,
    void *arg)
{
	struct pending *p;

	if (!r->up) {
		json_decref(req);
		return -ENOTCONN;
	}
	p = calloc(1, sizeof(*p));
	json_object_set_new(req, "id", json_integer(++r->next_id));
	if (p == NULL) {
		json_decref(req);
		return -ENOMEM;
	}
	if (proto_outbuf_append(&r->out, req) < 0) {
		free(p);
		return -ENOMEM;
	}
	*p = (struct pending){ r->next_id, cb, arg,
	    mono_now() + c->conf->relay_timeout, NULL };
	if (r->tail != NULL)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	r->requests++;
	/*
	 * Written now when the socket takes it; the loop does the rest. A
	 * write error takes the relay down, which runs cb with NULL: the
	 * request is owned by the callback from here on either way.
	 */
	flush_out(r);
	return 0;
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
	}
}

static void relay_ready(struct relay *);
static void connect_failed(struct relay *, int);

static const char *
relay_where(const struct relay *r)
{
	return r->conf.address[0] != '\0' ? r->conf.address : r->conf.socket;
}

static void
on_authed(struct ctl *c, void *arg, json_t *reply)
{
	struct relay *r = arg;

	if (reply != NULL && !json_is_true(json_object_get(reply, "ok")))
		clog_msg(c, LL_ERROR, "relay %s refused our secret", r->conf.name);
}

static void
on_subscribed(struct ctl *c, void *arg, json_t *reply)
{
	struct relay *r = arg;

	if (reply != NULL && !json_is_true(json_object_get(reply, "ok")))
		clog_msg(c, LL_WARNING, "relay %s refused subscribe: media "
		    "timeouts will not end calls", r->conf.name);
}

/* A resync's query came back: a call whose session is gone has ended. */
static void
on_resync_query(struct ctl *c, void *arg, json_t *reply)
{
	char *call_id = arg;
	const char *code = json_string_value(json_object_get(
	    json_object_get(reply, "error"), "code"));
	struct call *k;

	if (reply != NULL && code != NULL && strcmp(code, "not_found") == 0) {
		for (k = c->calls; k != NULL; k = k->next)
			if (strcmp(k->call_id, call_id) == 0 && !k->finished)
				break;
		if (k != NULL && k->relay_session) {
			k->relay_session = false;
			b2bua_hangup(c, call_id, BY_RELAY,
			    "media timeout (event lost, found by resync)");
		}
	}
	free(call_id);
}

/*
 * The relay dropped events for us (we read too slowly): the timeouts among
 * them are lost. Ask for each of our calls on this relay; those it no
 * longer knows are hung up as a timeout would have.
 */
static void
relay_resync(struct relay *r, json_t *ev)
{
	struct call *k;
	json_t *req;
	char *id;
	int n = 0;

	clog_msg(r->ctl, LL_WARNING, "relay %s: %lld events lost; checking "
	    "our calls on it", r->conf.name,
	    (long long)json_integer_value(json_object_get(ev, "missed")));
	for (k = r->ctl->calls; k != NULL; k = k->next) {
		if (k->relay != r || !k->relay_session || k->finished)
			continue;
		if ((id = strdup(k->call_id)) == NULL)
			break;
		req = proto_request(0, "query");
		json_object_set_new(req, "call_id", json_string(id));
		if (relay_request(r->ctl, r, req, on_resync_query, id) < 0) {
			free(id);	/* not queued: no callback */
			break;
		}
		n++;
	}
	clog_msg(r->ctl, LL_INFO, "relay %s: resync: %d calls queried",
	    r->conf.name, n);
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
			b2bua_relay_event(r->ctl, msg);
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
	p->cb(r->ctl, p->arg, msg);
	free(p);
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
	if (r->conf.address[0] != '\0') {
		req = proto_request(0, "auth");
		json_object_set_new(req, "secret", json_string(r->conf.secret));
		relay_request(r->ctl, r, req, on_authed, r);
	}
	if (r->up) {
		req = proto_request(0, "subscribe");
		json_object_set_new(req, "events", json_pack("[s]", "timeout"));
		relay_request(r->ctl, r, req, on_subscribed, r);
	}
	if (r->up && relay_request(r->ctl, r, proto_request(0, "stats"),
	    on_stats, r) == 0)
		r->stats_pending = true;
	r->next_stats = mono_now() + RELAY_STATS_S;
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
			if (relay_request(c, r, proto_request(0, "stats"),
			    on_stats, r) == 0)
				r->stats_pending = true;
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
	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		struct pending *p = r->head;
		r->head = r->tail = NULL;
		fail_pending(c, p);
	}
}

void
relay_free_all(struct ctl *c)
{
	for (int i = 0; i < c->nrelays; i++) {
		struct relay *r = c->relays[i];
		proto_framer_free(&r->in);
		proto_outbuf_free(&r->out);
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
		if (!r->up)
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
		json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:s}",
		    "name", r->conf.name, "socket", relay_where(r), "up", r->up,
		    "sessions", (json_int_t)r->sessions,
		    "requests", (json_int_t)r->requests,
		    "failures", (json_int_t)r->failures,
		    "last_error", r->last_error));
	}
	return arr;
}
