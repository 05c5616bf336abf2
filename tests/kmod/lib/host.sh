# shellcheck shell=bash
#
# host.sh: what every tests/kmod/*.sh does on the host before it boots a
# guest: check the tools (or SKIP with the reason), build trunkline.ko if
# needed, find its kernel and unpack the image (lib/kernel.sh), then
# tk_boot runs a guest script under qemu (lib/qemu.sh).
TK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TK_ROOT=$(cd "$TK_DIR/../.." && pwd)
TL_BUILD=${TL_BUILD:-build}
case $TL_BUILD in /*) TK_BUILD=$TL_BUILD ;; *) TK_BUILD=$TK_ROOT/$TL_BUILD ;; esac
TK_KO=$TK_ROOT/kmod/trunkline.ko
TK_NAME=$(basename "$0" .sh)
# a parent make's jobserver flags do not reach the kernel build's make
unset MAKEFLAGS MFLAGS MAKELEVEL

tk_skip() { echo "SKIP: $*"; exit 77; }
tk_fail() { echo "FAIL: $TK_NAME: $*"; exit 1; }

tk_prepare() {
	local t out rc
	[ "$(id -u)" = 0 ] || tk_skip "needs root (module build tree, apt cache)"
	for t in qemu-system-x86_64 cpio gzip modprobe depmod modinfo bash jq nft; do
		command -v "$t" >/dev/null || tk_skip "$t not installed (scripts/install-deps.sh)"
	done
	command -v busybox >/dev/null && { file -L "$(command -v busybox)" 2>/dev/null |
		grep -q 'statically linked' || ! ldd "$(command -v busybox)" >/dev/null 2>&1; } ||
		tk_skip "busybox-static not installed"
	ls -d /usr/src/linux-headers-*-amd64 >/dev/null 2>&1 ||
		tk_skip "no kernel headers (linux-headers-amd64): trunkline.ko cannot be built"
	make -s -C "$TK_ROOT" kmod >"${TMPDIR:-/tmp}/tk-build.$$" 2>&1 ||
		{ cat "${TMPDIR:-/tmp}/tk-build.$$"; rm -f "${TMPDIR:-/tmp}/tk-build.$$"; tk_fail "make kmod failed"; }
	rm -f "${TMPDIR:-/tmp}/tk-build.$$"
	[ -f "$TK_KO" ] || tk_fail "make kmod did not produce $TK_KO"
	out=$("$TK_DIR/lib/kernel.sh" "$TK_KO")
	rc=$?
	[ "$rc" = 77 ] && tk_skip "no kernel image to boot (see above)"
	[ "$rc" = 0 ] || tk_fail "kernel.sh failed"
	eval "$out"
	for t in "$TK_BUILD/kmod-tools/tlk" "$TK_BUILD/kmod-tools/kadopt" \
		"$TK_BUILD/trunkline-relayd" "$TK_BUILD/trunklinectl" \
		"$TK_BUILD/tools/rtpgen" "$TK_BUILD/tools/rtpsink"; do
		[ -x "$t" ] || tk_fail "$t is not built (make)"
	done
	echo "tk: module $TK_KO for $KVER, kernel tree $KROOT"
}

# tk_boot GUEST-SCRIPT [qemu.sh options]: the guest gets the module, the
# guest library, tlk, relayd, trunklinectl, the RTP tools and Debian's ip.
tk_boot() {
	local script=$1
	shift
	local log=${TL_ARTIFACTS:-${TMPDIR:-/tmp}}/console-$(basename "$script" .sh).log
	mkdir -p "$(dirname "$log")"
	"$TK_DIR/lib/qemu.sh" --kroot "$KROOT" --kver "$KVER" --ko "$TK_KO" \
		--test "$TK_DIR/guest/$script" --file "$TK_DIR/guest/lib.sh:/test/lib.sh" \
		--bin "$TK_BUILD/kmod-tools/tlk" --bin "$TK_BUILD/kmod-tools/kadopt" \
		--bin "$TK_BUILD/trunkline-relayd" \
		--bin "$TK_BUILD/trunklinectl" --bin "$TK_BUILD/tools/rtpgen" \
		--bin "$TK_BUILD/tools/rtpsink" --bin "$(command -v ip)" \
		--bin "$(command -v bash)" --bin "$(command -v jq)" --bin "$(command -v nft)" \
		--modules "nf_tables nft_ct nf_conntrack" \
		--file "$TK_ROOT/tests/lib/netns.sh:/test/tests/lib/netns.sh" \
		--file "$TK_ROOT/tests/lib/netns6.sh:/test/tests/lib/netns6.sh" \
		--file "$TK_ROOT/bench/kmod/guest-bench.sh:/test/bench.sh" --log "$log" "$@"
}
