# netns6.sh: IPv6 on the namespaces of netns.sh (source after it, call
# after tl_netns_setup): addresses from fd00::/8 on the same veths, with
# nodad so they are usable at once, default routes via the relay, and
# IPv6 forwarding in the relay ns. Sets TL_*6 like netns.sh's TL_*_IP.

TL_CALLER6=fd00:1::2
TL_RELAY_A6=fd00:1::1
TL_CALLEE6=fd00:2::2
TL_RELAY_B6=fd00:2::1
TL_ATTACKER6=fd00:3::2
TL_RELAY_X6=fd00:3::1

tl_netns6_setup() {
	local spec
	for spec in "$TL_NS_CALLER c0 $TL_CALLER6" "$TL_NS_RELAY r1 $TL_RELAY_A6" \
		"$TL_NS_CALLEE e0 $TL_CALLEE6" "$TL_NS_RELAY r2 $TL_RELAY_B6" \
		"$TL_NS_ATTACKER a0 $TL_ATTACKER6" "$TL_NS_RELAY r3 $TL_RELAY_X6"; do
		set -- $spec
		ip -n "$1" -6 addr add "$3/64" dev "$2" nodad || tl_fail "IPv6 address $3 on $2"
	done
	ip -n "$TL_NS_CALLER" -6 route add default via "$TL_RELAY_A6" || tl_fail "caller v6 route"
	ip -n "$TL_NS_CALLEE" -6 route add default via "$TL_RELAY_B6" || tl_fail "callee v6 route"
	ip -n "$TL_NS_ATTACKER" -6 route add default via "$TL_RELAY_X6" || tl_fail "attacker v6 route"
	ip netns exec "$TL_NS_RELAY" sysctl -qw net.ipv6.conf.all.forwarding=1 ||
		tl_fail "IPv6 forwarding in the relay ns"
}

# tl_nft6_flows: the number of dnat6 elements (IPv6 kernel flows) now.
tl_nft6_flows() {
	ip netns exec "$TL_NS_RELAY" nft -j list map ip6 trunkline dnat6 2>/dev/null |
		jq '[.nftables[] | select(.map) | .map.elem // [] | length] | add // 0'
}

# tl_offer_answer6 CALL: one IPv6 audio stream, caller [fd00:1::2]:4000,
# callee [fd00:2::2]:5000, interfaces caller6/callee6. Sets TL_A6_EP and
# TL_B6_EP, the relay's endpoints facing each ("[addr]:port").
tl_offer_answer6() {
	local call=$1
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"interfaces\":[\"caller6\",\"callee6\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER6\",\"rtp_port\":4000}]}" "offer $call"
	tl_assert_json "$TL_REPLY" ".media[0].address == \"$TL_RELAY_B6\"" "offer reply: B leg on $TL_RELAY_B6"
	TL_B6_EP="[$TL_RELAY_B6]:$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")"
	tl_rpc_ok "{\"cmd\":\"answer\",\"call_id\":\"$call\",\"from_tag\":\"ft-$call\",\"to_tag\":\"tt-$call\",\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLEE6\",\"rtp_port\":5000}]}" "answer $call"
	tl_assert_json "$TL_REPLY" ".media[0].address == \"$TL_RELAY_A6\"" "answer reply: A leg on $TL_RELAY_A6"
	TL_A6_EP="[$TL_RELAY_A6]:$(jq -r '.media[0].rtp_port' <<<"$TL_REPLY")"
	tl_log "call $call: caller <-> $TL_A6_EP | $TL_B6_EP <-> callee"
}

# tl_ep ADDR PORT: an endpoint as rtpgen/rtpsink take it ("[v6]:port",
# "v4:port").
tl_ep() {
	case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac
}

# tl_udp6_in: IPv6 datagrams delivered to sockets in the relay ns so far
# (netns.sh's tl_udp_in for IPv4).
tl_udp6_in() {
	ip netns exec "$TL_NS_RELAY" awk '$1 == "Udp6InDatagrams" { print $2 }' /proc/net/snmp6
}
