/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * trunkline_uapi.h: the generic netlink interface of trunkline.ko, shared
 * by the module and its users (relayd's kmod backend, the test tools).
 *
 * One family, TL_GENL_NAME, version TL_GENL_VERSION. Every request and
 * every reply carries flat attributes from enum tl_attr; the module checks
 * them against a strict policy (unknown attributes, wrong types and wrong
 * lengths are refused with an extack message). Attributes are only ever
 * appended: a newer module reads an older request unchanged, and a
 * request using an attribute an older module lacks fails with EINVAL
 * rather than being half-applied. A change of meaning bumps the version.
 *
 * An entry is keyed by (family, protocol, local address, local port): a
 * packet arriving for that address and port is rewritten to (out source,
 * out destination) and sent, instead of reaching the local socket.
 */
#ifndef TRUNKLINE_UAPI_H
#define TRUNKLINE_UAPI_H

#define TL_GENL_NAME		"trunkline"
#define TL_GENL_VERSION		1

enum tl_cmd {
	TL_CMD_UNSPEC,
	TL_CMD_ADD,	/* add, or replace an entry with the same key atomically */
	TL_CMD_DEL,	/* by key */
	TL_CMD_GET,	/* doit: one entry by key; dumpit: all, with counters */
	TL_CMD_FLUSH,	/* all entries, or those with TL_A_COOKIE */
	/* event on TL_MCGRP_LEARN: a learning entry took a source (key,
	 * COOKIE, SRC_ADDR4/SRC_PORT, LEARN_RANK, LEARN_STATE) */
	TL_CMD_LEARNED,
	/* doit: the namespace's totals: COUNT (entries), PROBE_ON and,
	 * with the probe (module parameter probe=1), PROBE_PACKETS and
	 * PROBE_NS since the namespace was created */
	TL_CMD_STATS,
	__TL_CMD_MAX,
};
#define TL_CMD_MAX (__TL_CMD_MAX - 1)

enum tl_attr {
	TL_A_UNSPEC,
	TL_A_PAD,
	TL_A_FAMILY,		/* u8: the key's: AF_INET (default), AF_INET6 */
	TL_A_PROTO,		/* u8: IPPROTO_UDP */
	TL_A_LOCAL_ADDR4,	/* be32: key: the relay's address */
	TL_A_LOCAL_PORT,	/* u16 (host order): key: the relay's port */
	TL_A_SRC_ADDR4,		/* be32: expected source; absent: any */
	TL_A_SRC_PORT,		/* u16: expected source port (0 is port 0); absent: any */
	TL_A_OUT_SADDR4,	/* be32: rewritten source */
	TL_A_OUT_SPORT,		/* u16 */
	TL_A_OUT_DADDR4,	/* be32: rewritten destination */
	TL_A_OUT_DPORT,		/* u16 */
	TL_A_FLAGS,		/* u32: TL_F_* */
	TL_A_DSCP,		/* u8: 0..63, used with TL_F_DSCP */
	TL_A_COOKIE,		/* u64: the owner's tag, returned as is */
	/* replies only */
	TL_A_PACKETS,		/* u64: forwarded */
	TL_A_BYTES,		/* u64: forwarded, UDP payload (as relayd counts) */
	TL_A_MISMATCH,		/* u64: wrong source (passed or dropped) */
	TL_A_IDLE_MS,		/* u32: ms since the last forwarded packet;
				 * absent if none yet */
	TL_A_RTP_SSRC,		/* u32: last SSRC seen (TL_F_RTP) */
	TL_A_RTP_LOST,		/* u64: packets missing from the sequence */
	TL_A_RTP_SEQ,		/* u16: highest sequence number seen */
	/* IPv6: the twins of the *_ADDR4 above. The key and the expected
	 * source are of one family; the output may be of the other (the
	 * module translates): OUT_SADDR6 and OUT_DADDR6 go together */
	TL_A_LOCAL_ADDR6,	/* 16 bytes */
	TL_A_SRC_ADDR6,
	TL_A_OUT_SADDR6,
	TL_A_OUT_DADDR6,
	TL_A_COUNT,		/* u32: FLUSH reply: entries removed */
	/* endpoint learning (TL_F_LEARN, kmod/tl_learn.h) */
	TL_A_SDP_ADDR4,		/* be32: the leg's SDP address */
	TL_A_SDP_PORT,		/* u16: the leg's SDP port */
	TL_A_LEARN_WINDOW_MS,	/* u32: from the first candidate, 1..60000 */
	TL_A_LEARN_RANK,	/* u8, replies/events: enum tl_rank of SRC */
	TL_A_LEARN_STATE,	/* u8, replies/events: enum tl_learn_state */
	/* TL_CMD_STATS replies: the hook's own work (kmod/tl_probe.c) */
	TL_A_PROBE_ON,		/* u8: the probe is on now */
	TL_A_PROBE_PACKETS,	/* u64: IPv4 packets forwarded while it was on */
	TL_A_PROBE_NS,		/* u64: local_clock() ns in the hook for them,
				 * from its start to the send */
	TL_A_PROBE_HIST,	/* u32[TL_PROBE_SLOTS]: the same packets by
				 * their time (below) */
	__TL_A_MAX,
};
#define TL_A_MAX (__TL_A_MAX - 1)

enum tl_flags {
	/* Wrong source: drop in the kernel. Without it the packet goes on
	 * to the local socket, so the daemon sees and counts it. */
	TL_F_MISMATCH_DROP	= 1u << 0,
	TL_F_DSCP		= 1u << 1,	/* set TL_A_DSCP on output */
	TL_F_RTP		= 1u << 2,	/* track SSRC/sequence, count loss */
	/* Learn the source in the kernel: SRC_* is only the first
	 * candidate (or absent); SDP_ADDR4/SDP_PORT and LEARN_WINDOW_MS
	 * are required. Each source taken is multicast (TL_CMD_LEARNED). */
	TL_F_LEARN		= 1u << 3,
	/* Held: the port is offered and the entry's output is not known
	 * yet (no answer). Every packet is counted as a mismatch and
	 * dropped: it never reaches the stack, so no ICMP port unreachable
	 * and no socket is needed. Takes no OUT_*, SRC_*, DSCP or learning
	 * attributes, and no other flag but MISMATCH_DROP; the owner
	 * replaces it (ADD) with the real entry at the answer, and the
	 * counters carry over. */
	TL_F_HOLD		= 1u << 4,
	TL_F_ALL		= (1u << 5) - 1,
};

/*
 * TL_A_PROBE_HIST: forwarded packets by hook time, host-order u32 slots.
 * Slot s < 16 holds s ns; slot s of 16..335 holds [(16 + m) << k,
 * (17 + m) << k) ns with k = (s - 16) / 16, m = (s - 16) % 16 (sixteen
 * slots per power of two, each 1/16 of it wide, up to 2^24 ns); slot
 * 336 holds 2^24 ns (16.8 ms) and more. A slot wraps at 2^32: readers
 * take differences, as of the totals.
 */
#define TL_PROBE_SUB		16
#define TL_PROBE_MAX_LOG	23
#define TL_PROBE_SLOTS		(TL_PROBE_SUB * (TL_PROBE_MAX_LOG - 2) + 1)

/* The multicast group of TL_CMD_LEARNED (needs CAP_NET_ADMIN to join). */
#define TL_MCGRP_LEARN		"learn"

enum tl_learn_state {
	TL_LEARN_OPEN,		/* nothing taken yet */
	TL_LEARN_LEARNING,	/* a candidate; the window is open */
	TL_LEARN_FIXED,		/* the peer: strict source from now on */
};

#endif
