#!/bin/bash
#
# install-rate.sh: how many streams per second the nft backend installs
# and removes, in its real batches (one nft transaction per flush), with
# bench/nft/nftdrive driving this build's backend code in a throw-away
# network namespace. Each stream is 4 flows (RTP and RTCP, both ways) =
# 4 dnat4 elements.
#
#   bench/nft/install-rate.sh [-b BUILD] [-o OUTDIR] [-r ROUNDS] [SIZES...]
#
# SIZES default to "10000 50000" (50,000 streams need two address pairs:
# 25,000 port pairs each). Writes OUTDIR/install-rate.jsonl (one line per
# round) and OUTDIR/install-rate.md (medians); needs root.
set -eu -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
OUT=$ROOT/bench/nft/results
ROUNDS=5
while getopts b:o:r: opt; do
	case $opt in
	b) BUILD=$(cd "$OPTARG" && pwd) ;;
	o) OUT=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) echo "usage: $0 [-b BUILD] [-o OUTDIR] [-r ROUNDS] [SIZES...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
SIZES=${*:-10000 50000}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace)" >&2; exit 77; }
mkdir -p "$OUT"
TMP=$(mktemp -d)
NS=tlnftbench$$
cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$ROOT/bench/nft/build-drive.sh" "$BUILD" "$TMP/nftdrive"
ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_acct=1

: >"$OUT/install-rate.jsonl"
for n in $SIZES; do
	pairs=$(((n + 29999) / 30000))
	ip netns exec "$NS" "$TMP/nftdrive" bench -n "$n" -p "$pairs" -P 2000 -r "$ROUNDS" |
		grep '"round"' >>"$OUT/install-rate.jsonl"
done
{
	echo "| streams | rounds | install streams/s (median, min-max) | remove streams/s (median, min-max) |"
	echo "|---|---|---|---|"
	for n in $SIZES; do
		jq -rs --argjson n "$n" '
			def med: sort | .[length / 2 | floor];
			[.[] | select(.streams == $n)] as $r
			| "| \($n) | \($r | length) | \($r | map(.install_per_s) | med) (\($r | map(.install_per_s) | min)-\($r | map(.install_per_s) | max)) | \($r | map(.remove_per_s) | med) (\($r | map(.remove_per_s) | min)-\($r | map(.remove_per_s) | max)) |"
		' "$OUT/install-rate.jsonl"
	done
} >"$OUT/install-rate.md"
cat "$OUT/install-rate.md"
