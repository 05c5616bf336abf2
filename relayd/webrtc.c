/*
 * webrtc.c: a WebRTC leg (UDP/TLS/RTP/SAVPF) of a stream. The relay is
 * ICE-lite (RFC 8445 2.5): it never sends checks, it answers the
 * browser's Binding requests that carry our ufrag and pass integrity with
 * our ice-pwd, and the source of such a check becomes a validated
 * address. DTLS (dtls.c) is accepted only from a validated address,
 * before nomination (Chromium sends its ClientHello right after the first
 * success); SRTP (srtp.c) only from a validated address and only once the
 * handshake is done. Checks keep being answered for the whole call
 * (consent freshness, RFC 7675). Media goes to the nominated address (the
 * last check with USE-CANDIDATE), else the last validated one.
 *
 * Everything runs in userspace: a stream with a WebRTC leg is never
 * offered to a kernel backend (backend.c asks stream_has_webrtc()).
 * RTCP is multiplexed on the RTP port; the leg's RTCP port drops all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "relayd.h"

static const char ice_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ice-char strings (RFC 8839: ALPHA / DIGIT / "+" / "/"). */
static int
random_ice(char *out, size_t n)
{
	uint8_t r[64];

	if (n > sizeof(r) || getrandom(r, n, 0) != (ssize_t)n)
		return -EIO;
	for (size_t i = 0; i < n; i++)
		out[i] = ice_chars[r[i] & 63];
	out[n] = '\0';
	return 0;
}

bool
stream_has_webrtc(const struct stream *st)
{
	return st->leg[SIDE_A].rtc != NULL || st->leg[SIDE_B].rtc != NULL;
}

bool
session_has_webrtc(const struct session *s)
{
	for (int i = 0; i < s->nstreams; i++)
		if (stream_has_webrtc(s->streams[i]))
			return true;
	return false;
}

static const char *
leg_name(const struct leg *leg)
{
	return leg->side == SIDE_A ? "A" : "B";
}

int
webrtc_lib_start(struct relayd *rd)
{
	char err[160];

	if (rd->rtc_lib != RTC_LIB_UNTRIED)
		return rd->rtc_lib == RTC_LIB_READY ? 0 : -ENOTSUP;
	if (srtp_leg_lib_init() < 0)
		snprintf(rd->rtc_lib_error, sizeof(rd->rtc_lib_error),
		    "libsrtp2 failed to start");
	else if (dtls_ctx_open(rd, err, sizeof(err)) < 0)
		snprintf(rd->rtc_lib_error, sizeof(rd->rtc_lib_error),
		    "DTLS: %s", err);
	else {
		rd->rtc_lib = RTC_LIB_READY;
		rlog(rd, LL_INFO, "webrtc: started %s: DTLS certificate %s, %s",
		    rd->conf.rtc_first_leg ? "at the first WebRTC leg" :
		    "at start", rd->conf.dtls_cert[0] ?
		    rd->conf.dtls_cert : "made now", dtls_fingerprint(rd));
		return 0;
	}
	rd->rtc_lib = RTC_LIB_FAILED;
	rlog(rd, LL_ERROR, "webrtc: %s: WebRTC legs are refused from now on "
	    "(plain RTP goes on); hello no longer lists \"webrtc\"",
	    rd->rtc_lib_error);
	return -ENOTSUP;
}

const char *
webrtc_lib_state(const struct relayd *rd)
{
	static const char *const n[] = { "untried", "ready", "failed" };

	return n[rd->rtc_lib];
}

int
webrtc_leg_enable(struct relayd *rd, struct leg *leg)
{
	struct rtc_leg *r;
	int rc;

	if (leg->rtc != NULL)
		return 0;
	if ((rc = webrtc_lib_start(rd)) < 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	if (random_ice(r->ufrag, RTC_UFRAG_LEN) < 0 ||
	    random_ice(r->pwd, RTC_PWD_LEN) < 0) {
		free(r);
		return -EIO;
	}
	r->selected = -1;
	r->server = true;
	leg->rtc = r;
	rd->totals.rtc.legs++;
	leg_unlatch(leg);
	stream_set_reason(leg->stream,
	    "WebRTC leg: ICE, DTLS and SRTP are done in userspace; such a "
	    "stream is never pushed to a kernel backend");
	return 0;
}

static void
reset_dtls(struct rtc_leg *r)
{
	dtls_conn_free(r->dtls);
	r->dtls = NULL;
	srtp_leg_free(r->srtp);
	r->srtp = NULL;
	r->dtls_state = DTLS_NEW;
	r->profile = RTC_SRTP_NONE;
}

static void
reset_ice(struct rtc_leg *r)
{
	r->ice = ICE_NEW;
	r->nvalid = 0;
	r->selected = -1;
}

static void
reset_session(struct rtc_leg *r)
{
	reset_dtls(r);
	reset_ice(r);
}

void
webrtc_leg_disable(struct leg *leg)
{
	if (leg->rtc == NULL)
		return;
	reset_session(leg->rtc);
	free(leg->rtc);
	leg->rtc = NULL;
	leg_unlatch(leg);
}

void
webrtc_set_remote(struct relayd *rd, struct leg *leg,
    const struct rtc_remote *rem)
{
	struct rtc_leg *r = leg->rtc;
	bool same_ice, same_dtls;

	if (r == NULL)
		return;
	same_ice = r->has_remote && strcmp(r->remote.ufrag, rem->ufrag) == 0 &&
	    strcmp(r->remote.pwd, rem->pwd) == 0;
	same_dtls = r->has_remote &&
	    memcmp(r->remote.fp, rem->fp, DTLS_FP_LEN) == 0;
	if (same_ice && same_dtls)
		return;		/* the same SDP again: nothing restarts */
	if (r->has_remote && !same_ice) {
		/* ICE restart (RFC 8445 9): new checks, and new credentials
		 * of ours in the reply; the DTLS association carries on. */
		rlog(rd, LL_INFO, "call %s stream %d leg %s: ICE restart: "
		    "checks start over with new credentials",
		    leg->stream->session->call_id, leg->stream->index,
		    leg_name(leg));
		reset_ice(r);
		leg_unlatch(leg);
		if (random_ice(r->ufrag, RTC_UFRAG_LEN) < 0 ||
		    random_ice(r->pwd, RTC_PWD_LEN) < 0)
			rlog(rd, LL_ERROR, "call %s: getrandom failed; the old "
			    "ICE credentials stay", leg->stream->session->call_id);
	}
	if (r->has_remote && !same_dtls) {
		rlog(rd, LL_INFO, "call %s stream %d leg %s: new certificate "
		    "fingerprint: DTLS starts over",
		    leg->stream->session->call_id, leg->stream->index,
		    leg_name(leg));
		reset_dtls(r);
	}
	r->remote = *rem;
	r->has_remote = true;
	/* The browser's passive makes us the client; else we serve. A
	 * running association keeps its roles. */
	if (r->dtls_state == DTLS_NEW)
		r->server = strcmp(rem->setup, "passive") != 0;
}

/* ---- sending on the leg's socket ---- */

static void
send_to(struct leg *leg, const struct sockaddr_storage *dst,
    const uint8_t *p, size_t len)
{
	/* Best effort like any UDP: the peer retransmits. */
	(void)sendto(leg->sock[SK_RTP].fd, p, len, MSG_DONTWAIT,
	    (const struct sockaddr *)dst, addr_len(dst));
}

static void
dtls_send(void *arg, const uint8_t *p, size_t len)
{
	struct leg *leg = arg;

	send_to(leg, &leg->rtc->dtls_peer, p, len);
}

/* ---- ICE-lite ---- */

static int
valid_index(const struct rtc_leg *r, const struct sockaddr_storage *src)
{
	for (int i = 0; i < r->nvalid; i++)
		if (addr_equal(&r->valid[i], src))
			return i;
	return -1;
}

/* The source passed a check: remember it (the oldest one goes). */
static int
validate(struct rtc_leg *r, const struct sockaddr_storage *src)
{
	int i = valid_index(r, src);

	if (i >= 0)
		return i;
	if (r->nvalid == RTC_MAX_VALID) {
		int drop = r->selected == 0 ? 1 : 0;
		memmove(&r->valid[drop], &r->valid[drop + 1],
		    (size_t)(RTC_MAX_VALID - drop - 1) * sizeof(r->valid[0]));
		if (r->selected > drop)
			r->selected--;
		r->nvalid--;
	}
	r->valid[r->nvalid] = *src;
	return r->nvalid++;
}

static void
select_peer(struct leg *leg, int i)
{
	struct rtc_leg *r = leg->rtc;

	r->selected = i;
	/* The leg's peer, as query shows and leg_destination reads. */
	raddr_from(&leg->latched[SK_RTP], &r->valid[i]);
	leg->is_latched[SK_RTP] = true;
	leg->learn.learning = false;
	leg->learn.rank = RANK_EXACT;
}

static void
start_dtls(struct relayd *rd, struct leg *leg,
    const struct sockaddr_storage *src);

static void
stun_bad(struct relayd *rd, struct leg *leg,
    const struct sockaddr_storage *src, const char *why)
{
	char buf[64];

	leg->rtc->c.stun_bad++;
	rd->totals.rtc.stun_bad++;
	leg->stats.drops++;
	rd->totals.drops++;
	rlog(rd, LL_DEBUG, "call %s stream %d leg %s: STUN from %s refused: "
	    "%s; not answered", leg->stream->session->call_id,
	    leg->stream->index, leg_name(leg), addr_fmt(src, buf, sizeof(buf)),
	    why);
}

static void
on_stun(struct relayd *rd, struct leg *leg,
    const struct sockaddr_storage *src, const uint8_t *p, size_t len)
{
	struct rtc_leg *r = leg->rtc;
	struct stun_msg m;
	uint8_t out[256];
	int i, n;

	leg->stats.stun++;
	if (stun_parse(p, len, &m) < 0) {
		stun_bad(rd, leg, src, "malformed");
		return;
	}
	if (m.type != STUN_BINDING_REQUEST)
		return;		/* indications, stray answers: ignored */
	if (!stun_username_ok(&m, r->ufrag, r->has_remote ?
	    r->remote.ufrag : NULL)) {
		stun_bad(rd, leg, src, "wrong or missing USERNAME");
		return;
	}
	if (!stun_integrity_ok(p, &m, r->pwd, strlen(r->pwd))) {
		stun_bad(rd, leg, src, "MESSAGE-INTEGRITY fails");
		return;
	}
	if (m.fp_off != 0 && !stun_fingerprint_ok(p, &m)) {
		stun_bad(rd, leg, src, "FINGERPRINT fails");
		return;
	}
	n = stun_binding_success(m.txid, src, r->pwd, strlen(r->pwd), out,
	    sizeof(out));
	if (n < 0)
		return;
	r->c.stun_ok++;
	r->last_check_ms = now_ms();
	r->consent_lost = false;
	i = validate(r, src);
	if (r->ice == ICE_NEW)
		r->ice = ICE_CHECKED;
	if (m.use_candidate) {
		r->ice = ICE_NOMINATED;
		select_peer(leg, i);
	} else if (r->selected < 0 || r->ice != ICE_NOMINATED)
		select_peer(leg, i);
	send_to(leg, src, out, (size_t)n);
	/* We are the DTLS client (the browser said passive): start now. */
	if (!r->server && r->dtls_state == DTLS_NEW)
		start_dtls(rd, leg, src);
}

/* ---- DTLS ---- */

static void
dtls_result(struct relayd *rd, struct leg *leg, enum dtls_step step)
{
	struct rtc_leg *r = leg->rtc;
	struct rtc_srtp_keys k;
	const char *cid = leg->stream->session->call_id;
	int rc;

	switch (step) {
	case DTLS_STEP_AGAIN:
		return;
	case DTLS_STEP_CLOSED:
		r->dtls_state = DTLS_CLOSED;
		rlog(rd, LL_INFO, "call %s stream %d leg %s: DTLS closed by the "
		    "peer", cid, leg->stream->index, leg_name(leg));
		return;
	case DTLS_STEP_FAILED:
		r->dtls_state = DTLS_FAILED;
		if (dtls_conn_bad_fingerprint(r->dtls)) {
			r->c.dtls_bad_fingerprint++;
			rd->totals.rtc.dtls_bad_fingerprint++;
		} else {
			r->c.dtls_fail++;
			rd->totals.rtc.dtls_fail++;
		}
		rlog(rd, LL_WARNING, "call %s stream %d leg %s: DTLS handshake "
		    "failed: %s; no media on this leg", cid, leg->stream->index,
		    leg_name(leg), dtls_conn_error(r->dtls));
		return;
	case DTLS_STEP_DONE:
		break;
	}
	rc = dtls_conn_srtp_keys(r->dtls, &k);
	if (rc == 0)
		rc = srtp_leg_new(&k, &r->srtp);
	r->profile = rc == 0 ? k.profile : RTC_SRTP_NONE;
	explicit_bzero(&k, sizeof(k));
	if (rc < 0) {
		r->dtls_state = DTLS_FAILED;
		r->c.dtls_fail++;
		rd->totals.rtc.dtls_fail++;
		rlog(rd, LL_WARNING, "call %s stream %d leg %s: SRTP keys: %s; "
		    "no media on this leg", cid, leg->stream->index,
		    leg_name(leg), strerror(-rc));
		return;
	}
	r->dtls_state = DTLS_CONNECTED;
	rlog(rd, LL_INFO, "call %s stream %d leg %s: DTLS done, SRTP %s",
	    cid, leg->stream->index, leg_name(leg),
	    srtp_leg_profile_name(r->profile));
}

static void
start_dtls(struct relayd *rd, struct leg *leg,
    const struct sockaddr_storage *src)
{
	struct rtc_leg *r = leg->rtc;

	if (!r->has_remote)
		return;		/* no fingerprint to check against yet */
	r->dtls = dtls_conn_new(rd->dtls, r->server, r->remote.fp, dtls_send,
	    leg);
	if (r->dtls == NULL) {
		rlog(rd, LL_ERROR, "call %s: DTLS: out of memory",
		    leg->stream->session->call_id);
		return;
	}
	r->dtls_peer = *src;
	r->dtls_state = DTLS_HANDSHAKE;
	if (!r->server)
		dtls_result(rd, leg, dtls_conn_start(r->dtls));
}

static void
on_dtls(struct relayd *rd, struct leg *leg,
    const struct sockaddr_storage *src, const uint8_t *p, size_t len)
{
	struct rtc_leg *r = leg->rtc;

	if (r->dtls_state == DTLS_NEW && r->server)
		start_dtls(rd, leg, src);
	if (r->dtls == NULL || r->dtls_state == DTLS_FAILED ||
	    r->dtls_state == DTLS_CLOSED) {
		leg->stats.drops++;
		rd->totals.drops++;
		return;
	}
	/* One handshake per leg: its peer may move (ICE) but not fork. */
	r->dtls_peer = *src;
	dtls_result(rd, leg, dtls_conn_input(r->dtls, p, len));
}

/* ---- the packet path ---- */

static bool
drop(struct relayd *rd, struct leg *leg)
{
	leg->stats.drops++;
	rd->totals.drops++;
	return false;
}

bool
webrtc_input(struct relayd *rd, struct leg *leg, enum sock_kind kind,
    const struct sockaddr_storage *src, uint8_t *p, size_t *len)
{
	struct rtc_leg *r = leg->rtc;
	uint8_t b0;

	if (kind != SK_RTP || *len == 0)
		return drop(rd, leg);	/* rtcp-mux: the RTCP port is unused */
	b0 = p[0];
	if (b0 <= 3) {			/* RFC 7983 demux: STUN */
		on_stun(rd, leg, src, p, *len);
		return false;
	}
	if (valid_index(r, src) < 0) {	/* DTLS or media: ICE first */
		r->c.not_ice++;
		rd->totals.rtc.not_ice++;
		return drop(rd, leg);
	}
	if (b0 >= 20 && b0 <= 63) {
		on_dtls(rd, leg, src, p, *len);
		return false;
	}
	if (b0 < 128 || b0 > 191 || r->dtls_state != DTLS_CONNECTED ||
	    r->srtp == NULL)
		return drop(rd, leg);
	if (srtp_leg_unprotect(r->srtp, p, len, pkt_is_rtcp(p, *len)) < 0) {
		r->c.srtp_auth_fail++;
		rd->totals.rtc.srtp_auth_fail++;
		return drop(rd, leg);
	}
	r->c.srtp_in++;
	rd->totals.rtc.srtp_in++;
	return true;
}

/*
 * Consent freshness (RFC 7675): a browser that stopped sending valid
 * checks (gone, or its NAT mapping now leads elsewhere) gets no more
 * media from us until it checks again.
 */
static bool
consent_ok(struct relayd *rd, struct leg *leg, uint64_t now)
{
	struct rtc_leg *r = leg->rtc;

	if (now < r->last_check_ms ||
	    (double)(now - r->last_check_ms) < rd->conf.consent_timeout * 1000)
		return true;
	r->c.consent_expired++;
	if (!r->consent_lost) {
		r->consent_lost = true;
		rlog(rd, LL_INFO, "call %s stream %d leg %s: no valid ICE check "
		    "for %.1f s: consent expired, media to the browser stops "
		    "until it checks again", leg->stream->session->call_id,
		    leg->stream->index, leg_name(leg), rd->conf.consent_timeout);
	}
	return false;
}

bool
webrtc_output(struct relayd *rd, struct leg *leg, uint8_t *p, size_t *len,
    struct sockaddr_storage *dst, uint64_t now)
{
	struct rtc_leg *r = leg->rtc;

	if (r->dtls_state != DTLS_CONNECTED || r->srtp == NULL ||
	    r->selected < 0 || !consent_ok(rd, leg, now))
		return false;
	if (srtp_leg_protect(r->srtp, p, len, pkt_is_rtcp(p, *len)) < 0)
		return false;
	r->c.srtp_out++;
	rd->totals.rtc.srtp_out++;
	*dst = r->valid[r->selected];
	return true;
}

void
webrtc_tick(struct relayd *rd, struct leg *leg)
{
	(void)rd;
	if (leg->rtc != NULL && leg->rtc->dtls != NULL &&
	    leg->rtc->dtls_state == DTLS_HANDSHAKE)
		dtls_conn_tick(leg->rtc->dtls);
}

/* ---- JSON ---- */

static const char *
setup_reply(const struct rtc_leg *r)
{
	if (!r->has_remote)
		return "actpass";	/* our offer: the browser chooses */
	return r->server ? "passive" : "active";
}

void
webrtc_reply(const struct relayd *rd, const struct leg *leg, json_t *o)
{
	const struct rtc_leg *r = leg->rtc;
	const char *adv = rd->conf.ifaces[leg->iface].advertise;

	json_object_set_new(o, "transport", json_string(RTC_TRANSPORT));
	json_object_set_new(o, "rtcp_mux", json_true());
	json_object_set_new(o, "rtcp_port", json_integer(leg->port));
	json_object_set_new(o, "ice_ufrag", json_string(r->ufrag));
	json_object_set_new(o, "ice_pwd", json_string(r->pwd));
	json_object_set_new(o, "ice_lite", json_true());
	json_object_set_new(o, "fingerprint",
	    json_string(dtls_fingerprint(rd)));
	json_object_set_new(o, "setup", json_string(setup_reply(r)));
	json_object_set_new(o, "candidates", json_pack("[{s:s, s:i, s:I, "
	    "s:s}]", "address", adv, "port", leg->port,
	    "priority", (json_int_t)2130706431, "foundation", "1"));
}

json_t *
webrtc_json(const struct leg *leg)
{
	static const char *const ice[] = { "new", "checked", "nominated" };
	static const char *const dtls[] = { "new", "handshake", "connected",
		"failed", "closed" };
	const struct rtc_leg *r = leg->rtc;
	char buf[64];
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s}", "ice", ice[r->ice],
	    "dtls", dtls[r->dtls_state], "dtls_role",
	    r->server ? "server" : "client", "srtp_profile",
	    srtp_leg_profile_name(r->profile));
	json_object_set_new(o, "selected", r->selected < 0 ? json_null() :
	    json_string(addr_fmt(&r->valid[r->selected], buf, sizeof(buf))));
	json_object_update_new(o, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I}", "consent_expired",
	    (json_int_t)r->c.consent_expired, "stun_ok", (json_int_t)r->c.stun_ok,
	    "stun_bad", (json_int_t)r->c.stun_bad,
	    "dtls_bad_fingerprint", (json_int_t)r->c.dtls_bad_fingerprint,
	    "dtls_fail", (json_int_t)r->c.dtls_fail,
	    "srtp_auth_fail", (json_int_t)r->c.srtp_auth_fail,
	    "srtp_in", (json_int_t)r->c.srtp_in,
	    "srtp_out", (json_int_t)r->c.srtp_out,
	    "not_ice", (json_int_t)r->c.not_ice));
	return o;
}

/* stats: every WebRTC leg since start, and those alive now. */
json_t *
webrtc_totals_json(const struct relayd *rd)
{
	const struct rtc_totals *t = &rd->totals.rtc;
	json_int_t active = 0;

	for (const struct session *s = rd->sessions.first; s != NULL;
	    s = s->next)
		for (int i = 0; i < s->nstreams; i++)
			active += (s->streams[i]->leg[SIDE_A].rtc != NULL) +
			    (s->streams[i]->leg[SIDE_B].rtc != NULL);
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I}", "state", webrtc_lib_state(rd),
	    "legs", (json_int_t)t->legs, "legs_active", active,
	    "stun_bad", (json_int_t)t->stun_bad,
	    "dtls_fail", (json_int_t)t->dtls_fail,
	    "dtls_bad_fingerprint", (json_int_t)t->dtls_bad_fingerprint,
	    "srtp_auth_fail", (json_int_t)t->srtp_auth_fail,
	    "srtp_in", (json_int_t)t->srtp_in,
	    "srtp_out", (json_int_t)t->srtp_out,
	    "not_ice", (json_int_t)t->not_ice);

	if (rd->rtc_lib == RTC_LIB_FAILED)
		json_object_set_new(o, "error", json_string(rd->rtc_lib_error));
	return o;
}
