#!/bin/bash
# exclusive
#
# nft_ipv6_timeout.sh: an IPv6 stream in the kernel (table ip6 trunkline)
# is judged for inactivity from conntrack's counters, as an IPv4 one is
# (the same steps: tests/lib/nft_timeout.sh): media flowing twice as long
# as the timeout, in the kernel, keeps the call alive; once it stops, a
# "timeout" event comes with every packet counted, and the dnat6 elements
# and conntrack entries are gone. On an IPv4-only nft backend the stream
# stays in userspace and the check that it is in the kernel fails.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=../lib/netns6.sh
. "$(dirname "$0")/../lib/netns6.sh"
# shellcheck source=../lib/nft_timeout.sh
. "$(dirname "$0")/../lib/nft_timeout.sh"
nft_timeout_run 6
