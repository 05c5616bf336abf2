// SPDX-License-Identifier: GPL-2.0
/*
 * tl_table.c: the forwarding table of one network namespace.
 *
 * A fixed array of hash buckets (hlist) keyed by (family, protocol, local
 * address, local port), 2^hash_bits of them (module parameter, default
 * 2^17: under one entry per chain up to about 100,000 entries), allocated
 * at the namespace's first insert. The packet path looks entries up under
 * RCU and never takes a lock or allocates; netlink handlers change the
 * table under tn->lock and free entries after a grace period. Replace
 * swaps the entry in one hlist_replace_rcu(), so a reader sees the old or
 * the new entry, never a mix, and packets keep flowing through a re-latch.
 */
#include <linux/slab.h>
#include <linux/random.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <net/netns/generic.h>

#include "tl.h"

struct tl_net *tl_net(const struct net *net)
{
	return net_generic(net, tl_net_id);
}

/* NULL before the first insert. Caller holds rcu_read_lock() or tn->lock. */
struct hlist_head *tl_table_buckets(const struct tl_net *tn)
{
	return rcu_dereference_check(tn->buckets, lockdep_is_held(&tn->lock));
}

static struct hlist_head *tl_bucket(const struct tl_net *tn,
				    struct hlist_head *b,
				    const struct tl_key *key)
{
	return &b[tl_key_hash(key, tn->seed) >> (32 - tn->hash_bits)];
}

/*
 * Every allocation made on behalf of a namespace is GFP_KERNEL_ACCOUNT:
 * charged to the memory cgroup of whoever asked (a container's relay, or
 * an unprivileged user with its own namespaces), not to the host.
 */
int tl_table_init(struct tl_net *tn, bool userns)
{
	mutex_init(&tn->lock);
	tn->userns = userns;
	/* read once per namespace: a later change applies to new ones */
	tn->hash_bits = clamp_t(unsigned int, READ_ONCE(tl_hash_bits),
				TL_HASH_BITS_MIN, TL_HASH_BITS_MAX);
	if (userns)
		tn->hash_bits = min_t(u8, tn->hash_bits, TL_USERNS_HASH_BITS);
	RCU_INIT_POINTER(tn->buckets, NULL);
	tn->probe = NULL;
	tn->seed = get_random_u32();
	tn->count = 0;
	return 0;
}

/* The hooks are gone (unregistering waited for readers): empty and free. */
void tl_table_exit(struct tl_net *tn)
{
	tl_table_flush(tn, false, 0);
	/* entries are freed by call_rcu; the buckets are not read by them */
	kvfree(rcu_dereference_protected(tn->buckets, 1));
	RCU_INIT_POINTER(tn->buckets, NULL);
}

/* The bucket array, allocated on first use. Caller holds tn->lock. */
static struct hlist_head *tl_table_grab(struct tl_net *tn)
{
	struct hlist_head *b = rcu_dereference_protected(tn->buckets,
					lockdep_is_held(&tn->lock));

	if (b)
		return b;
	b = kvcalloc(1u << tn->hash_bits, sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		return NULL;
	/* before the buckets: a forwarded packet finds it (tl_probe.c) */
	tl_probe_alloc(tn);
	rcu_assign_pointer(tn->buckets, b);
	return b;
}

/* Caller holds rcu_read_lock() or tn->lock. */
struct tl_entry *tl_lookup(const struct tl_net *tn, const struct tl_key *key)
{
	struct hlist_head *b = tl_table_buckets(tn);
	struct tl_entry *e;

	if (!b)
		return NULL;
	hlist_for_each_entry_rcu(e, tl_bucket(tn, b, key), node,
				 lockdep_is_held(&tn->lock)) {
		if (tl_key_equal(&e->key, key))
			return e;
	}
	return NULL;
}

static struct kmem_cache *tl_entry_cache __read_mostly;
static struct kmem_cache *tl_state_cache __read_mostly;

/*
 * One cache per object: an object costs its size, not the next kmalloc
 * size (128 and 96 B happen to be kmalloc sizes; a field added later
 * would not round up unseen), and /sys/kernel/slab/tl_entry and
 * tl_state show the module's objects (tests/kmod/guest/entry_mem.sh).
 * Not SLAB_ACCOUNT: each allocation says __GFP_ACCOUNT itself.
 */
int tl_table_caches_init(void)
{
	BUILD_BUG_ON(sizeof(struct tl_entry) > TL_ENTRY_SIZE_MAX);
	BUILD_BUG_ON(sizeof(struct tl_state) > TL_STATE_SIZE_MAX);
	BUILD_BUG_ON(TL_F_ALL > U8_MAX);	/* struct tl_entry's flags */
	tl_entry_cache = KMEM_CACHE(tl_entry, 0);
	if (!tl_entry_cache)
		return -ENOMEM;
	tl_state_cache = KMEM_CACHE(tl_state, 0);
	if (!tl_state_cache) {
		kmem_cache_destroy(tl_entry_cache);
		return -ENOMEM;
	}
	return 0;
}

/* After rcu_barrier(): no entry is left. */
void tl_table_caches_exit(void)
{
	kmem_cache_destroy(tl_state_cache);
	kmem_cache_destroy(tl_entry_cache);
}

struct tl_entry *tl_entry_alloc(void)
{
	struct tl_entry *e;
	struct tl_state *st;

	e = kmem_cache_zalloc(tl_entry_cache, GFP_KERNEL_ACCOUNT);
	if (!e)
		return NULL;
	st = kmem_cache_zalloc(tl_state_cache, GFP_KERNEL_ACCOUNT);
	if (!st) {
		kmem_cache_free(tl_entry_cache, e);
		return NULL;
	}
	spin_lock_init(&st->lock);
	refcount_set(&st->ref, 1);
	e->st = st;
	return e;
}

static void tl_state_put(struct tl_state *st)
{
	if (refcount_dec_and_test(&st->ref))
		kmem_cache_free(tl_state_cache, st);
}

/* Free an entry no reader can see (never published, or after RCU). */
void tl_entry_free(struct tl_entry *e)
{
	tl_state_put(e->st);
	kmem_cache_free(tl_entry_cache, e);
}

static void tl_entry_free_rcu(struct rcu_head *head)
{
	tl_entry_free(container_of(head, struct tl_entry, rcu));
}

/*
 * e replaces old: e takes old's state, with the parts e tracks and old
 * did not (RTP, a learner for another SDP endpoint) from e's own, fresh
 * one. Under the lock: readers of old (and of the entry old replaced,
 * within its grace period) may be tracking RTP or learning into it.
 * Caller holds the table lock.
 */
static void tl_state_carry(struct tl_entry *e, struct tl_entry *old)
{
	struct tl_state *st = old->st;

	spin_lock_bh(&st->lock);
	if ((e->flags & TL_F_RTP) && !(old->flags & TL_F_RTP))
		st->rtp = e->st->rtp;
	if ((e->flags & TL_F_LEARN) && !tl_learn_keeps(e, old))
		st->learn = e->st->learn;
	spin_unlock_bh(&st->lock);
	refcount_inc(&st->ref);
	tl_state_put(e->st);
	e->st = st;
}

/*
 * Publish e. An entry with the same key is replaced: its counters, its RTP
 * state when both track RTP and its learner when both learn for the same
 * SDP endpoint carry over (tl_state_carry), so a re-latch does not reset
 * what the owner reads.
 */
int tl_table_insert(struct tl_net *tn, struct tl_entry *e)
{
	struct hlist_head *b;
	struct tl_entry *old;
	int err = 0;

	mutex_lock(&tn->lock);
	old = tl_lookup(tn, &e->key);
	if (old) {
		tl_state_carry(e, old);
		hlist_replace_rcu(&old->node, &e->node);
		call_rcu(&old->rcu, tl_entry_free_rcu);
		goto out;
	}
	if (tn->count >= tl_max_entries ||
	    (tn->userns && tn->count >= READ_ONCE(tl_userns_max_entries))) {
		err = -ENOSPC;
		goto out;
	}
	b = tl_table_grab(tn);
	if (!b) {
		err = -ENOMEM;
		goto out;
	}
	hlist_add_head_rcu(&e->node, tl_bucket(tn, b, &e->key));
	tn->count++;
out:
	mutex_unlock(&tn->lock);
	return err;
}

int tl_table_delete(struct tl_net *tn, const struct tl_key *key)
{
	struct tl_entry *e;

	mutex_lock(&tn->lock);
	e = tl_lookup(tn, key);
	if (e) {
		hlist_del_rcu(&e->node);
		tn->count--;
		call_rcu(&e->rcu, tl_entry_free_rcu);
	}
	mutex_unlock(&tn->lock);
	return e ? 0 : -ENOENT;
}

/* Remove every entry, or every entry carrying cookie. Returns how many. */
unsigned int tl_table_flush(struct tl_net *tn, bool by_cookie, u64 cookie)
{
	struct hlist_head *b;
	struct hlist_node *tmp;
	struct tl_entry *e;
	unsigned int i, n = 0;

	mutex_lock(&tn->lock);
	b = tl_table_buckets(tn);
	for (i = 0; b && i < (1u << tn->hash_bits); i++) {
		hlist_for_each_entry_safe(e, tmp, &b[i], node) {
			if (by_cookie && e->cookie != cookie)
				continue;
			hlist_del_rcu(&e->node);
			call_rcu(&e->rcu, tl_entry_free_rcu);
			n++;
		}
		if ((i & 1023) == 1023)
			cond_resched();
	}
	tn->count -= n;
	mutex_unlock(&tn->lock);
	return n;
}

/*
 * The counters; safe under RCU or the table lock. tl_count() sets `last`
 * before it counts the packet, so a packet seen here has its time.
 */
void tl_entry_counters(const struct tl_entry *e, struct tl_counters *c)
{
	const struct tl_state *st = e->st;

	c->packets = atomic64_read(&st->packets);
	c->bytes = atomic64_read(&st->bytes);
	c->mismatch = atomic64_read(&st->mismatch);
	smp_rmb();	/* pairs with tl_count()'s smp_wmb() */
	c->last = READ_ONCE(st->last);
	c->seen = c->packets != 0;
}
