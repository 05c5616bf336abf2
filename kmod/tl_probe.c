// SPDX-License-Identifier: GPL-2.0
/*
 * tl_probe.c: an opt-in measurement of the hook's own work. With the
 * module parameter probe=1 the IPv4 hook reads local_clock() when it
 * starts and again just before it hands a forwarded packet to
 * ip_local_out(); the difference (header checks, table lookup, source
 * check, route, rewrite, counters) goes into its namespace's per-CPU
 * totals (packets, ns) and a histogram of the time per packet, which
 * TL_CMD_STATS returns. It exists so the table's share of a packet's
 * cost can be read apart from the stack around it
 * (bench/kmod/pktcost.sh): under emulation the whole path is too noisy
 * to show a chain walk, and the histogram's median leaves out the few
 * packets that an interrupt or the host's scheduler held up.
 *
 * Off (the default) the hook pays one static branch, patched to a no-op
 * (as netfilter's own nf_hooks_needed keys): no clock read, no store.
 * The storage (16 B + TL_PROBE_SLOTS u32: 1.3 KiB per possible CPU) is
 * allocated with the namespace's bucket array at its first entry, so a
 * namespace without entries has none; a namespace of a non-initial user
 * namespace (anyone can make one) gets none either.
 */
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/sched/clock.h>
#include <linux/u64_stats_sync.h>

#include "tl.h"

DEFINE_STATIC_KEY_FALSE(tl_probe_on);

struct tl_probe {
	u64_stats_t		packets;
	u64_stats_t		ns;
	struct u64_stats_sync	syncp;
	u32			hist[TL_PROBE_SLOTS];	/* trunkline_uapi.h */
};

static int tl_probe_param_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int err;

	err = kstrtobool(val, &on);
	if (err)
		return err;
	/* at insmod this runs after the module's jump entries are known */
	if (on)
		static_branch_enable(&tl_probe_on);
	else
		static_branch_disable(&tl_probe_on);
	return 0;
}

static int tl_probe_param_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%c\n",
			 static_key_enabled(&tl_probe_on) ? 'Y' : 'N');
}

static const struct kernel_param_ops tl_probe_param_ops = {
	.set	= tl_probe_param_set,
	.get	= tl_probe_param_get,
};
module_param_cb(probe, &tl_probe_param_ops, NULL, 0644);
MODULE_PARM_DESC(probe,
		 "time the IPv4 hook's work per forwarded packet (TL_CMD_STATS); default off, free when off");

/*
 * Called with the table lock held, before the buckets are published: a
 * packet that finds an entry finds the probe too. Failing is no error:
 * the namespace then has no probe (TL_CMD_STATS says 0).
 */
void tl_probe_alloc(struct tl_net *tn)
{
	struct tl_probe __percpu *p;
	int cpu;

	if (tn->userns || tn->probe)
		return;
	p = alloc_percpu_gfp(struct tl_probe, GFP_KERNEL_ACCOUNT);
	if (!p)
		return;
	for_each_possible_cpu(cpu)
		u64_stats_init(&per_cpu_ptr(p, cpu)->syncp);
	WRITE_ONCE(tn->probe, p);
}

/* The hooks are gone: nobody adds any more. */
void tl_probe_exit(struct tl_net *tn)
{
	free_percpu(tn->probe);
	tn->probe = NULL;
}

/*
 * One forwarded packet whose hook started at t0. The hook runs with
 * bottom halves off (PRE_ROUTING is the receive path), so it stays on
 * this CPU and no other writer shares its totals.
 */
void tl_probe_account(struct net *net, u64 t0)
{
	u64 d = local_clock() - t0;
	struct tl_probe __percpu *pp = READ_ONCE(tl_net(net)->probe);
	struct tl_probe *p;

	if (!pp)
		return;
	p = this_cpu_ptr(pp);
	u64_stats_update_begin(&p->syncp);
	u64_stats_inc(&p->packets);
	u64_stats_add(&p->ns, d);
	p->hist[tl_probe_slot(d)]++;
	u64_stats_update_end(&p->syncp);
}

/*
 * The namespace's totals since its first entry (the reader diffs);
 * hist, if not NULL, gets TL_PROBE_SLOTS sums. False: it has no probe.
 */
bool tl_probe_read(const struct tl_net *tn, u64 *packets, u64 *ns, u32 *hist)
{
	struct tl_probe __percpu *pp = READ_ONCE(tn->probe);
	unsigned int start, i;
	u64 pk, t;
	int cpu;

	*packets = 0;
	*ns = 0;
	if (hist)
		memset(hist, 0, TL_PROBE_SLOTS * sizeof(*hist));
	if (!pp)
		return false;
	for_each_possible_cpu(cpu) {
		const struct tl_probe *p = per_cpu_ptr(pp, cpu);

		do {
			start = u64_stats_fetch_begin(&p->syncp);
			pk = u64_stats_read(&p->packets);
			t = u64_stats_read(&p->ns);
		} while (u64_stats_fetch_retry(&p->syncp, start));
		*packets += pk;
		*ns += t;
		/* a slot is one u32, read whole; it may run a packet ahead */
		for (i = 0; hist && i < TL_PROBE_SLOTS; i++)
			hist[i] += READ_ONCE(p->hist[i]);
	}
	return true;
}

bool tl_probe_enabled(void)
{
	return static_key_enabled(&tl_probe_on);
}
