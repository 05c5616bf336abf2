#!/bin/bash
#
# kmod_sockless.sh: with the kmod backend an offer opens no socket, in a
# qemu guest (guest/sockless.bash): relayd with RLIMIT_NOFILE 512 takes
# 2,000 offers and their answers with its descriptors unchanged; the
# offered ports hold kernel entries that drop and count early packets (no
# ICMP port unreachable); after the answer media flows both ways from the
# relay's addresses and an attacker is dropped in the kernel; deletes
# leave no entry. One boot.
#
# timeout: 720
# exclusive
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
command -v setpriv >/dev/null || tk_skip "setpriv (util-linux) not installed"
[ -x "$TK_BUILD/kmod-tools/offerhold" ] || tk_fail "$TK_BUILD/kmod-tools/offerhold is not built (make)"
tk_boot sockless.bash --timeout 600 --bin "$TK_BUILD/kmod-tools/offerhold" \
	--bin "$(command -v setpriv)" ||
	tk_fail "guest scenario failed (console above)"
echo "PASS: $TK_NAME"
