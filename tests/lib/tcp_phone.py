#!/usr/bin/env python3
"""tcp_phone.py: a phone that registers over TCP and takes a call on the
same connection (issue 12: calls go back on the REGISTER's flow).

  tcp_phone.py SRC-IP SRC-PORT DST-IP DST-PORT USER PASSWORD CONTACT-HOST

Binds SRC-IP:SRC-PORT, connects to the registrar, registers USER with
Contact <sip:USER@CONTACT-HOST:SRC-PORT;transport=tcp> (answering the 401
digest challenge), prints "REGISTERED", then waits on that connection for
an INVITE, prints "INVITE <request-URI>", answers 486, waits for the ACK
and prints "ACK". Exits 0 after the ACK, 1 on anything else; at most 30 s.
Standard library only.
"""
import hashlib
import random
import re
import socket
import sys
import time

src_ip, src_port, dst_ip, dst_port, user, password, chost = sys.argv[1:8]
src_port, dst_port = int(src_port), int(dst_port)
deadline = time.time() + 30
buf = b""


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def recv_msg(sock):
    """One SIP message (start line, headers dict, body) from the stream."""
    global buf
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.1, deadline - time.time()))
        data = sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    n = int(hdrs.get("content-length", hdrs.get("l", ["0"]))[0])
    while len(rest) < n:
        sock.settimeout(max(0.1, deadline - time.time()))
        data = sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        rest += data
    buf = rest[n:]
    return lines[0], hdrs, rest[:n]


def register(sock, cseq, auth):
    uri = "sip:%s:%d" % (dst_ip, dst_port)
    msg = ("REGISTER %s SIP/2.0\r\n"
           "Via: SIP/2.0/TCP %s:%d;branch=z9hG4bK-%d\r\n"
           "From: <sip:%s@%s>;tag=tcpphone\r\n"
           "To: <sip:%s@%s>\r\n"
           "Call-ID: tcpphone-%d@%s\r\n"
           "CSeq: %d REGISTER\r\n"
           "Contact: <sip:%s@%s:%d;transport=tcp>\r\n"
           "Expires: 60\r\n%s"
           "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (
        uri, src_ip, src_port, random.randint(1, 1 << 30), user, dst_ip,
        user, dst_ip, src_port, src_ip, cseq, user, chost, src_port, auth)
    sock.sendall(msg.encode())
    return uri


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src_ip, src_port))
    s.settimeout(5)
    s.connect((dst_ip, dst_port))
    uri = register(s, 1, "")
    start, hdrs, _ = recv_msg(s)
    while start.startswith("SIP/2.0 1"):
        start, hdrs, _ = recv_msg(s)
    if not start.startswith("SIP/2.0 401"):
        print("expected 401, got", start, flush=True)
        return 1
    ch = hdrs["www-authenticate"][0]
    realm = re.search(r'realm="([^"]*)"', ch).group(1)
    nonce = re.search(r'nonce="([^"]*)"', ch).group(1)
    cnonce, nc = "%08x" % random.randint(0, 1 << 31), "00000001"
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("REGISTER:%s" % uri)
    resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    auth = ('Authorization: Digest username="%s", realm="%s", nonce="%s", '
            'uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, '
            'cnonce="%s"\r\n') % (user, realm, nonce, uri, resp, nc, cnonce)
    register(s, 2, auth)
    start, hdrs, _ = recv_msg(s)
    while start.startswith("SIP/2.0 1"):
        start, hdrs, _ = recv_msg(s)
    if not start.startswith("SIP/2.0 200"):
        print("expected 200, got", start, flush=True)
        return 1
    print("REGISTERED", flush=True)
    while True:
        start, hdrs, _ = recv_msg(s)
        if start.startswith("INVITE "):
            break
        if start.startswith("SIP/2.0"):
            continue
        print("unexpected", start, flush=True)
    print("INVITE", start.split(" ")[1], flush=True)
    out = ["SIP/2.0 486 Busy Here"]
    out += ["Via: " + v for v in hdrs["via"]]
    out += ["From: " + hdrs["from"][0], "To: " + hdrs["to"][0] + ";tag=busy",
            "Call-ID: " + hdrs["call-id"][0], "CSeq: " + hdrs["cseq"][0],
            "Content-Length: 0"]
    s.sendall(("\r\n".join(out) + "\r\n\r\n").encode())
    start, hdrs, _ = recv_msg(s)
    if not start.startswith("ACK "):
        print("expected ACK, got", start, flush=True)
        return 1
    print("ACK", flush=True)
    return 0


try:
    sys.exit(main())
except (OSError, EOFError, KeyError, AttributeError) as e:
    print("error:", e, flush=True)
    sys.exit(1)
