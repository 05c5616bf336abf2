/*
 * test_ctl_targets.c: targets.c, where calls may go (issue 12): our own
 * addresses, configured gateways (host and outbound proxy), the
 * registrar's contact networks, ENUM domains, and loop detection
 * (Max-Forwards 0, our own Via).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "controller.h"

#include <sofia-sip/sip_header.h>

static const char conf_text[] =
    "{\"sip\": {\"listen\": \"192.0.2.10:5070\", \"advertise\": \"sbc.example.com\"},"
    " \"gateways\": ["
    "  {\"name\": \"carrier\", \"host\": \"198.51.100.5\", \"port\": 5060},"
    "  {\"name\": \"viaproxy\", \"host\": \"gw.example.org\","
    "   \"proxy\": \"sip:edge.carrier.example:5080;lr\"}],"
    " \"accounts\": [{\"username\": \"a\", \"password\": \"p\"}],"
    " \"registrar\": {\"contact_networks\": [\"203.0.113.0/24\", \"10.0.0.0/8\"]},"
    " \"enum\": {\"suffix\": \"e164.arpa\", \"domains\": [\"voip.example.net\", \"203.0.113.9\"]}}";

static struct ctl_conf *
load(const char *text)
{
	char path[] = "/tmp/tl-ctltargets-XXXXXX", err[512];
	struct ctl_conf *c = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (config_load(path, NULL, &c, err, sizeof(err)) < 0)
		fprintf(stderr, "%s\n", err);
	unlink(path);
	assert_non_null(c);
	return c;
}

static struct flow
flow4(const char *ip, int port)
{
	struct flow f;
	struct sockaddr_in *in = (struct sockaddr_in *)&f.addr;

	memset(&f, 0, sizeof(f));
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	f.transport = TP_UDP;
	return f;
}

static url_t
sip_url(const char *host)
{
	url_t u;

	memset(&u, 0, sizeof(u));
	u.url_type = url_sip;
	u.url_scheme = "sip";
	u.url_user = "00900123";
	u.url_host = host;
	return u;
}

static void
test_self_and_gateways(void **state)
{
	struct ctl c = { .conf = load(conf_text), .log_level = LL_ERROR };

	assert_true(target_is_self(&c, "192.0.2.10"));		/* listen */
	assert_true(target_is_self(&c, "SBC.example.com"));	/* advertise */
	assert_true(target_is_self(&c, "127.0.0.1"));		/* interface */
	assert_true(target_is_self(&c, "0.0.0.0"));
	assert_true(target_is_self(&c, ""));
	assert_false(target_is_self(&c, "198.51.100.77"));
	assert_string_equal(target_gateway(c.conf, "198.51.100.5")->name,
	    "carrier");
	assert_string_equal(target_gateway(c.conf, "GW.example.org")->name,
	    "viaproxy");
	assert_string_equal(target_gateway(c.conf,
	    "edge.carrier.example")->name, "viaproxy");
	assert_null(target_gateway(c.conf, "198.51.100.6"));
	config_unref(c.conf);
}

static void
test_contacts(void **state)
{
	struct ctl c = { .conf = load(conf_text), .log_level = LL_ERROR };
	struct flow phone = flow4("203.0.113.7", 5060);
	struct flow gwsrc = flow4("198.51.100.5", 5060);
	struct flow outside = flow4("192.0.2.99", 5060);
	url_t u;
	char why[160];

	u = sip_url("10.1.2.3");	/* behind NAT, listed network */
	assert_int_equal(target_check_contact(&c, &u, &phone, why,
	    sizeof(why)), 0);
	u = sip_url("198.51.100.5");
	assert_int_equal(target_check_contact(&c, &u, &phone, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "gateway carrier"));
	u = sip_url("edge.carrier.example");
	assert_int_equal(target_check_contact(&c, &u, &phone, why,
	    sizeof(why)), -EPERM);
	u = sip_url("192.0.2.10");
	assert_int_equal(target_check_contact(&c, &u, &phone, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "our own address"));
	u = sip_url("172.16.0.1");
	assert_int_equal(target_check_contact(&c, &u, &phone, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "contact_networks"));
	u = sip_url("phone.example.net");	/* a name: not provably inside */
	assert_int_equal(target_check_contact(&c, &u, &phone, why,
	    sizeof(why)), -EPERM);
	u = sip_url("203.0.113.7");
	assert_int_equal(target_check_contact(&c, &u, &gwsrc, why,
	    sizeof(why)), -EPERM);	/* a REGISTER from the gateway */
	assert_int_equal(target_check_contact(&c, &u, &outside, why,
	    sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "source"));
	config_unref(c.conf);
}

static void
test_enum(void **state)
{
	struct ctl c = { .conf = load(conf_text), .log_level = LL_ERROR };
	const struct gateway *gw;
	url_t u;
	char why[160];

	u = sip_url("voip.example.net");
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)), 0);
	u = sip_url("pbx.VOIP.example.net");
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)), 0);
	u = sip_url("evilvoip.example.net");
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)),
	    -EPERM);
	u = sip_url("203.0.113.9");
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)), 0);
	u = sip_url("1.203.0.113.9");
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)),
	    -EPERM);
	u = sip_url("198.51.100.5");
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)),
	    -EPERM);
	assert_string_equal(gw->name, "carrier");
	c.conf->local->enum_gateways = true;
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)), 1);
	assert_string_equal(gw->name, "carrier");
	u = sip_url("192.0.2.10");
	assert_int_equal(target_check_enum(&c, &u, &gw, why, sizeof(why)),
	    -EPERM);
	config_unref(c.conf);
}

static void
test_loops(void **state)
{
	struct ctl c = { .conf = load(conf_text), .log_level = LL_ERROR };
	su_home_t home[1] = { SU_HOME_INIT(home) };
	sip_t sip;
	char why[160];

	memset(&sip, 0, sizeof(sip));
	sip.sip_max_forwards = sip_max_forwards_make(home, "0");
	assert_int_equal(loop_check(&c, &sip, why, sizeof(why)), 483);
	sip.sip_max_forwards = sip_max_forwards_make(home, "1");
	sip.sip_via = sip_via_make(home, "SIP/2.0/UDP 198.51.100.5:5060;branch=z9hG4bK1");
	assert_int_equal(loop_check(&c, &sip, why, sizeof(why)), 0);
	/* Our Via under a proxy's: the request went out and came back. */
	sip.sip_via->v_next = sip_via_make(home,
	    "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK2");
	assert_int_equal(loop_check(&c, &sip, why, sizeof(why)), 482);
	/* Our address, another port: someone else on this host. */
	sip.sip_via->v_next = sip_via_make(home,
	    "SIP/2.0/UDP 192.0.2.10:5090;branch=z9hG4bK3");
	assert_int_equal(loop_check(&c, &sip, why, sizeof(why)), 0);
	su_home_deinit(home);
	config_unref(c.conf);
}

static void
test_config_errors(void **state)
{
	char path[] = "/tmp/tl-ctltargets-XXXXXX", err[512];
	struct ctl_conf *c = NULL;
	const char *bad = "{\"registrar\": {\"contact_networks\": [\"10.0.0.0/33\"]}}";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	assert_int_equal(config_load(path, NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "registrar.contact_networks[0]"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_and_gateways),
		cmocka_unit_test(test_contacts),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_loops),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
