#!/bin/bash
#
# kmod_learn_flood.sh: relayd's view of kernel learning survives lost
# events, in a qemu guest (guest/learn_flood.bash): many streams learn at
# once while relayd's event socket has a tiny receive buffer, the learn
# group overflows (ENOBUFS), relayd reads the table again (resync) and
# every leg shows what the kernel learned. One boot.
#
# timeout: 600
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
tk_boot learn_flood.bash --timeout 420 || tk_fail "guest scenario failed (console above)"
echo "PASS: $TK_NAME"
