"""webcall.py: the call checks of webclient.py (a WebSocket client placing
calls like the web phone, without a browser: the offer is Chromium 156's,
from the recipe in /work/shared/recipes/webrtc-browser).

    webclient.py URL call USER PASS NUMBER OUTFILE [HOLD_S]

logs in, calls NUMBER with the offer and writes every message it got to
OUTFILE (JSON lines). "answered": holds HOLD_S seconds, then hangs up and
waits for nothing more; "ended" first: returns. Exits 0 if the call got a
final outcome (answered or ended) with the protocol's order (calling
first); what that outcome must be is the caller's business.
"""
import asyncio
import json

import webclient as wc

FP = ("sha-256 47:5C:A4:DC:11:22:33:44:55:66:77:88:99:AA:BB:CC:"
      "DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:83:1B")

OFFER = "\r\n".join([
    "v=0",
    "o=- 4851324021983385561 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 9c902f6f",
    "m=audio 41808 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 127.0.0.1",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:3154231157 1 udp 2122260223 127.0.0.1 41808 typ host generation 0 network-id 1",
    "a=candidate:3268304365 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0",
    "a=ice-ufrag:AYc8",
    "a=ice-pwd:NgWasZCGWqUGys35pCZXPxPP",
    "a=ice-options:trickle",
    "a=fingerprint:" + FP,
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=sendrecv",
    "a=msid:9c902f6f 56416b15",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:548019566 cname:uaux9QSMJrBQQD/m",
    ""])


async def call(url, user, password, number, outfile, hold):
    got = []
    async with wc.websockets.connect(url) as ws:
        await wc.hello(ws)
        r, _ = await wc.login(ws, user, password)
        if r.get("type") != "logged_in":
            raise wc.Fail("login refused: %s" % r)
        await wc.send(ws, type="call", call="c1", to=number, sdp=OFFER, seq=10)
        for _ in range(20):
            m = await wc.recv(ws, 15)
            got.append(m)
            if m.get("type") == "error":
                break
            if m.get("type") == "ended":
                break
            if m.get("type") == "answered":
                await asyncio.sleep(hold)
                await wc.send(ws, type="dtmf", call="c1", digits="1#", seq=11)
                got.append(await wc.recv(ws))
                await wc.send(ws, type="hangup", call="c1", seq=12)
                try:
                    got.append(await wc.recv(ws, 5))
                except wc.Fail:
                    pass
                break
    with open(outfile, "w") as f:
        for m in got:
            f.write(json.dumps(m) + "\n")
    if not got or got[0].get("type") not in ("calling", "error"):
        raise wc.Fail("the first reply is not calling: %s" % got[:1])
    if got[-1].get("type") not in ("ended", "answered", "error", "dtmf") and \
            not any(m.get("type") == "answered" for m in got):
        raise wc.Fail("no outcome: %s" % got)


async def drop(url, user, password, number, outfile):
    """Call, and close the WebSocket as soon as the call rings or is
    answered: the call must end (the caller went away)."""
    got = []
    async with wc.websockets.connect(url) as ws:
        await wc.hello(ws)
        r, _ = await wc.login(ws, user, password)
        if r.get("type") != "logged_in":
            raise wc.Fail("login refused: %s" % r)
        await wc.send(ws, type="call", call="c1", to=number, sdp=OFFER)
        for _ in range(10):
            m = await wc.recv(ws, 15)
            got.append(m)
            if m.get("type") in ("ringing", "answered", "ended", "error"):
                break
    with open(outfile, "w") as f:
        for m in got:
            f.write(json.dumps(m) + "\n")


def answer_for(offer):
    """A browser's answer to our offer: its payload types, setup:active,
    the browser's own ICE credentials and fingerprint."""
    m = [l for l in offer.split("\r\n") if l.startswith("m=audio ")][0]
    pts = m.split()[3:]
    lines = ["v=0", "o=- 99 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE 0",
             "m=audio 41900 UDP/TLS/RTP/SAVPF " + " ".join(pts),
             "c=IN IP4 127.0.0.1",
             "a=candidate:1 1 udp 2122260223 127.0.0.1 41900 typ host",
             "a=ice-ufrag:BRWs", "a=ice-pwd:Zx9Zx9Zx9Zx9Zx9Zx9Zx9Zx9Zx",
             "a=fingerprint:" + FP, "a=setup:active", "a=mid:0",
             "a=sendrecv", "a=rtcp-mux"]
    lines += [l for l in offer.split("\r\n") if l.startswith("a=rtpmap:")]
    return "\r\n".join(lines + [""])


async def wait_incoming(ws, got, timeout):
    for _ in range(10):
        m = await wc.recv(ws, timeout)
        got.append(m)
        if m.get("type") == "incoming":
            return m
    raise wc.Fail("no incoming call: %s" % got)


async def incoming(url, user, password, outfile, action, ready):
    """Log in, say so in the file `ready`, take an incoming call:
    answer it (then wait for its end), decline it, or close the socket."""
    got = []
    try:
        async with wc.websockets.connect(url) as ws:
            await wc.hello(ws)
            r, _ = await wc.login(ws, user, password)
            if r.get("type") != "logged_in":
                raise wc.Fail("login refused: %s" % r)
            open(ready, "w").close()
            inc = await wait_incoming(ws, got, 20)
            if action == "close":
                return
            if action == "decline":
                await wc.send(ws, type="hangup", call=inc["call"])
            else:
                await wc.send(ws, type="answer", call=inc["call"],
                              sdp=answer_for(inc["sdp"]))
            for _ in range(10):
                m = await wc.recv(ws, 20)
                got.append(m)
                if m.get("type") in ("ended", "error"):
                    break
    finally:
        with open(outfile, "w") as f:
            for m in got:
                f.write(json.dumps(m) + "\n")


async def web2web(url, caller, cpass, callee, epass, outfile):
    """Two browsers: caller calls callee's account, callee answers,
    caller hangs up. Both sides' messages go to outfile (tagged)."""
    got = []
    try:
        async with wc.websockets.connect(url) as b, \
                wc.websockets.connect(url) as a:
            await wc.hello(b)
            r, _ = await wc.login(b, callee, epass)
            if r.get("type") != "logged_in":
                raise wc.Fail("callee login refused: %s" % r)
            await wc.hello(a)
            r, _ = await wc.login(a, caller, cpass)
            if r.get("type") != "logged_in":
                raise wc.Fail("caller login refused: %s" % r)
            await wc.send(a, type="call", call="w1", to=callee, sdp=OFFER)
            inc = await wait_incoming(b, got, 15)
            inc["side"] = "callee"
            await wc.send(b, type="answer", call=inc["call"],
                          sdp=answer_for(inc["sdp"]))
            for _ in range(10):
                m = await wc.recv(a, 15)
                m["side"] = "caller"
                got.append(m)
                if m.get("type") in ("answered", "ended", "error"):
                    break
            await wc.send(a, type="hangup", call="w1")
            for _ in range(10):
                m = await wc.recv(b, 10)
                m["side"] = "callee"
                got.append(m)
                if m.get("type") in ("ended", "error"):
                    break
    finally:
        with open(outfile, "w") as f:
            for m in got:
                f.write(json.dumps(m) + "\n")


def run(url, check, args):
    if check == "incoming":
        return incoming(url, args[0], args[1], args[2], args[3], args[4])
    if check == "web2web":
        return web2web(url, args[0], args[1], args[2], args[3], args[4])
    if check == "call":
        return call(url, args[0], args[1], args[2], args[3],
                    float(args[4]) if len(args) > 4 else 1.0)
    if check == "drop":
        return drop(url, args[0], args[1], args[2], args[3])
    raise SystemExit("unknown check %s" % check)
