/*
 * cdr.c: one JSON line per call, appended to the CDR file when the call
 * is over (after the relay's delete, whose statistics it carries). The
 * file is opened O_APPEND per daemon and each line is one write(), so
 * lines never interleave and a rotated file is picked up on reload.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"

static json_t *
stamp(double t)
{
	char buf[40], out[48];
	struct tm tm;
	time_t s = (time_t)t;

	if (t <= 0)
		return json_null();
	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof(out), "%s.%03dZ", buf,
	    (int)((t - (double)s) * 1000));
	return json_string(out);
}

static json_t *
direction(const struct call *k, int d)
{
	return json_pack("{s:I,s:I,s:I}", "packets", (json_int_t)k->ms.packets[d],
	    "bytes", (json_int_t)k->ms.bytes[d], "lost",
	    (json_int_t)k->ms.lost[d]);
}

json_t *
cdr_build(const struct call *k)
{
	static const char *const by[] = { "none", "caller", "callee",
	    "controller", "relay" };
	const struct gateway *gw = NULL;
	json_t *o;

	if (k->connect_t > 0 && k->attempt < k->ncand)
		gw = k->cand[k->attempt].gw;
	o = json_pack("{s:s,s:s,s:s,s:s,s:O,s:i}",
	    "call_id", k->call_id, "b_call_id", k->b_call_id,
	    "trunk", k->trunk ? k->trunk->name : "",
	    "source", k->src,
	    "attempts", k->attempts,
	    "final_code", k->final_code);
	json_object_set_new(o, "route", k->route && k->route->name[0] ?
	    json_string(k->route->name) : json_null());
	json_object_set_new(o, "gateway", gw ? json_string(gw->name) :
	    json_null());
	json_object_set_new(o, "carrier", gw ? json_string(
	    k->cand[k->attempt].carrier) : json_null());
	json_object_set_new(o, "relay", k->relay ?
	    json_string(relay_name(k->relay)) : json_null());
	json_object_set_new(o, "numbers", json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s}",
	    "called_in", k->called_in, "calling_in", k->calling_in,
	    "called", k->called, "calling", k->calling,
	    "called_out", k->called_out, "calling_out", k->calling_out));
	json_object_set_new(o, "setup", stamp(k->setup_t));
	json_object_set_new(o, "connect", stamp(k->connect_t));
	json_object_set_new(o, "end", stamp(k->end_t));
	json_object_set_new(o, "duration", json_real(k->connect_t > 0 ?
	    k->end_t - k->connect_t : 0.0));
	json_object_set_new(o, "hangup_by", json_string(by[k->hangup_by]));
	/* divert.c: the account charged for a diverted call */
	json_object_set_new(o, "diverted_by", k->diverted_by[0] ?
	    json_string(k->diverted_by) : json_null());
	if (k->emergency)
		json_object_set_new(o, "emergency", json_true());
	json_object_set_new(o, "reason", json_string(k->reason));
	if (k->ms_set)
		json_object_set_new(o, "media", json_pack("{s:o,s:o}",
		    "caller_to_callee", direction(k, 0),
		    "callee_to_caller", direction(k, 1)));
	else
		json_object_set_new(o, "media", json_null());
	return o;
}

int
cdr_write(struct ctl *c, const struct call *k)
{
	json_t *o = cdr_build(k);
	char *line = json_dumps(o, JSON_COMPACT);
	size_t len;
	ssize_t n;

	json_decref(o);
	if (line == NULL)
		return -ENOMEM;
	if (c->cdr_fd < 0) {
		c->cdr_fd = open(c->conf->cdr_path, O_WRONLY | O_APPEND |
		    O_CREAT | O_CLOEXEC, 0640);
		if (c->cdr_fd < 0)
			clog_msg(c, LL_ERROR, "CDR file %s: %s; CDR: %s",
			    c->conf->cdr_path, strerror(errno), line);
	}
	len = strlen(line);
	line[len++] = '\n';	/* json_dumps' NUL becomes the newline */
	n = c->cdr_fd >= 0 ? write(c->cdr_fd, line, len) : -1;
	if (c->cdr_fd >= 0 && n != (ssize_t)len)
		clog_msg(c, LL_ERROR, "CDR file %s: short write: %s",
		    c->conf->cdr_path, strerror(errno));
	free(line);
	return n == (ssize_t)len ? 0 : -EIO;
}
