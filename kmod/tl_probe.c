// SPDX-License-Identifier: GPL-2.0
/*
 * tl_probe.c: an opt-in measurement of the hook's own work. With the
 * module parameter probe=1 the IPv4 hook reads local_clock() when it
 * starts and again just before it hands a forwarded packet to
 * ip_local_out(); the difference (header checks, table lookup, source
 * check, route, rewrite, counters) and one packet are added to its
 * namespace's per-CPU totals, which TL_CMD_STATS returns. It exists so
 * the table's share of a packet's cost can be read apart from the stack
 * around it (bench/kmod/pktcost.sh): under emulation the whole path is
 * too noisy to show a chain walk.
 *
 * Off (the default) the hook pays one static branch, patched to a no-op
 * (as netfilter's own nf_hooks_needed keys): no clock read, no store.
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

/* 16 B per possible CPU and namespace, charged like its table. */
int tl_probe_init(struct tl_net *tn)
{
	int cpu;

	tn->probe = alloc_percpu_gfp(struct tl_probe, GFP_KERNEL_ACCOUNT);
	if (!tn->probe)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		u64_stats_init(&per_cpu_ptr(tn->probe, cpu)->syncp);
	return 0;
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
	struct tl_probe *p = this_cpu_ptr(tl_net(net)->probe);

	u64_stats_update_begin(&p->syncp);
	u64_stats_inc(&p->packets);
	u64_stats_add(&p->ns, d);
	u64_stats_update_end(&p->syncp);
}

/* The namespace's totals since it was created (the reader diffs). */
void tl_probe_read(const struct tl_net *tn, u64 *packets, u64 *ns)
{
	unsigned int start;
	u64 pk, t;
	int cpu;

	*packets = 0;
	*ns = 0;
	for_each_possible_cpu(cpu) {
		const struct tl_probe *p = per_cpu_ptr(tn->probe, cpu);

		do {
			start = u64_stats_fetch_begin(&p->syncp);
			pk = u64_stats_read(&p->packets);
			t = u64_stats_read(&p->ns);
		} while (u64_stats_fetch_retry(&p->syncp, start));
		*packets += pk;
		*ns += t;
	}
}

bool tl_probe_enabled(void)
{
	return static_key_enabled(&tl_probe_on);
}
