#!/bin/bash
#
# nft_rtcp_inject.sh: relay_rtcp_inject.sh with the streams in the kernel
# (nft backend) before the attacker injects RTCP: see that script.
#
set -u -o pipefail
TL_NAME=nft_rtcp_inject TL_RTCP_BACKEND=nft exec "$(dirname "$0")/relay_rtcp_inject.sh"
