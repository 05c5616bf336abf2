#!/bin/bash
# exclusive
#
# webrtc_smoke.sh: bench/webrtc/srtp-cost.sh with tiny counts, so the
# WebRTC cost bench never rots: webrtc_blast passes ICE and DTLS against
# relayd, SRTP is decrypted intact to the SIP side and encrypted back,
# and the JSON carries both per-packet costs and their ratio.
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

tl_init
OUT=$TL_TMP/srtp-cost.json
TL_BUILD=$TL_BUILD bash "$TL_ROOT/bench/webrtc/srtp-cost.sh" --count 2000 --rate 2000 \
	--out "$OUT" >"$TL_TMP/bench.out" 2>"$TL_TMP/bench.err"
rc=$?
[ "$rc" = 77 ] && tl_skip "srtp-cost.sh skipped: $(tail -n 1 "$TL_TMP/bench.err")"
[ "$rc" = 0 ] || tl_fail "srtp-cost.sh exited $rc: $(grep -v 'relayd debug' "$TL_TMP/bench.err" | tail -n 15)"
tl_assert_json "$(cat "$OUT")" '.plain_relayed > 3000 and .srtp_relayed > 3000 and .srtp_delivered > 3000 and .ratio > 0 and .handshake_ms > 0
	and .webrtc_legs_per_core > 0 and .plain_calls_per_core > 0 and .legs_per_core_vs_plain > 0' \
	"both phases relayed packets; the ratio is measured"
tl_log "$(jq -c . "$OUT")"
tl_pass
