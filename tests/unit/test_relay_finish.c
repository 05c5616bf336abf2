/*
 * test_relay_finish.c: a deleted call's reply carries the counters that
 * the backend's removal reads last (kmod reads its entries' final counts
 * in the removal batch; nft after its elements are gone). A fake backend
 * adds packets at removal time, as the kernel's last counts would: the
 * delete reply must include them, and the removal happens exactly once.
 * Only the command interface is used, so the test runs on older relays.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"
#include "relay_fixture.h"

#define PMIN 41300
#define PMAX 41307

static int removals;

static int
fake_open(struct relayd *rd, void **priv, char *why, size_t len)
{
	*priv = NULL;
	return 0;
}

static int
fake_remove(struct relayd *rd, void *priv, struct stream *st)
{
	if (st->backend_priv == NULL)
		return 0;
	/* what the kernel forwarded since the last counter read */
	st->leg[SIDE_A].stats.packets += 7;
	st->leg[SIDE_B].stats.packets += 9;
	st->backend_priv = NULL;
	removals++;
	return 0;
}

static const struct backend_ops fake_ops = {
	.name = "fake",
	.open = fake_open,
	.remove = fake_remove,
};

static void
test_delete_reply_has_the_final_counters(void **state)
{
	struct relayd *rd = relay_fixture_new(&(struct relay_fixture){
	    .port_min = PMIN, .port_max = PMAX, .buckets = 4,
	    .ops = &fake_ops });
	struct proto_error perr;
	struct session *s;
	struct stream *st;
	json_t *req, *reply, *legs;

	(void)state;
	s = session_create(rd, "call-1", "ft-1", 0, 0);
	assert_non_null(s);
	assert_int_equal(session_add_streams(rd, s, 1, &perr), 0);
	st = s->streams[0];
	st->leg[SIDE_A].stats.packets = 100;	/* read before */
	st->leg[SIDE_B].stats.packets = 200;
	st->path = PATH_KERNEL;
	st->backend_priv = &removals;		/* "in the kernel" */

	req = json_pack("{s:s, s:s}", "cmd", "delete", "call_id", "call-1");
	reply = command_run(rd, NULL, "delete", req, NULL);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	legs = json_object_get(json_array_get(json_object_get(reply,
	    "streams"), 0), "legs");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    json_array_get(legs, 0), "stats"), "packets")), 107);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    json_array_get(legs, 1), "stats"), "packets")), 209);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(reply, "streams"), 0), "path")), "fake");
	assert_int_equal(removals, 1);
	assert_null(session_find(&rd->sessions, "call-1"));
	json_decref(req);
	json_decref(reply);
	relay_fixture_free(rd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delete_reply_has_the_final_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
