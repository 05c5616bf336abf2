/*
 * latch.c: symmetric RTP. The first packet a leg receives fixes its peer;
 * after that, strict source (the default) rejects every other sender so
 * that nobody can take over the media of a call (RTP bleed). Without strict
 * source the peer follows the last sender, for endpoints that roam.
 * Pure logic: no sockets, no clock, so the unit tests can drive it.
 */
#include "relayd.h"

enum latch_verdict
latch_check(struct leg *leg, enum sock_kind kind,
    const struct sockaddr_storage *src, bool strict)
{
	if (!leg->is_latched[kind]) {
		leg->latched[kind] = *src;
		leg->is_latched[kind] = true;
		return LATCH_LATCHED;
	}
	if (addr_equal(&leg->latched[kind], src))
		return LATCH_ACCEPT;
	if (strict)
		return LATCH_REJECT;
	leg->latched[kind] = *src;
	return LATCH_RELATCHED;
}

/* Both peers known: the stream can leave userspace. */
bool
stream_fully_latched(const struct stream *st)
{
	return st->leg[SIDE_A].is_latched[SK_RTP] &&
	    st->leg[SIDE_B].is_latched[SK_RTP];
}

/*
 * Where packets sent out of leg `out` go; false if nowhere yet. A latched
 * address wins over SDP. Before RTCP has latched, RTCP follows the latched
 * RTP address (a NAT moves both alike) on the next port.
 */
bool
leg_destination(const struct leg *out, enum sock_kind kind,
    struct sockaddr_storage *dst)
{
	if (out->sdp.set && out->sdp.rtcp_mux)
		kind = SK_RTP;
	if (out->is_latched[kind]) {
		*dst = out->latched[kind];
		return true;
	}
	if (kind == SK_RTCP && out->is_latched[SK_RTP]) {
		*dst = out->latched[SK_RTP];
		addr_set_port(dst, (uint16_t)(addr_port(dst) + 1));
		return true;
	}
	if (!out->sdp.set || addr_port(&out->sdp.rtp) == 0)
		return false;
	*dst = kind == SK_RTP ? out->sdp.rtp : out->sdp.rtcp;
	return true;
}
