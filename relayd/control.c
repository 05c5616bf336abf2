/*
 * control.c: the control socket. A Unix socket (mode from the config) and,
 * optionally, a TCP socket whose connections must pass `auth` with the
 * shared secret first. Each connection reads newline-framed requests
 * (proto_framer), answers them in order and, after `subscribe`, receives
 * events. Output is buffered per connection; a connection that will not
 * read its replies is cut rather than allowed to hold the daemon's memory.
 *
 * Unauthenticated TCP connections have a cap and a deadline of their own
 * (RELAYD_MAX_PREAUTH, RELAYD_AUTH_DEADLINE_MS), so that idle strangers
 * cannot take the slots the controller and the Unix socket need; a wrong
 * secret closes the connection at once. The Unix socket's file mode is
 * its only authentication, so a Unix connection waits in a pool of its
 * own until its first complete request (control.max_pending; when full,
 * the oldest idle one makes room) with a deadline to send it
 * (control.idle_timeout): hundreds of local clients that connect and say
 * nothing cannot take the 256 slots either. A line over PROTO_MAX_LINE
 * gets line_too_long and the connection is closed; `stats` counts all
 * of these under `control`.
 *
 * Events carry a sequence number and wait in a queue of their own (evq),
 * fed into the output as the subscriber reads: a burst (thousands of
 * timeouts in one tick) is delivered, not cut. Only past RELAYD_EVQ_MAX
 * are events dropped, and then the subscriber gets a `resync` event that
 * says how many and which sequence numbers it missed.
 *
 * Replies are not written one by one: a wakeup reads what the client sent
 * (pipelined requests), answers every complete line into the output and
 * marks the connection; control_flush(), once per event-loop round after
 * journal_flush(), writes each marked connection's output in one send().
 * So the journal line of an offer is written before its reply leaves,
 * and a client pipelining N requests costs one write, not N, and one
 * wakeup on its side (bench/findings/offer-rate.md).
 *
 * All connections together hold at most RELAYD_CTL_QUEUED_MAX bytes of
 * unsent replies and events: each one's caps alone would allow 256 times
 * 68 MiB. A reply that would pass it closes the connection holding the
 * most (logged); an event that would pass it is dropped for that
 * subscriber (resync, as above).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "relayd.h"

struct listener {
	struct evtag	 tag;		/* TAG_CONTROL */
	int		 fd;
	bool		 tcp;
};

struct conn {
	struct evtag		 tag;	/* TAG_CONN */
	int			 fd;
	bool			 tcp, authed, subscribed, closing;
	bool			 pollout;	/* EPOLLOUT asked for */
	bool			 pending;	/* on ctl_state.pending */
	bool			 waiting;	/* Unix, no complete request yet */
	size_t			 held;	/* out.len + evq.len, as counted */
	uint64_t		 deadline_ms;	/* 0: none (control_tick) */
	struct proto_framer	 in;
	struct proto_outbuf	 out;	/* replies, and events fed from evq */
	struct proto_outbuf	 evq;	/* events not yet fed into out */
	uint64_t		 missed;	/* events dropped since evq filled */
	uint64_t		 missed_first;	/* seq of the first of them */
	LIST_ENTRY(conn)	 entry;
	LIST_ENTRY(conn)	 pend;	/* output to write this round */
};

struct ctl_state {
	struct listener		 unix_l, tcp_l;
	LIST_HEAD(, conn)	 conns;
	LIST_HEAD(, conn)	 pending;	/* control_flush() writes these */
	size_t			 queued;	/* sum of every conn's held */
	int			 nconns;	/* Unix and authenticated TCP */
	int			 npreauth;	/* TCP before auth */
	int			 nwaiting;	/* Unix before a request */
	uint64_t		 evicted;	/* closed to make room */
	uint64_t		 timed_out;	/* no request or auth in time */
	uint64_t		 too_long;	/* a line over PROTO_MAX_LINE */
	uint64_t		 shed;		/* closed at once, no fds */
	int			 reserve;	/* spare fd for EMFILE, <0 none */
	bool			 starved;	/* accept out of descriptors */
	uint64_t		 paused_until_ms;	/* listeners off */
	uint64_t		 seq;		/* of the last event sent */
};

/* Events fill out up to here: the rest of the cap stays for replies. */
#define EVENT_FEED_LIMIT	(RELAYD_CONN_OUTBUF_MAX / 2)
/* Reads per wakeup (16 KiB each): pipelined requests are answered in
 * batches, yet one client cannot hold the loop (media, other clients). */
#define READS_PER_WAKEUP	4

/* Keep the global count of queued bytes in step with cn's buffers. */
static void
conn_account(struct ctl_state *c, struct conn *cn)
{
	size_t now = cn->out.len + cn->evq.len;

	c->queued = c->queued - cn->held + now;
	cn->held = now;
}

/* Write cn's output at the end of this loop round (control_flush). */
static void
conn_mark(struct ctl_state *c, struct conn *cn)
{
	if (cn->pending)
		return;
	cn->pending = true;
	LIST_INSERT_HEAD(&c->pending, cn, pend);
}

static int
listen_unix(struct relayd *rd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = rd->conf.socket_path;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket from a crash would make bind fail. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, rd->conf.socket_mode) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int
listen_tcp(struct relayd *rd)
{
	const struct sockaddr_storage *ss = &rd->conf.tcp_listen;
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, addr_len(ss)) < 0 ||
	    listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int
control_open(struct relayd *rd)
{
	struct ctl_state *c = calloc(1, sizeof(*c));
	char buf[64];
	int fd;

	if (c == NULL)
		return -ENOMEM;
	rd->ctl = c;
	c->unix_l.fd = c->tcp_l.fd = -1;
	c->reserve = proto_reserve_open();
	fd = listen_unix(rd);
	if (fd < 0) {
		rlog(rd, LL_ERROR, "control socket %s: %s", rd->conf.socket_path,
		    strerror(-fd));
		return fd;
	}
	c->unix_l = (struct listener){ { TAG_CONTROL }, fd, false };
	if (epoll_add(rd, fd, EPOLLIN, &c->unix_l.tag) < 0)
		return -errno;
	rlog(rd, LL_INFO, "control socket %s ready", rd->conf.socket_path);
	if (!rd->conf.tcp_enabled)
		return 0;
	fd = listen_tcp(rd);
	addr_fmt(&rd->conf.tcp_listen, buf, sizeof(buf));
	if (fd < 0) {
		rlog(rd, LL_ERROR, "control TCP %s: %s", buf, strerror(-fd));
		return fd;
	}
	c->tcp_l = (struct listener){ { TAG_CONTROL }, fd, true };
	if (epoll_add(rd, fd, EPOLLIN, &c->tcp_l.tag) < 0)
		return -errno;
	rlog(rd, LL_INFO, "control TCP %s ready (auth required)", buf);
	return 0;
}

static void
conn_close(struct relayd *rd, struct conn *cn)
{
	struct ctl_state *c = rd->ctl;

	epoll_del(rd, cn->fd);
	close(cn->fd);
	cn->fd = -1;
	proto_framer_free(&cn->in);
	proto_outbuf_free(&cn->out);
	proto_outbuf_free(&cn->evq);
	conn_account(c, cn);
	if (cn->pending)
		LIST_REMOVE(cn, pend);
	cn->pending = false;
	LIST_REMOVE(cn, entry);
	if (cn->waiting)
		c->nwaiting--;
	else if (cn->tcp && !cn->authed)
		c->npreauth--;
	else
		c->nconns--;
	defer_free(rd, cn);
}

void
control_close(struct relayd *rd)
{
	struct ctl_state *c = rd->ctl;

	if (c == NULL)
		return;
	while (!LIST_EMPTY(&c->conns))
		conn_close(rd, LIST_FIRST(&c->conns));
	if (c->unix_l.fd >= 0) {
		close(c->unix_l.fd);
		unlink(rd->conf.socket_path);
	}
	if (c->tcp_l.fd >= 0)
		close(c->tcp_l.fd);
	if (c->reserve >= 0)
		close(c->reserve);
	free(c);
	rd->ctl = NULL;
}

/* Only a change costs a syscall: most flushes empty the buffer. */
static void
conn_want_write(struct relayd *rd, struct conn *cn, bool want)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (want ? EPOLLOUT : 0),
		.data.ptr = &cn->tag,
	};

	if (want == cn->pollout)
		return;
	cn->pollout = want;
	epoll_ctl(rd->epfd, EPOLL_CTL_MOD, cn->fd, &ev);
}

/* A connection that is closing may drain its input this long, no more. */
static void
conn_set_closing(struct conn *cn)
{
	uint64_t deadline = now_ms() + RELAYD_CLOSE_DEADLINE_MS;

	cn->closing = true;
	if (cn->deadline_ms == 0 || cn->deadline_ms > deadline)
		cn->deadline_ms = deadline;
}

/*
 * Feed queued events into the output while it has room; once the queue
 * is empty, tell a subscriber that lost events which ones. 0, -ENOMEM.
 */
static int
conn_pump(struct relayd *rd, struct conn *cn)
{
	json_t *ev;

	if (cn->evq.len > 0 &&
	    proto_outbuf_move_lines(&cn->out, &cn->evq, EVENT_FEED_LIMIT) < 0)
		return -ENOMEM;
	if (cn->evq.len > 0 || cn->missed == 0 ||
	    cn->out.len >= EVENT_FEED_LIMIT)
		return 0;
	ev = proto_event("resync");
	json_object_update_new(ev, json_pack("{s:I, s:I, s:I}",
	    "missed", (json_int_t)cn->missed,
	    "first_seq", (json_int_t)cn->missed_first,
	    "last_seq", (json_int_t)(cn->missed_first + cn->missed - 1)));
	if (proto_outbuf_append(&cn->out, ev) < 0)
		return -ENOMEM;
	rlog(rd, LL_NOTICE, "control connection %d: caught up; told it "
	    "%llu events were lost (resync)", cn->fd,
	    (unsigned long long)cn->missed);
	cn->missed = 0;
	return 0;
}

static bool
conn_backlog(const struct conn *cn)
{
	return cn->evq.len > 0 || cn->missed > 0;
}

/* Write what is buffered. -1: the connection is gone (closed here). */
static int
conn_flush(struct relayd *rd, struct conn *cn)
{
	int more = 0;

	/* Bounded: each round sends all of out or stops at a full socket. */
	for (int round = 0; round < 64; round++) {
		if (conn_pump(rd, cn) < 0) {
			rlog(rd, LL_ERROR, "control connection %d: out of "
			    "memory queueing events; closing it", cn->fd);
			conn_close(rd, cn);
			return -1;
		}
		more = proto_outbuf_flush(&cn->out, cn->fd);
		conn_account(rd->ctl, cn);
		if (more < 0) {
			conn_close(rd, cn);
			return -1;
		}
		if (more || !conn_backlog(cn))
			break;
	}
	if (!more && cn->closing && !conn_backlog(cn)) {
		/*
		 * Half-close and drain: closing with unread input would
		 * reset the connection and lose the error reply.
		 */
		shutdown(cn->fd, SHUT_WR);
	}
	conn_want_write(rd, cn, more || conn_backlog(cn));
	return 0;
}

/* The connection holding the most unsent bytes, or NULL. */
static struct conn *
conn_largest(struct ctl_state *c)
{
	struct conn *cn, *big = NULL;

	LIST_FOREACH(cn, &c->conns, entry)
		if (cn->held > 0 && (big == NULL || cn->held > big->held))
			big = cn;
	return big;
}

/*
 * Make room for len more bytes under the global cap by closing the
 * connections that hold the most. -1: cn itself was closed.
 */
static int
ctl_make_room(struct relayd *rd, struct conn *cn, size_t len)
{
	struct ctl_state *c = rd->ctl;
	struct conn *big;

	/* Bounded: each round closes a connection that held bytes. */
	while (c->queued + len > RELAYD_CTL_QUEUED_MAX &&
	    (big = conn_largest(c)) != NULL) {
		rlog(rd, LL_WARNING, "control connection %d does not read: "
		    "%zu bytes of replies and events queued for it, %zu for "
		    "all connections (cap %u); closing it", big->fd, big->held,
		    c->queued, RELAYD_CTL_QUEUED_MAX);
		conn_close(rd, big);
		if (big == cn)
			return -1;
	}
	return 0;
}

/* Queue one message (stolen) for this round's flush. -1: connection gone. */
static int
conn_send(struct relayd *rd, struct conn *cn, json_t *msg)
{
	size_t len;
	char *line = msg != NULL ? proto_encode(msg, &len) : NULL;
	int rc;

	json_decref(msg);
	if (line == NULL)
		return 0;	/* nothing to send */
	if (ctl_make_room(rd, cn, len) < 0) {
		free(line);
		return -1;
	}
	rc = proto_outbuf_append_raw(&cn->out, line, len);
	free(line);
	if (rc == -EMSGSIZE)
		rlog(rd, LL_WARNING, "control connection %d does not read its "
		    "replies (%zu bytes queued); closing it", cn->fd,
		    cn->out.len);
	if (rc < 0) {
		conn_close(rd, cn);
		return -1;
	}
	conn_account(rd->ctl, cn);
	conn_mark(rd->ctl, cn);
	return 0;
}

size_t
control_queued(const struct relayd *rd)
{
	return rd->ctl != NULL ? rd->ctl->queued : 0;
}

void
control_flush(struct relayd *rd)
{
	struct ctl_state *c = rd->ctl;
	struct conn *cn;

	/* Bounded: each round takes one off the list (closed or flushed). */
	while (c != NULL && (cn = LIST_FIRST(&c->pending)) != NULL) {
		LIST_REMOVE(cn, pend);
		cn->pending = false;
		/* A full socket: EPOLLOUT flushes it, not every round. */
		if (!cn->pollout)
			conn_flush(rd, cn);
	}
}

static bool
secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	/* Constant time over the configured secret's length. */
	for (size_t i = 0; i < lb; i++)
		diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
	return diff == 0;
}

/* The connection leaves the pre-auth pool for the main one. */
static json_t *
conn_authed(struct relayd *rd, struct conn *cn, json_t *id)
{
	struct ctl_state *c = rd->ctl;
	struct proto_error err;

	if (cn->authed)
		return proto_reply_ok(id);
	if (c->nconns >= RELAYD_MAX_CONNS) {
		rlog(rd, LL_WARNING, "control TCP connection %d: authenticated "
		    "but %d connections already; closing it", cn->fd,
		    c->nconns);
		conn_set_closing(cn);
		proto_errorf(&err, PROTO_E_INTERNAL, "too many connections");
		return proto_reply_error(id, &err);
	}
	cn->authed = true;
	cn->deadline_ms = 0;
	c->npreauth--;
	c->nconns++;
	return proto_reply_ok(id);
}

/*
 * A Unix connection's first complete request: it leaves the waiting pool
 * for the main one if that has room. If not, it stays waiting, is
 * answered, and is closed at its deadline (or evicted) like any other.
 */
static void
conn_promote(struct relayd *rd, struct conn *cn)
{
	struct ctl_state *c = rd->ctl;

	if (!cn->waiting)
		return;
	if (c->nconns >= RELAYD_MAX_CONNS) {
		rlog(rd, LL_WARNING, "control connection %d: %d connections "
		    "already; answering it until its deadline", cn->fd,
		    c->nconns);
		return;
	}
	cn->waiting = false;
	c->nwaiting--;
	c->nconns++;
	if (!cn->closing)
		cn->deadline_ms = 0;
}

static json_t *
handle_auth(struct relayd *rd, struct conn *cn, json_t *req, json_t *id,
    bool *close_now)
{
	struct proto_error err;
	const char *secret = json_string_value(json_object_get(req, "secret"));

	if (!cn->tcp)
		return proto_reply_ok(id);	/* Unix sockets need none */
	if (secret_equal(secret, rd->conf.tcp_secret))
		return conn_authed(rd, cn, id);
	/*
	 * No draining here: a guesser must not keep a slot while it
	 * decides to close. The reply is written once, best effort.
	 */
	rlog(rd, LL_WARNING, "control TCP connection %d: wrong secret; "
	    "closing it", cn->fd);
	*close_now = true;
	proto_errorf(&err, PROTO_E_UNAUTHORIZED, "wrong secret");
	return proto_reply_error(id, &err);
}

static json_t *
handle_line(struct relayd *rd, struct conn *cn, const char *line, size_t len,
    bool *close_now)
{
	struct proto_error err;
	const char *cmd = NULL;
	json_t *id = NULL, *req, *reply;

	req = proto_parse_request(line, len, PROTO_ROLE_RELAY, &id, &cmd, &err);
	if (req == NULL) {
		rlog(rd, LL_INFO, "control connection %d: %s: %s", cn->fd,
		    proto_err_code(err.code), err.message);
		reply = proto_reply_error(id, &err);
	} else if (strcmp(cmd, "auth") == 0) {
		reply = handle_auth(rd, cn, req, id, close_now);
	} else if (cn->tcp && !cn->authed) {
		proto_errorf(&err, PROTO_E_UNAUTHORIZED, "%s: send auth with "
		    "the shared secret first", cmd);
		reply = proto_reply_error(id, &err);
	} else {
		reply = command_run(rd, cn, cmd, req, id);
		/* The connection counters live here, with the connections. */
		if (strcmp(cmd, "stats") == 0 &&
		    json_is_true(json_object_get(reply, "ok")))
			json_object_set_new(reply, "control", control_json(rd));
	}
	json_decref(req);
	json_decref(id);
	return reply;
}

/* Answer the complete lines read so far. -1: stop reading (closed). */
static int
conn_lines(struct relayd *rd, struct conn *cn)
{
	char *line;
	size_t len;
	int rc;

	while ((rc = proto_framer_next(&cn->in, &line, &len)) == 1) {
		bool close_now = false;

		conn_promote(rd, cn);
		if (conn_send(rd, cn, handle_line(rd, cn, line, len,
		    &close_now)) < 0)
			return -1;
		if (close_now) {
			conn_flush(rd, cn);	/* best effort, once */
			if (cn->fd >= 0)
				conn_close(rd, cn);
			return -1;
		}
		if (cn->closing)
			return -1;
	}
	if (rc == -EMSGSIZE) {
		rd->ctl->too_long++;
		rlog(rd, LL_WARNING, "control connection %d: line over %d "
		    "bytes; closing it", cn->fd, PROTO_MAX_LINE);
		conn_set_closing(cn);
		conn_send(rd, cn, proto_reply_too_long());
		return -1;
	}
	return 0;
}

static void
conn_readable(struct relayd *rd, struct conn *cn)
{
	int rc;

	for (int i = 0; i < READS_PER_WAKEUP; i++) {
		/* Draining after an error: what comes is read and dropped. */
		rc = proto_framer_recv(cn->closing ? NULL : &cn->in, cn->fd);
		if (rc == -EPIPE && cn->out.len > 0) {
			/*
			 * The client sent its last request and shut its side:
			 * its replies still go (best effort), after their
			 * journal lines, as at the end of a loop round.
			 */
			journal_flush(rd);
			conn_flush(rd, cn);
		}
		if (rc < 0) {
			if (cn->fd >= 0)
				conn_close(rd, cn);
			return;
		}
		if (rc == 0)
			return;
		if (cn->closing)
			continue;
		if (conn_lines(rd, cn) < 0)
			return;
	}
}

/*
 * The pre-auth pool is full: the oldest stranger makes room. A client
 * that sends auth at once (the controller) then gets in even while idle
 * connections keep arriving; refusing the newcomer would let a flood of
 * them lock it out.
 */
static void
preauth_evict_oldest(struct relayd *rd)
{
	struct conn *cn, *oldest = NULL;

	LIST_FOREACH(cn, &rd->ctl->conns, entry)
		if (cn->tcp && !cn->authed && (oldest == NULL ||
		    cn->deadline_ms < oldest->deadline_ms))
			oldest = cn;
	if (oldest == NULL)
		return;
	rlog(rd, LL_INFO, "control TCP: %d connections waiting for auth; "
	    "closing the oldest (%d)", rd->ctl->npreauth, oldest->fd);
	rd->ctl->evicted++;
	conn_close(rd, oldest);
}

/* Input read but not yet a complete line, or waiting in the socket. */
static bool
conn_has_input(const struct conn *cn)
{
	int n = 0;

	return cn->in.len > cn->in.off ||
	    (ioctl(cn->fd, FIONREAD, &n) == 0 && n > 0);
}

/*
 * The waiting pool (Unix, before the first request) is full: the oldest
 * idle connection makes room, so that a client that sends its request at
 * once (trunklinectl, the controller) always gets in. One whose request
 * waits unread (accepted in the same burst as the flood) is spared while
 * an idle one is left.
 */
static void
waiting_evict_oldest(struct relayd *rd)
{
	struct ctl_state *c = rd->ctl;
	struct conn *cn, *oldest = NULL, *idle = NULL;

	LIST_FOREACH(cn, &c->conns, entry) {
		if (!cn->waiting)
			continue;
		if (oldest == NULL || cn->deadline_ms < oldest->deadline_ms)
			oldest = cn;
		if (!conn_has_input(cn) && (idle == NULL ||
		    cn->deadline_ms < idle->deadline_ms))
			idle = cn;
	}
	if (idle != NULL)
		oldest = idle;
	if (oldest == NULL)
		return;
	/* A flood would write a line per connection: the first, then one
	 * in a thousand. */
	if (c->evicted++ == 0 || c->evicted % 1000 == 0)
		rlog(rd, LL_WARNING, "control: %d connections without a "
		    "request (control.max_pending); closing the oldest "
		    "(%llu closed to make room so far)", c->nwaiting,
		    (unsigned long long)c->evicted);
	conn_close(rd, oldest);
}

json_t *
control_json(const struct relayd *rd)
{
	const struct ctl_state *c = rd->ctl;

	return json_pack("{s:i, s:i, s:I, s:I, s:I, s:I}",
	    "connections", c->nconns + c->npreauth + c->nwaiting,
	    "pending", c->npreauth + c->nwaiting,
	    "evicted", (json_int_t)c->evicted,
	    "timed_out", (json_int_t)c->timed_out,
	    "too_long", (json_int_t)c->too_long,
	    "shed", (json_int_t)c->shed);
}

/*
 * accept() said EMFILE or ENFILE and the listener stays readable: epoll
 * would spin on it. The spare descriptor accepts and closes what waits
 * (logged once per shortage); without one, both listeners pause for a
 * second (control_tick resumes them).
 */
static void
accept_starved(struct relayd *rd, struct listener *l, int err)
{
	struct ctl_state *c = rd->ctl;
	int rc = 0, n = 0;

	if (!c->starved)
		rlog(rd, LL_WARNING, "control%s: accept: %s; closing new "
		    "connections at once until descriptors are freed",
		    l->tcp ? " TCP" : "", strerror(err));
	c->starved = true;
	while (n < 1024 && (rc = proto_accept_shed(l->fd, &c->reserve)) == 0)
		n++;
	c->shed += (uint64_t)n;
	if (rc == 0 || rc == -EAGAIN)
		return;
	rlog(rd, LL_WARNING, "control: no spare descriptor (%s); not "
	    "accepting for a second", strerror(-rc));
	epoll_del(rd, c->unix_l.fd);
	if (c->tcp_l.fd >= 0)
		epoll_del(rd, c->tcp_l.fd);
	c->paused_until_ms = now_ms() + 1000;
}

static void
accept_conn(struct relayd *rd, struct listener *l)
{
	struct ctl_state *c = rd->ctl;
	struct conn *cn;
	int fd;

	/* Both start in a pool of their own, with a deadline: TCP until
	 * auth, Unix until its first request (conn_promote). */
	int *count = l->tcp ? &c->npreauth : &c->nwaiting;
	int cap = l->tcp ? RELAYD_MAX_PREAUTH : rd->conf.control_max_pending;

	while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (c->starved) {
			c->starved = false;
			rlog(rd, LL_INFO, "control: accepting connections again");
		}
		if (*count >= cap) {
			if (l->tcp)
				preauth_evict_oldest(rd);
			else
				waiting_evict_oldest(rd);
		}
		if (*count >= cap || (cn = calloc(1, sizeof(*cn))) == NULL) {
			rlog(rd, LL_WARNING, "control%s: %d connections %s"
			    "already; refusing another", l->tcp ? " TCP" : "",
			    *count, l->tcp ? "waiting for auth " :
			    "waiting for a request ");
			close(fd);
			continue;
		}
		cn->tag.kind = TAG_CONN;
		cn->fd = fd;
		cn->tcp = l->tcp;
		cn->waiting = !l->tcp;
		cn->deadline_ms = now_ms() + (l->tcp ? RELAYD_AUTH_DEADLINE_MS :
		    (uint64_t)(rd->conf.control_idle_timeout * 1000));
		proto_framer_init(&cn->in, PROTO_MAX_LINE);
		proto_outbuf_init(&cn->out, RELAYD_CONN_OUTBUF_MAX);
		proto_outbuf_init(&cn->evq, RELAYD_EVQ_MAX);
		if (epoll_add(rd, fd, EPOLLIN, &cn->tag) < 0) {
			proto_framer_free(&cn->in);
			free(cn);
			close(fd);
			continue;
		}
		LIST_INSERT_HEAD(&c->conns, cn, entry);
		(*count)++;
		rlog(rd, LL_DEBUG, "control connection %d opened", fd);
	}
	if (errno == EMFILE || errno == ENFILE)
		accept_starved(rd, l, errno);
}

void
control_event(struct relayd *rd, uint32_t events, void *tag)
{
	struct evtag *t = tag;

	if (t->kind == TAG_CONTROL) {
		accept_conn(rd, (struct listener *)t);
		return;
	}
	struct conn *cn = (struct conn *)t;
	if (cn->fd < 0)
		return;		/* closed earlier in this epoll batch */
	if ((events & EPOLLOUT) != 0 && conn_flush(rd, cn) < 0)
		return;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0)
		conn_readable(rd, cn);
}

bool
conn_subscribe(struct conn *cn, json_t *events, struct proto_error *err)
{
	cn->subscribed = true;
	return true;
}

/* Connections past their deadline: pre-auth, or draining after an error. */
void
control_tick(struct relayd *rd)
{
	struct conn *cn, *next;
	uint64_t now = now_ms();

	if (rd->ctl == NULL)
		return;
	if (rd->ctl->paused_until_ms != 0 && now >= rd->ctl->paused_until_ms) {
		rd->ctl->paused_until_ms = 0;
		epoll_add(rd, rd->ctl->unix_l.fd, EPOLLIN, &rd->ctl->unix_l.tag);
		if (rd->ctl->tcp_l.fd >= 0)
			epoll_add(rd, rd->ctl->tcp_l.fd, EPOLLIN,
			    &rd->ctl->tcp_l.tag);
	}
	for (cn = LIST_FIRST(&rd->ctl->conns); cn != NULL; cn = next) {
		next = LIST_NEXT(cn, entry);
		if (cn->deadline_ms == 0 || now < cn->deadline_ms)
			continue;
		if (!cn->closing)
			rd->ctl->timed_out++;
		rlog(rd, LL_INFO, "control connection %d: %s; closing it",
		    cn->fd, cn->closing ? "still open after an error" :
		    cn->waiting ? "no request in time" : "no auth in time");
		conn_close(rd, cn);
	}
}

/* Queue one encoded event; after a drop, drop until resync is sent. */
static void
conn_queue_event(struct relayd *rd, struct conn *cn, const char *line,
    size_t len, uint64_t seq)
{
	if (cn->missed == 0 &&
	    rd->ctl->queued + len <= RELAYD_CTL_QUEUED_MAX &&
	    proto_outbuf_append_raw(&cn->evq, line, len) == 0) {
		conn_account(rd->ctl, cn);
		conn_mark(rd->ctl, cn);
		return;
	}
	if (cn->missed++ == 0) {
		cn->missed_first = seq;
		rlog(rd, LL_WARNING, "control connection %d: %zu bytes of "
		    "events unread (%zu for all connections); dropping events "
		    "from seq %llu until it catches up, then sending resync",
		    cn->fd, cn->evq.len, rd->ctl->queued,
		    (unsigned long long)seq);
	}
}

void
control_broadcast(struct relayd *rd, const char *name, json_t *msg)
{
	struct conn *cn, *next;
	char *line;
	size_t len;

	if (rd->ctl == NULL) {
		json_decref(msg);
		return;
	}
	rd->ctl->seq++;
	json_object_set_new(msg, "seq", json_integer((json_int_t)rd->ctl->seq));
	/* Encoded once for every subscriber. */
	line = proto_encode(msg, &len);
	json_decref(msg);
	if (line == NULL) {
		rlog(rd, LL_ERROR, "%s event: out of memory encoding it", name);
		return;
	}
	for (cn = LIST_FIRST(&rd->ctl->conns); cn != NULL; cn = next) {
		next = LIST_NEXT(cn, entry);
		if (cn->subscribed && !cn->closing)
			conn_queue_event(rd, cn, line, len, rd->ctl->seq);
	}
	free(line);
}
