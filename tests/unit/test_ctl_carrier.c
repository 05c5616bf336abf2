/*
 * test_ctl_carrier.c: the carrier features' configuration (gateway
 * probe, trunk register and identity, protection): values and defaults,
 * errors with file:line: field, and the identity mapping itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "controller.h"

static char dir[64], file[96];

static int
setup(void **state)
{
	strcpy(dir, "/tmp/tl-ctlcarrier-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/controller.json", dir);
	return 0;
}

static int
teardown(void **state)
{
	unlink(file);
	rmdir(dir);
	return 0;
}

static struct ctl_conf *
load(const char *text, char *err, size_t errlen)
{
	struct ctl_conf *conf = NULL;
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	config_load(file, NULL, &conf, err, errlen);
	return conf;
}

static void
expect_error(const char *text, const char *want)
{
	char err[512], full[600];

	assert_null(load(text, err, sizeof(err)));
	snprintf(full, sizeof(full), "%s:%s", file, want);
	if (strstr(err, full) == NULL) {
		fprintf(stderr, "got:  %s\nwant: %s\n", err, full);
		fail();
	}
}

static const char *good =
	"{\n"
	"  \"protection\": {\"rate\": 5, \"ban\": 10, \"drop_user_agents\": [\"evil\"]},\n"
	"  \"trunks\": [\n"
	"    {\"name\": \"itsp\", \"register\": {\"username\": \"acc\", \"password\": \"pw\",\n"
	"       \"registrar\": \"sip:192.0.2.5:5070\", \"contact_user\": \"4420001\"},\n"
	"     \"identity\": {\"map\": [{\"local\": \"201\", \"user\": \"4420001\", \"display\": \"Sales\"}],\n"
	"                  \"shared\": {\"user\": \"4420000\"}}},\n"
	"    {\"name\": \"pbx\", \"sources\": [\"10.0.0.1\"],\n"
	"     \"identity\": {\"map\": [{\"local\": \"1\", \"user\": \"2\"}], \"unmapped\": \"reject\"}}\n"
	"  ],\n"
	"  \"gateways\": [{\"name\": \"g1\", \"host\": \"192.0.2.9\", \"probe\": {\"interval\": 5, \"codes\": [200, 404]}},\n"
	"               {\"name\": \"g2\", \"host\": \"192.0.2.10\"}]\n"
	"}\n";

static void
test_values(void **state)
{
	char err[512];
	struct ctl_conf *conf = load(good, err, sizeof(err));
	const struct reg_conf *r;
	const struct probe_conf *p;

	if (conf == NULL)
		fail_msg("%s", err);
	r = conf->trunks[0].reg;
	assert_non_null(r);
	assert_string_equal(r->domain, "192.0.2.5");	/* the registrar's host */
	assert_string_equal(r->auth_user, "acc");
	assert_string_equal(r->contact_user, "4420001");
	assert_int_equal(r->expires, 3600);
	assert_true(r->has_src);
	assert_true(r->retry_min == 5 && r->retry_max == 600);
	p = conf->gateways[0].probe;
	assert_non_null(p);
	assert_true(p->interval == 5 && p->timeout == 2);
	assert_int_equal(p->down_after, 1);
	assert_int_equal(p->ncodes, 2);
	assert_null(conf->gateways[1].probe);
	assert_non_null(conf->protect);
	assert_true(conf->protect->rate == 5 && conf->protect->burst == 5);
	assert_int_equal(conf->protect->nagents, 1);
	assert_int_equal(conf->protect->max_message, 65536);
	/* failed-login limits are on by default (issue 12) */
	assert_int_equal(conf->protect->auth_failures, 10);
	assert_true(conf->protect->auth_window == 60 &&
	    conf->protect->auth_ban == 600);
	config_unref(conf);
}

static void
test_identity(void **state)
{
	char err[512];
	struct ctl_conf *conf = load(good, err, sizeof(err));
	struct ctl c = { .log_level = LL_ERROR };
	struct call k = { .ctl = &c };

	assert_non_null(conf);
	k.trunk = &conf->trunks[0];
	strcpy(k.calling_in, "201");
	assert_int_equal(identity_map(&k), 0);
	assert_string_equal(k.calling, "4420001");
	assert_string_equal(k.display, "Sales");
	strcpy(k.calling_in, "202");	/* unmapped: the shared account */
	assert_int_equal(identity_map(&k), 0);
	assert_string_equal(k.calling, "4420000");
	assert_string_equal(k.display, "");
	k.trunk = &conf->trunks[1];
	strcpy(k.calling_in, "1");
	strcpy(k.calling, "1");
	assert_int_equal(identity_map(&k), 0);
	assert_string_equal(k.calling, "2");
	strcpy(k.calling_in, "3");
	assert_int_equal(identity_map(&k), -EPERM);
	config_unref(conf);
}

static void
test_errors(void **state)
{
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n"
	    "  \"probe\": {\"interval\": 1, \"timeout\": 1}}]}",
	    "2: gateways[0].probe.timeout: 1 s must be shorter");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n"
	    "  \"probe\": {\"codes\": [200, 99]}}]}",
	    "2: gateways[0].probe.codes[1]: a reply code");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n"
	    "  \"probe\": {\"every\": 3}}]}", "2: gateways[0].probe");
	expect_error("{\"trunks\": [{\"name\": \"t\",\n"
	    "  \"register\": {\"username\": \"u\", \"password\": \"p\", \"registrar\": \"sip:u@h\"}}]}",
	    "2: trunks[0].register.registrar: 'sip:u@h' is not a registrar URI");
	expect_error("{\"trunks\": [{\"name\": \"t\",\n"
	    "  \"register\": {\"username\": \"u\", \"registrar\": \"sip:h\"}}]}",
	    "2: trunks[0].register");
	expect_error("{\"trunks\": [{\"name\": \"t\",\n"
	    "  \"register\": {\"username\": \"u\", \"password\": \"p\", \"registrar\": \"sip:h\",\n"
	    "   \"retry_min\": 10, \"retry_max\": 5}}]}",
	    "3: trunks[0].register.retry_max: 5 s is below retry_min");
	expect_error("{\"trunks\": [{\"name\": \"t\", \"sources\": [\"10.0.0.1\"],\n"
	    "  \"identity\": {\"shared\": {\"user\": \"1\"}, \"unmapped\": \"reject\"}}]}",
	    "2: trunks[0].identity: 'shared' takes every");
	expect_error("{\"trunks\": [{\"name\": \"t\", \"sources\": [\"10.0.0.1\"],\n"
	    "  \"identity\": {\"map\": [{\"local\": \"1\", \"user\": \"a b\"}]}}]}",
	    "2: trunks[0].identity.map[0].user: characters not allowed");
	expect_error("{\"trunks\": [{\"name\": \"t\"}]}",
	    "1: trunks[0]: a trunk needs 'sources', 'digest' or 'register'");
	expect_error("{\"protection\": {\"burst\": 5}}",
	    "1: protection.burst: a burst needs a 'rate'");
	expect_error("{\"protection\":\n {\"max_message\": 10}}",
	    "2: protection.max_message");
	expect_error("{\"protection\": {\"auth_failures\": 2.5}}",
	    "1: protection.auth_failures: must be a whole number");
	expect_error("{\"protection\":\n {\"auth_window\": 0}}",
	    "2: protection.auth_window");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
