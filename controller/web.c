/*
 * web.c: the WebRTC gateway's listener (issue 14): HTTPS serving the web
 * phone (web/) and a secure WebSocket carrying the browser signalling
 * (webproto.c), both from libwebsockets on one port. Plain HTTP/WS is
 * allowed only on a loopback address (browsers treat 127.0.0.1 as a
 * secure context; anything else would send the login over the network
 * in clear): config.c refuses it otherwise.
 *
 * The event loop: the controller runs on Sofia's su_root in one thread.
 * Debian's libwebsockets is built without external-poll callbacks, so
 * lws cannot hand us its fds; it does take a foreign libuv loop. That
 * loop is embedded in the su_root: libuv keeps everything in one epoll
 * fd (uv_backend_fd), registered with su_root_register, and its next
 * timer (uv_backend_timeout) is an su_timer; either runs the loop once
 * without blocking. No second thread. A message sent from outside the
 * loop (a SIP event) arms the timer at once, so lws sees the writable
 * request on the next turn.
 *
 * Per connection: a message is assembled from frames up to max_message
 * bytes (a bigger one is refused and the connection closed with 1009),
 * replies are queued and written when lws says the socket is writable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller.h"

#include <libwebsockets.h>
#include <uv.h>

#define WEB_OUTQ_MAX	256		/* queued messages, then the client is cut */
/* lws_write()'s CLOSE opcode (4): lws-write.h leaves its name out */
#define WEB_WRITE_CLOSE	((enum lws_write_protocol)4)

struct webmsg {
	struct webmsg	*next;
	size_t		 len;
	unsigned char	 buf[];		/* LWS_PRE, then the text */
};

struct web {
	struct ctl		*ctl;
	struct web_conf		 conf;		/* at start: a reload keeps it */
	uv_loop_t		 loop;
	bool			 loop_ok;
	struct lws_context	*ctx;
	struct lws_http_mount	 mount;
	struct lws_protocols	 protocols[2];
	struct lws_protocol_vhost_options headers[4];
	su_wait_t		 wait[1];
	int			 widx;
	su_timer_t		*timer;
	bool			 in_run;
	struct webconn		*conns;
	int			 nconns;
	struct web_stats	 stats;
	char			 root[256];
};

/* ---- configuration: the top-level key "web" ---- */

static bool
is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static int
listen_parse(struct proto_cfg *c, struct web_conf *w)
{
	char *colon = strrchr(w->listen, ':');
	struct in6_addr a6;
	long port;
	char *end;
	size_t n;

	if (colon == NULL)
		return proto_cfg_fail(c, "web.listen", "expected host:port "
		    "(numeric, e.g. 127.0.0.1:8088 or [::1]:8088)");
	n = (size_t)(colon - w->listen);
	if (n >= 2 && w->listen[0] == '[' && w->listen[n - 1] == ']')
		snprintf(w->address, sizeof(w->address), "%.*s", (int)n - 2,
		    w->listen + 1);
	else
		snprintf(w->address, sizeof(w->address), "%.*s", (int)n,
		    w->listen);
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return proto_cfg_fail(c, "web.listen", "port '%s' is not "
		    "1..65535", colon + 1);
	if (inet_pton(AF_INET, w->address, &a6) != 1 &&
	    inet_pton(AF_INET6, w->address, &a6) != 1)
		return proto_cfg_fail(c, "web.listen", "'%s' is not a numeric "
		    "address", w->address);
	w->port = (uint16_t)port;
	w->loopback = is_loopback(w->address);
	return 0;
}

static int
readable(struct proto_cfg *c, const char *path, const char *file, bool dir)
{
	struct stat st;

	if (stat(file, &st) < 0)
		return proto_cfg_fail(c, path, "%s: %s", file, strerror(errno));
	if (dir != S_ISDIR(st.st_mode))
		return proto_cfg_fail(c, path, "%s: %s", file, dir ?
		    "not a directory" : "not a file");
	if (access(file, R_OK) < 0)
		return proto_cfg_fail(c, path, "%s: %s", file, strerror(errno));
	return 0;
}

int
web_parse(struct proto_cfg *c, json_t *o, struct ctl_conf *conf)
{
	static const char *const keys[] = { "listen", "certificate", "key",
	    "root", "max_connections", "max_message", "max_messages", "rate",
	    "burst", "max_errors", "max_login_failures", NULL };
	struct web_conf *w;
	double mc = 64, mm = 16384, mn = 10000, me = 5, ml = 3;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return proto_cfg_fail(c, "web", "expected an object");
	if ((w = conf->web = calloc(1, sizeof(*w))) == NULL)
		return proto_cfg_fail(c, "web", "out of memory");
	snprintf(w->root, sizeof(w->root), "/usr/local/share/trunkline/web");
	w->rate = 20;
	w->burst = 40;
	if (proto_cfg_keys(c, o, "web", keys) < 0 ||
	    proto_cfg_string(c, o, "web", "listen", w->listen,
	    sizeof(w->listen), true) < 0 ||
	    proto_cfg_string(c, o, "web", "certificate", w->cert,
	    sizeof(w->cert), false) < 0 ||
	    proto_cfg_string(c, o, "web", "key", w->key, sizeof(w->key),
	    false) < 0 ||
	    proto_cfg_string(c, o, "web", "root", w->root, sizeof(w->root),
	    false) < 0 ||
	    proto_cfg_number(c, o, "web", "max_connections", &mc, 1, 10000) < 0 ||
	    proto_cfg_number(c, o, "web", "max_message", &mm, 1024,
	    1 << 20) < 0 ||
	    proto_cfg_number(c, o, "web", "max_messages", &mn, 10, 1e9) < 0 ||
	    proto_cfg_number(c, o, "web", "rate", &w->rate, 0.1, 1e4) < 0 ||
	    proto_cfg_number(c, o, "web", "burst", &w->burst, 1, 1e5) < 0 ||
	    proto_cfg_number(c, o, "web", "max_errors", &me, 1, 1000) < 0 ||
	    proto_cfg_number(c, o, "web", "max_login_failures", &ml, 1,
	    100) < 0 || listen_parse(c, w) < 0)
		return -1;
	w->max_connections = (int)mc;
	w->max_message = (int)mm;
	w->max_messages = (int)mn;
	w->max_errors = (int)me;
	w->max_login_failures = (int)ml;
	if ((w->cert[0] == '\0') != (w->key[0] == '\0'))
		return proto_cfg_fail(c, w->cert[0] ? "web.key" :
		    "web.certificate", "give both 'certificate' and 'key' "
		    "(HTTPS/WSS), or neither (plain, loopback only)");
	if (w->cert[0] == '\0' && !w->loopback)
		return proto_cfg_fail(c, "web.listen", "plain HTTP/WS is "
		    "allowed only on a loopback address (%s is not); give "
		    "'certificate' and 'key' for HTTPS/WSS", w->address);
	if (w->root[0] != '/')
		return proto_cfg_fail(c, "web.root", "an absolute path is "
		    "required");
	if ((w->cert[0] && (readable(c, "web.certificate", w->cert, false) < 0 ||
	    readable(c, "web.key", w->key, false) < 0)) ||
	    readable(c, "web.root", w->root, true) < 0)
		return -1;
	return 0;
}

void
web_conf_free(struct web_conf *w)
{
	free(w);
}

/* ---- the loop: libuv inside the su_root ---- */

static void web_run(struct web *w);

static void
on_web_timer(struct ctl *c, su_timer_t *t, void *arg)
{
	web_run(c->web);
}

static int
on_web_fd(struct ctl *c, su_wait_t *wt, void *arg)
{
	web_run(c->web);
	return 0;
}

/*
 * libuv applies a change of interest (lws asking for POLLOUT, a new
 * connection's first read) to its epoll set only at its next poll: until
 * then the backend fd cannot wake us for it. Such changes wait in the
 * loop's watcher queue (a field of uv_loop_t in uv/unix.h), so the loop
 * runs again while it is not empty.
 */
static bool
uv_changes_pending(uv_loop_t *l)
{
	return l->watcher_queue[0] != (void *)&l->watcher_queue[0];
}

/* Run what is ready, then wake up for libuv's next timer. */
static void
web_run(struct web *w)
{
	int ms, i;

	w->in_run = true;
	for (i = 0; i < 8; i++) {
		uv_run(&w->loop, UV_RUN_NOWAIT);
		if (!uv_changes_pending(&w->loop))
			break;
	}
	w->in_run = false;
	ms = uv_backend_timeout(&w->loop);
	if (uv_changes_pending(&w->loop) && (ms < 0 || ms > 1))
		ms = 1;
	su_timer_reset(w->timer);
	if (ms >= 0)
		su_timer_set_interval(w->timer, on_web_timer, NULL,
		    (su_duration_t)(ms > 0 ? ms : 1));
}

/* Something changed outside the loop (a reply to send from a SIP or
 * relay event): let lws see it soon. */
static void
web_kick(struct web *w)
{
	if (w->in_run)
		return;		/* web_run() looks at the queue afterwards */
	su_timer_reset(w->timer);
	su_timer_set_interval(w->timer, on_web_timer, NULL, 1);
}

/* ---- connections ---- */

struct web_stats *
web_stats(struct ctl *c)
{
	return &c->web->stats;
}

struct webconn *
web_find_user(struct ctl *c, const char *user)
{
	if (c->web == NULL)
		return NULL;
	for (struct webconn *cn = c->web->conns; cn != NULL; cn = cn->next)
		if (cn->logged_in && !cn->closing && strcmp(cn->user, user) == 0)
			return cn;
	return NULL;
}

const struct web_conf *
web_limits(struct ctl *c)
{
	return &c->web->conf;
}

static void
conn_free(struct web *w, struct webconn *cn)
{
	struct webconn **pp;

	webproto_closed(cn);
	for (pp = &w->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cn) {
			*pp = cn->next;
			break;
		}
	w->nconns--;
	while (cn->outq != NULL) {
		struct webmsg *m = cn->outq;
		cn->outq = m->next;
		free(m);
	}
	free(cn->rx);
	free(cn);
}

int
web_send(struct webconn *cn, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	struct webmsg *m;
	size_t n;

	json_decref(msg);
	if (text == NULL || cn->wsi == NULL || cn->closing) {
		free(text);
		return -EPIPE;
	}
	if (cn->noutq >= WEB_OUTQ_MAX) {
		free(text);
		web_close_conn(cn, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "not reading its replies");
		return -ENOBUFS;
	}
	n = strlen(text);
	if ((m = malloc(sizeof(*m) + LWS_PRE + n)) == NULL) {
		free(text);
		return -ENOMEM;
	}
	m->next = NULL;
	m->len = n;
	memcpy(m->buf + LWS_PRE, text, n);
	free(text);
	if (cn->outq_tail != NULL)
		cn->outq_tail->next = m;
	else
		cn->outq = m;
	cn->outq_tail = m;
	cn->noutq++;
	lws_callback_on_writable(cn->wsi);
	web_kick(cn->ctl->web);
	return 0;
}

void
web_close_conn(struct webconn *cn, int code, const char *why)
{
	if (cn->closing || cn->wsi == NULL)
		return;
	cn->closing = true;
	cn->close_code = code;
	snprintf(cn->close_why, sizeof(cn->close_why), "%s", why);
	clog_msg(cn->ctl, LL_NOTICE, "web %s: closing (%d): %s", cn->peer,
	    code, why);
	lws_callback_on_writable(cn->wsi);
	web_kick(cn->ctl->web);
}

static int
conn_open(struct web *w, struct lws *wsi, struct webconn **slot)
{
	struct webconn *cn;
	int fd = lws_get_socket_fd(wsi);
	socklen_t sl = sizeof(struct sockaddr_storage);

	if (w->nconns >= w->conf.max_connections) {
		w->stats.refused_connections++;
		return -EMFILE;
	}
	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return -ENOMEM;
	cn->ctl = w->ctl;
	cn->wsi = wsi;
	if (fd >= 0)
		getpeername(fd, (struct sockaddr *)&cn->sa, &sl);
	lws_get_peer_simple(wsi, cn->peer, sizeof(cn->peer));
	cn->tokens = w->conf.burst;
	cn->last = mono_now();
	cn->next = w->conns;
	w->conns = cn;
	w->nconns++;
	w->stats.connections++;
	*slot = cn;
	clog_msg(w->ctl, LL_INFO, "web %s: connected", cn->peer);
	return 0;
}

/* A frame: assemble the message, hand it over when complete. */
static void
conn_rx(struct webconn *cn, struct lws *wsi, const void *in, size_t len)
{
	struct web *w = cn->ctl->web;
	const struct web_conf *wc = &w->conf;
	char *p;

	if (cn->closing)
		return;
	if (lws_frame_is_binary(wsi)) {
		w->stats.malformed++;
		web_close_conn(cn, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    "binary messages are not accepted");
		return;
	}
	if (cn->rx_oversized || cn->rxlen + len > (size_t)wc->max_message) {
		if (!cn->rx_oversized)
			w->stats.oversized++;
		cn->rx_oversized = true;
		webproto_error(cn, "too_large", NULL, NULL, "a message is at "
		    "most %d bytes", wc->max_message);
		web_close_conn(cn, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    "message too large");
		return;
	}
	if ((p = realloc(cn->rx, cn->rxlen + len + 1)) == NULL) {
		web_close_conn(cn, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "out of memory");
		return;
	}
	cn->rx = p;
	memcpy(cn->rx + cn->rxlen, in, len);
	cn->rxlen += len;
	cn->rx[cn->rxlen] = '\0';
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;
	w->stats.messages++;
	webproto_message(cn, cn->rx, cn->rxlen);
	/* webproto_message may have closed cn, never freed it */
	free(cn->rx);
	cn->rx = NULL;
	cn->rxlen = 0;
}

/* Writable: one queued message, or the close once the queue is empty. */
static int
conn_tx(struct webconn *cn, struct lws *wsi)
{
	struct webmsg *m = cn->outq;

	if (m != NULL) {
		if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
		    (int)m->len)
			return -1;
		cn->outq = m->next;
		if (cn->outq == NULL)
			cn->outq_tail = NULL;
		cn->noutq--;
		free(m);
		if (cn->outq != NULL || cn->closing)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (cn->closing && !cn->close_sent) {
		/*
		 * The close frame is written here rather than by
		 * lws_close_reason() and "return -1": with the libuv loop
		 * lws 4.1 closes a second time at once in that path ("uv
		 * repeat test") and the frame is never sent. The socket is
		 * not closed right after it either: the client may still be
		 * sending (a flood), and closing with unread data resets the
		 * connection, losing the frame. Its close answer, or 3 s,
		 * ends it.
		 */
		unsigned char f[LWS_PRE + 2 + sizeof(cn->close_why)];
		size_t n = strlen(cn->close_why);

		f[LWS_PRE] = (unsigned char)(cn->close_code >> 8);
		f[LWS_PRE + 1] = (unsigned char)cn->close_code;
		memcpy(f + LWS_PRE + 2, cn->close_why, n);
		cn->close_sent = true;
		if (lws_write(wsi, f + LWS_PRE, n + 2, WEB_WRITE_CLOSE) < 0)
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 3);
		return 0;
	}
	return 0;
}

/* Only the WebSocket at /ws; other upgrades are refused. */
static bool
ws_path_ok(struct lws *wsi)
{
	char uri[64];

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return false;
	return strcmp(uri, "/ws") == 0;
}

/*
 * A browser names the page that opens a WebSocket in Origin: only our own
 * page (the origin of the Host it connects to) may, so that another site
 * open in the user's browser cannot drive logins from it. Clients that
 * are not browsers send no Origin.
 */
static bool
ws_origin_ok(struct lws *wsi, bool tls)
{
	char origin[256], host[200], want[220];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return true;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
	    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return false;
	snprintf(want, sizeof(want), "%s://%s", tls ? "https" : "http", host);
	return strcasecmp(origin, want) == 0;
}

static int
web_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct web *w = ctx ? lws_context_user(ctx) : NULL;
	struct webconn **slot = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (!ws_path_ok(wsi))
			return -1;
		if (!ws_origin_ok(wsi, w->conf.cert[0] != '\0')) {
			w->stats.bad_origin++;
			clog_msg(w->ctl, LL_NOTICE, "web: a WebSocket from "
			    "another site's page is refused");
			return -1;
		}
		if (w->nconns >= w->conf.max_connections) {
			w->stats.refused_connections++;
			clog_msg(w->ctl, LL_NOTICE, "web: %d connections: a new "
			    "one is refused", w->nconns);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		return conn_open(w, wsi, slot) < 0 ? -1 : 0;
	case LWS_CALLBACK_RECEIVE:
		if (*slot != NULL)
			conn_rx(*slot, wsi, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return *slot != NULL ? conn_tx(*slot, wsi) : 0;
	case LWS_CALLBACK_CLOSED:
		if (*slot != NULL) {
			clog_msg(w->ctl, LL_INFO, "web %s: disconnected",
			    (*slot)->peer);
			(*slot)->wsi = NULL;
			conn_free(w, *slot);
			*slot = NULL;
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static void
lws_log_line(int level, const char *line)
{
	/* lws has no context pointer here; its lines end in \n already */
	fprintf(stderr, "lws: %s", line);
}

int
web_open(struct ctl *c)
{
	const struct web_conf *wc = c->conf->web;
	struct lws_context_creation_info info;
	void *loops[1];
	struct web *w;

	if (wc == NULL)
		return 0;
	if ((w = c->web = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->ctl = c;
	w->conf = *wc;
	wc = &w->conf;
	if (uv_loop_init(&w->loop) != 0)
		return -ENOMEM;
	w->loop_ok = true;
	loops[0] = &w->loop;
	snprintf(w->root, sizeof(w->root), "%s", wc->root);
	w->mount = (struct lws_http_mount){ .mountpoint = "/",
	    .mountpoint_len = 1, .origin = w->root, .def = "index.html",
	    .origin_protocol = LWSMPRO_FILE };
	/* One protocol for both: plain HTTP goes to lws's file mount, the
	 * WebSocket (any or no subprotocol) to webproto.c. */
	w->protocols[0] = (struct lws_protocols){ "trunkline-web",
	    web_callback, sizeof(struct webconn *), 4096, 0, NULL, 0 };
	/* The page runs only our script, talks only to us, in no frame. */
	w->headers[0] = (struct lws_protocol_vhost_options){ &w->headers[1],
	    NULL, "content-security-policy:", "default-src 'self'; "
	    "connect-src 'self'; object-src 'none'; base-uri 'none'; "
	    "frame-ancestors 'none'" };
	w->headers[1] = (struct lws_protocol_vhost_options){ &w->headers[2],
	    NULL, "x-content-type-options:", "nosniff" };
	w->headers[2] = (struct lws_protocol_vhost_options){ NULL, NULL,
	    "referrer-policy:", "no-referrer" };
	lws_set_log_level(getenv("TL_LWS_DEBUG") ? 0x7ff : LLL_ERR | LLL_WARN, lws_log_line);
	memset(&info, 0, sizeof(info));
	info.port = wc->port;
	info.iface = wc->address;
	info.protocols = w->protocols;
	info.mounts = &w->mount;
	info.user = w;
	info.headers = &w->headers[0];
	info.foreign_loops = loops;
	info.options = LWS_SERVER_OPTION_LIBUV |
	    LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (wc->cert[0] != '\0') {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = wc->cert;
		info.ssl_private_key_filepath = wc->key;
	}
	info.timeout_secs = 20;
	if ((w->ctx = lws_create_context(&info)) == NULL) {
		clog_msg(c, LL_ERROR, "web listener %s: cannot start (see the "
		    "lws lines above)", wc->listen);
		return -EADDRINUSE;
	}
	w->timer = su_timer_create(su_root_task(c->root), 1000);
	su_wait_create(w->wait, uv_backend_fd(&w->loop), SU_WAIT_IN);
	w->widx = su_root_register(c->root, w->wait, on_web_fd, NULL, 0);
	if (w->widx <= 0 || w->timer == NULL)
		return -ENOMEM;
	web_run(w);
	clog_msg(c, LL_INFO, "web listener on %s (%s), serving %s",
	    wc->listen, wc->cert[0] ? "https/wss" : "http/ws, loopback",
	    wc->root);
	return 0;
}

void
web_close(struct ctl *c)
{
	struct web *w = c->web;

	if (w == NULL)
		return;
	if (w->widx > 0)
		su_root_deregister(c->root, w->widx);
	w->widx = 0;
	if (w->ctx != NULL)
		lws_context_destroy(w->ctx);	/* CLOSED for every connection */
	if (w->loop_ok) {
		/* lws closes its libuv handles asynchronously (bounded
		 * turns); with a foreign loop the second destroy frees the
		 * context once they are closed. */
		for (int i = 0; i < 100 && uv_run(&w->loop, UV_RUN_NOWAIT); i++)
			;
		if (w->ctx != NULL)
			lws_context_destroy(w->ctx);
		for (int i = 0; i < 100 && uv_run(&w->loop, UV_RUN_NOWAIT); i++)
			;
		uv_loop_close(&w->loop);
	}
	su_timer_destroy(w->timer);
	while (w->conns != NULL)
		conn_free(w, w->conns);
	free(w);
	c->web = NULL;
}

json_t *
web_json(struct ctl *c)
{
	struct web *w = c->web;
	const struct web_stats *s;

	if (w == NULL)
		return json_null();
	s = &w->stats;
	return json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
	    "s:I,s:I,s:I}", "listen", w->conf.listen,
	    "bad_origin", (json_int_t)s->bad_origin,
	    "connections", w->nconns,
	    "connections_total", (json_int_t)s->connections,
	    "refused_connections", (json_int_t)s->refused_connections,
	    "messages", (json_int_t)s->messages,
	    "malformed", (json_int_t)s->malformed,
	    "oversized", (json_int_t)s->oversized,
	    "rate_limited", (json_int_t)s->rate_limited,
	    "closed_by_limit", (json_int_t)s->closed_by_limit,
	    "logins", (json_int_t)s->logins,
	    "login_failures", (json_int_t)s->login_failures,
	    "login_banned", (json_int_t)s->login_banned,
	    "unauthenticated", (json_int_t)s->unauthenticated,
	    "calls", (json_int_t)s->calls);
}
