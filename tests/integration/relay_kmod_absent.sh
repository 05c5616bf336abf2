#!/bin/bash
#
# relay_kmod_absent.sh: without trunkline.ko (as on a host that cannot load
# modules), "backend": "kmod" is refused at start with the reason, and
# "auto" falls through to userspace and says why kmod was not taken in
# hello and stats. (With the module loaded, see tests/kmod/.)
#
# run-also: build
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

REASON="trunkline.ko not loaded: genl family 'trunkline' not found"
TLK=$TL_BUILD_DIR/kmod-tools/tlk

tl_init
[ -x "$TLK" ] || tl_fail "$TLK is not built"
if "$TLK" count >/dev/null 2>&1; then
	tl_skip "trunkline.ko is loaded on this host (its absence cannot be tested)"
fi
tl_netns_setup

tl_relayd_config "$TL_TMP/kmod.json" '.backend = "kmod"'
ip netns exec "$TL_NS_RELAY" timeout 10 "$TL_RELAYD" -f "$TL_TMP/kmod.json" \
	>"$TL_TMP/kmod.out" 2>"$TL_TMP/kmod.err"
rc=$?
[ "$rc" = 1 ] || tl_fail "backend kmod without the module: relayd exited $rc, expected 1: $(cat "$TL_TMP/kmod.err")"
grep -qF "backend kmod unavailable: $REASON" "$TL_TMP/kmod.err" ||
	tl_fail "backend kmod: stderr lacks the reason '$REASON': $(cat "$TL_TMP/kmod.err")"
grep -qF "no usable backend for 'kmod'" "$TL_TMP/kmod.err" ||
	tl_fail "backend kmod: stderr lacks the refusal: $(cat "$TL_TMP/kmod.err")"
tl_log "backend kmod refused: $REASON"

tl_relayd_config "$TL_TMP/relayd.json"
tl_relayd_start "$TL_TMP/relayd.json"
for cmd in hello stats; do
	tl_rpc_ok "{\"cmd\":\"$cmd\"}" "$cmd"
	tl_assert_json "$TL_REPLY" ".backend == \"userspace\" and (.backend_reason | contains(\"kmod: $REASON\"))" \
		"$cmd: userspace chosen, with why kmod was not"
done
tl_relayd_stop
tl_pass
