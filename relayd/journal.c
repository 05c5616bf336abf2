/*
 * journal.c: what relayd needs to find its sessions again after a crash
 * or kill -9, for every backend. One append-only log, journal.log in the
 * journal directory (journal.path): a JSON line per change that matters
 * (offer/answer: endpoints, tags, label, state; a latch; the stream's
 * path, kernel or not) holding the whole session, and a line
 * {"drop": call-id} when a session ends. The last line of a call wins.
 *
 * Why a log: a change costs one line printed into a buffer; the lines of one
 * event-loop round go out in one write() (journal_flush, called after
 * every epoll batch, before relayd sleeps again), so a crash loses at most
 * the round in progress. A file per session cost an open/write/truncate/
 * close per change and a create/unlink per call: on this VM's ext4 that
 * was most of relayd's CPU while calls were being set up (bench/). When
 * the log has grown to several times what the live sessions need, it is
 * compacted: the live sessions are written to a new file that replaces
 * it. No fsync: the journal has to survive the process, not the machine
 * (the kernel state it points at does not survive a reboot either).
 *
 * On start (journal_restore) the log is replayed; each live session comes
 * back on the same ports; a stream that was in the kernel is offered to
 * the backend's adopt op: 0 means its kernel entries are still there and
 * packets never stopped; else the stream goes back to latching in
 * userspace. A clean exit ends every session and leaves an empty log.
 *
 * The directory is locked (flock on .lock): a second relayd pointed at
 * the same journal runs without one rather than trample the first's.
 *
 * Failures fail safe (a full /run, EMFILE): a write that fails is cut
 * back to the last whole line (a torn line would glue the next one to
 * it), the log is then "behind" (it misses changes) and nothing more is
 * appended to it; the whole live set is rewritten into a new file instead,
 * retried after JOURNAL_RETRY_MS, doubling up to JOURNAL_RETRY_MAX_MS,
 * until it works. A failed compaction leaves the log as it was (still
 * right) and is retried as slowly. Each
 * failure is counted (stats: journal_errors); the first is logged, and
 * the recovery.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "relayd.h"

#define JOURNAL_VERSION	1
#define JOURNAL_LOG	"journal.log"
#define JOURNAL_NEW	".journal.new"
/* Compact when the log passes this size and JOURNAL_SLACK times the
 * estimate of what the live sessions need. */
#define JOURNAL_COMPACT_MIN	(1u << 20)
#define JOURNAL_SLACK		4
#define JOURNAL_RETRY_MS	1000	/* first wait before another attempt */
#define JOURNAL_RETRY_MAX_MS	32000	/* doubling up to this */

struct journal {
	int		 dirfd;
	int		 lockfd;
	int		 logfd;
	char		*buf;		/* lines of this round, not yet written */
	size_t		 len, cap;
	uint64_t	 log_bytes;	/* size of journal.log */
	uint64_t	 session_bytes;	/* written as session lines, ever */
	uint64_t	 session_lines;
	uint64_t	 writes;
	bool		 behind;	/* a write failed: rewrite before appending */
	bool		 failing;	/* the last attempt failed (logged once) */
	uint64_t	 retry_ms;	/* no rewrite or compaction before */
	uint64_t	 retry_wait_ms;	/* the wait after the next failure */
};

static const char *const dir_names[] = { "sendrecv", "sendonly", "recvonly",
    "inactive" };

/* mkdir -p for an absolute path. */
static int
mkdirs(const char *path)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
journal_open(struct relayd *rd)
{
	const char *path = rd->conf.journal;
	struct journal *j;
	struct stat sb;
	int rc;

	if (path[0] == '\0') {
		rlog(rd, LL_INFO, "journal: disabled; sessions will not survive "
		    "a restart");
		return 0;
	}
	if ((rc = mkdirs(path)) < 0) {
		rlog(rd, LL_ERROR, "journal %s: %s", path, strerror(-rc));
		return rc;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	j->lockfd = j->dirfd < 0 ? -1 : openat(j->dirfd, ".lock",
	    O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (j->dirfd < 0 || j->lockfd < 0) {
		rc = -errno;
		rlog(rd, LL_ERROR, "journal %s: %s", path, strerror(-rc));
		if (j->dirfd >= 0)
			close(j->dirfd);
		free(j);
		return rc;
	}
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) < 0) {
		rlog(rd, LL_WARNING, "journal %s is in use by another relayd: "
		    "running without a journal", path);
		close(j->lockfd);
		close(j->dirfd);
		free(j);
		return 0;
	}
	j->logfd = openat(j->dirfd, JOURNAL_LOG, O_RDWR | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0640);
	if (j->logfd < 0) {
		rc = -errno;
		rlog(rd, LL_ERROR, "journal %s/%s: %s", path, JOURNAL_LOG,
		    strerror(-rc));
		close(j->lockfd);
		close(j->dirfd);
		free(j);
		return rc;
	}
	/* A failed write is cut back to this size: it must be the file's. */
	if (fstat(j->logfd, &sb) == 0)
		j->log_bytes = (uint64_t)sb.st_size;
	rd->journal = j;
	return 0;
}

/* After a clean exit every session has ended: the log is rewritten empty. */
void
journal_close(struct relayd *rd)
{
	struct journal *j = rd->journal;

	if (j == NULL)
		return;
	j->retry_ms = 0;		/* a last try if it is behind */
	journal_flush(rd);
	if (rd->sessions.count == 0 && ftruncate(j->logfd, 0) < 0)
		rlog(rd, LL_WARNING, "journal: emptying %s/%s: %s",
		    rd->conf.journal, JOURNAL_LOG, strerror(errno));
	close(j->logfd);
	close(j->lockfd);
	close(j->dirfd);
	free(j->buf);
	free(j);
	rd->journal = NULL;
}

/* ---- writing ---- */

/*
 * Lines are printed straight into the journal's buffer: building them as
 * jansson objects first cost most of a change (11-37 us here). They are
 * read back with jansson (journal_restore), so they must stay valid JSON:
 * strings go through put_str's escaping.
 */
static int
reserve(struct journal *j, size_t n)
{
	size_t cap = j->cap ? j->cap : 4096;
	char *p;

	if (j->len + n <= j->cap)
		return 0;
	while (cap < j->len + n)
		cap *= 2;
	if ((p = realloc(j->buf, cap)) == NULL)
		return -ENOMEM;
	j->buf = p;
	j->cap = cap;
	return 0;
}

/* Literal JSON text: no printf at all. */
static int
put_lit(struct journal *j, const char *text)
{
	size_t n = strlen(text);

	if (reserve(j, n + 1) < 0)
		return -ENOMEM;
	memcpy(j->buf + j->len, text, n);
	j->len += n;
	return 0;
}

/* A number without printf (every leg's port and counters, per line). */
static int
put_i64(struct journal *j, int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	int n = 0;

	if (reserve(j, sizeof(tmp)) < 0)
		return -ENOMEM;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		j->buf[j->len++] = '-';
	while (n > 0)
		j->buf[j->len++] = tmp[--n];
	return 0;
}

static int
put_u64(struct journal *j, uint64_t v)
{
	char tmp[24];
	int n = 0;

	if (reserve(j, sizeof(tmp)) < 0)
		return -ENOMEM;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		j->buf[j->len++] = tmp[--n];
	return 0;
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static int
put_str(struct journal *j, const char *v)
{
	size_t n = strlen(v);
	char *o;

	if (reserve(j, 6 * n + 3) < 0)		/* worst case: all \u00XX */
		return -ENOMEM;
	o = j->buf + j->len;
	*o++ = '"';
	for (; *v != '\0'; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = (char)ch;
		} else if (ch < 0x20)
			o += sprintf(o, "\\u%04x", ch);
		else
			*o++ = (char)ch;
	}
	*o++ = '"';
	j->len = (size_t)(o - j->buf);
	return 0;
}

static int
put_addr(struct journal *j, const struct raddr *r, bool set)
{
	char buf[64];

	return set ? put_str(j, addr_fmt(RADDR_SS(r), buf, sizeof(buf))) :
	    put_lit(j, "null");
}

static int
put_leg(struct journal *j, const struct leg *leg)
{
	const struct leg_sdp *e = &leg->sdp;
	/* Kernel counts come back from the kernel after a restart. */
	int rc = put_lit(j, "{\"port\":");

	/* A candidate still being learned is not a peer: a restart
	 * would fix it (latch.c); the leg learns again instead. */
	bool fixed = leg->is_latched[SK_RTP] && !leg->learn.learning;

	rc = rc ?: put_u64(j, leg->port);
	rc = rc ?: put_lit(j, ",\"latched\":");
	rc = rc ?: put_addr(j, &leg->latched[SK_RTP], fixed);
	rc = rc ?: put_lit(j, ",\"latched_rtcp\":");
	rc = rc ?: put_addr(j, &leg->latched[SK_RTCP],
	    fixed && leg->is_latched[SK_RTCP]);
	if (e->set) {
		rc = rc ?: put_lit(j, ",\"sdp\":{\"rtp\":");
		rc = rc ?: put_addr(j, &e->rtp, true);
		rc = rc ?: put_lit(j, ",\"rtcp\":");
		rc = rc ?: put_addr(j, &e->rtcp, true);
		rc = rc ?: put_lit(j, e->rtcp_mux ? ",\"rtcp_mux\":true" :
		    ",\"rtcp_mux\":false");
		rc = rc ?: put_lit(j, ",\"direction\":\"");
		rc = rc ?: put_lit(j, dir_names[e->direction]);
		rc = rc ?: put_lit(j, "\"}");
	}
	/* last_seen: the timers need it (restore_leg says how). */
	rc = rc ?: put_lit(j, ",\"stats\":{\"packets\":");
	rc = rc ?: put_u64(j, leg->stats.packets - leg->stats.kpackets);
	rc = rc ?: put_lit(j, ",\"bytes\":");
	rc = rc ?: put_u64(j, leg->stats.bytes - leg->stats.kbytes);
	rc = rc ?: put_lit(j, ",\"drops\":");
	rc = rc ?: put_u64(j, leg->stats.drops);
	rc = rc ?: put_lit(j, ",\"last_seen\":");
	rc = rc ?: put_i64(j, leg->stats.last_seen_wall);
	return rc ?: put_lit(j, "}}");
}

static int
put_stream(struct journal *j, const struct stream *st)
{
	int rc = put_lit(j, "{\"type\":");

	rc = rc ?: put_str(j, st->type);
	rc = rc ?: put_lit(j, ",\"transport\":");
	rc = rc ?: put_str(j, st->transport);
	rc = rc ?: put_lit(j, st->path == PATH_KERNEL ?
	    ",\"kernel\":true,\"legs\":[" : ",\"kernel\":false,\"legs\":[");
	rc = rc ?: put_leg(j, &st->leg[SIDE_A]);
	rc = rc ?: put_lit(j, ",");
	rc = rc ?: put_leg(j, &st->leg[SIDE_B]);
	return rc ?: put_lit(j, "]}");
}

/* One line holding the whole session. */
static int
put_session(struct journal *j, const struct relayd *rd,
    const struct session *s)
{
	size_t before = j->len;
	int rc = put_lit(j, "{\"v\":");

	rc = rc ?: put_u64(j, JOURNAL_VERSION);
	rc = rc ?: put_lit(j, ",\"call_id\":");
	rc = rc ?: put_str(j, s->call_id);
	rc = rc ?: put_lit(j, ",\"from_tag\":");
	rc = rc ?: put_str(j, s->tag[SIDE_A]);
	rc = rc ?: put_lit(j, ",\"to_tag\":");
	rc = rc ?: put_str(j, s->tag[SIDE_B]);
	rc = rc ?: put_lit(j, ",\"label\":");
	rc = rc ?: put_str(j, s->label);
	rc = rc ?: put_lit(j, s->state == SS_OFFERED ?
	    ",\"state\":\"offered\"," : ",\"state\":\"answered\",");
	rc = rc ?: put_lit(j, s->ringing ? "\"ringing\":true," : "");
	rc = rc ?: put_lit(j, "\"interfaces\":[");
	rc = rc ?: put_str(j, rd->conf.ifaces[s->iface[SIDE_A]].name);
	rc = rc ?: put_lit(j, ",");
	rc = rc ?: put_str(j, rd->conf.ifaces[s->iface[SIDE_B]].name);
	rc = rc ?: put_lit(j, "],\"created\":");
	rc = rc ?: put_i64(j, s->created_wall);
	rc = rc ?: put_lit(j, ",\"streams\":[");
	for (int i = 0; rc == 0 && i < s->nstreams; i++) {
		rc = i ? put_lit(j, ",") : 0;
		rc = rc ?: put_stream(j, s->streams[i]);
	}
	rc = rc ?: put_lit(j, "]}\n");
	if (rc < 0)
		j->len = before;
	return rc;
}

void
journal_save(struct relayd *rd, const struct session *s)
{
	struct journal *j = rd->journal;
	size_t before;

	if (j == NULL || j->behind)	/* the rewrite will carry it */
		return;
	/* DTLS and SRTP state cannot survive a restart: such a call ends
	 * with the process (the browser renegotiates), never comes back as
	 * a plain one. */
	if (session_has_webrtc(s)) {
		journal_drop(rd, s);
		return;
	}
	before = j->len;
	if (put_session(j, rd, s) < 0) {
		rlog(rd, LL_ERROR, "journal: call %s: out of memory; a restart "
		    "would lose its last change", s->call_id);
		return;
	}
	j->session_bytes += j->len - before;
	j->session_lines++;
	j->writes++;
}

void
journal_drop(struct relayd *rd, const struct session *s)
{
	struct journal *j = rd->journal;
	size_t before;

	if (j == NULL || j->behind)
		return;
	before = j->len;
	if (put_lit(j, "{\"v\":") < 0 || put_u64(j, JOURNAL_VERSION) < 0 ||
	    put_lit(j, ",\"drop\":") < 0 ||
	    put_str(j, s->call_id) < 0 || put_lit(j, "}\n") < 0) {
		j->len = before;
		rlog(rd, LL_ERROR, "journal: call %s: out of memory; a restart "
		    "would bring it back", s->call_id);
	}
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Replace the log by one line per live session: written to a new file,
 * renamed over the old one (a crash in between leaves the old log, which
 * is still right).
 */
static int
journal_compact(struct relayd *rd)
{
	struct journal *j = rd->journal;
	int fd, rc;

	j->len = 0;
	for (struct session *s = rd->sessions.first; s != NULL; s = s->next)
		if (!session_has_webrtc(s) && put_session(j, rd, s) < 0) {
			j->len = 0;
			return -ENOMEM;
		}
	fd = openat(j->dirfd, JOURNAL_NEW, O_WRONLY | O_CREAT | O_TRUNC |
	    O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		/* These lines must not reach the old log: appending the live
		 * set every round is what filled /run. */
		j->len = 0;
		return -errno;
	}
	rc = write_all(fd, j->buf, j->len);
	if (rc == 0 && renameat(j->dirfd, JOURNAL_NEW, j->dirfd,
	    JOURNAL_LOG) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		unlinkat(j->dirfd, JOURNAL_NEW, 0);
		j->len = 0;
		return rc;
	}
	close(j->logfd);
	j->logfd = fd;
	j->log_bytes = j->len;
	j->len = 0;
	return 0;
}

static bool
needs_compaction(const struct relayd *rd)
{
	const struct journal *j = rd->journal;
	uint64_t avg = j->session_lines ? j->session_bytes / j->session_lines :
	    0;

	return j->log_bytes > JOURNAL_COMPACT_MIN &&
	    j->log_bytes > JOURNAL_SLACK * avg * (rd->sessions.count + 1);
}

/* A write, rewrite or compaction failed: count it, log the first. */
static void
journal_failed(struct relayd *rd, const char *what, int rc)
{
	struct journal *j = rd->journal;

	rd->totals.journal_errors++;
	/* A rewrite serializes every live session: back off while it fails. */
	if (!j->failing || j->retry_wait_ms == 0)
		j->retry_wait_ms = JOURNAL_RETRY_MS;
	j->retry_ms = now_ms() + j->retry_wait_ms;
	if (j->retry_wait_ms < JOURNAL_RETRY_MAX_MS)
		j->retry_wait_ms *= 2;
	if (j->failing) {
		rlog(rd, LL_DEBUG, "journal: %s %s/%s: %s (again)", what,
		    rd->conf.journal, JOURNAL_LOG, strerror(-rc));
		return;
	}
	j->failing = true;
	rlog(rd, LL_ERROR, "journal: %s %s/%s: %s; %s", what, rd->conf.journal,
	    JOURNAL_LOG, strerror(-rc), j->behind ? "the log misses changes "
	    "and is not appended to; it will be rewritten whole (retried "
	    "after 1 s, then less often up to every 32 s; stats "
	    "journal_errors counts the failures)" : "the log stays as it is "
	    "and compaction is retried after 1 s, then less often");
}

/* The log misses changes: write every live session to a new one. */
static void
journal_rewrite(struct relayd *rd)
{
	struct journal *j = rd->journal;
	int rc;

	j->len = 0;		/* the rewrite carries every session as it is */
	if (now_ms() < j->retry_ms)
		return;
	if ((rc = journal_compact(rd)) < 0) {
		journal_failed(rd, "rewriting", rc);
		return;
	}
	j->behind = j->failing = false;
	rlog(rd, LL_NOTICE, "journal: %s/%s rewritten with %zu sessions; "
	    "appending again", rd->conf.journal, JOURNAL_LOG,
	    rd->sessions.count);
}

/* The lines of this loop round, in one write. */
void
journal_flush(struct relayd *rd)
{
	struct journal *j = rd->journal;
	size_t n;
	int rc;

	if (j == NULL)
		return;
	if (j->behind) {
		journal_rewrite(rd);
		return;
	}
	n = j->len;
	rc = n > 0 ? write_all(j->logfd, j->buf, n) : 0;
	j->len = 0;
	if (rc < 0) {
		/* Cut a partial line: the next append would be glued to it.
		 * If even that fails, the rewrite replaces the file. */
		if (ftruncate(j->logfd, (off_t)j->log_bytes) < 0)
			rlog(rd, LL_WARNING, "journal: cutting a torn line in "
			    "%s/%s: %s", rd->conf.journal, JOURNAL_LOG,
			    strerror(errno));
		j->behind = true;
		j->failing = false;
		journal_failed(rd, "writing", rc);
		return;
	}
	j->log_bytes += n;
	if (!needs_compaction(rd) || now_ms() < j->retry_ms)
		return;
	if ((rc = journal_compact(rd)) < 0) {
		journal_failed(rd, "compacting", rc);
		return;
	}
	if (j->failing)
		rlog(rd, LL_NOTICE, "journal: %s/%s compacted again",
		    rd->conf.journal, JOURNAL_LOG);
	j->failing = false;
}

/* While the log is behind, or for stats. */
bool
journal_behind(const struct relayd *rd)
{
	return rd->journal != NULL && rd->journal->behind;
}

/* ---- restoring ---- */

static int
iface_index(const struct relayd *rd, const char *name)
{
	for (int i = 0; name != NULL && i < rd->conf.nifaces; i++)
		if (strcmp(rd->conf.ifaces[i].name, name) == 0)
			return i;
	return -1;
}

static bool
get_addr(json_t *v, struct raddr *r)
{
	struct sockaddr_storage ss;

	if (!json_is_string(v) ||
	    addr_parse_hostport(json_string_value(v), &ss) < 0)
		return false;
	raddr_from(r, &ss);
	return true;
}

static int
restore_leg(struct leg *leg, json_t *o)
{
	json_t *sdp = json_object_get(o, "sdp"), *st = json_object_get(o, "stats");

	if (sdp != NULL) {
		const char *d = json_string_value(json_object_get(sdp,
		    "direction"));
		if (!get_addr(json_object_get(sdp, "rtp"), &leg->sdp.rtp) ||
		    !get_addr(json_object_get(sdp, "rtcp"), &leg->sdp.rtcp))
			return -EINVAL;
		leg->sdp.set = true;
		leg->sdp.rtcp_mux = json_is_true(json_object_get(sdp, "rtcp_mux"));
		for (size_t i = 0; d != NULL && i < 4; i++)
			if (strcmp(d, dir_names[i]) == 0)
				leg->sdp.direction = (enum direction)i;
	}
	leg->is_latched[SK_RTP] = get_addr(json_object_get(o, "latched"),
	    &leg->latched[SK_RTP]);
	leg->is_latched[SK_RTCP] = get_addr(json_object_get(o, "latched_rtcp"),
	    &leg->latched[SK_RTCP]);
	leg->stats.packets = (uint64_t)json_integer_value(json_object_get(st,
	    "packets"));
	leg->stats.bytes = (uint64_t)json_integer_value(json_object_get(st,
	    "bytes"));
	leg->stats.drops = (uint64_t)json_integer_value(json_object_get(st,
	    "drops"));
	/*
	 * A leg that had seen packets must not look like one that never did:
	 * the timers would end the call as "setup" at the first tick. The
	 * journalled time is only a lower bound (lines are written on changes,
	 * not on packets) and relayd was deaf while it was down, so the
	 * silence is counted from the restart: a held or quiet call gets its
	 * whole hold or inactivity timeout again, never less.
	 */
	leg->stats.last_seen_wall = (int64_t)json_integer_value(
	    json_object_get(st, "last_seen"));
	if (leg->stats.last_seen_wall > 0 || leg->is_latched[SK_RTP] ||
	    leg->is_latched[SK_RTCP])	/* a latch is a packet seen */
		leg->stats.last_seen_ms = now_ms();
	return 0;
}

/* A journaled SDP word; a full atom table keeps the stream, without it. */
static const char *
restore_atom(struct relayd *rd, json_t *v, size_t max)
{
	const char *a = atom_get(&rd->atoms, json_string_value(v), max);

	if (a == NULL) {
		rlog(rd, LL_WARNING, "journal: no room for SDP word '%s' "
		    "(%d distinct at most); the stream keeps none",
		    json_string_value(v), ATOMS_MAX);
		a = "";
	}
	return a;
}

struct restore_count {
	int	 sessions, streams, adopted, relatching, failed;
};

static void
restore_stream(struct relayd *rd, struct stream *st, json_t *o,
    struct restore_count *n)
{
	const struct backend_ops *ops = rd->backend.ops;
	json_t *legs = json_object_get(o, "legs");

	st->type = restore_atom(rd, json_object_get(o, "type"), ATOM_TYPE_MAX);
	st->transport = restore_atom(rd, json_object_get(o, "transport"),
	    ATOM_MAXLEN);
	for (int side = SIDE_A; side <= SIDE_B; side++)
		restore_leg(&st->leg[side], json_array_get(legs, (size_t)side));
	n->streams++;
	if (!json_is_true(json_object_get(o, "kernel"))) {
		/* Userspace relays it: its ports are bound again (a port
		 * another process took is reported by legsock.c). */
		stream_sockets_open(rd, st);
		/* latched but not yet in the kernel when relayd died */
		if (stream_fully_latched(st))
			backend_stream_latched(rd, st);
		else
			backend_stream_learn(rd, st);
		return;
	}
	if (!stream_fully_latched(st)) {
		/* it was learning in the kernel: again, with the journalled
		 * fixed peers (kmod_learn.c) */
		backend_stream_learn(rd, st);
		if (st->path == PATH_KERNEL) {
			n->adopted++;
			return;
		}
	}
	if (ops != NULL && ops->adopt != NULL &&
	    ops->adopt(rd, rd->backend.priv, st) == 0) {
		st->path = PATH_KERNEL;
		backend_carry(rd, st);
		n->adopted++;
		return;
	}
	/* Its kernel entries are gone: latch again from the sockets. */
	leg_unlatch(&st->leg[SIDE_A]);
	leg_unlatch(&st->leg[SIDE_B]);
	stream_set_reason(st, "latching (kernel "
	    "entries not found after restart)");
	stream_sockets_open(rd, st);
	n->relatching++;
}

static int
restore_session(struct relayd *rd, json_t *o, struct restore_count *n,
    char *why, size_t len)
{
	json_t *ifs = json_object_get(o, "interfaces");
	json_t *streams = json_object_get(o, "streams"), *so;
	const char *call_id = json_string_value(json_object_get(o, "call_id"));
	uint16_t ports[PROTO_MAX_MEDIA][2];
	int ia, ib, ns, rc;
	struct session *s;
	size_t i;

	ia = iface_index(rd, json_string_value(json_array_get(ifs, 0)));
	ib = iface_index(rd, json_string_value(json_array_get(ifs, 1)));
	ns = (int)json_array_size(streams);
	if (json_integer_value(json_object_get(o, "v")) != JOURNAL_VERSION ||
	    call_id == NULL || ia < 0 || ib < 0 || ns > PROTO_MAX_MEDIA) {
		snprintf(why, len, "unknown version, or an interface no longer "
		    "configured");
		return -EINVAL;
	}
	if (session_find(&rd->sessions, call_id) != NULL) {
		snprintf(why, len, "call %s twice", call_id);
		return -EEXIST;
	}
	json_array_foreach(streams, i, so)
		for (int side = 0; side < 2; side++)
			ports[i][side] = (uint16_t)json_integer_value(
			    json_object_get(json_array_get(json_object_get(so,
			    "legs"), (size_t)side), "port"));
	s = session_create(rd, call_id, json_string_value(json_object_get(o,
	    "from_tag")) ?: "", ia, ib);
	if (s == NULL)
		return -ENOMEM;
	if (session_set_str(&s->tag[SIDE_B], json_string_value(
	    json_object_get(o, "to_tag")) ?: "") < 0 ||
	    session_set_str(&s->label, json_string_value(
	    json_object_get(o, "label")) ?: "") < 0) {
		session_destroy(rd, s);
		return -ENOMEM;
	}
	if (strcmp(json_string_value(json_object_get(o, "state")) ?: "",
	    "answered") == 0)
		s->state = SS_ANSWERED;
	s->ringing = json_is_true(json_object_get(o, "ringing"));
	s->created_wall = (int64_t)json_integer_value(json_object_get(o,
	    "created"));
	if (s->created_wall > 0 && s->created_wall <= time(NULL))
		s->created_ms -= (uint64_t)(time(NULL) - s->created_wall) * 1000;
	rc = session_restore_streams(rd, s, ns, ports);
	if (rc < 0) {
		snprintf(why, len, "taking its ports again: %s", strerror(-rc));
		session_destroy(rd, s);
		return rc;
	}
	json_array_foreach(streams, i, so)
		restore_stream(rd, s->streams[i], so, n);
	n->sessions++;
	return 0;
}

/*
 * Replay the log into live: call-id -> its last session line. A line
 * that does not parse can only be the last one, cut by a crash in the
 * middle of a write: it is reported and skipped.
 */
static int
replay(struct relayd *rd, json_t *live)
{
	struct journal *j = rd->journal;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int fd = dup(j->logfd), lineno = 0;
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");

	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	rewind(f);
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *o = json_loads(line, 0, NULL);
		const char *drop = json_string_value(json_object_get(o, "drop"));
		const char *id = json_string_value(json_object_get(o, "call_id"));

		lineno++;
		if (drop != NULL)
			json_object_del(live, drop);
		else if (id != NULL)
			json_object_set(live, id, o);
		else
			rlog(rd, LL_WARNING, "journal: %s/%s:%d: not a session "
			    "line (cut by a crash?); skipped", rd->conf.journal,
			    JOURNAL_LOG, lineno);
		json_decref(o);
	}
	free(line);
	fclose(f);
	return 0;
}

int
journal_restore(struct relayd *rd)
{
	struct restore_count n = { 0, 0, 0, 0, 0 };
	json_t *live, *o;
	const char *id;
	int rc;

	if (rd->journal == NULL)
		return 0;
	if ((live = json_object()) == NULL)
		return -1;
	if ((rc = replay(rd, live)) < 0) {
		rlog(rd, LL_ERROR, "journal: reading %s/%s: %s", rd->conf.journal,
		    JOURNAL_LOG, strerror(-rc));
		json_decref(live);
		return -1;
	}
	json_object_foreach(live, id, o) {
		char why[160] = "";

		if (restore_session(rd, o, &n, why, sizeof(why)) < 0) {
			rlog(rd, LL_WARNING, "journal: call %s not restored: %s",
			    id, why);
			n.failed++;
		}
	}
	json_decref(live);
	if (n.sessions > 0 || n.failed > 0)
		rlog(rd, LL_NOTICE, "journal: restored %d sessions (%d streams: "
		    "%d adopted in the kernel, %d latching again); %d not "
		    "restored", n.sessions, n.streams, n.adopted, n.relatching,
		    n.failed);
	/* Start a fresh log with what is live now: paths may have changed. */
	if ((rc = journal_compact(rd)) < 0) {
		rd->journal->behind = true;
		journal_failed(rd, "rewriting", rc);
	}
	return 0;
}
