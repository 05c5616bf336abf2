#!/usr/bin/env python3
"""tls_relay.py: put TLS in front of (or behind) a SIPp that speaks TCP,
for the TLS tests (the Debian SIPp is built without TLS).

  tls_relay.py server IP PORT TARGET-IP TARGET-PORT --cert C --key K
        [--ca CAFILE --require-client-cert]
      accept TLS on IP:PORT with certificate C (a gateway, or a listener
      that wants client certificates), then open TCP to TARGET and pump
      bytes both ways.
  tls_relay.py client IP PORT TARGET-IP TARGET-PORT [--bind SRC-IP]
        [--cert C --key K]
      accept TCP on IP:PORT (a SIPp caller), open TLS to TARGET (no
      verification: the controller under test is the peer; optionally
      with a client certificate) and pump.

Prints "listening", then per connection "handshake ok <peer subject>" or
"handshake failed: <reason>", and "closed <bytes up> <bytes down>".
Exits after --timeout seconds (default 60). Standard library only.
"""
import argparse
import select
import socket
import ssl
import sys
import time


def say(*a):
    print(*a, flush=True)


def pump(a, b, deadline, via):
    """Copy both ways until either side closes or the deadline. via: the
    caller's Via says TCP, the controller must see TLS (nta drops a
    request whose Via names another transport); same length, so no
    Content-Length changes."""
    up = down = 0
    socks = [a, b]
    while time.time() < deadline:
        pend = [s for s in socks if isinstance(s, ssl.SSLSocket) and
                s.pending()]
        r = pend or select.select(socks, [], [], 0.5)[0]
        for s in r:
            try:
                data = s.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except OSError as e:
                say("error:", e)
                return up, down
            if not data:
                say("eof from", "the accepted side" if s is a else
                    "the far side")
                return up, down
            other = b if s is a else a
            if via and s is a:
                data = data.replace(b"SIP/2.0/TCP", b"SIP/2.0/TLS")
            elif via:
                data = data.replace(b"SIP/2.0/TLS", b"SIP/2.0/TCP")
            other.sendall(data)
            if s is a:
                up += len(data)
            else:
                down += len(data)
    return up, down


def family(ip):
    """IPv6 addresses too (the IPv6 listeners' tests)."""
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("target_ip")
    p.add_argument("target_port", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--bind", default="")
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    deadline = time.time() + a.timeout

    if a.mode == "server":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        if a.require_client_cert:
            ctx.load_verify_locations(a.ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)

    ls = socket.socket(family(a.ip), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.ip, a.port))
    ls.listen(8)
    say("listening")
    while time.time() < deadline:
        if not select.select([ls], [], [], 0.5)[0]:
            continue
        c, _ = ls.accept()
        c.settimeout(5)
        try:
            if a.mode == "server":
                c = ctx.wrap_socket(c, server_side=True)
                peer = c.getpeercert()
                say("handshake ok", peer.get("subject") if peer else "-")
                t = socket.create_connection((a.target_ip, a.target_port), 5)
            else:
                t = socket.socket(family(a.target_ip), socket.SOCK_STREAM)
                if a.bind:
                    t.bind((a.bind, 0))
                t.settimeout(5)
                t.connect((a.target_ip, a.target_port))
                t = ctx.wrap_socket(t)
                say("handshake ok")
        except (ssl.SSLError, OSError) as e:
            say("handshake failed:", e)
            c.close()
            continue
        # The TLS side non-blocking: a record without data (a TLS 1.3
        # session ticket) must not block the other direction.
        for s in (c, t):
            s.settimeout(None)
            s.setblocking(not isinstance(s, ssl.SSLSocket))
        up, down = pump(c, t, deadline, a.mode == "client")
        say("closed", up, down)
        for s in (c, t):
            try:
                s.close()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
