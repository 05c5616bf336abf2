/*
 * test_ctl_websdp.c: SDP between a browser and the relay
 * (controller/websdp.c). A Chromium offer becomes relay media with the
 * WebRTC fields and a plain RTP/AVP offer for the SIP side holding only
 * G.711 and telephone-event, with no ICE, DTLS or browser attribute; a
 * relay reply for the WebRTC leg and the SIP side's answer become an
 * ICE-lite answer for the browser with the relay's candidate only, our
 * fingerprint, rtcp-mux, the browser's mid and a BUNDLE group. Offers
 * that cannot be a WebRTC leg are refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "controller.h"

#define FP "sha-256 47:5C:A4:DC:11:22:33:44:55:66:77:88:99:AA:BB:CC:" \
	"DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:83:1B"

/* Chromium 156's offer (the recipe's sample, shortened ids). */
static const char *chrome =
	"v=0\r\n"
	"o=- 4851324021983385561 2 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"t=0 0\r\n"
	"a=group:BUNDLE 0\r\n"
	"a=extmap-allow-mixed\r\n"
	"a=msid-semantic: WMS 9c902f6f\r\n"
	"m=audio 41808 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"a=rtcp:9 IN IP4 0.0.0.0\r\n"
	"a=candidate:3154231157 1 udp 2122260223 127.0.0.1 41808 typ host generation 0 network-id 1 network-cost 50\r\n"
	"a=candidate:3268304365 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0 network-id 1 network-cost 50\r\n"
	"a=ice-ufrag:AYc8\r\n"
	"a=ice-pwd:NgWasZCGWqUGys35pCZXPxPP\r\n"
	"a=ice-options:trickle\r\n"
	"a=fingerprint:" FP "\r\n"
	"a=setup:actpass\r\n"
	"a=mid:0\r\n"
	"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
	"a=sendrecv\r\n"
	"a=msid:9c902f6f 56416b15\r\n"
	"a=rtcp-mux\r\n"
	"a=rtcp-rsize\r\n"
	"a=rtpmap:111 opus/48000/2\r\n"
	"a=rtcp-fb:111 transport-cc\r\n"
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n"
	"a=rtpmap:63 red/48000/2\r\n"
	"a=fmtp:63 111/111\r\n"
	"a=rtpmap:9 G722/8000\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=rtpmap:13 CN/8000\r\n"
	"a=rtpmap:110 telephone-event/48000\r\n"
	"a=rtpmap:126 telephone-event/8000\r\n"
	"a=ssrc:548019566 cname:uaux9QSMJrBQQD/m\r\n";

static void
assert_absent(const char *sdp, const char *what)
{
	if (strstr(sdp, what) != NULL)
		fail_msg("'%s' in:\n%s", what, sdp);
}

static void
test_browser_offer_to_relay_media_and_plain_sip_offer(void **state)
{
	struct media_desc *media = NULL;
	char *sip = NULL, err[160];
	const struct media_line *o;

	if (websdp_offer(chrome, "RTP/AVP", &media, &sip, err, sizeof(err)) != 0)
		fail_msg("the Chromium offer was refused: %s", err);
	assert_int_equal(media->n, 1);
	o = &media->line[0];
	assert_string_equal(o->transport, "UDP/TLS/RTP/SAVPF");
	assert_string_equal(o->ice_ufrag, "AYc8");
	assert_string_equal(o->ice_pwd, "NgWasZCGWqUGys35pCZXPxPP");
	assert_string_equal(o->fingerprint, FP);
	assert_string_equal(o->setup, "actpass");
	assert_true(o->rtcp_mux);
	assert_string_equal(o->peer_transport, "RTP/AVP");
	assert_string_equal(o->address, "127.0.0.1");
	assert_int_equal(o->rtp_port, 41808);
	assert_int_equal(o->rtcp_port, 0);
	/* the SIP side: G.711 and telephone-event/8000 only, plain RTP */
	assert_non_null(strstr(sip, "m=audio 41808 RTP/AVP 0 8 126\r\n"));
	assert_non_null(strstr(sip, "a=rtpmap:126 telephone-event/8000\r\n"));
	for (const char *const *w = (const char *const[]){ "ice-", "candidate",
	    "fingerprint", "setup", "SAVPF", "opus", "G722", "extmap", "msid",
	    "ssrc", "rtcp-fb", "mid", "BUNDLE", "rtcp-mux", NULL }; *w; w++)
		assert_absent(sip, *w);
	/* and it is SDP the SIP code can use */
	struct media_desc *m2 = sdp_to_media(sip, strlen(sip), err, sizeof(err));
	assert_non_null(m2);
	free(m2);
	free(media);
	free(sip);
}

/* A relay's reply for a WebRTC leg as relay.c reads it. */
static struct media_desc *
relay_reply(void)
{
	struct media_desc *md = calloc(1, sizeof(*md));
	struct media_line *l = &md->line[0];

	md->n = 1;
	strcpy(l->type, "audio");
	strcpy(l->address, "192.0.2.10");
	l->rtp_port = 30000;
	l->rtcp_mux = true;
	strcpy(l->transport, "UDP/TLS/RTP/SAVPF");
	strcpy(l->ice_ufrag, "relayUfr");
	l->ice_lite = true;
	strcpy(l->ice_pwd, "0XKvxVkuG0rDj83jqcM3acCi");
	strcpy(l->fingerprint, "sha-256 89:EE:00:11:22:33:44:55:66:77:88:99:"
	    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:7C");
	strcpy(l->setup, "passive");
	l->ncand = 1;
	strcpy(l->cand[0].address, "192.0.2.10");
	l->cand[0].port = 30000;
	l->cand[0].priority = 2130706431;
	strcpy(l->cand[0].foundation, "1");
	return md;
}

static void
test_relay_reply_to_ice_lite_answer(void **state)
{
	const char *gw = "v=0\r\no=gw 7 7 IN IP4 198.51.100.9\r\ns=-\r\n"
	    "c=IN IP4 198.51.100.9\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8 0 126\r\n"
	    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
	    "a=rtpmap:126 telephone-event/8000\r\na=sendrecv\r\n";
	struct media_desc *media = relay_reply();
	char err[160], *sdp = websdp_answer(media, gw, chrome, err, sizeof(err));

	if (sdp == NULL)
		fail_msg("no answer: %s", err);
	assert_non_null(strstr(sdp, "a=ice-lite\r\n"));
	assert_non_null(strstr(sdp, "a=group:BUNDLE 0\r\n"));
	assert_non_null(strstr(sdp, "m=audio 30000 UDP/TLS/RTP/SAVPF 8 0 126\r\n"));
	assert_non_null(strstr(sdp, "c=IN IP4 192.0.2.10\r\n"));
	assert_non_null(strstr(sdp, "a=mid:0\r\n"));
	assert_non_null(strstr(sdp, "a=rtcp-mux\r\n"));
	assert_non_null(strstr(sdp, "a=ice-ufrag:relayUfr\r\n"));
	assert_non_null(strstr(sdp, "a=ice-pwd:0XKvxVkuG0rDj83jqcM3acCi\r\n"));
	assert_non_null(strstr(sdp, "a=fingerprint:sha-256 89:EE:"));
	assert_non_null(strstr(sdp, "a=setup:passive\r\n"));
	assert_non_null(strstr(sdp, "a=candidate:1 1 udp 2130706431 192.0.2.10 30000 typ host\r\n"));
	/* nothing of the SIP side, nothing we do not implement */
	assert_absent(sdp, "198.51.100.9");
	assert_absent(sdp, "transport-cc");
	assert_absent(sdp, "extmap");
	assert_absent(sdp, "AYc8");
	free(sdp);
	free(media);
}

static void
test_telephone_event_with_another_pt_is_dropped(void **state)
{
	const char *gw = "v=0\r\no=gw 7 7 IN IP4 198.51.100.9\r\ns=-\r\n"
	    "c=IN IP4 198.51.100.9\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 101\r\n"
	    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
	struct media_desc *media = relay_reply();
	char err[160], *sdp = websdp_answer(media, gw, chrome, err, sizeof(err));

	if (sdp == NULL)
		fail_msg("no answer: %s", err);
	assert_non_null(strstr(sdp, "m=audio 30000 UDP/TLS/RTP/SAVPF 0\r\n"));
	/* not "101" alone: the random o= session id may hold it */
	assert_absent(sdp, ":101");
	assert_absent(sdp, "telephone-event");
	free(sdp);
	free(media);
}

static void
test_unusable_offers_and_replies_refused(void **state)
{
	static const struct { const char *from, *to, *why; } cases[] = {
		{ "UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "RTP/AVP 0 8", "must be" },
		{ "a=ice-ufrag:AYc8", "a=ice-ufrag:A", "ice-ufrag" },
		{ "a=fingerprint:sha-256 47", "a=fingerprint:sha-1 47", "fingerprint" },
		{ "a=setup:actpass", "a=setup:holdconn", "setup" },
		{ "a=rtcp-mux\r\n", "a=rtcp-rsize-x\r\n", "rtcp-mux" },
		{ "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000", "a=rtpmap:0 XXXX/8000\r\na=rtpmap:8 YYYY/8000", "codec" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = malloc(strlen(chrome) + 64), err[160] = "", *sip = NULL;
		const char *at = strstr(chrome, cases[i].from);
		struct media_desc *media = NULL;
		assert_non_null(at);
		sprintf(s, "%.*s%s%s", (int)(at - chrome), chrome, cases[i].to,
		    at + strlen(cases[i].from));
		assert_int_equal(websdp_offer(s, "RTP/AVP", &media, &sip, err, sizeof(err)),
		    -EINVAL);
		assert_null(media);
		assert_null(sip);
		if (strstr(err, cases[i].why) == NULL)
			fail_msg("case %zu: '%s' does not say %s", i, err, cases[i].why);
		free(s);
	}
	/* a relay that does not speak WebRTC yet: a clear error */
	struct media_desc *plain = relay_reply();
	char err[160];
	memset(&plain->line[0], 0, sizeof(plain->line[0]));
	strcpy(plain->line[0].address, "192.0.2.10");
	plain->line[0].rtp_port = 30000;
	assert_null(websdp_answer(plain, chrome, chrome, err, sizeof(err)));
	assert_non_null(strstr(err, "WebRTC"));
	/* no media at all (a reply without it), and a candidate relay.c
	 * left empty because its address did not fit */
	assert_null(websdp_answer(NULL, chrome, chrome, err, sizeof(err)));
	free(plain);
	plain = relay_reply();
	plain->line[0].cand[0].address[0] = '\0';
	assert_null(websdp_answer(plain, chrome, chrome, err, sizeof(err)));
	assert_non_null(strstr(err, "candidate 0"));
	free(plain);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_browser_offer_to_relay_media_and_plain_sip_offer),
		cmocka_unit_test(test_relay_reply_to_ice_lite_answer),
		cmocka_unit_test(test_telephone_event_with_another_pt_is_dropped),
		cmocka_unit_test(test_unusable_offers_and_replies_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
