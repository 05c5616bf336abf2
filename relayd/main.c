/*
 * main.c: trunkline-relayd's process: options, configuration, resource
 * limits, and the one epoll loop that drives the control socket, the
 * userspace path, the timers and signals. See trunkline-relayd(8).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relayd.h"

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: trunkline-relayd [-dnv] [-f config]\n");
	exit(64);
}

/*
 * Each port pair holds two sockets on each interface; the control socket
 * and its connections need a few more.
 */
static int
raise_nofile(struct relayd *rd)
{
	const rlim_t base = 64 + RELAYD_MAX_CONNS + RELAYD_MAX_PREAUTH +
	    (rlim_t)rd->conf.control_max_pending;
	rlim_t need = base;
	struct rlimit rl;

	for (int i = 0; i < rd->conf.nifaces; i++)
		need += 2 * rd->pools[i].cap;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	/* Sockets of free ports are kept bound (sockpark.c) only when the
	 * limit has room for every port of the range: never at a latching
	 * leg's expense. */
	rd->park_on = true;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		struct rlimit want = { need, need };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		rd->park_on = false;
		if (strcmp(rd->backend.ops->name, "userspace") != 0) {
			/* Streams in the kernel hold no sockets (legsock.c):
			 * only latching streams need them. */
			rlog(rd, LL_NOTICE, "the port range would need %llu file "
			    "descriptors with every stream in userspace; "
			    "RLIMIT_NOFILE allows %llu: enough for about %llu "
			    "streams latching at once (streams the %s backend "
			    "carries hold none)", (unsigned long long)need,
			    (unsigned long long)rl.rlim_max,
			    (unsigned long long)(rl.rlim_max > base ?
			    (rl.rlim_max - base) / 4 : 0),
			    rd->backend.ops->name);
			rl.rlim_cur = rl.rlim_max;
			return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
		}
		rlog(rd, LL_ERROR, "the port range needs %llu file descriptors "
		    "but RLIMIT_NOFILE allows %llu and cannot be raised (%s): "
		    "narrow ports.min/ports.max or raise the limit "
		    "(LimitNOFILE= in the unit, ulimit -n)",
		    (unsigned long long)need, (unsigned long long)rl.rlim_max,
		    strerror(errno));
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

/* A TCP secret in a file others can read is no secret: say so at start. */
static void
check_secret_mode(struct relayd *rd, const char *path)
{
	struct stat st;

	if (!rd->conf.tcp_enabled || stat(path, &st) < 0 ||
	    (st.st_mode & 0077) == 0)
		return;
	rlog(rd, LL_WARNING, "%s holds the control TCP secret but its mode "
	    "is %04o: others can read it; chmod 600 it", path,
	    (unsigned)(st.st_mode & 07777));
}

static int
setup(struct relayd *rd)
{
	char err[256];
	int rc;

	for (int i = 0; i < rd->conf.nifaces; i++)
		if (ports_init(&rd->pools[i], rd->conf.port_min,
		    rd->conf.port_max) < 0) {
			rlog(rd, LL_ERROR, "port pool: out of memory");
			return -1;
		}
	if (session_table_init(&rd->sessions, 1024) < 0 ||
	    atoms_init(&rd->atoms) < 0 ||
	    forward_init(rd) < 0)
		return -1;
	rd->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rd->epfd < 0)
		return -1;
	if (backend_select(rd, rd->conf.backend, err, sizeof(err)) < 0) {
		rlog(rd, LL_ERROR, "backend: %s", err);
		return -1;
	}
	rlog(rd, LL_INFO, "backend %s: %s", rd->backend.ops->name,
	    rd->backend.reason);
	ports_check_ephemeral(rd);	/* says more for a kernel backend */
	if (raise_nofile(rd) < 0)	/* a kernel backend needs fewer */
		return -1;
	/* A configured certificate is a configuration: checked now. */
	if (rd->conf.dtls_cert[0] != '\0' &&
	    dtls_files_check(rd, err, sizeof(err)) < 0) {
		rlog(rd, LL_ERROR, "%s", err);
		return -1;
	}
	/* libsrtp2 and DTLS start now, before any request: made inside
	 * the first WebRTC offer, the certificate and OpenSSL's start held
	 * that reply 0.5 s on a loaded machine (1.2 s with sanitizers),
	 * past the controller's relay_timeout, which then took the relay
	 * for dead. A failure is not fatal: logged, WebRTC legs refused,
	 * plain RTP goes on (webrtc_lib_start). webrtc.start "first_leg"
	 * defers it to the first WebRTC leg. */
	if (!rd->conf.rtc_first_leg)
		(void)webrtc_lib_start(rd);
	if (journal_open(rd) < 0 || journal_restore(rd) < 0)
		return -1;
	backend_adopt_done(rd);
	warm_start(rd);		/* after the restore: its ports are taken */
	if ((rc = timers_open(rd)) < 0) {
		rlog(rd, LL_ERROR, "timer: %s", strerror(-rc));
		return -1;
	}
	return control_open(rd) < 0 ? -1 : 0;
}

static void
teardown(struct relayd *rd)
{
	while (rd->sessions.first != NULL)
		session_destroy(rd, rd->sessions.first);
	graveyard_empty(rd);
	control_close(rd);
	graveyard_empty(rd);
	backend_close(rd);
	dtls_ctx_close(rd);
	journal_close(rd);
	forward_free(rd);
	session_table_free(&rd->sessions);
	park_free(rd);
	warm_free(rd);
	for (int i = 0; i < rd->conf.nifaces; i++)
		ports_free(&rd->pools[i]);
	timers_close(rd);
	atoms_free(&rd->atoms);
	if (rd->epfd >= 0)
		close(rd->epfd);
}

int
main(int argc, char *argv[])
{
	static struct relayd rd;
	const char *path = RELAYD_DEFAULT_CONFIG;
	bool check_only = false;
	struct evtag sigtag;
	char err[512];
	int ch, verbose = 0, sigfd, rc;

	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':	/* always foreground; kept for familiarity */
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	rd.epfd = rd.timerfd = -1;
	if (config_load(path, &rd.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "trunkline-relayd: %s\n", err);
		return 1;
	}
	if (verbose > 0)
		rd.conf.log_level = LL_DEBUG;
	if (check_only) {
		fprintf(stderr, "trunkline-relayd: configuration OK\n");
		return 0;
	}
	rd.started_ms = now_ms();
	check_secret_mode(&rd, path);
	sigfd = -1;
	rc = setup(&rd);
	if (rc == 0 && (sigfd = signals_open(&rd, &sigtag)) < 0)
		rc = -1;
	if (rc == 0) {
		rlog(&rd, LL_NOTICE, "started, %d interface(s), ports %u-%u",
		    rd.conf.nifaces, rd.conf.port_min, rd.conf.port_max);
		rc = event_loop(&rd, sigfd);
	}
	teardown(&rd);
	if (sigfd >= 0)
		close(sigfd);
	rlog(&rd, rc == 0 ? LL_NOTICE : LL_ERROR, "%s",
	    rc == 0 ? "stopped" : "exiting on error");
	return rc == 0 ? 0 : 1;
}
