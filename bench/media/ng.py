"""ng.py: a minimal client for rtpengine's NG control protocol.

NG is bencode over UDP: each request is "COOKIE <bencoded dict>" and the
reply is "COOKIE <bencoded dict>" with the same cookie. Only what
bench/media needs is here: offer and answer of one audio stream per call,
pipelined (a window of requests in flight, matched by cookie) so that
thousands of calls are set up in seconds, and the SDP port parsing.
"""
import os
import socket
import time


def bencode(v):
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, (list, tuple)):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        out = b"d"
        for k in sorted(v):
            out += bencode(k) + bencode(v[k])
        return out + b"e"
    raise TypeError("cannot bencode %r" % type(v))


def bdecode(buf, i=0):
    """Decode one value at buf[i:]; returns (value, next index)."""
    c = buf[i:i + 1]
    if c == b"i":
        j = buf.index(b"e", i)
        return int(buf[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while buf[i:i + 1] != b"e":
            v, i = bdecode(buf, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while buf[i:i + 1] != b"e":
            k, i = bdecode(buf, i)
            v, i = bdecode(buf, i)
            out[k.decode() if isinstance(k, bytes) else k] = v
        return out, i + 1
    if c.isdigit():
        j = buf.index(b":", i)
        n = int(buf[i:j])
        return buf[j + 1:j + 1 + n], j + 1 + n
    raise ValueError("bad bencode at %d" % i)


def sdp(addr, port, sess_id):
    return ("v=0\r\no=- %d 1 IN IP4 %s\r\ns=bench\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
            % (sess_id, addr, addr, port))


def sdp_media(sdp_text):
    """(address, port) of the first audio m= line of an SDP."""
    addr = port = None
    for line in sdp_text.decode(errors="replace").splitlines():
        if line.startswith("c=IN IP4 "):
            addr = line.split()[-1]
        elif line.startswith("m=audio ") and port is None:
            port = int(line.split()[1])
    return addr, port


class NGClient:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.sock.settimeout(0.2)
        self.timeout = timeout
        self.seq = 0
        self.prefix = "%d_" % os.getpid()

    def close(self):
        self.sock.close()

    def _cookie(self):
        self.seq += 1
        return "%s%d" % (self.prefix, self.seq)

    def call(self, req):
        return self.pipeline([req])[0]

    def pipeline(self, reqs, window=32):
        """Send every request with at most `window` in flight; replies in
        request order. A request unanswered for 1 s is resent (UDP); one
        unanswered for `timeout` raises."""
        replies = [None] * len(reqs)
        inflight = {}        # cookie -> (index, payload, first sent, last sent)
        nxt = 0
        done = 0
        while done < len(reqs):
            while nxt < len(reqs) and len(inflight) < window:
                ck = self._cookie()
                payload = ck.encode() + b" " + bencode(reqs[nxt])
                now = time.monotonic()
                inflight[ck] = (nxt, payload, now, now)
                self.sock.send(payload)
                nxt += 1
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                data = None
            now = time.monotonic()
            if data:
                ck, _, body = data.partition(b" ")
                ent = inflight.pop(ck.decode(errors="replace"), None)
                if ent is not None:
                    replies[ent[0]], _ = bdecode(body)
                    done += 1
            for ck, (idx, payload, first, last) in list(inflight.items()):
                if now - first > self.timeout:
                    raise RuntimeError("rtpengine NG: no reply to request %d "
                                       "after %.0fs" % (idx, self.timeout))
                if now - last > 1.0:
                    self.sock.send(payload)
                    inflight[ck] = (idx, payload, first, now)
        return replies


def setup_calls(client, n, caller_ip, caller_port, callee_ip, callee_port,
                tag="b"):
    """Offer and answer n one-stream calls. caller_port(i)/callee_port(i)
    give each endpoint's RTP port. Returns ([A port], [B port]) per call:
    where the caller sends (rtpengine's port facing the caller) and where
    rtpengine sends from towards the callee."""
    base = {"ICE": "remove", "replace": ["origin", "session-connection"]}
    offers = []
    for i in range(n):
        r = dict(base, command="offer", **{"call-id": "%s-%d" % (tag, i),
                 "from-tag": "f%d" % i, "sdp": sdp(caller_ip, caller_port(i), i),
                 "direction": ["pub", "priv"]})
        offers.append(r)
    b_ports = []
    for i, rep in enumerate(client.pipeline(offers)):
        if rep.get("result") != b"ok":
            raise RuntimeError("rtpengine offer %d: %r" % (i, rep))
        b_ports.append(sdp_media(rep["sdp"])[1])
    answers = []
    for i in range(n):
        answers.append(dict(base, command="answer", **{
            "call-id": "%s-%d" % (tag, i), "from-tag": "f%d" % i,
            "to-tag": "t%d" % i, "sdp": sdp(callee_ip, callee_port(i), i)}))
    a_ports = []
    for i, rep in enumerate(client.pipeline(answers)):
        if rep.get("result") != b"ok":
            raise RuntimeError("rtpengine answer %d: %r" % (i, rep))
        a_ports.append(sdp_media(rep["sdp"])[1])
    return a_ports, b_ports
