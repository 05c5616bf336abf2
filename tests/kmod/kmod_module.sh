#!/bin/bash
# exclusive
#
# kmod_module.sh: trunkline.ko in a qemu guest (Debian's kernel for the
# installed headers), driven over generic netlink by tlk: load with
# panic_on_warn, forwarding with correct rewrites and checksums (full,
# offloaded and zero), RTP loss tracking, strict source in pass and drop
# mode, DSCP, per-namespace tables, atomic replace under traffic with
# churn, 10,000 entries, malformed and unprivileged requests, no leak,
# rmmod with entries present, a bench smoke run; IPv6 entries and
# IPv4<->IPv6 translation (checksums verified by the receivers, strict
# source, counters), relayd's backend adopting IPv6 and translated
# streams (kadopt -6, -x). The guest script is
# guest/module.sh. Before the boot: the module passes W=1 and sparse.
# timeout: 330
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
# W=1 and sparse: not one warning (the build has -Werror; sparse has not)
if command -v sparse >/dev/null; then
	out=$(make -C "$TK_ROOT/kmod" check 2>&1) || { echo "$out"; tk_fail "make -C kmod check failed"; }
	if grep -E ': (warning|error):' <<<"$out"; then tk_fail "sparse (C=2) or W=1 warnings"; fi
	echo "tk: W=1 and sparse C=2: clean"
else
	echo "tk: sparse not installed: C=2 check not run"
fi
tk_boot module.sh --timeout 240 || tk_fail "guest test failed (console above)"
echo "PASS: $TK_NAME"
