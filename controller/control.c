/*
 * control.c: the controller's control socket (a Unix socket), in the
 * proto/ protocol with the controller role: status, calls, trunks,
 * hangup, reload (and hello, ping). Driven by the su_root like the SIP
 * stack. Each connection reads newline-framed requests and answers them
 * in order; output is buffered and a connection that will not read its
 * replies is cut.
 *
 * The socket's file mode is its only authentication, so a connection
 * counts as pending until its first complete request: pending ones have
 * a pool of their own (control.max_pending; when it is full the oldest
 * makes room, so a flood of idle clients cannot lock trunklinectl out)
 * and a deadline (control.idle_timeout) to send that request. A line over
 * PROTO_MAX_LINE gets line_too_long, and the connection is closed once
 * the reply is out or at the same deadline. After its first request a
 * connection holds one of the CTL_MAX_CONNS slots, so it must go on
 * sending requests: one silent for control.established_timeout (long:
 * trunklinectl and scripts reconnect) is closed, or clients that sent
 * one request each and went quiet would hold every slot for good.
 *
 * Out of descriptors, accept() fails and the listening socket stays
 * readable: a spare descriptor is given up to accept and close the
 * waiting connections (proto_accept_shed), so the loop does not spin;
 * without one the listener pauses for a second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "controller.h"

#define CONN_OUTBUF_MAX	(4u << 20)

struct conn {
	struct ctl	*ctl;
	int		 fd, widx;
	su_wait_t	 wait[1];
	bool		 closing;
	bool		 pending;	/* no complete request yet */
	double		 deadline;	/* monotonic; 0: none */
	struct proto_framer in;
	struct proto_outbuf out;
	LIST_ENTRY(conn) entry;
};

struct ctl_srv {
	int		 fd, widx;
	su_wait_t	 wait[1];
	char		 path[108];
	LIST_HEAD(, conn) conns;
	int		 nconns;	/* all, pending included */
	int		 npending;
	su_timer_t	*timer;		/* deadlines; armed while any */
	uint64_t	 evicted, timed_out, too_long;
	uint64_t	 idle_closed;	/* established, silent too long */
	double		 timer_due;	/* the timer's deadline; 0: none */
	int		 reserve;	/* spare descriptor, -1 none */
	bool		 starved;	/* accept ran out of descriptors */
	double		 paused_until;	/* listener off until; 0: on */
	uint64_t	 shed;		/* closed at once for want of fds */
};

static void	arm_timer(struct ctl *);

static void
conn_close(struct conn *cn)
{
	struct ctl_srv *s = cn->ctl->srv;

	su_root_deregister(cn->ctl->root, cn->widx);
	close(cn->fd);
	proto_framer_free(&cn->in);
	proto_outbuf_free(&cn->out);
	LIST_REMOVE(cn, entry);
	s->nconns--;
	if (cn->pending)
		s->npending--;
	free(cn);
}

/* A complete request from an established connection: it may stay
 * control.established_timeout more (the timer is moved only if it would
 * fire too late; firing early just re-arms it). */
static void
conn_touch(struct conn *cn)
{
	struct ctl *c = cn->ctl;
	double t = c->conf->control_established_timeout;

	if (cn->pending || cn->closing)
		return;
	cn->deadline = t > 0 ? mono_now() + t : 0;
	if (cn->deadline != 0 && (c->srv->timer_due == 0 ||
	    cn->deadline < c->srv->timer_due))
		arm_timer(c);
}

/* The first complete request: out of the pending pool if the main one
 * has room (else it stays pending, answered until its deadline). */
static void
conn_promote(struct conn *cn)
{
	struct ctl_srv *s = cn->ctl->srv;

	if (!cn->pending || s->nconns - s->npending >= CTL_MAX_CONNS)
		return;
	cn->pending = false;
	s->npending--;
}

/* A line too long: reply, then close once it is out (conn_flush), or at
 * the deadline if the client will not read it. */
static void
conn_too_long(struct conn *cn)
{
	struct ctl *c = cn->ctl;

	c->srv->too_long++;
	clog_msg(c, LL_WARNING, "control connection %d: line over %d bytes; "
	    "closing it", cn->fd, PROTO_MAX_LINE);
	cn->closing = true;
	cn->deadline = mono_now() + c->conf->control_idle_timeout;
	arm_timer(c);
}

/* -1: the connection is gone. */
static int
conn_flush(struct conn *cn)
{
	int more = proto_outbuf_flush(&cn->out, cn->fd);

	if (more < 0) {
		conn_close(cn);
		return -1;
	}
	if (!more && cn->closing) {
		/* The error is out: nothing more will be read. */
		conn_close(cn);
		return -1;
	}
	su_root_eventmask(cn->ctl->root, cn->widx, cn->fd,
	    SU_WAIT_IN | (more ? SU_WAIT_OUT : 0));
	return 0;
}

static int
conn_send(struct conn *cn, json_t *msg)
{
	int rc = proto_outbuf_append(&cn->out, msg);

	if (rc == -EINVAL)
		return 0;	/* nothing to send */
	if (rc < 0) {
		conn_close(cn);
		return -1;
	}
	return conn_flush(cn);
}

static json_t *
trunks_json(struct ctl *c)
{
	json_t *trunks = json_array(), *gws = json_array();

	for (int i = 0; i < c->conf->ntrunks; i++) {
		const struct trunk *t = &c->conf->trunks[i];
		struct limit_state *l = limits_get(c, t->name);
		json_array_append_new(trunks, json_pack(
		    "{s:s,s:i,s:b,s:i,s:f,s:i,s:I,s:o}", "name", t->name,
		    "sources", t->nsources, "digest", t->username[0] != '\0',
		    "max_calls", t->max_calls, "max_cps", t->max_cps,
		    "active", l ? l->active : 0,
		    "rejected", (json_int_t)(l ? l->rejected : 0),
		    "registration", register_json(c, t)));
	}
	for (int i = 0; i < c->conf->ngateways; i++) {
		const struct gateway *g = &c->conf->gateways[i];
		json_t *gj = json_pack("{s:s,s:s,s:i}", "name", g->name,
		    "host", g->host, "port", g->port);
		json_object_update_new(gj, health_json(c, g));
		json_array_append_new(gws, gj);
	}
	return json_pack("{s:o,s:o,s:o}", "trunks", trunks, "gateways", gws,
	    "relays", relays_to_json(c));
}

static json_t *
run(struct ctl *c, const char *cmd, json_t *req, json_t *id)
{
	struct proto_error err;
	json_t *r = proto_reply_ok(id);
	char msg[512];

	if (strcmp(cmd, "ping") == 0) {
		json_object_set_new(r, "pong", json_true());
	} else if (strcmp(cmd, "hello") == 0) {
		json_object_set_new(r, "protocol", json_integer(PROTO_VERSION));
		json_object_set_new(r, "server",
		    json_string("trunkline-controller"));
		json_object_set_new(r, "version", json_string(TRUNKLINE_VERSION));
	} else if (strcmp(cmd, "status") == 0) {
		json_object_update_new(r, json_pack(
		    "{s:s,s:f,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}",
		    "version", TRUNKLINE_VERSION,
		    "uptime", mono_now() - c->started,
		    "calls", c->ncalls,
		    "calls_total", (json_int_t)c->stats.calls_total,
		    "calls_connected", (json_int_t)c->stats.calls_connected,
		    "calls_failed", (json_int_t)c->stats.calls_failed,
		    "rejected_unknown", (json_int_t)c->stats.rejected_unknown,
		    "rejected_auth", (json_int_t)c->stats.rejected_auth,
		    "rejected_limits", (json_int_t)c->stats.rejected_limits,
		    "reloads", (json_int_t)c->stats.reloads,
		    "reload_errors", (json_int_t)c->stats.reload_errors,
		    "config", c->conf->path));
		json_object_set_new(r, "relays", relays_to_json(c));
		json_object_set_new(r, "protection", protect_json(c));
		json_object_set_new(r, "sip_filter", sipfilter_json(c));
		json_object_set_new(r, "trust", json_pack("{s:I,s:I,s:I,s:I,"
		    "s:I}", "contacts_refused",
		    (json_int_t)c->stats.contacts_refused,
		    "enum_refused", (json_int_t)c->stats.enum_refused,
		    "loops_refused", (json_int_t)c->stats.loops_refused,
		    "pai_ignored", (json_int_t)c->stats.pai_ignored,
		    "cli_replaced", (json_int_t)c->stats.cli_replaced));
		json_object_set_new(r, "refusals", refusals_json(c));
		json_object_set_new(r, "auth", auth_json(c));
		json_object_set_new(r, "web", web_json(c));
		json_object_set_new(r, "control", control_json(c));
	} else if (strcmp(cmd, "calls") == 0) {
		json_object_set_new(r, "calls", calls_to_json(c));
	} else if (strcmp(cmd, "trunks") == 0) {
		json_object_update_new(r, trunks_json(c));
	} else if (strcmp(cmd, "locations") == 0) {	/* registrar.c */
		json_object_set_new(r, "locations", locations_to_json(c));
		json_object_set_new(r, "accounts", accounts_to_json(c));
	} else if (strcmp(cmd, "reload") == 0) {
		if (ctl_reload(c, msg, sizeof(msg)) < 0) {
			json_decref(r);
			proto_errorf(&err, PROTO_E_VALUE, "reload: %s", msg);
			return proto_reply_error(id, &err);
		}
		json_object_set_new(r, "config", json_string(c->conf->path));
	} else if (strcmp(cmd, "hangup") == 0) {
		const char *cid = json_string_value(json_object_get(req,
		    "call_id"));
		const char *why = json_string_value(json_object_get(req,
		    "reason"));
		if (b2bua_hangup(c, cid, BY_CONTROLLER, why ? why :
		    "hangup by operator") < 0) {
			json_decref(r);
			proto_errorf(&err, PROTO_E_NOT_FOUND, "hangup: no call "
			    "'%.*s'", (int)proto_utf8_prefix(cid, 200), cid);
			return proto_reply_error(id, &err);
		}
	} else {
		json_decref(r);
		proto_errorf(&err, PROTO_E_UNKNOWN_CMD, "%s: not served by "
		    "the controller", cmd);
		return proto_reply_error(id, &err);
	}
	return r;
}

static json_t *
handle_line(struct ctl *c, const char *line, size_t len)
{
	struct proto_error err;
	const char *cmd = NULL;
	json_t *id = NULL, *req, *reply;

	req = proto_parse_request(line, len, PROTO_ROLE_CONTROLLER, &id, &cmd,
	    &err);
	if (req == NULL)
		reply = proto_reply_error(id, &err);
	else
		reply = run(c, cmd, req, id);
	json_decref(req);
	json_decref(id);
	return reply;
}

static int
on_conn(struct ctl *c, su_wait_t *w, void *arg)
{
	struct conn *cn = arg;
	int ev = su_wait_events(w, cn->fd);
	char *line;
	size_t len;
	int rc;

	if ((ev & SU_WAIT_OUT) && conn_flush(cn) < 0)
		return 0;
	if (!(ev & (SU_WAIT_IN | SU_WAIT_HUP | SU_WAIT_ERR)))
		return 0;
	/* Draining after an error: what comes is read and dropped. */
	rc = proto_framer_recv(cn->closing ? NULL : &cn->in, cn->fd);
	if (rc < 0) {
		conn_close(cn);
		return 0;
	}
	if (rc == 0 || cn->closing)
		return 0;
	while ((rc = proto_framer_next(&cn->in, &line, &len)) == 1) {
		conn_promote(cn);
		conn_touch(cn);
		if (conn_send(cn, handle_line(c, line, len)) < 0)
			return 0;
	}
	if (rc == -EMSGSIZE) {
		conn_too_long(cn);
		conn_send(cn, proto_reply_too_long());
	}
	return 0;
}

/* Pending connections past their deadline, and those draining after an
 * error; re-armed while any deadline is left. */
static void
on_deadline(struct ctl *c, su_timer_t *t, void *arg)
{
	struct ctl_srv *s = c->srv;
	struct conn *cn, *next;
	double now = mono_now();

	if (s->paused_until != 0 && now >= s->paused_until) {
		s->paused_until = 0;
		su_root_eventmask(c->root, s->widx, s->fd, SU_WAIT_ACCEPT);
	}
	for (cn = LIST_FIRST(&s->conns); cn != NULL; cn = next) {
		next = LIST_NEXT(cn, entry);
		if (cn->deadline == 0 || now < cn->deadline)
			continue;
		if (!cn->closing && cn->pending)
			s->timed_out++;
		else if (!cn->closing)
			s->idle_closed++;
		clog_msg(c, LL_INFO, "control connection %d: %s; closing it",
		    cn->fd, cn->closing ? "still open after an error" :
		    cn->pending ? "no request in time" : "no request within "
		    "control.established_timeout");
		conn_close(cn);
	}
	arm_timer(c);
}

static void
arm_timer(struct ctl *c)
{
	struct ctl_srv *s = c->srv;
	struct conn *cn;
	double first = s->paused_until;

	LIST_FOREACH(cn, &s->conns, entry)
		if (cn->deadline != 0 && (first == 0 || cn->deadline < first))
			first = cn->deadline;
	s->timer_due = s->timer != NULL ? first : 0;
	if (first == 0 || s->timer == NULL)
		return;
	double ms = (first - mono_now()) * 1000 + 10;
	su_timer_set_interval(s->timer, on_deadline, NULL,
	    ms < 10 ? 10 : (su_duration_t)ms);
}

/*
 * The pending pool is full: the oldest makes room. A client that sends
 * its request at once (trunklinectl) then gets in even while idle
 * connections keep arriving; refusing the newcomer would let a flood of
 * them lock it out.
 */
static bool
conn_has_input(const struct conn *cn)
{
	int n = 0;

	return cn->in.len > cn->in.off || (ioctl(cn->fd, FIONREAD, &n) == 0 && n > 0);
}

/* A connection whose request waits unread (accepted in the same burst as
 * the flood) is spared while an idle one is left. */
static void
pending_evict_oldest(struct ctl *c)
{
	struct conn *cn, *oldest = NULL, *idle = NULL;

	LIST_FOREACH(cn, &c->srv->conns, entry) {
		if (!cn->pending)
			continue;
		if (oldest == NULL || cn->deadline < oldest->deadline)
			oldest = cn;
		if (!conn_has_input(cn) && (idle == NULL ||
		    cn->deadline < idle->deadline))
			idle = cn;
	}
	if (idle != NULL)
		oldest = idle;
	if (oldest == NULL)
		return;
	if (c->srv->evicted++ == 0 || c->srv->evicted % 1000 == 0)
		clog_msg(c, LL_WARNING, "control: %d connections without a "
		    "request (control.max_pending); closing the oldest "
		    "(%llu so far)", c->srv->npending,
		    (unsigned long long)c->srv->evicted);
	conn_close(oldest);
}

json_t *
control_json(struct ctl *c)
{
	struct ctl_srv *s = c->srv;

	return json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I}", "connections",
	    s->nconns, "pending", s->npending,
	    "evicted", (json_int_t)s->evicted,
	    "timed_out", (json_int_t)s->timed_out,
	    "idle_closed", (json_int_t)s->idle_closed,
	    "too_long", (json_int_t)s->too_long,
	    "shed", (json_int_t)s->shed);
}

/* accept() said EMFILE or ENFILE: close what waits (logged once per
 * shortage), or pause the listener if there is no spare descriptor. */
static void
accept_starved(struct ctl *c, int err)
{
	struct ctl_srv *s = c->srv;
	int rc = 0, n = 0;

	if (!s->starved)
		clog_msg(c, LL_WARNING, "control: accept: %s; closing new "
		    "connections at once until descriptors are freed",
		    strerror(err));
	s->starved = true;
	while (n < 1024 && (rc = proto_accept_shed(s->fd, &s->reserve)) == 0)
		n++;
	s->shed += n;
	if (rc == 0 || rc == -EAGAIN)
		return;
	clog_msg(c, LL_WARNING, "control: no spare descriptor (%s); not "
	    "accepting for a second", strerror(-rc));
	su_root_eventmask(c->root, s->widx, s->fd, 0);
	s->paused_until = mono_now() + 1;
	arm_timer(c);
}

static int
on_accept(struct ctl *c, su_wait_t *w, void *arg)
{
	struct ctl_srv *s = c->srv;
	struct conn *cn;
	int fd;

	while ((fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) >= 0) {
		if (s->starved) {
			s->starved = false;
			clog_msg(c, LL_INFO, "control: accepting connections "
			    "again (%llu closed at once so far)",
			    (unsigned long long)s->shed);
		}
		if (s->npending >= c->conf->control_max_pending)
			pending_evict_oldest(c);
		if ((cn = calloc(1, sizeof(*cn))) == NULL) {
			close(fd);
			continue;
		}
		cn->ctl = c;
		cn->fd = fd;
		cn->pending = true;
		cn->deadline = mono_now() + c->conf->control_idle_timeout;
		proto_framer_init(&cn->in, PROTO_MAX_LINE);
		proto_outbuf_init(&cn->out, CONN_OUTBUF_MAX);
		su_wait_create(cn->wait, fd, SU_WAIT_IN);
		cn->widx = su_root_register(c->root, cn->wait, on_conn, cn, 0);
		if (cn->widx <= 0) {
			proto_framer_free(&cn->in);
			free(cn);
			close(fd);
			continue;
		}
		LIST_INSERT_HEAD(&s->conns, cn, entry);
		s->nconns++;
		s->npending++;
	}
	if (errno == EMFILE || errno == ENFILE)
		accept_starved(c, errno);
	arm_timer(c);
	return 0;
}

int
control_open(struct ctl *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl_srv *s = calloc(1, sizeof(*s));
	const char *path = c->conf->socket_path;

	if (s == NULL)
		return -ENOMEM;
	c->srv = s;
	s->fd = -1;
	s->reserve = proto_reserve_open();	/* -1: pause when starved */
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	strcpy(s->path, path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	unlink(path);	/* a stale socket from a crash */
	if (bind(s->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, c->conf->socket_mode) < 0 || listen(s->fd, 64) < 0)
		return -errno;
	s->timer = su_timer_create(su_root_task(c->root), 1000);
	if (s->timer == NULL)
		return -ENOMEM;
	su_wait_create(s->wait, s->fd, SU_WAIT_ACCEPT);
	s->widx = su_root_register(c->root, s->wait, on_accept, s, 0);
	if (s->widx <= 0)
		return -ENOMEM;
	clog_msg(c, LL_INFO, "control socket %s ready", path);
	return 0;
}

void
control_close(struct ctl *c)
{
	struct ctl_srv *s = c->srv;

	if (s == NULL)
		return;
	while (!LIST_EMPTY(&s->conns))
		conn_close(LIST_FIRST(&s->conns));
	if (s->timer != NULL)
		su_timer_destroy(s->timer);
	if (s->reserve >= 0)
		close(s->reserve);
	if (s->fd >= 0) {
		if (s->widx > 0)
			su_root_deregister(c->root, s->widx);
		close(s->fd);
		unlink(s->path);
	}
	free(s);
	c->srv = NULL;
}
