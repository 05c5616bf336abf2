/*
 * test_ctl_sipfilter.c: sipfilter.c's verdicts (issue 12): what the SIP
 * stack must never see. Strangers in drop mode (every method, garbage),
 * responses and our calls' in-dialog requests from anywhere, and
 * requests without To tag in a running call's dialog in either mode,
 * but the caller's INVITE (retransmitted) and CANCEL.
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

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>

static const char conf_drop[] =
    "{\"sip\": {\"listen\": \"192.0.2.10:5060\"}, \"unknown_source\": \"drop\","
    " \"trunks\": [{\"name\": \"pbx\", \"sources\": [\"192.0.2.2\"]}]}";
static const char conf_reject[] =
    "{\"sip\": {\"listen\": \"192.0.2.10:5060\"},"
    " \"trunks\": [{\"name\": \"pbx\", \"sources\": [\"192.0.2.2\"]}]}";

static struct ctl_conf *
load(const char *text)
{
	char path[] = "/tmp/tl-ctlsipfilter-XXXXXX", err[512];
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

/* The verdict on one request (or response) text from ip. */
static int
verdict(struct ctl *c, const char *ip, const char *text)
{
	struct sockaddr_in in;
	char why[160];
	msg_t *msg = msg_make(sip_default_mclass(), 0, text,
	    (ssize_t)strlen(text));
	su_addrinfo_t *ai;
	int v;

	assert_non_null(msg);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(5060);
	assert_int_equal(inet_pton(AF_INET, ip, &in.sin_addr), 1);
	msg_set_address(msg, (su_sockaddr_t const *)&in, sizeof(in));
	ai = msg_addrinfo(msg);
	ai->ai_socktype = SOCK_DGRAM;
	ai->ai_protocol = IPPROTO_UDP;
	v = sipfilter_verdict(c, msg, sip_object(msg), why, sizeof(why));
	if (v != SF_PASS)
		assert_true(why[0] != '\0');
	msg_destroy(msg);
	return v;
}

static char *
req(char *buf, size_t len, const char *method, const char *cid,
    const char *ftag, const char *ttag, unsigned cseq, const char *cmethod)
{
	snprintf(buf, len, "%s sip:441234567@192.0.2.10 SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK1\r\n"
	    "From: <sip:a@192.0.2.99>;tag=%s\r\n"
	    "To: <sip:441234567@192.0.2.10>%s%s\r\n"
	    "Call-ID: %s\r\nCSeq: %u %s\r\nMax-Forwards: 70\r\n"
	    "Content-Length: 0\r\n\r\n", method, ftag, ttag ? ";tag=" : "",
	    ttag ? ttag : "", cid, cseq, cmethod ? cmethod : method);
	return buf;
}

/* One running call: A leg victim/vtag (INVITE CSeq 1), B leg bcid. */
static struct call *
one_call(struct ctl *c)
{
	struct call *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	snprintf(k->call_id, sizeof(k->call_id), "victim");
	snprintf(k->from_tag, sizeof(k->from_tag), "vtag");
	snprintf(k->b_call_id, sizeof(k->b_call_id), "bcid");
	k->a_cseq = 1;
	k->a.nh = (nua_handle_t *)(uintptr_t)1;	/* only tested for NULL */
	c->calls = k;
	return k;
}

static void
test_strangers(void **state)
{
	struct ctl c = { .conf = load(conf_drop), .log_level = LL_ERROR };
	static const char *const methods[] = { "INVITE", "OPTIONS",
	    "REGISTER", "BYE", "MESSAGE", "INFO", "SUBSCRIBE", NULL };
	char b[1024];

	one_call(&c);
	for (int i = 0; methods[i] != NULL; i++) {
		assert_int_equal(verdict(&c, "203.0.113.7", req(b, sizeof(b),
		    methods[i], "x1", "t1", NULL, 1, NULL)), SF_UNKNOWN);
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    methods[i], "x1", "t1", NULL, 1, NULL)), SF_PASS);
	}
	/* In-dialog: only our calls' (a gateway's BYE on the B leg). */
	assert_int_equal(verdict(&c, "198.51.100.5", req(b, sizeof(b), "BYE",
	    "bcid", "g1", "ours", 2, NULL)), SF_PASS);
	assert_int_equal(verdict(&c, "198.51.100.5", req(b, sizeof(b), "BYE",
	    "other", "g1", "ours", 2, NULL)), SF_UNKNOWN);
	/* Responses pass; headers missing from a stranger do not. */
	assert_int_equal(verdict(&c, "203.0.113.7", "SIP/2.0 200 OK\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK2\r\n"
	    "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r\r\n"
	    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"), SF_PASS);
	assert_int_equal(verdict(&c, "203.0.113.7", "OPTIONS sip:x@y SIP/2.0"
	    "\r\nContent-Length: 0\r\n\r\n"), SF_GARBAGE);
	free(c.calls);
	config_unref(c.conf);
}

static void
test_no_to_tag(void **state)
{
	const char *confs[] = { conf_drop, conf_reject };
	char b[1024];

	for (int i = 0; i < 2; i++) {
		struct ctl c = { .conf = load(confs[i]), .log_level = LL_ERROR };
		struct call *k = one_call(&c);

		/* From the trunk's own address and from a stranger alike. */
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    "BYE", "victim", "vtag", NULL, 1000, NULL)), SF_POISON);
		assert_int_equal(verdict(&c, "203.0.113.7", req(b, sizeof(b),
		    "INFO", "victim", "vtag", NULL, 2, NULL)), SF_POISON);
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    "INVITE", "victim", "vtag", NULL, 2, NULL)), SF_POISON);
		/* The caller's own INVITE again and its CANCEL. */
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    "INVITE", "victim", "vtag", NULL, 1, NULL)), SF_PASS);
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    "CANCEL", "victim", "VTAG", NULL, 1, NULL)), SF_PASS);
		/* With the To tag: the stack (and indialog.c) decide. */
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    "BYE", "victim", "vtag", "ours", 2, NULL)), SF_PASS);
		/* Another From tag: another dialog, not matched by the stack. */
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    "INVITE", "victim", "other", NULL, 1, NULL)), SF_PASS);
		/* A call that is over: nothing left to poison. */
		k->finished = true;
		assert_int_equal(verdict(&c, "192.0.2.2", req(b, sizeof(b),
		    "BYE", "victim", "vtag", NULL, 1000, NULL)), SF_PASS);
		/* Reject mode: strangers reach the stack (it answers 403). */
		if (i == 1)
			assert_int_equal(verdict(&c, "203.0.113.7", req(b,
			    sizeof(b), "INVITE", "x2", "t2", NULL, 1, NULL)),
			    SF_PASS);
		free(c.calls);
		config_unref(c.conf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strangers),
		cmocka_unit_test(test_no_to_tag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
