#!/bin/bash
# exclusive
#
# nft_timeout.sh: with the stream in the kernel, inactivity is judged from
# the kernel's counters: traffic lasting longer than the inactivity
# timeout keeps the call alive although relayd's sockets see nothing;
# once it stops, a "timeout" event comes with every packet counted, and
# the stream's dnat4 elements and conntrack entries are gone. The steps
# are tests/lib/nft_timeout.sh's, shared with nft_ipv6_timeout.sh.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=../lib/netns6.sh
. "$(dirname "$0")/../lib/netns6.sh"
# shellcheck source=../lib/nft_timeout.sh
. "$(dirname "$0")/../lib/nft_timeout.sh"
nft_timeout_run 4
