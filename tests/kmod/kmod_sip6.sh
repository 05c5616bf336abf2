#!/bin/bash
#
# kmod_sip6.sh: issue 15 end to end in a qemu guest with trunkline.ko
# loaded (guest/sip6.bash): an IPv6 SIP caller (SIPp) calls an IPv4
# gateway (SIPp) through trunkline-controller; trunkline-relayd's kmod
# backend bridges the media in the kernel (IPv6 <-> IPv4 translation).
# Asserts each side's SIP and SDP name only its own family, RTP both
# ways complete from the right addresses, carried by the module's entries
# (their counters) with relayd's sockets idle, strangers dropped in the
# kernel, hangup removing the entries.
#
# TL_KMOD_SIP6_BACKEND=userspace forces relayd's backend in the guest:
# the negative control, which must fail.
#
# timeout: 480
set -u -o pipefail
. "$(dirname "$0")/lib/host.sh"

tk_prepare
command -v sipp >/dev/null || tk_skip "sipp not installed (apt-get install sip-tester)"
[ -x "$TK_BUILD/trunkline-controller" ] || tk_fail "$TK_BUILD/trunkline-controller is not built (make)"
extra=(--bin "$TK_BUILD/trunkline-controller" --bin "$(command -v sipp)"
	--file "$TK_ROOT/tests/lib/sip.sh:/test/tests/lib/sip.sh")
for f in uac_waitbye.xml uas_answer.xml; do
	extra+=(--file "$TK_ROOT/tests/sip/scenarios/$f:/test/tests/sip/scenarios/$f")
done
extra+=(--file "$TK_DIR/guest/uas_options.xml:/test/uas_options.xml")
[ -n "${TL_KMOD_SIP6_BACKEND:-}" ] && extra+=(--append "trunkline_test.backend=$TL_KMOD_SIP6_BACKEND")
tk_boot sip6.bash --timeout 420 "${extra[@]}" || tk_fail "guest scenario failed (console above)"
echo "PASS: $TK_NAME"
