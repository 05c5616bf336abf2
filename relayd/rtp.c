/*
 * rtp.c: the little the relay reads from packets: STUN recognition, RTP
 * versus RTCP on a muxed port (RFC 5761), and RTP loss from sequence
 * numbers (the RFC 3550 appendix A.1 algorithm, simplified).
 */
#include <arpa/inet.h>
#include <string.h>

#include "relayd.h"

#define STUN_MAGIC	0x2112A442u
#define RTP_SEQ_MOD	(1u << 16)
#define MAX_DROPOUT	3000
#define MAX_MISORDER	100

bool
pkt_is_stun(const uint8_t *p, size_t len)
{
	uint32_t magic;

	/* STUN: top two bits zero, length a multiple of 4, magic cookie. */
	if (len < 20 || (p[0] & 0xc0) != 0)
		return false;
	memcpy(&magic, p + 4, 4);
	return ntohl(magic) == STUN_MAGIC &&
	    (size_t)((p[2] << 8) | p[3]) + 20 == len;
}

bool
pkt_is_rtcp(const uint8_t *p, size_t len)
{
	/* RTCP packet types 192..223 collide with no dynamic RTP PT. */
	return len >= 8 && (p[0] & 0xc0) == 0x80 && p[1] >= 192 && p[1] <= 223;
}

bool
pkt_is_rtp(const uint8_t *p, size_t len)
{
	return len >= 12 && (p[0] & 0xc0) == 0x80 && !pkt_is_rtcp(p, len);
}

static uint64_t
seq_lost(const struct rtp_seq *s)
{
	uint64_t expected;

	if (!s->init)
		return 0;
	expected = s->cycles + s->max_seq - s->expected_base + 1;
	return expected > s->received ? expected - s->received : 0;
}

/* A new SSRC or a restarted sender: keep what was lost so far. */
static void
seq_restart(struct rtp_seq *s, uint32_t ssrc, uint16_t seq)
{
	s->lost_before += seq_lost(s);
	s->init = true;
	s->ssrc = ssrc;
	s->max_seq = seq;
	s->cycles = 0;
	s->expected_base = seq;
	s->received = 1;
}

/*
 * Returns the packets lost on this leg so far: for each SSRC seen, expected
 * minus received, never negative (duplicates could make it so).
 */
uint64_t
rtp_seq_update(struct rtp_seq *s, const uint8_t *p, size_t len)
{
	uint16_t seq, udelta;
	uint32_t ssrc;

	if (!pkt_is_rtp(p, len))
		return s->lost_before + seq_lost(s);
	seq = (uint16_t)((p[2] << 8) | p[3]);
	memcpy(&ssrc, p + 8, 4);
	ssrc = ntohl(ssrc);
	if (!s->init || ssrc != s->ssrc) {
		seq_restart(s, ssrc, seq);
		return s->lost_before;
	}
	udelta = (uint16_t)(seq - s->max_seq);
	if (udelta < MAX_DROPOUT) {
		if (seq < s->max_seq)
			s->cycles += RTP_SEQ_MOD;
		s->max_seq = seq;
	} else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
		/* A big jump: the sender restarted; start counting again. */
		seq_restart(s, ssrc, seq);
		return s->lost_before;
	}
	s->received++;
	return s->lost_before + seq_lost(s);
}
