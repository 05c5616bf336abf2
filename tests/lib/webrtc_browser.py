#!/usr/bin/python3
"""webrtc_browser.py: aiortc as a browser of the controller's web phone
(proto/PROTOCOL.md, "Browser signalling"), with real ICE, DTLS and SRTP
through the relay; lighter than Chromium, and it can misbehave.

  webrtc_browser.py URL call USER PASS NUMBER --out FILE [--secs N]
                    [--bad-tags K]
      logs in (the digest challenge of webclient.py), calls NUMBER with
      aiortc's offer, applies the answer ("answered", or an "early" SDP
      first: early media), counts the audio frames received before and
      after the answer, hangs up after N seconds of answered call and
      waits for "ended". --bad-tags K corrupts the SRTP authentication
      tag of K packets one second into the call.

  webrtc_browser.py URL incoming USER PASS --out FILE [--wait N]
      logs in, waits up to N seconds for an "incoming" call and never
      answers it; then records every message until "ended" (or N more
      seconds).

Writes a JSON summary to FILE: the messages received (type, code,
reason), frames, DTLS state, packets sent. Every wait is bounded. Run
with Debian's /usr/bin/python3 (python3-aiortc, python3-websockets).
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webclient as wc                              # noqa: E402
from webrtc_peer import Corrupter, final_stats      # noqa: E402


def summary(m):
    return {k: m[k] for k in ("type", "code", "reason", "call") if k in m}


async def login(ws, user, password):
    await wc.hello(ws)
    r, _ = await wc.login(ws, user, password)
    if r.get("type") != "logged_in":
        raise wc.Fail("login refused: %s" % r)


async def count_frames(tracks, out, key, stop):
    """Frames received until stop is set (bounded by the caller)."""
    from aiortc.mediastreams import MediaStreamError
    while not stop.is_set():
        if not tracks:
            await asyncio.sleep(0.05)
            continue
        try:
            await asyncio.wait_for(tracks[0].recv(), 0.5)
            out[key[0]] += 1
        except asyncio.TimeoutError:
            continue
        except MediaStreamError:
            return


async def call(a):
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack

    out = {"messages": [], "answered": False, "early": False,
           "frames_early": 0, "frames": 0, "bad_sent": 0, "error": None}
    pc = RTCPeerConnection()
    pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    tracks = []
    pc.on("track", lambda t: tracks.append(t))
    await pc.setLocalDescription(await pc.createOffer())
    key = ["frames_early"]
    stop = asyncio.Event()
    counter = None
    async with wc.connect(a.url) as ws:
        await login(ws, a.user, a.password)
        await wc.send(ws, type="call", call="c1", to=a.number,
                      sdp=pc.localDescription.sdp, seq=10)
        deadline = time.monotonic() + 20
        answered_at = None
        while time.monotonic() < deadline:
            if answered_at is not None and \
                    time.monotonic() - answered_at >= a.secs:
                break
            try:
                m = await wc.recv(ws, 0.2)
            except wc.Fail:
                continue
            out["messages"].append(summary(m))
            t = m.get("type")
            if t == "early" and not out["early"]:
                out["early"] = True
                await pc.setRemoteDescription(RTCSessionDescription(
                    m["sdp"], "answer"))
                counter = asyncio.ensure_future(
                    count_frames(tracks, out, key, stop))
            elif t == "answered":
                out["answered"] = True
                if not out["early"]:
                    await pc.setRemoteDescription(RTCSessionDescription(
                        m["sdp"], "answer"))
                    counter = asyncio.ensure_future(
                        count_frames(tracks, out, key, stop))
                key[0] = "frames"
                answered_at = time.monotonic()
                deadline = answered_at + a.secs + 15
                if a.bad_tags:
                    asyncio.ensure_future(corrupt_later(pc, a.bad_tags, out))
            elif t == "ended":
                break
        out["dtls"] = pc.connectionState
        if out["answered"] and not any(
                x.get("type") == "ended" for x in out["messages"]):
            await wc.send(ws, type="hangup", call="c1", seq=11)
            for _ in range(20):
                try:
                    m = await wc.recv(ws, 2)
                except wc.Fail:
                    break
                out["messages"].append(summary(m))
                if m.get("type") == "ended":
                    break
    stop.set()
    if counter is not None:
        await asyncio.wait([counter], timeout=2)
    await final_stats(pc, out)
    await pc.close()
    return out


async def corrupt_later(pc, count, out):
    await asyncio.sleep(1.0)
    dtls = pc.getTransceivers()[0].sender.transport
    if getattr(dtls, "_tx_srtp", None) is None:
        out["error"] = "no SRTP session to corrupt"
        return
    dtls._tx_srtp = Corrupter(dtls._tx_srtp, count, out)


async def incoming(a):
    out = {"messages": [], "incoming": False, "error": None}
    async with wc.connect(a.url) as ws:
        await login(ws, a.user, a.password)
        deadline = time.monotonic() + a.wait
        while time.monotonic() < deadline:
            try:
                m = await wc.recv(ws, 0.5)
            except wc.Fail:
                continue
            out["messages"].append(summary(m))
            if m.get("type") == "incoming" and not out["incoming"]:
                out["incoming"] = True
                out["incoming_at"] = time.monotonic()
                deadline = time.monotonic() + a.wait
            elif m.get("type") == "ended":
                out["ended_after"] = round(
                    time.monotonic() - out.get("incoming_at", 0), 2)
                out["ended_wall"] = time.time()  # to compare with SIPp's
                break
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("call")
    c.add_argument("user")
    c.add_argument("password")
    c.add_argument("number")
    c.add_argument("--out", required=True)
    c.add_argument("--secs", type=float, default=3)
    c.add_argument("--bad-tags", type=int, default=0)
    i = sub.add_parser("incoming")
    i.add_argument("user")
    i.add_argument("password")
    i.add_argument("--out", required=True)
    i.add_argument("--wait", type=float, default=20)
    a = p.parse_args()
    fn = call if a.what == "call" else incoming
    try:
        out = asyncio.run(asyncio.wait_for(fn(a), 60))
    except (wc.Fail, asyncio.TimeoutError, OSError) as e:
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    with open(a.out, "w") as f:
        json.dump(out, f)
    sys.exit(0 if out.get("error") is None else 1)


if __name__ == "__main__":
    main()
