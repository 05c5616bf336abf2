#!/usr/bin/python3
"""webrtc_peer.py: the parties of a WebRTC call through trunkline-relayd,
for tests/integration/webrtc_*.sh. Run with Debian's /usr/bin/python3
(python3-aiortc lives in its dist-packages).

  webrtc_peer.py browser --sock S --call C --callee IP:PORT --secs N
                 --out FILE [--bad-fingerprint] [--bad-tags K]
      aiortc as the browser: makes an offer (UDP/TLS/RTP/SAVPF), sends
      `offer` (its ICE/DTLS parameters, peer_transport RTP/AVP) and, for
      the SIP side at IP:PORT, `answer` to relayd; writes the browser's
      answer SDP from the answer's reply (what the controller would do),
      connects (ICE-lite, DTLS), sends PCMU for N seconds and counts the
      frames it receives. --bad-fingerprint offers a fingerprint that is
      not its certificate's; --bad-tags K corrupts the SRTP tag of K
      packets after the first second. Writes a JSON summary to FILE.

  webrtc_peer.py pair --sock S --call C --secs N --out FILE [--ifaces A,B]
      browser to browser: two aiortc peers in one process; A offers (no
      peer_transport: both legs WebRTC), the relay's reply is the offer
      to B (setup actpass), B's answer goes back; counts frames both ways.
      --b-passive: B answers setup:passive (the relay is then its client).

  webrtc_peer.py plain --bind IP:PORT --secs N --out FILE [--stop FILE]
      the SIP side: a plain RTP endpoint. Counts the RTP it receives
      (version 2, payload type 0, one SSRC, rising sequence numbers) and,
      from the first packet on, sends PCMU back to its source at 50/s;
      ends after N seconds, or 1.5 s after the last packet received. With
      --stop it ends only once FILE exists (the test's word that the
      browser is done) and 0.5 s passed without a packet: a browser that
      stalls for over 1.5 s on a loaded machine is not taken for gone.

  webrtc_peer.py stun --to IP:PORT --user U --pwd P --mode MODE --count N
                 --out FILE
      hostile ICE checks: Binding requests with a wrong password
      (MODE=wrong-pwd), a broken MESSAGE-INTEGRITY (bad-mi), a USERNAME
      not ours (wrong-user), or correct ones (good: the control), then
      RTP from the same socket; counts any answer within a second.

Every loop is bounded in count and time.
"""
import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import sys
import time
import zlib

COOKIE = 0x2112A442


def ctl(sock_path, req, timeout=5):
    """One request on the relay's control socket (newline-framed JSON)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf.split(b"\n")[0])


def sdp_attr(sdp, name):
    m = re.search(r"^a=" + re.escape(name) + r":(.*?)\r?$", sdp, re.M)
    return m.group(1).strip() if m else None


def answer_sdp(media, mid):
    """The browser's answer from the relay's reply (the controller's job)."""
    c = media["candidates"][0]
    lines = [
        "v=0", "o=- 1 1 IN IP4 %s" % media["address"], "s=-", "t=0 0",
        "a=ice-lite", "a=group:BUNDLE %s" % mid,
        "m=audio %d UDP/TLS/RTP/SAVPF 0" % media["rtp_port"],
        "c=IN IP4 %s" % media["address"], "a=mid:%s" % mid, "a=sendrecv",
        "a=rtcp-mux", "a=ice-ufrag:%s" % media["ice_ufrag"],
        "a=ice-pwd:%s" % media["ice_pwd"],
        "a=fingerprint:%s" % media["fingerprint"],
        "a=setup:%s" % media["setup"], "a=rtpmap:0 PCMU/8000",
        "a=candidate:%s 1 udp %d %s %d typ host" % (
            c["foundation"], c["priority"], c["address"], c["port"]),
        "a=end-of-candidates", ""]
    return "\r\n".join(lines)


async def browser(a):
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

    out = {"connected": False, "frames": 0, "bad_sent": 0, "error": None}
    pc = RTCPeerConnection()
    pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    received = []

    @pc.on("track")
    def on_track(track):
        received.append(track)

    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    cand = re.search(r"^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", sdp,
                     re.M)
    fpr = sdp_attr(sdp, "fingerprint")
    if a.bad_fingerprint:
        fpr = "sha-256 " + ":".join("%02X" % b for b in
                                    hashlib.sha256(b"not mine").digest())
    mid = sdp_attr(sdp, "mid") or "0"
    media = {"type": "audio", "transport": "UDP/TLS/RTP/SAVPF",
             "address": cand.group(1) if cand else "0.0.0.0",
             "rtp_port": int(cand.group(2)) if cand else 9,
             "rtcp_mux": True, "ice_ufrag": sdp_attr(sdp, "ice-ufrag"),
             "ice_pwd": sdp_attr(sdp, "ice-pwd"), "fingerprint": fpr,
             "setup": sdp_attr(sdp, "setup"), "peer_transport": "RTP/AVP"}
    req = {"cmd": "offer", "call_id": a.call, "from_tag": "browser",
           "media": [media]}
    if a.ifaces:
        req["interfaces"] = a.ifaces.split(",")
    r = ctl(a.sock, req)
    out["offer_reply"] = r
    if not r.get("ok"):
        out["error"] = "offer refused"
        return out
    ip, port = a.callee.rsplit(":", 1)
    r = ctl(a.sock, {"cmd": "answer", "call_id": a.call,
                     "from_tag": "browser", "to_tag": "sip",
                     "media": [{"type": "audio", "transport": "RTP/AVP",
                                "address": ip, "rtp_port": int(port)}]})
    out["answer_reply"] = r
    if not r.get("ok"):
        out["error"] = "answer refused"
        return out
    await pc.setRemoteDescription(RTCSessionDescription(
        answer_sdp(r["media"][0], mid), "answer"))

    deadline = time.monotonic() + 10
    while pc.connectionState != "connected" and time.monotonic() < deadline:
        if pc.connectionState == "failed":
            break
        await asyncio.sleep(0.05)
    out["state"] = pc.connectionState
    out["connected"] = pc.connectionState == "connected"
    if not out["connected"]:
        await pc.close()
        return out

    if a.bad_tags:
        asyncio.ensure_future(corrupt_later(pc, a.bad_tags, out))
    end = time.monotonic() + a.secs
    while time.monotonic() < end:
        if not received:
            await asyncio.sleep(0.05)
            continue
        try:
            await asyncio.wait_for(received[0].recv(),
                                   max(0.05, end - time.monotonic()))
            out["frames"] += 1
        except (asyncio.TimeoutError, MediaStreamError):
            break
    await final_stats(pc, out)
    await pc.close()
    return out


async def final_stats(pc, out):
    """packets_sent (and packets_received) once nothing is sent any more.
    Read while aiortc's sender task still runs, the count can fall short of
    what the far end receives: the sender goes on between getStats() and
    close() (webrtc_hostile failed so, 182 received of "181"). A stopped
    sender's count is final; close() stops it again harmlessly."""
    for t in pc.getTransceivers():
        await t.sender.stop()
    for r in (await pc.getStats()).values():
        if r.type == "outbound-rtp":
            out["packets_sent"] = r.packetsSent
        elif r.type == "inbound-rtp":
            out["packets_received"] = r.packetsReceived


def offer_entry(sdp):
    """A media entry from an aiortc SDP (its host candidate, ICE, DTLS)."""
    cand = re.search(r"^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", sdp,
                     re.M)
    return {"type": "audio", "transport": "UDP/TLS/RTP/SAVPF",
            "address": cand.group(1) if cand else "0.0.0.0",
            "rtp_port": int(cand.group(2)) if cand else 9, "rtcp_mux": True,
            "ice_ufrag": sdp_attr(sdp, "ice-ufrag"),
            "ice_pwd": sdp_attr(sdp, "ice-pwd"),
            "fingerprint": sdp_attr(sdp, "fingerprint"),
            "setup": sdp_attr(sdp, "setup")}


async def pair(a):
    """Browser to browser: two aiortc peers, both legs WebRTC. The relay's
    offer reply is an SDP offer toward browser B (setup actpass)."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

    out = {"connected": False, "frames_a": 0, "frames_b": 0, "error": None}
    pa, pb = RTCPeerConnection(), RTCPeerConnection()
    tracks = {"a": [], "b": []}
    pa.on("track", lambda t: tracks["a"].append(t))
    pb.on("track", lambda t: tracks["b"].append(t))
    pa.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    await pa.setLocalDescription(await pa.createOffer())
    req = {"cmd": "offer", "call_id": a.call, "from_tag": "webA",
           "media": [offer_entry(pa.localDescription.sdp)]}
    if a.ifaces:
        req["interfaces"] = a.ifaces.split(",")
    r = ctl(a.sock, req)
    out["offer_reply"] = r
    if not r.get("ok"):
        out["error"] = "offer refused"
        return out
    await pb.setRemoteDescription(RTCSessionDescription(
        answer_sdp(r["media"][0], "0"), "offer"))
    pb.addTrack(AudioStreamTrack())
    if a.b_passive:     # aiortc answers active unless told (FINDINGS.md)
        for t in pb.getTransceivers():
            t._transport._set_role("server")
    await pb.setLocalDescription(await pb.createAnswer())
    r = ctl(a.sock, {"cmd": "answer", "call_id": a.call, "from_tag": "webA",
                     "to_tag": "webB",
                     "media": [offer_entry(pb.localDescription.sdp)]})
    out["answer_reply"] = r
    if not r.get("ok"):
        out["error"] = "answer refused"
        return out
    await pa.setRemoteDescription(RTCSessionDescription(
        answer_sdp(r["media"][0], sdp_attr(pa.localDescription.sdp, "mid")
                   or "0"), "answer"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
            pa.connectionState == "connected" and
            pb.connectionState == "connected"):
        if "failed" in (pa.connectionState, pb.connectionState):
            break
        await asyncio.sleep(0.05)
    out["states"] = [pa.connectionState, pb.connectionState]
    out["connected"] = out["states"] == ["connected", "connected"]
    if out["connected"]:
        async def count(side):
            end = time.monotonic() + a.secs
            while time.monotonic() < end:
                if not tracks[side]:
                    await asyncio.sleep(0.05)
                    continue
                try:
                    await asyncio.wait_for(tracks[side][0].recv(), max(
                        0.05, end - time.monotonic()))
                    out["frames_" + side] += 1
                except (asyncio.TimeoutError, MediaStreamError):
                    break
        await asyncio.gather(count("a"), count("b"))
    await pa.close()
    await pb.close()
    return out


class Corrupter:
    """Wraps aiortc's SRTP sender: flips the last byte (the tag) of RTP."""

    def __init__(self, inner, count, out):
        self.inner, self.left, self.out = inner, count, out

    def protect(self, data):
        p = self.inner.protect(data)
        if self.left > 0:
            self.left -= 1
            self.out["bad_sent"] += 1
            p = p[:-1] + bytes([p[-1] ^ 0xFF])
        return p

    def protect_rtcp(self, data):
        return self.inner.protect_rtcp(data)


async def corrupt_later(pc, count, out):
    await asyncio.sleep(1.0)
    dtls = pc.getTransceivers()[0].sender.transport
    dtls._tx_srtp = Corrupter(dtls._tx_srtp, count, out)


def plain(a):
    ip, port = a.bind.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, int(port)))
    s.settimeout(0.02)
    out = {"rx": 0, "rx_bad": 0, "ssrcs": [], "seq_ok": True, "pts": [],
           "tx": 0, "src": None}
    last_seq = None
    peer = None
    seq, ts = 1, 0
    next_tx = 0.0
    end = time.monotonic() + a.secs
    last_rx = None
    while time.monotonic() < end:
        if a.stop:
            if (os.path.exists(a.stop) and
                    (last_rx is None or time.monotonic() - last_rx > 0.5)):
                break       # the browser is done and nothing is in flight
        elif last_rx is not None and time.monotonic() - last_rx > 1.5:
            break           # the call is over: the browser went quiet
        try:
            pkt, src = s.recvfrom(4096)
            last_rx = time.monotonic()
            b0 = pkt[0]
            if len(pkt) >= 12 and b0 >> 6 == 2 and not 192 <= pkt[1] <= 223:
                pt = pkt[1] & 0x7F
                ssrc = struct.unpack_from("!I", pkt, 8)[0]
                sq = struct.unpack_from("!H", pkt, 2)[0]
                if pt not in out["pts"]:
                    out["pts"].append(pt)
                if ssrc not in out["ssrcs"]:
                    out["ssrcs"].append(ssrc)
                if last_seq is not None and ((sq - last_seq) & 0xFFFF) >= 0x8000:
                    out["seq_ok"] = False
                last_seq = sq
                out["rx"] += 1
                if peer is None:
                    peer = src
                    out["src"] = "%s:%d" % src
            elif not (len(pkt) >= 8 and b0 >> 6 == 2):
                out["rx_bad"] += 1
        except socket.timeout:
            pass
        now = time.monotonic()
        if peer is not None and now >= next_tx:
            hdr = struct.pack("!BBHII", 0x80, 0, seq, ts, 0x51515151)
            s.sendto(hdr + b"\xff" * 160, peer)
            out["tx"] += 1
            seq, ts = (seq + 1) & 0xFFFF, ts + 160
            next_tx = now + 0.02
    return out


def stun_request(user, pwd, mode):
    txid = os.urandom(12)
    u = user.encode()
    attrs = struct.pack("!HH", 0x0006, len(u)) + u + b"\0" * (-len(u) % 4)
    attrs += struct.pack("!HHI", 0x0024, 4, 0x6E0001FF)
    attrs += struct.pack("!HH", 0x802A, 8) + os.urandom(8)
    hdr = struct.pack("!HHI", 0x0001, len(attrs) + 24, COOKIE) + txid
    mac = hmac.new(pwd.encode(), hdr + attrs, hashlib.sha1).digest()
    if mode == "bad-mi":
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    body = attrs + struct.pack("!HH", 0x0008, 20) + mac
    hdr = struct.pack("!HHI", 0x0001, len(body) + 8, COOKIE) + txid
    crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
    return hdr + body + struct.pack("!HHI", 0x8028, 4, crc)


def stun(a):
    ip, port = a.to.rsplit(":", 1)
    dst = (ip, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    out = {"sent": 0, "answers": 0, "rtp_sent": 0}
    user, pwd = a.user, a.pwd
    if a.mode == "wrong-pwd":
        pwd = "x" * len(pwd)
    elif a.mode == "wrong-user":
        user = "nOtOurS:" + user.split(":", 1)[1]
    for _ in range(a.count):
        s.sendto(stun_request(user, pwd, a.mode), dst)
        out["sent"] += 1
        time.sleep(0.01)
    # Media from the same (never validated) source.
    for i in range(a.count):
        s.sendto(struct.pack("!BBHII", 0x80, 0, i, i * 160, 0x66666666) +
                 b"\x55" * 160, dst)
        out["rtp_sent"] += 1
    s.settimeout(0.1)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        try:
            s.recvfrom(4096)
            out["answers"] += 1
        except socket.timeout:
            pass
    return out


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("browser")
    b.add_argument("--sock", required=True)
    b.add_argument("--call", required=True)
    b.add_argument("--callee", required=True)
    b.add_argument("--secs", type=float, default=3)
    b.add_argument("--out", required=True)
    b.add_argument("--bad-fingerprint", action="store_true")
    b.add_argument("--bad-tags", type=int, default=0)
    b.add_argument("--ifaces", default="", help="relay interfaces A,B")
    w = sub.add_parser("pair")
    w.add_argument("--sock", required=True)
    w.add_argument("--call", required=True)
    w.add_argument("--secs", type=float, default=3)
    w.add_argument("--out", required=True)
    w.add_argument("--ifaces", default="")
    w.add_argument("--b-passive", action="store_true",
                   help="B answers setup:passive: the relay is its DTLS client")
    q = sub.add_parser("plain")
    q.add_argument("--bind", required=True)
    q.add_argument("--secs", type=float, default=6)
    q.add_argument("--out", required=True)
    q.add_argument("--stop", default="",
                   help="end once this file exists (and 0.5 s is quiet)")
    t = sub.add_parser("stun")
    t.add_argument("--to", required=True)
    t.add_argument("--user", required=True)
    t.add_argument("--pwd", required=True)
    t.add_argument("--mode", required=True,
                   choices=["wrong-pwd", "bad-mi", "wrong-user", "good"])
    t.add_argument("--count", type=int, default=10)
    t.add_argument("--out", required=True)
    a = p.parse_args()
    if a.what == "browser":
        res = asyncio.run(asyncio.wait_for(browser(a), a.secs + 30))
    elif a.what == "pair":
        res = asyncio.run(asyncio.wait_for(pair(a), a.secs + 30))
    elif a.what == "plain":
        res = plain(a)
    else:
        res = stun(a)
    with open(a.out + ".tmp", "w") as f:
        json.dump(res, f)
    os.rename(a.out + ".tmp", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
