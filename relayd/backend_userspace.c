/*
 * backend_userspace.c: the backend that is always there. It installs
 * nothing: streams stay on the userspace path (forward.c), and the reason
 * says so, so that `query` explains why a stream is not in the kernel.
 */
#include <errno.h>
#include <stdio.h>

#include "relayd.h"

static int
us_open(struct relayd *rd, void **priv, char *reason, size_t len)
{
	*priv = NULL;
	return 0;
}

static void
us_close(struct relayd *rd, void *priv)
{
}

static int
us_install(struct relayd *rd, void *priv, struct stream *st)
{
	stream_set_reason(st,
	    "latched; no kernel backend active: %s", rd->backend.reason);
	return -EOPNOTSUPP;
}

const struct backend_ops backend_userspace_ops = {
	.name = "userspace",
	.open = us_open,
	.close = us_close,
	.install = us_install,
	.remove = NULL,
	.read_counters = NULL,
};
