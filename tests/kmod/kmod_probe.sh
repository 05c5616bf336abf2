#!/bin/bash
#
# kmod_probe.sh: the hook probe of trunkline.ko (module parameter probe,
# kmod/tl_probe.c) in a qemu guest: off by default and counting nothing,
# on it counts exactly the packets the module forwarded (not the ones it
# dropped or never matched), in the forwarding namespace only; it can be
# switched at run time and at insmod. The guest script is guest/probe.sh.
# One boot.
#
# timeout: 200
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
tk_boot probe.sh --timeout 150 || tk_fail "guest test failed (console above)"
echo "PASS: $TK_NAME"
