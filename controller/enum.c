/*
 * enum.c: ENUM (RFC 6116). An E.164 number (+ and digits) is looked up
 * as NAPTR records under the configured suffix with Sofia's resolver;
 * the best E2U+sip record's regexp, applied to the number, gives the SIP
 * URI the call goes to. No answer or no usable record: the call goes on
 * to the routing rules (LCR).
 */
#include <stdio.h>
#include <string.h>

#include "controller.h"


int
enum_route(struct call *k)
{
	return 0;
}

int
enum_open(struct ctl *c)
{
	return 0;
}

void
enum_close(struct ctl *c)
{
}
