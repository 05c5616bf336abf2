#!/bin/bash
# journal-cost.sh [BUILD] [WRITES]: cost of one journal write and drop
# (bench/nft/journal_cost.c against BUILD's librelayd.a), in a temporary
# directory on /run (tmpfs, where the default journal lives) or /tmp.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$ROOT/build}
TMP=$(mktemp -d /run/tl-journal-cost.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck disable=SC2046
cc -O2 -D_GNU_SOURCE -I"$ROOT/proto" -I"$ROOT/relayd" $(pkg-config --cflags jansson) \
	-o "$TMP/journal_cost" "$ROOT/bench/nft/journal_cost.c" "$B/librelayd.a" "$B/libproto.a" \
	$(pkg-config --libs jansson libmnl libnftnl libnetfilter_conntrack) -lm
"$TMP/journal_cost" "$TMP/j" "${2:-20000}"
