#!/bin/bash
#
# kernel.sh: find the kernel the module is built for and make sure its
# image is unpacked somewhere qemu can boot it. Prints, on success, the
# lines "KVER=..." and "KROOT=..."; on failure a reason on stderr and exit
# status 77 (the caller turns that into a SKIP) or 1.
#
# The version comes from the installed headers (linux-headers-amd64) or
# from a built module's vermagic, never from `uname -r`: the host may run a
# different kernel without module support. The image is fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into a cache
# directory: no /boot changes, no initramfs-tools run (minutes). Cached
# runs take milliseconds.
#
# Usage: kernel.sh [MODULE.ko]
# Env: TL_KMOD_CACHE (default /var/cache/trunkline-kmod)
set -u -o pipefail

CACHE=${TL_KMOD_CACHE:-/var/cache/trunkline-kmod}
KO=${1:-}

kver_from_headers() {
	local d
	d=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
		sed -E 's/^linux-headers-([^ ,]+).*/\1/')
	if [ -n "$d" ] && [ -d "/usr/src/linux-headers-$d" ]; then
		echo "$d"
		return
	fi
	for d in /usr/src/linux-headers-*-amd64; do
		[ -d "$d" ] && basename "$d" | sed 's/^linux-headers-//'
	done | sort -V | tail -n 1
}

if [ -n "$KO" ]; then
	KVER=$(modinfo -F vermagic "$KO" 2>/dev/null | awk '{ print $1 }')
else
	KVER=$(kver_from_headers)
fi
[ -n "$KVER" ] || { echo "no kernel headers installed (linux-headers-amd64)" >&2; exit 77; }

KROOT=$CACHE/kroot-$KVER
if [ ! -s "$KROOT/boot/vmlinuz-$KVER" ] || [ ! -e "$KROOT/.complete" ]; then
	command -v apt-get >/dev/null || { echo "apt-get not found: cannot fetch linux-image-$KVER" >&2; exit 77; }
	mkdir -p "$CACHE" || { echo "cannot create $CACHE" >&2; exit 77; }
	exec 9>"$CACHE/.lock"
	flock -w 600 9 || { echo "lock on $CACHE busy for 10 min" >&2; exit 1; }
	if [ ! -e "$KROOT/.complete" ]; then
		tmp=$(mktemp -d "$CACHE/dl.XXXXXX") || exit 1
		chmod 777 "$tmp"	# apt's _apt sandbox user writes here
		echo "kernel.sh: fetching linux-image-$KVER into $CACHE" >&2
		if ! (cd "$tmp" && apt-get download -qq "linux-image-$KVER" >&2) &&
			! (apt-get update -qq >&2 && cd "$tmp" && apt-get download -qq "linux-image-$KVER" >&2); then
			rm -rf "$tmp"
			echo "cannot download linux-image-$KVER (apt-get download failed)" >&2
			exit 77
		fi
		rm -rf "$KROOT"
		dpkg-deb -x "$tmp"/linux-image-"$KVER"_*.deb "$KROOT" || { rm -rf "$tmp" "$KROOT"; echo "dpkg-deb -x failed" >&2; exit 1; }
		rm -rf "$tmp"
		depmod -b "$KROOT" "$KVER" || { echo "depmod -b $KROOT failed" >&2; exit 1; }
		touch "$KROOT/.complete"
	fi
	exec 9>&-
fi
echo "KVER=$KVER"
echo "KROOT=$KROOT"
