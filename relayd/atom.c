/*
 * atom.c: the few distinct words of SDP a relay stores per stream (media
 * type, transport) kept once per relay and shared by pointer.
 *
 * A stream held them in char arrays (16 + 32 B, and 32 B per leg): 112 B
 * of every stream for a handful of values ("audio", "RTP/AVP", ...), at
 * 100,000 streams 11 MiB of copies (issue 16's 1 KiB per stream). The
 * table is bounded (ATOMS_MAX) so that SDP words a hostile caller makes
 * up cannot grow it without end; the common ones are in it from the
 * start, so a full table only refuses words never seen before, with an
 * error to the controller. Atoms live as long as the relay.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

static const char *const common[] = {
	"audio", "video", "application", "image", "text", "message",
	"RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF",
	"UDP/TLS/RTP/SAVP", "udptl", "UDP/BFCP", "TCP/BFCP",
};

/*
 * The atom for s cut to max bytes (valid UTF-8 kept, as the arrays did),
 * added if new; "" for an empty or NULL s. NULL when the table is full
 * or out of memory.
 */
const char *
atom_get(struct atoms *t, const char *s, size_t max)
{
	char buf[ATOM_MAXLEN + 1];
	size_t n;
	char *p;

	if (s == NULL || *s == '\0')
		return "";
	if (max > ATOM_MAXLEN)
		max = ATOM_MAXLEN;
	n = strnlen(s, max);
	memcpy(buf, s, n);
	buf[n] = '\0';
	proto_utf8_trim(buf);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i], buf) == 0)
			return t->v[i];
	if (t->n == ATOMS_MAX || (p = strdup(buf)) == NULL)
		return NULL;
	t->v[t->n++] = p;
	return p;
}

int
atoms_init(struct atoms *t)
{
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (atom_get(t, common[i], ATOM_MAXLEN) == NULL)
			return -ENOMEM;
	return 0;
}

void
atoms_free(struct atoms *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	t->n = 0;
}
