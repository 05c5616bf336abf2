#!/bin/bash
#
# kmod_relayd6.sh: trunkline-relayd with the kmod backend and IPv6, in a
# qemu guest with trunkline.ko loaded (guest/relayd6.bash): an IPv6 call
# and an IPv6-to-IPv4 call in the kernel (translated by the module),
# media intact with relayd's sockets idle, strict source against a third
# IPv6 host, kill -9 and restart with both streams adopted, delete.
#
# timeout: 300
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
tk_boot relayd6.bash --timeout 240 || tk_fail "guest scenario failed (console above)"
echo "PASS: $TK_NAME"
