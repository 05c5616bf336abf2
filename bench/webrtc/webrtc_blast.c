/*
 * webrtc_blast.c: a fast WebRTC "browser" for the SRTP cost bench
 * (bench/webrtc/srtp-cost.sh). It sets up a call on trunkline-relayd
 * through the control socket (offer: its SAVPF entry, peer_transport
 * RTP/AVP; answer: the plain sink), passes the relay's ICE-lite check,
 * does the DTLS handshake as the client with relayd's own dtls.c/srtp.c,
 * then waits for --go and sends --count SRTP packets at --rate while it
 * reads (and authenticates) what the relay encrypts toward it.
 * Python peers cannot send SRTP fast enough to load the relay.
 *
 *   webrtc_blast --sock S --call C --bind IP:PORT --sink IP:PORT
 *                --count N --rate PPS --ready FILE --go FILE [--ifaces A,B]
 *   webrtc_blast --crypto N     (the SRTP work alone, ns per packet)
 *
 * From its first check on it keeps ICE consent (RFC 7675) with a check
 * every 2 s, also while it waits for --go; --no-consent sends none after
 * the first (tests/integration/webrtc_consent.sh).
 *
 * Writes {"leg_b_port":..} to FILE.ready once DTLS is done, and a JSON
 * summary on stdout at the end. Every wait is bounded.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "relayd.h"

#define MY_UFRAG	"blst"
#define MY_PWD		"blastblastblastblastblast"

struct blast {
	int			 fd;
	struct sockaddr_storage	 relay;
	char			 user[300];	/* ICE: "RELAYUFRAG:blst" */
	char			 pwd[300];	/* the relay's ice-pwd */
	bool			 consent;	/* a check every 2 s */
	uint64_t		 last_check;	/* mono_us() of the last check sent */
	uint64_t		 received, received_ok;
	struct srtp_leg		*srtp;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "webrtc_blast: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One request, one reply line, on a fresh connection. The reply may take
 * seconds: the first WebRTC leg makes the relay's DTLS certificate (5.3 s
 * for a sanitizer build on a loaded machine). */
static json_t *
ctl(const char *path, json_t *req)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *text = json_dumps(req, JSON_COMPACT), buf[65536];
	size_t got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	json_t *reply;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || text == NULL ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die("control socket %s: %s", path, strerror(errno));
	if (write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0)
		die("control write: %s", strerror(errno));
	free(text);
	while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&p, 1, 30000) <= 0)
			die("control: no reply within 30 s");
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			die("control: connection closed");
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	reply = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	if (reply == NULL || !json_is_true(json_object_get(reply, "ok")))
		die("control: refused: %s", buf);
	json_decref(req);
	return reply;
}

static void
send_dtls(void *arg, const uint8_t *p, size_t len)
{
	struct blast *b = arg;

	(void)sendto(b->fd, p, len, 0, (struct sockaddr *)&b->relay,
	    addr_len(&b->relay));
}

static void
send_check(struct blast *b)
{
	uint8_t req[512], txid[12];
	int n;

	for (int i = 0; i < 12; i++)
		txid[i] = (uint8_t)rand();
	n = stun_binding_request(txid, b->user, 0x6e0001ff, true, b->pwd,
	    strlen(b->pwd), req, sizeof(req));
	if (n < 0)
		die("stun build: %s", strerror(-n));
	send_dtls(b, req, (size_t)n);
	b->last_check = mono_us();
}

/*
 * RFC 7675: a check 2 s after the last one, counted from the check that
 * opened ICE, not from the first packet: the relay's consent timer runs
 * from that check, and the handshake and the wait for --go come before
 * the first packet; on a loaded machine they may take longer than the
 * consent timeout less the period (1 s of webrtc_consent.sh's 3 s), and
 * consent then lapsed before the first renewal.
 */
static void
keep_consent(struct blast *b)
{
	if (b->consent && mono_us() - b->last_check >= 2000000)
		send_check(b);
}

/* ICE: one check with USE-CANDIDATE, answered with our integrity. */
static void
ice_check(struct blast *b, const char *ufrag, const char *pwd)
{
	uint8_t resp[2048];
	struct stun_msg m;

	snprintf(b->user, sizeof(b->user), "%s:%s", ufrag, MY_UFRAG);
	snprintf(b->pwd, sizeof(b->pwd), "%s", pwd);
	for (int try = 0; try < 30; try++) {	/* 15 s: a loaded machine */
		struct pollfd p = { .fd = b->fd, .events = POLLIN };
		int n;

		send_check(b);
		if (poll(&p, 1, 500) <= 0)
			continue;
		n = (int)recv(b->fd, resp, sizeof(resp), 0);
		if (n > 0 && stun_parse(resp, (size_t)n, &m) == 0 &&
		    m.type == STUN_BINDING_SUCCESS &&
		    stun_integrity_ok(resp, &m, pwd, strlen(pwd)))
			return;
	}
	die("ICE: no valid Binding success from the relay");
}

static void
dtls_connect(struct relayd *rd, struct blast *b, const char *fp_text)
{
	uint8_t fp[DTLS_FP_LEN], pkt[2048];
	struct rtc_srtp_keys k;
	struct dtls_conn *c;
	enum dtls_step s;
	uint64_t end = mono_us() + 20000000;	/* a loaded machine */
	int rc;

	if (dtls_fingerprint_parse(fp_text, fp) < 0)
		die("relay fingerprint '%s' does not parse", fp_text);
	c = dtls_conn_new(rd->dtls, false, fp, send_dtls, b);
	if (c == NULL)
		die("dtls: out of memory");
	s = dtls_conn_start(c);
	while (s == DTLS_STEP_AGAIN && mono_us() < end) {
		struct pollfd p = { .fd = b->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0) {
			dtls_conn_tick(c);
			continue;
		}
		n = recv(b->fd, pkt, sizeof(pkt), 0);
		if (n > 0 && pkt[0] >= 20 && pkt[0] <= 63)
			s = dtls_conn_input(c, pkt, (size_t)n);
	}
	if (s != DTLS_STEP_DONE)
		die("DTLS: %s", dtls_conn_error(c));
	if ((rc = dtls_conn_srtp_keys(c, &k)) < 0 ||
	    (rc = srtp_leg_new(&k, &b->srtp)) < 0)
		die("SRTP keys: %s", strerror(-rc));
	dtls_conn_free(c);
}

static void
drain(struct blast *b)
{
	uint8_t pkt[2048 + RTC_SRTP_ROOM];
	ssize_t n;

	while ((n = recv(b->fd, pkt, 2048, MSG_DONTWAIT)) > 0) {
		size_t len = (size_t)n;
		if (pkt[0] < 128 || pkt[0] > 191)
			continue;	/* answers to consent checks */
		b->received++;
		if (pkt[0] >= 128 && pkt[0] <= 191 &&
		    srtp_leg_unprotect(b->srtp, pkt, &len,
		    pkt_is_rtcp(pkt, len)) == 0)
			b->received_ok++;
	}
}

/* rtpgen's packet (tests/tools/rtpgen.c), so rtpsink checks every byte
 * the relay decrypted: "TLRG", the counter, a xorshift pattern. */
static void
rtpgen_packet(uint8_t *p, size_t len, uint32_t ssrc, uint32_t ctr)
{
	uint32_t x = (ssrc * 0x9E3779B1u) ^ (ctr * 0x85EBCA77u) ^ 0x6D2B79F5u;
	uint32_t ts = ctr * 160;

	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(ctr >> 8);
	p[3] = (uint8_t)ctr;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
		p[16 + i] = (uint8_t)(ctr >> (24 - 8 * i));
	}
	memcpy(p + 12, "TLRG", 4);
	if (x == 0)
		x = 1;
	for (size_t i = 20; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void
blast(struct blast *b, unsigned long count, unsigned long rate)
{
	uint8_t pkt[2048 + RTC_SRTP_ROOM];
	uint64_t start = mono_us();

	for (unsigned long i = 0; i < count; i++) {
		uint64_t due = start + (uint64_t)(i * 1000000.0 / (double)rate);
		size_t len = 172;

		keep_consent(b);
		while (mono_us() < due) {
			drain(b);
			if (due - mono_us() > 200)
				usleep(100);
		}
		rtpgen_packet(pkt, len, 0x1000, (uint32_t)i);
		if (srtp_leg_protect(b->srtp, pkt, &len, false) < 0)
			die("srtp protect failed at packet %lu", i);
		(void)sendto(b->fd, pkt, len, 0, (struct sockaddr *)&b->relay,
		    addr_len(&b->relay));
	}
}

/*
 * --crypto N: the SRTP work alone, in this process: ns per packet for
 * protect + unprotect of a 172-byte PCMU packet, per profile (what a
 * WebRTC leg adds to relaying, without sockets and wakeups).
 */
static void
crypto_only(unsigned long n)
{
	static const enum rtc_srtp_profile prof[] = {
		RTC_SRTP_AES_CM_128_HMAC_SHA1_80, RTC_SRTP_AEAD_AES_128_GCM };
	uint8_t pkt[2048 + RTC_SRTP_ROOM];

	if (srtp_leg_lib_init() < 0)
		die("libsrtp2 init");
	printf("{");
	for (size_t k = 0; k < 2; k++) {
		struct rtc_srtp_keys a = { .profile = prof[k] }, b;
		struct srtp_leg *tx, *rx;
		size_t salt;
		uint64_t t0;

		a.len = srtp_leg_key_len(prof[k], &salt) + salt;
		for (size_t i = 0; i < a.len; i++) {
			a.local[i] = (uint8_t)(i * 7);
			a.remote[i] = (uint8_t)(i * 13);
		}
		b = a;
		memcpy(b.local, a.remote, a.len);
		memcpy(b.remote, a.local, a.len);
		if (srtp_leg_new(&a, &tx) < 0 || srtp_leg_new(&b, &rx) < 0)
			die("srtp sessions");
		t0 = mono_us();
		for (unsigned long i = 0; i < n; i++) {
			size_t len = 172;
			rtpgen_packet(pkt, len, 0x1000, (uint32_t)i);
			if (srtp_leg_protect(tx, pkt, &len, false) < 0 ||
			    srtp_leg_unprotect(rx, pkt, &len, false) < 0)
				die("srtp round trip failed at %lu", i);
		}
		printf("%s\"%s_ns_per_pkt\": %.1f", k ? ", " : "",
		    srtp_leg_profile_name(prof[k]),
		    (double)(mono_us() - t0) * 1000.0 / (double)n);
		srtp_leg_free(tx);
		srtp_leg_free(rx);
	}
	printf("}\n");
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "sock", 1, NULL, 's' }, { "call", 1, NULL, 'c' },
		{ "bind", 1, NULL, 'b' }, { "sink", 1, NULL, 'k' },
		{ "count", 1, NULL, 'n' }, { "rate", 1, NULL, 'r' },
		{ "ready", 1, NULL, 'R' }, { "go", 1, NULL, 'g' },
		{ "ifaces", 1, NULL, 'i' }, { "crypto", 1, NULL, 'C' },
		{ "no-consent", 0, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *call = "blast", *bind_s = NULL, *sink = NULL;
	const char *ready = NULL, *go = NULL, *ifaces = NULL;
	unsigned long count = 1000, rate = 1000;
	struct sockaddr_storage me, sk;
	static struct relayd rd;
	struct blast b = { .fd = -1, .consent = true };
	char err[256], ip[64], buf[64];
	json_t *media, *req, *reply, *m;
	uint64_t t0;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': sock = optarg; break;
		case 'c': call = optarg; break;
		case 'b': bind_s = optarg; break;
		case 'k': sink = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'r': rate = strtoul(optarg, NULL, 10); break;
		case 'R': ready = optarg; break;
		case 'g': go = optarg; break;
		case 'i': ifaces = optarg; break;
		case 'N': b.consent = false; break;
		case 'C':
			crypto_only(strtoul(optarg, NULL, 10) ?: 1);
			return 0;
		default: die("unknown option");
		}
	}
	if (sock == NULL || bind_s == NULL || sink == NULL || ready == NULL ||
	    go == NULL || rate == 0 ||
	    addr_parse_hostport(bind_s, &me) < 0 ||
	    addr_parse_hostport(sink, &sk) < 0)
		die("usage: --sock S --bind IP:PORT --sink IP:PORT --ready F "
		    "--go F [--call C --count N --rate PPS --ifaces A,B]");
	config_defaults(&rd.conf);
	if (srtp_leg_lib_init() < 0 || dtls_ctx_open(&rd, err, sizeof(err)) < 0)
		die("crypto: %s", err);
	if ((b.fd = udp_bind(&me, addr_port(&me))) < 0)
		die("bind %s: %s", bind_s, strerror(-b.fd));

	addr_fmt(&me, buf, sizeof(buf));
	snprintf(ip, sizeof(ip), "%.*s", (int)(strrchr(buf, ':') - buf), buf);
	media = json_pack("[{s:s, s:s, s:s, s:i, s:b, s:s, s:s, s:s, s:s, "
	    "s:s}]", "type", "audio", "transport", RTC_TRANSPORT, "address",
	    ip, "rtp_port", addr_port(&me), "rtcp_mux", 1, "ice_ufrag",
	    MY_UFRAG, "ice_pwd", MY_PWD, "fingerprint", dtls_fingerprint(&rd),
	    "setup", "actpass", "peer_transport", "RTP/AVP");
	req = json_pack("{s:s, s:s, s:s, s:o}", "cmd", "offer", "call_id",
	    call, "from_tag", "blast", "media", media);
	if (ifaces != NULL) {
		char a[32], c2[32];
		if (sscanf(ifaces, "%31[^,],%31s", a, c2) != 2)
			die("--ifaces A,B");
		json_object_set_new(req, "interfaces", json_pack("[s,s]", a, c2));
	}
	reply = ctl(sock, req);
	int leg_b = (int)json_integer_value(json_object_get(json_array_get(
	    json_object_get(reply, "media"), 0), "rtp_port"));
	json_decref(reply);
	addr_fmt(&sk, buf, sizeof(buf));
	snprintf(ip, sizeof(ip), "%.*s", (int)(strrchr(buf, ':') - buf), buf);
	reply = ctl(sock, json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i}]}",
	    "cmd", "answer", "call_id", call, "from_tag", "blast", "to_tag",
	    "sink", "media", "type", "audio", "address", ip, "rtp_port",
	    addr_port(&sk)));
	m = json_array_get(json_object_get(reply, "media"), 0);
	b.relay = me;
	addr_parse(json_string_value(json_object_get(m, "address")),
	    (uint16_t)json_integer_value(json_object_get(m, "rtp_port")),
	    &b.relay);

	t0 = mono_us();
	ice_check(&b, json_string_value(json_object_get(m, "ice_ufrag")),
	    json_string_value(json_object_get(m, "ice_pwd")));
	dtls_connect(&rd, &b, json_string_value(json_object_get(m,
	    "fingerprint")));
	json_decref(reply);
	double hs_ms = (double)(mono_us() - t0) / 1000.0;

	FILE *f = fopen(ready, "w");
	if (f == NULL)
		die("%s: %s", ready, strerror(errno));
	fprintf(f, "{\"leg_b_port\": %d}\n", leg_b);
	fclose(f);
	for (int i = 0; i < 6000 && access(go, F_OK) != 0; i++) {
		keep_consent(&b);
		drain(&b);
		usleep(5000);
	}
	if (access(go, F_OK) != 0)
		die("no %s within 30 s", go);
	blast(&b, count, rate);
	for (uint64_t end = mono_us() + 1000000; mono_us() < end;) {
		keep_consent(&b);
		drain(&b);
		usleep(1000);
	}
	printf("{\"handshake_ms\": %.1f, \"sent\": %lu, \"received\": %llu, "
	    "\"received_ok\": %llu}\n", hs_ms, count,
	    (unsigned long long)b.received, (unsigned long long)b.received_ok);
	srtp_leg_free(b.srtp);
	dtls_ctx_close(&rd);
	close(b.fd);
	return 0;
}
