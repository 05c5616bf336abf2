/*
 * fuzz_sdp.c: libFuzzer target for the SDP the controller takes from the
 * network: parsing into relay media and rewriting with a relay's reply
 * (one media entry per m= line, a relay address, ports), as sdp.c does
 * for every offer and answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
only_relay(const char *out)
{
	static const char *const ok[] = { "c=IN IP4 203.0.113.1\r",
	    "c=IN IP6 2001:db8::1\r", "c=IN IP4 0.0.0.0\r", "c=IN IP6 ::\r",
	    NULL };

	for (const char *p = out; *p != '\0'; p = strchr(p, '\n') + 1) {
		int i;
		/* by name: "a=candidatex" is another attribute */
		if (strncmp(p, "a=candidate:", 12) == 0 ||
		    strncmp(p, "a=candidate\r", 12) == 0 ||
		    strncasecmp(p, "a=ice-", 6) == 0)
			return false;
		for (i = 0; p[0] == 'c' && ok[i] != NULL; i++)
			if (strncmp(p, ok[i], strlen(ok[i])) == 0)
				break;
		if (p[0] == 'c' && ok[i] == NULL)
			return false;
		if (strchr(p, '\n') == NULL)
			break;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160], *out;
	struct media_desc *media, relay = { 0 };
	struct sdp_origin o = { 0, size, 0 };

	media = sdp_to_media((const char *)data, size, err, sizeof(err));
	if (media == NULL)
		return 0;
	for (int i = 0; i < media->n; i++) {
		struct media_line *l = &relay.line[relay.n++];
		snprintf(l->address, sizeof(l->address), "%s",
		    i % 2 ? "2001:db8::1" : "203.0.113.1");
		l->rtp_port = 30000 + 2 * (unsigned)i;
		l->rtcp_port = i % 3 ? 30001 + 2 * (unsigned)i : 40001;
	}
	out = sdp_rewrite((const char *)data, size, &relay, &o, err,
	    sizeof(err));
	/* The rewrite must parse again, with as many m= lines, and name
	 * nothing but the relay: no other c= address, no ICE. */
	if (out != NULL) {
		struct media_desc *again = sdp_to_media(out, strlen(out), err,
		    sizeof(err));
		if (again == NULL || again->n != media->n)
			abort();
		free(again);
		if (!only_relay(out))
			abort();
	}
	free(out);
	free(media);
	return 0;
}
