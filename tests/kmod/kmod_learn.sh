#!/bin/bash
#
# kmod_learn.sh: endpoint learning in trunkline.ko, through relayd, in a
# qemu guest (guest/learn.bash): streams enter the kernel at the answer,
# in a learning state; an attacker that races the caller's first RTP
# packet from another address loses to the caller's SDP endpoint (exact
# match first), is dropped and counted, and never hears the callee; a
# NAT'd caller (another port) is learned within the window and hears the
# callee at once; after the window the source is strict, even for the
# SDP endpoint itself. One boot.
#
# timeout: 720
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
tk_boot learn.bash --timeout 600 || tk_fail "guest scenario failed (console above)"
echo "PASS: $TK_NAME"
