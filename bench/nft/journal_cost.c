/*
 * journal_cost: what one journal write (journal_save: JSON of a session
 * appended to the log; journal_flush: one write() per loop round, here
 * the worst case of one per change) costs, with this
 * build's journal.c, for sessions of 1 and 4 streams, and one drop.
 *   journal_cost DIR [WRITES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relayd.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static struct relayd rd;
	int writes = argc > 2 ? atoi(argv[2]) : 20000;

	if (argc < 2) {
		fprintf(stderr, "usage: journal_cost DIR [WRITES]\n");
		return 2;
	}
	config_defaults(&rd.conf);
	snprintf(rd.conf.journal, sizeof(rd.conf.journal), "%s", argv[1]);
	rd.conf.log_level = LL_WARNING;
	if (journal_open(&rd) < 0 || rd.journal == NULL)
		return 1;
	/* The log is compacted against the live sessions' size: count
	 * the 1,000 call-ids written below as live (the table stays empty). */
	rd.sessions.count = 1000;
	for (int ns = 1; ns <= 4; ns += 3) {
		struct session s;
		struct stream st[4], *sp[4];
		double t0, t1;
		char call_id[64];

		memset(&s, 0, sizeof(s));
		memset(st, 0, sizeof(st));
		s.streams = sp;
		s.nstreams = ns;
		s.iface[0] = s.iface[1] = 0;
		s.state = SS_ANSWERED;
		s.tag[0] = "a84b4c76e66710";
		s.tag[1] = "1928301774";
		s.label = "";
		s.call_id = call_id;
		for (int i = 0; i < ns; i++) {
			sp[i] = &st[i];
			st[i].session = &s;
			snprintf(st[i].type, sizeof(st[i].type), "audio");
			snprintf(st[i].transport, sizeof(st[i].transport), "RTP/AVP");
			for (int side = 0; side < 2; side++) {
				struct leg *l = &st[i].leg[side];
				l->port = (uint16_t)(30000 + 4 * i + 2 * side);
				l->sdp.set = true;
				struct sockaddr_storage ss;

				addr_parse("192.0.2.10", 4000, &ss);
				raddr_from(&l->sdp.rtp, &ss);
				addr_parse("192.0.2.10", 4001, &ss);
				raddr_from(&l->sdp.rtcp, &ss);
				l->latched[0] = l->sdp.rtp;
				l->is_latched[0] = true;
			}
		}
		t0 = now_s();
		for (int w = 0; w < writes; w++) {
			snprintf(call_id, sizeof(call_id),
			    "%d-3848276298220188511@pbx.example.net", w % 1000);
			journal_save(&rd, &s);
			journal_flush(&rd);
		}
		t1 = now_s();
		printf("{\"streams\":%d,\"writes\":%d,\"us_per_write\":%.2f}\n", ns,
		    writes, (t1 - t0) * 1e6 / writes);
		t0 = now_s();
		for (int w = 0; w < 1000; w++) {
			snprintf(call_id, sizeof(call_id),
			    "%d-3848276298220188511@pbx.example.net", w);
			journal_drop(&rd, &s);
			journal_flush(&rd);
		}
		printf("{\"streams\":%d,\"drops\":1000,\"us_per_drop\":%.2f}\n", ns,
		    (now_s() - t0) * 1e6 / 1000);
	}
	journal_close(&rd);
	return 0;
}
