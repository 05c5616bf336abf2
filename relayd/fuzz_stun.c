/*
 * fuzz_stun.c: libFuzzer target for relayd's STUN parser (stun.c), the
 * first code a browser's (or anyone's) packet meets on a WebRTC leg:
 * parse, then check username, integrity and fingerprint as webrtc.c does,
 * and build an answer from what was parsed.
 */
#include <stdint.h>
#include <string.h>

#include "relayd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage src;
	struct stun_msg m;
	uint8_t out[256];

	if (stun_parse(data, size, &m) < 0)
		return 0;
	(void)stun_username_ok(&m, "abcd1234", "rem0");
	(void)stun_username_ok(&m, "abcd1234", NULL);
	(void)stun_integrity_ok(data, &m, "0123456789abcdefghijklmnopqrstuv",
	    32);
	(void)stun_fingerprint_ok(data, &m);
	if (m.has_xor_mapped)
		src = m.xor_mapped;
	else
		addr_parse("192.0.2.1", 32853, &src);
	(void)stun_binding_success(m.txid, &src, "pw", 2, out, sizeof(out));
	return 0;
}
