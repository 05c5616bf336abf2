/*
 * trunklinectl: talk to trunkline-relayd (or the controller) over its
 * control socket. One request, one reply; `events` stays subscribed.
 * Tables for people, --json for scripts. See trunklinectl(8).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netdb.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#define EX_USAGE	64

struct ctl {
	const char		*sock;
	const char		*secret;
	char			*secret_buf;	/* read from -K FILE */
	bool			 json;
	double			 timeout;
	int			 fd;
	struct proto_framer	 in;
};

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr,
	    "usage: trunklinectl [-s socket|host:port] [-K secret-file] [-k secret] [-t seconds] [--json] command\n"
	    "commands: ping | hello | stats | list | query CALLID | delete CALLID |\n"
	    "          raw JSON | events [--count N] [--timeout SECONDS] |\n"
	    "          status | calls | trunks | locations | reload |\n"
	    "          hangup CALLID [REASON]\n");
	exit(EX_USAGE);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
connect_tcp(const char *target)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1;

	snprintf(host, sizeof(host), "%s", target);
	colon = strrchr(host, ':');
	if (colon == NULL)
		return -EINVAL;
	*colon = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);

		/* "[addr]" only: "[:5" would leave nothing to strip */
		if (n < 3 || host[n - 1] != ']')
			return -EINVAL;
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -EHOSTUNREACH;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -errno;
	}
	freeaddrinfo(res);
	return fd;
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int
send_line(struct ctl *c, const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->fd, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		line += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
send_msg(struct ctl *c, json_t *msg)
{
	size_t len;
	char *line = proto_encode(msg, &len);
	int rc;

	json_decref(msg);
	if (line == NULL)
		return -ENOMEM;
	rc = send_line(c, line, len);
	free(line);
	return rc;
}

/* Next message before the deadline: 1 message, 0 timeout, -1 closed. */
static int
recv_msg(struct ctl *c, double deadline, json_t **out)
{
	struct proto_error err;
	char buf[65536], *line;
	size_t len;
	int rc;

	for (;;) {
		rc = proto_framer_next(&c->in, &line, &len);
		if (rc == 1) {
			*out = proto_parse_message(line, len, &err);
			if (*out != NULL)
				return 1;
			fprintf(stderr, "trunklinectl: bad message from server: "
			    "%s\n", err.message);
			continue;
		}
		if (rc < 0)
			return -1;
		double left = deadline - mono();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(left * 1000) + 1) == 0)
			return 0;
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n <= 0)
			return -1;
		if (proto_framer_feed(&c->in, buf, (size_t)n) < 0)
			return -1;
	}
}

/* Wait for a reply (events in between are skipped). */
static json_t *
recv_reply(struct ctl *c)
{
	double deadline = mono() + c->timeout;
	json_t *msg;
	int rc;

	while ((rc = recv_msg(c, deadline, &msg)) == 1) {
		if (json_object_get(msg, "ok") != NULL)
			return msg;
		json_decref(msg);
	}
	fprintf(stderr, "trunklinectl: %s: %s\n", c->sock, rc == 0 ?
	    "no reply before the timeout" : "connection closed");
	exit(2);
}

static void
print_kv(json_t *o, const char *skip)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (strcmp(key, "id") == 0 || strcmp(key, "ok") == 0 ||
		    (skip != NULL && strcmp(key, skip) == 0))
			continue;
		char *s = json_is_string(v) ? strdup(json_string_value(v)) :
		    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%-20s %s\n", key, s ? s : "?");
		free(s);
	}
}

static void
print_list(json_t *r)
{
	size_t i;
	json_t *c;

	printf("%-36s %-10s %9s %7s\n", "CALL-ID", "STATE", "DURATION", "STREAMS");
	json_array_foreach(json_object_get(r, "calls"), i, c)
		printf("%-36s %-10s %9.1f %7lld\n",
		    json_string_value(json_object_get(c, "call_id")),
		    json_string_value(json_object_get(c, "state")),
		    json_number_value(json_object_get(c, "duration")),
		    json_integer_value(json_object_get(c, "streams")));
}

static const char *
s_or_dash(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "-";
}

static void
print_streams(json_t *r)
{
	size_t i, j;
	json_t *st, *leg;

	printf("%-3s %-4s %-22s %-22s %9s %11s %7s %6s %s\n", "STR", "SIDE",
	    "LOCAL", "LATCHED", "PACKETS", "BYTES", "DROPS", "LOST", "PATH");
	json_array_foreach(json_object_get(r, "streams"), i, st) {
		json_array_foreach(json_object_get(st, "legs"), j, leg) {
			json_t *s = json_object_get(leg, "stats");
			printf("%-3zu %-4s %-22s %-22s %9lld %11lld %7lld %6lld %s\n",
			    i, s_or_dash(json_object_get(leg, "side")),
			    s_or_dash(json_object_get(leg, "local")),
			    s_or_dash(json_object_get(leg, "latched")),
			    json_integer_value(json_object_get(s, "packets")),
			    json_integer_value(json_object_get(s, "bytes")),
			    json_integer_value(json_object_get(s, "drops")),
			    json_integer_value(json_object_get(s, "lost")),
			    s_or_dash(json_object_get(st, "path")));
		}
		printf("    path reason: %s\n",
		    s_or_dash(json_object_get(st, "path_reason")));
	}
}

/* The controller's calls: one line each. */
static void
print_calls(json_t *r)
{
	size_t i;
	json_t *c;

	printf("%-36s %-10s %-10s %-16s %-16s %-10s %8s\n", "CALL-ID", "TRUNK",
	    "STATE", "CALLING", "CALLED", "GATEWAY", "DURATION");
	json_array_foreach(json_object_get(r, "calls"), i, c)
		printf("%-36s %-10s %-10s %-16s %-16s %-10s %8.1f\n",
		    s_or_dash(json_object_get(c, "call_id")),
		    s_or_dash(json_object_get(c, "trunk")),
		    s_or_dash(json_object_get(c, "state")),
		    s_or_dash(json_object_get(c, "calling")),
		    s_or_dash(json_object_get(c, "called")),
		    s_or_dash(json_object_get(c, "gateway")),
		    json_number_value(json_object_get(c, "duration")));
}

/* Outbound registrations of the trunks that have one. */
static void
print_registrations(json_t *r)
{
	size_t i;
	json_t *t, *g;
	bool head = false;

	json_array_foreach(json_object_get(r, "trunks"), i, t) {
		if (!json_is_object(g = json_object_get(t, "registration")))
			continue;
		if (!head)
			printf("\n%-16s %-12s %4s %8s %9s %s\n", "REGISTRATION",
			    "STATE", "CODE", "ATTEMPTS", "RETRY_IN", "REGISTRAR");
		head = true;
		printf("%-16s %-12s %4lld %8lld %9.1f %s\n",
		    s_or_dash(json_object_get(t, "name")),
		    s_or_dash(json_object_get(g, "state")),
		    json_integer_value(json_object_get(g, "last_code")),
		    json_integer_value(json_object_get(g, "attempts")),
		    json_number_value(json_object_get(g, "retry_in")),
		    s_or_dash(json_object_get(g, "registrar")));
	}
}

static void
print_trunks(json_t *r)
{
	size_t i;
	json_t *t;

	printf("%-16s %7s %9s %9s %8s %8s\n", "TRUNK", "ACTIVE", "MAX_CALLS",
	    "MAX_CPS", "REJECTED", "DIGEST");
	json_array_foreach(json_object_get(r, "trunks"), i, t)
		printf("%-16s %7lld %9lld %9.1f %8lld %8s\n",
		    s_or_dash(json_object_get(t, "name")),
		    json_integer_value(json_object_get(t, "active")),
		    json_integer_value(json_object_get(t, "max_calls")),
		    json_number_value(json_object_get(t, "max_cps")),
		    json_integer_value(json_object_get(t, "rejected")),
		    json_is_true(json_object_get(t, "digest")) ? "yes" : "no");
	printf("\n%-16s %-24s %6s %-9s %4s %10s\n", "GATEWAY", "HOST", "PORT",
	    "STATE", "CODE", "LATENCY_MS");
	json_array_foreach(json_object_get(r, "gateways"), i, t)
		printf("%-16s %-24s %6lld %-9s %4lld %10.1f\n",
		    s_or_dash(json_object_get(t, "name")),
		    s_or_dash(json_object_get(t, "host")),
		    json_integer_value(json_object_get(t, "port")),
		    s_or_dash(json_object_get(t, "state")),
		    json_integer_value(json_object_get(t, "last_code")),
		    json_number_value(json_object_get(t, "latency_ms")));
	print_registrations(r);
	printf("\n%-16s %-5s %8s %s\n", "RELAY", "UP", "SESSIONS", "SOCKET");
	json_array_foreach(json_object_get(r, "relays"), i, t)
		printf("%-16s %-5s %8lld %s\n",
		    s_or_dash(json_object_get(t, "name")),
		    json_is_true(json_object_get(t, "up")) ? "yes" : "no",
		    json_integer_value(json_object_get(t, "sessions")),
		    s_or_dash(json_object_get(t, "socket")));
}

/* The controller's registrar: one line per registered contact. */
static void
print_locations(json_t *r)
{
	size_t i;
	json_t *l;

	printf("%-16s %7s %-22s %s\n", "ACCOUNT", "EXPIRES", "SOURCE",
	    "CONTACT");
	json_array_foreach(json_object_get(r, "locations"), i, l)
		printf("%-16s %7lld %-22s %s\n",
		    s_or_dash(json_object_get(l, "account")),
		    json_integer_value(json_object_get(l, "expires")),
		    s_or_dash(json_object_get(l, "source")),
		    s_or_dash(json_object_get(l, "contact")));
}

static void
print_reply(const char *cmd, json_t *r)
{
	if (strcmp(cmd, "calls") == 0) {
		print_calls(r);
	} else if (strcmp(cmd, "trunks") == 0) {
		print_trunks(r);
	} else if (strcmp(cmd, "locations") == 0) {
		print_locations(r);
	} else if (strcmp(cmd, "list") == 0) {
		print_list(r);
	} else if (strcmp(cmd, "query") == 0 || strcmp(cmd, "delete") == 0) {
		print_kv(r, "streams");
		print_streams(r);
	} else {
		print_kv(r, NULL);
	}
}

/* Print and map to an exit status. Steals r. */
static int
finish(struct ctl *c, const char *cmd, json_t *r)
{
	int rc = 0;

	if (!json_is_true(json_object_get(r, "ok"))) {
		json_t *e = json_object_get(r, "error");
		fprintf(stderr, "trunklinectl: %s: %s\n",
		    s_or_dash(json_object_get(e, "code")),
		    s_or_dash(json_object_get(e, "message")));
		rc = 1;
	}
	if (c->json) {
		char *s = json_dumps(r, JSON_COMPACT);
		printf("%s\n", s ? s : "{}");
		free(s);
	} else if (rc == 0) {
		print_reply(cmd, r);
	}
	json_decref(r);
	return rc;
}

static int
cmd_events(struct ctl *c, int argc, char **argv)
{
	long count = 0, seen = 0;
	double timeout = 0, deadline;
	json_t *msg, *r;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = strtod(argv[++i], NULL);
		else
			usage();
	}
	if (send_msg(c, proto_request(1, "subscribe")) < 0)
		return 2;
	r = recv_reply(c);
	if (!json_is_true(json_object_get(r, "ok")))
		return finish(c, "subscribe", r);
	json_decref(r);
	fflush(stdout);
	deadline = timeout > 0 ? mono() + timeout : 1e18;
	while ((rc = recv_msg(c, deadline, &msg)) == 1) {
		if (json_object_get(msg, "event") != NULL) {
			char *s = json_dumps(msg, JSON_COMPACT);
			printf("%s\n", s ? s : "{}");
			fflush(stdout);
			free(s);
			seen++;
		}
		json_decref(msg);
		if (count > 0 && seen >= count)
			return 0;
	}
	fprintf(stderr, "trunklinectl: events: %s after %ld event(s)\n",
	    rc == 0 ? "timeout" : "connection closed", seen);
	return 1;
}

/*
 * `list` comes in pages (the relay caps one reply): fetch them all and
 * print them as one reply. Bounded: the page count the first reply's
 * total implies, plus a few for sessions created meanwhile.
 */
static int
cmd_list(struct ctl *c)
{
	json_t *all = NULL, *r, *req, *next;
	json_int_t offset = 0, pages = 1, maxpages = 1;
	size_t i;
	json_t *call;

	for (json_int_t page = 0; page < maxpages + 4; page++) {
		req = proto_request(1, "list");
		if (offset > 0)
			json_object_set_new(req, "offset", json_integer(offset));
		if (send_msg(c, req) < 0)
			return 2;
		r = recv_reply(c);
		if (!json_is_true(json_object_get(r, "ok"))) {
			json_decref(all);
			return finish(c, "list", r);
		}
		next = json_object_get(r, "next");
		if (all == NULL) {
			json_int_t total = json_integer_value(
			    json_object_get(r, "total"));
			json_int_t n = (json_int_t)json_array_size(
			    json_object_get(r, "calls"));

			all = json_incref(r);
			if (n > 0)
				maxpages = total / n + 1;
		} else {
			json_array_foreach(json_object_get(r, "calls"), i, call)
				json_array_append(json_object_get(all, "calls"),
				    call);
			pages++;
		}
		if (!json_is_integer(next) ||
		    json_integer_value(next) <= offset) {
			json_decref(r);
			break;
		}
		offset = json_integer_value(next);
		json_decref(r);
	}
	json_object_del(all, "next");
	(void)pages;
	return finish(c, "list", all);
}

static json_t *
build_request(const char *cmd, int argc, char **argv)
{
	static const char *const plain[] = { "ping", "hello", "stats", "list",
	    "status", "calls", "trunks", "reload", "locations", NULL };
	json_t *req;

	for (const char *const *p = plain; *p != NULL; p++)
		if (strcmp(cmd, *p) == 0) {
			if (argc != 0)
				usage();
			return proto_request(1, cmd);
		}
	if (strcmp(cmd, "query") == 0 || strcmp(cmd, "delete") == 0 ||
	    strcmp(cmd, "hangup") == 0) {
		if (argc < 1 || argc > (strcmp(cmd, "hangup") == 0 ? 2 : 1))
			usage();
		req = proto_request(1, cmd);
		json_object_set_new(req, "call_id", json_string(argv[0]));
		if (argc == 2)
			json_object_set_new(req, "reason", json_string(argv[1]));
		return req;
	}
	usage();
}

/*
 * The secret from a file (first line, without its newline): keeps it out
 * of argv, which every local user can read in /proc. A file others may
 * read is refused, as ssh does with keys.
 */
static int
read_secret_file(struct ctl *c, const char *path)
{
	struct stat st;
	char *text;
	size_t len;
	int rc;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "trunklinectl: secret file %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if ((st.st_mode & 0077) != 0) {
		fprintf(stderr, "trunklinectl: secret file %s: mode %04o lets "
		    "others read it; chmod 600 it\n", path,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if ((rc = proto_read_file(path, &text, &len)) < 0) {
		fprintf(stderr, "trunklinectl: secret file %s: %s\n", path,
		    strerror(-rc));
		return -1;
	}
	text[strcspn(text, "\r\n")] = '\0';
	if (text[0] == '\0') {
		fprintf(stderr, "trunklinectl: secret file %s is empty\n", path);
		free(text);
		return -1;
	}
	free(c->secret_buf);
	c->secret_buf = text;
	c->secret = text;
	return 0;
}

static int
authenticate(struct ctl *c)
{
	json_t *req, *r;

	if (strchr(c->sock, '/') != NULL || strchr(c->sock, ':') == NULL)
		return 0;
	if (c->secret == NULL) {
		fprintf(stderr, "trunklinectl: TCP needs a secret (-K FILE, "
		    "TRUNKLINE_SECRET or -k)\n");
		return 2;
	}
	req = proto_request(0, "auth");
	json_object_set_new(req, "secret", json_string(c->secret));
	if (send_msg(c, req) < 0)
		return 2;
	r = recv_reply(c);
	if (!json_is_true(json_object_get(r, "ok")))
		return finish(c, "auth", r);
	json_decref(r);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "secret-file", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .sock = "/run/trunkline/relayd.sock", .timeout = 5 };
	const char *cmd;
	bool sock_given = false;
	int ch, rc;

	c.secret = getenv("TRUNKLINE_SECRET");
	if (getenv("TRUNKLINE_SECRET_FILE") != NULL &&
	    read_secret_file(&c, getenv("TRUNKLINE_SECRET_FILE")) < 0)
		return 2;
	while ((ch = getopt_long(argc, argv, "+js:k:K:t:", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': c.json = true; break;
		case 's': c.sock = optarg; sock_given = true; break;
		case 'k': c.secret = optarg; break;
		case 'K':
			if (read_secret_file(&c, optarg) < 0)
				return 2;
			break;
		case 't': c.timeout = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (optind >= argc || c.timeout <= 0)
		usage();
	cmd = argv[optind++];
	/* Controller commands go to the controller's socket by default. */
	if (!sock_given && (strcmp(cmd, "status") == 0 ||
	    strcmp(cmd, "calls") == 0 || strcmp(cmd, "trunks") == 0 ||
	    strcmp(cmd, "reload") == 0 || strcmp(cmd, "hangup") == 0 ||
	    strcmp(cmd, "locations") == 0))
		c.sock = "/run/trunkline/controller.sock";
	signal(SIGPIPE, SIG_IGN);
	c.fd = strchr(c.sock, '/') == NULL && strchr(c.sock, ':') != NULL ?
	    connect_tcp(c.sock) : connect_unix(c.sock);
	if (c.fd < 0) {
		fprintf(stderr, "trunklinectl: connect %s: %s\n", c.sock,
		    strerror(-c.fd));
		return 2;
	}
	proto_framer_init(&c.in, PROTO_MAX_LINE * 64);
	if ((rc = authenticate(&c)) != 0)
		goto out;
	if (strcmp(cmd, "events") == 0)
		rc = cmd_events(&c, argc - optind, argv + optind);
	else if (strcmp(cmd, "list") == 0 && argc == optind)
		rc = cmd_list(&c);
	else if (strcmp(cmd, "raw") == 0) {
		if (argc - optind != 1)
			usage();
		const char *raw = argv[optind];
		/* The server may refuse a line early: read its reply anyway. */
		if (send_line(&c, raw, strlen(raw)) == 0)
			send_line(&c, "\n", 1);
		rc = finish(&c, cmd, recv_reply(&c));
	} else {
		if (send_msg(&c, build_request(cmd, argc - optind,
		    argv + optind)) < 0)
			rc = 2;
		else
			rc = finish(&c, cmd, recv_reply(&c));
	}
out:
	free(c.secret_buf);
	proto_framer_free(&c.in);
	close(c.fd);
	return rc;
}
