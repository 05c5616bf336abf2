#!/bin/bash
#
# kmod_sync.sh: relayd reads the counters of its kmod streams with one
# table dump per sync, not a request per entry, in a qemu guest
# (guest/sync.bash): 3,000 idle learning streams, several syncs, no
# single-entry read; a stream whose entries vanish is found by the next
# sync and relayed in userspace; deletes empty the set. One boot.
#
# timeout: 420
# exclusive
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
[ -x "$TK_BUILD/kmod-tools/offerhold" ] || tk_fail "$TK_BUILD/kmod-tools/offerhold is not built (make)"
tk_boot sync.bash --timeout 360 --bin "$TK_BUILD/kmod-tools/offerhold" ||
	tk_fail "guest scenario failed (console above)"
echo "PASS: $TK_NAME"
