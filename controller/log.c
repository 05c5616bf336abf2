/*
 * log.c: the controller's log lines (proto/log.c writes them); the level
 * lives in the controller context.
 */
#include <stdarg.h>

#include "controller.h"

void
clog_msg(const struct ctl *c, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (c != NULL && level < c->log_level)
		return;
	va_start(ap, fmt);
	log_vline("controller", level, fmt, ap);
	va_end(ap);
}
