#!/bin/bash
# exclusive
#
# kmod_relayd.sh: trunkline-relayd with the kmod backend, in a qemu guest
# with trunkline.ko loaded: the relay's integration scenario across
# network namespaces (guest/relayd.bash, which uses tests/lib/netns.sh):
# media forwarded in the kernel with userspace counters flat, strict
# source, inactivity timeout from kernel counters, entries removed on a
# clean exit and kept (media flowing) after kill -9, adopted by the
# restarted relayd (counters continue; delete and timeout clean up),
# orphaned entries removed at start, rmmod clean. Also
# run with the ASan/UBSan relayd (its netlink code under the sanitizers).
#
# run-also: asan
# timeout: 540
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
tk_boot relayd.bash --timeout 480 || tk_fail "guest scenario failed (console above)"
echo "PASS: $TK_NAME"
