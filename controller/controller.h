/*
 * controller.h: trunkline-controller, the SIP B2BUA (Sofia-SIP nua).
 *
 * One process, one su_root, one nua per address family (stack6.c),
 * single-threaded. sipfilter.c sees
 * each UDP datagram before the stack does and discards what the stack
 * must never see (strangers in drop mode, scanners, banned sources,
 * requests without To tag in a call's dialog). Every request
 * outside a dialog first meets protect.c (per-source rate limit and ban,
 * size limits, scanner user agents). An INVITE then goes through the
 * stages, one file each: identify.c (which trunk: source address, else
 * digest account, whose answer auth.c checks; register.c matches calls
 * to a registered DDI; accounts.c local accounts) -> limits.c (concurrent calls, CPS) -> the
 * local step (emergency.c per region, registrar.c/location.c for calls to
 * registered users with aliases and quick dial, enum.c NAPTR lookup) ->
 * route.c (ordered rules, then LCR prefix tables: an ordered candidate
 * list of gateways; health.c drops gateways its OPTIONS probes found
 * down) -> transform.c and identity.c (numbers and From in and out) ->
 * relay.c (offer to a relayd chosen by load) -> sdp.c (rewrite) ->
 * invite.c and gateway.c (the two nua handles, failover, divert.c on busy or no
 * answer; call.c the call object, reinvite.c re-offers, hangup.c
 * CANCEL/BYE; b2bua.c dispatches the nua events) -> cdr.c (one JSON
 * line per call; one per INVITE refused at the door, rate-limited). register.c also keeps
 * the outbound registrations; control.c serves the control socket
 * (proto/); config.c reads the JSON configuration with file:line: field
 * errors.
 *
 * This header declares every struct and every function a file exports.
 */
#ifndef TRUNKLINE_CONTROLLER_H
#define TRUNKLINE_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <regex.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <jansson.h>

struct ctl;
struct call;
struct leg;
struct local_conf;
struct location;

/* Sofia's "magic" types: the root and nua carry the daemon context, a
 * handle carries its leg. Must precede the Sofia headers. */
#define SU_ROOT_MAGIC_T		struct ctl
#define NUA_MAGIC_T		struct ctl
#define NUA_HMAGIC_T		struct leg
#define SU_TIMER_ARG_T		void
#define SU_WAKEUP_ARG_T		void

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/nua.h>

#include <sofia-sip/sip.h>

#include "proto.h"

#define CTL_DEFAULT_CONFIG	"/etc/trunkline/controller.json"
#define CTL_MAX_RELAYS		8
#define CTL_MAX_CANDIDATES	16
#define CTL_MAX_CONNS		64
#define CTL_NUM_MAX		64	/* a number (user part) after transforms */
#define CTL_OWNED_MAX		32	/* owned numbers (patterns) per trunk */

/* ---- log.c: clog_msg() over proto's log lines (levels: proto.h) ---- */
void	 clog_msg(const struct ctl *, enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* ---- transform.c: number rewriting ---- */
enum xf_kind { XF_REGEX, XF_STRIP, XF_PREFIX };
struct xform {
	enum xf_kind	 kind;
	regex_t		 re;		/* XF_REGEX */
	char		*replace;	/* XF_REGEX: \0..\9 back-references */
	int		 strip;		/* XF_STRIP: leading characters */
	char		*prefix;	/* XF_PREFIX */
};
struct xform_list {
	struct xform	*v;
	int		 n;
};
/* Both numbers a stage rewrites: called (request-URI/To), calling (From). */
struct xform_set {
	struct xform_list called, calling;
};
/* Apply in order; out is always NUL-terminated. 0, or -ENOSPC. */
int	 xform_apply(const struct xform_list *, const char *in, char *out,
	    size_t len);
/* Expand "\1" style references of one regex match. 0 or -ENOSPC. */
int	 xform_expand(const char *tmpl, const char *subject,
	    const regmatch_t *m, size_t nm, char *out, size_t len);
void	 xform_list_free(struct xform_list *);

/* ---- config.c ---- */
enum transport { TP_ANY = 0, TP_UDP, TP_TCP, TP_TLS };
enum cid_mode { CID_FROM, CID_PAI, CID_RPID };

struct source {			/* a trunk's address match */
	struct sockaddr_storage	 net;
	int			 plen;		/* prefix length */
	uint16_t		 port;		/* 0: any */
	enum transport		 transport;	/* TP_ANY: any */
};

struct trunk {
	char			 name[64];
	struct source		*sources;
	int			 nsources;
	char			 username[64];	/* digest account, "" none */
	char			 password[128];
	char			 ha1[33];
	char			 realm[64];
	int			 max_calls;	/* 0: no limit */
	double			 max_cps;	/* 0: no limit */
	struct xform_set	 xf;		/* on the way in */
	struct reg_conf		*reg;		/* register.c: NULL none */
	struct ident_conf	*ident;		/* identity.c: NULL none */
	/* identity.c: the trust model (issue 12) */
	bool			 trusted;	/* PAI/Privacy from its sources */
	char			 numbers[CTL_OWNED_MAX][32];	/* owned; "49301*" */
	int			 nnumbers;
	char			 default_cli[32];	/* for numbers not owned */
	char			 region[32];	/* emergency region (trunks) */
	int			 session_expires;	/* session_timer.c, */
	bool			 has_session_expires;	/* if set here */
	char			 relay_interface[32];	/* relayif.c: "" default */
};

/* attempt.c: an attempt's timers and early-media policy. Zeroed: none
 * set (gateways made for a call, such as a registered contact). */
enum { AT_INVITE = 1, AT_RING = 2, AT_EARLY = 4 };
struct attempt_conf {
	unsigned		 set;		/* AT_*: given in the config */
	double			 invite, ring;	/* seconds */
	bool			 failover_early;
};

struct gateway {
	char			 name[64];
	char			 host[128];
	uint16_t		 port;		/* 0: default for the scheme */
	enum transport		 transport;
	char			 scheme[8];	/* sip, sips */
	char			 proxy[192];	/* outbound proxy URI, "" none */
	char			 flow[112];	/* location.c: every request of the
						 * leg goes here (a REGISTER's
						 * flow, behind NAT), "" none */
	char			 username[64];	/* answers 401/407 */
	char			 password[128];
	enum cid_mode		 cid;
	char			 from_user[64];	/* "" keep the calling number */
	char			 from_host[128];/* "" our address */
	char			 from_display[64];
	char			 uri_params[96];/* appended to the request-URI */
	struct xform_set	 xf;		/* on the way out */
	struct probe_conf	*probe;		/* health.c: NULL not probed */
	bool			 trusted;	/* identity.c: gets private PAI */
	bool			 isup_pass;	/* multipart.c: SIP-I parts go on */
	int			 session_expires;	/* session_timer.c, */
	bool			 has_session_expires;	/* if set here */
	struct attempt_conf	 at;		/* invite_timeout */
	char			 relay_interface[32];	/* relayif.c: "" default */
};

struct carrier_gw {
	struct gateway		*gw;
	int			 priority;	/* lower first */
	int			 weight;	/* among equal priorities */
};
struct carrier {
	char			 name[64];
	struct carrier_gw	*gws;
	int			 ngws;
};

struct lcr_prefix {
	char			 prefix[32];
	struct carrier		**carriers;
	int			 ncarriers;
};
struct lcr_table {
	char			 name[64];
	struct lcr_prefix	*prefixes;
	int			 nprefixes;
};

struct route {
	char			 name[64];
	struct trunk		*trunk;		/* NULL: any */
	bool			 has_ruri, has_from;
	regex_t			 ruri, from;
	struct lcr_table	*lcr;		/* either a table ... */
	struct carrier		**carriers;	/* ... or carriers in order */
	int			 ncarriers;
	struct xform_set	 xf;
	struct attempt_conf	 at;	/* ring, failover_after_early */
};

struct relay_conf {
	char			 name[64];
	char			 socket[108];	/* Unix socket, or "" for TCP: */
	char			 address[80];	/* "host:port" (numeric) */
	struct sockaddr_storage	 tcp;
	char			 secret[256];	/* required over TCP */
	char			 interfaces[2][32];	/* "" relayd's default */
};

struct ctl_conf {
	int			 refs;		/* calls hold their config */
	char			 path[256];
	char			 listen[128];	/* host:port, UDP and TCP */
	char			 listen6[64];	/* listen.c: IPv6 address, same port */
	char			 tls_listen[128];
	char			 tls_listen6[64];	/* stack6.c: IPv6, tls_listen's port */
	char			 tls_cert_dir[256];
	char			 advertise[64];	/* listen.c: our public host[:port] */
	char			 tls_advertise[64];	/* ... of the TLS listener */
	char			 advertise6[64];	/* listen.c: "[v6]" or "[v6]:port" */
	/* tls.c: the trust model (issue 15) */
	bool			 tls_verify;	/* servers we connect to */
	int			 tls_verify_depth;
	bool			 tls_client_required;	/* clients need a cert */
	char			 tls_client_subjects[8][128];	/* "" any */
	int			 ntls_client_subjects;
	int			 udp_rmem;
	char			 user_agent[64];
	char			 socket_path[108];
	unsigned		 socket_mode;
	double			 control_idle_timeout;	/* control.c: to the
							 * first request */
	int			 control_max_pending;	/* control.c */
	double			 control_established_timeout;	/* after
						 * it, between requests; 0 never */
	char			 cdr_path[256];
	enum log_level		 log_level;
	bool			 unknown_drop;	/* silence instead of 403 */
	double			 invite_timeout;	/* no 18x or final */
	double			 ring_timeout;	/* 18x without answer; 0: none */
	bool			 failover_early;	/* after 18x heard */
	double			 max_duration;	/* 0: none */
	double			 relay_timeout;
	double			 relay_grace;	/* calls wait this for a relay */
	int			 failover_codes[32];
	int			 nfailover;
	struct relay_conf	 relays[CTL_MAX_RELAYS];
	int			 nrelays;
	struct trunk		*trunks;
	int			 ntrunks;
	struct gateway		*gateways;
	int			 ngateways;
	struct carrier		*carriers;
	int			 ncarriers;
	struct lcr_table	*tables;
	int			 ntables;
	struct route		*routes;
	int			 nroutes;
	struct protect_conf	*protect;	/* protect.c: NULL defaults */
	struct local_conf	*local;		/* registrar.c: accounts... */
	char			 refusal_path[256];	/* cdr.c: refusal CDRs */
	double			 refusal_rate, refusal_burst;	/* lines/s; 0 off */
	int			 session_expires;	/* session_timer.c; 0 off */
	int			 min_se;
	struct web_conf		*web;		/* web.c: NULL no listener */
	int			 forking;	/* fork.c: FORK_PARALLEL, FORK_SEQUENTIAL */
	struct source_index	*srcidx;	/* srcindex.c: NULL: scan */
};

/* 0, or -1 with "file:line: field: message" in err. root may be NULL
 * (unit tests): then digest accounts get no auth module. */
int	 config_load(const char *path, su_root_t *root, struct ctl_conf **out,
	    char *err, size_t errlen);
struct ctl_conf *config_ref(struct ctl_conf *);
void	 config_unref(struct ctl_conf *);
bool	 config_failover_code(const struct ctl_conf *, int status);

/* ---- identify.c ---- */
/* sa itself, or its IPv4 form in buf when it is v4-mapped (::ffff:a.b.c.d). */
const struct sockaddr *addr_unmap(const struct sockaddr *sa,
	    struct sockaddr_storage *buf);
int	 source_parse(const char *text, struct source *);
bool	 source_match(const struct source *, const struct sockaddr *,
	    enum transport);
/* The trunk whose sources match, or NULL. */
struct trunk *identify_by_source(const struct ctl_conf *,
	    const struct sockaddr *, enum transport);
/* srcindex.c: every trunk's sources in a hash per prefix length, built
 * by config_load() (conf->srcidx); the answer identify_by_source() gives,
 * without a scan of every source. any_transport: ignore the sources'
 * transport (protect.c). NULL when out of memory. */
struct source_index;
struct source_index *srcindex_build(struct trunk *, int ntrunks);
void	 srcindex_free(struct source_index *);
struct trunk *srcindex_lookup(const struct source_index *,
	    const struct sockaddr *, enum transport, bool any_transport);
/* The trunk with this digest username, or NULL. */
struct trunk *identify_by_account(const struct ctl_conf *, const char *user);
/* The transport a request arrived on (the socket's, never Via's word). */
enum transport identify_transport(msg_t *, const sip_t *);
/* unknown_source "drop": true if a new request from this source must get
 * no answer at all (no trunk source, no registration's provider). */
bool	 identify_silent(struct ctl *, msg_t *, const sip_t *);

/* ---- auth.c: digest logins (INVITE 407, REGISTER 401), issue 12 ---- */
struct auth;
/*
 * Check the request's digest answer for account t (NULL: the request
 * names no account we know: refused like a wrong password). 1
 * authenticated; 0 answered here (challenged or refused with 403).
 */
int	 auth_check(struct ctl *, nua_t *, nua_handle_t *,
	    const struct trunk *t, const sip_t *);
json_t	*auth_json(struct ctl *);
void	 auth_close(struct ctl *);

/* ---- limits.c: per-trunk concurrent calls and CPS, kept across reloads ---- */
struct limit_state {
	char		 trunk[64];
	int		 active;
	double		 tokens;
	double		 last;		/* monotonic seconds of the last refill */
	uint64_t	 rejected;
	struct limit_state *next;
};
/* 0 admitted (active counted), or seconds for Retry-After (>0). */
int	 limits_admit(struct ctl *, const struct trunk *, double now);
void	 limits_release(struct ctl *, const char *trunk);
struct limit_state *limits_get(struct ctl *, const char *trunk);
void	 limits_free(struct ctl *);

/* ---- route.c ---- */
struct candidate {
	struct gateway	*gw;
	const char	*carrier;
	const char	*user;	/* non-NULL: request-URI user as is (a URI
				 * destination: contact, ENUM, emergency) */
};
/*
 * The ordered candidates for a call: the first rule that matches, its
 * LCR table's longest prefix (carriers in order, each carrier's gateways
 * by priority then weighted random), or its carriers. rnd() returns
 * [0,1). Returns the count (0: no route); *route gets the rule.
 */
int	 route_lookup(const struct ctl_conf *, const struct trunk *,
	    const char *ruri, const char *from, const char *called,
	    double (*rnd)(void), struct candidate *out, int max,
	    const struct route **route);
const struct lcr_prefix *lcr_longest(const struct lcr_table *,
	    const char *number);

/* ---- sdp.c: offer/answer bodies <-> the relay's media, typed ---- */
/*
 * One m= line as the relay sees it (PROTOCOL.md, "media"): sdp.c fills
 * it from a body (and reads the relay's reply in this form), relay.c is
 * the only code that turns it into relay messages and back. Strings are
 * truncated to fit, never overflow; a field too long for the relay
 * (address, transport) makes sdp_to_media() refuse the body.
 */
/* A WebRTC leg's ICE candidate in a relay reply (PROTOCOL.md). */
struct media_cand {
	char		 address[64];	/* "": unusable (too long) */
	unsigned	 port;		/* 0: missing or out of range */
	uint32_t	 priority;	/* 0: missing or out of range */
	char		 foundation[33];
};
#define MEDIA_MAX_CANDS	4
struct media_line {
	char		 type[16];	/* audio, video, ..., other */
	char		 transport[32];	/* RTP/AVP, RTP/SAVP, udptl, ... */
	char		 address[64];	/* c= (the relay's, in a reply) */
	char		 direction[12];	/* sendrecv, sendonly, ... */
	unsigned	 rtp_port;	/* 0: rejected */
	unsigned	 rtcp_port;	/* 0: rtp_port + 1 (a request) */
	bool		 rtcp_mux;
	/*
	 * A WebRTC leg (issue 14; websdp.c fills and reads them, relay.c
	 * sends only the non-empty ones, so a SIP-only call never names
	 * them). Request: the browser's ICE and DTLS parameters, and the
	 * other leg's transport. Reply: the relay's, with its candidates.
	 */
	char		 ice_ufrag[257], ice_pwd[257];
	char		 fingerprint[104];	/* "sha-256 AA:..:FF" */
	char		 setup[8];		/* actpass, active, passive */
	char		 peer_transport[32];	/* request only */
	bool		 ice_lite;		/* reply only */
	int		 ncand;			/* reply only */
	struct media_cand cand[MEDIA_MAX_CANDS];
};
struct media_desc {
	int			 n;
	struct media_line	 line[PROTO_MAX_MEDIA];
};
/* The media of an SDP body for a relay offer/answer (malloc'd: free()
 * it, or hand it to relay_offer()/relay_answer()); NULL and a message in
 * err when the body is not usable SDP. */
struct media_desc *sdp_to_media(const char *body, size_t len, char *err,
	    size_t errlen);
/* Both say the same to the relay (both from sdp_to_media()). */
bool	 media_equal(const struct media_desc *, const struct media_desc *);
/*
 * The o= line we send on one leg: our own session id (drawn on first
 * use, so the two legs cannot be correlated) and a version that grows by
 * one whenever the body we send changes (RFC 3264 section 8). Zeroed:
 * nothing sent yet.
 */
struct sdp_origin {
	uint64_t	 session;
	uint64_t	 version;
	uint64_t	 digest;	/* of the last body sent, version aside */
	char		*body;		/* that body (malloc'd): our current
					 * SDP on the leg (reinvite.c answers
					 * offerless re-INVITEs with it) */
};
/* Free o->body (the rest stays: the leg's o= goes on). */
void	 sdp_origin_clear(struct sdp_origin *o);
/*
 * Rewrite a body with the relay's media (its reply) so that it names the
 * relay and nothing of the far side: every c= and the o= address, m=
 * ports, a=rtcp, o= from `o` (updated on success), s=-, without ICE and
 * other address-carrying attributes or contact lines. Returns a malloc'd
 * string or NULL (err says why).
 */
char	*sdp_rewrite(const char *body, size_t len,
	    const struct media_desc *media, struct sdp_origin *o, char *err,
	    size_t errlen);
/* An answer declining every stream of an offer (m= port 0, hold
 * addresses, a fresh o=): for an offer we must answer but not take
 * (fork.c, a late 2xx). malloc'd, or NULL and err. */
char	*sdp_decline(const char *body, size_t len, char *err, size_t errlen);

/* ---- relay.c: the relayd clients; the only file that builds or reads
 * relay messages ---- */
struct media_stats {
	uint64_t	 packets[2], bytes[2], lost[2];	/* [0] caller->, [1] callee-> */
	/* WebRTC legs (relayd's per-leg "webrtc" counters): what a leg
	 * refused from its browser. webrtc[d]: that side had such a leg. */
	bool		 webrtc[2];
	uint64_t	 srtp_auth_fail[2], dtls_fail[2], stun_bad[2];
};
/* A relay's answer to a call's request, as relay.c read it. */
struct relay_reply {
	bool		 answered;	/* false: no reply (the relay failed) */
	bool		 ok;		/* answered and done */
	const char	*error;		/* why not, when !ok */
	const struct media_desc *media;	/* offer/answer: the relay's ports
					 * (borrowed), for sdp_rewrite();
					 * NULL when !ok */
	bool		 has_stats;	/* delete: the session's final counters */
	struct media_stats ms;
};
/* Never called from inside relay_offer() and the others: from the loop,
 * once, always (also when the relay is down). */
typedef void relay_cb(struct ctl *, void *arg, const struct relay_reply *);
struct relay;
int	 relay_open_all(struct ctl *);
/* Disconnect (pending requests fail, their callbacks run now: the loop
 * has stopped), then free once no call needs them. */
void	 relay_close_all(struct ctl *);
void	 relay_free_all(struct ctl *);
/* The least loaded relay that answers (and took our secret), or NULL. */
struct relay *relay_pick(struct ctl *);
const char *relay_name(const struct relay *);
/* The session a call's request is for: our key, not the caller's
 * Call-ID (which another caller may reuse). relay_key_new() fills
 * k->relay_key once, in call_new(). */
void	 relay_key_new(struct ctl *, struct call *);
/*
 * A call's requests to k->relay (set, and up or not: a down relay fails
 * the request through cb). media is stolen. Each counts in k->pending
 * until cb runs (relay.c decrements it just before). offer: the caller's
 * media (the first one also carries the label and interfaces and is kept
 * for relay_offer_retry() on another relay); answer: the callee's, with
 * k->to_tag.
 */
void	 relay_offer(struct call *, struct media_desc *media, relay_cb *,
	    void *arg);
void	 relay_offer_retry(struct call *, relay_cb *, void *arg);
void	 relay_answer(struct call *, struct media_desc *media, relay_cb *,
	    void *arg);
/* The same for a provisional answer (early media): still ringing. */
void	 relay_answer_early(struct call *, struct media_desc *media,
	    relay_cb *, void *arg);
/* A late offer: the callee's offer makes the session (`sender`
 * "callee"), the caller's answer follows (`sender` "caller"). */
void	 relay_offer_callee(struct call *, struct media_desc *media,
	    relay_cb *, void *arg);
void	 relay_answer_caller(struct call *, struct media_desc *media,
	    relay_cb *,
	    void *arg);
void	 relay_delete(struct call *, relay_cb *, void *arg);
json_t	*relays_to_json(struct ctl *);

/* ---- relayif.c: the relay interface of each leg (issue 15) ---- */
int	 relayif_parse(struct proto_cfg *, json_t *o, const char *path,
	    const struct ctl_conf *, char *out, size_t len);
/* [caller side, callee side] for an offer that makes the session, or
 * NULL: relayd's default. */
json_t	*relayif_names(const struct call *, const struct relay_conf *);

/* ---- call.c: the call object, its two legs, its end and CDR ---- */
enum hangup_by { BY_NONE, BY_CALLER, BY_CALLEE, BY_CONTROLLER, BY_RELAY };
struct leg {
	struct call	*call;
	nua_handle_t	*nh;
	int		 side;		/* 0 A (caller), 1 B (callee), LEG_FORK
					 * a fork (fork.c) */
	struct sdp_origin sdp;		/* o= we send on this leg */
	bool		 answered;
	struct webleg	*web;		/* webcall.c: a browser leg (no nh) */
};

enum call_state { CS_INIT, CS_OFFERING, CS_CALLING, CS_EARLY, CS_CONNECTED,
	CS_ENDING, CS_DONE };

/*
 * Who owns a call: the daemon context's list (c->calls) holds it from
 * call_new() until call_free(). It stays alive while either leg's nua
 * handle exists (a.nh, b.nh; a handle's magic points at its leg) or a
 * relay request is in flight (pending, counted by relay.c). Nobody frees
 * it directly: whoever drops a handle (call_drop_leg) or gets a relay
 * callback calls call_check(), the only caller of call_finish() (limit
 * released, relay delete sent) and, once that delete is back too, of
 * call_done() (the CDR, then call_free()). Relay callbacks never run
 * inside the code that issued the request, so k stays valid in it after
 * relay_offer() and the others; timers (invite, duration, divert) are
 * destroyed in call_free(). After call_check(), k must not be used.
 *
 * Who writes what (issue 13, "one owner"):
 * - call.c alone changes the state that ends or connects a call
 *   (call_connected(), call_ending(), call_fail(); CS_DONE in
 *   call_finish()), records who hung up and why (call_hungup(): the
 *   first hangup while the call is up wins; call_fail() notes a reason
 *   without a party), the final code (call_final(): the first wins, a
 *   connect sets it) and writes the CDR (call_done(): from call_check(),
 *   and at exit from call_end_all(); nowhere else).
 * - The progress states are set by the file driving them: CS_OFFERING
 *   invite.c, CS_CALLING and CS_EARLY gateway.c.
 * - relay.c alone builds and reads relay messages and counts `pending`;
 *   relay_session is set by the offer's and delete's callbacks.
 * - Leg handles (a.nh, b.nh) are created by invite.c (A) and gateway.c
 *   (B) and dropped only through call_drop_leg().
 * - fork.c owns the fork set (k->fork, parallel forking): its legs
 *   (side LEG_FORK) and their handles, each alive until its INVITE has
 *   a final answer and, for a late 2xx, its BYE is done (or the guard
 *   timer drops it); call_check() waits for them too (fork_live()). The
 *   fork whose 2xx comes first is promoted into k->b (its handle rebound
 *   to &k->b) and from then on is B like any gateway leg. fork.c ends or
 *   connects the call only through call.c (call_fail(); the winner's 2xx
 *   through b_response()), writes attempt codes only through
 *   call_attempt_code_at(), and sets CS_CALLING/CS_EARLY for the set.
 *   Its events come from b2bua.c (fork_event()) before any B handling;
 *   the answers to its CANCELs, ACKs and BYEs come from the loop, never
 *   inside the code that sent them.
 */
struct call {
	su_home_t		 home[1];	/* first: su_home_new() */
	struct ctl		*ctl;
	struct ctl_conf		*conf;		/* reference */
	int			 pending;	/* relay requests in flight (relay.c) */
	bool			 finished, b_acked, auth_tried;
	int			 reinv;		/* re-INVITE in progress from: 1 A, 2 B */
	bool			 reinv_update;	/* ... an UPDATE, answered with: */
	nua_saved_event_t	 reinv_saved[1];
	char			*reinv_sdp;	/* its offer (then the answer) */
	struct leg		*reinv_ack;	/* leg whose 2xx awaits our ACK */
	char			 to_tag[128];	/* B's tag, for the relay */
	enum call_state		 state;
	struct leg		 a, b;
	bool			 a_gone, b_gone, limit_held;
	char			 call_id[256];
	char			 from_tag[128];
	uint32_t		 a_cseq;	/* sipfilter.c: A's INVITE CSeq */
	char			 relay_key[48];	/* relay.c: our session id */
	unsigned		 max_forwards;	/* for B: A's minus one */
	char			 b_call_id[256];
	struct trunk		*trunk;
	const struct route	*route;
	char			 called_in[CTL_NUM_MAX], calling_in[CTL_NUM_MAX];
	char			 called[CTL_NUM_MAX], calling[CTL_NUM_MAX];
	char			 called_out[CTL_NUM_MAX], calling_out[CTL_NUM_MAX];
	char			 src[64];
	struct candidate	 cand[CTL_MAX_CANDIDATES];
	int			 ncand, attempt;
	json_t			*attempts;	/* [{gateway, code}] */
	char			*offer;		/* A's SDP as received */
	char			*b_offer;	/* the rewritten one for B */
	struct relay		*relay;
	int			 relay_tries;
	json_t			*offer_req;	/* the relay offer, for a retry */
	bool			 relay_session;
	su_timer_t		*invite_timer, *duration_timer;
	double			 setup_t, connect_t, end_t;	/* epoch */
	int			 final_code;
	enum hangup_by		 hangup_by;
	char			 reason[128];
	struct media_stats	 ms;
	bool			 ms_set;
	char			 display[64];	/* identity.c: From display */
	int			 refused_bye;	/* b2bua.c: BYEs not from the peer */
	struct call		*prev, *next;
	/* registrar.c/divert.c: local accounts */
	const struct account	*callee;	/* a local account called */
	char			 diverted_by[64];	/* account charged */
	char			 diversion[320];	/* header for B */
	su_timer_t		*divert_timer;	/* no-answer diversion */
	bool			 emergency;
	char			*rq_uri, *from_uri;	/* for the rules */
	/* identity.c: presented (From) and asserted identity (issue 12) */
	bool			 from_source;	/* identified by a trunk source */
	bool			 asserted_own;	/* asserted is not From's number */
	bool			 privacy;	/* the caller asked to hide */
	const char		*screening;	/* owned, replaced, trusted, ... */
	char			 pai_in[CTL_NUM_MAX];	/* PAI user as received */
	char			 asserted[CTL_NUM_MAX], asserted_out[CTL_NUM_MAX];
	bool			 b_web;	/* webcall.c: the relay's B leg is WebRTC */
	/* lateoffer.c: an INVITE without SDP; the gateway offers (issue 13) */
	bool			 late_offer;
	int			 late_state;	/* lateoffer.c's LO_* */
	char			*late_sdp;	/* in k->home: B's offer, A's answer */
	bool			 a_100rel;	/* the caller takes reliable 18x */
	bool			 a_100rel_req;	/* ... and requires them */
	bool			 late_early;	/* the offer came in a reliable 18x */
	uint32_t		 late_rseq, late_cseq;	/* its RAck, for B's PRACK */
	/* reinvite.c: in-dialog offer/answer (issue 13) */
	char			*peer_sdp[2];	/* the SDP A / B sent last */
	struct leg		*offerless;	/* our offer in a 2xx to an
						 * offerless re-INVITE awaits
						 * the ACK's answer */
	char			*reinv_prev;	/* our SDP on the re-offer's
						 * target before it (rollback) */
	uint64_t		 reinv_prev_digest;
	/* A reliable 18x with our answer awaits the caller's PRACK; an
	 * early UPDATE for the caller waits for it (RFC 3311 5.1). */
	bool			 a_prack_wait;
	char			*reinv_held;	/* that UPDATE's SDP */
	struct session_timer	*st;		/* session_timer.c (k->home) */
	struct info_state	*info;		/* info.c (k->home) */
	struct multipart	*mp;		/* multipart.c: A's other parts */
	char			*b_body;	/* multipart.c: B's multipart */
	/* attempt.c: the current gateway attempt's clock */
	int			 attempt_phase;	/* enum attempt_phase */
	/* gateway.c: early media */
	bool			 early_media;	/* the caller heard a 18x SDP */
	char			*b_early;	/* this attempt's 18x SDP */
	uint64_t		 tls_seq;	/* tls.c: at the attempt's start */
	int			 att_entry;	/* 1 + index of B's attempt in
						 * attempts; 0: the last one */
	struct forkset		*fork;		/* fork.c: NULL never forked */
	char			*fork_offer;	/* webcall.c: the phones' plain
						 * offer while a browser rings
						 * along (NULL: k->b_offer) */
	/* listen.c: with sip.listen6, our Contact on each leg (the far
	 * side's family), "" nua's own */
	char			 a_contact[96], b_contact[96];
};

struct call	*call_new(struct ctl *, nua_handle_t *, const sip_t *);
struct call	*call_alloc(struct ctl *, const char *call_id,
	    const char *from_tag);
void	 call_free(struct call *);
/* Finish and free the call once no handle and no request is left. */
void	 call_check(struct call *);
/* Exit: every call left ends (by the controller, "shutdown"), CDR, free. */
void	 call_end_all(struct ctl *);
void	 call_drop_leg(struct leg *);
/* Who ended the call and why (the first while the call is up wins). */
void	 call_hungup(struct call *, enum hangup_by, const char *reason);
void	 call_ending(struct call *);
void	 call_final(struct call *, int status);
/* B's final answer went to the caller: connected, final code status. */
void	 call_connected(struct call *, int status);
/* Answer the caller's INVITE with an error (only before it was answered). */
void	 call_fail(struct call *, int status, const char *reason);
/* The code of the current attempt in the CDR's attempts list (B's
 * entry, k->att_entry), or of entry i (fork.c: one fork's). */
void	 call_attempt_code(struct call *, int code);
void	 call_attempt_code_at(struct call *, size_t i, int code);
json_t	*calls_to_json(struct ctl *);

/* ---- invite.c: a new INVITE up to the relay's rewritten offer ---- */
void	 new_invite(struct ctl *, nua_t *, nua_handle_t *, const sip_t *);

/* ---- gateway.c: the gateway leg: attempts, failover, B's answer ---- */
/* Try the call's candidates from k->attempt on (B's offer is ready). */
void	 gateway_start(struct call *);
/* The INVITE to candidate i on leg l (k->b or a fork), its CDR attempt
 * entry appended (its index in *entry). 0, or -ENOSPC / -ENOMEM. */
int	 gateway_invite(struct call *, struct leg *l, int i, size_t *entry);
/* B's 18x/2xx SDP through the relay (k->to_tag: sip's To tag), then to
 * the caller with status. */
void	 gateway_answer_sdp(struct call *, int status, const sip_t *sip);
void	 b_response(struct ctl *, struct leg *, int status, const sip_t *);
/* B's answer media (stolen) and body to the relay, then A hears status
 * (webcall.c: a browser B). */
void	 b2bua_answer(struct call *, int status, struct media_desc *media,
	    const char *body);
void	 on_invite_timeout(struct ctl *, su_timer_t *, void *arg);
/* The caller is answered with status: connected (time, max duration). */
void	 gateway_connected(struct call *, int status);

/* ---- lateoffer.c: an INVITE without SDP (delayed offer) ---- */
/* The call is routed: pick its relay and call the gateway without SDP. */
void	 lateoffer_start(struct call *);
/* B's (or a fork's) handle was made: its reliable 18x are PRACKed by
 * lateoffer.c. */
void	 lateoffer_b_leg(struct leg *);
/* B's 18x: true if handled here (a reliable one with the offer). */
bool	 lateoffer_b_early(struct call *, int status, const sip_t *);
/* B's 2xx: with the offer (through the relay to the caller's 2xx), or
 * after the offer/answer in a reliable 18x and PRACK. */
void	 lateoffer_b_answer(struct call *, int status, const sip_t *);
/* The caller's ACK: true if it carries (or lacks) the late offer's
 * answer and was handled here (B is ACKed with it, or the call ends). */
bool	 lateoffer_ack(struct call *, const sip_t *);
/* The caller's PRACK (the stack answered it): the answer to an offer
 * in a reliable 18x goes to B in B's PRACK. */
void	 lateoffer_prack(struct call *, const sip_t *);
/* fork.c, a late offer forked: a fork's reliable 18x is PRACKed at once
 * without SDP (its offer is not passed on); a fork's 2xx that lost is
 * ACKed with an answer declining its offer's streams. */
void	 lateoffer_fork_early(struct leg *, const sip_t *);
void	 lateoffer_ack_declined(struct call *, struct leg *, const sip_t *);

/* ---- fork.c: parallel forking to an account's contacts (issue 15) ---- */
enum { FORK_DEFAULT, FORK_PARALLEL, FORK_SEQUENTIAL };
#define LEG_FORK	2	/* struct leg side: a fork, not B (yet) */
struct forkset;
/* "forking": "parallel" | "sequential" of o (top level or an account)
 * into *mode (unchanged when absent). 0 or -1. */
int	 fork_parse(struct proto_cfg *, json_t *o, const char *path,
	    int *mode);
/* gateway_start(): the candidates from k->attempt on are two or more
 * SIP contacts of an account whose forking is parallel (the call has
 * an offer, or is a late offer: each contact gets an INVITE without SDP
 * and the first 2xx's offer is the one the caller gets). */
bool	 fork_wanted(const struct call *);
/* Ring them all: one leg each; attempt.c's clock runs for the set. With
 * a browser ringing in k->b (webcall.c), the contacts after it ring
 * along with it (their offer k->fork_offer) on the browser's clock. */
void	 fork_start(struct call *);
/* webcall_ring(): the browser at k->attempt is followed by SIP contacts
 * of a parallel-forking account (and the call has an offer): they ring
 * along with it. */
bool	 fork_with_web(const struct call *);
/* webcall.c, a browser ringing along with the contacts: it answered
 * (the contacts are cancelled, completed elsewhere), or it failed with
 * code (true: the set goes on without it, or the call ends with the
 * set's best answer; false: no set rings, b_response() as before). */
void	 fork_web_answered(struct call *);
bool	 fork_web_failed(struct call *, int code);
/* b2bua.c, for a leg of side LEG_FORK: true if handled; false when the
 * fork won with this 2xx: *l is now &k->b, to be handled as B's 2xx. */
bool	 fork_event(struct ctl *, nua_event_t, int status, struct leg **l,
	    const sip_t *, tagi_t tags[]);
/* on_invite_timeout(): true if the timer was the fork set's (its
 * invite or ring timeout). */
bool	 fork_timeout(struct call *);
/* Cancel every fork still ringing (reason: a Reason header or NULL);
 * a late answer gets ACK and BYE. The guard drops those that never
 * answer the CANCEL. */
void	 fork_cancel_all(struct call *, const char *reason);
/* A fork's handle is still alive (call_check() waits for it). */
bool	 fork_live(const struct call *);
/* cdr.c: "contact" (who answered) and "forks" (how many rang at once). */
void	 fork_cdr(const struct call *, json_t *cdr);
void	 fork_free(struct call *);

/* ---- attempt.c: the timers of one gateway attempt, its settings ---- */
enum attempt_phase { AP_NONE, AP_WAITING, AP_RINGING, AP_DONE };
/* invite_timeout, ring_timeout, failover_after_early of a gateway or
 * route object (absent keys stay unset). 0 or -1. */
int	 attempt_parse(struct proto_cfg *, json_t *o, const char *path,
	    struct attempt_conf *);
double	 attempt_invite_timeout(const struct call *);
double	 attempt_ring_timeout(const struct call *);
bool	 attempt_failover_early(const struct call *);
/* The INVITE to the current candidate went out: the clock starts. */
void	 attempt_start(struct call *);
/* A response to it while the call is up: the clock moves on. */
void	 attempt_progress(struct call *, int status);
const char *attempt_phase_name(int phase);

/* ---- reinvite.c: re-INVITE/UPDATE re-offers through the relay ---- */
void	 reinvite_in(struct ctl *, nua_t *, struct leg *, const sip_t *,
	    bool update);
void	 reinvite_response(struct ctl *, struct leg *, int status,
	    const sip_t *);
struct leg	*reinv_to(struct call *);
/* A call ends during a re-offer: answer the re-offerer with status. */
void	 reinvite_abort(struct call *, int status);
/* An ACK on l: true if it ended an exchange of ours (an offerless
 * re-INVITE: its answer goes to the relay if the media changed). */
bool	 reinvite_ack(struct ctl *, struct leg *, const sip_t *);
/* The SDP a peer sent (an answer or an offer the other side took). */
void	 reinvite_peer_sdp(struct leg *, const sip_t *);
/* A peer's SDP in an answer to an offer of ours that changed nothing
 * (its refresh): to the relay if it moves that peer's media. */
void	 reinvite_media_in(struct leg *, const sip_t *);
/* call_free(): what reinvite.c keeps per call. */
void	 reinvite_free(struct call *);
/* An 18x with our SDP went to the caller: if reliable, an early UPDATE
 * for the caller waits until reinvite_a_pracked() (its PRACK was
 * answered) or the call's answer. */
void	 reinvite_a_early(struct call *, int status);
void	 reinvite_a_pracked(struct call *);

/* ---- session_timer.c: RFC 4028 session timers, per leg ---- */
struct session_timer;
/* Top-level session_expires and min_se; a trunk's or gateway's own
 * session_expires (after the top-level keys). */
int	 session_timer_parse(struct proto_cfg *, json_t *root,
	    struct ctl_conf *);
int	 session_timer_parse_override(struct proto_cfg *, json_t *o,
	    const char *path, const struct ctl_conf *, int *out, bool *set);
/* A new INVITE: 0, or 422 (answered here: below our Min-SE). */
int	 session_timer_refuse(struct ctl *, nua_handle_t *, const sip_t *);
/* The caller's INVITE (leg A's interval and refresher). */
void	 session_timer_caller(struct call *, const sip_t *);
/* Headers for the caller's 2xx (NULL none); A's timer starts. */
const char *session_timer_answer(struct call *);
/* Headers for our INVITE to a gateway (NULL none). */
const char *session_timer_offer(struct call *);
/* The gateway's 2xx: leg B's interval and refresher; its timer starts. */
void	 session_timer_callee(struct leg *, const sip_t *);
/* A re-INVITE/UPDATE from l's peer we answer 2xx: a refresh. Headers
 * for that 2xx (NULL none). */
const char *session_timer_refreshed(struct leg *, const sip_t *req);
/* Headers for a re-INVITE/UPDATE we send on l (NULL none), and its 2xx. */
const char *session_timer_request(struct leg *);
void	 session_timer_request_ok(struct leg *, const sip_t *resp);
/* A response to our own refresh on l: true if it was one (handled). */
bool	 session_timer_response(struct ctl *, struct leg *, nua_event_t,
	    int status, const sip_t *);
/* Our refresh is out on l (NULL: on either leg): a re-offer gets 491. */
bool	 session_timer_busy(const struct call *, const struct leg *l);
void	 session_timer_free(struct call *);

/* ---- multipart.c: multipart bodies (SIP-I: SDP + ISUP) ---- */
struct multipart;
/* A gateway's "isup": "pass" | "strip" (default). */
int	 multipart_parse_gateway(struct proto_cfg *, json_t *o,
	    const char *path, struct gateway *);
/* The caller's INVITE: 0 not multipart (the body is the offer), or 1:
 * k->offer is its SDP part (NULL: none) and k->mp keeps the rest. */
int	 multipart_offer(struct call *, const sip_t *);
/* The SDP in a message, multipart or not: 0 plain (the whole body), 1
 * its SDP part, -EINVAL multipart without one (*len 0). */
int	 multipart_sdp(const sip_t *, const char **body, size_t *len);
/* B's INVITE body around sdp when the caller's was multipart and gw
 * passes ISUP (malloc'd, its Content-Type in ctype), else NULL. */
char	*multipart_body(const struct call *, const struct gateway *,
	    const char *sdp, char *ctype, size_t ctlen);
void	 multipart_free(struct multipart *);

/* ---- info.c: INFO passed to the other leg, its answer back ---- */
struct info_state;
void	 info_in(struct ctl *, nua_t *, struct leg *, const sip_t *);
/* nua_r_info on l: the far side answered an INFO we passed on. */
void	 info_response(struct ctl *, struct leg *, int status, const sip_t *);
void	 info_free(struct call *);

/* ---- hangup.c: BYE/CANCEL, controller and relay hangups ---- */
void	 leg_terminated(struct ctl *, struct leg *);
/* Hang up both legs with a Reason header. 0, or -ENOENT. */
int	 b2bua_hangup(struct ctl *, const char *call_id, enum hangup_by,
	    const char *reason);
/* A relay told us it ended the session with our key (media timeout...):
 * why its reason, ms its final counters. */
void	 b2bua_relay_timeout(struct ctl *, const char *key, const char *why,
	    const struct media_stats *ms);
/* The call's relay failed (down, stalled, refused): 503 to a caller not
 * answered yet, else BYE to both legs with a Reason; re-offer cleared.
 * 0, or -EALREADY (ending already). Never frees k. */
int	 b2bua_relay_lost(struct call *, const char *reason);

/* ---- indialog.c: an in-dialog request is from the dialog's peer ---- */
/* 0, or -EPERM with the reason in why: no To tag (someone reusing the
 * call's Call-ID and From tag), or on the caller's leg of a call
 * identified by source, a source outside the call's trunk. */
int	 indialog_check(const struct leg *, msg_t *, const sip_t *,
	    char *why, size_t len);
/* Refused BYEs stay pending in the stack while the call lasts (any answer
 * ends the session): past this many, the call is hung up, to bound the
 * memory one call can hold. */
#define CTL_REFUSED_BYE_MAX	32

/* ---- b2bua.c: the nua, its event dispatch, dropped requests ---- */
int	 b2bua_open(struct ctl *);
void	 b2bua_close(struct ctl *);
/* Hold a request unanswered until the caller gives up (drop mode). */
void	 drop_request(struct ctl *, nua_handle_t *);

/* ---- cdr.c ---- */
json_t	*cdr_build(const struct call *);
int	 cdr_write(struct ctl *, const struct call *);
/* The top-level key "refusals" (file, rate, burst). */
int	 refusal_parse(struct proto_cfg *, json_t *o, struct ctl_conf *);
/*
 * One line for an INVITE refused at the door (before any call exists):
 * sa its source, t the trunk if known, code the status (0: dropped
 * unanswered). Lines are rate-limited; the suppressed ones are counted.
 */
void	 cdr_refusal(struct ctl *, const sip_t *, const struct sockaddr *sa,
	    const struct trunk *t, int code, const char *reason);
json_t	*refusals_json(struct ctl *);
/* Close the file (reload: rotation) and, with all, the timer too. */
void	 refusal_close(struct ctl *, bool all);

/* ---- registrar.c, location.c, emergency.c, divert.c, enum.c:
 * local accounts (REGISTER, location, aliases, quick dial, diversion),
 * emergency numbers, ENUM ---- */
struct divert_conf {
	char		 unconditional[64], busy[64], no_answer[64];
	double		 no_answer_timeout;	/* seconds */
};
struct account {
	struct trunk	 trunk;		/* name and digest: calls from it */
	char		 (*aliases)[64];
	int		 naliases;
	char		 quick_dial[32];	/* prefix completion */
	char		 region[32];		/* emergency region */
	struct divert_conf divert;
	int		 forking;	/* fork.c: FORK_*, FORK_DEFAULT the global */
};
struct em_region {
	char		 name[32];
	char		 uri[256];	/* destination */
};
struct local_conf {
	struct account	*accounts;
	int		 naccounts;
	int		 min_expires, max_expires, default_expires;
	char		 em_numbers[16][16];
	int		 nem_numbers;
	struct em_region *regions;
	int		 nregions;
	char		 enum_suffix[128];	/* "" no ENUM */
	char		 enum_resolv[256];	/* resolv.conf for sres */
	double		 enum_timeout;
	char		 (*enum_domains)[128];	/* targets.c: direct targets */
	int		 nenum_domains;
	bool		 enum_gateways;	/* a result on a gateway uses it */
	struct source	*contact_nets;	/* targets.c: NULL any */
	int		 ncontact_nets;
	double		 nat_keepalive;	/* natping.c: seconds, 0 off */
};
/* A registration's flow: calls go back where the REGISTER came from. */
struct flow {
	struct sockaddr_storage	 addr;
	enum transport		 transport;	/* TP_UDP, TP_TCP, TP_TLS */
};
struct location {
	char		 account[64];
	char		 contact[256];	/* URI */
	char		 call_id[128];
	char		 source[64];
	struct flow	 flow;
	double		 expires;	/* monotonic */
	double		 ping_at;	/* natping.c: next keepalive (0: none) */
	bool		 natted;	/* contact host is not the source's */
	struct location	*next;
};
struct call;
/* The top-level keys "accounts", "registrar", "emergency", "enum". */
int	 local_conf_parse(struct proto_cfg *, json_t *root, struct ctl_conf *,
	    su_root_t *);
void	 local_conf_free(struct local_conf *);
struct trunk *local_identify(const struct ctl_conf *, const char *user);
struct trunk *local_first(const struct ctl_conf *);
struct account *local_account(const struct ctl_conf *, const struct trunk *);
struct account *local_find(const struct ctl_conf *, const char *name);
/* nua_i_register: answered here. */
void	 registrar_request(struct ctl *, nua_t *, nua_handle_t *,
	    const sip_t *);
/* Before limits: 0 go on (*bypass for emergency), or a status to refuse. */
int	 local_admit(struct ctl *, const struct trunk *, const char *called,
	    bool *bypass);
/* The routing step before route_lookup: >0 candidates in k->cand, 0 go
 * on with the rules, <0 -status to fail the call with. */
int	 local_route(struct call *);
int	 location_update(struct ctl *, const char *account, const char *contact,
	    const char *call_id, const struct flow *, int expires);
int	 location_remove_all(struct ctl *, const char *account);
int	 location_lookup(struct ctl *, const char *account,
	    struct location **out, int max);
void	 location_expire(struct ctl *);
int	 location_open(struct ctl *);
void	 location_close(struct ctl *);
json_t	*locations_to_json(struct ctl *);
/* A URI destination as a candidate (a gateway in k's home). */
int	 local_uri_candidate(struct call *, const char *uri, const char *name,
	    struct candidate *);
/* location.c: a registration as a candidate: its flow, its contact's user. */
int	 location_candidate(struct call *, const struct location *,
	    const char *name, struct candidate *);
int	 flow_format(const struct flow *, char *buf, size_t len);
const char *emergency_region_uri(const struct ctl_conf *, const char *region);
bool	 emergency_number(const struct ctl_conf *, const char *number);
/* divert.c */
int	 divert_unconditional(struct call *);
int	 divert_unavailable(struct call *);
/* On B's final status or a no-answer timeout: 1 diverted, 0 not. */
int	 divert_on_status(struct call *, int status);
void	 divert_arm(struct call *);
void	 divert_cancel(struct call *);
/* from NULL: a trunk (its region). */
int	 emergency_route(struct call *, const struct account *from);
/* config.c, after "emergency": every trunk's region exists. */
int	 emergency_check_regions(struct proto_cfg *, struct ctl_conf *);
int	 local_target(struct call *, const char *number);
int	 enum_route(struct call *);
int	 enum_open(struct ctl *);
void	 enum_close(struct ctl *);
json_t	*accounts_to_json(struct ctl *);
/* config.c: a digest account's fields into t (and its auth module). */
int	 parse_digest(struct proto_cfg *, json_t *, const char *,
	    struct trunk *, su_root_t *);
/* gateway.c: new candidates for a call not answered yet (n > 0), or fail
 * it with -n; B is cancelled first. */
void	 b2bua_retarget(struct call *, int n);
/* What the stack says it supports (b2bua_open()); a request that carries
 * its own Supported (session_timer.c) repeats it. */
#define CTL_SUPPORTED		"100rel"
#define CTL_ROUTE_PENDING	(-1)	/* local_route: ENUM lookup running */
void	 b2bua_routed(struct call *, int n);

/* ---- targets.c: where calls may go (issue 12): registered contacts,
 * ENUM results and loops back to us ---- */
/* Is host (a URI host: name, IPv4, [IPv6]) one of our own addresses? */
bool	 target_is_self(struct ctl *, const char *host);
/* The configured gateway (host or outbound proxy) at host, or NULL. */
const struct gateway *target_gateway(const struct ctl_conf *,
	    const char *host);
/* A REGISTER's contact and source flow: 0 allowed, or -EPERM with the
 * reason in why. */
int	 target_check_contact(struct ctl *, const url_t *contact,
	    const struct flow *src, char *why, size_t len);
/* An ENUM result: 0 call it directly, 1 it names *gw (use that gateway
 * when enum.gateways allows), or -EPERM (why says). */
int	 target_check_enum(struct ctl *, const url_t *u,
	    const struct gateway **gw, char *why, size_t len);
/* A new INVITE: 0, or 483 (Max-Forwards 0) / 482 (our Via in it). */
int	 loop_check(struct ctl *, const sip_t *, char *why, size_t len);
int	 targets_parse_networks(struct proto_cfg *, json_t *arr,
	    const char *path, struct source **out, int *n);
int	 targets_parse_domains(struct proto_cfg *, json_t *arr,
	    const char *path, char (**out)[128], int *n);

/* ---- natping.c: keepalives to registered phones behind NAT ---- */
/* A binding was stored or refreshed: is it NAT'd, when is its ping. */
void	 natping_binding(struct ctl *, struct location *);
/* Every second (location.c's tick): send the keepalives that are due,
 * let go of the old ones. */
void	 natping_tick(struct ctl *);
void	 natping_close(struct ctl *);

/* ---- listen.c: the listeners' bind URIs and advertised addresses ---- */
/* url, sips (or ""): nua's NUTAG_URL/NUTAG_SIPS_URL; host: ours in From. */
void	 listen_urls(const struct ctl_conf *, char *url, size_t ulen,
	    char *sips, size_t slen, char *host, size_t hlen);
int	 listen_check(struct proto_cfg *, const char *key, const char *value);
/* sip.listen6 (after sip.listen): checked, and stored without brackets. */
int	 listen6_check(struct proto_cfg *, struct ctl_conf *);
/* "sip:[listen6]:port" for the stack; -ENOENT without sip.listen6. */
int	 listen_url6(const struct ctl_conf *, char *out, size_t len);
/* "sips:[tls_listen6]:port" (advertise6 as for advertise), or "". */
void	 listen_sips6(const struct ctl_conf *, char *out, size_t len);
/* AF_INET6, AF_INET or AF_UNSPEC (a name): the host of a URI or host. */
int	 listen_family(const char *uri);
/* With two listeners (sip.listen6): our Contact ("<sip:host:port>") and
 * our host for a leg whose far side is of that family. -ENOENT: one
 * listener, TLS, or a family unknown: nua's own is right. */
int	 listen_contact(const struct ctl_conf *, int family, enum transport,
	    char *out, size_t len);
int	 listen_host(const struct ctl_conf *, int family, char *out,
	    size_t len);

/* ---- stack6.c: one nua per address family (issue 15) ---- */
/* The stack that sends to a peer of that family (a name: IPv4's). */
nua_t	*stack_for(struct ctl *, int family);
nua_t	*stack_for_uri(struct ctl *, const char *uri);
int	 stack6_check(struct proto_cfg *, struct ctl_conf *);
/* nua_shutdown() of every stack; stack_down(): one finished, the last? */
void	 stack_shutdown(struct ctl *);
bool	 stack_down(struct ctl *);

/* ---- tls.c: TLS peer verification (issue 15) ---- */
/* The sip keys tls_verify, tls_verify_depth, tls_client_cert,
 * tls_client_subjects (after tls_cert_dir). */
int	 tls_parse(struct proto_cfg *, json_t *sip, struct ctl_conf *);
bool	 tls_has_anchors(const char *dir);
/* The tport tags for nua_create() (TAG_NEXT of b2bua_open's list). */
tagi_t	*tls_tags(struct ctl *);
/* Sofia's tport log into ours; verification failures remembered. */
void	 tls_log_open(struct ctl *);
void	 tls_log_close(struct ctl *);
/* A gateway attempt starts; when it fails (call_attempt_code()), a TLS
 * verification failure since is logged and put in the attempt's CDR
 * entry as its "reason". */
void	 tls_attempt_start(struct call *);
void	 tls_attempt_note(struct call *, json_t *attempt, int code);

/* ---- control.c ---- */
int	 control_open(struct ctl *);
void	 control_close(struct ctl *);
/* The socket's connections and what its limits refused (status). */
json_t	*control_json(struct ctl *);

/* ---- shutdown.c: SIGTERM to exit, bounded ---- */
/* Registrations in place are removed (un-REGISTER, a short deadline),
 * REGISTERs in flight dropped, then nua_shutdown() with a deadline of
 * its own. */
void	 shutdown_start(struct ctl *);
/* register.c: an un-REGISTER was answered. */
void	 shutdown_continue(struct ctl *);
/* register.c: start (force: drop) the un-REGISTERs; how many are in
 * flight. */
int	 register_shutdown(struct ctl *, bool force);

/* ---- main.c ---- */
int	 ctl_reload(struct ctl *, char *err, size_t errlen);

/* ---- clock.c: seconds, monotonic (timers, rates) and wall (CDRs) ---- */
double	 mono_now(void);
double	 wall_now(void);

struct ctl_stats {
	uint64_t	 calls_total, calls_connected, calls_failed;
	uint64_t	 rejected_unknown, rejected_auth, rejected_limits;
	uint64_t	 reloads, reload_errors;
	/* the trust model (issue 12): status "trust" */
	uint64_t	 contacts_refused;	/* registrar.c: REGISTER 403 */
	uint64_t	 enum_refused;		/* enum.c: result not allowed */
	uint64_t	 loops_refused;		/* targets.c: 482/483 */
	uint64_t	 pai_ignored;		/* identity.c: untrusted PAI */
	uint64_t	 cli_replaced;		/* identity.c: number not owned */
};

/* The daemon context: the only mutable state there is. */
struct ctl {
	su_home_t		 home[1];
	su_root_t		*root;
	nua_t			*nua;		/* IPv4 listeners (and a name's) */
	nua_t			*nua6;		/* stack6.c: the IPv6 listeners */
	nua_t			*ev_nua;	/* the stack whose event is handled */
	int			 nstacks;	/* stack6.c: not yet shut down */
	struct ctl_conf		*conf;
	const char		*conf_path;
	enum log_level		 log_level;
	struct call		*calls;
	int			 ncalls;
	struct limit_state	*limits;
	struct ctl_stats	 stats;
	struct relay		*relays[CTL_MAX_RELAYS];
	int			 nrelays;
	su_timer_t		*relay_timer;
	struct ctl_srv		*srv;
	int			 cdr_fd;
	struct dropped		*dropped;	/* unanswered INVITEs (drop mode) */
	int			 ndropped;
	su_timer_t		*drop_timer;
	double			 started;
	bool			 quitting;
	bool			 stack_down;	/* shutdown.c: nua_shutdown() sent */
	su_timer_t		*shutdown_timer;	/* shutdown.c */
	char			 contact[160];
	struct gw_health	*health;	/* health.c, by gateway name */
	struct reg_state	*regs;		/* register.c, by trunk name */
	struct protect		*protect;	/* protect.c */
	struct location		*locations;	/* location.c: registrations */
	int			 nlocations;
	su_timer_t		*location_timer;
	void			*sres;		/* enum.c: sres_resolver_t */
	struct refusal_log	*refusals;	/* cdr.c: NULL until the first */
	uint64_t		 relay_seq;	/* relay.c: session keys */
	uint32_t		 relay_instance;	/* relay.c: ours, in the keys */
	struct sockaddr_storage	 self[32];	/* targets.c: our addresses */
	int			 nself;
	double			 self_at;	/* when read (monotonic) */
	struct auth		*auth;		/* auth.c: nonce key and uses */
	struct web		*web;		/* web.c: the browser listener */
	struct sipfilter	*sipfilter;	/* sipfilter.c */
	struct listenfilter	*listenfilter;	/* listenfilter.c */
	char			 tls_fail[256];	/* tls.c: the last verdict */
	char			 tls_subject[160];	/* tls.c: its certificate */
	uint64_t		 tls_fail_seq;	/* tls.c: verdicts so far */
	void			*tls_subjects;	/* tls.c: su_strlst_t */
	tagi_t			 tls_tags[5];	/* tls.c: for nua_create() */
	su_timer_t		*tls_timer;	/* tls.c: a verdict to act on */
	unsigned		 tls_policy;	/* tls.c: the stack's, from start */
	struct natping		*natpings;	/* natping.c: in flight */
	int			 nnatpings;
	uint64_t		 natpings_sent;
};

/*
 * Carrier features (issue 6, first half): each file parses its own
 * config block (called from config.c), keeps its state in the daemon
 * context by name (so a reload keeps it) and adds to `trunks`/`status`.
 */
struct proto_cfg;

/* ---- health.c: OPTIONS probing of gateways ---- */
struct probe_conf {
	double		 interval, timeout;	/* seconds */
	int		 down_after, up_after;	/* consecutive results */
	int		 codes[16];		/* replies that mean "up" */
	int		 ncodes;
};
int	 health_parse(struct proto_cfg *, json_t *o, const char *path,
	    struct gateway *);
/* (Re)start probing for the running config's gateways. */
void	 health_sync(struct ctl *);
void	 health_close(struct ctl *);
/* A probe's reply; true if nh was a probe. */
bool	 health_event(struct ctl *, nua_event_t, int status, nua_handle_t *);
/* Drop candidates whose gateway is down; returns the new count. */
int	 health_filter(struct ctl *, struct candidate *, int n);
json_t	*health_json(struct ctl *, const struct gateway *);

/* ---- register.c: outbound registrations per trunk ---- */
struct reg_conf {
	char		 username[64], domain[128], auth_user[64];
	char		 password[128], registrar[192], realm[64];
	char		 contact_user[64];	/* the DDI in our Contact */
	int		 expires;
	double		 timeout;		/* no reply: failed */
	double		 retry_min, retry_max;	/* backoff bounds */
	struct sockaddr_storage src;		/* registrar address, if numeric */
	bool		 has_src;
};
int	 register_parse(struct proto_cfg *, json_t *o, const char *path,
	    struct trunk *);
void	 register_sync(struct ctl *);
void	 register_close(struct ctl *);
bool	 register_event(struct ctl *, nua_event_t, int status,
	    nua_handle_t *, const sip_t *);
/* The trunk whose registered contact this INVITE is for (its user, and
 * the numeric registrar's address or our Contact's secret), or NULL. */
struct trunk *register_identify(struct ctl *, const struct sockaddr *,
	    const sip_t *);
json_t	*register_json(struct ctl *, const struct trunk *);

/* ---- identity.c: local identity -> external account identity ---- */
struct ident_map {
	char		 local[64], user[64], display[64];
};
struct ident_conf {
	struct ident_map *map;
	int		 nmap;
	char		 shared_user[64], shared_display[64];
	bool		 reject_unmapped;
};
int	 identity_parse(struct proto_cfg *, json_t *o, const char *path,
	    struct trunk *);
void	 identity_free(struct ident_conf *);
/* Map k->calling and set k->display; -EPERM: unmapped and refused. */
int	 identity_map(struct call *);
/* The trust keys of a trunk (or, account true, an account) object:
 * trusted, numbers, default_cli, region. */
int	 trust_parse(struct proto_cfg *, json_t *o, const char *path,
	    struct trunk *, bool account);
/* After the trunk's transforms: Privacy, a trusted PAI, owned numbers.
 * 0, or -ENOSPC (a number too long). */
int	 identity_in(struct call *, const sip_t *);
/* The gateway leg's From and identity headers (P-Asserted-Identity or
 * Remote-Party-ID, Privacy), CRLF-separated, for one attempt. */
void	 identity_out(struct call *, const struct gateway *, const char *host,
	    char *from, size_t fromlen, char *hdrs, size_t hdrslen);

/* ---- protect.c: per-source rate limit and ban, size, scanners ---- */
struct protect_conf {
	double		 rate, burst;		/* requests/s per source; 0 off */
	double		 ban;			/* seconds */
	int		 max_message;		/* bytes (the stack's limit) */
	int		 max_body;		/* bytes of an INVITE's body */
	char		 (*agents)[64];		/* User-Agent substrings to drop */
	int		 nagents;
	bool		 limit_trunks;		/* trunks' sources count too */
	int		 auth_failures;		/* failed logins per window; 0 off */
	double		 auth_window, auth_ban;	/* seconds */
};
int	 protect_parse(struct proto_cfg *, json_t *o, struct ctl_conf *);
void	 protect_conf_free(struct protect_conf *);
void	 protect_apply(struct ctl *);	/* stack parameters */
void	 protect_close(struct ctl *);
/* An out-of-dialog request: 0 serve it, 1 drop it silently, or a
 * status to answer with (413). */
int	 protect_check(struct ctl *, const struct sockaddr *, const sip_t *);
json_t	*protect_json(struct ctl *);
/* Failed digest logins (auth.c): counted per source and per username
 * (known or not); too many in auth_window bans the source (every request
 * dropped, as a flood) or the username (its logins refused). */
void	 protect_auth_failed(struct ctl *, const struct sockaddr *,
	    const char *user);
bool	 protect_auth_banned(struct ctl *, const char *user);
/* The source is banned (flood or failed logins): webproto.c refuses its
 * logins as SIP drops its requests. */
bool	 protect_source_banned(struct ctl *, const struct sockaddr *);

/* ---- web.c, webproto.c, websdp.c, webcall.c: the WebRTC gateway's
 * signalling (issue 14). web.c is the HTTPS + WSS listener
 * (libwebsockets on a libuv loop embedded in the su_root); webproto.c
 * the JSON protocol over the WebSocket (PROTOCOL.md, "Browser
 * signalling"); websdp.c browser SDP <-> relay media; webcall.c the
 * browser leg of a call. ---- */
struct web_conf {
	char		 listen[128];		/* host:port */
	char		 address[64];		/* host part */
	uint16_t	 port;
	bool		 loopback;
	char		 cert[256], key[256];	/* "" plain (loopback only) */
	char		 root[256];		/* the web phone's files */
	int		 max_connections;
	int		 max_message;		/* bytes of one message */
	int		 max_messages;		/* per connection */
	double		 rate, burst;		/* messages/s per connection */
	int		 max_errors;		/* bad messages, then closed */
	int		 max_login_failures;	/* per connection, then closed */
};
int	 web_parse(struct proto_cfg *, json_t *o, struct ctl_conf *);
void	 web_conf_free(struct web_conf *);
int	 web_open(struct ctl *);
void	 web_close(struct ctl *);
json_t	*web_json(struct ctl *);

struct web_stats {
	uint64_t	 connections, refused_connections, bad_origin;
	uint64_t	 messages, malformed, oversized, rate_limited;
	uint64_t	 closed_by_limit, logins, login_failures, login_banned;
	uint64_t	 calls, unauthenticated;
};
/* One WebSocket connection: web.c's transport part, webproto.c's state. */
struct webconn {
	struct ctl	*ctl;
	void		*wsi;			/* struct lws */
	char		 peer[64];
	struct sockaddr_storage sa;
	/* web.c */
	char		*rx;			/* a message being assembled */
	size_t		 rxlen;
	bool		 rx_oversized;
	struct webmsg	*outq, *outq_tail;
	int		 noutq;
	bool		 closing;		/* close after the queue drains */
	bool		 close_sent;
	int		 close_code;
	char		 close_why[64];
	struct webconn	*next;
	/* webproto.c */
	int		 state;			/* WS_NEW, WS_HELLO, WS_CHALLENGED, WS_USER */
	char		 user[64];
	bool		 logged_in;
	char		 nonce[33];
	int		 login_failures, errors;
	uint64_t	 nmsg;
	double		 tokens, last;
	struct webleg	*legs;			/* its calls */
	int		 nlegs;
};
/* web.c: queue one message (stolen) / close with a WebSocket status
 * after what is queued. */
int	 web_send(struct webconn *, json_t *msg);
void	 web_close_conn(struct webconn *, int code, const char *why);
struct web_stats *web_stats(struct ctl *);
/* The newest connection logged in as user, or NULL. */
struct webconn *web_find_user(struct ctl *, const char *user);
/* The listener's settings (from the config it started with). */
const struct web_conf *web_limits(struct ctl *);
/* webproto.c */
void	 webproto_message(struct webconn *, const char *buf, size_t len);
void	 webproto_closed(struct webconn *);
/* A clear error to the client: {type:"error", code, message, in, id}. */
void	 webproto_error(struct webconn *, const char *code, const char *in,
	    json_t *id, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* websdp.c: the browser's offer (or answer) -> relay media (WebRTC
 * fields, peer_transport: the other leg's) and a plain RTP/AVP SDP for the SIP side (G.711 and
 * telephone-event only, no ICE/DTLS attributes). 0 or -EINVAL (err). */
int	 websdp_offer(const char *sdp, const char *peer_transport,
	    struct media_desc **media, char **sip_sdp, char *err,
	    size_t errlen);
/* A relay reply for a WebRTC leg + the other side's SDP (its codecs, those
 * of the browser's offer with the same payload types; browser_offer NULL:
 * we make the offer to a browser, mid 0) -> the browser's SDP (ice-lite, our ICE and DTLS, the relay's candidate
 * only, rtcp-mux, mid and BUNDLE). NULL and err. */
char	*websdp_answer(const struct media_desc *media, const char *sip_sdp,
	    const char *browser_offer, char *err, size_t errlen);
/* The first a=mid of an SDP ("0" if none), into out. */
void	 websdp_mid(const char *sdp, char *out, size_t len);
/* webcall.c: a browser leg of a call. */
struct webleg {
	struct webconn	*conn;		/* NULL: the browser went away */
	struct call	*call;
	char		 id[48];	/* the call's id on the WebSocket */
	char		*offer;		/* the browser's SDP */
	struct media_desc *media;	/* the relay offer's media */
	bool		 ended;		/* "ended" sent; detached next turn */
	bool		 early_sent;	/* "early" (18x SDP) sent: applied */
	su_timer_t	*end_timer;
	struct webleg	*next;		/* in conn->legs */
};
/* call from the logged-in user to `to` with the browser's offer. 0, or
 * an error code for webproto_error() in *code. */
int	 webcall_start(struct webconn *, json_t *seq, const char *id,
	    const char *to, const char *sdp, const char **code, char *why,
	    size_t len);
int	 webcall_hangup(struct webconn *, const char *id);
/* The browser answers an incoming call. 0, or an error code in *code. */
int	 webcall_answer(struct webconn *, const char *id, const char *sdp,
	    const char **code, char *why, size_t len);
/* registrar.c: a logged-in browser of account a as a candidate (first,
 * before its SIP contacts). 0 added, -ENOENT none. */
int	 webcall_candidate(struct call *, const struct account *a,
	    struct candidate *);
bool	 candidate_is_web(const struct candidate *);
/* invite.c and gateway.c hooks: the relay offer's peer_transport for
 * the candidate (b2bua_routed); the B offer for a browser from the relay's reply
 * (on_offered; 0, or -EINVAL with err); ring the browser (gateway_start);
 * whether the relay's B leg must change transport first (1: a re-offer
 * was sent, gateway_start runs again from its reply). */
void	 webcall_offer_media(struct call *, struct media_desc *media);
int	 webcall_b_offer(struct call *, const struct media_desc *relay_media,
	    char *err, size_t errlen);
void	 webcall_ring(struct call *);
/* ring_timeout expired while the browser rang (gateway.c's timer). */
void	 webcall_ring_timeout(struct call *);
/* fork.c: a contact's 2xx won over the browser ringing along: the
 * browser gets "ended" (completed elsewhere) and leaves k->b now. */
void	 webcall_fork_lost(struct call *);
int	 webcall_switch(struct call *);
struct webleg *webcall_find(struct webconn *, const char *id);
void	 webcall_conn_gone(struct webconn *);
/* The call code's side of a browser leg (invite.c, hangup.c, call.c). */
bool	 leg_live(const struct leg *);
/* A malloc'd copy of the browser's offer media (for relay_offer()). */
struct media_desc *webleg_offer_media(struct call *, char *err,
	    size_t errlen);
void	 webleg_respond(struct leg *, int status, const char *why);
/* The relay's reply to the SIP side's answer (status, its SDP): the
 * browser's answer, ringing, or the end of the call. */
void	 webleg_relay_answer(struct call *, int status,
	    const struct relay_reply *, const char *sip_sdp);
/* The SIP side's answer media: the reply must describe the WebRTC leg. */
void	 webleg_answer_media(struct call *, struct media_desc *media);
void	 webleg_bye(struct leg *, const char *reason);
void	 webleg_destroy(struct leg *);
/* sipfilter.c, before the stack: 1 a scanner, 2 a banned source (the
 * requests protect_check() drops), 0 neither; count: count it as
 * dropped (once per request, not per retransmission). */
int	 protect_silent(struct ctl *, const struct sockaddr *, const sip_t *,
	    bool count);

/* ---- sipfilter.c: datagrams refused before the SIP stack reads them
 * (issue 12): unknown sources in drop mode, scanners and banned sources,
 * requests without To tag in a running call's dialog ---- */
enum sf_verdict { SF_PASS, SF_UNKNOWN, SF_GARBAGE, SF_SCANNER, SF_BANNED,
	SF_POISON, SF_OVERLOAD };
/* After nua_create(): watch the stack's UDP sockets. 0, or -errno. */
int	 sipfilter_open(struct ctl *);
void	 sipfilter_close(struct ctl *);
/* The verdict on one parsed message (sip NULL: not SIP) whose msg
 * carries its source; why says it when not SF_PASS. */
int	 sipfilter_verdict(struct ctl *, msg_t *, const sip_t *, char *why,
	    size_t len);
json_t	*sipfilter_json(struct ctl *);

/* ---- stacksock.c: the SIP stack's sockets, found by type and port ---- */
/* A listen address's port, dflt if it names none, 0 if it is empty. */
uint16_t stacksock_port(const char *hostport, uint16_t dflt);
/* Up to max descriptors of that type (SOCK_STREAM: listening) bound to
 * port p1 or p2; their number, or -errno. */
int	 stacksock_find(int *fds, int max, int type, uint16_t p1,
	    uint16_t p2);

/* ---- listenfilter.c: in drop mode, the TCP/TLS listeners take
 * connections only from trunk sources, numeric registrars and gateways
 * (a kernel socket filter; issue 12) ---- */
/* (Re)build from the running config, or remove it in reject mode. */
void	 listenfilter_apply(struct ctl *);
void	 listenfilter_close(struct ctl *);
json_t	*listenfilter_json(struct ctl *);

#endif
