#!/bin/bash
# run-also: asan
#
# unknown_source "drop" over TCP (issue 12): the stack reads streams
# itself, so the controller keeps strangers from connecting at all (a
# kernel socket filter on its TCP/TLS listeners, listenfilter.c). From
# 127.0.0.6 (no trunk) a TCP connection to the SIP port times out: the
# SYN is dropped, nothing comes back (not even a RST). The trunk on
# 127.0.0.2 connects and its OPTIONS over TCP gets 200. status counts
# the dropped segments. A reload that adds 127.0.0.6 to the trunk's
# sources lets it connect (the filter is rebuilt); reject mode removes
# the filter.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start '.unknown_source = "drop"'
tcp() {
	python3 "$TL_ROOT/tests/lib/siptcp.py" "$1" 127.0.0.1 "$SIP_CTL_PORT" --wait "${2:-1.5}"
}
reload_with() {
	jq "$1" "$TL_TMP/controller.json" >"$TL_TMP/c2.json" && mv "$TL_TMP/c2.json" "$TL_TMP/controller.json"
	sip_ctl reload >/dev/null || tl_fail "reload ($1)"
}

r=$(tcp 127.0.0.6)
tl_log "stranger over TCP: $r"
tl_assert_json "$r" '.connect == "timeout" and .answer == null' \
	"a stranger cannot even connect over TCP in drop mode (no SYN-ACK, no RST)"
r=$(tcp 127.0.0.2)
tl_log "trunk over TCP: $r"
tl_assert_json "$r" '.connect == "connected" and .answer == "SIP/2.0 200 OK"' "the trunk connects and is answered over TCP"
st=$(sip_ctl --json status)
tl_log "stream filter: $(jq -c .sip_filter.stream <<<"$st")"
tl_assert_json "$st" '.sip_filter.stream.on and .sip_filter.stream.listeners >= 1 and
	.sip_filter.stream.allowed >= 3 and .sip_filter.stream.dropped >= 1 and .sip_filter.held_in_stack == 0' \
	"the listener filter is on and counted the stranger's SYNs"

reload_with '.trunks[0].sources += ["127.0.0.6/32"]'
r=$(tcp 127.0.0.6)
tl_assert_json "$r" '.connect == "connected" and .answer == "SIP/2.0 200 OK"' \
	"after a reload that makes 127.0.0.6 a trunk source, it connects (filter rebuilt)"
reload_with '.trunks[0].sources -= ["127.0.0.6/32"] | .unknown_source = "reject"'
r=$(tcp 127.0.0.6)
tl_assert_json "$r" '.connect == "connected"' "reject mode: no listener filter (the stack answers 403 and the like)"
tl_assert_json "$(sip_ctl --json status)" '.sip_filter.stream.on == false' "status shows the filter off"
sip_controller_stop
tl_relayd_stop
tl_pass
