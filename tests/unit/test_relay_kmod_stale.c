/*
 * test_relay_kmod_stale.c: the kmod backend never forgets kernel entries
 * that may still forward (kmod_stale.c; the netlink exchanges themselves
 * run only in the qemu guest, tests/kmod/).
 *   - a removal batch that was not acknowledged keeps every entry; an
 *     entry is done only when its delete was acked with 0 or ENOENT;
 *   - kept keys are deleted again until the kernel confirms, each once on
 *     the list, and a new install on a key takes it off the list;
 *   - a failed counter read means "entry gone" (userspace takes over)
 *     only for ENOENT: other errors pass, and the state is kept.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "relayd.h"

static void
test_unacknowledged_removal_keeps_the_entry(void **state)
{
	(void)state;
	assert_true(kmod_delete_done(0, 0));
	assert_true(kmod_delete_done(0, -ENOENT));
	assert_false(kmod_delete_done(0, -EBUSY));
	assert_false(kmod_delete_done(0, -ENOMEM));
	/* no ack read at all: nothing is known, even for "ok" slots */
	assert_false(kmod_delete_done(-EAGAIN, 0));
	assert_false(kmod_delete_done(-ENOBUFS, -ENOENT));
}

/* An IPv4 key (the address as stored, network order). */
static const struct kstale_key *
k4(uint32_t addr, uint16_t port)
{
	static struct kstale_key k[4];
	static int i;
	struct kstale_key *p = &k[i++ % 4];

	memset(p, 0, sizeof(*p));
	p->laddr.family = AF_INET;
	memcpy(p->laddr.a, &addr, 4);
	p->lport = port;
	return p;
}

/* The same address in IPv6 is another key. */
static void
test_stale_keys_by_family(void **state)
{
	struct kstale ks = { NULL, 0, 0 };
	struct kstale_key v6 = *k4(0x0100000a, 30000);

	(void)state;
	v6.laddr.family = AF_INET6;
	assert_int_equal(kstale_add(&ks, k4(0x0100000a, 30000)), 0);
	assert_int_equal(kstale_add(&ks, &v6), 0);
	assert_int_equal(ks.n, 2);
	kstale_forget(&ks, &v6);
	assert_int_equal(ks.n, 1);
	assert_int_equal(ks.v[0].laddr.family, AF_INET);
	kstale_free(&ks);
}

static void
test_stale_keys_deleted_again_until_confirmed(void **state)
{
	struct kstale ks = { NULL, 0, 0 };
	int ok[3] = { 0, 0, 0 }, mixed[2] = { -ENOENT, -ENOMEM };

	(void)state;
	assert_int_equal(kstale_add(&ks, k4(0x0100000a, 30000)), 0);
	assert_int_equal(kstale_add(&ks, k4(0x0100000a, 30001)), 0);
	assert_int_equal(kstale_add(&ks, k4(0x0100000a, 30000)), 0);	/* once */
	assert_int_equal(kstale_add(&ks, k4(0x0200000a, 30000)), 0);
	assert_int_equal(ks.n, 3);

	kstale_settle(&ks, 3, -ETIMEDOUT, ok);	/* no ack: all stay */
	assert_int_equal(ks.n, 3);
	kstale_settle(&ks, 2, 0, mixed);	/* first gone, second refused */
	assert_int_equal(ks.n, 2);
	assert_int_equal(ks.v[0].lport, 30001);
	assert_memory_equal(ks.v[1].laddr.a, &k4(0x0200000a, 0)->laddr.a, 4);

	/* a new stream installs on 10.0.0.2:30000: not ours to delete */
	kstale_forget(&ks, k4(0x0200000a, 30000));
	assert_int_equal(ks.n, 1);
	kstale_forget(&ks, k4(0x0300000a, 30000));	/* unknown: no change */
	assert_int_equal(ks.n, 1);
	kstale_settle(&ks, 1, 0, ok);
	assert_int_equal(ks.n, 0);
	kstale_free(&ks);
}

static void
test_only_enoent_means_the_entry_is_gone(void **state)
{
	(void)state;
	assert_true(kmod_entry_gone(-ENOENT));
	assert_false(kmod_entry_gone(-ENOBUFS));
	assert_false(kmod_entry_gone(-EINTR));
	assert_false(kmod_entry_gone(-EBUSY));
	assert_false(kmod_entry_gone(-ENOMEM));
	assert_false(kmod_entry_gone(-EPERM));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unacknowledged_removal_keeps_the_entry),
		cmocka_unit_test(test_stale_keys_deleted_again_until_confirmed),
		cmocka_unit_test(test_stale_keys_by_family),
		cmocka_unit_test(test_only_enoent_means_the_entry_is_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
