/*
 * transform.c: number rewriting. A list of steps applied in order to the
 * user part of a URI: a regex with a replacement template ("\1" are
 * back-references, "\0" the whole match; no match leaves the number as
 * it is), stripping leading characters, adding a prefix.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

int
xform_expand(const char *tmpl, const char *subject, const regmatch_t *m,
    size_t nm, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = tmpl; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9') {
			size_t k = (size_t)(p[1] - '0');
			p++;
			if (k >= nm || m[k].rm_so < 0)
				continue;	/* an unset group is empty */
			size_t n = (size_t)(m[k].rm_eo - m[k].rm_so);
			if (o + n >= len)
				return -ENOSPC;
			memcpy(out + o, subject + m[k].rm_so, n);
			o += n;
			continue;
		}
		if (p[0] == '\\' && p[1] == '\\')
			p++;
		if (o + 1 >= len)
			return -ENOSPC;
		out[o++] = *p;
	}
	out[o] = '\0';
	return 0;
}

static int
step(const struct xform *x, const char *in, char *out, size_t len)
{
	regmatch_t m[10];
	size_t n;

	switch (x->kind) {
	case XF_REGEX:
		if (regexec(&x->re, in, 10, m, 0) != 0)
			break;
		return xform_expand(x->replace, in, m, 10, out, len);
	case XF_STRIP:
		n = strlen(in);
		in += (size_t)x->strip < n ? (size_t)x->strip : n;
		break;
	case XF_PREFIX:
		if (strlen(x->prefix) + strlen(in) >= len)
			return -ENOSPC;
		strcpy(out, x->prefix);
		strcat(out, in);
		return 0;
	}
	if (strlen(in) >= len)
		return -ENOSPC;
	memmove(out, in, strlen(in) + 1);
	return 0;
}

int
xform_apply(const struct xform_list *l, const char *in, char *out, size_t len)
{
	char a[CTL_NUM_MAX * 2], b[CTL_NUM_MAX * 2];
	int rc;

	if (strlen(in) >= sizeof(a))
		return -ENOSPC;
	strcpy(a, in);
	for (int i = 0; l != NULL && i < l->n; i++) {
		if ((rc = step(&l->v[i], a, b, sizeof(b))) < 0)
			return rc;
		strcpy(a, b);
	}
	if (strlen(a) >= len)
		return -ENOSPC;
	strcpy(out, a);
	return 0;
}

void
xform_list_free(struct xform_list *l)
{
	for (int i = 0; i < l->n; i++) {
		if (l->v[i].kind == XF_REGEX)
			regfree(&l->v[i].re);
		free(l->v[i].replace);
		free(l->v[i].prefix);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
