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
#include <linux/percpu.h>
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
	if (b)
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

struct tl_entry *tl_entry_alloc(bool rtp)
{
	struct tl_entry *e;
	int cpu;

	e = kzalloc(sizeof(*e), GFP_KERNEL_ACCOUNT);
	if (!e)
		return NULL;
	e->stats = alloc_percpu_gfp(struct tl_pcpu_stats, GFP_KERNEL_ACCOUNT);
	if (!e->stats)
		goto err_stats;
	for_each_possible_cpu(cpu)
		u64_stats_init(&per_cpu_ptr(e->stats, cpu)->syncp);
	if (rtp) {
		e->rtp = kzalloc(sizeof(*e->rtp), GFP_KERNEL_ACCOUNT);
		if (!e->rtp)
			goto err_rtp;
		spin_lock_init(&e->rtp->lock);
	}
	e->own_stats = true;
	e->own_rtp = true;
	return e;

err_rtp:
	free_percpu(e->stats);
err_stats:
	kfree(e);
	return NULL;
}

/* Free an entry no reader can see (never published, or after RCU). */
void tl_entry_free(struct tl_entry *e)
{
	if (e->own_stats)
		free_percpu(e->stats);
	if (e->own_rtp)
		kfree(e->rtp);
	if (e->own_learn)
		kfree(e->learn);
	kfree(e);
}

static void tl_entry_free_rcu(struct rcu_head *head)
{
	tl_entry_free(container_of(head, struct tl_entry, rcu));
}

/*
 * Publish e. An entry with the same key is replaced: its counters, and its
 * RTP state when both track RTP, carry over, so a re-latch does not reset
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
		free_percpu(e->stats);
		e->stats = old->stats;
		old->own_stats = false;
		if (e->rtp && old->rtp) {
			kfree(e->rtp);
			e->rtp = old->rtp;
			old->own_rtp = false;
		}
		tl_learn_carry(e, old);
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

/* Sum the per-CPU counters; safe under RCU or the table lock. */
void tl_entry_counters(const struct tl_entry *e, struct tl_counters *c)
{
	int cpu;

	memset(c, 0, sizeof(*c));
	for_each_possible_cpu(cpu) {
		const struct tl_pcpu_stats *s = per_cpu_ptr(e->stats, cpu);
		u64 packets, bytes, mismatch;
		unsigned long last;
		unsigned int start;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			packets = s->packets;
			bytes = s->bytes;
			mismatch = s->mismatch;
			last = READ_ONCE(s->last);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		c->packets += packets;
		c->bytes += bytes;
		c->mismatch += mismatch;
		if (packets && (!c->seen || time_after(last, c->last))) {
			c->last = last;
			c->seen = true;
		}
	}
}
