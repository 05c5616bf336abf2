#!/bin/bash
#
# kmod_entry_mem.sh: the kernel memory of one trunkline.ko entry as relayd
# installs it (learning, RTP tracking), measured in a qemu guest with 8
# possible CPUs (2 online): the growth of slab and per-CPU memory over
# 32,768 entries plus one hash bucket each must be at most 256 B per entry
# (issue 16). The guest script is guest/entry_mem.sh. One boot.
#
# timeout: 300
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
tk_boot entry_mem.sh --timeout 240 --smp 2,maxcpus=8 || tk_fail "guest test failed (console above)"
echo "PASS: $TK_NAME"
