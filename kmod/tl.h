/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tl.h: trunkline.ko internals. The module is five files:
 *   tl_main.c     module and per-netns setup (hooks, tables)
 *   tl_table.c    the forwarding table: RCU lookups, mutex-held changes
 *   tl_hook.c     the PRE_ROUTING hook: match, check source, rewrite, send
 *   tl_ipv6.c     IPv6: its hook, rewrite, IPv4<->IPv6 translation, attributes
 *   tl_netlink.c  the generic netlink family "trunkline"
 *   tl_learn.c    endpoint learning of TL_F_LEARN entries, its events
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
#include <linux/u64_stats_sync.h>
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

struct tl_pcpu_stats {
	u64			packets;
	u64			bytes;
	u64			mismatch;
	unsigned long		last;		/* jiffies of the last packet */
	struct u64_stats_sync	syncp;
};

/* Output of an entry: where the rewritten packet goes. */
struct tl_out {
	u32	saddr[4];	/* network order, IPv4 in [0] */
	u32	daddr[4];
	u16	sport;		/* host order */
	u16	dport;
	u8	family;		/* AF_INET6: translated if the key is IPv4 */
};

struct tl_entry {
	struct hlist_node	node;
	struct rcu_head		rcu;
	struct tl_key		key;
	u32			src_addr[4];	/* expected source */
	u16			src_port;
	bool			src_port_any;	/* TL_A_SRC_PORT was absent */
	bool			src_any;	/* no expected source at all */
	u8			dscp;
	u32			flags;		/* TL_F_* */
	u64			cookie;
	struct tl_out		out;
	/*
	 * Counters and RTP state move to the replacement on replace, so a
	 * re-latch keeps them. The entry that frees them is the one that
	 * still owns them: readers of a replaced entry may still count
	 * into them until its grace period ends, which comes before the
	 * grace period of any later removal of the replacement.
	 */
	struct tl_pcpu_stats __percpu *stats;
	struct tl_rtp_state	*rtp;		/* NULL without TL_F_RTP */
	bool			own_stats;
	bool			own_rtp;
	/* TL_F_LEARN: the source is learned (src_any is set, unused) */
	struct tl_learning	*learn;
	bool			own_learn;
};

/* What a learning entry learned so far: one writer at a time. */
struct tl_learning {
	spinlock_t		lock;
	struct tl_learner	l;	/* time in jiffies */
};

/* RTP tracking state: one writer at a time, from any CPU. */
struct tl_rtp_state {
	spinlock_t	lock;
	struct tl_rtp	rtp;
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
struct tl_entry *tl_entry_alloc(bool rtp);
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
void tl_learn_carry(struct tl_entry *e, struct tl_entry *old);
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

/* tl_main.c */
extern unsigned int tl_net_id;

#endif
