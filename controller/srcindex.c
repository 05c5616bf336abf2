/*
 * srcindex.c: the trunks' source addresses, indexed. identify.c (which
 * trunk sent this) and protect.c (is it from a trunk) ask for every
 * request, and sipfilter.c for every UDP datagram in drop mode; a scan of
 * every trunk's sources would cost thousands of prefix compares per
 * datagram with a carrier-sized ACL. The index is built once per config
 * (config.c) and read only.
 *
 * Sources are grouped by (family, prefix length); each group's networks
 * sit in one hash table keyed by the masked address. A lookup masks the
 * address once per prefix length present, longest first, so its cost is
 * the number of distinct lengths (at most 33 or 129), not the number of
 * sources. The answer is the one identify.c's scan gave: the most
 * specific source (prefix length, then a port over none), the first in
 * config order among equals.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

struct si_entry {
	uint8_t			 fam;		/* 4 or 6 */
	uint8_t			 plen;
	uint8_t			 addr[16];	/* masked */
	const struct source	*src;
	struct trunk		*trunk;
	int			 order;		/* in config order */
	struct si_entry		*next;		/* same bucket */
};

struct source_index {
	struct si_entry		*entries;
	int			 n;
	struct si_entry		**buckets;
	size_t			 nbuckets;	/* a power of two */
	/* Prefix lengths present, longest first, per family. */
	uint8_t			 plens4[33], plens6[129];
	int			 nplens4, nplens6;
};

static void
mask_addr(uint8_t *out, const uint8_t *in, int len, int plen)
{
	int bytes = plen / 8, bits = plen % 8;

	memset(out, 0, 16);
	memcpy(out, in, (size_t)bytes);
	if (bits != 0 && bytes < len)
		out[bytes] = in[bytes] & (uint8_t)(0xff << (8 - bits));
}

static size_t
si_hash(const struct source_index *ix, int fam, int plen,
    const uint8_t *addr)
{
	uint32_t h = 2166136261u;

	h = (h ^ (uint32_t)fam) * 16777619u;
	h = (h ^ (uint32_t)plen) * 16777619u;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h & (ix->nbuckets - 1);
}

/* The address bytes of sa (already unmapped), their length, family 4/6. */
static const uint8_t *
addr_bytes(const struct sockaddr *sa, int *len, int *fam)
{
	if (sa->sa_family == AF_INET) {
		*len = 4;
		*fam = 4;
		return (const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		*len = 16;
		*fam = 6;
		return (const uint8_t *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
	}
	return NULL;
}

static void
plen_add(uint8_t *plens, int *n, int plen)
{
	int i;

	for (i = 0; i < *n; i++)
		if (plens[i] == plen)
			return;
	/* Keep them longest first. */
	for (i = *n; i > 0 && plens[i - 1] < plen; i--)
		plens[i] = plens[i - 1];
	plens[i] = (uint8_t)plen;
	(*n)++;
}

struct source_index *
srcindex_build(struct trunk *trunks, int ntrunks)
{
	struct source_index *ix = calloc(1, sizeof(*ix));
	int total = 0, len, fam;

	if (ix == NULL)
		return NULL;
	for (int i = 0; i < ntrunks; i++)
		total += trunks[i].nsources;
	ix->nbuckets = 16;
	while (ix->nbuckets < (size_t)total * 2)
		ix->nbuckets *= 2;
	ix->entries = calloc((size_t)total + 1, sizeof(*ix->entries));
	ix->buckets = calloc(ix->nbuckets, sizeof(*ix->buckets));
	if (ix->entries == NULL || ix->buckets == NULL) {
		srcindex_free(ix);
		return NULL;
	}
	for (int i = 0; i < ntrunks; i++)
		for (int j = 0; j < trunks[i].nsources; j++) {
			const struct source *s = &trunks[i].sources[j];
			const uint8_t *a = addr_bytes(
			    (const struct sockaddr *)&s->net, &len, &fam);
			struct si_entry *e = &ix->entries[ix->n];
			if (a == NULL)
				continue;
			e->fam = (uint8_t)fam;
			e->plen = (uint8_t)s->plen;
			mask_addr(e->addr, a, len, s->plen);
			e->src = s;
			e->trunk = &trunks[i];
			e->order = ix->n++;
			size_t h = si_hash(ix, fam, s->plen, e->addr);
			/* Appended: a chain stays in config order. */
			struct si_entry **pp = &ix->buckets[h];
			while (*pp != NULL)
				pp = &(*pp)->next;
			*pp = e;
			if (fam == 4)
				plen_add(ix->plens4, &ix->nplens4, s->plen);
			else
				plen_add(ix->plens6, &ix->nplens6, s->plen);
		}
	return ix;
}

void
srcindex_free(struct source_index *ix)
{
	if (ix == NULL)
		return;
	free(ix->entries);
	free(ix->buckets);
	free(ix);
}

struct trunk *
srcindex_lookup(const struct source_index *ix, const struct sockaddr *sa,
    enum transport tp, bool any_transport)
{
	struct sockaddr_storage un;
	const struct si_entry *best = NULL;
	const uint8_t *a, *plens;
	uint8_t key[16];
	uint16_t port;
	int len, fam, nplens;

	sa = addr_unmap(sa, &un);
	if ((a = addr_bytes(sa, &len, &fam)) == NULL)
		return NULL;
	port = ntohs(fam == 4 ? ((const struct sockaddr_in *)sa)->sin_port :
	    ((const struct sockaddr_in6 *)sa)->sin6_port);
	plens = fam == 4 ? ix->plens4 : ix->plens6;
	nplens = fam == 4 ? ix->nplens4 : ix->nplens6;
	/* Longest prefix first: the first length with a match holds the
	 * answer (a port breaks the tie within one length). */
	for (int i = 0; i < nplens && best == NULL; i++) {
		mask_addr(key, a, len, plens[i]);
		const struct si_entry *e = ix->buckets[si_hash(ix, fam,
		    plens[i], key)];
		for (; e != NULL; e = e->next) {
			const struct source *s = e->src;
			if (e->fam != fam || e->plen != plens[i] ||
			    memcmp(e->addr, key, 16) != 0)
				continue;
			if (!any_transport && s->transport != TP_ANY &&
			    s->transport != tp)
				continue;
			if (s->port != 0 && s->port != port)
				continue;
			if (best == NULL || (s->port != 0 &&
			    best->src->port == 0) || ((s->port != 0) ==
			    (best->src->port != 0) && e->order < best->order))
				best = e;
		}
	}
	return best != NULL ? best->trunk : NULL;
}
