/*
 * jsonpos.c: where a field is in a JSON file. jansson does not keep the
 * position of values, and a config error without a line number makes an
 * operator search. This walks the (already validated) text once, building
 * each value's path ("a.b[2].c") and stopping at the one asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

struct walker {
	const char	*s;
	size_t		 len, pos;
	int		 line;
	const char	*target;
	int		 found;
	int		 depth;
};

static void
skip_ws(struct walker *w)
{
	while (w->pos < w->len && strchr(" \t\r\n", w->s[w->pos]) != NULL &&
	    w->s[w->pos] != '\0') {
		if (w->s[w->pos] == '\n')
			w->line++;
		w->pos++;
	}
}

/* Copies a string's raw contents (escapes kept) into out; returns 0/-1. */
static int
read_string(struct walker *w, char *out, size_t outlen)
{
	size_t n = 0;

	if (w->pos >= w->len || w->s[w->pos] != '"')
		return -1;
	w->pos++;
	while (w->pos < w->len && w->s[w->pos] != '"') {
		if (w->s[w->pos] == '\\' && w->pos + 1 < w->len) {
			if (n + 1 < outlen)
				out[n++] = w->s[w->pos];
			w->pos++;
		}
		if (w->s[w->pos] == '\n')
			w->line++;
		if (n + 1 < outlen)
			out[n++] = w->s[w->pos];
		w->pos++;
	}
	if (out != NULL && outlen > 0)
		out[n < outlen ? n : outlen - 1] = '\0';
	if (w->pos >= w->len)
		return -1;
	w->pos++;
	return 0;
}

static int walk_value(struct walker *, const char *path);

static int
walk_object(struct walker *w, const char *path)
{
	char key[128], sub[512];

	w->pos++;
	skip_ws(w);
	if (w->pos < w->len && w->s[w->pos] == '}') {
		w->pos++;
		return 0;
	}
	for (;;) {
		skip_ws(w);
		if (read_string(w, key, sizeof(key)) < 0)
			return -1;
		skip_ws(w);
		if (w->pos >= w->len || w->s[w->pos] != ':')
			return -1;
		w->pos++;
		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "",
		    key);
		if (walk_value(w, sub) < 0 || w->found)
			return w->found ? 0 : -1;
		skip_ws(w);
		if (w->pos < w->len && w->s[w->pos] == ',') {
			w->pos++;
			continue;
		}
		if (w->pos < w->len && w->s[w->pos] == '}') {
			w->pos++;
			return 0;
		}
		return -1;
	}
}

static int
walk_array(struct walker *w, const char *path)
{
	char sub[512];
	size_t i = 0;

	w->pos++;
	skip_ws(w);
	if (w->pos < w->len && w->s[w->pos] == ']') {
		w->pos++;
		return 0;
	}
	for (;; i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (walk_value(w, sub) < 0 || w->found)
			return w->found ? 0 : -1;
		skip_ws(w);
		if (w->pos < w->len && w->s[w->pos] == ',') {
			w->pos++;
			continue;
		}
		if (w->pos < w->len && w->s[w->pos] == ']') {
			w->pos++;
			return 0;
		}
		return -1;
	}
}

static int
walk_value(struct walker *w, const char *path)
{
	int rc = 0;

	skip_ws(w);
	if (w->pos >= w->len)
		return -1;
	if (strcmp(path, w->target) == 0) {
		w->found = w->line;
		return 0;
	}
	if (++w->depth > 64)
		return -1;
	switch (w->s[w->pos]) {
	case '{':
		rc = walk_object(w, path);
		break;
	case '[':
		rc = walk_array(w, path);
		break;
	case '"':
		rc = read_string(w, NULL, 0);
		break;
	default:
		while (w->pos < w->len && strchr(",}] \t\r\n", w->s[w->pos]) ==
		    NULL)
			w->pos++;
	}
	w->depth--;
	return rc;
}

int
proto_json_locate(const char *text, size_t len, const char *path)
{
	struct walker w = { .s = text, .len = len, .line = 1, .target = path };

	walk_value(&w, "");
	return w.found;
}

int
proto_read_file(const char *path, char **text, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	char *buf;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > (16 << 20)) {
		err = st.st_size > (16 << 20) ? -EFBIG : -errno;
		close(fd);
		return err;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size &&
	    (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}
