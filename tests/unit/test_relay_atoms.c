/*
 * test_relay_atoms: the per-relay table of SDP words (atom.c) shares one
 * copy per word, cuts as the stream's arrays did, and stays bounded: made-
 * up words fill it, then only new words are refused, never the common ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "relayd.h"

static void
test_shared_and_cut(void **state)
{
	struct atoms t = { .n = 0 };
	const char *a, *b;

	(void)state;
	assert_int_equal(atoms_init(&t), 0);
	a = atom_get(&t, "RTP/AVP", ATOM_MAXLEN);
	b = atom_get(&t, "RTP/AVP", ATOM_MAXLEN);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_string_equal(atom_get(&t, NULL, ATOM_MAXLEN), "");
	assert_string_equal(atom_get(&t, "", ATOM_MAXLEN), "");
	/* a media type is cut at 15 bytes, a transport at 31 */
	assert_string_equal(atom_get(&t, "audioaudioaudioaudio", ATOM_TYPE_MAX),
	    "audioaudioaudio");
	a = atom_get(&t, "0123456789012345678901234567890123456789",
	    ATOM_MAXLEN);
	assert_int_equal(strlen(a), 31);
	/* a cut never leaves half a UTF-8 character: "é" is 2 bytes */
	a = atom_get(&t, "aaaaaaaaaaaaaa\xc3\xa9", ATOM_TYPE_MAX);
	assert_string_equal(a, "aaaaaaaaaaaaaa");
	atoms_free(&t);
}

static void
test_bounded(void **state)
{
	struct atoms t = { .n = 0 };
	char w[32];
	int added = 0;

	(void)state;
	assert_int_equal(atoms_init(&t), 0);
	for (int i = 0; i < 2 * ATOMS_MAX; i++) {
		snprintf(w, sizeof(w), "X/%d", i);
		if (atom_get(&t, w, ATOM_MAXLEN) != NULL)
			added++;
	}
	assert_int_equal(t.n, ATOMS_MAX);
	assert_true(added < ATOMS_MAX);
	snprintf(w, sizeof(w), "X/%d", 2 * ATOMS_MAX + 1);
	assert_null(atom_get(&t, w, ATOM_MAXLEN));
	/* what a real call says is still there */
	assert_non_null(atom_get(&t, "audio", ATOM_TYPE_MAX));
	assert_non_null(atom_get(&t, "UDP/TLS/RTP/SAVPF", ATOM_MAXLEN));
	assert_non_null(atom_get(&t, "X/0", ATOM_MAXLEN));
	atoms_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_and_cut),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
