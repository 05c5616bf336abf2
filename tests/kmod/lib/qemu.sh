#!/bin/bash
#
# qemu.sh: boot the Debian kernel the module was built for under qemu
# (TCG: no KVM needed) with a throw-away busybox initramfs holding the
# module, the test programs and a guest script; run the script; print the
# console; exit 0 only if the script passed and the kernel logged no
# WARNING, BUG, Oops or panic. panic_on_warn=1 turns any WARN into a
# failed run, so a warning is never missed.
#
# Usage: qemu.sh --kroot DIR --kver VER --test GUEST.sh [--ko F]... [--bin F]...
#                [--file SRC:DST]... [--timeout S] [--smp N] [--mem MB]
#                [--append "..."] [--log FILE] [--modules "m1 m2"]
#                [--icount SHIFT]
# --icount: the guest's clock advances with the instructions it executes
# (2^SHIFT ns each), not with the host's time, so guest CPU times do not
# grow when other host processes take the CPU (bench/kmod uses it).
# --bin copies a host program to /sbin with the shared libraries ldd
# lists, at the same paths; in the guest call such programs by absolute
# path (busybox sh runs its own applets, e.g. its `ip`, before PATH).
# Env: TL_KMOD_CACHE (where the uncompressed vmlinux is cached).
set -u -o pipefail

KOS=() BINS=() FILES=() TEST="" KVER="" KROOT="" SMP=2 MEM=512 TIMEOUT=150
APPEND="" LOG="" MODS="veth" ICOUNT=()
while [ $# -gt 0 ]; do
	case $1 in
	--ko) KOS+=("$2"); shift 2 ;;
	--bin) BINS+=("$2"); shift 2 ;;
	--file) FILES+=("$2"); shift 2 ;;
	--test) TEST=$2; shift 2 ;;
	--kver) KVER=$2; shift 2 ;;
	--kroot) KROOT=$2; shift 2 ;;
	--smp) SMP=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--append) APPEND=$2; shift 2 ;;
	--log) LOG=$2; shift 2 ;;
	--modules) MODS="$MODS $2"; shift 2 ;;
	--icount) ICOUNT=(-icount "shift=$2,sleep=on"); shift 2 ;;
	*) echo "qemu.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$TEST" ] && [ -n "$KVER" ] && [ -n "$KROOT" ] || { echo "qemu.sh: need --test, --kver, --kroot" >&2; exit 2; }

CACHE=${TL_KMOD_CACHE:-/var/cache/trunkline-kmod}
VMLINUZ=$KROOT/boot/vmlinuz-$KVER
MODROOT=$KROOT/lib/modules/$KVER
[ -r "$VMLINUZ" ] || { echo "qemu.sh: missing $VMLINUZ" >&2; exit 2; }

# Debian's kernel is xz-compressed; unpacking it under TCG costs seconds
# per boot. qemu boots the raw ELF vmlinux through its PVH entry point
# (CONFIG_PVH=y), extracted once.
VMLINUX=$CACHE/vmlinux-$KVER
if [ ! -s "$VMLINUX" ] || [ "$VMLINUZ" -nt "$VMLINUX" ]; then
	off=$(LC_ALL=C grep -aobUP '\xfd7zXZ\x00' "$VMLINUZ" | head -n 1 | cut -d: -f1)
	if [ -n "$off" ] && command -v xz >/dev/null; then
		{ tail -c +$((off + 1)) "$VMLINUZ" | xz -dc 2>/dev/null; } >"$VMLINUX.tmp.$$"
		if [ -s "$VMLINUX.tmp.$$" ]; then
			mv "$VMLINUX.tmp.$$" "$VMLINUX"
		else
			rm -f "$VMLINUX.tmp.$$"
		fi
	fi
fi
KERNEL=$VMLINUZ
[ -s "$VMLINUX" ] && KERNEL=$VMLINUX

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tl-qemu.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,test,lib/modules,usr/bin,usr/sbin,var/run}

BUSYBOX=$(command -v busybox || echo /bin/busybox)
cp "$BUSYBOX" "$ROOT/bin/busybox" || exit 2
ln -s busybox "$ROOT/bin/sh"
ln -s ../bin/busybox "$ROOT/sbin/modprobe"	# request_module() helper
echo "root:x:0:0:root:/:/bin/sh" >"$ROOT/etc/passwd"
echo "nobody:x:65534:65534:nobody:/:/bin/false" >>"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"

copy_libs() {
	local lib
	{ ldd "$1" 2>/dev/null || true; } |
		awk '/=> \//{ print $3 } /^[ \t]*\/[^ ]*ld-linux/{ print $1 }' |
		while read -r lib; do
			[ -e "$ROOT$lib" ] && continue
			mkdir -p "$ROOT$(dirname "$lib")"
			cp -L "$lib" "$ROOT$lib"
		done
}
for b in "${BINS[@]}"; do
	p=$(command -v "$b" || echo "$b")
	[ -x "$p" ] || { echo "qemu.sh: no program $b" >&2; exit 2; }
	cp -L "$p" "$ROOT/sbin/$(basename "$p")"
	copy_libs "$p"
done
for f in "${FILES[@]}"; do
	mkdir -p "$ROOT$(dirname "${f#*:}")"
	cp -L "${f%%:*}" "$ROOT${f#*:}" || exit 2
done
for ko in "${KOS[@]}"; do cp "$ko" "$ROOT/test/" || exit 2; done
cp "$TEST" "$ROOT/test/guest-test.sh" || exit 2

# In-tree modules the tests need (veth for the namespaces, and what
# --modules adds), with their dependencies; the guest's busybox modprobe
# loads them on demand (request_module() included).
# shellcheck disable=SC2086
modprobe -d "$KROOT" -S "$KVER" -a --show-depends $MODS 2>/dev/null |
	awk -v b="${KROOT%/}/" '$1 == "insmod" { p = $2; if (index(p, b) == 1) p = substr(p, length(b) + 1);
		sub(/^\/+/, "", p); print p }' | sort -u |
	tar -C "$KROOT" -cf - -T - | tar -C "$ROOT" -xf -
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[ -e "$MODROOT/$f" ] && cp "$MODROOT/$f" "$ROOT/lib/modules/$KVER/"
done
depmod -b "$ROOT" "$KVER" 2>/dev/null

GUEST_LIMIT=$((TIMEOUT * 4 / 5))
cat >"$ROOT/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
ln -sf /proc/self/fd /dev/fd	# bash process substitution
ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
echo "KMOD-TEST: guest up \$(cut -d' ' -f1 /proc/uptime)s, kernel \$(uname -r), \$(nproc) cpus"
cd /test
SH=sh
head -n 1 guest-test.sh | grep -q bash && SH=/sbin/bash
timeout $GUEST_LIMIT \$SH ./guest-test.sh 2>&1 </dev/null
rc=\$?
echo "KMOD-TEST: guest script exit \$rc at \$(cut -d' ' -f1 /proc/uptime)s"
if [ \$rc -eq 0 ]; then echo "KMOD-TEST: PASS"; else echo "KMOD-TEST: FAIL"; dmesg | tail -n 40; fi
sync
poweroff -f
EOF
chmod +x "$ROOT/init"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$WORK/initramfs.gz" || exit 2

# The verdict reads this run's own copy of the console: --log may name a
# file another run of the same test writes at the same time (its PASS
# line would pass this run).
CONSOLE=$WORK/console.log
echo "qemu.sh: kernel $KVER ($(basename "$KERNEL")), initramfs $(du -h "$WORK/initramfs.gz" | cut -f1), $SMP cpus"
t0=$SECONDS
# -nodefaults -nic none: the guest has no network to the outside.
# panic=-1 -no-reboot: a panic ends qemu. panic_on_warn: a WARN is a panic.
# no_timer_check: under host load the emulated 8254 ticks too slowly for
# the kernel's IO-APIC timer check, which then panics at boot ("IO-APIC +
# timer doesn't work"); the check proves nothing about our module.
# stdbuf: tr would hold the console in its buffer until qemu ends; a long
# run (bench/kmod/scale.sh) shows its progress in --log as it goes.
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -nic none \
	-display none -machine pc -accel tcg -cpu qemu64 -smp "$SMP" -m "$MEM" "${ICOUNT[@]}" \
	-kernel "$KERNEL" -initrd "$WORK/initramfs.gz" \
	-append "console=ttyS0 no_timer_check panic=-1 panic_on_warn=1 oops=panic quiet loglevel=4 $APPEND" \
	-serial stdio -no-reboot </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$CONSOLE" ${LOG:+"$LOG"}
qrc=${PIPESTATUS[0]}
echo "qemu.sh: qemu exit $qrc after $((SECONDS - t0))s"
[ "$qrc" = 124 ] && echo "qemu.sh: TIMEOUT after ${TIMEOUT}s"
if grep -qE '(Kernel panic|BUG:|Oops|WARNING:|general protection fault)' "$CONSOLE"; then
	echo "qemu.sh: kernel warning, oops or panic in the console log"
	exit 1
fi
grep -q '^KMOD-TEST: PASS' "$CONSOLE" && exit 0
exit 1
