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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferred_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
