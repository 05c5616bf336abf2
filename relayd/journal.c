/*
 * journal.c: what relayd needs to find its sessions again after a crash
 * or kill -9, for every backend. One small JSON file per session in the
 * journal directory (journal.path), rewritten whole (one write at offset
 * 0, then truncate) whenever something that matters
 * changes: offer/answer (endpoints, tags, label, state), a latch, and the
 * stream's path (kernel or not). A clean exit ends every session and so
 * empties the directory; a crash leaves it as it was.
 *
 * Why per-session files: a change costs one small write and a rename, no
 * log to compact, and a restart reads only live sessions. No fsync: the
 * journal has to survive the process, not the machine (the kernel state
 * it points at does not survive a reboot either); bench/nft/RESULTS.md
 * has the cost per write.
 *
 * On start (journal_restore) every file becomes a session again on the
 * same ports; a stream that was in the kernel is offered to the backend's
 * adopt op: 0 means its kernel entries are still there and packets never
 * stopped; else the stream goes back to latching in userspace.
 *
 * The directory is locked (flock on .lock): a second relayd pointed at
 * the same journal runs without one rather than trample the first's.
 */
#include <dirent.h>
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

struct journal {
	int		 dirfd;
	int		 lockfd;
	uint64_t	 writes;
};

static const char *const dir_names[] = { "sendrecv", "sendonly", "recvonly",
    "inactive" };

static uint64_t
name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (uint8_t)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

static void
file_name(const struct session *s, char *buf, size_t len, const char *ext)
{
	snprintf(buf, len, "%016llx.%s",
	    (unsigned long long)name_hash(s->call_id), ext);
}

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
	rd->journal = j;
	return 0;
}

void
journal_close(struct relayd *rd)
{
	struct journal *j = rd->journal;

	if (j == NULL)
		return;
	close(j->lockfd);
	close(j->dirfd);
	free(j);
	rd->journal = NULL;
}

/* ---- writing ---- */

static json_t *
addr_or_null(const struct sockaddr_storage *ss, bool set)
{
	char buf[64];

	return set ? json_string(addr_fmt(ss, buf, sizeof(buf))) : json_null();
}

static json_t *
leg_to_journal(const struct relayd *rd, const struct leg *leg)
{
	json_t *o = json_pack("{s:i, s:o, s:o}", "port", leg->port,
	    "latched", addr_or_null(&leg->latched[SK_RTP],
	    leg->is_latched[SK_RTP]),
	    "latched_rtcp", addr_or_null(&leg->latched[SK_RTCP],
	    leg->is_latched[SK_RTCP]));

	if (leg->sdp.set)
		json_object_set_new(o, "sdp", json_pack("{s:o, s:o, s:b, s:s}",
		    "rtp", addr_or_null(&leg->sdp.rtp, true),
		    "rtcp", addr_or_null(&leg->sdp.rtcp, true),
		    "rtcp_mux", leg->sdp.rtcp_mux,
		    "direction", dir_names[leg->sdp.direction]));
	/* Kernel counts come back from the kernel after a restart. */
	json_object_set_new(o, "stats", json_pack("{s:I, s:I, s:I}",
	    "packets", (json_int_t)(leg->stats.packets - leg->stats.kpackets),
	    "bytes", (json_int_t)(leg->stats.bytes - leg->stats.kbytes),
	    "drops", (json_int_t)leg->stats.drops));
	return o;
}

static json_t *
session_to_journal(const struct relayd *rd, const struct session *s)
{
	json_t *streams = json_array();

	for (int i = 0; i < s->nstreams; i++) {
		const struct stream *st = s->streams[i];
		json_array_append_new(streams, json_pack("{s:s, s:s, s:b, s:[o, o]}",
		    "type", st->type, "transport", st->transport,
		    "kernel", st->path == PATH_KERNEL,
		    "legs", leg_to_journal(rd, &st->leg[SIDE_A]),
		    leg_to_journal(rd, &st->leg[SIDE_B])));
	}
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:[s, s], s:I, s:o}",
	    "v", JOURNAL_VERSION, "call_id", s->call_id,
	    "from_tag", s->tag[SIDE_A], "to_tag", s->tag[SIDE_B],
	    "label", s->label,
	    "state", s->state == SS_OFFERED ? "offered" : "answered",
	    "interfaces", rd->conf.ifaces[s->iface[SIDE_A]].name,
	    rd->conf.ifaces[s->iface[SIDE_B]].name,
	    "created", (json_int_t)s->created_wall, "streams", streams);
}

void
journal_save(struct relayd *rd, const struct session *s)
{
	struct journal *j = rd->journal;
	char name[64], *text;
	json_t *o;
	size_t len, off = 0;
	int fd;

	if (j == NULL)
		return;
	o = session_to_journal(rd, s);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL) {
		rlog(rd, LL_ERROR, "journal: call %s: out of memory", s->call_id);
		return;
	}
	file_name(s, name, sizeof(name), "json");
	len = strlen(text);
	/*
	 * In place, one write at offset 0, then cut what an older, longer
	 * version left: a process killed in between leaves the new document
	 * followed by old bytes, which the reader ignores. (Write + rename
	 * would also survive a power cut, but ext4 flushes data on every
	 * rename-over: 0.6 ms per write measured, vs 0.02 ms here.)
	 */
	fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	while (fd >= 0 && off < len) {
		ssize_t n = pwrite(fd, text + off, len - off, (off_t)off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (fd < 0 || off < len || ftruncate(fd, (off_t)len) < 0) {
		rlog(rd, LL_ERROR, "journal: writing call %s: %s; a restart "
		    "would lose it", s->call_id, strerror(errno));
	} else
		j->writes++;
	if (fd >= 0)
		close(fd);
	free(text);
}

void
journal_drop(struct relayd *rd, const struct session *s)
{
	char name[64];

	if (rd->journal == NULL)
		return;
	file_name(s, name, sizeof(name), "json");
	if (unlinkat(rd->journal->dirfd, name, 0) < 0 && errno != ENOENT)
		rlog(rd, LL_WARNING, "journal: removing call %s: %s",
		    s->call_id, strerror(errno));
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
get_addr(json_t *v, struct sockaddr_storage *ss)
{
	return json_is_string(v) &&
	    addr_parse_hostport(json_string_value(v), ss) == 0;
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
	return 0;
}

static void
copy(char *dst, size_t len, json_t *v)
{
	snprintf(dst, len, "%s", json_is_string(v) ? json_string_value(v) : "");
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

	copy(st->type, sizeof(st->type), json_object_get(o, "type"));
	copy(st->transport, sizeof(st->transport),
	    json_object_get(o, "transport"));
	for (int side = SIDE_A; side <= SIDE_B; side++)
		restore_leg(&st->leg[side], json_array_get(legs, (size_t)side));
	n->streams++;
	if (!json_is_true(json_object_get(o, "kernel"))) {
		/* latched but not yet in the kernel when relayd died */
		if (stream_fully_latched(st))
			backend_stream_latched(rd, st);
		return;
	}
	if (ops != NULL && ops->adopt != NULL &&
	    ops->adopt(rd, rd->backend.priv, st) == 0) {
		st->path = PATH_KERNEL;
		n->adopted++;
		return;
	}
	/* Its kernel entries are gone: latch again from the sockets. */
	leg_unlatch(&st->leg[SIDE_A]);
	leg_unlatch(&st->leg[SIDE_B]);
	snprintf(st->path_reason, sizeof(st->path_reason), "latching (kernel "
	    "entries not found after restart)");
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
	copy(s->tag[SIDE_B], sizeof(s->tag[SIDE_B]), json_object_get(o, "to_tag"));
	copy(s->label, sizeof(s->label), json_object_get(o, "label"));
	if (strcmp(json_string_value(json_object_get(o, "state")) ?: "",
	    "answered") == 0)
		s->state = SS_ANSWERED;
	s->created_wall = (int64_t)json_integer_value(json_object_get(o,
	    "created"));
	if (s->created_wall > 0 && s->created_wall <= time(NULL))
		s->created_ms -= (uint64_t)(time(NULL) - s->created_wall) * 1000;
	rc = session_restore_streams(rd, s, ns, ports);
	if (rc < 0) {
		snprintf(why, len, "re-binding its ports: %s", strerror(-rc));
		session_destroy(rd, s);
		return rc;
	}
	json_array_foreach(streams, i, so)
		restore_stream(rd, s->streams[i], so, n);
	n->sessions++;
	return 0;
}

static bool
is_session_file(const char *name)
{
	size_t n = strlen(name);

	return n == 21 && strcmp(name + 16, ".json") == 0;
}

int
journal_restore(struct relayd *rd)
{
	struct restore_count n = { 0, 0, 0, 0, 0 };
	struct journal *j = rd->journal;
	struct dirent *de;
	DIR *dir;
	int fd;

	if (j == NULL)
		return 0;
	fd = dup(j->dirfd);
	dir = fd < 0 ? NULL : fdopendir(fd);
	if (dir == NULL) {
		rlog(rd, LL_ERROR, "journal: reading %s: %s", rd->conf.journal,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		char why[160] = "", *text = NULL;
		json_t *o = NULL;
		int ffd;

		if (!is_session_file(de->d_name))
			continue;
		ffd = openat(j->dirfd, de->d_name, O_RDONLY | O_CLOEXEC);
		if (ffd >= 0) {
			FILE *f = fdopen(ffd, "r");
			/* trailing bytes of an older version: see journal_save */
			o = f ? json_loadf(f, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
			if (f != NULL)
				fclose(f);
			else
				close(ffd);
		}
		if (o == NULL || restore_session(rd, o, &n, why,
		    sizeof(why)) < 0) {
			rlog(rd, LL_WARNING, "journal: %s/%s not restored: %s",
			    rd->conf.journal, de->d_name, why[0] ? why :
			    "unreadable");
			unlinkat(j->dirfd, de->d_name, 0);
			n.failed++;
		}
		json_decref(o);
		free(text);
	}
	closedir(dir);
	if (n.sessions > 0 || n.failed > 0)
		rlog(rd, LL_NOTICE, "journal: restored %d sessions (%d streams: "
		    "%d adopted in the kernel, %d latching again); %d not "
		    "restored", n.sessions, n.streams, n.adopted, n.relatching,
		    n.failed);
	/* Write them back: paths may have changed (not adopted). */
	for (struct session *s = rd->sessions.first; s != NULL; s = s->next)
		journal_save(rd, s);
	return 0;
}
