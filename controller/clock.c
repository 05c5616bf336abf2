/*
 * clock.c: the controller's two clocks, seconds as doubles: monotonic for
 * timers, rates and durations; wall for CDR times. Its own file so that
 * the unit tests, which link every file but main.c, have them too.
 */
#include <time.h>

#include "controller.h"

double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
