/*
 * reason.c: a stream's path_reason (why its media takes the path it
 * takes; query's "path_reason", the delete reply, trunklinectl).
 *
 * Every stream keeps one, and a relay keeps 100,000 streams, so the text
 * is held at its length (a few dozen bytes) rather than in an array sized
 * for the longest reason (a backend's 640-byte choice text): issue 16's
 * budget is 1 KiB per stream. A reason without conversions ("latching")
 * is its literal and takes nothing: every caller passes a literal format
 * (the format attribute's checks rely on that too). Out of memory loses
 * the text, not the stream: the reason then says so.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

#define REASON_MAX	1024	/* a backend's reason and a prefix fit */

static void
reason_vset(struct stream *st, const char *prefix, const char *fmt,
    va_list ap)
{
	char buf[REASON_MAX];
	size_t used = strlen(prefix);
	char *p;

	if (used >= sizeof(buf))
		used = sizeof(buf) - 1;
	memcpy(buf, prefix, used);
	vsnprintf(buf + used, sizeof(buf) - used, fmt, ap);
	p = strdup(buf);
	stream_reason_free(st);
	st->path_reason = p;	/* NULL: stream_reason says it was lost */
	st->reason_owned = true;
}

void
stream_set_reason(struct stream *st, const char *fmt, ...)
{
	va_list ap;

	if (strchr(fmt, '%') == NULL) {		/* a literal: keep it as is */
		stream_reason_free(st);
		st->path_reason = (char *)fmt;
		return;
	}
	va_start(ap, fmt);
	reason_vset(st, "", fmt, ap);
	va_end(ap);
}

void
stream_append_reason(struct stream *st, const char *fmt, ...)
{
	char *old = st->path_reason;
	bool owned = st->reason_owned;
	va_list ap;

	st->path_reason = NULL;	/* reason_vset frees the old text: keep it */
	va_start(ap, fmt);
	reason_vset(st, old != NULL ? old : "", fmt, ap);
	va_end(ap);
	if (owned)
		free(old);
}

const char *
stream_reason(const struct stream *st)
{
	return st->path_reason != NULL ? st->path_reason :
	    "(reason not kept: out of memory)";
}

void
stream_reason_free(struct stream *st)
{
	if (st->reason_owned)
		free(st->path_reason);
	st->path_reason = NULL;
	st->reason_owned = false;
}
