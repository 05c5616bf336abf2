#!/bin/bash
#
# install-deps.sh: install every Debian 12 package Trunkline's build and
# tests need, and only those that are missing (fast when all are there).
# Idempotent; run as root. Both README commands start with it.
set -euo pipefail

PKGS=(
	build-essential pkg-config clang libclang-rt-14-dev
	libjansson-dev libmnl-dev libnftnl-dev libnetfilter-conntrack-dev
	libsofia-sip-ua-dev libcmocka-dev
	iproute2 nftables conntrack jq procps psmisc mandoc
	# trunkline.ko: build (headers, sparse) and the qemu guest tests
	# (the kernel image itself is fetched by tests/kmod/lib/kernel.sh)
	linux-headers-amd64 sparse qemu-system-x86 busybox-static cpio kmod
	xz-utils file
	ethtool util-linux
	sip-tester python3
	# relayd's WebRTC legs (DTLS, SRTP) and their tests (aiortc, Chromium)
	libssl-dev libsrtp2-dev openssl python3-aiortc chromium
	# the controller's WebRTC gateway listener and its tests (issue 14;
	# web_browser runs headless Chromium)
	libwebsockets-dev libuv1-dev python3-websockets curl
)

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps.sh: all ${#PKGS[@]} packages present"
	exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
