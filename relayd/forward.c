/*
 * forward.c: the userspace path. Every stream starts here, and stays here
 * when no kernel backend takes it. Packets are read in recvmmsg batches,
 * checked against the leg's latch (latch.c), counted, and written out of
 * the opposite leg's socket in sendmmsg batches: the reply source is then
 * the relay's own address and port on that side, as the peer expects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relayd.h"

#define READ_ROUNDS	8	/* batches per wakeup: fairness across fds */

struct fwd_state {
	struct mmsghdr		 rmsg[RELAYD_BATCH];
	struct iovec		 riov[RELAYD_BATCH];
	struct sockaddr_storage	 rsrc[RELAYD_BATCH];
	/* room for the SRTP tag when a WebRTC leg encrypts in place */
	uint8_t			 rbuf[RELAYD_BATCH][RELAYD_MAX_PKT + RTC_SRTP_ROOM];

	struct mmsghdr		 smsg[RELAYD_BATCH];
	struct iovec		 siov[RELAYD_BATCH];
	struct sockaddr_storage	 sdst[RELAYD_BATCH];
	struct leg		*sleg[RELAYD_BATCH];	/* who pays for a failure */
	int			 sfd;
	int			 scount;
};

int
forward_init(struct relayd *rd)
{
	struct fwd_state *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -ENOMEM;
	for (int i = 0; i < RELAYD_BATCH; i++) {
		f->riov[i].iov_base = f->rbuf[i];
		f->riov[i].iov_len = RELAYD_MAX_PKT;
		f->rmsg[i].msg_hdr.msg_iov = &f->riov[i];
		f->rmsg[i].msg_hdr.msg_iovlen = 1;
		f->smsg[i].msg_hdr.msg_iov = &f->siov[i];
		f->smsg[i].msg_hdr.msg_iovlen = 1;
		f->smsg[i].msg_hdr.msg_name = &f->sdst[i];
	}
	f->sfd = -1;
	rd->fwd = f;
	return 0;
}

void
forward_free(struct relayd *rd)
{
	free(rd->fwd);
	rd->fwd = NULL;
}

static void
count_drop(struct relayd *rd, struct leg *leg)
{
	leg->stats.drops++;
	rd->totals.drops++;
}

/* Send what is queued; packets the kernel refuses are counted, not retried. */
static void
flush(struct relayd *rd, struct fwd_state *f)
{
	int sent = 0, r;

	while (sent < f->scount) {
		r = sendmmsg(f->sfd, f->smsg + sent, (unsigned)(f->scount - sent),
		    MSG_DONTWAIT);
		if (r > 0) {
			sent += r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* This packet failed (EAGAIN, ENOBUFS, unreachable): skip it. */
		rd->totals.errors++;
		count_drop(rd, f->sleg[sent]);
		sent++;
	}
	f->scount = 0;
	f->sfd = -1;
}

static void
queue(struct relayd *rd, struct fwd_state *f, int fd, struct leg *from,
    const struct sockaddr_storage *dst, void *data, size_t len)
{
	int i;

	if (f->scount > 0 && (f->sfd != fd || f->scount == RELAYD_BATCH))
		flush(rd, f);
	i = f->scount++;
	f->sfd = fd;
	f->sdst[i] = *dst;
	f->smsg[i].msg_hdr.msg_namelen = addr_len(dst);
	f->siov[i].iov_base = data;
	f->siov[i].iov_len = len;
	f->sleg[i] = from;
}

static void
on_learning(struct relayd *rd, struct leg *leg)
{
	char buf[64];

	rlog(rd, LL_DEBUG, "call %s stream %d leg %c: learning, candidate %s "
	    "(rank %s); fixed when the window ends or the SDP address sends",
	    leg->stream->session->call_id, leg->stream->index,
	    leg->side == SIDE_A ? 'A' : 'B',
	    addr_fmt(RADDR_SS(&leg->latched[SK_RTP]), buf, sizeof(buf)),
	    learn_rank_name(leg->learn.rank));
}

/*
 * The kernel entries expect RTCP from the RTP peer's address on the next
 * port: RTCP latched there (a packet queued before the install) changes
 * nothing, so the stream is not installed again for it.
 */
static bool
rtcp_as_assumed(const struct leg *leg)
{
	struct sockaddr_storage guess;

	raddr_to(&leg->latched[SK_RTP], &guess);
	addr_set_port(&guess, (uint16_t)(addr_port(&guess) + 1));
	return raddr_equal(&leg->latched[SK_RTCP], &guess);
}

static void
on_latched(struct relayd *rd, struct leg *leg, enum sock_kind kind)
{
	char buf[64];

	rlog(rd, LL_DEBUG, "call %s stream %d leg %c: %s latched to %s%s%s",
	    leg->stream->session->call_id, leg->stream->index,
	    leg->side == SIDE_A ? 'A' : 'B', kind == SK_RTP ? "rtp" : "rtcp",
	    addr_fmt(RADDR_SS(&leg->latched[kind]), buf, sizeof(buf)),
	    kind == SK_RTP ? ", rank " : "",
	    kind == SK_RTP ? learn_rank_name(leg->learn.rank) : "");
	if (kind == SK_RTCP && leg->stream->path == PATH_KERNEL &&
	    !rtcp_as_assumed(leg)) {
		/* RTCP from a port other than the kernel flow assumed (RTP
		 * port + 1, e.g. behind a NAT) reached us: install again with
		 * the latched address. latch.c lets RTCP latch only from
		 * the RTP peer's own address, so a stranger cannot. */
		backend_stream_remove(rd, leg->stream);
	}
	/* Also after a non-strict re-latch, which took the stream out. */
	if (stream_fully_latched(leg->stream))
		backend_stream_latched(rd, leg->stream);
	journal_save(rd, leg->stream->session);
}

/* One received packet: latch, count, and queue it for the other leg. */
static void
relay_one(struct relayd *rd, struct fwd_state *f, struct leg_sock *ls,
    int i, const struct latch_policy *pol, uint64_t now, int64_t wall)
{
	struct leg *leg = leg_of_sock(ls);
	struct leg *out = &leg->stream->leg[leg->side == SIDE_A ? SIDE_B : SIDE_A];
	uint8_t *p = f->rbuf[i];
	size_t len = f->rmsg[i].msg_len;
	enum sock_kind kind = ls->kind;
	struct sockaddr_storage dst;
	int ofd;

	if (leg->rtc != NULL) {
		/* ICE-lite, DTLS, SRTP: only decrypted media comes back. */
		if (!webrtc_input(rd, leg, kind, &f->rsrc[i], p, &len))
			return;
		goto accepted;
	}
	if (pkt_is_stun(p, len)) {
		leg->stats.stun++;	/* ICE checks are not media */
		return;
	}
	/* The learning window ended since the last packet: fix the peer. */
	if (kind == SK_RTP && latch_expire(leg, pol, now))
		on_latched(rd, leg, SK_RTP);
	switch (latch_check(leg, kind, &f->rsrc[i], pol, now, p, len)) {
	case LATCH_REJECT:
		count_drop(rd, leg);
		return;
	case LATCH_RELATCHED:
		/* Non-strict: the peer moved; the kernel's flows name the old
		 * one, so take them out and install again with the new. */
		if (leg->stream->path == PATH_KERNEL)
			backend_stream_remove(rd, leg->stream);
		/* FALLTHROUGH */
	case LATCH_LATCHED:
		on_latched(rd, leg, kind);
		break;
	case LATCH_LEARNING:
		on_learning(rd, leg);
		break;
	case LATCH_ACCEPT:
		break;
	}
accepted:
	leg->stats.packets++;
	leg->stats.bytes += len;
	leg->stats.last_seen_ms = now;
	leg->stats.last_seen_wall = wall;
	rd->totals.packets++;
	rd->totals.packets_userspace++;
	rd->totals.bytes += len;
	if (kind == SK_RTP && pkt_is_rtcp(p, len))
		kind = SK_RTCP;		/* rtcp-mux: demultiplex */
	else if (kind == SK_RTP)
		leg->stats.lost = rtp_seq_update(&leg->seq, p, len);
	if (out->rtc != NULL) {
		/* Encrypted toward the browser's ICE-selected address. */
		if (!webrtc_output(rd, out, p, &len, &dst, now)) {
			count_drop(rd, leg);
			return;
		}
		queue(rd, f, out->sock[SK_RTP].fd, leg, &dst, p, len);
		return;
	}
	if (!leg_destination(out, kind, &dst)) {
		count_drop(rd, leg);	/* the other side has no address yet */
		return;
	}
	ofd = out->sock[out->sdp.rtcp_mux ? SK_RTP : kind].fd;
	queue(rd, f, ofd, leg, &dst, p, len);
}

void
forward_readable(struct relayd *rd, struct leg_sock *ls)
{
	struct fwd_state *f = rd->fwd;
	uint64_t now = now_ms();
	int64_t wall = time(NULL);
	struct latch_policy pol;
	int n;

	if (ls->fd < 0)
		return;		/* its stream ended earlier in this batch */
	latch_policy_init(&pol, &rd->conf);
	for (int round = 0; round < READ_ROUNDS; round++) {
		for (int i = 0; i < RELAYD_BATCH; i++) {
			f->rmsg[i].msg_hdr.msg_name = &f->rsrc[i];
			f->rmsg[i].msg_hdr.msg_namelen = sizeof(f->rsrc[i]);
		}
		n = recvmmsg(ls->fd, f->rmsg, RELAYD_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			relay_one(rd, f, ls, i, &pol, now, wall);
		/* The send iovecs point into rbuf: flush before reusing it. */
		if (f->scount > 0)
			flush(rd, f);
		if (n < RELAYD_BATCH)
			break;
	}
}
