/*
 * kmod_stale.c: trunkline.ko entries that relayd must not forget.
 *
 * An entry forwards until the kernel deletes it. When the batch that
 * removes a stream is not acknowledged (a send or receive error, a
 * timeout) or a delete fails for another reason than "no such entry",
 * the entry may still be there, forwarding to a peer of a call that has
 * ended. Its key (local address and port) goes on this list, and the kmod
 * backend deletes it again until the kernel says it is gone. A new
 * install on the same key takes the key off (its own clean pass deletes
 * whatever was there first), so a retry never deletes a live stream's
 * entry. The logic is pure so that tests/unit/ can run it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relayd.h"

bool
kaddr_equal(const struct kaddr *x, const struct kaddr *y)
{
	return x->family == y->family && memcmp(x->a, y->a, sizeof(x->a)) == 0;
}

static bool
key_equal(const struct kstale_key *x, const struct kstale_key *y)
{
	return x->lport == y->lport && kaddr_equal(&x->laddr, &y->laddr);
}

int
kstale_add(struct kstale *ks, const struct kstale_key *k)
{
	for (size_t i = 0; i < ks->n; i++)
		if (key_equal(&ks->v[i], k))
			return 0;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 16;
		struct kstale_key *v = realloc(ks->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		ks->v = v;
		ks->cap = cap;
	}
	ks->v[ks->n++] = *k;
	return 0;
}

void
kstale_forget(struct kstale *ks, const struct kstale_key *k)
{
	for (size_t i = 0; i < ks->n; i++)
		if (key_equal(&ks->v[i], k)) {
			ks->v[i] = ks->v[--ks->n];
			return;
		}
}

/* After a retry batch of the first n keys: drop those the kernel deleted. */
void
kstale_settle(struct kstale *ks, size_t n, int rc, const int *errs)
{
	size_t kept = 0;

	for (size_t i = 0; i < ks->n; i++)
		if (i >= n || !kmod_delete_done(rc, errs[i]))
			ks->v[kept++] = ks->v[i];
	ks->n = kept;
}

void
kstale_free(struct kstale *ks)
{
	free(ks->v);
	ks->v = NULL;
	ks->n = ks->cap = 0;
}

/*
 * Is an entry gone after its delete? rc is the whole exchange's status
 * (an error: no ack was read, nothing is known), err the entry's ack.
 */
bool
kmod_delete_done(int rc, int err)
{
	return rc == 0 && (err == 0 || err == -ENOENT);
}

/*
 * A counter read failed for an entry: only "no such entry" (the module
 * was unloaded or its table flushed) means it is gone and userspace must
 * relay the stream; any other error passes, and the next read tries again.
 */
bool
kmod_entry_gone(int err)
{
	return err == -ENOENT;
}
