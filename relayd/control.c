/*
 * control.c: the control socket. A Unix socket (mode from the config) and,
 * optionally, a TCP socket whose connections must pass `auth` with the
 * shared secret first. Each connection reads newline-framed requests
 * (proto_framer), answers them in order and, after `subscribe`, receives
 * events. Output is buffered per connection; a connection that will not
 * read is cut rather than allowed to hold the daemon's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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
	struct proto_framer	 in;
	struct proto_outbuf	 out;
	LIST_ENTRY(conn)	 entry;
};

struct ctl_state {
	struct listener		 unix_l, tcp_l;
	LIST_HEAD(, conn)	 conns;
	int			 nconns;
};

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
	LIST_REMOVE(cn, entry);
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
	free(c);
	rd->ctl = NULL;
}

static void
conn_want_write(struct relayd *rd, struct conn *cn, bool want)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (want ? EPOLLOUT : 0),
		.data.ptr = &cn->tag,
	};

	epoll_ctl(rd->epfd, EPOLL_CTL_MOD, cn->fd, &ev);
}

/* Write what is buffered. -1: the connection is gone (closed here). */
static int
conn_flush(struct relayd *rd, struct conn *cn)
{
	int more = proto_outbuf_flush(&cn->out, cn->fd);

	if (more < 0) {
		conn_close(rd, cn);
		return -1;
	}
	if (!more && cn->closing) {
		/*
		 * Half-close and drain: closing with unread input would
		 * reset the connection and lose the error reply.
		 */
		shutdown(cn->fd, SHUT_WR);
	}
	conn_want_write(rd, cn, more);
	return 0;
}

/* Queue one message (stolen) and try to write it. -1: connection gone. */
static int
conn_send(struct relayd *rd, struct conn *cn, json_t *msg)
{
	int rc = proto_outbuf_append(&cn->out, msg);

	if (rc == -EINVAL)
		return 0;	/* nothing to send */
	if (rc == -EMSGSIZE)
		rlog(rd, LL_WARNING, "control connection %d does not read its "
		    "replies (%zu bytes queued); closing it", cn->fd,
		    cn->out.len);
	if (rc < 0) {
		conn_close(rd, cn);
		return -1;
	}
	return conn_flush(rd, cn);
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

static json_t *
handle_auth(struct relayd *rd, struct conn *cn, json_t *req, json_t *id)
{
	struct proto_error err;
	const char *secret = json_string_value(json_object_get(req, "secret"));

	if (cn->tcp && secret_equal(secret, rd->conf.tcp_secret)) {
		cn->authed = true;
		return proto_reply_ok(id);
	}
	if (!cn->tcp)
		return proto_reply_ok(id);	/* Unix sockets need none */
	rlog(rd, LL_WARNING, "control TCP connection %d: wrong secret; "
	    "closing it", cn->fd);
	cn->closing = true;
	proto_errorf(&err, PROTO_E_UNAUTHORIZED, "wrong secret");
	return proto_reply_error(id, &err);
}

static json_t *
handle_line(struct relayd *rd, struct conn *cn, const char *line, size_t len)
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
		reply = handle_auth(rd, cn, req, id);
	} else if (cn->tcp && !cn->authed) {
		proto_errorf(&err, PROTO_E_UNAUTHORIZED, "%s: send auth with "
		    "the shared secret first", cmd);
		reply = proto_reply_error(id, &err);
	} else {
		reply = command_run(rd, cn, cmd, req, id);
	}
	json_decref(req);
	json_decref(id);
	return reply;
}

static void
conn_readable(struct relayd *rd, struct conn *cn)
{
	char *line;
	size_t len;
	int rc;

	/* Draining after an error: what comes is read and dropped. */
	rc = proto_framer_recv(cn->closing ? NULL : &cn->in, cn->fd);
	if (rc < 0) {
		conn_close(rd, cn);
		return;
	}
	if (rc == 0 || cn->closing)
		return;
	while ((rc = proto_framer_next(&cn->in, &line, &len)) == 1) {
		if (conn_send(rd, cn, handle_line(rd, cn, line, len)) < 0)
			return;
		if (cn->closing)
			return;
	}
	if (rc == -EMSGSIZE) {
		rlog(rd, LL_WARNING, "control connection %d: line over %d "
		    "bytes; closing it", cn->fd, PROTO_MAX_LINE);
		cn->closing = true;
		conn_send(rd, cn, proto_reply_too_long());
	}
}

static void
accept_conn(struct relayd *rd, struct listener *l)
{
	struct ctl_state *c = rd->ctl;
	struct conn *cn;
	int fd;

	while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (c->nconns >= RELAYD_MAX_CONNS || (cn = calloc(1, sizeof(*cn))) == NULL) {
			rlog(rd, LL_WARNING, "control: %d connections already; "
			    "refusing another", c->nconns);
			close(fd);
			continue;
		}
		cn->tag.kind = TAG_CONN;
		cn->fd = fd;
		cn->tcp = l->tcp;
		proto_framer_init(&cn->in, PROTO_MAX_LINE);
		proto_outbuf_init(&cn->out, RELAYD_CONN_OUTBUF_MAX);
		if (epoll_add(rd, fd, EPOLLIN, &cn->tag) < 0) {
			proto_framer_free(&cn->in);
			free(cn);
			close(fd);
			continue;
		}
		LIST_INSERT_HEAD(&c->conns, cn, entry);
		c->nconns++;
		rlog(rd, LL_DEBUG, "control connection %d opened", fd);
	}
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

void
control_broadcast(struct relayd *rd, const char *name, json_t *msg)
{
	struct conn *cn, *next;

	if (rd->ctl != NULL)
		for (cn = LIST_FIRST(&rd->ctl->conns); cn != NULL; cn = next) {
			next = LIST_NEXT(cn, entry);
			if (cn->subscribed && !cn->closing)
				conn_send(rd, cn, json_incref(msg));
		}
	json_decref(msg);
}
