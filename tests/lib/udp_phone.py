#!/usr/bin/env python3
"""udp_phone.py: a phone behind NAT for the edge tests (issue 15).

  udp_phone.py IP PORT REGISTRAR-IP REGISTRAR-PORT USER PASSWORD MPORT
      [--timeout S] [--contact-host HOST]

Binds IP:PORT (a private address), registers USER with Contact
<sip:USER@IP:PORT> (answering the 401 digest challenge), prints
"REGISTERED", then serves what comes to that socket, answering to the
source of each request (the NAT's side): OPTIONS -> 200 ("OPTIONS <n>");
INVITE -> 180 and 200 with SDP c=IP m=audio MPORT ("INVITE <source>");
ACK ("ACK"); BYE -> 200 ("BYE", exit 0). At most --timeout seconds
(default 60): exit 1. IPv6 addresses too; --contact-host writes
another address in Contact than the one bound (a NAT without a NAT
namespace: the registrar sees the source differ). Standard library only.
"""
import argparse
import hashlib
import random
import re
import socket
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("ip")
p.add_argument("port", type=int)
p.add_argument("reg_ip")
p.add_argument("reg_port", type=int)
p.add_argument("user")
p.add_argument("password")
p.add_argument("mport", type=int)
p.add_argument("--timeout", type=float, default=60)
p.add_argument("--contact-host")
a = p.parse_args()


def host(ip):
    return "[%s]" % ip if ":" in ip else ip


CH = host(a.contact_host or a.ip)
deadline = time.time() + a.timeout


def say(*x):
    print(*x, flush=True)


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def parse(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], hdrs, body


def recv(s):
    while time.time() < deadline:
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            data, src = s.recvfrom(65536)
        except socket.timeout:
            break
        if data.strip():
            return parse(data) + (src,)
    raise TimeoutError("nothing more within the deadline")


def register(s, cseq, auth):
    uri = "sip:%s:%d" % (host(a.reg_ip), a.reg_port)
    msg = ("REGISTER %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%d;rport\r\n"
           "From: <sip:%s@%s>;tag=natphone\r\n"
           "To: <sip:%s@%s>\r\n"
           "Call-ID: natphone-%d@%s\r\n"
           "CSeq: %d REGISTER\r\n"
           "Contact: <sip:%s@%s:%d>\r\n"
           "Expires: 120\r\n%s"
           "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (
        uri, host(a.ip), a.port, random.randint(1, 1 << 30), a.user,
        host(a.reg_ip), a.user, host(a.reg_ip), a.port, a.ip, cseq, a.user,
        CH, a.port, auth)
    s.sendto(msg.encode(), (a.reg_ip, a.reg_port))
    return uri


def final(s):
    while True:
        start, hdrs, _, _ = recv(s)
        if start.startswith("SIP/2.0 ") and not start.startswith("SIP/2.0 1"):
            return start, hdrs


def reply(s, src, code, hdrs, totag="", extra="", body=""):
    out = ["SIP/2.0 " + code]
    out += ["Via: " + v for v in hdrs.get("via", [])]
    to = hdrs["to"][0]
    if totag and "tag=" not in to:
        to += ";tag=" + totag
    out += ["From: " + hdrs["from"][0], "To: " + to,
            "Call-ID: " + hdrs["call-id"][0], "CSeq: " + hdrs["cseq"][0]]
    if extra:
        out.append(extra)
    out.append("Content-Length: %d" % len(body))
    s.sendto(("\r\n".join(out) + "\r\n\r\n" + body).encode(), src)


def main():
    s = socket.socket(socket.AF_INET6 if ":" in a.ip else socket.AF_INET,
                      socket.SOCK_DGRAM)
    s.bind((a.ip, a.port))
    uri = register(s, 1, "")
    start, hdrs = final(s)
    if not start.startswith("SIP/2.0 401"):
        say("expected 401, got", start)
        return 1
    ch = hdrs["www-authenticate"][0]
    realm = re.search(r'realm="([^"]*)"', ch).group(1)
    nonce = re.search(r'nonce="([^"]*)"', ch).group(1)
    cnonce, nc = "%08x" % random.randint(0, 1 << 31), "00000001"
    ha1 = md5("%s:%s:%s" % (a.user, realm, a.password))
    ha2 = md5("REGISTER:%s" % uri)
    resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    auth = ('Authorization: Digest username="%s", realm="%s", nonce="%s", '
            'uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, '
            'cnonce="%s"\r\n') % (a.user, realm, nonce, uri, resp, nc, cnonce)
    register(s, 2, auth)
    start, hdrs = final(s)
    if not start.startswith("SIP/2.0 200"):
        say("expected 200, got", start)
        return 1
    say("REGISTERED")
    options = 0
    fam = "IP6" if ":" in a.ip else "IP4"
    sdp = ("v=0\r\no=phone 1 1 IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
           "a=sendrecv\r\n") % (fam, a.ip, fam, a.ip, a.mport)
    contact = "Contact: <sip:%s@%s:%d>" % (a.user, CH, a.port)
    while True:
        start, hdrs, _, src = recv(s)
        method = start.split(" ")[0]
        if method == "OPTIONS":
            options += 1
            say("OPTIONS", options)
            reply(s, src, "200 OK", hdrs)
        elif method == "INVITE":
            say("INVITE", "%s:%d" % (host(src[0]), src[1]))
            reply(s, src, "180 Ringing", hdrs, "natphone", contact)
            reply(s, src, "200 OK", hdrs, "natphone",
                  contact + "\r\nContent-Type: application/sdp", sdp)
        elif method == "ACK":
            say("ACK")
        elif method == "BYE":
            reply(s, src, "200 OK", hdrs)
            say("BYE")
            return 0


try:
    sys.exit(main())
except (OSError, KeyError, AttributeError, TimeoutError) as e:
    say("error:", e)
    sys.exit(1)
