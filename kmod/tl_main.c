// SPDX-License-Identifier: GPL-2.0
/*
 * tl_main.c: trunkline.ko, the kernel fast path of trunkline-relayd.
 *
 * Each network namespace gets its own forwarding table and its own
 * PRE_ROUTING hook, so a relay in a container (or a test namespace) sees
 * only its entries. The generic netlink family is registered once and
 * works on the table of the caller's namespace.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/genetlink.h>

#include "tl.h"

unsigned int tl_net_id __read_mostly;

unsigned int tl_max_entries __read_mostly = 262144;
module_param_named(max_entries, tl_max_entries, uint, 0644);
MODULE_PARM_DESC(max_entries, "entries per network namespace (default 262144)");

/*
 * Namespaces an unprivileged user can create: each costs at most this many
 * entries (224 B each, charged to the creator's memory cgroup).
 */
unsigned int tl_userns_max_entries __read_mostly = 4096;
module_param_named(userns_max_entries, tl_userns_max_entries, uint, 0644);
MODULE_PARM_DESC(userns_max_entries,
		 "entries per network namespace owned by a non-initial user namespace (default 4096)");

/*
 * Buckets per namespace, 2^hash_bits (8..22), read when a namespace is
 * created: 2^17 (1 MiB, allocated at its first entry) keeps chains under
 * one entry on average up to about 100,000 entries.
 */
unsigned int tl_hash_bits __read_mostly = 17;
module_param_named(hash_bits, tl_hash_bits, uint, 0644);
MODULE_PARM_DESC(hash_bits,
		 "log2 of the hash buckets per network namespace, 8..22 (default 17; at most 12 for a namespace of a non-initial user namespace)");

static int __net_init tl_net_init(struct net *net)
{
	struct tl_net *tn = tl_net(net);
	int err;

	err = tl_table_init(tn, net->user_ns != &init_user_ns);
	if (err)
		return err;
	err = tl_hook_register(net);
	if (err)
		goto err_table;
	return 0;

err_table:
	tl_table_exit(tn);
	return err;
}

static void __net_exit tl_net_exit(struct net *net)
{
	/* unregistering waits for packets in flight in the hook */
	tl_hook_unregister(net);
	tl_probe_exit(tl_net(net));
	tl_table_exit(tl_net(net));
}

static struct pernet_operations tl_net_ops = {
	.init	= tl_net_init,
	.exit	= tl_net_exit,
	.id	= &tl_net_id,
	.size	= sizeof(struct tl_net),
};

static int __init tl_init(void)
{
	int err;

	err = tl_table_caches_init();
	if (err)
		return err;
	err = register_pernet_subsys(&tl_net_ops);
	if (err)
		goto err_caches;
	err = tl_genl_register();
	if (err)
		goto err_pernet;
	pr_info("trunkline: loaded (genl family %s v%d)\n", TL_GENL_NAME,
		TL_GENL_VERSION);
	return 0;

err_pernet:
	unregister_pernet_subsys(&tl_net_ops);
	rcu_barrier();
err_caches:
	tl_table_caches_exit();
	return err;
}

static void __exit tl_exit(void)
{
	/* no new requests first, then no packets, then no tables */
	tl_genl_unregister();
	unregister_pernet_subsys(&tl_net_ops);
	/* entries are freed by call_rcu() callbacks living in this module */
	rcu_barrier();
	tl_table_caches_exit();
	pr_info("trunkline: unloaded\n");
}

module_init(tl_init);
module_exit(tl_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Trunkline RTP relay fast path (netfilter, genetlink)");
MODULE_ALIAS_GENL_FAMILY(TL_GENL_NAME);
