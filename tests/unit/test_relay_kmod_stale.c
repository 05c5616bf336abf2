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

static void
test_stale_keys_deleted_again_until_confirmed(void **state)
{
	struct kstale ks = { NULL, 0, 0 };
	int ok[3] = { 0, 0, 0 }, mixed[2] = { -ENOENT, -ENOMEM };

	(void)state;
	assert_int_equal(kstale_add(&ks, 0x0100000a, 30000), 0);
	assert_int_equal(kstale_add(&ks, 0x0100000a, 30001), 0);
	assert_int_equal(kstale_add(&ks, 0x0100000a, 30000), 0);	/* once */
	assert_int_equal(kstale_add(&ks, 0x0200000a, 30000), 0);
	assert_int_equal(ks.n, 3);

	kstale_settle(&ks, 3, -ETIMEDOUT, ok);	/* no ack: all stay */
	assert_int_equal(ks.n, 3);
	kstale_settle(&ks, 2, 0, mixed);	/* first gone, second refused */
	assert_int_equal(ks.n, 2);
	assert_int_equal(ks.v[0].lport, 30001);
	assert_int_equal(ks.v[1].laddr, 0x0200000a);

	/* a new stream installs on 10.0.0.2:30000: not ours to delete */
	kstale_forget(&ks, 0x0200000a, 30000);
	assert_int_equal(ks.n, 1);
	kstale_forget(&ks, 0x0300000a, 30000);	/* unknown: no change */
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
		cmocka_unit_test(test_only_enoent_means_the_entry_is_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
