/*
 * fuzz_proto.c: libFuzzer target for everything that reads untrusted
 * bytes in proto/: the framer (fed in chunks whose sizes come from the
 * input), request validation for both roles, client-side message parsing,
 * reply building and encoding, and the config field locator; and that
 * jsonfast.c's fast path never parses a line otherwise than jansson.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jsonfast.c's promise: what it parses, json_loadb parses alike. */
static void
same_as_jansson(const char *line, size_t len)
{
	json_t *fast = proto_json_fast(line, len), *slow;

	if (fast == NULL)
		return;
	slow = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (slow == NULL || !json_equal(fast, slow))
		abort();
	json_decref(fast);
	json_decref(slow);
}

static void
one_line(const char *line, size_t len)
{
	static const enum proto_role roles[] = { PROTO_ROLE_RELAY,
	    PROTO_ROLE_CONTROLLER };
	struct proto_error err;
	const char *cmd;
	json_t *id, *req, *reply, *msg;
	size_t n;

	for (size_t r = 0; r < 2; r++) {
		req = proto_parse_request(line, len, roles[r], &id, &cmd, &err);
		reply = req != NULL ? proto_reply_ok(id) :
		    proto_reply_error(id, &err);
		free(proto_encode(reply, &n));
		json_decref(reply);
		json_decref(req);
		json_decref(id);
	}
	msg = proto_parse_message(line, len, &err);
	json_decref(msg);
	same_as_jansson(line, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_framer f;
	size_t off = 0, len;
	char *line, *text;
	int rc;

	proto_framer_init(&f, 4096);
	while (off < size) {
		size_t chunk = 1 + data[off] % 64;
		if (chunk > size - off)
			chunk = size - off;
		if (proto_framer_feed(&f, data + off, chunk) < 0)
			break;
		off += chunk;
		while ((rc = proto_framer_next(&f, &line, &len)) == 1)
			one_line(line, len);
		if (rc < 0)
			break;	/* the server closes the connection here */
	}
	proto_framer_free(&f);
	text = malloc(size + 1);
	if (text != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
		proto_json_locate(text, size, "a.b[1]");
		free(text);
	}
	return 0;
}
