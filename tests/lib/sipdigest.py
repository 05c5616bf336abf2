#!/usr/bin/env python3
"""sipdigest.py: a hostile (or honest) digest client over UDP for the
controller's authentication tests (issue 12). Every run sends from SRC-IP
(an ephemeral port) to DST-IP:DST-PORT and prints one JSON object.

  sipdigest.py send SRC-IP DST-IP DST-PORT [opts]
      One request; {"codes": [...], "final": N|null, "elapsed": s,
      "challenge": "<the 401/407 header value>"|null}. A non-2xx final
      answer to an INVITE is ACKed.
  sipdigest.py login SRC-IP DST-IP DST-PORT --user U --password P [opts]
      The request, then (after a 401/407) the same request answering the
      challenge; {"first": {...}, "second": {...}, "auth": "<the header
      line sent>"}. --no-qop answers the RFC 2069 way (no qop, nc, cnonce).
      --again N: then N more requests answering the same nonce with nc
      2, 3, ... (what a client that keeps its nonce does); "again": [...].

  opts: --method INVITE|REGISTER|OPTIONS (INVITE), --ruri URI (INVITE:
  sip:441234567@DST:PORT, else sip:DST:PORT), --from-user U, --to-user U,
  --contact URI, --header "Name: value" (repeatable), --wait S (final
  answer timeout, 3), --uri URI (the uri= of the answer: the request-URI
  unless given), --tcp (send over one TCP connection from SRC-IP instead
  of UDP), --via PROTO (the Via's transport word: UDP, or TCP with --tcp,
  unless given: what a liar would put there).
"""
import hashlib, json, random, socket, sys, time


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def parse(data):
    text = data.decode("latin-1")
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], hdrs


def challenge_params(value):
    out = {}
    body = value.split(" ", 1)[1] if " " in value else ""
    for part in body.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip().strip('"')
    return out


class Client:
    def __init__(self, src, dst, port, o):
        self.dst, self.port, self.o = dst, port, o
        self.tcp = bool(o.get("tcp"))
        self.buf = b""
        # IPv6 (issue 15): an address with ':' is IPv6, bracketed in URIs
        fam = socket.AF_INET6 if ":" in src else socket.AF_INET
        self.h = (lambda a: "[%s]" % a if ":" in a else a)
        if self.tcp:
            o.setdefault("via", "TCP")
            self.s = socket.socket(fam, socket.SOCK_STREAM)
            self.s.bind((src, 0))
            self.s.settimeout(3)
            self.s.connect((dst, port))
        else:
            self.s = socket.socket(fam, socket.SOCK_DGRAM)
            self.s.bind((src, 0))
        self.src, self.lport = self.s.getsockname()[:2]
        self.call_id = "%08x@%s" % (random.getrandbits(32), src)
        self.tag = "%08x" % random.getrandbits(32)
        self.cseq = 0
        m = o["method"]
        self.ruri = o.get("ruri") or ("sip:441234567@%s:%d" % (self.h(dst), port) if m == "INVITE"
                                      else "sip:%s:%d" % (self.h(dst), port))

    def build(self, extra, branch):
        o, m = self.o, self.o["method"]
        fu = o.get("from_user") or o.get("user") or "0201234567"
        tu = o.get("to_user") or (fu if m == "REGISTER" else "441234567")
        body = ""
        if m == "INVITE":
            ipv = "IP6" if ":" in self.src else "IP4"
            body = ("v=0\r\no=- 1 1 IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n"
                    "m=audio 4000 RTP/AVP 0\r\n" % (ipv, self.src, ipv, self.src))
        lines = ["%s %s SIP/2.0" % (m, self.ruri),
                 "Via: SIP/2.0/%s %s:%d;branch=%s" % (o.get("via", "UDP"), self.h(self.src), self.lport, branch),
                 "From: <sip:%s@%s>;tag=%s" % (fu, self.h(self.dst), self.tag),
                 "To: <sip:%s@%s>" % (tu, self.h(self.dst)),
                 "Call-ID: " + self.call_id,
                 "CSeq: %d %s" % (self.cseq, m),
                 "Contact: <%s>" % (o.get("contact") or "sip:%s@%s:%d" % (fu, self.h(self.src), self.lport)),
                 "Max-Forwards: 70", "User-Agent: trunkline-test"]
        if m == "REGISTER":
            lines.append("Expires: 60")
        lines += o.get("headers", []) + extra
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def send(self, data):
        if self.tcp:
            self.s.sendall(data)
        else:
            self.s.sendto(data, (self.dst, self.port))

    def recv(self):
        """One message (a datagram, or one framed by Content-Length)."""
        if not self.tcp:
            return self.s.recvfrom(65536)[0]
        while True:
            if b"\r\n\r\n" in self.buf:
                head, rest = self.buf.split(b"\r\n\r\n", 1)
                n = 0
                for ln in head.split(b"\r\n"):
                    if ln.lower().startswith((b"content-length:", b"l:")):
                        n = int(ln.split(b":", 1)[1])
                if len(rest) >= n:
                    self.buf = rest[n:]
                    return head + b"\r\n\r\n" + rest[:n]
            chunk = self.s.recv(65536)
            if not chunk:
                raise socket.timeout("closed")
            self.buf += chunk

    def transact(self, extra=()):
        self.cseq += 1
        branch = "z9hG4bK%08x" % random.getrandbits(32)
        msg = self.build(list(extra), branch)
        t0 = time.time()
        self.send(msg.encode())
        codes, final, chal, to_hdr = [], None, None, None
        end = t0 + float(self.o.get("wait", 3))
        while time.time() < end and final is None:
            self.s.settimeout(max(0.05, end - time.time()))
            try:
                data = self.recv()
            except (socket.timeout, OSError):
                break
            first, hdrs = parse(data)
            if not first.startswith("SIP/2.0 "):
                continue
            if hdrs.get("call-id", [""])[0] != self.call_id:
                continue
            code = int(first.split(" ")[1])
            codes.append(code)
            if code >= 200:
                final = code
                to_hdr = hdrs.get("to", [""])[0]
                chal = (hdrs.get("proxy-authenticate") or hdrs.get("www-authenticate") or [None])[0]
        elapsed = time.time() - t0
        if final is not None and final >= 300 and self.o["method"] == "INVITE":
            ack = msg.split("\r\n\r\n", 1)[0].split("\r\n")
            ack[0] = "ACK %s SIP/2.0" % self.ruri
            ack = [l for l in ack if not l.lower().startswith(("content-", "cseq:", "to:"))]
            ack += ["To: " + to_hdr, "CSeq: %d ACK" % self.cseq, "Content-Length: 0"]
            self.send(("\r\n".join(ack) + "\r\n\r\n").encode())
        return {"codes": codes, "final": final, "elapsed": round(elapsed, 3), "challenge": chal}

    def answer(self, chal, final, nc=1):
        o = self.o
        p = challenge_params(chal)
        user, pw, realm, nonce = o["user"], o["password"], p.get("realm", ""), p.get("nonce", "")
        uri = o.get("uri") or self.ruri
        ha1 = md5("%s:%s:%s" % (user, realm, pw))
        ha2 = md5("%s:%s" % (o["method"], uri))
        name = "Authorization" if final == 401 else "Proxy-Authorization"
        if o.get("no_qop"):
            resp = md5("%s:%s:%s" % (ha1, nonce, ha2))
            v = ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                 'algorithm=MD5' % (user, realm, nonce, uri, resp))
        else:
            cnonce, nc = "%08x" % random.getrandbits(32), "%08x" % nc
            resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
            v = ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                 'algorithm=MD5, qop=auth, nc=%s, cnonce="%s"' % (user, realm, nonce, uri, resp, nc, cnonce))
        return "%s: %s" % (name, v)


def main(argv):
    if len(argv) < 4 or argv[0] not in ("send", "login"):
        sys.exit(__doc__)
    mode, src, dst, port = argv[0], argv[1], argv[2], int(argv[3])
    o = {"method": "INVITE", "headers": []}
    i = 4
    while i < len(argv):
        k = argv[i]
        if k in ("--no-qop", "--tcp"):
            o[k[2:].replace("-", "_")] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            sys.exit("missing value for " + k)
        v = argv[i + 1]
        if k == "--header":
            o["headers"].append(v)
        else:
            o[k[2:].replace("-", "_")] = v
        i += 2
    c = Client(src, dst, port, o)
    first = c.transact()
    if mode == "send":
        print(json.dumps(first))
        return
    if first["final"] not in (401, 407) or not first["challenge"]:
        print(json.dumps({"first": first, "second": None, "auth": None}))
        return
    line = c.answer(first["challenge"], first["final"])
    second = c.transact([line])
    out = {"first": first, "second": second, "auth": line}
    if "again" in o:
        out["again"] = [c.transact([c.answer(first["challenge"], first["final"], 2 + i)])
                        for i in range(int(o["again"]))]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
