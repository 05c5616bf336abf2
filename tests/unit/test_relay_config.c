/*
 * test_relay_config.c: relayd's configuration: a full file loads, absent
 * fields take their defaults, and each error names file, line and field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "relayd.h"

struct tmp {
	char	dir[64];
	char	file[96];
};

static int
setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	strcpy(t->dir, "/tmp/tl-config-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->file, sizeof(t->file), "%s/relayd.json", t->dir);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tmp *t = *state;

	unlink(t->file);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* Load `text`; on error return the message with the path replaced by F. */
static int
load(struct tmp *t, const char *text, struct relayd_conf *conf, char *msg,
    size_t len)
{
	char err[512];
	FILE *f = fopen(t->file, "w");
	int rc;

	fputs(text, f);
	fclose(f);
	rc = config_load(t->file, conf, err, sizeof(err));
	if (rc < 0 && strncmp(err, t->file, strlen(t->file)) == 0)
		snprintf(msg, len, "F%s", err + strlen(t->file));
	else
		snprintf(msg, len, "%s", rc < 0 ? err : "");
	return rc;
}

static void
test_full_config_loads(void **state)
{
	struct relayd_conf c;
	char msg[512];

	assert_int_equal(load(*state, "{\"control\":{\"socket\":\"/tmp/x.sock\","
	    "\"mode\":\"0600\",\"tcp\":{\"listen\":\"127.0.0.1:2224\","
	    "\"secret\":\"0123456789abcdef\"}},\"interfaces\":[{\"name\":\"ext\","
	    "\"bind\":\"0.0.0.0\",\"advertise\":\"203.0.113.1\"},{\"name\":"
	    "\"int\",\"bind\":\"10.0.0.1\"}],\"ports\":{\"min\":20000,\"max\":"
	    "20999},\"timeouts\":{\"setup\":5,\"inactivity\":1.5,\"hold\":0,"
	    "\"max_duration\":60,\"ringing\":120},\"backend\":\"userspace\","
	    "\"log_level\":"
	    "\"debug\",\"strict_source\":false}\n", &c, msg, sizeof(msg)), 0);
	assert_string_equal(c.socket_path, "/tmp/x.sock");
	assert_int_equal(c.socket_mode, 0600);
	assert_true(c.tcp_enabled);
	assert_int_equal(c.nifaces, 2);
	assert_string_equal(c.ifaces[0].advertise, "203.0.113.1");
	assert_string_equal(c.ifaces[1].advertise, "10.0.0.1");
	assert_int_equal(c.port_min, 20000);
	assert_int_equal(c.port_max, 20999);
	assert_true(c.inactivity_timeout == 1.5);
	assert_true(c.hold_timeout == 0);
	assert_true(c.ringing_timeout == 120);
	assert_string_equal(c.backend, "userspace");
	assert_int_equal(c.log_level, LL_DEBUG);
	assert_false(c.strict_source);
}

static void
test_defaults_when_absent(void **state)
{
	struct relayd_conf c;
	char msg[512];

	assert_int_equal(load(*state, "{}", &c, msg, sizeof(msg)), 0);
	assert_string_equal(c.socket_path, "/run/trunkline/relayd.sock");
	assert_int_equal(c.port_min, 20000);
	assert_true(c.strict_source);
	assert_string_equal(c.backend, "auto");
	assert_string_equal(c.journal, "/run/trunkline/journal");
	assert_true(c.control_idle_timeout == 10);
	assert_int_equal(c.control_max_pending, 32);
	assert_int_equal(load(*state, "{\"control\": {\"idle_timeout\": 2.5, "
	    "\"max_pending\": 100}}", &c, msg, sizeof(msg)), 0);
	assert_true(c.control_idle_timeout == 2.5);
	assert_int_equal(c.control_max_pending, 100);
}

static void
test_journal_path_or_null(void **state)
{
	struct relayd_conf c;
	char msg[512];

	assert_int_equal(load(*state, "{\"journal\": \"/var/lib/tl/j\"}", &c,
	    msg, sizeof(msg)), 0);
	assert_string_equal(c.journal, "/var/lib/tl/j");
	assert_int_equal(load(*state, "{\"journal\": null}", &c, msg,
	    sizeof(msg)), 0);
	assert_string_equal(c.journal, "");
}

static void
test_endpoint_learning_modes_and_defaults(void **state)
{
	struct relayd_conf c;
	char msg[512];

	assert_int_equal(load(*state, "{}", &c, msg, sizeof(msg)), 0);
	assert_int_equal(c.learn_mode, LEARN_HEURISTIC);
	assert_true(c.learn_window == 3);
	assert_true(c.roaming_ssrc);
	assert_int_equal(load(*state, "{\"endpoint_learning\": {\"mode\": "
	    "\"sdp-only\", \"window\": 0.5, \"roaming_ssrc\": false}}", &c,
	    msg, sizeof(msg)), 0);
	assert_int_equal(c.learn_mode, LEARN_SDP_ONLY);
	assert_true(c.learn_window == 0.5);
	assert_false(c.roaming_ssrc);
	assert_int_equal(load(*state, "{\"endpoint_learning\": {\"mode\": "
	    "\"immediate\"}}", &c, msg, sizeof(msg)), 0);
	assert_int_equal(c.learn_mode, LEARN_IMMEDIATE);
}

static void
expect_error(void **state, const char *text, const char *want)
{
	struct relayd_conf c;
	char msg[512];

	assert_int_equal(load(*state, text, &c, msg, sizeof(msg)), -1);
	if (strncmp(msg, want, strlen(want)) != 0)
		fail_msg("got '%s', want '%s...'", msg, want);
}

static void
test_errors_name_file_line_and_field(void **state)
{
	expect_error(state, "{\n\"backend\": \"auto\",\n\"colour\": 1\n}",
	    "F:3: colour: unknown field");
	expect_error(state, "{\n\"ports\": {\n\"min\": 30001\n}\n}",
	    "F:3: ports.min: must be an even integer");
	expect_error(state, "{\"interfaces\": [\n{\"name\":\"a\",\"bind\":"
	    "\"10.0.0.1\"},\n{\"name\":\"b\",\n\"bind\":\"nonsense\"}]}",
	    "F:4: interfaces[1].bind: 'nonsense' is not");
	expect_error(state, "{\"interfaces\": [\n{\"name\":\"a\",\"bind\":"
	    "\"10.0.0.1\"},\n{\"name\":\"a\",\"bind\":\"10.0.0.2\"}]}",
	    "F:3: interfaces[1].name: duplicate");
	expect_error(state, "{\n\"timeouts\": {\"inactivity\": \"30\"}}",
	    "F:2: timeouts.inactivity: expected a number");
	expect_error(state, "{\n\"timeouts\": {\"ringing\": 0}}",
	    "F:2: timeouts.ringing: must be between");
	expect_error(state, "{\"control\": {\n\"tcp\": {\"listen\": "
	    "\"127.0.0.1:1\",\n\"secret\": \"short\"}}}",
	    "F:3: control.tcp.secret: at least 16");
	expect_error(state, "{\n\n\"log_level\": \"loud\"}",
	    "F:3: log_level: 'loud'");
	expect_error(state, "{\"interfaces\": [{\"name\":\"a\",\"bind\":"
	    "\"0.0.0.0\"}]}", "F:1: interfaces[0]: 'advertise' is required");
	expect_error(state, "{\n\"ports\": {\"min\": 1,}\n}", "F:2: ");
	expect_error(state, "{\n\"backend\": \"nft\",\n\"journal\": \"var/j\"\n}",
	    "F:3: journal: 'var/j' is not an absolute path");
	expect_error(state, "{\n\"journal\": 5\n}", "F:2: journal: expected a string");
	expect_error(state, "{\"control\": {\n\"mode\": \"0999\"}}",
	    "F:2: control.mode: '0999' is not an octal file mode");
	expect_error(state, "{\"control\": {\"socket\": \"/x\",\n\n"
	    "\"idle_timeout\": 0}}", "F:3: control.idle_timeout: must be "
	    "between 0.1 and 3600");
	expect_error(state, "{\"control\": {\n\"max_pending\": 2.5}}",
	    "F:2: control.max_pending: must be an integer");
	expect_error(state, "{\"control\": {\n\"max_pending\": 0}}",
	    "F:2: control.max_pending: must be between 1 and 4096");
	expect_error(state, "{\"control\": {\n\"idle_timeout\": \"10\"}}",
	    "F:2: control.idle_timeout: expected a number");
	expect_error(state, "{\"endpoint_learning\": {\n\"mode\": \"first\"}}",
	    "F:2: endpoint_learning.mode: 'first' is not one of heuristic");
	expect_error(state, "{\"endpoint_learning\": {\n\n\"window\": 0}}",
	    "F:3: endpoint_learning.window: must be between 0.1 and 60");
	expect_error(state, "{\"endpoint_learning\": {\"windo\": 1}}",
	    "F:1: endpoint_learning.windo: unknown field");
	expect_error(state, "{\n\"endpoint_learning\": \"heuristic\"}",
	    "F:2: endpoint_learning: expected an object");
	expect_error(state, "{\"webrtc\": {\n\"certificate\": \"c.pem\",\n"
	    "\"key\": \"/k.pem\"}}", "F:2: webrtc.certificate: 'c.pem' is not "
	    "an absolute path");
	expect_error(state, "{\"webrtc\": {\"certificate\": \"/c.pem\"}}",
	    "F:1: webrtc: 'key' is required with 'certificate'");
	expect_error(state, "{\n\"webrtc\": {\"cert\": \"/c.pem\"}}",
	    "F:2: webrtc.cert: unknown field");
}

static void
test_missing_file_is_named(void **state)
{
	struct relayd_conf c;
	char err[256];

	assert_int_equal(config_load("/nonexistent/relayd.json", &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/relayd.json: No such file or "
	    "directory");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_config_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_when_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_path_or_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_learning_modes_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_file_line_and_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_is_named, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
