/*
 * conn.c: the byte plumbing of one control connection, shared by both
 * daemons' servers and the controller's relay clients: an outgoing buffer
 * of whole lines with a cap (a peer that does not read cannot make us hold
 * unbounded memory), flushed with send() until the socket would block, and
 * reading into the framer. Registering with an event loop and waiting for
 * writability stay with each daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

#define PROTO_READ_CHUNK	16384

void
proto_outbuf_init(struct proto_outbuf *o, size_t max)
{
	*o = (struct proto_outbuf){ .max = max };
}

/* Keeps the cap: the buffer can be used again (a relay reconnecting). */
void
proto_outbuf_free(struct proto_outbuf *o)
{
	free(o->buf);
	*o = (struct proto_outbuf){ .max = o->max };
}

int
proto_outbuf_append_raw(struct proto_outbuf *o, const char *data, size_t len)
{
	if (o->len + len > o->max)
		return -EMSGSIZE;
	if (o->len + len > o->cap) {
		size_t cap = (o->len + len) * 2;
		char *p;

		if (cap > o->max)
			cap = o->max;
		p = realloc(o->buf, cap);
		if (p == NULL)
			return -ENOMEM;
		o->buf = p;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

int
proto_outbuf_append(struct proto_outbuf *o, json_t *msg)
{
	size_t len;
	char *line = proto_encode(msg, &len);
	int rc;

	json_decref(msg);
	if (line == NULL)
		return -EINVAL;
	rc = proto_outbuf_append_raw(o, line, len);
	free(line);
	return rc;
}

int
proto_outbuf_move_lines(struct proto_outbuf *dst, struct proto_outbuf *src,
    size_t limit)
{
	size_t n = 0;
	const char *nl;
	int rc;

	/* The longest prefix of whole lines that fits under the limit. */
	while (n < src->len && dst->len + n < limit) {
		nl = memchr(src->buf + n, '\n', src->len - n);
		if (nl == NULL)
			break;		/* src holds whole lines only */
		/* One line longer than the limit still goes, alone. */
		if (dst->len + (size_t)(nl + 1 - src->buf) > limit &&
		    (n > 0 || dst->len > 0))
			break;
		n = (size_t)(nl + 1 - src->buf);
	}
	if (n == 0)
		return 0;
	rc = proto_outbuf_append_raw(dst, src->buf, n);
	if (rc < 0)
		return rc;
	memmove(src->buf, src->buf + n, src->len - n);
	src->len -= n;
	return (int)n;
}

int
proto_outbuf_flush(struct proto_outbuf *o, int fd)
{
	size_t done = 0;
	int rc = 0;

	while (done < o->len) {
		ssize_t n = send(fd, o->buf + done, o->len - done,
		    MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		rc = n < 0 ? -errno : -EPIPE;
		break;
	}
	if (rc < 0)
		return rc;
	/* Nothing sent (a peer that does not read): no copy of the backlog. */
	if (done > 0)
		memmove(o->buf, o->buf + done, o->len - done);
	o->len -= done;
	return o->len > 0;
}

int
proto_framer_recv(struct proto_framer *f, int fd)
{
	char buf[PROTO_READ_CHUNK];
	ssize_t n;

	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	if (f != NULL && proto_framer_feed(f, buf, (size_t)n) < 0)
		return -ENOMEM;
	return 1;
}

json_t *
proto_reply_too_long(void)
{
	struct proto_error err;

	proto_errorf(&err, PROTO_E_TOO_LONG, "line longer than %d bytes; "
	    "closing the connection", PROTO_MAX_LINE);
	return proto_reply_error(NULL, &err);
}

int
proto_reserve_open(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int
proto_accept_shed(int listen_fd, int *reserve)
{
	int fd, err = 0;

	if (*reserve < 0 && (*reserve = proto_reserve_open()) < 0)
		return *reserve;
	close(*reserve);
	*reserve = -1;
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		err = errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	else
		close(fd);
	*reserve = proto_reserve_open();
	return err;
}
