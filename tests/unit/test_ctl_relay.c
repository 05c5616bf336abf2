/*
 * test_ctl_relay.c: the relay client's promise to its callers: a
 * callback never runs inside the function that issued the request, and
 * runs exactly once, also when the request fails on a write error (the
 * relay closed its end) or is sent to a relay that is down. The caller's
 * call counts the request in pending until then. Before, a write error
 * ran the callback (on_deleted) inside call_finish(), which then freed
 * the call a second time.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <cmocka.h>

#include "controller.h"

struct seen {
	int	 calls;
	bool	 reply;	/* the last callback had a reply */
};

static void
count_cb(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct seen *s = arg;

	s->calls++;
	s->reply = rr->answered;
}

/* Run the loop until n callbacks were seen, bounded. */
static void
step_until(struct ctl *c, struct seen *s, int n)
{
	for (int i = 0; i < 200 && s->calls < n; i++)
		su_root_step(c->root, 10);
}

static void
test_deferred_failures(void **state)
{
	char dir[] = "/tmp/tl-ctlrelay-XXXXXX", path[108], conf[160], err[512];
	char text[512];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl c = { .cdr_fd = -1 };
	struct call *k;
	struct seen s = { 0 };
	FILE *f;
	int lfd, afd;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/relay.sock", dir);
	snprintf(conf, sizeof(conf), "%s/controller.json", dir);
	snprintf(text, sizeof(text), "{\"relays\": [{\"name\": \"r1\", "
	    "\"socket\": \"%s\"}], \"trunks\": [{\"name\": \"t\", "
	    "\"sources\": [\"127.0.0.2\"]}]}", path);
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);

	/* A "relay" that accepts the connection and then closes it unread. */
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);

	su_init();
	su_home_init(c.home);
	c.root = su_root_create(&c);
	assert_non_null(c.root);
	if (config_load(conf, NULL, &c.conf, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(relay_open_all(&c), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(afd);
	close(lfd);

	k = su_home_new(sizeof(*k));
	assert_non_null(k);
	k->ctl = &c;
	snprintf(k->relay_key, sizeof(k->relay_key), "tl-test-1");
	k->relay = relay_pick(&c);
	assert_non_null(k->relay);

	/* The write fails (the peer is gone): the relay goes down, but the
	 * callback waits for the loop. */
	relay_delete(k, count_cb, &s);
	assert_int_equal(s.calls, 0);
	assert_int_equal(k->pending, 1);
	step_until(&c, &s, 1);
	assert_int_equal(s.calls, 1);
	assert_false(s.reply);
	assert_int_equal(k->pending, 0);
	assert_null(relay_pick(&c));

	/* A request to a relay that is down: a callback too, later, once. */
	relay_offer(k, calloc(1, sizeof(struct media_desc)), count_cb, &s);
	assert_int_equal(s.calls, 1);
	assert_int_equal(k->pending, 1);
	step_until(&c, &s, 2);
	assert_int_equal(s.calls, 2);
	assert_int_equal(k->pending, 0);
	for (int i = 0; i < 5; i++)
		su_root_step(c.root, 10);
	assert_int_equal(s.calls, 2);

	relay_close_all(&c);
	relay_free_all(&c);
	json_decref(k->offer_req);
	su_home_unref(k->home);
	config_unref(c.conf);
	su_root_destroy(c.root);
	su_home_deinit(c.home);
	su_deinit();
	unlink(path);
	unlink(conf);
	rmdir(dir);
}

/* ---- the WebRTC fields of struct media_line <-> the relay's JSON ---- */

struct webrtc_seen {
	int			 calls;
	struct media_desc	 md;	/* the reply's media, copied */
};

static void
webrtc_cb(struct ctl *c, void *arg, const struct relay_reply *rr)
{
	struct webrtc_seen *s = arg;

	s->calls++;
	if (rr->ok && rr->media != NULL)
		s->md = *rr->media;
}

/* One line from the "relay" end (blocking, bounded by SO_RCVTIMEO). */
static json_t *
read_request(int fd)
{
	char line[8192];
	size_t n = 0;

	while (n + 1 < sizeof(line) && read(fd, line + n, 1) == 1 &&
	    line[n] != '\n')
		n++;
	line[n] = '\0';
	return json_loads(line, 0, NULL);
}

static void
reply_line(int fd, json_t *rep)
{
	char *t = json_dumps(rep, JSON_COMPACT);

	assert_non_null(t);
	assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
	assert_int_equal(write(fd, "\n", 1), 1);
	free(t);
	json_decref(rep);
}

/*
 * relay.c alone speaks the relay's JSON (issue 14 on typed media): a
 * browser's line goes out with its ICE/DTLS fields and peer_transport, a
 * SIP line with none of them (a relay without WebRTC refuses them); the
 * reply's ice_ufrag, ice_pwd, ice_lite, fingerprint, setup and candidates
 * come back typed, and a value too long for its field is left empty (not
 * truncated into another valid-looking one).
 */
static void
test_webrtc_fields(void **state)
{
	char dir[] = "/tmp/tl-ctlrelay-XXXXXX", path[108], conf[160], err[512];
	char text[512], longaddr[100];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { 5, 0 };
	struct ctl c = { .cdr_fd = -1 };
	struct webrtc_seen s = { 0 };
	struct media_desc *md = calloc(1, sizeof(*md));
	struct call *k;
	json_t *req, *o, *rep;
	FILE *f;
	int lfd, afd;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/relay.sock", dir);
	snprintf(conf, sizeof(conf), "%s/controller.json", dir);
	snprintf(text, sizeof(text), "{\"relays\": [{\"name\": \"r1\", "
	    "\"socket\": \"%s\"}], \"trunks\": [{\"name\": \"t\", "
	    "\"sources\": [\"127.0.0.2\"]}]}", path);
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	su_init();
	su_home_init(c.home);
	c.root = su_root_create(&c);
	assert_non_null(c.root);
	if (config_load(conf, NULL, &c.conf, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(relay_open_all(&c), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	setsockopt(afd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	k = su_home_new(sizeof(*k));
	assert_non_null(k);
	k->ctl = &c;
	snprintf(k->relay_key, sizeof(k->relay_key), "tl-test-2");
	k->relay = relay_pick(&c);
	assert_non_null(k->relay);

	md->n = 2;
	strcpy(md->line[0].type, "audio");
	strcpy(md->line[0].transport, "UDP/TLS/RTP/SAVPF");
	strcpy(md->line[0].address, "0.0.0.0");
	strcpy(md->line[0].direction, "sendrecv");
	md->line[0].rtp_port = 9;
	md->line[0].rtcp_mux = true;
	strcpy(md->line[0].ice_ufrag, "AYc8");
	strcpy(md->line[0].ice_pwd, "NgWasZCGWqUGys35pCZXPxPP");
	strcpy(md->line[0].fingerprint, "sha-256 AB:CD");
	strcpy(md->line[0].setup, "actpass");
	strcpy(md->line[0].peer_transport, "RTP/AVP");
	strcpy(md->line[1].type, "audio");
	strcpy(md->line[1].transport, "RTP/AVP");
	strcpy(md->line[1].address, "192.0.2.1");
	strcpy(md->line[1].direction, "sendrecv");
	md->line[1].rtp_port = 4000;
	relay_offer(k, md, webrtc_cb, &s);

	/* the request, as the relay reads it (skipping what relay.c sends
	 * on connecting) */
	for (int i = 0; i < 5; i++) {
		su_root_step(c.root, 10);
		req = read_request(afd);
		assert_non_null(req);
		if (strcmp(json_string_value(json_object_get(req, "cmd")),
		    "offer") == 0)
			break;
		reply_line(afd, json_pack("{s:O,s:b}", "id",
		    json_object_get(req, "id"), "ok", 1));
		json_decref(req);
		req = NULL;
	}
	assert_non_null(req);
	o = json_array_get(json_object_get(req, "media"), 0);
	assert_string_equal(json_string_value(json_object_get(o, "ice_ufrag")),
	    "AYc8");
	assert_string_equal(json_string_value(json_object_get(o, "ice_pwd")),
	    "NgWasZCGWqUGys35pCZXPxPP");
	assert_string_equal(json_string_value(json_object_get(o,
	    "fingerprint")), "sha-256 AB:CD");
	assert_string_equal(json_string_value(json_object_get(o, "setup")),
	    "actpass");
	assert_string_equal(json_string_value(json_object_get(o,
	    "peer_transport")), "RTP/AVP");
	assert_true(json_is_true(json_object_get(o, "rtcp_mux")));
	o = json_array_get(json_object_get(req, "media"), 1);
	for (const char *const *f2 = (const char *const[]){ "ice_ufrag",
	    "ice_pwd", "fingerprint", "setup", "peer_transport", "ice_lite",
	    "candidates", NULL }; *f2; f2++)
		if (json_object_get(o, *f2) != NULL)
			fail_msg("a SIP line names %s", *f2);

	memset(longaddr, '1', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	rep = json_pack("{s:O,s:b,s:[{s:s,s:s,s:s,s:i,s:i,s:b,s:s,s:s,s:b,"
	    "s:s,s:s,s:[{s:s,s:i,s:I,s:s},{s:s,s:i,s:I,s:s}]}]}",
	    "id", json_object_get(req, "id"), "ok", 1, "media",
	    "type", "audio", "transport", "UDP/TLS/RTP/SAVPF",
	    "address", "192.0.2.10", "rtp_port", 30000, "rtcp_port", 30000,
	    "rtcp_mux", 1, "ice_ufrag", "relayUfr",
	    "ice_pwd", "0XKvxVkuG0rDj83jqcM3acCi", "ice_lite", 1,
	    "fingerprint", "sha-256 89:EE", "setup", "passive", "candidates",
	    "address", "192.0.2.10", "port", 30000, "priority",
	    (json_int_t)2130706431, "foundation", "1",
	    "address", longaddr, "port", 70000, "priority", (json_int_t)1 << 33,
	    "foundation", "2");
	reply_line(afd, rep);
	json_decref(req);
	for (int i = 0; i < 200 && s.calls == 0; i++)
		su_root_step(c.root, 10);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.md.n, 1);
	assert_string_equal(s.md.line[0].ice_ufrag, "relayUfr");
	assert_string_equal(s.md.line[0].ice_pwd, "0XKvxVkuG0rDj83jqcM3acCi");
	assert_true(s.md.line[0].ice_lite);
	assert_string_equal(s.md.line[0].fingerprint, "sha-256 89:EE");
	assert_string_equal(s.md.line[0].setup, "passive");
	assert_int_equal(s.md.line[0].ncand, 2);
	assert_string_equal(s.md.line[0].cand[0].address, "192.0.2.10");
	assert_int_equal(s.md.line[0].cand[0].port, 30000);
	assert_int_equal(s.md.line[0].cand[0].priority, 2130706431);
	assert_string_equal(s.md.line[0].cand[0].foundation, "1");
	/* too long, out of range: empty and 0, refused by websdp.c */
	assert_string_equal(s.md.line[0].cand[1].address, "");
	assert_int_equal(s.md.line[0].cand[1].port, 0);
	assert_int_equal(s.md.line[0].cand[1].priority, 0);

	close(afd);
	close(lfd);
	relay_close_all(&c);
	relay_free_all(&c);
	json_decref(k->offer_req);
	su_home_unref(k->home);
	config_unref(c.conf);
	su_root_destroy(c.root);
	su_home_deinit(c.home);
	su_deinit();
	unlink(path);
	unlink(conf);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferred_failures),
		cmocka_unit_test(test_webrtc_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
