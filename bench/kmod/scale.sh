#!/bin/bash
#
# bench/kmod/scale.sh: the kmod backend at scale, in one qemu guest
# (scale-guest.bash says how): STREAMS concurrent streams in one relayd
# at RLIMIT_NOFILE 20,000, media checked per packet on a sample, relayd's
# fds and RSS per stream (and its anonymous part, RssAnon), the kernel's
# memory per entry, and every entry freed by the deletes. Writes
# build/bench/kmod-scale.json and .md.
#
# Usage: bench/kmod/scale.sh [STREAMS [WAVE [SAMPLE [COUNT]]]]
#        (default 100000 streams in waves of 3000, 1000 sampled streams x
#        5 packets each way)
# Env: KSCALE_OUT (output directory), KSCALE_RATE (packets/s of the
# media check, default 200: the emulated guest forwards a few hundred),
# KSCALE_MEM (guest MiB, default 2560), KSCALE_TIMEOUT (s, default 7200),
# KSCALE_HASH_BITS (default 19: 512 Ki buckets for 400,000 entries),
# KSCALE_MAX_ENTRIES (default: 4 per stream + 10 %, at least the
# module's 262144), KSCALE_NOFILE (default 20000), KSCALE_THP (the guest's
# transparent_hugepage setting: always, madvise or never; default: the
# guest kernel's own).
# Needs what tests/kmod needs (root, qemu, busybox-static, the headers).
set -u -o pipefail
STREAMS=${1:-100000}
WAVE=${2:-3000}
SAMPLE=${3:-1000}
COUNT=${4:-5}
RATE=${KSCALE_RATE:-200}
MEM=${KSCALE_MEM:-2560}
TIMEOUT=${KSCALE_TIMEOUT:-7200}
HASH_BITS=${KSCALE_HASH_BITS:-19}
MAX_ENTRIES=${KSCALE_MAX_ENTRIES:-$((STREAMS * 44 / 10 > 262144 ? STREAMS * 44 / 10 : 262144))}
NOFILE=${KSCALE_NOFILE:-20000}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/kmod/lib/host.sh
. "$HERE/../../tests/kmod/lib/host.sh"
TK_NAME=kmod-scale
OUT=${KSCALE_OUT:-$TK_ROOT/build/bench}
mkdir -p "$OUT"

tk_prepare
[ -x "$TK_BUILD/tools/kscale" ] || tk_fail "$TK_BUILD/tools/kscale is not built (make)"
wrapper=$(mktemp "${TMPDIR:-/tmp}/tl-kscale.XXXXXX")
loadlog=$(mktemp "${TMPDIR:-/tmp}/tl-kscale-load.XXXXXX")
sampler=
trap 'rm -f "$wrapper" "$loadlog"; [ -n "$sampler" ] && kill "$sampler" 2>/dev/null' EXIT
echo "#!/bin/bash
THP=${KSCALE_THP:-} exec /sbin/bash /test/scale.bash $STREAMS $WAVE $SAMPLE $COUNT $RATE $NOFILE $HASH_BITS $MAX_ENTRIES" >"$wrapper"
# the host's load average through the run, once a minute
(while :; do cut -d' ' -f1 /proc/loadavg >>"$loadlog"; sleep 60; done) &
sampler=$!
log=$OUT/kmod-scale-console.log
t0=$SECONDS
"$TK_DIR/lib/qemu.sh" --kroot "$KROOT" --kver "$KVER" --ko "$TK_KO" --test "$wrapper" \
	--file "$HERE/scale-guest.bash:/test/scale.bash" \
	--file "$TK_ROOT/tests/lib/netns.sh:/test/tests/lib/netns.sh" \
	--bin "$TK_BUILD/tools/kscale" --bin "$TK_BUILD/kmod-tools/tlk" \
	--bin "$TK_BUILD/trunkline-relayd" --bin "$TK_BUILD/trunklinectl" \
	--bin "$TK_BUILD/tools/rtpgen" --bin "$TK_BUILD/tools/rtpsink" \
	--bin "$(command -v ip)" --bin "$(command -v bash)" --bin "$(command -v jq)" \
	--bin "$(command -v setpriv)" --mem "$MEM" --timeout "$TIMEOUT" --log "$log" >/dev/null ||
	{ grep -E '^(FAIL|kscale|SCALE)' "$log" | tail -n 5; tk_fail "the guest run failed: see $log"; }
wall=$((SECONDS - t0))
grep -q '^SCALE-RESULT ' "$log" || tk_fail "no result line: see $log"
load=$(sort -n "$loadlog" | awk '{ a[NR] = $1 } END { printf "%s-%s (median %s)", a[1], a[NR], a[int((NR + 1) / 2)] }')
grep '^SCALE-RESULT ' "$log" | tail -n 1 | sed 's/^SCALE-RESULT //' |
	jq --argjson wall "$wall" --arg load "$load" --arg kver "$KVER" '
	def kb(m): m.slab_kb + m.vmalloc_kb + m.percpu_kb;
	. + {bench: "kmod-scale", host_wall_s: $wall, host_load_average: $load, guest_kernel: $kver,
	     bytes_per_stream: (((.rss_kib_all_in_kernel - .rss_kib_start) * 1024 / .streams) | floor),
	     anon_bytes_per_stream: (if .rss_anon_kib_start then
		((.rss_anon_kib_all_in_kernel - .rss_anon_kib_start) * 1024 / .streams) | floor else null end),
	     kernel_bytes_per_entry: (((kb(.kmem_all) - kb(.kmem_start)) * 1024 / (.entries_all - .entries_start)) | floor),
	     kernel_kb_freed_by_delete: (kb(.kmem_all) - kb(.kmem_after_delete)),
	     memfree_drop_bytes_per_entry_less_relayd_rss: ((((.kmem_start.memfree_kb - .kmem_all.memfree_kb)
		- (.rss_kib_all_in_kernel - .rss_kib_start)) * 1024 / (.entries_all - .entries_start)) | floor)}' \
	>"$OUT/kmod-scale.json" || tk_fail "bad result line in $log"
jq -r '"# kmod backend: \(.streams) concurrent streams in one relayd (qemu TCG guest, \(.guest_kernel))\n",
	"One relayd, kmod backend, RLIMIT_NOFILE \(.rlimit_nofile) (CAP_SYS_RESOURCE dropped), \(.interfaces) interfaces, transparent huge pages \(.transparent_hugepage // "?"); trunkline.ko loaded with max_entries=\(.max_entries) hash_bits=\(.hash_bits). Offers and answers in waves of \(.wave) over the control socket; each wave waits until relayd holds no leg socket (a kmod stream enters the kernel at its answer). Host load average during the run: \(.host_load_average); \(.host_wall_s) s of host time, \(.guest_run_s | floor) s in the guest.\n",
	"| | figure |", "|---|---|",
	"| streams in relayd / kernel entries | \(.relay_streams) / \(.entries_all) (sockets open: \(.relay_sockets)) |",
	"| media, checked per packet (\(.sample) streams x \(.packets_per_stream) each way) | a->b \(.media_a_to_b.received)/\(.media_a_to_b.sent) (\(.media_a_to_b.bad) wrong), b->a \(.media_b_to_a.received)/\(.media_b_to_a.sent) (\(.media_b_to_a.bad) wrong); datagrams to relay sockets: \(.datagrams_to_relay_sockets) |",
	"| relayd fds | \(.fds_start) at start, \(.fds_max_during_setup) at most during a wave, \(.fds_all_in_kernel) with every stream in the kernel |",
	"| relayd RSS per stream | \(.bytes_per_stream) B (\(.rss_kib_start) KiB -> \(.rss_kib_all_in_kernel) KiB) |",
	"| of which anonymous (RssAnon: relayd'"'"'s own memory, without the mapped pages of shared libraries) | \(.anon_bytes_per_stream) B (\(.rss_anon_kib_start) KiB -> \(.rss_anon_kib_all_in_kernel) KiB) |",
	"| kernel memory per entry (slab + vmalloc + percpu growth / entries, dentry and inode caches dropped first) | \(.kernel_bytes_per_entry) B (an upper bound, MemFree fall less relayd RSS growth, which also holds relayd page tables and its journal on tmpfs: \(.memfree_drop_bytes_per_entry_less_relayd_rss) B) |",
	"| slab caches that grew most over the install | \(.slab_growth // [] | map("\(.cache) +\(.objects) x \(.object_size) B") | join(", ")) |",
	"| after deleting every call | \(.relay_streams_after_delete) streams, \(.entries_after_delete) entries; \(.kernel_kb_freed_by_delete) KiB of slab + vmalloc + percpu freed |",
	"| setup time (emulated machine) | \(.setup_s) s (control \(.setup_control_s) s, waiting for sockets to close \(.setup_wait_s) s), \(.offers_per_s) streams/s; media check \(.media_s) s; delete \(.delete_s) s |",
	"", "Result: \(if .ok then "every check passed" else "FAILED" end)."' "$OUT/kmod-scale.json" >"$OUT/kmod-scale.md"
cat "$OUT/kmod-scale.md"
jq -e .ok "$OUT/kmod-scale.json" >/dev/null
