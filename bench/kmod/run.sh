#!/bin/bash
#
# bench/kmod/run.sh: the per-packet cost of trunkline.ko as a ratio to
# plain IP forwarding, measured in one qemu guest (guest-bench.sh says
# how). Writes build/bench/kmod.json and build/bench/kmod.md.
#
# Usage: bench/kmod/run.sh [COUNT [ROUNDS]]   (default 20000 packets, 3 rounds)
# Needs what tests/kmod needs (root, qemu, busybox-static, the headers;
# the kernel image is fetched into /var/cache/trunkline-kmod).
set -u -o pipefail
COUNT=${1:-20000}
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/kmod/lib/host.sh
. "$HERE/../../tests/kmod/lib/host.sh"
TK_NAME=kmod-bench

tk_prepare
OUT=$TK_ROOT/build/bench
mkdir -p "$OUT"
wrapper=$(mktemp "${TMPDIR:-/tmp}/tl-bench.XXXXXX")
trap 'rm -f "$wrapper"' EXIT
echo "sh /test/bench.sh $COUNT $ROUNDS" >"$wrapper"
log=$OUT/kmod-console.log
"$TK_DIR/lib/qemu.sh" --kroot "$KROOT" --kver "$KVER" --ko "$TK_KO" --test "$wrapper" \
	--file "$HERE/guest-bench.sh:/test/bench.sh" --bin "$TK_BUILD/kmod-tools/tlk" \
	--bin "$TK_BUILD/tools/rtpgen" --bin "$TK_BUILD/tools/rtpsink" --bin "$(command -v ip)" \
	--timeout 600 --log "$log" >/dev/null || tk_fail "the guest run failed: see $log"
json=$(grep -m1 '^BENCH-RESULT ' "$log" | sed 's/^BENCH-RESULT //')
[ -n "$json" ] || tk_fail "no BENCH-RESULT line in $log"
echo "$json" | jq . >"$OUT/kmod.json" || tk_fail "bad result: $json"
jq -r '"# trunkline.ko per-packet cost vs plain forwarding (qemu TCG guest: only ratios mean anything)\n",
	"\(.count) packets x \(.rounds) rounds per mode, 172-byte RTP, veth -> relay -> veth\n",
	"| mode | packets received | busy CPU per packet (emulated us) | ratio to plain |",
	"|---|---|---|---|",
	"| plain IP forwarding | \(.plain.received) | \(.plain.us_per_packet) | 1.000 |",
	"| trunkline.ko | \(.kmod.received) | \(.kmod.us_per_packet) | \(.ratio_kmod_to_plain) |",
	"| trunkline.ko + RTP tracking | \(.kmod_rtp.received) | \(.kmod_rtp.us_per_packet) | \(.ratio_kmod_rtp_to_plain) |"' \
	"$OUT/kmod.json" >"$OUT/kmod.md"
cat "$OUT/kmod.md"
