/*
 * framing.c: newline-delimited framing with a maximum line size. The
 * buffer never grows beyond what one maximal line needs, so a peer that
 * never sends '\n' cannot make the server allocate without bound.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void
proto_framer_init(struct proto_framer *f, size_t max_line)
{
	memset(f, 0, sizeof(*f));
	f->max_line = max_line;
}

void
proto_framer_free(struct proto_framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

int
proto_framer_feed(struct proto_framer *f, const void *data, size_t len)
{
	size_t need;

	/* Drop consumed bytes first. */
	if (f->off > 0) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	need = f->len + len + 1;
	if (need > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		char *p;
		while (cap < need)
			cap *= 2;
		p = realloc(f->buf, cap);
		if (p == NULL)
			return -ENOMEM;
		f->buf = p;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	return 0;
}

int
proto_framer_next(struct proto_framer *f, char **line, size_t *len)
{
	for (;;) {
		char *start = f->buf + f->off;
		size_t avail = f->len - f->off;
		char *nl;
		size_t n;

		if (avail == 0)
			return 0;
		nl = memchr(start + f->scanned, '\n', avail - f->scanned);
		if (nl == NULL) {
			f->scanned = avail;
			return avail >= f->max_line ? -EMSGSIZE : 0;
		}
		n = (size_t)(nl - start);
		f->scanned = 0;
		if (n + 1 > f->max_line)
			return -EMSGSIZE;
		f->off += n + 1;
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;	/* empty lines are ignored */
		start[n] = '\0';
		*line = start;
		*len = n;
		return 1;
	}
}
