#!/bin/bash
#
# kmod_module.sh: trunkline.ko in a qemu guest (Debian's kernel for the
# installed headers), driven over generic netlink by tlk: load with
# panic_on_warn, forwarding with correct rewrites and checksums (full,
# offloaded and zero), RTP loss tracking, strict source in pass and drop
# mode, DSCP, per-namespace tables, atomic replace under traffic with
# churn, 10,000 entries, malformed and unprivileged requests, no leak,
# rmmod with entries present. The guest script is guest/module.sh.
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
tk_boot module.sh --timeout 240 || tk_fail "guest test failed (console above)"
echo "PASS: $TK_NAME"
