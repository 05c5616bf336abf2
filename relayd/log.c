/*
 * log.c: relayd's log lines (proto/log.c writes them); the level lives in
 * the daemon context.
 */
#include <stdarg.h>

#include "relayd.h"

void
rlog(const struct relayd *rd, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (rd != NULL && level < rd->conf.log_level)
		return;
	va_start(ap, fmt);
	log_vline("relayd", level, fmt, ap);
	va_end(ap);
}
