/*
 * relayd.h: trunkline-relayd, the media relay.
 *
 * One process, one epoll loop. The controller (or trunklinectl) talks to
 * the control socket (control.c) in the JSON protocol (proto/); commands
 * (commands.c) create sessions (session.c) made of streams, each with two
 * legs that own a port pair taken from the interface's pool (ports.c).
 * Packets are relayed in userspace (forward.c) while legs latch their
 * peers (latch.c); a fully latched stream is offered to the active backend
 * (backend.c), which may take it into the kernel. Timers (timers.c) end
 * sessions that went silent and tell subscribers.
 *
 * This header declares every struct and every function a file exports.
 */
#ifndef TRUNKLINE_RELAYD_H
#define TRUNKLINE_RELAYD_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <jansson.h>

#include "proto.h"

#define RELAYD_DEFAULT_CONFIG	"/etc/trunkline/relayd.json"
#define RELAYD_MAX_IFACES	8
#define RELAYD_MAX_CONNS	256		/* Unix and authenticated TCP */
#define RELAYD_MAX_PREAUTH	32		/* TCP waiting for auth */
#define RELAYD_AUTH_DEADLINE_MS	5000		/* to send auth on TCP */
#define RELAYD_CLOSE_DEADLINE_MS 2000		/* draining after an error */
#define RELAYD_CONN_OUTBUF_MAX	(4u << 20)	/* replies a client left unread */
#define RELAYD_EVQ_MAX		(64u << 20)	/* events, then resync */
#define RELAYD_CTL_QUEUED_MAX	(32u << 20)	/* all connections' unsent */
#define RELAYD_TICK_MS		100
#define RELAYD_BATCH		32		/* recvmmsg/sendmmsg batch */
#define RELAYD_MAX_PKT		2048

struct relayd;
struct session;
struct stream;
struct leg;

/* Every epoll registration points at a struct that starts with this. */
enum tag_kind { TAG_LEG = 1, TAG_CONTROL, TAG_CONN, TAG_TIMER, TAG_SIGNAL,
	TAG_BACKEND };
struct evtag {
	enum tag_kind	 kind;
};

/* ---- log.c: rlog() over proto's log lines (log levels: proto.h) ---- */
void	 rlog(const struct relayd *, enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * ---- ports.c: a FIFO of free even ports, so reuse is delayed; a port is
 * taken at random from the older half, so one call's ports do not tell
 * the next call's ----
 */
#define PORTS_RND	16
struct port_pool {
	uint16_t	*queue;
	size_t		 head;		/* index of the oldest free port */
	size_t		 count;		/* free ports in the queue */
	size_t		 cap;		/* number of pairs in the range */
	uint16_t	 min, max;	/* min even; max is the last odd port */
	uint32_t	 rnd[PORTS_RND];	/* getrandom() output not used yet */
	size_t		 nrnd;
	uint64_t	*free_map;	/* a bit per pair: in the ring */
	/* sockpark.c: whose sockets a pair's are; parked ones */
	struct leg	**owner;	/* by pair (calloc: unmapped until used) */
	int		*parked_fd;	/* by port - min, -1 none; NULL until used */
	uint32_t	*parked_round;	/* by pair: loop round it was parked in */
	size_t		 parked;	/* pairs */
};
int	 ports_init(struct port_pool *, uint16_t min, uint16_t max);
void	 ports_free(struct port_pool *);
int	 ports_take(struct port_pool *, uint16_t *port);	/* -ENOSPC */
/* Take this very port (restart); -ENOENT if it is not free. */
int	 ports_take_port(struct port_pool *, uint16_t port);
void	 ports_release(struct port_pool *, uint16_t port);
size_t	 ports_available(const struct port_pool *);
bool	 ports_is_free(const struct port_pool *, uint16_t port);

/* How a leg finds its peer (latch.c, "endpoint_learning" in the config). */
enum learn_mode {
	LEARN_HEURISTIC,	/* rank candidates over a window (default) */
	LEARN_IMMEDIATE,	/* first packet wins: unsafe, as before */
	LEARN_SDP_ONLY,		/* only the SDP address and port */
};

/* ---- config.c ---- */
struct iface_conf {
	char			 name[32];
	struct sockaddr_storage	 bind;
	char			 advertise[64];	/* address written into SDP */
};

struct relayd_conf {
	char			 path[256];
	char			 socket_path[108];
	unsigned		 socket_mode;
	bool			 tcp_enabled;
	struct sockaddr_storage	 tcp_listen;
	char			 tcp_secret[256];
	double			 control_idle_timeout;	/* s, to a request */
	int			 control_max_pending;	/* Unix, before one */
	char			 dtls_cert[256];	/* PEM; "": made at start */
	char			 dtls_key[256];
	double			 consent_timeout;	/* s, RFC 7675 */
	bool			 rtc_first_leg;	/* webrtc.start "first_leg" */
	struct iface_conf	 ifaces[RELAYD_MAX_IFACES];
	int			 nifaces;
	uint16_t		 port_min, port_max;
	double			 setup_timeout;		/* seconds */
	double			 ringing_timeout;	/* a ringing session */
	double			 inactivity_timeout;
	double			 hold_timeout;		/* 0: never */
	double			 max_duration;		/* 0: never */
	char			 backend[16];
	enum log_level		 log_level;
	bool			 strict_source;
	char			 journal[200];	/* directory; "" disables */
	enum learn_mode		 learn_mode;	/* "endpoint_learning" */
	double			 learn_window;	/* seconds */
	bool			 roaming_ssrc;	/* non-strict re-latch by SSRC */
};
/* 0, or -1 with a "file:line: field: message" text in err. */
int	 config_load(const char *path, struct relayd_conf *, char *err,
	    size_t errlen);
void	 config_defaults(struct relayd_conf *);

/* ---- net.c: sockets (address helpers: proto.h, addr.c) ---- */
int	 udp_bind(const struct sockaddr_storage *, uint16_t port);	/* fd or -errno */
/* Ports of [min, max] in `range` not in `reserved` (sysctl texts). */
int	 ports_ephemeral_unreserved(uint16_t min, uint16_t max,
	    const char *range, const char *reserved, unsigned *lo,
	    unsigned *hi);
void	 ports_check_ephemeral(struct relayd *);	/* warns at start */

/* ---- rtp.c: what the relay reads from packets ---- */
struct rtp_seq {
	bool		 init;
	uint16_t	 max_seq;
	uint32_t	 ssrc;
	uint64_t	 expected_base;	/* extended seq of the first packet */
	uint64_t	 cycles;
	uint64_t	 received;
	uint64_t	 lost_before;	/* lost in earlier SSRCs */
};
bool	 pkt_is_stun(const uint8_t *, size_t);
bool	 pkt_is_rtcp(const uint8_t *, size_t);	/* RTCP on a muxed port */
bool	 pkt_is_rtp(const uint8_t *, size_t);
/* Feed one packet; returns the packets lost so far over all SSRCs. */
uint64_t rtp_seq_update(struct rtp_seq *, const uint8_t *, size_t);


/* ---- stun.c: STUN for ICE-lite (RFC 5389, RFC 8445) ---- */
#define STUN_HDR		20
#define STUN_COOKIE		0x2112A442u
#define STUN_MAX_MSG		1280	/* larger Binding requests: refused */
#define STUN_MAX_USERNAME	513
#define STUN_BINDING_REQUEST	0x0001
#define STUN_BINDING_SUCCESS	0x0101
struct stun_msg {
	uint16_t		 type;
	uint16_t		 len;		/* of the body */
	const uint8_t		*txid;		/* 12 bytes, in the packet */
	const uint8_t		*username;	/* not NUL-terminated */
	size_t			 username_len;
	size_t			 mi_off;	/* MESSAGE-INTEGRITY; 0: none */
	size_t			 fp_off;	/* FINGERPRINT; 0: none */
	uint32_t		 priority;
	bool			 use_candidate;
	int			 role_attr;	/* 1 controlling, 2 controlled */
	bool			 has_xor_mapped;
	struct sockaddr_storage	 xor_mapped;
};
/* 0; -EINVAL not STUN at all; -EBADMSG broken STUN. */
int	 stun_parse(const uint8_t *, size_t, struct stun_msg *);
bool	 stun_integrity_ok(const uint8_t *, const struct stun_msg *,
	    const char *key, size_t keylen);
bool	 stun_fingerprint_ok(const uint8_t *, const struct stun_msg *);
bool	 stun_username_ok(const struct stun_msg *, const char *local_ufrag,
	    const char *remote_ufrag);
uint32_t stun_crc32(const uint8_t *, size_t);
/* Build into out[cap]: the length, or -ENOSPC/-EAFNOSUPPORT/-EIO. */
int	 stun_binding_success(const uint8_t txid[12],
	    const struct sockaddr_storage *mapped, const char *key,
	    size_t keylen, uint8_t *out, size_t cap);
int	 stun_binding_request(const uint8_t txid[12], const char *username,
	    uint32_t priority, bool use_candidate, const char *key,
	    size_t keylen, uint8_t *out, size_t cap);

/* ---- srtp.c: SRTP/SRTCP of a WebRTC leg (libsrtp2) ---- */
enum rtc_srtp_profile {
	RTC_SRTP_NONE,
	RTC_SRTP_AES_CM_128_HMAC_SHA1_80,
	RTC_SRTP_AEAD_AES_128_GCM,
};
#define RTC_SRTP_KEYLEN_MAX	32	/* master key + salt */
#define RTC_SRTP_ROOM		32	/* bytes protect may add */
struct rtc_srtp_keys {
	enum rtc_srtp_profile	 profile;
	uint8_t			 local[RTC_SRTP_KEYLEN_MAX];	/* we send */
	uint8_t			 remote[RTC_SRTP_KEYLEN_MAX];	/* we receive */
	size_t			 len;
};
struct srtp_leg;
int	 srtp_leg_lib_init(void);		/* once, at start */
const char *srtp_leg_profile_name(enum rtc_srtp_profile);
/* Key and salt length of a profile; 0 if unknown. */
size_t	 srtp_leg_key_len(enum rtc_srtp_profile, size_t *salt);
int	 srtp_leg_new(const struct rtc_srtp_keys *, struct srtp_leg **);
void	 srtp_leg_free(struct srtp_leg *);
/* In place; 0, or -EBADMSG (authentication, replay, malformed). */
int	 srtp_leg_unprotect(struct srtp_leg *, uint8_t *, size_t *len,
	    bool rtcp);
/* In place; buf has room for len + RTC_SRTP_ROOM. 0 or -errno. */
int	 srtp_leg_protect(struct srtp_leg *, uint8_t *, size_t *len,
	    bool rtcp);

/* ---- dtls.c: DTLS-SRTP (OpenSSL, one SSL per leg over memory BIOs) ---- */
struct dtls_ctx;
struct dtls_conn;
#define DTLS_FP_LEN		32	/* sha-256 */
#define DTLS_FP_TEXT		(8 + DTLS_FP_LEN * 3)
enum dtls_step {
	DTLS_STEP_AGAIN,	/* in progress */
	DTLS_STEP_DONE,		/* handshake complete, keys ready */
	DTLS_STEP_FAILED,	/* refused; see dtls_conn_bad_fingerprint */
	DTLS_STEP_CLOSED,	/* close_notify from the peer */
};
/* The certificate (from the config, or made now) and the SSL_CTX. */
int	 dtls_ctx_open(struct relayd *, char *err, size_t errlen);
void	 dtls_ctx_close(struct relayd *);
/* The configured certificate and key load and match (checked at start:
 * a configuration error, though the context itself starts later). */
int	 dtls_files_check(const struct relayd *, char *err, size_t errlen);
const char *dtls_fingerprint(const struct relayd *);	/* "sha-256 AA:.." */
/* "sha-256 AA:BB:..." into 32 bytes; -EINVAL if malformed. */
int	 dtls_fingerprint_parse(const char *, uint8_t fp[DTLS_FP_LEN]);
typedef void (*dtls_send_fn)(void *arg, const uint8_t *, size_t);
struct dtls_conn *dtls_conn_new(struct dtls_ctx *, bool server,
	    const uint8_t want_fp[DTLS_FP_LEN], dtls_send_fn, void *arg);
void	 dtls_conn_free(struct dtls_conn *);
/* Client: send the ClientHello. */
enum dtls_step dtls_conn_start(struct dtls_conn *);
enum dtls_step dtls_conn_input(struct dtls_conn *, const uint8_t *, size_t);
/* Retransmit a lost flight when its timer is due (every tick). */
void	 dtls_conn_tick(struct dtls_conn *);
bool	 dtls_conn_bad_fingerprint(const struct dtls_conn *);
const char *dtls_conn_error(const struct dtls_conn *);
int	 dtls_conn_srtp_keys(struct dtls_conn *, struct rtc_srtp_keys *);

/* ---- session.c: sessions, streams, legs ---- */
enum direction { DIR_SENDRECV, DIR_SENDONLY, DIR_RECVONLY, DIR_INACTIVE };
enum sock_kind { SK_RTP, SK_RTCP };
enum leg_side { SIDE_A, SIDE_B };

/* What epoll hands back: which socket of a leg (leg_of_sock()). */
struct leg_sock {
	struct evtag	 tag;		/* TAG_LEG; first, epoll hands it back */
	int		 fd;
	enum sock_kind	 kind;		/* also its index in leg->sock[] */
};

struct leg_stats {
	uint64_t	 packets, bytes, drops, stun, lost;
	uint64_t	 kpackets, kbytes;	/* of which counted by the kernel */
	uint64_t	 last_seen_ms;		/* monotonic, 0 never */
	int64_t		 last_seen_wall;	/* epoch seconds, 0 never */
};

/* The endpoint as signalled in SDP (what an offer or answer says). */
struct endpoint {
	bool			 set;
	struct sockaddr_storage	 rtp, rtcp;
	bool			 rtcp_mux;
	enum direction		 direction;
};

/*
 * ---- raddr.c: an address as a leg keeps it, 24 bytes instead of a
 * 128-byte sockaddr_storage (a relay keeps four per leg and 100,000
 * streams: issue 16's 1 KiB per stream). Sockets, the kernel backends and
 * the address helpers of proto.h take sockaddr_storage: convert there. ----
 */
struct raddr {
	uint8_t		 a[16];		/* network order; IPv4 in a[0..3] */
	uint32_t	 scope;		/* IPv6 scope id (link-local peers) */
	uint16_t	 port;		/* host order */
	uint8_t		 family;	/* AF_UNSPEC (none), AF_INET, AF_INET6 */
};
void	 raddr_from(struct raddr *, const struct sockaddr_storage *);
/* Fills ss and returns it. */
struct sockaddr_storage *raddr_to(const struct raddr *,
	    struct sockaddr_storage *);
/* A sockaddr_storage view of r for the expression's block (a compound
 * literal): for callers of the proto.h helpers. */
#define RADDR_SS(r)	raddr_to((r), &(struct sockaddr_storage){ 0 })
bool	 raddr_equal(const struct raddr *, const struct sockaddr_storage *);
bool	 raddr_same_host(const struct raddr *, const struct sockaddr_storage *);

/* The endpoint as a leg keeps it (struct endpoint, compact). */
struct leg_sdp {
	bool			 set;
	bool			 rtcp_mux;
	enum direction		 direction;
	struct raddr		 rtp, rtcp;
};

/*
 * How well a source matches a leg's SDP, worst first: candidates of a
 * better rank replace worse ones while the leg learns.
 */
enum learn_rank {
	RANK_NONE,
	RANK_OTHER,		/* anything else (full NAT, or a stranger) */
	RANK_ADDR,		/* the SDP address, another port (NAT) */
	RANK_EXACT,		/* the SDP address and port */
};

/*
 * Endpoint learning of a leg's RTP peer. latched[SK_RTP] with
 * is_latched[SK_RTP] is the peer; while `learning` it is only the best
 * candidate so far, fixed when the window ends (or at an exact match).
 */
struct leg_learn {
	bool			 learning;
	enum learn_rank		 rank;		/* of latched[SK_RTP] */
	uint64_t		 window_start;	/* ms, first candidate */
	bool			 has_ssrc;
	uint32_t		 ssrc;		/* the peer's last RTP SSRC */
	uint64_t		 relearns;	/* candidate replaced or re-latched */
};

struct leg {
	struct stream		*stream;
	enum leg_side		 side;
	int			 iface;		/* index into rd->ifaces */
	uint16_t		 port;		/* local RTP port; RTCP is +1 */
	bool			 is_latched[2];	/* latched[] holds a peer */
	int			 bind_err;	/* last rebind failed (legsock.c) */
	struct leg_sock		 sock[2];	/* [SK_RTP], [SK_RTCP] */
	struct leg_sdp		 sdp;
	struct raddr		 latched[2];	/* per sock kind */
	struct leg_learn	 learn;
	struct leg_stats	 stats;
	struct rtp_seq		 seq;
	const char		*transport;	/* its peer's SDP (an atom); "" unknown */
	struct rtc_leg		*rtc;		/* WebRTC leg; NULL: plain */
};

enum stream_path { PATH_USERSPACE, PATH_KERNEL };

struct stream {
	struct session		*session;
	int			 index;
	enum stream_path	 path;
	const char		*type;		/* atoms (atom.c), never NULL */
	const char		*transport;
	struct leg		 leg[2];
	char			*path_reason;	/* stream_set_reason(); at its length */
	void			*backend_priv;	/* the backend's per-stream state */
	bool			 unbind_queued;	/* sockets close this round */
	/* offerhold.c: offered with ports and no sockets; the backend
	 * holds them (entries that count and drop) until the answer */
	bool			 hold_queued;	/* held at the end of this round */
	bool			 held;
	bool			 reason_owned;	/* path_reason is ours, not a literal */
	/* backend.c: position + 1 in rd->backend.carried, 0 when not in it
	 * (in the padding after the flags: the struct does not grow) */
	uint32_t		 carried_pos;
};

enum session_state { SS_OFFERED, SS_ANSWERED };

/*
 * ---- theap.c: a binary min-heap of deadlines, each node embedded in
 * what it times (a session): arm, re-arm and removal in O(log n), the
 * earliest in O(1). `at` is in timer ticks (timers.c), 32 bits so that a
 * session keeps its 120 bytes (issue 16's 1 KiB per stream). ----
 */
struct theap_node {
	uint32_t	 at;		/* deadline, in ticks */
	uint32_t	 pos;		/* index in the heap + 1; 0: not in it */
};
struct theap {
	struct theap_node **v;
	size_t		 n, cap;
};
/* Insert, or move a node already in: 0, or -ENOMEM (then not armed). */
int	 theap_set(struct theap *, struct theap_node *, uint32_t at);
void	 theap_del(struct theap *, struct theap_node *);	/* if in */
struct theap_node *theap_top(const struct theap *);	/* NULL: empty */
int	 theap_reserve(struct theap *, size_t n);
void	 theap_free(struct theap *);

struct session {
	/* at their length (session_set_str); never NULL, "" when unset */
	const char		*call_id;
	const char		*tag[2];	/* [A] from, [B] to */
	const char		*label;
	uint8_t			 state;		/* enum session_state */
	/*
	 * Ringing (the offer said so): the call is being set up and the
	 * controller times its ringing; no setup or inactivity timeout
	 * applies until the final answer (an answer without "early"), only
	 * timeouts.ringing. answered_ms: that final answer; the setup
	 * timeout counts from it (0: from the creation).
	 */
	bool			 ringing;
	int			 nstreams;	/* here: no padding to waste */
	uint64_t		 answered_ms;
	int			 iface[2];
	uint64_t		 created_ms;
	int64_t			 created_wall;
	struct stream		**streams;	/* each allocated alone: epoll holds leg pointers */
	struct stream		*stream0;	/* streams' room while there is one */
	struct theap_node	 timer;		/* its next deadline (timers.c) */
	struct session		*hnext;		/* hash chain */
	struct session		*prev, *next;	/* all sessions, creation order */
};

struct session_table {
	struct session		**buckets;
	size_t			 nbuckets;
	uint64_t		 key[2];	/* hash key, random per table */
	size_t			 count;
	struct session		*first, *last;
};

int	 session_table_init(struct session_table *, size_t nbuckets);
void	 session_table_free(struct session_table *);
struct session *session_find(struct session_table *, const char *call_id);
struct session *session_create(struct relayd *, const char *call_id,
	    const char *from_tag, int iface_a, int iface_b);
void	 session_destroy(struct relayd *, struct session *);
/* Set a session string (tag, label): 0, or -ENOMEM keeping the old one. */
int	 session_set_str(const char **field, const char *);
/*
 * End a session whose statistics are reported (delete reply, timeout
 * event): its streams leave the backend first, which reads the kernel's
 * final counters into the legs; then report(rd, s, arg) builds what is
 * sent; then the session is destroyed. Returns what report returned.
 */
json_t	*session_finish(struct relayd *, struct session *,
	    json_t *(*report)(struct relayd *, const struct session *, void *),
	    void *arg);
/* Its streams leave the backend (session_finish's first step, for many
 * sessions before one backend_flush); true if one was in the kernel. */
bool	 session_release(struct relayd *, struct session *);
/*
 * Restart: n streams whose legs own exactly these ports [i][side], not
 * bound yet: the journal binds those that do not stay in the kernel.
 */
int	 session_restore_streams(struct relayd *, struct session *, int n,
	    const uint16_t ports[][2]);
/* Grow to n streams, opening sockets for new legs. 0 or -errno. */
int	 session_add_streams(struct relayd *, struct session *, int n,
	    struct proto_error *);
/*
 * Apply an endpoint signalled for leg `side` of a stream. A changed
 * address or port re-opens that leg's latch. Returns true if it changed.
 */
bool	 leg_set_endpoint(struct leg *, const struct endpoint *);
/* The leg a socket belongs to (no pointer back: 12 bytes less a socket). */
struct leg *leg_of_sock(struct leg_sock *);
/*
 * Why a stream takes its path (query's "path_reason"): held at its length,
 * not in a fixed array, since every stream keeps one; a format without
 * conversions is kept as the literal it is (fmt: always a literal). Out
 * of memory keeps a fixed text saying the reason was lost. stream_reason:
 * never NULL.
 */
void	 stream_set_reason(struct stream *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 stream_append_reason(struct stream *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
const char *stream_reason(const struct stream *);
void	 stream_reason_free(struct stream *);
void	 leg_unlatch(struct leg *);
uint64_t session_last_activity(const struct session *);
bool	 session_on_hold(const struct session *);

/* ---- latch.c: who may send into a leg (endpoint learning) ---- */
enum latch_verdict {
	LATCH_ACCEPT,		/* from the peer (or the current candidate) */
	LATCH_LEARNING,		/* a new best candidate, not fixed yet */
	LATCH_LATCHED,		/* peer fixed now */
	LATCH_RELATCHED,	/* non-strict: a fixed peer moved */
	LATCH_REJECT,		/* not the peer: drop */
};
struct latch_policy {
	enum learn_mode		 mode;
	uint64_t		 window_ms;
	bool			 strict;
	bool			 roaming_ssrc;
};
void	 latch_policy_init(struct latch_policy *, const struct relayd_conf *);
/* A packet of `len` bytes from src on the leg's socket of this kind. */
enum latch_verdict latch_check(struct leg *, enum sock_kind,
	    const struct sockaddr_storage *src, const struct latch_policy *,
	    uint64_t now_ms, const uint8_t *pkt, size_t len);
/* The window is over: fix the candidate. True if it was fixed now. */
bool	 latch_expire(struct leg *, const struct latch_policy *,
	    uint64_t now_ms);
/* Forget peer and candidate (a new SDP endpoint): learning starts over. */
void	 latch_reset(struct leg *);
const char *learn_rank_name(enum learn_rank);
enum learn_rank latch_rank(const struct leg *);	/* of the peer or candidate */
/* The ranking shared with trunkline.ko (kmod/tl_learn.h). */
struct tl_ep;
struct tl_learn_view;
void	 tl_ep_of(const struct sockaddr_storage *, struct tl_ep *);
void	 latch_view(const struct leg *, const struct latch_policy *,
	    struct tl_learn_view *);
/* The kernel learned src for the leg: the state latch_check would set. */
void	 latch_learned(struct leg *, const struct sockaddr_storage *src,
	    enum learn_rank, bool fixed, uint64_t now_ms);
/* Both legs' peers fixed: the stream can leave userspace. */
bool	 stream_fully_latched(const struct stream *);
/* Where packets leaving leg `out` go for a kind; false if nowhere yet. */
bool	 leg_destination(const struct leg *out, enum sock_kind,
	    struct sockaddr_storage *dst);

/*
 * ---- webrtc.c: a WebRTC leg (UDP/TLS/RTP/SAVPF): ICE-lite, DTLS-SRTP,
 * rtcp-mux. Userspace only: never offered to a kernel backend. ----
 */
#define RTC_TRANSPORT		"UDP/TLS/RTP/SAVPF"
#define RTC_MAX_VALID		4	/* sources that passed a check */
#define RTC_UFRAG_LEN		8
#define RTC_PWD_LEN		32
enum ice_state { ICE_NEW, ICE_CHECKED, ICE_NOMINATED };
enum dtls_state { DTLS_NEW, DTLS_HANDSHAKE, DTLS_CONNECTED, DTLS_FAILED,
	DTLS_CLOSED };
/* The browser's parameters, from its SDP (offer/answer media entry). */
struct rtc_remote {
	char			 ufrag[257];
	char			 pwd[257];
	uint8_t			 fp[DTLS_FP_LEN];
	char			 setup[8];	/* actpass, active, passive */
};
struct rtc_counters {
	uint64_t	 stun_ok, stun_bad, dtls_bad_fingerprint, dtls_fail;
	uint64_t	 srtp_auth_fail, srtp_in, srtp_out, not_ice;
	uint64_t	 consent_expired;	/* not sent: no check for long */
};
/* Since start, over every WebRTC leg (stats' "webrtc"). */
struct rtc_totals {
	uint64_t	 legs;		/* legs made WebRTC */
	uint64_t	 stun_bad, dtls_fail, dtls_bad_fingerprint;
	uint64_t	 srtp_auth_fail, srtp_in, srtp_out, not_ice;
};
struct rtc_leg {
	char			 ufrag[RTC_UFRAG_LEN + 1];	/* ours */
	char			 pwd[RTC_PWD_LEN + 1];
	bool			 has_remote;
	struct rtc_remote	 remote;
	bool			 server;	/* our DTLS role */
	enum ice_state		 ice;
	struct sockaddr_storage	 valid[RTC_MAX_VALID];
	int			 nvalid;
	int			 selected;	/* index into valid; -1 none */
	struct dtls_conn	*dtls;
	enum dtls_state		 dtls_state;
	struct sockaddr_storage	 dtls_peer;	/* who the handshake is with */
	struct srtp_leg		*srtp;
	enum rtc_srtp_profile	 profile;
	struct rtc_counters	 c;
	uint64_t		 last_check_ms;	/* last valid check (consent) */
	bool			 consent_lost;	/* logged once */
};
/*
 * libsrtp2 and the DTLS context start at the first WebRTC leg, not at
 * start (libsrtp2's init fails in some environments, the kmod qemu guest
 * among them, and a relay that relays no browser never needs them). A
 * failure is final: WebRTC offers are refused with its reason.
 */
enum rtc_lib { RTC_LIB_UNTRIED, RTC_LIB_READY, RTC_LIB_FAILED };
/* 0, or -ENOTSUP with the reason in rd->rtc_lib_error. */
int	 webrtc_lib_start(struct relayd *);
const char *webrtc_lib_state(const struct relayd *);
/* Make a leg a WebRTC leg (new local credentials) or plain again. */
int	 webrtc_leg_enable(struct relayd *, struct leg *);
void	 webrtc_leg_disable(struct leg *);
/* The browser's SDP parameters; new ones restart ICE and DTLS. */
void	 webrtc_set_remote(struct relayd *, struct leg *,
	    const struct rtc_remote *);
/*
 * A packet arrived on a WebRTC leg: STUN and DTLS are handled here;
 * SRTP/SRTCP is decrypted in place. True if the (now plain) packet is
 * media to relay; false if it was consumed or dropped (counted).
 */
bool	 webrtc_input(struct relayd *, struct leg *, enum sock_kind,
	    const struct sockaddr_storage *src, uint8_t *, size_t *len);
/*
 * Encrypt in place toward a WebRTC leg; false if it cannot be sent: no
 * DTLS yet, or no valid check for the consent timeout (RFC 7675).
 */
bool	 webrtc_output(struct relayd *, struct leg *, uint8_t *, size_t *len,
	    struct sockaddr_storage *dst, uint64_t now);
void	 webrtc_tick(struct relayd *, struct leg *);
/* Reply fields of a WebRTC leg (ice, fingerprint, setup, candidates). */
void	 webrtc_reply(const struct relayd *, const struct leg *, json_t *);
json_t	*webrtc_json(const struct leg *);	/* for query */
json_t	*webrtc_totals_json(const struct relayd *);	/* for stats */
bool	 stream_has_webrtc(const struct stream *);
bool	 session_has_webrtc(const struct session *);	/* not journalled */

/* ---- backend.c / backend_*.c ---- */
struct backend_ops {
	const char	*name;
	/* 0 when usable; else -errno and why in reason. */
	int		(*open)(struct relayd *, void **priv, char *reason,
			    size_t len);
	void		(*close)(struct relayd *, void *priv);
	/* Take a fully latched stream; 0 or -errno with stream->path_reason. */
	int		(*install)(struct relayd *, void *priv, struct stream *);
	int		(*remove)(struct relayd *, void *priv, struct stream *);
	/* Refresh the counters of n installed streams in one batch. */
	int		(*read_counters)(struct relayd *, void *priv,
			    struct stream **, size_t n);
	/*
	 * The periodic sync: refresh the counters of every stream the
	 * backend carries, sts[0..n-1], in one pass over its table (one
	 * dump), at most as often as that pass is affordable. NULL: the
	 * sync hands them to read_counters in batches.
	 */
	int		(*read_all)(struct relayd *, void *priv,
			    struct stream **sts, size_t n);
	/*
	 * After a restart the journal brought back a stream that was in the
	 * kernel: 0 if the backend still holds its entries (adopted as they
	 * are, packets never stopped), else -errno and the stream goes back
	 * to latching. NULL: the backend keeps nothing across restarts.
	 */
	int		(*adopt)(struct relayd *, void *priv, struct stream *);
	/* Every journalled stream was offered to adopt; NULL: nothing to do. */
	void		(*adopt_done)(struct relayd *, void *priv);
	/* End of an event-loop round: commit queued changes. NULL: none. */
	void		(*flush)(struct relayd *, void *priv);
	/*
	 * Both legs' SDP is in: take the stream now and learn its peers
	 * (kmod_learn.c); 0, or -errno and it latches in userspace. NULL:
	 * streams are offered to install once latched.
	 */
	int		(*learn)(struct relayd *, void *priv, struct stream *);
	/* A descriptor the backend registered with TAG_BACKEND is ready. */
	void		(*event)(struct relayd *, void *priv);
	/*
	 * Offered streams (one SDP in) whose ports have no sockets: hold
	 * their ports until the answer (count and drop what reaches them),
	 * n in one batch; rcs[i] 0, or -errno and stream i binds sockets
	 * (offerhold.c). The answer's learn or install replaces the held
	 * entries, remove deletes them. NULL: offers bind their sockets.
	 */
	int		(*hold)(struct relayd *, void *priv, struct stream **,
			    size_t n, int *rcs);
	/*
	 * install only queues (flush commits): the backend calls
	 * backend_stream_carried itself once the kernel has the stream.
	 */
	bool		  deferred_install;
};

struct backend {
	const struct backend_ops *ops;
	void			*priv;
	char			 reason[640];	/* why this one was chosen */
	/*
	 * The streams a backend carries or holds (path PATH_KERNEL, or
	 * held): the counter sync walks these, not every session. A stream
	 * enters at the change (backend_carry) and leaves at the sync after
	 * it left the backend, or when it is freed. `incomplete`: one could
	 * not enter (no memory); the next sync looks at every session.
	 */
	struct stream		**carried;
	uint32_t		 ncarried, carried_cap;
	bool			 incomplete;
	/* pinned (a dump spans loop rounds and names streams by position):
	 * a stream leaving makes a hole (NULL), closed at unpin */
	bool			 pinned;
	uint64_t		 dumps, reads;	/* counter syncs: dumps, per-entry reads */
	uint64_t		 dump_ms;	/* the last dump took */
};

extern const struct backend_ops backend_userspace_ops;
extern const struct backend_ops backend_kmod_ops;	/* backend_kmod.c */
extern const struct backend_ops backend_nft_ops;

int	 backend_select(struct relayd *, const char *want, char *err,
	    size_t errlen);
void	 backend_close(struct relayd *);
void	 backend_stream_latched(struct relayd *, struct stream *);
void	 backend_stream_learn(struct relayd *, struct stream *);
void	 backend_stream_remove(struct relayd *, struct stream *);
/* Out of the backend at the end of a call: path and reason stay as the
 * call's last word on where its media went. */
void	 backend_stream_release(struct relayd *, struct stream *);
void	 backend_sync_counters(struct relayd *);
/* st is now carried or held by the backend: the sync reads it. */
void	 backend_carry(struct relayd *, struct stream *);
/* st is freed: out of the set (nothing if it is not in). */
void	 backend_uncarry(struct relayd *, struct stream *);
void	 backend_carry_free(struct relayd *);	/* backend_close */
void	 backend_carry_pin(struct relayd *, bool pin);
void	 backend_sync_session(struct relayd *, const struct session *);
const char *stream_path_name(const struct relayd *, const struct stream *);
void	 backend_flush(struct relayd *);
void	 backend_event(struct relayd *);
void	 backend_adopt_done(struct relayd *);

/*
 * ---- legsock.c: streams in the kernel hold no sockets; their ports stay
 * theirs, and they bind again when they come back to userspace ----
 */
struct unbind_queue {
	struct stream	**v;
	size_t		  n, cap;
};
/* The kernel carries st: its sockets close at the end of the round. */
void	 backend_stream_carried(struct relayd *, struct stream *);
void	 unbind_forget(struct relayd *, struct stream *);
void	 unbind_run(struct relayd *);
void	 unbind_free(struct relayd *);
/* Bind the ports a stream's legs lack; failures are logged and counted. */
int	 stream_sockets_open(struct relayd *, struct stream *);
bool	 leg_bound(const struct leg *);
bool	 stream_sockless(const struct stream *);	/* a leg has no socket */

/*
 * ---- offerhold.c: an offer opens no sockets when the backend can hold
 * its ports (kmod): the ports are taken, the stream queued, and at the
 * end of the round the backend holds the round's offers in one batch;
 * what it cannot hold binds its sockets then ----
 */
/* 1: this backend binds offers (take nothing); 0: port taken; -ENOSPC. */
int	 leg_take_sockless(struct relayd *, struct leg *);
void	 hold_forget(struct relayd *, struct stream *);
void	 hold_run(struct relayd *);
void	 hold_free(struct relayd *);
/* The answer, or a change the backend cannot hold: out of the hold, bound. */
void	 stream_unhold(struct relayd *, struct stream *);

/* ---- kmod_stale.c: kernel entries to delete again (backend_kmod.c) ---- */
/* An address as trunkline.ko keys it: IPv4 in a[0..3], the rest zero. */
struct kaddr {
	uint8_t		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 a[16];		/* network order */
};
struct kstale_key {
	struct kaddr	 laddr;
	uint16_t	 lport;		/* host order */
};
struct kstale {
	struct kstale_key *v;
	size_t		 n, cap;
};
bool	 kaddr_equal(const struct kaddr *, const struct kaddr *);
int	 kstale_add(struct kstale *, const struct kstale_key *);
/* A new install owns the key now. */
void	 kstale_forget(struct kstale *, const struct kstale_key *);
/* After deleting the first n again (exchange rc, errs[i] per key). */
void	 kstale_settle(struct kstale *, size_t n, int rc, const int *errs);
void	 kstale_free(struct kstale *);
bool	 kmod_delete_done(int rc, int err);
bool	 kmod_entry_gone(int err);

/* ---- journal.c: sessions across restarts ---- */
struct journal;
int	 journal_open(struct relayd *);
void	 journal_close(struct relayd *);
void	 journal_save(struct relayd *, const struct session *);
void	 journal_drop(struct relayd *, const struct session *);
/* Write what this loop round changed; after every epoll batch. */
void	 journal_flush(struct relayd *);
/* Sessions back from the journal; streams offered to backend adopt. */
int	 journal_restore(struct relayd *);
/* A write failed and the log misses changes until it is rewritten. */
bool	 journal_behind(const struct relayd *);

/* ---- forward.c: the userspace path ---- */
int	 forward_init(struct relayd *);
void	 forward_free(struct relayd *);
/* epoll said a leg socket is readable */
void	 forward_readable(struct relayd *, struct leg_sock *);

/* ---- control.c: the control socket ---- */
struct conn;
int	 control_open(struct relayd *);
void	 control_close(struct relayd *);
void	 control_event(struct relayd *, uint32_t events, void *tag);
/* Every tick: close connections past their deadline. */
void	 control_tick(struct relayd *);
/* Once per loop round, after journal_flush(): write the replies queued. */
void	 control_flush(struct relayd *);
/* Bytes of replies and events all connections have not read (stats). */
size_t	 control_queued(const struct relayd *);
/* Connection counts and limit counters (stats.control). */
json_t	*control_json(const struct relayd *);
/* Send an event to every subscriber of `name`. Steals msg. */
void	 control_broadcast(struct relayd *, const char *name, json_t *msg);
bool	 conn_subscribe(struct conn *, json_t *events, struct proto_error *);

/* ---- commands.c ---- */
/* Returns a reply (ok or error) for a validated request. */
json_t	*command_run(struct relayd *, struct conn *, const char *cmd,
	    json_t *req, json_t *id);
json_t	*session_to_json(const struct relayd *, const struct session *);
json_t	*streams_to_json(const struct relayd *, const struct session *);

/*
 * ---- timers.c: every session has one deadline in a heap (theap.c), the
 * earliest moment one of its timeouts could end it, so a tick costs what
 * expires, not the number of sessions ----
 */
struct timers {
	struct theap	 heap;
	uint64_t	 base_ms;	/* tick 0 */
	uint64_t	 sync_ms;	/* next refresh of kernel counters */
};
int	 timers_open(struct relayd *);
void	 timers_close(struct relayd *);
void	 timers_tick(struct relayd *);
/* A session changed (created, offer, answer, restored): its deadline
 * again. Packets need no call: they only move a deadline later. */
void	 timers_arm(struct relayd *, struct session *);
void	 timers_disarm(struct relayd *, struct session *);
/* The earliest time (ms) a timeout could end s; UINT64_MAX: never. */
uint64_t session_deadline(const struct relayd *, const struct session *,
	    uint64_t now_ms);
/* Why a session should end now, or NULL. */
const char *session_expired(const struct relayd *, const struct session *,
	    uint64_t now_ms);
/* End a session by itself: event to subscribers, then destroy. */
void	 session_end(struct relayd *, struct session *, const char *reason);

/* ---- event.c: the loop ---- */
/* Monotonic ms since an origin 2^40 ms (about 34 years) before boot:
 * every "now minus an age" in relayd stays above zero. */
#define RELAYD_CLOCK_BASE_MS	(1ULL << 40)
uint64_t now_ms(void);
int	 event_loop(struct relayd *, int sigfd);
void	 graveyard_empty(struct relayd *);
/*
 * Free after the current epoll batch: later events of the same batch may
 * still point at a leg or connection that a command just ended.
 */
void	 defer_free(struct relayd *, void *);

/* SIGTERM/SIGINT end the loop; SIGHUP is logged. Returns the signalfd. */
int	 signals_open(struct relayd *, struct evtag *);
void	 on_signal(struct relayd *, int sigfd);
int	 epoll_add(struct relayd *, int fd, uint32_t events, void *tag);
void	 epoll_del(struct relayd *, int fd);


struct relayd_totals {
	/* sums of the legs' counters, kernel backends' packets included */
	uint64_t	 packets, bytes, drops, errors;
	uint64_t	 packets_userspace;	/* of them, relayd forwarded */
	uint64_t	 sessions_created, sessions_timed_out;
	uint64_t	 journal_errors;	/* failed writes/rewrites/compactions */
	uint64_t	 kernel_remove_errors;	/* kernel state kept to retry */
	struct rtc_totals	 rtc;	/* WebRTC legs (webrtc.c) */
	uint64_t	 rebind_failures;	/* a port taken while in the kernel */
	uint64_t	 hold_failures;		/* offers the backend could not hold */
};

/* The daemon context: the only mutable state there is. */
/*
 * ---- atom.c: SDP words (media type, transport) kept once per relay and
 * shared by the streams; bounded, common ones preloaded ----
 */
#define ATOMS_MAX	256
#define ATOM_MAXLEN	31	/* the longest kept; longer ones are cut */
#define ATOM_TYPE_MAX	15	/* a media type is cut here, as before */
struct atoms {
	char		*v[ATOMS_MAX];
	size_t		 n;
};
const char	*atom_get(struct atoms *, const char *, size_t max);
int		 atoms_init(struct atoms *);
void		 atoms_free(struct atoms *);

/*
 * ---- sockpark.c: leg sockets in epoll by interface and port (what epoll
 * hands back has PARK_TOKEN_BIT set; evtag pointers never do), and bound
 * sockets of free ports kept for the next leg that takes the pair (no
 * socket/bind/close, no epoll_ctl per call). ----
 */
#define PARK_TOKEN_BIT	((uint64_t)1)
int	 leg_sock_watch(struct relayd *, struct leg *, enum sock_kind);
int	 park_put(struct relayd *, struct leg *);	/* 1 parked, 0 close */
int	 park_take(struct relayd *, struct leg *, uint16_t port);
void	 park_drop(struct relayd *, int iface, uint16_t port);
int	 park_evict_one(struct relayd *);	/* EMFILE: 1 if one closed */
/* Bind a free pair and park it: 1 done, 0 already parked, -errno
 * (*bad: the port that failed). */
int	 park_bind(struct relayd *, int iface, uint16_t port, uint16_t *bad);
void	 port_readable(struct relayd *, uint64_t token);
struct epoll_event;
void	 park_prepass(struct relayd *, struct epoll_event *, int n, bool full);
size_t	 park_count(const struct relayd *);
/* A leg without sockets owns its pair too (kmod_learn.c finds it by port);
 * the owner of port's pair on iface, or NULL. */
void	 port_own(struct relayd *, struct leg *);
struct leg *port_owner(struct relayd *, int iface, unsigned port);
void	 park_free(struct relayd *);

/*
 * ---- sockwarm.c: at start, every free pair of the range bound and parked,
 * a slice per loop round, so that a fresh relay's offers bind nothing ----
 */
#ifndef WARM_SLICE	/* -DWARM_SLICE=1000000: all before the first request */
#define WARM_SLICE	128	/* pairs per loop round: about 2 ms */
#endif
#define WARM_REPORT	8	/* ports another process held, logged */
struct warm_state {
	bool		 pending;	/* pairs left to look at */
	int		 iface;		/* where the next slice starts */
	size_t		 next;		/* pair index on it */
	size_t		 bound;		/* pairs bound and parked */
	size_t		 held;		/* ports another process had bound */
	uint16_t	 held_port[RELAYD_MAX_IFACES][WARM_REPORT];
	size_t		 held_n[RELAYD_MAX_IFACES];
	uint64_t	 started_ms;
	/* pairs a call left without sockets (a kernel backend carried
	 * it: legsock.c), to bind and park again: a ring of iface << 16 |
	 * port, one slot per pair of the range (full: the pair binds at
	 * its next offer, as before) */
	uint32_t	*again;
	size_t		 again_cap, again_head, again_n;
	uint64_t	 rebound;	/* pairs bound and parked again */
};
void	 warm_start(struct relayd *);
void	 warm_free(struct relayd *);
bool	 warm_pending(const struct relayd *);
void	 warm_slice(struct relayd *, size_t pairs);
/* pairs not bound yet: the start's not looked at, and those queued by
 * warm_again */
size_t	 warm_left(const struct relayd *);
/* A leg let its pair go without sockets: bind and park it again in the
 * background (a slice per loop round), not at the next offer. */
void	 warm_again(struct relayd *, int iface, uint16_t port);

struct relayd {
	struct relayd_conf	 conf;
	struct atoms		 atoms;		/* atom.c */
	int			 epfd;
	bool			 quit;
	uint64_t		 started_ms;
	struct port_pool	 pools[RELAYD_MAX_IFACES];
	struct session_table	 sessions;
	struct backend		 backend;
	struct relayd_totals	 totals;
	size_t			 nstreams;
	struct ctl_state	*ctl;
	struct fwd_state	*fwd;
	int			 timerfd;
	struct evtag		 timer_tag;
	struct timers		 timers;	/* timers.c */
	struct deferred		*graveyard;	/* see defer_free() */
	struct journal		*journal;	/* NULL: none */
	struct dtls_ctx		*dtls;		/* WebRTC legs' certificate */
	enum rtc_lib		 rtc_lib;	/* webrtc_lib_start() */
	char			 rtc_lib_error[192];	/* why it failed */
	struct unbind_queue	 unbind;	/* legsock.c */
	struct unbind_queue	 holdq;		/* offerhold.c */
	int			 ports_unreserved;	/* net.c, at start */
	bool			 park_on;	/* sockpark.c; main.c decides */
	bool			 park_unsure;	/* park_prepass: drain at take */
	struct warm_state	 warm;		/* sockwarm.c */
	uint64_t		 loop_round;	/* event_loop's epoll_waits */
};

#endif
