#!/bin/bash
# build-drive.sh BUILD_DIR OUT: compile nftdrive against BUILD_DIR's
# librelayd.a (with the sanitizer flags when BUILD_DIR is an ASan build).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$1 OUT=$2
FLAGS=-O2
case $B in *asan*) FLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" ;; esac
# shellcheck disable=SC2046,SC2086
cc $FLAGS -D_GNU_SOURCE -I"$ROOT/proto" -I"$ROOT/relayd" $(pkg-config --cflags jansson) \
	-o "$OUT" "$ROOT/bench/nft/nftdrive.c" "$B/librelayd.a" "$B/libproto.a" \
	$(pkg-config --libs jansson libmnl libnftnl libnetfilter_conntrack libssl libcrypto libsrtp2) -lm
