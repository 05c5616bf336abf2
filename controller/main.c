/*
 * main.c: trunkline-controller's start, signals, reload and shutdown.
 * One su_root in one thread (su_root_threading(0)): the nua, the relay
 * clients, the control socket and the signal fd all run on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"

static void
usage(void)
{
	fprintf(stderr, "usage: trunkline-controller [-dnv] [-f config]\n");
	exit(64);
}

int
ctl_reload(struct ctl *c, char *err, size_t errlen)
{
	struct ctl_conf *conf;

	if (config_load(c->conf_path, c->root, &conf, err, errlen) < 0) {
		c->stats.reload_errors++;
		clog_msg(c, LL_ERROR, "reload refused, keeping the running "
		    "config: %s", err);
		return -1;
	}
	if (strcmp(conf->listen, c->conf->listen) != 0 ||
	    strcmp(conf->listen6, c->conf->listen6) != 0 ||
	    strcmp(conf->tls_listen, c->conf->tls_listen) != 0 ||
	    strcmp(conf->tls_listen6, c->conf->tls_listen6) != 0 ||
	    strcmp(conf->socket_path, c->conf->socket_path) != 0 ||
	    (conf->web == NULL) != (c->conf->web == NULL) ||
	    (conf->web && strcmp(conf->web->listen, c->conf->web->listen)))
		clog_msg(c, LL_WARNING, "reload: sip.listen, sip.listen6, "
		    "sip.tls_listen, control.socket and web change only on restart");
	if (strcmp(conf->advertise, c->conf->advertise) != 0 ||
	    strcmp(conf->tls_advertise, c->conf->tls_advertise) != 0 ||
	    strcmp(conf->advertise6, c->conf->advertise6) != 0 ||
	    strcmp(conf->tls_cert_dir, c->conf->tls_cert_dir) != 0 ||
	    conf->tls_verify != c->conf->tls_verify ||
	    conf->tls_verify_depth != c->conf->tls_verify_depth ||
	    conf->tls_client_required != c->conf->tls_client_required ||
	    conf->ntls_client_subjects != c->conf->ntls_client_subjects)
		clog_msg(c, LL_WARNING, "reload: sip.advertise, "
		    "sip.tls_advertise and the TLS keys (tls_cert_dir, "
		    "tls_verify...) change only on restart");
	if (conf->nrelays != c->conf->nrelays)
		clog_msg(c, LL_WARNING, "reload: relays change only on restart");
	/* Calls in progress keep their own reference to the old config. */
	config_unref(c->conf);
	c->conf = conf;
	c->log_level = conf->log_level;
	if (c->cdr_fd >= 0)
		close(c->cdr_fd);	/* reopened on the next CDR: rotation */
	c->cdr_fd = -1;
	refusal_close(c, false);
	c->stats.reloads++;
	health_sync(c);		/* issue 6: probes, registrations, limits */
	register_sync(c);
	protect_apply(c);
	clog_msg(c, LL_INFO, "reloaded %s: %d trunks, %d gateways, %d routes",
	    c->conf_path, conf->ntrunks, conf->ngateways, conf->nroutes);
	return 0;
}

struct sigsrc {
	int		 fd, widx;
	su_wait_t	 wait[1];
};

static int
on_signal(struct ctl *c, su_wait_t *w, void *arg)
{
	struct sigsrc *s = arg;
	struct signalfd_siginfo si;
	char err[512];

	while (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			ctl_reload(c, err, sizeof(err));
			continue;
		}
		if (c->quitting)
			continue;
		clog_msg(c, LL_INFO, "signal %u: shutting down (%d calls are "
		    "hung up)", si.ssi_signo, c->ncalls);
		shutdown_start(c);	/* shutdown.c */
	}
	return 0;
}

static int
signals_open(struct ctl *c, struct sigsrc *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	s->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	su_wait_create(s->wait, s->fd, SU_WAIT_IN);
	s->widx = su_root_register(c->root, s->wait, on_signal, s, 0);
	return s->widx > 0 ? 0 : -ENOMEM;
}

int
main(int argc, char *argv[])
{
	struct ctl c = { .cdr_fd = -1, .conf_path = CTL_DEFAULT_CONFIG };
	struct sigsrc sig = { .fd = -1 };
	bool check = false, debug = false;
	char err[1024];
	int ch, rc = 1;

	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':	/* always foreground; kept for familiarity */
			break;
		case 'f':
			c.conf_path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			debug = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(time(NULL) ^ getpid()));
	su_init();
	su_home_init(c.home);
	/* poll(2), every ready socket per round, in registration order with
	 * high priority first: sipfilter.c sees a datagram before the
	 * stack does (epoll keeps no order). */
	su_port_prefer(su_poll_port_create, su_poll_clone_start);
	c.root = su_root_create(&c);
	if (c.root == NULL) {
		fprintf(stderr, "trunkline-controller: cannot create su_root\n");
		return 1;
	}
	/* One thread: nua's stack runs in ours (about 1.6x less CPU). */
	su_root_threading(c.root, 0);
	su_root_multishot(c.root, 1);
	if (config_load(c.conf_path, c.root, &c.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "trunkline-controller: %s\n", err);
		goto out;
	}
	if (check) {
		printf("%s: configuration OK\n", c.conf_path);
		rc = 0;
		goto out;
	}
	c.log_level = debug ? LL_DEBUG : c.conf->log_level;
	c.started = mono_now();
	if (signals_open(&c, &sig) < 0 || control_open(&c) < 0) {
		clog_msg(&c, LL_ERROR, "control socket %s: %s",
		    c.conf->socket_path, strerror(errno));
		goto out;
	}
	if (relay_open_all(&c) < 0 || b2bua_open(&c) < 0)
		goto out;
	if (location_open(&c) < 0 || enum_open(&c) < 0)	/* issue 6 */
		goto out;
	if (web_open(&c) < 0)		/* issue 14: the browser listener */
		goto out;
	health_sync(&c);
	register_sync(&c);
	protect_apply(&c);
	clog_msg(&c, LL_INFO, "trunkline-controller %s ready (%d trunks, %d "
	    "gateways, %d relays)", TRUNKLINE_VERSION, c.conf->ntrunks,
	    c.conf->ngateways, c.nrelays);
	su_root_run(c.root);
	rc = 0;
	clog_msg(&c, LL_INFO, "stopped");
out:
	web_close(&c);
	relay_close_all(&c);
	health_close(&c);
	register_close(&c);
	if (c.shutdown_timer != NULL)
		su_timer_destroy(c.shutdown_timer);
	protect_close(&c);
	b2bua_close(&c);
	refusal_close(&c, true);
	auth_close(&c);
	location_close(&c);
	enum_close(&c);
	relay_free_all(&c);
	control_close(&c);
	limits_free(&c);
	if (sig.widx > 0)
		su_root_deregister(c.root, sig.widx);
	if (sig.fd >= 0)
		close(sig.fd);
	if (c.cdr_fd >= 0)
		close(c.cdr_fd);
	config_unref(c.conf);
	su_root_destroy(c.root);
	su_home_deinit(c.home);
	su_deinit();
	return rc;
}
