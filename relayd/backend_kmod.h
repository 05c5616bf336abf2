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

/* What one kernel entry is, and what was last read from it. */
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
	uint64_t		 packets, bytes, lost, mismatch;	/* last read */
};

struct kmod_stream {
	struct kentry		 e[KMOD_MAX_ENTRIES];
	int			 n;
	uint64_t		 cookie;
	uint64_t		 lost_base[2];	/* userspace loss at install, per side */
	uint64_t		 read_ms;
	bool			 learning;	/* a leg learns in the kernel */
	/* the install replaces entries the stream holds (ADD only: no
	 * moment without an entry, and the counters carry over) */
	bool			 replace;
};

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
int	 batch(struct kmod_state *, const struct kmod_stream *, uint8_t cmd,
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
int	 kmod_put_streams(struct kmod_state *, struct kmod_stream *const *plans,
	    size_t n, int *rcs);

/* kmod_hold.c: offers held in the kernel until their answer */
int	 kmod_hold(struct relayd *, void *priv, struct stream **sts, size_t n,
	    int *rcs);
/* s replaced the held entries of `held` (the answer): s takes over what
 * was read of their counters; the ones s does not use (RTCP ports of a
 * muxed stream) are deleted; `held` is freed. */
void	 kmod_hold_replaced(struct kmod_state *, struct kmod_stream *held,
	    struct kmod_stream *s);

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
