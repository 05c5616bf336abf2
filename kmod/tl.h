/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tl.h: trunkline.ko internals. The module is seven files:
 *   tl_main.c     module and per-netns setup (hooks, tables)
 *   tl_table.c    the forwarding table: RCU lookups, mutex-held changes
 *   tl_hook.c     the PRE_ROUTING hook: match, check source, rewrite, send
 *   tl_ipv6.c     IPv6: its hook, rewrite, IPv4<->IPv6 translation, attributes
 *   tl_netlink.c  the generic netlink family "trunkline"
 *   tl_learn.c    endpoint learning of TL_F_LEARN entries, its events
 *   tl_probe.c    opt-in timing of the hook's work (probe=1, TL_CMD_STATS)
 * tl_logic.h, tl_logic6.h and tl_learn.h hold the pure logic a userspace
 * test compiles too.
 */
#ifndef TL_H
#define TL_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/atomic.h>
#include <linux/refcount.h>
#include <linux/jump_label.h>
#include <linux/sched/clock.h>
#include <net/net_namespace.h>

#include "trunkline_uapi.h"
#include "tl_logic.h"
#include "tl_learn.h"

/*
 * The bucket array's size: 2^tl_hash_bits (module parameter hash_bits),
 * 2^TL_USERNS_HASH_BITS at most in a namespace of a non-initial user
 * namespace (its entries are limited to a few thousand).
 */
#define TL_HASH_BITS_MIN	8
#define TL_HASH_BITS_MAX	22
#define TL_USERNS_HASH_BITS	12

/*
 * An entry's size (issue 16: at most 256 B of kernel memory per entry,
 * whatever the number of CPUs): struct tl_entry is 128 B and struct
 * tl_state 96 B, each from its own kmem_cache (no kmalloc rounding),
 * nothing per CPU. BUILD_BUG_ON in tl_table.c keeps them there.
 */
#define TL_ENTRY_SIZE_MAX	128
#define TL_STATE_SIZE_MAX	96

/* Output of an entry: where the rewritten packet goes. */
struct tl_out {
	u32	saddr[4];	/* network order, IPv4 in [0] */
	u32	daddr[4];
	u16	sport;		/* host order */
	u16	dport;
	u8	family;		/* AF_INET6: translated if the key is IPv4 */
	u8	dscp;		/* with TL_F_DSCP */
};

/* A learning entry's configuration (TL_F_LEARN, IPv4 only). */
struct tl_learn_cfg {
	__be32		sdp_addr;
	u16		sdp_port;	/* 0: no SDP endpoint */
	u16		window_ms;	/* 1..60000 */
};

/*
 * What a learning entry learned so far, packed: the hook unpacks it, with
 * the entry's tl_learn_cfg, into tl_learn.h's struct tl_learner only
 * when a source is not the peer; the peer's packets are checked here.
 */
struct tl_learn4 {
	u64		window_end;	/* jiffies_64, set by the first candidate */
	__be32		peer_addr;	/* the peer, or the candidate */
	u16		peer_port;
	u8		rank;		/* enum tl_rank of the peer */
	u8		latched:1;
	u8		learning:1;
	u8		sdp_only:1;
	u8		learnable:1;
};

/*
 * What an entry counts and learns. It outlives a replace: the replacement
 * takes a reference to its predecessor's state, so a re-latch keeps the
 * counters, the RTP state (when both track RTP) and what was learned
 * (same SDP endpoint), and readers of the replaced entry, until its grace
 * period ends, count into the same state. Freed with the last reference.
 *
 * The counters are shared atomics, not per CPU: an entry is one media
 * flow, which RSS steers to one CPU, so the cache line stays on that CPU
 * (the entry's lock is taken there anyway for RTP and learning), and 64
 * possible CPUs cost nothing more (per-CPU counters were 40 B per
 * possible CPU and entry: 2.5 KiB on a 64-CPU host).
 */
struct tl_state {
	atomic64_t		packets;
	atomic64_t		bytes;	/* UDP payload */
	atomic64_t		mismatch;
	unsigned long		last;	/* jiffies of the last forwarded packet */
	spinlock_t		lock;	/* rtp and learn: one writer at a time */
	refcount_t		ref;	/* entries that point here */
	struct tl_rtp		rtp;	/* with TL_F_RTP */
	struct tl_learn4	learn;	/* with TL_F_LEARN */
};

struct tl_entry {
	struct hlist_node	node;
	struct tl_key		key;
	u8			flags;		/* TL_F_* (TL_F_ALL fits) */
	bool			src_port_any:1;	/* TL_A_SRC_PORT was absent */
	bool			src_any:1;	/* no expected source at all */
	u16			src_port;
	union {
		u32			src_addr[4];	/* expected source */
		/* TL_F_LEARN: the learner checks the source (src_any) */
		struct tl_learn_cfg	lcfg;
	};
	struct tl_out		out;
	u64			cookie;
	struct tl_state		*st;
	struct rcu_head		rcu;
};

struct tl_net {
	struct mutex		lock;		/* writers */
	/*
	 * Allocated at the first insert, so a namespace that never holds an
	 * entry costs nothing; published once, freed at namespace exit.
	 */
	struct hlist_head __rcu	*buckets;
	u8			hash_bits;
	u32			seed;
	unsigned int		count;
	/*
	 * Owned by a user namespace other than the initial one: anyone may
	 * create such a namespace (GENL_UNS_ADMIN_PERM lets its root add
	 * entries), so it gets the smaller tl_userns_max_entries.
	 */
	bool			userns;
	/*
	 * tl_probe.c: per-CPU time, packets and histogram of the hook
	 * (probe=1); allocated with the buckets, never for userns
	 */
	struct tl_probe __percpu *probe;
};

/* Totals of an entry's per-CPU counters. */
struct tl_counters {
	u64	packets, bytes, mismatch;
	unsigned long last;	/* jiffies, 0 never */
	bool	seen;
};

extern unsigned int tl_max_entries;
extern unsigned int tl_userns_max_entries;
extern unsigned int tl_hash_bits;

/* tl_table.c */
struct tl_net *tl_net(const struct net *net);
int tl_table_init(struct tl_net *tn, bool userns);
void tl_table_exit(struct tl_net *tn);
struct tl_entry *tl_lookup(const struct tl_net *tn, const struct tl_key *key);
int tl_table_caches_init(void);
void tl_table_caches_exit(void);
struct tl_entry *tl_entry_alloc(void);
void tl_entry_free(struct tl_entry *e);
int tl_table_insert(struct tl_net *tn, struct tl_entry *e);
int tl_table_delete(struct tl_net *tn, const struct tl_key *key);
unsigned int tl_table_flush(struct tl_net *tn, bool by_cookie, u64 cookie);
struct hlist_head *tl_table_buckets(const struct tl_net *tn);
void tl_entry_counters(const struct tl_entry *e, struct tl_counters *c);

/* tl_learn.c */
struct genl_info;
struct sk_buff;
int tl_learn_parse(struct genl_info *info, struct tl_entry *e);
bool tl_learn_keeps(const struct tl_entry *e, const struct tl_entry *old);
int tl_learn_fill(struct sk_buff *msg, const struct tl_entry *e);
bool tl_learn_packet(struct net *net, struct tl_entry *e, __be32 saddr,
		     u16 sport);

/* tl_hook.c */
int tl_hook_register(struct net *net);
void tl_hook_unregister(struct net *net);
void tl_count(struct tl_entry *e, unsigned int len, bool mismatch);
void tl_track_rtp(struct tl_entry *e, struct sk_buff *skb, unsigned int thoff,
		  unsigned int ulen);

/* tl_ipv6.c */
struct nf_hook_state;
struct genl_info;
unsigned int tl_hook_v6(void *priv, struct sk_buff *skb,
			const struct nf_hook_state *state);
unsigned int tl_forward_4to6(struct net *net, struct tl_entry *e,
			     struct sk_buff *skb, unsigned int thoff);
int tl_parse_key6(struct genl_info *info, struct tl_key *key);
int tl_parse_out6(struct net *net, struct genl_info *info, struct tl_entry *e);
int tl_parse_src6(struct genl_info *info, struct tl_entry *e);

/* tl_netlink.c */
int tl_genl_register(void);
void tl_genl_unregister(void);
void *tl_genl_event_put(struct sk_buff *msg, u8 cmd);
void tl_genl_event_send(struct net *net, struct sk_buff *msg);
int tl_put_addr(struct sk_buff *msg, u8 family, int a4, int a6,
		const u32 *addr);

/* tl_probe.c */
DECLARE_STATIC_KEY_FALSE(tl_probe_on);
void tl_probe_alloc(struct tl_net *tn);
void tl_probe_exit(struct tl_net *tn);
void tl_probe_account(struct net *net, u64 t0);
bool tl_probe_read(const struct tl_net *tn, u64 *packets, u64 *ns, u32 *hist);
bool tl_probe_enabled(void);

/* When the hook starts: 0 with the probe off (a patched-out branch). */
static __always_inline u64 tl_probe_start(void)
{
	if (static_branch_unlikely(&tl_probe_on))
		return local_clock();
	return 0;
}

/*
 * Before the send: a probe turned on after the start has no t0. Takes
 * the namespace, not its table: with the probe off nothing is looked up.
 */
static __always_inline void tl_probe_end(struct net *net, u64 t0)
{
	if (static_branch_unlikely(&tl_probe_on) && t0)
		tl_probe_account(net, t0);
}

/* tl_main.c */
extern unsigned int tl_net_id;

#endif
