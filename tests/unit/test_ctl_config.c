/*
 * test_ctl_config.c: the controller's configuration: a full file loads
 * with its references resolved, defaults apply, and every error names
 * the file, the line and the field.
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

#include "controller.h"

static char dir[64], file[96];

static int
setup(void **state)
{
	strcpy(dir, "/tmp/tl-ctlconf-XXXXXX");
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

static void
write_file(const char *text)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Load text; expect failure with `want` in the message. */
static void
expect_error(const char *text, const char *want)
{
	struct ctl_conf *conf = NULL;
	char err[512], full[600];

	write_file(text);
	assert_int_equal(config_load(file, NULL, &conf, err, sizeof(err)), -1);
	assert_null(conf);
	snprintf(full, sizeof(full), "%s:%s", file, want);
	if (strstr(err, full) == NULL) {
		fprintf(stderr, "got:  %s\nwant: %s\n", err, full);
		fail();
	}
}

static const char *full_config =
	"{\n"
	"  \"sip\": {\"listen\": \"127.0.0.1:5070\"},\n"
	"  \"relays\": [{\"name\": \"a\", \"socket\": \"/tmp/a.sock\"},\n"
	"             {\"name\": \"b\", \"socket\": \"/tmp/b.sock\", \"interfaces\": [\"ext\", \"int\"]}],\n"
	"  \"failover_codes\": [503, 408],\n"
	"  \"trunks\": [\n"
	"    {\"name\": \"pbx\", \"sources\": [\"10.0.0.0/8\", {\"address\": \"192.0.2.1\", \"port\": 5060, \"transport\": \"udp\"}],\n"
	"     \"max_calls\": 10, \"max_cps\": 2.5,\n"
	"     \"transforms\": {\"called\": [{\"match\": \"^0(.*)$\", \"replace\": \"44\\\\1\"}]}},\n"
	"    {\"name\": \"acct\", \"digest\": {\"username\": \"u\", \"password\": \"p\"}}\n"
	"  ],\n"
	"  \"gateways\": [\n"
	"    {\"name\": \"g1\", \"host\": \"gw1.example\", \"port\": 5080, \"transport\": \"tcp\", \"caller_id\": \"pai\",\n"
	"     \"username\": \"me\", \"password\": \"pw\"},\n"
	"    {\"name\": \"g2\", \"host\": \"192.0.2.9\"}\n"
	"  ],\n"
	"  \"carriers\": [{\"name\": \"c1\", \"gateways\": [{\"gateway\": \"g1\", \"priority\": 1, \"weight\": 3}, \"g2\"]}],\n"
	"  \"lcr\": [{\"name\": \"t\", \"prefixes\": [{\"prefix\": \"44\", \"carriers\": [\"c1\"]}, {\"prefix\": \"\", \"carriers\": [\"c1\"]}]}],\n"
	"  \"routes\": [{\"name\": \"r\", \"trunk\": \"pbx\", \"ruri\": \"^sip:\", \"lcr\": \"t\"},\n"
	"             {\"carriers\": [\"c1\"]}]\n"
	"}\n";

/* forking: parallel by default, the account's own wins (fork.c). */
static void
test_forking(void **state)
{
	struct ctl_conf *c = NULL;
	char err[512] = "";

	write_file("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\"}]}");
	assert_int_equal(config_load(file, NULL, &c, err, sizeof(err)), 0);
	assert_int_equal(c->forking, FORK_DEFAULT);	/* parallel */
	assert_int_equal(c->local->accounts[0].forking, FORK_DEFAULT);
	config_unref(c);
	write_file("{\"forking\": \"sequential\", \"accounts\": [\n"
	    " {\"username\": \"a\", \"password\": \"p\", \"forking\": \"parallel\"},\n"
	    " {\"username\": \"b\", \"password\": \"p\"}]}");
	assert_int_equal(config_load(file, NULL, &c, err, sizeof(err)), 0);
	assert_int_equal(c->forking, FORK_SEQUENTIAL);
	assert_int_equal(c->local->accounts[0].forking, FORK_PARALLEL);
	assert_int_equal(c->local->accounts[1].forking, FORK_DEFAULT);
	config_unref(c);
}

static void
test_full(void **state)
{
	struct ctl_conf *c = NULL;
	char err[512] = "";

	write_file(full_config);
	if (config_load(file, NULL, &c, err, sizeof(err)) != 0)
		fprintf(stderr, "%s\n", err);
	assert_non_null(c);
	assert_string_equal(c->listen, "127.0.0.1:5070");
	assert_int_equal(c->nrelays, 2);
	assert_string_equal(c->relays[1].interfaces[1], "int");
	assert_int_equal(c->nfailover, 2);
	assert_true(config_failover_code(c, 408));
	assert_false(config_failover_code(c, 486));
	assert_int_equal(c->ntrunks, 2);
	assert_int_equal(c->trunks[0].nsources, 2);
	assert_int_equal(c->trunks[0].sources[1].port, 5060);
	assert_int_equal(c->trunks[0].sources[1].transport, TP_UDP);
	assert_int_equal(c->trunks[0].max_calls, 10);
	assert_true(c->trunks[0].max_cps == 2.5);
	assert_int_equal(c->trunks[0].xf.called.n, 1);
	assert_string_equal(c->trunks[1].realm, "trunkline");
	assert_int_equal(c->gateways[0].transport, TP_TCP);
	assert_int_equal(c->gateways[0].cid, CID_PAI);
	assert_int_equal(c->gateways[1].transport, TP_UDP);
	assert_ptr_equal(c->carriers[0].gws[0].gw, &c->gateways[0]);
	assert_int_equal(c->carriers[0].gws[0].weight, 3);
	assert_int_equal(c->carriers[0].gws[1].priority, 2);	/* list order */
	assert_ptr_equal(c->routes[0].lcr, &c->tables[0]);
	assert_ptr_equal(c->routes[0].trunk, &c->trunks[0]);
	assert_int_equal(c->routes[1].ncarriers, 1);
	/* defaults */
	assert_true(c->invite_timeout == 8);
	assert_true(c->ring_timeout == 180 && !c->failover_early);
	assert_string_equal(c->socket_path, "/run/trunkline/controller.sock");
	assert_true(c->control_established_timeout == 300);
	config_unref(c);
}

static void
test_errors(void **state)
{
	expect_error("{\n  \"sip\": {\"listen\": 5}\n}\n", "2: sip.listen: expected a string");
	expect_error("{\n  \"nope\": 1\n}\n", "2: nope: unknown field");
	expect_error("{\"control\": {\n\"established_timeout\": 0.5}}",
	    "2: control.established_timeout: 0 (never) or 1 to 86400");
	expect_error("{\"control\": {\n\"established_timeout\": -1}}",
	    "2: control.established_timeout: must be between 0 and 86400");
	expect_error("{\n \"trunks\": [\n  {\"name\": \"a\",\n   \"sources\": [\"10.0.0.300\"]}]}\n",
	    "4: trunks[0].sources[0]: '10.0.0.300' is not an address");
	expect_error("{\"trunks\": [{\"name\": \"a\"}]}", "1: trunks[0]: a trunk needs");
	expect_error("{\"trunks\": [{\"name\": \"a\", \"sources\": [\"1.2.3.4\"]},\n"
	    "{\"name\": \"a\", \"sources\": [\"1.2.3.5\"]}]}", "2: trunks[1].name: duplicate trunk name 'a'");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n \"transport\": \"sctp\"}]}",
	    "2: gateways[0].transport: 'sctp' is not one of udp, tcp, tls");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\"}],\n"
	    " \"carriers\": [{\"name\": \"c\", \"gateways\": [\n  \"nosuch\"]}]}",
	    "3: carriers[0].gateways[0]: no gateway named 'nosuch'");
	expect_error("{\"routes\": [\n {\"name\": \"r\", \"lcr\": \"missing\"}]}",
	    "2: routes[0].lcr: no LCR table named 'missing'");
	expect_error("{\"routes\": [\n {\"name\": \"r\",\n  \"ruri\": \"([a-\"}]}",
	    "3: routes[0].ruri: bad regular expression");
	expect_error("{\"trunks\": [{\"name\": \"a\", \"sources\": [\"1.2.3.4\"],\n"
	    "  \"transforms\": {\"called\": [{\"strip\": 1, \"prefix\": \"0\"}]}}]}",
	    "2: trunks[0].transforms.called[0]: one step per object");
	expect_error("{\"trunks\": [{\"name\": \"a\",\n \"digest\": {\"username\": \"u\", \"ha1\": \"xyz\"}}]}",
	    "2: trunks[0].digest.ha1: must be 32 lowercase hex digits");
	expect_error("{\"failover_codes\": [200]}", "1: failover_codes[0]: a reply code 300..599");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n \"uri_params\": \"user=phone\"}]}",
	    "2: gateways[0].uri_params: 'user=phone': URI parameters such as");
	expect_error("{\"unknown_source\": \"ignore\"}", "1: unknown_source: 'ignore' is not reject");
	expect_error("{\"sip\": {\"tls_listen\": \"127.0.0.1:5061\"}}", "1: sip: 'tls_listen' and 'tls_cert_dir' go together");
	/* issue 15: TLS trust, advertised addresses, NAT keepalives */
	expect_error("{\"sip\": {\n\"tls_client_cert\": \"maybe\"}}",
	    "2: sip.tls_client_cert: 'maybe' is not none or required");
	expect_error("{\"sip\": {\"tls_client_subjects\": [\"a\"]}}",
	    "1: sip.tls_client_subjects: needs tls_client_cert: required");
	expect_error("{\"sip\": {\"tls_client_cert\": \"required\"}}",
	    "1: sip.tls_client_cert: needs a TLS listener");
	expect_error("{\"sip\": {\"tls_verify_depth\": 0}}",
	    "1: sip.tls_verify_depth: must be between");
	expect_error("{\"sip\": {\"advertise\": \"a b\"}}",
	    "1: sip.advertise: 'a b' is not HOST or HOST:PORT");
	expect_error("{\"sip\": {\"tls_advertise\": \"198.51.100.1:0\"}}",
	    "1: sip.tls_advertise: '198.51.100.1:0': port must be 1..65535");
	/* stack6.c, listen.c: the IPv6 listeners and their public address */
	expect_error("{\"sip\": {\"listen6\": \"::1\",\n\"advertise6\": \"192.0.2.1\"}}",
	    "2: sip.advertise6: '192.0.2.1' is not an IPv6 address");
	expect_error("{\"sip\": {\"advertise6\": \"2001:db8::1\"}}",
	    "1: sip.advertise6: needs sip.listen6");
	expect_error("{\"sip\": {\"listen6\": \"::1\", \"advertise6\": \"[2001:db8::1]:0\"}}",
	    "1: sip.advertise6: '[2001:db8::1]:0': port must be 1..65535");
	expect_error("{\"sip\": {\"tls_listen6\": \"::1\"}}",
	    "1: sip.tls_listen6: needs sip.listen6 and sip.tls_listen");
	expect_error("{\"sip\": {\"listen6\": \"::1\", \"tls_listen6\": \"10.0.0.1\"}}",
	    "1: sip.tls_listen6: '10.0.0.1' is not an IPv6 address");
	expect_error("{\"registrar\": {\"nat_keepalive\": -1}}",
	    "1: registrar.nat_keepalive: must be between");
	expect_error("{\"lcr\": [{\"name\": \"t\", \"prefixes\": [\n {\"prefix\": \"4a\", \"carriers\": []}]}]}",
	    "2: lcr[0].prefixes[0].prefix: '4a': digits only");
	expect_error("{\n\"invite_timeout\": 0}", "2: invite_timeout: must be between");
	/* session_timer.c */
	expect_error("{\"min_se\": 90,\n\"session_expires\": 60}",
	    "2: session_expires: 60 is below min_se (90)");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n \"session_expires\": 1.5}]}",
	    "2: gateways[0].session_expires: whole seconds expected");
	/* issue 13: attempt timers, early media (attempt.c) */
	expect_error("{\n\"ring_timeout\": -1}", "2: ring_timeout: must be between");
	expect_error("{\"failover_after_early\":\n \"yes\"}", "2: failover_after_early: expected true or false");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n \"invite_timeout\": 0.01}]}",
	    "2: gateways[0].invite_timeout: must be between");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n \"ring_timeout\": 5}]}",
	    "2: gateways[0].ring_timeout: unknown field");
	expect_error("{\"routes\": [\n {\"name\": \"r\", \"lcr\": \"t\", \"ring_timeout\": 7200}]}",
	    "2: routes[0].ring_timeout: must be between");
	expect_error("{\"routes\": [\n {\"name\": \"r\", \"lcr\": \"t\", \"failover_after_early\": 1}]}",
	    "2: routes[0].failover_after_early: expected true or false");
	expect_error("{\"relays\": [\n {\"name\": \"r\", \"socket\": \"/s\", \"address\": \"1.2.3.4:5\"}]}",
	    "2: relays[0]: give exactly one of 'socket' (Unix) and 'address' (TCP)");
	expect_error("{\"relays\": [{\"name\": \"r\",\n \"address\": \"relay.example:5\", \"secret\": \"0123456789abcdef\"}]}",
	    "2: relays[0].address: 'relay.example:5' is not ADDRESS:PORT");
	expect_error("{\"relays\": [{\"name\": \"r\", \"address\": \"10.0.0.1:2224\",\n \"secret\": \"short\"}]}",
	    "2: relays[0].secret: a TCP relay needs its 'secret'");
	/* local accounts, emergency, ENUM (issue 6) */
	expect_error("{\"accounts\": [\n {\"username\": \"a\"}]}",
	    "2: accounts[0]: give exactly one of 'password' and 'ha1'");
	expect_error("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\"},\n"
	    " {\"username\": \"b\", \"password\": \"p\", \"aliases\": [\"a\"]}]}",
	    "2: accounts[1].aliases[0]: 'a' already names account 'a'");
	expect_error("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\",\n \"quick_dial\": \"00x\"}]}",
	    "2: accounts[0].quick_dial: '00x': digits only");
	expect_error("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\",\n \"region\": \"nl\"}]}",
	    "2: accounts[0].region: no emergency region 'nl'");
	expect_error("{\"emergency\": {\"numbers\": [\"112\"], \"regions\": [\n"
	    " {\"name\": \"nl\", \"destination\": \"tel:112\"}]}}",
	    "2: emergency.regions[0].destination: 'tel:112' is not a sip: or sips: URI");
	expect_error("{\"registrar\": {\"min_expires\": 100, \"max_expires\": 50}}",
	    "1: registrar: need min_expires <= default_expires <= max_expires");
	expect_error("{\"enum\": {\"resolv_conf\": \"/x\"}}", "1: enum: missing field 'suffix'");
	/* issue 15: a relay_interface needs the relays' interfaces */
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n"
	    " \"relay_interface\": \"core\"}]}",
	    "2: gateways[0].relay_interface: 'core' needs 'interfaces'");
	expect_error("{\"relays\": [{\"name\": \"r\", \"socket\": \"/s\",\n"
	    " \"interfaces\": [\"a\", \"b\"]}],\n \"trunks\": [{\"name\": \"t\",\n"
	    " \"sources\": [\"1.2.3.4\"], \"relay_interface\": 5}]}",
	    "4: trunks[0].relay_interface: expected a string");
	expect_error("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\",\n"
	    " \"relay_interface\": \"access\"}]}",
	    "2: accounts[0].relay_interface: 'access' needs 'interfaces'");
	/* fork.c: forking */
	expect_error("{\n\"forking\": \"all\"}",
	    "2: forking: 'all' is not parallel");
	expect_error("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\",\n"
	    " \"forking\": true}]}", "2: accounts[0].forking: expected a string");
	expect_error("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\",\n"
	    " \"forking\": \"Sequential\"}]}",
	    "2: accounts[0].forking: 'Sequential' is not parallel");
	/* JSON syntax errors keep jansson's line */
	expect_error("{\n\n  \"sip\": {,}\n}", "3:");
}

/* Issue 12: the trust keys, their defaults and their errors. */
static void
test_trust(void **state)
{
	struct ctl_conf *conf = NULL;
	const struct account *a;
	char err[512];

	write_file("{\"trunks\": [{\"name\": \"pbx\", \"sources\": [\"1.2.3.4\"],\n"
	    " \"trusted\": true, \"numbers\": [\"4930111*\", \"4930222\"],\n"
	    " \"default_cli\": \"4930111000\", \"region\": \"de\"},\n"
	    " {\"name\": \"d\", \"digest\": {\"username\": \"u\", \"password\": \"p\"},\n"
	    "  \"numbers\": [\"4930333\"]}],\n"
	    " \"gateways\": [{\"name\": \"g\", \"host\": \"h\", \"trusted\": true},\n"
	    "  {\"name\": \"g2\", \"host\": \"h\"}],\n"
	    " \"accounts\": [{\"username\": \"a\", \"password\": \"p\", \"default_cli\": \"4930444\"}],\n"
	    " \"emergency\": {\"numbers\": [\"112\"], \"regions\": [\n"
	    "  {\"name\": \"de\", \"destination\": \"sip:112@psap.example\"}]},\n"
	    " \"cdr\": \"/var/log/x/cdr.jsonl\"}\n");
	assert_int_equal(config_load(file, NULL, &conf, err, sizeof(err)), 0);
	assert_true(conf->trunks[0].trusted);
	assert_int_equal(conf->trunks[0].nnumbers, 2);
	assert_string_equal(conf->trunks[0].numbers[0], "4930111*");
	assert_string_equal(conf->trunks[0].default_cli, "4930111000");
	assert_string_equal(conf->trunks[0].region, "de");
	/* default_cli defaults to the first owned number */
	assert_false(conf->trunks[1].trusted);
	assert_string_equal(conf->trunks[1].default_cli, "4930333");
	assert_true(conf->gateways[0].trusted);
	assert_false(conf->gateways[1].trusted);
	/* a default_cli alone is the one number owned */
	a = local_find(conf, "a");
	assert_non_null(a);
	assert_int_equal(a->trunk.nnumbers, 1);
	assert_string_equal(a->trunk.numbers[0], "4930444");
	/* refusal records next to the CDR file by default */
	assert_string_equal(conf->refusal_path, "/var/log/x/refused.jsonl");
	assert_true(conf->refusal_rate == 10 && conf->refusal_burst == 50);
	config_unref(conf);

	expect_error("{\"trunks\": [{\"name\": \"d\", \"trusted\": true,\n"
	    " \"digest\": {\"username\": \"u\", \"password\": \"p\"}}]}",
	    "1: trunks[0].trusted: trust is given to source addresses");
	expect_error("{\"trunks\": [{\"name\": \"a\", \"sources\": [\"1.2.3.4\"],\n"
	    " \"numbers\": [\"49*1\"]}]}",
	    "2: trunks[0].numbers[0]: expected a number");
	expect_error("{\"trunks\": [{\"name\": \"a\", \"sources\": [\"1.2.3.4\"],\n"
	    " \"numbers\": [\"4930*\"]}]}",
	    "1: trunks[0]: 'numbers' starts with a range: give 'default_cli'");
	expect_error("{\"trunks\": [{\"name\": \"a\", \"sources\": [\"1.2.3.4\"],\n"
	    " \"default_cli\": \"anonymous\"}]}",
	    "2: trunks[0].default_cli: 'anonymous' is not a number");
	expect_error("{\"trunks\": [{\"name\": \"a\", \"sources\": [\"1.2.3.4\"],\n"
	    " \"region\": \"fr\"}]}",
	    "2: trunks[0].region: no emergency region 'fr'");
	expect_error("{\"accounts\": [{\"username\": \"a\", \"password\": \"p\",\n"
	    " \"trusted\": true}]}", "2: accounts[0].trusted: unknown field");
	expect_error("{\"gateways\": [{\"name\": \"g\", \"host\": \"h\",\n"
	    " \"trusted\": 1}]}", "2: gateways[0].trusted: expected");
	expect_error("{\"refusals\": {\"file\": \"\"}}",
	    "1: refusals.file: must not be empty");
	expect_error("{\"refusals\": {\n\"burst\": 0}}",
	    "2: refusals.burst: must be between");
}

static void
test_missing_file(void **state)
{
	struct ctl_conf *c = NULL;
	char err[256];

	assert_int_equal(config_load("/nonexistent/c.json", NULL, &c, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/c.json: No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
