/*
 * log.c: the daemons' log lines, to stderr (journald takes them from
 * there). Each daemon wraps log_vline() with its own context, which holds
 * the level threshold, so there is no global state here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto.h"

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
log_vline(const char *daemon, enum log_level level, const char *fmt,
    va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s: ", stamp, ts.tv_nsec / 1000000,
	    daemon, level_names[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}
