/*
 * utf8.c: cutting UTF-8 strings on character boundaries. snprintf and
 * "%.64s" count bytes; a cut inside a multibyte character leaves a string
 * jansson rejects (json_string() returns NULL), so whatever carried it
 * silently loses a member. These helpers back off to the last boundary.
 */
#include <string.h>

#include "proto.h"

static bool
continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

size_t
proto_utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n < max || s[n] == '\0')
		return n;	/* all of it fits */
	/* s[n] is the first byte left out: inside a character, back off. */
	for (int i = 0; i < 4 && n > 0 && continuation((unsigned char)s[n]); i++)
		n--;
	return n;
}

void
proto_utf8_trim(char *s)
{
	size_t len = strlen(s), i = len, need;
	unsigned char c;

	/* The last lead byte, at most 3 continuation bytes back. */
	while (i > 0 && len - i < 3 && continuation((unsigned char)s[i - 1]))
		i--;
	if (i == 0)
		return;
	c = (unsigned char)s[i - 1];
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	if (len - (i - 1) < need)
		s[i - 1] = '\0';
}
