/*
 * backend_kmod.h: what backend_kmod.c (streams in trunkline.ko) shares
 * with kmod_learn.c (endpoint learning in the kernel): the backend's
 * state, what a stream's entries are, and the netlink plumbing.
 */
#ifndef TRUNKLINE_BACKEND_KMOD_H
#define TRUNKLINE_BACKEND_KMOD_H

#include <libmnl/libmnl.h>

#include "relayd.h"

#define KMOD_MAX_ENTRIES	4	/* per stream */
#define KMOD_CHUNK		64	/* requests per sendto: replies fit rcvbuf */
#define KMOD_BATCH_STREAMS	16	/* streams per sendto of an install */
#define KMOD_REQ_MAX		256	/* bytes: the largest ADD request */

struct kmod_learn;
struct kmod_dump;	/* backend_kmod.c: the counter sync's dump */

struct kmod_state {
	struct mnl_socket	*nl;
	uint16_t		 family;
	uint32_t		 seq;
	char			*buf;		/* one chunk of requests */
	size_t			 buflen;
	char			*ibuf;		/* kmod_put_streams' requests */
	struct kstale		 stale;		/* removals not acknowledged */
	uint64_t		 stale_retry_ms;
	struct kmod_learn	*learn;		/* NULL: streams latch in userspace */
	struct kmod_dump	*dump;		/* NULL until the first sync */
};

/*
 * What one kernel entry is: planned for an install (ADD), a transient
 * thing. What stays per stream once its entries are in is struct
 * kmod_stream below: keys, outputs and the cookie follow from the stream.
 */
struct kentry {
	struct leg		*leg;		/* the leg whose port receives */
	struct kaddr		 laddr, saddr, osaddr, odaddr;
	uint16_t		 lport, sport, osport, odport;	/* host order */
	bool			 rtp;
	/* learning streams (kmod_learn.c): TL_F_LEARN with the SDP
	 * endpoint; no_src: no candidate yet; any_port: SRC_PORT absent;
	 * drop: strangers are dropped and counted in the kernel */
	bool			 learn, no_src, any_port, drop;
	/* kmod_hold.c: an offered port, TL_F_HOLD (no output yet) */
	bool			 hold;
	uint32_t		 sdpaddr, window_ms;
	uint16_t		 sdpport;
};

/* A stream's entries as one install plans them. */
struct kmod_plan {
	struct kentry		 e[KMOD_MAX_ENTRIES];
	int			 n;
	uint64_t		 cookie;
	bool			 learning;	/* a leg learns in the kernel */
	/* the install replaces entries the stream holds (ADD only: no
	 * moment without an entry, and the counters carry over) */
	bool			 replace;
};

/*
 * What relayd keeps of a stream in the kernel (issue 16: 1 KiB per
 * stream in all): the entries' counters as last read, nothing else. An
 * entry's key is the stream's own (kmod_key: leg port on the leg's
 * interface address), its cookie stream_cookie(); n says which entries
 * there are: 4 (RTP and RTCP of leg A, then of leg B) or 2 (the RTP
 * ports of an rtcp-mux stream). Readings keep their low bits: what the
 * kernel counted since is right across a wrap, as long as less than half
 * the range passes between two reads (one every few seconds): 4 GiB or
 * 2^31 packets on one entry, 2^23 packets lost on one leg; the loss grows by
 * at most 2,999 a packet (TL_RTP_MAX_DROPOUT), so only a peer that jumps
 * its sequence numbers on purpose, thousands of times between two reads,
 * gets there, and it makes its own loss figure meaningless anyway. 56
 * bytes for four entries: a 64-byte malloc chunk.
 */
struct kcount {
	uint32_t		 packets, bytes, mismatch;	/* low 32 bits */
};

#define KS_LEARNING		0x01	/* a leg learns in the kernel */
#define KS_HELD			0x02	/* kmod_hold.c: TL_F_HOLD entries */

struct kmod_stream {
	uint8_t			 n:4;		/* entries: 2 or 4 */
	uint8_t			 flags:4;	/* KS_* */
	uint8_t			 read_tick;	/* now_ms() / 256 at the last
						 * read, its low 8 bits */
	uint8_t			 lost[2][3];	/* the RTP entry's loss by
						 * side, low 24 bits (kmod_count) */
	struct kcount		 c[];		/* by entry */
};

/* The allocation of a stream of n entries. */
size_t	 kmod_stream_size(int n);
/* What is kept of p once in the kernel (counters 0); NULL: no memory. */
struct kmod_stream *kmod_stream_new(const struct kmod_plan *p);
/* The path_reason of st once p is in (what: "latched", "learned",
 * "learning", "adopted", "held"): a literal, no allocation. */
void	 kmod_reason_in(struct stream *st, const char *what,
	    const struct kmod_plan *p);
/* A reading of st's entry idx (lost: the RTP loss, if the kernel gave
 * it) into its leg's counters and the relay's totals t (stats): what the
 * kernel counted since the last. */
void	 kmod_count(struct relayd_totals *t, struct stream *st, int idx,
	    uint64_t packets, uint64_t bytes, uint64_t mismatch,
	    const uint64_t *lost);
/* Entry i of a stream of n: its leg, key and kind (the rest zero). */
void	 kmod_key(const struct relayd *, const struct stream *, int n, int i,
	    struct kentry *);

typedef void (*reply_fn)(const struct nlmsghdr *, void *);

/* backend_kmod.c */
struct nlmsghdr *put_req(struct kmod_state *, char *buf, uint8_t cmd,
	    uint16_t flags);
int	 exchange(struct kmod_state *, const void *req, size_t len,
	    uint32_t first, int nreq, int *errs, reply_fn, void *arg);
int	 kaddr_of(const struct sockaddr_storage *, struct kaddr *addr,
	    uint16_t *port);
uint64_t stream_cookie(const struct stream *);
void	 put_key(struct nlmsghdr *, const struct kentry *);
int	 plan_entry(const struct relayd *, const struct stream *,
	    enum leg_side, enum sock_kind, struct kentry *);
/* One batch of cmd over a stream's entries (DEL first when clean). */
int	 batch(struct kmod_state *, const struct kmod_plan *, uint8_t cmd,
	    bool clean, int *errs);

/*
 * Batched installs: the entries of n planned streams (plan_stream,
 * plan_learning or kmod_hold's) go into the kernel, KMOD_BATCH_STREAMS
 * streams per sendmsg (DEL then ADD for each entry, or ADD only for a
 * plan that `replace`s held entries; NLM_F_ACK on each request), the
 * acks read after each send. rcs[i] is stream i's result: 0, or the first
 * failed entry's -errno (its other entries are removed again: a stream is
 * all in the kernel or not at all). Nothing is lost: every stream gets its
 * own result. Returns 0, or -errno when an exchange itself failed (the
 * streams of that and later sends then carry it).
 */
int	 kmod_put_streams(struct kmod_state *, struct kmod_plan *const *plans,
	    size_t n, int *rcs);

/* kmod_hold.c: offers held in the kernel until their answer */
int	 kmod_hold(struct relayd *, void *priv, struct stream **sts, size_t n,
	    int *rcs);
/* p replaced the held entries of st (the answer), s is what is kept of
 * p: s takes over what was read of their counters; the ones p does not
 * use (RTCP ports of a muxed stream) are deleted; the held state is
 * freed. */
void	 kmod_hold_replaced(struct relayd *, struct kmod_state *,
	    struct stream *st, const struct kmod_plan *p, struct kmod_stream *s);

/* kmod_learn.c */
int	 kmod_learn_open(struct relayd *, struct kmod_state *);
void	 kmod_learn_close(struct kmod_state *);
int	 kmod_learn(struct relayd *, void *priv, struct stream *);
/*
 * kmod_learn for n streams in one batch (kmod_put_streams); kmod_learn
 * is its one-stream case. Nothing batches answers across a loop round
 * yet (that would make an answer's reply wait for the round). rcs[i] is what kmod_learn would return for sts[i], with
 * its path_reason set the same way; a stream with rcs[i] < 0 latches in
 * userspace. Returns 0, or -errno if no stream could be tried.
 */
int	 kmod_learn_streams(struct relayd *, void *priv, struct stream **sts,
	    size_t n, int *rcs);
/* The event socket is readable (epoll, TAG_BACKEND): events in; a lost
 * event (ENOBUFS) makes a resync, a dump of the table. */
void	 kmod_learn_event(struct relayd *, struct kmod_state *);
/* The backend's flush, each loop round: when windows are due, events
 * in first, then windows out; a resync that failed, again. */
void	 kmod_learn_poll(struct relayd *, struct kmod_state *);
/* The stream leaves the kernel (remove): forget it. */
void	 kmod_learn_forget(struct kmod_state *, const struct stream *);

#endif
