/*
 * commands.c: the relay's commands (PROTOCOL.md). Requests arrive here
 * already validated by proto/ (types, required and unknown fields); what
 * is checked here is meaning: addresses, interface names, tags, counts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "relayd.h"

static const char *const dir_names[] = {
	[DIR_SENDRECV] = "sendrecv", [DIR_SENDONLY] = "sendonly",
	[DIR_RECVONLY] = "recvonly", [DIR_INACTIVE] = "inactive",
};

static const char *
str(json_t *req, const char *key)
{
	return json_string_value(json_object_get(req, key));
}

static json_t *
error_reply(json_t *id, struct proto_error *err)
{
	return proto_reply_error(id, err);
}

static json_t * __attribute__((format(printf, 3, 4)))
fail(json_t *id, enum proto_err code, const char *fmt, ...)
{
	struct proto_error err = { .code = code };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	proto_utf8_trim(err.message);
	return proto_reply_error(id, &err);
}

static double
seconds_since(uint64_t start_ms)
{
	return (double)(now_ms() - start_ms) / 1000.0;
}

/* ---- JSON views of sessions ---- */

/*
 * Members set one by one, keys being literals: json_pack scanned its
 * format for every leg of every delete reply (issue 16).
 */
static void
set(json_t *o, const char *key, json_t *v)
{
	json_object_set_new_nocheck(o, key, v);
}

static json_t *
addr_json(const struct sockaddr_storage *ss, bool set)
{
	char buf[64];

	return set ? json_string(addr_fmt(ss, buf, sizeof(buf))) : json_null();
}

/* Endpoint learning of a leg (latch.c): what a hijack attempt met. */
static json_t *
learning_json(const struct leg *leg)
{
	const struct leg_learn *l = &leg->learn;
	bool has = leg->is_latched[SK_RTP];

	json_t *o = json_object();

	set(o, "state", json_string_nocheck(!has ? "open" :
	    l->learning ? "learning" : "fixed"));
	set(o, "source", addr_json(RADDR_SS(&leg->latched[SK_RTP]), has));
	set(o, "rank", json_string_nocheck(learn_rank_name(latch_rank(leg))));
	set(o, "relearns", json_integer((json_int_t)l->relearns));
	return o;
}

static json_t *
stats_json(const struct leg_stats *st)
{
	json_t *o = json_object();

	set(o, "packets", json_integer((json_int_t)st->packets));
	set(o, "bytes", json_integer((json_int_t)st->bytes));
	set(o, "drops", json_integer((json_int_t)st->drops));
	set(o, "stun", json_integer((json_int_t)st->stun));
	set(o, "lost", json_integer((json_int_t)st->lost));
	set(o, "last_seen", json_integer((json_int_t)st->last_seen_wall));
	return o;
}

static json_t *
leg_json(const struct relayd *rd, const struct leg *leg)
{
	const struct iface_conf *ifc = &rd->conf.ifaces[leg->iface];
	const struct leg_stats *st = &leg->stats;
	struct sockaddr_storage local = ifc->bind;
	char buf[80];
	json_t *o;

	if (addr_is_any(&local))
		addr_parse(ifc->advertise, 0, &local);
	addr_set_port(&local, leg->port);
	o = json_object();
	set(o, "side", json_string_nocheck(leg->side == SIDE_A ? "A" : "B"));
	set(o, "interface", json_string(ifc->name));
	set(o, "local", json_string_nocheck(addr_fmt(&local, buf,
	    sizeof(buf))));
	addr_set_port(&local, (uint16_t)(leg->port + 1));
	set(o, "local_rtcp", json_string_nocheck(addr_fmt(&local, buf,
	    sizeof(buf))));
	set(o, "sdp", addr_json(RADDR_SS(&leg->sdp.rtp), leg->sdp.set));
	set(o, "latched", addr_json(RADDR_SS(&leg->latched[SK_RTP]),
	    leg->is_latched[SK_RTP] && !leg->learn.learning));
	set(o, "latched_rtcp", addr_json(RADDR_SS(&leg->latched[SK_RTCP]),
	    leg->is_latched[SK_RTCP]));
	set(o, "learning", learning_json(leg));
	/* false while the kernel carries it (legsock.c), or a port could
	 * not be bound again: bind_error says why. */
	set(o, "sockets", json_boolean(leg_bound(leg)));
	if (leg->bind_err < 0)
		json_object_set_new(o, "bind_error",
		    json_string(strerror(-leg->bind_err)));
	if (leg->transport[0] != '\0')
		json_object_set_new(o, "transport", json_string(leg->transport));
	if (leg->rtc != NULL)
		json_object_set_new(o, "webrtc", webrtc_json(leg));
	set(o, "direction", json_string_nocheck(dir_names[leg->sdp.direction]));
	set(o, "stats", stats_json(st));
	return o;
}

json_t *
streams_to_json(const struct relayd *rd, const struct session *s)
{
	json_t *arr = json_array();

	for (int i = 0; i < s->nstreams; i++) {
		const struct stream *st = s->streams[i];
		json_t *o = json_object(), *legs = json_array();

		set(o, "index", json_integer(i));
		set(o, "type", json_string(st->type));
		set(o, "transport", json_string(st->transport));
		set(o, "path", json_string(stream_path_name(rd, st)));
		set(o, "path_reason", json_string(stream_reason(st)));
		json_array_append_new(legs, leg_json(rd, &st->leg[SIDE_A]));
		json_array_append_new(legs, leg_json(rd, &st->leg[SIDE_B]));
		set(o, "legs", legs);
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *
session_to_json(const struct relayd *rd, const struct session *s)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f}",
	    "call_id", s->call_id, "from_tag", s->tag[SIDE_A],
	    "to_tag", s->tag[SIDE_B],
	    "state", s->state == SS_OFFERED ? "offered" : "answered",
	    "created", (json_int_t)s->created_wall,
	    "duration", seconds_since(s->created_ms));

	if (s->label[0] != '\0')
		json_object_set_new(o, "label", json_string(s->label));
	json_object_set_new(o, "ringing", json_boolean(s->ringing));
	json_object_set_new(o, "streams", streams_to_json(rd, s));
	return o;
}

/* ---- offer / answer ---- */

static int
parse_direction(const char *name, enum direction *d)
{
	for (size_t i = 0; i < sizeof(dir_names) / sizeof(dir_names[0]); i++)
		if (name != NULL && strcmp(name, dir_names[i]) == 0) {
			*d = (enum direction)i;
			return 0;
		}
	return -1;
}

/* One media entry into an endpoint; addresses are checked here. */
static int
parse_media(const char *cmd, json_t *m, size_t i, struct endpoint *ep,
    struct proto_error *err)
{
	const char *addr = str(m, "address");
	json_t *rtcp = json_object_get(m, "rtcp_port");
	json_int_t port = json_integer_value(json_object_get(m, "rtp_port"));

	memset(ep, 0, sizeof(*ep));
	ep->set = true;
	if (addr_parse(addr, (uint16_t)port, &ep->rtp) < 0)
		return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu].address:"
		    " '%s' is not an IPv4 or IPv6 address", cmd, i, addr);
	ep->rtcp = ep->rtp;
	ep->rtcp_mux = json_is_true(json_object_get(m, "rtcp_mux"));
	/* RTCP port 0 would be "any port" to the kernel's source check. */
	if (port != 0 && !ep->rtcp_mux && (rtcp != NULL ?
	    json_integer_value(rtcp) == 0 : port == 65535))
		return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu]: "
		    "rtp_port %lld leaves no RTCP port; give rtcp_port (not 0) "
		    "or rtcp_mux", cmd, i, (long long)port);
	addr_set_port(&ep->rtcp, rtcp != NULL ?
	    (uint16_t)json_integer_value(rtcp) : (uint16_t)(port + 1));
	if (json_object_get(m, "direction") != NULL &&
	    parse_direction(str(m, "direction"), &ep->direction) < 0)
		return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu].direction:"
		    " unknown", cmd, i);
	return 0;
}

static void
copy_field(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
	proto_utf8_trim(dst);	/* cut to fit: keep it valid UTF-8 */
}

/* What a media entry says about WebRTC, checked before anything changes. */
struct media_rtc {
	const char		*transport;	/* of the sender's SDP */
	const char		*peer_transport;	/* NULL: default */
	const char		*type_atom, *transport_atom, *peer_atom;
	bool			 savpf;
	struct rtc_remote	 rem;
};

static bool
ice_chars_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '+' || *s == '/'))
			return false;
	return true;
}

static int
parse_media_rtc(const char *cmd, json_t *m, size_t i, struct media_rtc *mr,
    struct proto_error *err)
{
	static const char *const need[] = { "ice_ufrag", "ice_pwd",
		"fingerprint", "setup" };
	json_t *t = json_object_get(m, "transport");

	memset(mr, 0, sizeof(*mr));
	mr->transport = t != NULL ? json_string_value(t) : "RTP/AVP";
	mr->peer_transport = str(m, "peer_transport");
	mr->savpf = strcmp(mr->transport, RTC_TRANSPORT) == 0;
	for (size_t k = 0; k < sizeof(need) / sizeof(need[0]); k++) {
		bool has = json_object_get(m, need[k]) != NULL;
		if (mr->savpf && !has)
			return proto_errorf(err, PROTO_E_MISSING, "%s: media[%zu]:"
			    " transport %s requires '%s'", cmd, i,
			    RTC_TRANSPORT, need[k]);
		if (!mr->savpf && has)
			return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu]."
			    "%s: only with transport %s", cmd, i, need[k],
			    RTC_TRANSPORT);
	}
	if (!mr->savpf)
		return 0;
	if (!json_is_true(json_object_get(m, "rtcp_mux")))
		return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu]."
		    "rtcp_mux: must be true with transport %s", cmd, i,
		    RTC_TRANSPORT);
	copy_field(mr->rem.ufrag, sizeof(mr->rem.ufrag), str(m, "ice_ufrag"));
	copy_field(mr->rem.pwd, sizeof(mr->rem.pwd), str(m, "ice_pwd"));
	copy_field(mr->rem.setup, sizeof(mr->rem.setup), str(m, "setup"));
	if (!ice_chars_ok(mr->rem.ufrag) || !ice_chars_ok(mr->rem.pwd))
		return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu]: "
		    "ice_ufrag and ice_pwd take only A-Z a-z 0-9 + /", cmd, i);
	if (dtls_fingerprint_parse(str(m, "fingerprint"), mr->rem.fp) < 0)
		return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu]."
		    "fingerprint: expected \"sha-256 \" and 32 hex bytes "
		    "separated by ':'", cmd, i);
	return 0;
}

/*
 * The media entry's SDP words as atoms (atom.c), before anything changes:
 * a full table refuses only words it has never seen.
 */
static int
media_atoms(struct relayd *rd, const char *cmd, json_t *m, size_t i,
    struct media_rtc *mr, struct proto_error *err)
{
	const char *bad = NULL;

	if ((mr->type_atom = atom_get(&rd->atoms, str(m, "type"),
	    ATOM_TYPE_MAX)) == NULL)
		bad = "type";
	else if ((mr->transport_atom = atom_get(&rd->atoms, mr->transport,
	    ATOM_MAXLEN)) == NULL)
		bad = "transport";
	else if (mr->peer_transport != NULL && (mr->peer_atom =
	    atom_get(&rd->atoms, mr->peer_transport, ATOM_MAXLEN)) == NULL)
		bad = "peer_transport";
	if (bad == NULL)
		return 0;
	return proto_errorf(err, PROTO_E_VALUE, "%s: media[%zu].%s: relayd "
	    "keeps at most %d distinct SDP words and has no room for this new "
	    "one", cmd, i, bad, ATOMS_MAX);
}

/* Each leg speaks its peer's transport; a SAVPF one is a WebRTC leg. */
static int
apply_media_rtc(struct relayd *rd, struct stream *st, int side,
    const struct media_rtc *mr, struct proto_error *err)
{
	struct leg *me = &st->leg[side], *peer = &st->leg[!side];
	struct leg *legs[2] = { me, peer };
	int rc;

	me->transport = mr->transport_atom;
	if (mr->peer_atom != NULL)
		peer->transport = mr->peer_atom;
	else if (peer->transport[0] == '\0')
		peer->transport = mr->transport_atom;
	for (int k = 0; k < 2; k++) {
		bool want = strcmp(legs[k]->transport, RTC_TRANSPORT) == 0;
		if (!want) {
			webrtc_leg_disable(legs[k]);
			continue;
		}
		if ((rc = webrtc_leg_enable(rd, legs[k])) == -ENOTSUP)
			return proto_errorf(err, PROTO_E_INTERNAL, "WebRTC legs "
			    "are not available on this relay: %s",
			    rd->rtc_lib_error);
		if (rc < 0)
			return proto_errorf(err, PROTO_E_INTERNAL, "WebRTC leg: "
			    "%s", strerror(-rc));
	}
	if (mr->savpf)
		webrtc_set_remote(rd, me, &mr->rem);
	return 0;
}

/* The relay's side of the other leg, for the SDP sent on. */
static json_t *
media_reply(const struct relayd *rd, const struct stream *st, int out_side,
    const struct endpoint *from)
{
	const struct leg *leg = &st->leg[out_side];
	bool disabled = addr_port(&from->rtp) == 0;
	json_t *o;

	o = json_object();
	set(o, "type", json_string(st->type));
	set(o, "transport", json_string(leg->transport[0] != '\0' ?
	    leg->transport : st->transport));
	set(o, "address", json_string(rd->conf.ifaces[leg->iface].advertise));
	set(o, "rtp_port", json_integer(disabled ? 0 : leg->port));
	set(o, "rtcp_port", json_integer(disabled ? 0 : leg->port + 1));
	/* a browser's rtcp-mux is not the SIP side's */
	set(o, "rtcp_mux", json_boolean(from->rtcp_mux && (leg->rtc != NULL ||
	    !st->leg[!out_side].rtc)));
	set(o, "direction", json_string_nocheck(dir_names[from->direction]));
	if (leg->rtc != NULL && !disabled)
		webrtc_reply(rd, leg, o);	/* ICE-lite, DTLS, candidates */
	return o;
}

static int
find_iface(const struct relayd *rd, const char *name)
{
	for (int i = 0; i < rd->conf.nifaces; i++)
		if (strcmp(rd->conf.ifaces[i].name, name) == 0)
			return i;
	return -1;
}

static int
pick_ifaces(struct relayd *rd, json_t *req, int iface[2],
    struct proto_error *err)
{
	json_t *names = json_object_get(req, "interfaces");
	size_t n = json_array_size(names);

	iface[SIDE_A] = iface[SIDE_B] = 0;
	for (size_t i = 0; i < n && i < 2; i++) {
		const char *name = json_string_value(json_array_get(names, i));
		int idx = find_iface(rd, name);
		if (idx < 0)
			return proto_errorf(err, PROTO_E_VALUE, "offer: "
			    "interfaces[%zu]: no interface named '%s'", i, name);
		iface[i] = idx;
		if (n == 1)
			iface[SIDE_B] = idx;
	}
	return 0;
}

/*
 * Apply a media list from `side` (the side that sent this SDP) and reply
 * with the other side's ports. Shared by offer and answer.
 */
static json_t *
apply_media(struct relayd *rd, const char *cmd, struct session *s, int side,
    json_t *media, json_t *id, struct proto_error *err)
{
	struct endpoint ep[PROTO_MAX_MEDIA];
	struct media_rtc mr[PROTO_MAX_MEDIA];
	size_t n = json_array_size(media), i;
	json_t *m, *reply, *out;

	json_array_foreach(media, i, m)
		if (parse_media(cmd, m, i, &ep[i], err) < 0 ||
		    parse_media_rtc(cmd, m, i, &mr[i], err) < 0 ||
		    media_atoms(rd, cmd, m, i, &mr[i], err) < 0)
			return NULL;
	if (session_add_streams(rd, s, (int)n, err) < 0)
		return NULL;
	out = json_array();
	for (i = 0; i < n; i++) {
		struct stream *st = s->streams[i];
		st->type = mr[i].type_atom;
		st->transport = mr[i].transport_atom;
		/* A port lost to another process while in the kernel: retry. */
		if (st->path != PATH_KERNEL && stream_sockless(st))
			stream_sockets_open(rd, st);
		if (leg_set_endpoint(&st->leg[side], &ep[i]) &&
		    st->path == PATH_KERNEL)
			backend_stream_remove(rd, st);	/* re-latch first */
		if (apply_media_rtc(rd, st, side, &mr[i], err) < 0) {
			json_decref(out);
			return NULL;
		}
		if (stream_has_webrtc(st) && st->path == PATH_KERNEL)
			backend_stream_remove(rd, st);
		backend_stream_learn(rd, st);	/* both SDPs in: kmod learns */
		json_array_append_new(out, media_reply(rd, st, !side, &ep[i]));
	}
	reply = proto_reply_ok(id);
	json_object_set_new(reply, "call_id", json_string(s->call_id));
	json_object_set_new(reply, "media", out);
	return reply;	/* the caller journals the session */
}

/*
 * Whose media a request carries: `sender` names it ("caller": leg A,
 * "callee": leg B); without it, an offer is the caller's and an answer
 * the callee's, or the from_tag of a re-offer says (the older form).
 * A late offer (the caller's INVITE had no SDP) is the callee's offer
 * and the caller's answer; the tags keep their dialog meaning: from_tag
 * the caller's, to_tag the callee's.
 */
static bool
sent_by(json_t *req, const char *who)
{
	const char *s = str(req, "sender");

	return s != NULL && strcmp(s, who) == 0;
}

/* A callee's offer (a late offer, or a re-offer): the call's tags, both. */
static int
callee_side(struct session *s, const char *from, const char *to,
    struct proto_error *err)
{
	if (to == NULL)
		return proto_errorf(err, PROTO_E_VALUE, "offer: sender "
		    "'callee' needs to_tag (the callee's tag)");
	if (strcmp(from, s->tag[SIDE_A]) != 0)
		return proto_errorf(err, PROTO_E_VALUE, "offer: from_tag '%s' "
		    "is not the caller of call '%s'", from, s->call_id);
	if (s->tag[SIDE_B][0] == '\0') {
		if (session_set_str(&s->tag[SIDE_B], to) < 0)
			return proto_errorf(err, PROTO_E_INTERNAL,
			    "out of memory");
	} else if (strcmp(to, s->tag[SIDE_B]) != 0)
		return proto_errorf(err, PROTO_E_VALUE, "offer: to_tag '%s' is "
		    "not the callee of call '%s'", to, s->call_id);
	return SIDE_B;
}

static json_t *
cmd_offer(struct relayd *rd, json_t *req, json_t *id)
{
	const char *call_id = str(req, "call_id"), *from = str(req, "from_tag");
	const char *to = str(req, "to_tag");
	json_t *media = json_object_get(req, "media"), *reply;
	struct proto_error err;
	struct session *s;
	bool created = false;
	int iface[2], side;

	s = session_find(&rd->sessions, call_id);
	if (s == NULL) {
		if (pick_ifaces(rd, req, iface, &err) < 0)
			return error_reply(id, &err);
		s = session_create(rd, call_id, from, iface[SIDE_A], iface[SIDE_B]);
		if (s == NULL)
			return fail(id, PROTO_E_INTERNAL, "out of memory");
		created = true;
	}
	/* A re-INVITE may come from either party: its from-tag says which,
	 * unless `sender` does. */
	if (sent_by(req, "callee")) {
		if ((side = callee_side(s, from, to, &err)) < 0) {
			if (created)
				session_destroy(rd, s);
			return error_reply(id, &err);
		}
	} else if (strcmp(from, s->tag[SIDE_A]) == 0)
		side = SIDE_A;
	else if (strcmp(from, s->tag[SIDE_B]) == 0)
		side = SIDE_B;
	else
		return fail(id, PROTO_E_VALUE, "offer: from_tag '%s' is not a "
		    "party of call '%s'", from, call_id);
	if (json_array_size(media) < (size_t)s->nstreams)
		return fail(id, PROTO_E_VALUE, "offer: call '%s' has more "
		    "streams than this offer (an m= line cannot be removed)",
		    call_id);
	if ((to != NULL && side == SIDE_A && s->tag[SIDE_B][0] == '\0' &&
	    session_set_str(&s->tag[SIDE_B], to) < 0) ||
	    (json_object_get(req, "label") != NULL &&
	    session_set_str(&s->label, str(req, "label") ?: "") < 0)) {
		if (created)
			session_destroy(rd, s);
		return fail(id, PROTO_E_INTERNAL, "offer: out of memory");
	}
	/* Only a new call rings: a re-offer never restarts it. */
	if (created && json_is_true(json_object_get(req, "ringing")))
		s->ringing = true;
	reply = apply_media(rd, "offer", s, side, media, id, &err);
	if (reply != NULL) {
		journal_save(rd, s);
		timers_arm(rd, s);
		return reply;
	}
	if (created)
		session_destroy(rd, s);
	else
		timers_arm(rd, s);	/* a part may have applied (hold) */
	rlog(rd, LL_WARNING, "offer call %s: %s", call_id, err.message);
	return error_reply(id, &err);
}

/*
 * A ringing call moved on to another callee after early media (the
 * controller failed over, or diverted): the new callee's answer (another
 * to_tag) replaces the B side. Leg B forgets the old callee's address
 * and learns the new one from its answer; the counters go on, so the
 * call's statistics cover both.
 */
static void
new_callee(struct relayd *rd, struct session *s, const char *to)
{
	rlog(rd, LL_INFO, "call %s: callee '%s' replaces '%s'", s->call_id,
	    to, s->tag[SIDE_B]);
	if (session_set_str(&s->tag[SIDE_B], to) < 0)
		rlog(rd, LL_ERROR, "call %s: callee '%s': out of memory; the "
		    "old to_tag stays", s->call_id, to);
	for (int i = 0; i < s->nstreams; i++)
		/* "changed" for leg_set_endpoint(): unlatched, out of the
		 * kernel, whatever the new address is */
		s->streams[i]->leg[SIDE_B].sdp.set = false;
}

static json_t *
cmd_answer(struct relayd *rd, json_t *req, json_t *id)
{
	const char *call_id = str(req, "call_id"), *from = str(req, "from_tag");
	const char *to = str(req, "to_tag");
	json_t *media = json_object_get(req, "media"), *reply;
	struct proto_error err;
	struct session *s = session_find(&rd->sessions, call_id);
	int side;

	if (s == NULL)
		return fail(id, PROTO_E_NOT_FOUND, "answer: no call '%s'",
		    call_id);
	if (s->tag[SIDE_B][0] == '\0' && strcmp(from, s->tag[SIDE_A]) == 0 &&
	    session_set_str(&s->tag[SIDE_B], to) < 0)
		return fail(id, PROTO_E_INTERNAL, "answer: out of memory");
	if (sent_by(req, "caller") && strcmp(from, s->tag[SIDE_A]) == 0 &&
	    strcmp(to, s->tag[SIDE_B]) == 0)
		side = SIDE_A;	/* the caller's answer to a late offer */
	else if (sent_by(req, "caller"))
		return fail(id, PROTO_E_VALUE, "answer: tags '%s'/'%s' are not "
		    "the caller/callee of the call", from, to);
	else if (strcmp(to, s->tag[SIDE_B]) == 0 &&
	    strcmp(from, s->tag[SIDE_A]) == 0)
		side = SIDE_B;
	else if (strcmp(to, s->tag[SIDE_A]) == 0 &&
	    strcmp(from, s->tag[SIDE_B]) == 0)
		side = SIDE_A;	/* answer to a re-INVITE from the callee */
	else if (s->ringing && strcmp(from, s->tag[SIDE_A]) == 0)
		side = -1;	/* another callee: failover, diversion */
	else
		return fail(id, PROTO_E_VALUE, "answer: tags '%s'/'%s' do not "
		    "match the call", from, to);
	if (json_array_size(media) != (size_t)s->nstreams)
		return fail(id, PROTO_E_VALUE, "answer: call '%s' has a "
		    "different number of streams than this answer", call_id);
	if (side < 0) {
		new_callee(rd, s, to);
		side = SIDE_B;
	}
	reply = apply_media(rd, "answer", s, side, media, id, &err);
	if (reply == NULL) {
		timers_arm(rd, s);	/* a part may have applied (hold) */
		return error_reply(id, &err);
	}
	s->state = SS_ANSWERED;
	/*
	 * The final answer ends the ringing: the setup timeout starts. From
	 * either side: with a late offer the caller answers (in its ACK).
	 */
	if (s->ringing && !json_is_true(json_object_get(req, "early"))) {
		s->ringing = false;
		s->answered_ms = now_ms();
	}
	journal_save(rd, s);
	timers_arm(rd, s);
	return reply;
}

/* ---- the rest ---- */

/* After the streams left the backend: the final counters. */
static json_t *
delete_reply(struct relayd *rd, const struct session *s, void *id)
{
	json_t *reply = proto_reply_ok(id);

	json_object_set_new(reply, "call_id", json_string(s->call_id));
	json_object_set_new(reply, "duration",
	    json_real(seconds_since(s->created_ms)));
	json_object_set_new(reply, "streams", streams_to_json(rd, s));
	return reply;
}

static json_t *
cmd_delete(struct relayd *rd, json_t *req, json_t *id)
{
	const char *call_id = str(req, "call_id"), *from = str(req, "from_tag");
	struct session *s = session_find(&rd->sessions, call_id);

	if (s == NULL)
		return fail(id, PROTO_E_NOT_FOUND, "delete: no call '%s'",
		    call_id);
	if (from != NULL && strcmp(from, s->tag[SIDE_A]) != 0 &&
	    strcmp(from, s->tag[SIDE_B]) != 0)
		return fail(id, PROTO_E_NOT_FOUND, "delete: call '%s' has no "
		    "party with from_tag '%s'", call_id, from);
	rlog(rd, LL_INFO, "call %s deleted", call_id);
	return session_finish(rd, s, delete_reply, id);
}

static json_t *
cmd_query(struct relayd *rd, json_t *req, json_t *id)
{
	const char *call_id = str(req, "call_id");
	struct session *s = session_find(&rd->sessions, call_id);
	json_t *reply, *view;

	if (s == NULL)
		return fail(id, PROTO_E_NOT_FOUND, "query: no call '%s'",
		    call_id);
	backend_sync_session(rd, s);
	reply = proto_reply_ok(id);
	view = session_to_json(rd, s);
	json_object_update(reply, view);
	json_decref(view);
	return reply;
}

/*
 * One page of calls in creation order: a page stays far below a
 * connection's output cap whatever the number of sessions (each entry is
 * at most ~900 bytes). `next` is the offset of the following page.
 */
static json_t *
cmd_list(struct relayd *rd, json_t *req, json_t *id)
{
	json_t *reply = proto_reply_ok(id), *calls = json_array();
	json_t *jo = json_object_get(req, "offset");
	json_t *jl = json_object_get(req, "limit");
	size_t off = jo ? (size_t)json_integer_value(jo) : 0;
	size_t limit = jl ? (size_t)json_integer_value(jl) : PROTO_LIST_MAX;
	struct session *s = rd->sessions.first;
	size_t i;

	for (i = 0; s != NULL && i < off; i++)
		s = s->next;
	for (i = 0; s != NULL && i < limit; i++, s = s->next)
		json_array_append_new(calls, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:b, s:f, s:i}", "call_id", s->call_id, "from_tag",
		    s->tag[SIDE_A], "to_tag", s->tag[SIDE_B], "state",
		    s->state == SS_OFFERED ? "offered" : "answered",
		    "ringing", s->ringing,
		    "duration", seconds_since(s->created_ms),
		    "streams", s->nstreams));
	json_object_set_new(reply, "calls", calls);
	json_object_set_new(reply, "total",
	    json_integer((json_int_t)rd->sessions.count));
	if (s != NULL)
		json_object_set_new(reply, "next",
		    json_integer((json_int_t)(off + i)));
	return reply;
}

/* Streams in the kernel hold no sockets (legsock.c): how many do. */
static void
stats_sockets(const struct relayd *rd, json_t *reply)
{
	size_t socks = 0, sockless = 0;

	for (const struct session *s = rd->sessions.first; s; s = s->next)
		for (int i = 0; i < s->nstreams; i++) {
			const struct stream *st = s->streams[i];
			sockless += stream_sockless(st);
			for (int side = SIDE_A; side <= SIDE_B; side++)
				for (int k = SK_RTP; k <= SK_RTCP; k++)
					socks += st->leg[side].sock[k].fd >= 0;
		}
	json_object_update_new(reply, json_pack("{s:I, s:I, s:I, s:I}",
	    "sockets", (json_int_t)socks,
	    "streams_without_sockets", (json_int_t)sockless,
	    "rebind_failures", (json_int_t)rd->totals.rebind_failures,
	    "ports_unreserved", (json_int_t)rd->ports_unreserved));
	json_object_set_new(reply, "hold_failures",	/* offerhold.c */
	    json_integer((json_int_t)rd->totals.hold_failures));
	json_object_set_new(reply, "sockets_parked",	/* sockpark.c */
	    json_integer((json_int_t)(2 * park_count(rd))));
	json_object_set_new(reply, "ports_warming",	/* sockwarm.c */
	    json_integer((json_int_t)warm_left(rd)));
	json_object_set_new(reply, "ports_held_elsewhere",
	    json_integer((json_int_t)rd->warm.held));
}

static json_t *
cmd_stats(struct relayd *rd, json_t *id)
{
	json_t *reply = proto_reply_ok(id);
	size_t total = 0, free_pairs = 0;

	for (int i = 0; i < rd->conf.nifaces; i++) {
		total += rd->pools[i].cap;
		free_pairs += ports_available(&rd->pools[i]);
	}
	json_object_update_new(reply, json_pack("{s:I, s:I, s:I, s:I, s:s, "
	    "s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "sessions", (json_int_t)rd->sessions.count,
	    "streams", (json_int_t)rd->nstreams,
	    "ports_total", (json_int_t)total, "ports_free", (json_int_t)free_pairs,
	    "backend", rd->backend.ops->name, "backend_reason", rd->backend.reason,
	    "uptime", seconds_since(rd->started_ms),
	    "packets", (json_int_t)rd->totals.packets,
	    "packets_userspace", (json_int_t)rd->totals.packets_userspace,
	    "bytes", (json_int_t)rd->totals.bytes,
	    "drops", (json_int_t)rd->totals.drops,
	    "errors", (json_int_t)rd->totals.errors,
	    "sessions_created", (json_int_t)rd->totals.sessions_created,
	    "sessions_timed_out", (json_int_t)rd->totals.sessions_timed_out));
	json_object_update_new(reply, json_pack("{s:I, s:b, s:I, s:I}",
	    "journal_errors", (json_int_t)rd->totals.journal_errors,
	    "journal_behind", journal_behind(rd),
	    "kernel_remove_errors",
	    (json_int_t)rd->totals.kernel_remove_errors,
	    "control_queued_bytes", (json_int_t)control_queued(rd)));
	json_object_update_new(reply, json_pack("{s:I, s:I, s:I, s:I}",
	    "counter_streams", (json_int_t)rd->backend.ncarried,
	    "counter_dumps", (json_int_t)rd->backend.dumps,
	    "counter_dump_ms", (json_int_t)rd->backend.dump_ms,
	    "counter_reads", (json_int_t)rd->backend.reads));
	json_object_set_new(reply, "webrtc", webrtc_totals_json(rd));
	stats_sockets(rd, reply);
	return reply;
}

static json_t *
cmd_hello(struct relayd *rd, json_t *req, json_t *id)
{
	json_t *p = json_object_get(req, "protocol"), *reply;

	if (p != NULL && json_integer_value(p) != PROTO_VERSION)
		return fail(id, PROTO_E_VALUE, "hello: protocol %lld not "
		    "spoken; this relay speaks %d",
		    (long long)json_integer_value(p), PROTO_VERSION);
	reply = proto_reply_ok(id);
	json_object_update_new(reply, json_pack("{s:i, s:s, s:s, "
	    "s:[s,s,s,s,s,s,s,s,s,s], s:s, s:s}", "protocol", PROTO_VERSION, "server",
	    "trunkline-relayd", "version", TRUNKLINE_VERSION, "features",
	    "rtcp-mux", "strict-source", "stun-detect", "subscribe", "tcp-auth",
	    "event-seq", "list-pages", "sender", "webrtc", "ringing",
	    "backend", rd->backend.ops->name, "backend_reason",
	    rd->backend.reason));
	/* "webrtc": WebRTC legs work unless their start failed (it happens
	 * at the first one: webrtc_lib_start). */
	if (rd->rtc_lib == RTC_LIB_FAILED) {
		json_t *f = json_object_get(reply, "features");
		size_t k;
		json_t *v;
		json_array_foreach(f, k, v)
			if (strcmp(json_string_value(v), "webrtc") == 0) {
				json_array_remove(f, k);
				break;
			}
	}
	return reply;
}

static json_t *
cmd_subscribe(struct conn *cn, json_t *req, json_t *id)
{
	struct proto_error err;
	json_t *reply;

	if (!conn_subscribe(cn, json_object_get(req, "events"), &err))
		return proto_reply_error(id, &err);
	reply = proto_reply_ok(id);
	json_object_set_new(reply, "events", json_pack("[s]", "timeout"));
	return reply;
}

json_t *
command_run(struct relayd *rd, struct conn *cn, const char *cmd, json_t *req,
    json_t *id)
{
	if (strcmp(cmd, "offer") == 0)
		return cmd_offer(rd, req, id);
	if (strcmp(cmd, "answer") == 0)
		return cmd_answer(rd, req, id);
	if (strcmp(cmd, "delete") == 0)
		return cmd_delete(rd, req, id);
	if (strcmp(cmd, "query") == 0)
		return cmd_query(rd, req, id);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(rd, req, id);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(rd, id);
	if (strcmp(cmd, "hello") == 0)
		return cmd_hello(rd, req, id);
	if (strcmp(cmd, "subscribe") == 0)
		return cmd_subscribe(cn, req, id);
	if (strcmp(cmd, "ping") == 0) {
		json_t *reply = proto_reply_ok(id);
		json_object_set_new(reply, "pong", json_true());
		return reply;
	}
	return fail(id, PROTO_E_UNKNOWN_CMD, "unknown command '%s'", cmd);
}
