/*
 * log.c: the controller's log lines, to stderr (journald takes them).
 * The level lives in the daemon context, so there is no global state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller.h"

static const char *const level_names[] = {
	[LL_DEBUG] = "debug", [LL_INFO] = "info", [LL_NOTICE] = "notice",
	[LL_WARNING] = "warning", [LL_ERROR] = "error",
};

int
log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

void
clog_msg(const struct ctl *c, enum log_level level, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	va_list ap;

	if (c != NULL && level < c->log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ controller %s: ", stamp,
	    ts.tv_nsec / 1000000, level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
