#!/bin/bash
# run-also: asan
#
# Hostile WebSocket clients of the browser signalling (issue 14): calls
# before login, unknown message types and fields, bad values, a flood of
# malformed JSON, oversized messages (whole and in small fragments),
# binary frames, messages over the rate, a connection over its message
# cap and over max_connections, a WebSocket opened by another site's page
# (Origin). Each gets a clear error object and is
# counted; past a limit the connection is closed with 1008/1009/1003;
# the controller keeps serving (a login still works, no sanitizer report).
. "$(dirname "$0")/../lib/sip.sh"
PY=/usr/bin/python3
$PY -c 'import websockets' 2>/dev/null || tl_skip "python3-websockets not installed"
sip_init
WEB_PORT=$((SIP_BASE + 8))
WEB=127.0.0.1:$WEB_PORT
WC="$PY $TL_ROOT/tests/lib/webclient.py ws://$WEB/ws"
sip_relayd_start
sip_controller_start ".accounts = [{username: \"alice\", password: \"apass\"}]
	| .web = {listen: \"$WEB\", root: \"$TL_ROOT/web\", max_message: 4096, rate: 10, burst: 20,
		max_messages: 60, max_connections: 8}"

$WC hostile 4096 || tl_fail "hostile input was not handled as it should be"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.web.malformed >= 10 and .web.oversized == 2 and .web.unauthenticated == 2
	and .web.closed_by_limit >= 2' "bad messages, oversized ones and calls before login are counted"

# Over the rate: valid pings beyond the burst are dropped, counted.
$WC rate 50 || tl_fail "the message rate is not limited"
st=$(sip_ctl --json status)
tl_assert_json "$st" '.web.rate_limited >= 10' "messages over the rate are counted"

# max_connections: the ninth concurrent WebSocket is refused, the eighth works.
$PY - "ws://$WEB/ws" <<'PYEOF' || tl_fail "max_connections is not enforced"
import asyncio, sys, websockets
async def main(url):
    conns = []
    for _ in range(8):
        conns.append(await websockets.connect(url))
    try:
        extra = await asyncio.wait_for(websockets.connect(url), 5)
    except (websockets.InvalidStatusCode, websockets.InvalidHandshake, ConnectionError, OSError):
        extra = None
    else:
        try:
            await asyncio.wait_for(extra.recv(), 3)
        except websockets.ConnectionClosed:
            extra = None
    for c in conns:
        await c.close()
    if extra is not None:
        print("a ninth connection was accepted", file=sys.stderr)
        sys.exit(1)
asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
PYEOF
st=$(sip_ctl --json status)
tl_assert_json "$st" '.web.refused_connections >= 1' "refused connections are counted"

# The per-connection message cap (60), paced under the rate: closed.
$PY - "ws://$WEB/ws" <<'PYEOF' || tl_fail "max_messages is not enforced"
import asyncio, json, sys, time, websockets
async def main(url):
    async with websockets.connect(url) as ws:
        try:
            for i in range(70):
                await ws.send(json.dumps({"type": "ping", "seq": i}))
                await asyncio.sleep(0.12)   # under the rate (10/s)
        except websockets.ConnectionClosed:
            pass
        try:
            for _ in range(100):
                await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as e:
            if e.rcvd and e.rcvd.code == 1008:
                return
            print("closed with", e.rcvd, file=sys.stderr)
        print("not closed at the message cap", file=sys.stderr)
        sys.exit(1)
asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
PYEOF

# Another site's page (Origin) may not open the WebSocket; our own may.
$PY - "ws://$WEB/ws" "http://$WEB" <<'PYEOF' || tl_fail "the Origin check does not hold"
import asyncio, sys, websockets
async def main(url, own):
    try:
        ws = await asyncio.wait_for(websockets.connect(url, origin="http://evil.example"), 5)
    except (websockets.InvalidHandshake, ConnectionError, OSError, asyncio.TimeoutError):
        pass
    else:
        await ws.close()
        print("a WebSocket from http://evil.example was accepted", file=sys.stderr)
        sys.exit(1)
    async with websockets.connect(url, origin=own) as ws:
        await ws.send('{"type":"ping"}')
        await asyncio.wait_for(ws.recv(), 5)
asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 30))
PYEOF
st=$(sip_ctl --json status)
tl_assert_json "$st" '.web.bad_origin == 1' "the foreign Origin is counted"

# Still serving.
$WC login alice apass || tl_fail "no login after the hostile clients"
sip_ctl --json status >/dev/null || tl_fail "the control socket does not answer"
sip_controller_stop
tl_pass
