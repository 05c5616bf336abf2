/*
 * tls.c: the trust model of our TLS (issue 15). Sofia's tport does the
 * handshakes; this file chooses its verification parameters, reads its
 * verdicts and puts them where an operator looks (the log, the CDR).
 *
 * What Sofia-SIP 1.12.11 offers, and so what we use:
 *  - one OpenSSL context per TLS listener, shared by every connection we
 *    open or accept: the trust anchors are the listener's certificate
 *    directory (sip.tls_cert_dir: cafile.pem, and CA certificates by
 *    their hash names, "openssl rehash"), for every gateway alike;
 *  - TPTAG_TLS_VERIFY_POLICY: the chain of a server we connect to must
 *    verify (TPTLS_VERIFY_OUT) and name the host we connected to
 *    (TPTLS_VERIFY_SUBJECTS_OUT: the URI host against the certificate's
 *    DNS and URI subjectAltNames and its CN; no wildcards); clients that
 *    connect to us must present a verifying chain (TPTLS_VERIFY_IN);
 *  - TPTAG_TLS_VERIFY_DEPTH, TPTAG_TLS_VERIFY_DATE (always on here),
 *    TPTAG_TLS_VERIFY_SUBJECTS (the client subjects accepted, with
 *    TPTLS_VERIFY_SUBJECTS_IN).
 * What it does not: the peer's certificate never reaches nua's user (no
 * pinning by fingerprint, no trunk chosen by a client certificate), and
 * a failed verification is only a closed connection: nta is not told and
 * our INVITE would wait for its timer. The reason is in the tport log,
 * which this file takes over (su_log_redirect) to tell the call that
 * failed, and to end its attempt at once when that call is unambiguous.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#include "controller.h"

#include <sofia-sip/su_log.h>
#include <sofia-sip/su_strlst.h>
#include <sofia-sip/tport_tag.h>

/* Sofia's tport log object: exported by the library, not in its headers. */
extern su_log_t tport_log[];

int
tls_parse(struct proto_cfg *cf, json_t *o, struct ctl_conf *conf)
{
	char cc[16] = "", p[PROTO_CFG_PATH];
	double depth = conf->tls_verify_depth;
	json_t *subj = o ? json_object_get(o, "tls_client_subjects") : NULL, *v;
	size_t i;

	if (o == NULL)
		goto anchors;
	if (proto_cfg_bool(cf, o, "sip", "tls_verify", &conf->tls_verify) < 0 ||
	    proto_cfg_number(cf, o, "sip", "tls_verify_depth", &depth, 1,
	    16) < 0 ||
	    proto_cfg_string(cf, o, "sip", "tls_client_cert", cc, sizeof(cc),
	    false) < 0)
		return -1;
	if (depth != (int)depth)
		return proto_cfg_fail(cf, "sip.tls_verify_depth", "must be an "
		    "integer");
	conf->tls_verify_depth = (int)depth;
	if (cc[0] != '\0' && strcmp(cc, "none") != 0 &&
	    strcmp(cc, "required") != 0)
		return proto_cfg_fail(cf, "sip.tls_client_cert", "'%s' is not "
		    "none or required", cc);
	conf->tls_client_required = strcmp(cc, "required") == 0;
	if (subj != NULL && (!json_is_array(subj) ||
	    json_array_size(subj) == 0 || json_array_size(subj) >
	    sizeof(conf->tls_client_subjects) /
	    sizeof(conf->tls_client_subjects[0])))
		return proto_cfg_fail(cf, "sip.tls_client_subjects", "expected "
		    "an array of 1..8 certificate names");
	if (subj != NULL && !conf->tls_client_required)
		return proto_cfg_fail(cf, "sip.tls_client_subjects", "needs "
		    "tls_client_cert: required");
	json_array_foreach(subj, i, v) {
		snprintf(p, sizeof(p), "sip.tls_client_subjects[%zu]", i);
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= sizeof(conf->tls_client_subjects[0]))
			return proto_cfg_fail(cf, p, "expected a name (a DNS "
			    "name, URI or CN of the client's certificate)");
		snprintf(conf->tls_client_subjects[i],
		    sizeof(conf->tls_client_subjects[i]), "%s",
		    json_string_value(v));
		conf->ntls_client_subjects++;
	}
	if (conf->tls_client_required && conf->tls_cert_dir[0] == '\0')
		return proto_cfg_fail(cf, "sip.tls_client_cert", "needs a TLS "
		    "listener (tls_listen, tls_cert_dir)");
anchors:
	if (conf->tls_cert_dir[0] == '\0' || (!conf->tls_verify &&
	    !conf->tls_client_required))
		return 0;
	if (!tls_has_anchors(conf->tls_cert_dir))
		return proto_cfg_fail(cf, "sip.tls_cert_dir", "%s: no trust "
		    "anchors (cafile.pem, or CA certificates by hash name) "
		    "to verify peers with; add them or set tls_verify: false",
		    conf->tls_cert_dir);
	return 0;
}

/* cafile.pem, or a hashed CA name ("5d8f2a1c.0") in the directory. */
bool
tls_has_anchors(const char *dir)
{
	char path[300];
	struct dirent *e;
	DIR *d;
	bool found = false;

	snprintf(path, sizeof(path), "%s/cafile.pem", dir);
	if (access(path, R_OK) == 0)
		return true;
	if ((d = opendir(dir)) == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL)
		found = strlen(e->d_name) == 10 && e->d_name[8] == '.' &&
		    strspn(e->d_name, "0123456789abcdef") == 8;
	closedir(d);
	return found;
}

static unsigned
tls_policy(const struct ctl_conf *conf)
{
	unsigned p = TPTLS_VERIFY_NONE;

	if (conf->tls_verify)
		p |= TPTLS_VERIFY_SUBJECTS_OUT;
	if (conf->tls_client_required)
		p |= conf->ntls_client_subjects > 0 ? TPTLS_VERIFY_SUBJECTS_IN :
		    TPTLS_VERIFY_IN;
	return p;
}

/*
 * A verification failure closes the connection, but nta is not told: the
 * INVITE would wait for invite_timeout. When exactly one call waits for
 * its first answer from a TLS gateway, the failure is its own: that
 * attempt ends now (503, reason in the CDR) and the next gateway is
 * tried. With several such calls the verdict cannot be told apart (the
 * log names no connection) and each ends at its invite_timeout.
 */
static void
on_verdict(struct ctl *c, su_timer_t *t, void *arg)
{
	struct call *one = NULL;
	int n = 0;

	for (struct call *k = c->calls; k != NULL; k = k->next) {
		const struct gateway *gw;
		if (k->b.nh == NULL || k->state != CS_CALLING ||
		    k->attempt >= k->ncand || k->tls_seq == c->tls_fail_seq)
			continue;
		gw = k->cand[k->attempt].gw;
		if (gw->transport == TP_TLS || strcmp(gw->scheme, "sips") == 0) {
			one = k;
			n++;
		}
	}
	if (n != 1)
		return;
	su_timer_reset(one->invite_timer);
	call_attempt_code(one, 503);	/* tls_attempt_note(): the reason */
	call_drop_leg(&one->b);
	if (!leg_live(&one->a) || one->state == CS_ENDING) {
		call_check(one);
		return;
	}
	if (++one->attempt < one->ncand) {
		gateway_start(one);
		return;
	}
	call_fail(one, 503, "TLS verification failed");
	call_check(one);
}

static void
tls_verdict(struct ctl *c)
{
	c->tls_fail_seq++;
	/* Not from inside the tport: from the loop, at once. With client
	 * certificates required, a chain error may be a client's (the log
	 * does not say which side): anyone could then end our attempts, so
	 * those wait for their invite_timeout. */
	if (c->tls_timer != NULL && !(c->tls_policy & TPTLS_VERIFY_IN))
		su_timer_set_interval(c->tls_timer, on_verdict, NULL, 0);
}

/* The tport log: verification verdicts are kept for tls_failure(), the
 * rest goes to our log at debug level. */
static void
tport_logger(void *arg, char const *fmt, va_list ap)
{
	struct ctl *c = arg;
	char line[512];
	size_t n;

	if (c == NULL)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	/* sipfilter.c empties a socket's queue under the stack, which then
	 * says "zero length packet" once per discarded burst: not news. */
	if (n == 0 || strstr(line, "zero length packet") != NULL)
		return;
	/* tport_tls.c's words (1.12.11): the chain ("err N:why", after
	 * "-Error with certificate at depth") and the name ("Peer Subject
	 * Mismatch (host)"). */
	clog_msg(c, LL_DEBUG, "tport: %s", line);
	if (strncmp(line, "  subject  = ", 13) == 0) {
		snprintf(c->tls_subject, sizeof(c->tls_subject), "%.*s",
		    (int)sizeof(c->tls_subject) - 1, line + 13);
	} else if (strncmp(line, "  err ", 6) == 0 &&
	    strchr(line, ':') != NULL) {
		snprintf(c->tls_fail, sizeof(c->tls_fail), "certificate: %s",
		    strchr(line, ':') + 1);
		/* Registrations and probes have no CDR: the log says it. */
		clog_msg(c, LL_WARNING, "TLS verification failed: the %s's "
		    "certificate %s: %s", c->tls_policy & TPTLS_VERIFY_IN ?
		    "peer" : "server", c->tls_subject, strchr(line, ':') + 1);
		tls_verdict(c);
	} else if (strstr(line, "Peer Subject Mismatch") != NULL &&
	    strstr(line, "incoming connection") == NULL) {
		snprintf(c->tls_fail, sizeof(c->tls_fail), "certificate does "
		    "not name %s", strrchr(line, '(') ? strrchr(line, '(') + 1 :
		    "the host");
		n = strlen(c->tls_fail);
		if (n > 0 && c->tls_fail[n - 1] == ')')
			c->tls_fail[n - 1] = '\0';
		clog_msg(c, LL_WARNING, "TLS verification failed: the server's "
		    "%s", c->tls_fail);
		tls_verdict(c);
	} else if (strstr(line, "Peer Subject Mismatch") != NULL) {
		clog_msg(c, LL_NOTICE, "TLS: a client's certificate names none "
		    "of sip.tls_client_subjects: connection closed");
	}
}

void
tls_log_open(struct ctl *c)
{
	/* su_log keeps one logger per log object: one nua per process. */
	su_log_redirect(tport_log, tport_logger, c);
	c->tls_timer = su_timer_create(su_root_task(c->root), 0);
	/* Level 3 carries the verification errors and little else. */
	if (tport_log->log_level < 3 || getenv("TPORT_DEBUG") == NULL)
		su_log_set_level(tport_log, 3);
}

void
tls_log_close(struct ctl *c)
{
	su_log_redirect(tport_log, NULL, NULL);
	if (c->tls_timer != NULL)
		su_timer_destroy(c->tls_timer);
	c->tls_timer = NULL;
}

/* A gateway attempt over TLS starts: failures from now on are its. */
void
tls_attempt_start(struct call *k)
{
	k->tls_seq = k->ctl->tls_fail_seq;
}

void
tls_attempt_note(struct call *k, json_t *attempt, int code)
{
	struct ctl *c = k->ctl;
	const struct gateway *gw;
	char why[320];

	/* A connection that never came up ends as 408 (invite_timeout;
	 * nta is not told) or 503: other codes are the peer's answers. */
	if (k->attempt >= k->ncand || c->tls_fail_seq == k->tls_seq ||
	    (code != 408 && code != 503))
		return;
	gw = k->cand[k->attempt].gw;
	if (gw->transport != TP_TLS && strcmp(gw->scheme, "sips") != 0)
		return;
	k->tls_seq = c->tls_fail_seq;
	snprintf(why, sizeof(why), "TLS verification failed: %s", c->tls_fail);
	clog_msg(c, LL_WARNING, "call %s: gateway %s (%s): %s", k->call_id,
	    gw->name, gw->host, why);
	json_object_set_new(attempt, "reason", json_string(why));
}

/* TLS verification tags for nua_create(): the policy, depth, date and
 * the accepted client subjects (kept in c: read once at start). */
tagi_t *
tls_tags(struct ctl *c)
{
	tagi_t *t = c->tls_tags;
	const struct ctl_conf *conf = c->conf;
	su_strlst_t *l = NULL;
	int i = 0;

	if (conf->tls_cert_dir[0] == '\0') {
		t[0] = (tagi_t){ TAG_END() };
		return t;
	}
	if (conf->ntls_client_subjects > 0 &&
	    (l = su_strlst_create(c->home)) != NULL)
		for (int k = 0; k < conf->ntls_client_subjects; k++)
			su_strlst_dup_append(l, conf->tls_client_subjects[k]);
	c->tls_subjects = l;
	c->tls_policy = tls_policy(conf);	/* until restart: see reload */
	t[i++] = (tagi_t){ TPTAG_TLS_VERIFY_POLICY(c->tls_policy) };
	t[i++] = (tagi_t){ TPTAG_TLS_VERIFY_DEPTH(conf->tls_verify_depth) };
	t[i++] = (tagi_t){ TPTAG_TLS_VERIFY_DATE(1) };
	if (l != NULL)
		t[i++] = (tagi_t){ TPTAG_TLS_VERIFY_SUBJECTS(l) };
	t[i] = (tagi_t){ TAG_END() };
	return t;
}
