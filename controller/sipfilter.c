/*
 * sipfilter.c: what must never reach the SIP stack (issue 12). Each
 * datagram on the controller's SIP UDP sockets is looked at here before
 * Sofia reads it; what this file refuses is read off the socket and
 * discarded, so the stack never knows it came: no "100 Trying", no late
 * 480, no transaction, no handle.
 *
 *  - unknown_source "drop": a request from a source that identify.c does
 *    not know (identify_silent(): no trunk source, not a registration's
 *    provider calling its contact) is dropped, whatever the method,
 *    unless it is in one of our calls' dialogs (a To tag and the Call-ID
 *    of a call's A or B leg: a gateway's BYE). Garbage from such a
 *    source is dropped too. Responses always pass: nothing answers a
 *    response, and the gateways' answers to our requests are responses.
 *  - scanners and banned sources (protect.c) are dropped the same way,
 *    in either mode: protect_check() used to hold them in the stack,
 *    which still sent an INVITE's 100.
 *  - dialog poisoning, in either mode: a request without a To tag that
 *    carries a running call's Call-ID and caller's From tag. Sofia (nta)
 *    matches it to the caller's dialog all the same and takes its CSeq
 *    as the dialog's remote CSeq, so the caller's own BYE (a lower CSeq)
 *    is then refused with 500 and the call cannot be hung up. Only the
 *    caller's INVITE itself (a retransmission) and its CANCEL, with the
 *    INVITE's CSeq, may come without a To tag.
 *
 * How it gets in front: Sofia offers no hook before its parser, and
 * gives no access to its sockets. The controller finds its UDP sockets
 * by their local port (b2bua_open(), right after nua_create()), watches
 * a duplicate of each at high priority on the poll(2) port (main.c picks
 * it: poll dispatches in registration order, high priority first, and
 * multishot, every ready socket in the same round; epoll does neither),
 * peeks at the first queued datagram and discards it if refused, until
 * the first one is one the stack may have. Sofia's own callback for the
 * socket runs after ours in the same round and reads that one datagram.
 * A datagram that arrives while poll(2) is scanning the descriptors
 * (after ours, before Sofia's) may reach the stack unseen: the in-stack
 * checks (b2bua.c, indialog.c) still apply to it.
 *
 * TCP and TLS are not filtered here (the stack reads and parses a
 * stream itself): in drop mode listenfilter.c keeps strangers from
 * connecting; what allowed sources send meets the same policy inside the
 * stack (see trunkline-controller.conf(5), TRUST MODEL).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "controller.h"

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>

/* Sofia's transport log (exported by the library, in no header). */

#define SF_MAX_SOCKS	8
#define SF_BUF		65536
/* Refused datagrams discarded per wakeup at most: past that, the first
 * one is discarded unread (a flood; the stack must not read it). */
#define SF_BURST	4096
#define SF_SEEN		256	/* refused requests remembered (first_sight) */

struct sf_sock {
	int		 fd;		/* our duplicate of the stack's socket */
	int		 widx;		/* su_root registration */
	su_wait_t	 wait[1];
};

struct sipfilter {
	struct sf_sock	 socks[SF_MAX_SOCKS];
	int		 nsocks;
	char		*buf;
	uint64_t	 passed;
	uint64_t	 unknown, garbage, scanners, banned, poison, overload;
	uint64_t	 by_method[8];	/* unknown, by enum sf_method */
	uint64_t	 hkey[2];	/* first_sight(): keyed, as the sender
					 * chooses what is hashed */
	uint64_t	 seen[SF_SEEN];
	int		 seen_next;
};

/* The methods the "unknown" counter is split by. */
enum sf_method { SFM_INVITE, SFM_OPTIONS, SFM_REGISTER, SFM_BYE,
	SFM_MESSAGE, SFM_OTHER, SFM_NMETHODS };
static const char *const sf_method_names[SFM_NMETHODS] = { "INVITE",
	"OPTIONS", "REGISTER", "BYE", "MESSAGE", "other" };

static enum sf_method
sf_method(const sip_t *sip)
{
	switch (sip->sip_request->rq_method) {
	case sip_method_invite:		return SFM_INVITE;
	case sip_method_options:	return SFM_OPTIONS;
	case sip_method_register:	return SFM_REGISTER;
	case sip_method_bye:		return SFM_BYE;
	case sip_method_message:	return SFM_MESSAGE;
	default:			return SFM_OTHER;
	}
}

/* A running call whose A leg has this Call-ID and From tag. */
static struct call *
a_dialog(struct ctl *c, const char *call_id, const char *from_tag)
{
	for (struct call *k = c->calls; k != NULL; k = k->next)
		if (!k->finished && k->a.nh != NULL &&
		    strcmp(k->call_id, call_id) == 0 &&
		    strcasecmp(k->from_tag, from_tag) == 0)
			return k;
	return NULL;
}

/* One of our calls' legs has this Call-ID. */
static bool
our_call_id(struct ctl *c, const char *call_id)
{
	for (struct call *k = c->calls; k != NULL; k = k->next)
		if (strcmp(k->call_id, call_id) == 0 ||
		    strcmp(k->b_call_id, call_id) == 0)
			return true;
	return false;
}

int
sipfilter_verdict(struct ctl *c, msg_t *msg, const sip_t *sip, char *why,
    size_t len)
{
	const struct sockaddr *sa = msg_addrinfo(msg)->ai_addr;
	const char *ftag, *ttag;
	struct call *k;
	int pc;

	why[0] = '\0';
	if (sip != NULL && sip->sip_status != NULL)
		return SF_PASS;		/* nothing answers a response */
	if (sip == NULL || sip->sip_request == NULL ||
	    sip->sip_call_id == NULL || sip->sip_from == NULL ||
	    sip->sip_to == NULL || sip->sip_cseq == NULL ||
	    sip->sip_via == NULL || msg_has_error(msg)) {
		/* The stack answers what it cannot parse (400) to a source
		 * it may talk to; to an unknown one, not a word. */
		if (c->conf->unknown_drop &&
		    identify_by_source(c->conf, sa, TP_UDP) == NULL) {
			snprintf(why, len, "not SIP");
			return SF_GARBAGE;
		}
		return SF_PASS;
	}
	ftag = sip->sip_from->a_tag;
	ttag = sip->sip_to->a_tag;
	if (ttag == NULL && ftag != NULL &&
	    (k = a_dialog(c, sip->sip_call_id->i_id, ftag)) != NULL &&
	    !((sip->sip_request->rq_method == sip_method_invite ||
	    sip->sip_request->rq_method == sip_method_cancel) &&
	    sip->sip_cseq->cs_seq == k->a_cseq)) {
		snprintf(why, len, "no To tag in call %s's dialog (CSeq %u)",
		    k->call_id, (unsigned)sip->sip_cseq->cs_seq);
		return SF_POISON;
	}
	if (ttag != NULL && our_call_id(c, sip->sip_call_id->i_id))
		return SF_PASS;		/* indialog.c has the last word */
	if ((pc = protect_silent(c, sa, sip, false)) != 0) {
		snprintf(why, len, "%s", pc == 1 ? "scanner" : "banned source");
		return pc == 1 ? SF_SCANNER : SF_BANNED;
	}
	if (identify_silent(c, msg, sip)) {
		snprintf(why, len, "no trunk source");
		return SF_UNKNOWN;
	}
	return SF_PASS;
}

static void fmt_addr(const struct sockaddr *, char *, size_t);

/*
 * True the first time a request (Call-ID, CSeq, method) is refused: the
 * counters shared with the stack's own checks (rejected_unknown, the
 * protection counters) and refusal CDRs count requests, not their
 * retransmissions, as the stack's transaction layer used to.
 */
static bool
first_sight(struct sipfilter *f, const sip_t *sip)
{
	char key[320];
	uint64_t h;
	int n;

	n = snprintf(key, sizeof(key), "%s %u %s", sip->sip_call_id->i_id,
	    (unsigned)sip->sip_cseq->cs_seq, sip->sip_request->rq_method_name);
	h = siphash24(key, n > 0 && (size_t)n < sizeof(key) ? (size_t)n :
	    sizeof(key) - 1, f->hkey);
	for (int i = 0; i < SF_SEEN; i++)
		if (f->seen[i] == h)
			return false;
	f->seen[f->seen_next] = h;
	f->seen_next = (f->seen_next + 1) % SF_SEEN;
	return true;
}

/* Count, log and (an INVITE) write a refusal CDR for what was refused. */
static void
account(struct ctl *c, int v, const sip_t *sip, const struct sockaddr *sa,
    const char *why)
{
	struct sipfilter *f = c->sipfilter;
	bool first = v != SF_GARBAGE && v != SF_OVERLOAD &&
	    first_sight(f, sip);
	char text[INET6_ADDRSTRLEN];

	switch (v) {
	case SF_UNKNOWN:
		f->unknown++;
		f->by_method[sf_method(sip)]++;
		break;
	case SF_GARBAGE:	f->garbage++;	break;
	case SF_SCANNER:	f->scanners++;	break;
	case SF_BANNED:		f->banned++;	break;
	case SF_POISON:		f->poison++;	break;
	default:		f->overload++;	break;
	}
	fmt_addr(sa, text, sizeof(text));
	if (!first) {
		clog_msg(c, LL_DEBUG, "datagram from %s: %s: dropped before "
		    "the stack", text, why);
		return;
	}
	if (v == SF_SCANNER || v == SF_BANNED)
		(void)protect_silent(c, sa, sip, true);
	if (v == SF_UNKNOWN)
		c->stats.rejected_unknown++;
	clog_msg(c, v == SF_POISON || (v == SF_UNKNOWN &&
	    sip->sip_request->rq_method == sip_method_invite) ? LL_NOTICE :
	    LL_DEBUG, "%s %s from %s: %s: dropped before the stack",
	    sip->sip_request->rq_method_name, sip->sip_call_id->i_id, text,
	    why);
	if (sip->sip_request->rq_method == sip_method_invite &&
	    v != SF_POISON)	/* cdr.c: refused at the door, unanswered */
		cdr_refusal(c, sip, sa, NULL, 0, v == SF_UNKNOWN ? "no trunk" :
		    "protection");
}

/* Parse one datagram the way the stack would, judge it, account for a
 * refusal. */
static int
judge(struct ctl *c, const char *data, size_t n,
    const struct sockaddr_storage *ss, socklen_t sl)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;
	char why[160];
	su_addrinfo_t *ai;
	msg_t *msg;
	sip_t *sip;
	int v;

	if (n >= 8 && memcmp(data, "SIP/2.0 ", 8) == 0)
		return SF_PASS;		/* a response: not worth a parse */
	if ((msg = msg_make(sip_default_mclass(), 0, data, (ssize_t)n)) ==
	    NULL) {
		if (!c->conf->unknown_drop ||
		    identify_by_source(c->conf, sa, TP_UDP) != NULL)
			return SF_PASS;
		account(c, SF_GARBAGE, NULL, sa, "not SIP");
		return SF_GARBAGE;
	}
	msg_set_address(msg, (su_sockaddr_t const *)ss, sl);
	ai = msg_addrinfo(msg);
	ai->ai_socktype = SOCK_DGRAM;
	ai->ai_protocol = IPPROTO_UDP;
	sip = sip_object(msg);
	if ((v = sipfilter_verdict(c, msg, sip, why, sizeof(why))) != SF_PASS)
		account(c, v, sip, sa, why);
	msg_destroy(msg);
	return v;
}

/*
 * The stack's socket is readable: discard refused datagrams at the head
 * of its queue until the head is one the stack may read (or none is
 * left). Runs before the stack's own callback (see the top).
 */
static int
on_readable(struct ctl *c, su_wait_t *w, void *arg)
{
	struct sipfilter *f = c->sipfilter;
	struct sf_sock *s = arg;

	if (f == NULL)
		return 0;
	for (int i = 0; i <= SF_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(s->fd, f->buf, SF_BUF,
		    MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);

		if (n < 0)
			return 0;	/* empty (or an error: the stack's) */
		if (i == SF_BURST)	/* a flood: the head goes unread */
			account(c, SF_OVERLOAD, NULL, (struct sockaddr *)&ss,
			    "flood");
		else if (judge(c, f->buf, (size_t)n, &ss, sl) == SF_PASS) {
			f->passed++;
			return 0;
		}
		(void)recv(s->fd, f->buf, 1, MSG_DONTWAIT);	/* discard */
	}
	return 0;
}

static void
fmt_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->
	    sin6_addr :
	    (const void *)&((const struct sockaddr_in *)(const void *)sa)->
	    sin_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

int
sipfilter_open(struct ctl *c)
{
	struct sipfilter *f;
	int fds[SF_MAX_SOCKS], n;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->buf = malloc(SF_BUF)) == NULL) {
		free(f);
		return -ENOMEM;
	}
	c->sipfilter = f;
	if (getrandom(f->hkey, sizeof(f->hkey), 0) != sizeof(f->hkey))
		clog_msg(c, LL_WARNING, "SIP filter: no random hash key "
		    "(getrandom: %s)", strerror(errno));
	if ((n = stacksock_find(fds, SF_MAX_SOCKS, SOCK_DGRAM,
	    stacksock_port(c->conf->listen, 5060), 0))
	    < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct sf_sock *s = &f->socks[f->nsocks];
		if ((s->fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 0)) < 0)
			return -errno;
		if (su_wait_create(s->wait, s->fd, SU_WAIT_IN) < 0) {
			close(s->fd);
			return -errno;
		}
		/* priority 1: before the stack's own callback */
		if ((s->widx = su_root_register(c->root, s->wait, on_readable,
		    s, 1)) < 0) {
			su_wait_destroy(s->wait);
			close(s->fd);
			return -errno;
		}
		f->nsocks++;
	}
	return f->nsocks > 0 ? 0 : -ENOENT;
}

void
sipfilter_close(struct ctl *c)
{
	struct sipfilter *f = c->sipfilter;

	if (f == NULL)
		return;
	for (int i = 0; i < f->nsocks; i++) {
		su_root_deregister(c->root, f->socks[i].widx);
		close(f->socks[i].fd);
	}
	free(f->buf);
	free(f);
	c->sipfilter = NULL;
}

json_t *
sipfilter_json(struct ctl *c)
{
	struct sipfilter *f = c->sipfilter;
	json_t *bym;

	if (f == NULL)
		return json_pack("{s:i,s:o}", "sockets", 0, "stream",
		    listenfilter_json(c));
	bym = json_object();
	for (int i = 0; i < SFM_NMETHODS; i++)
		json_object_set_new(bym, sf_method_names[i],
		    json_integer((json_int_t)f->by_method[i]));
	return json_pack("{s:i,s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:i,s:o}",
	    "sockets", f->nsocks,
	    "passed", (json_int_t)f->passed,
	    "dropped_unknown", (json_int_t)f->unknown,
	    "dropped_unknown_by_method", bym,
	    "dropped_garbage", (json_int_t)f->garbage,
	    "dropped_scanners", (json_int_t)f->scanners,
	    "dropped_banned", (json_int_t)f->banned,
	    "dropped_no_to_tag", (json_int_t)f->poison,
	    "dropped_flood", (json_int_t)f->overload,
	    "held_in_stack", c->ndropped,
	    "stream", listenfilter_json(c));
}
