#!/usr/bin/env python3
"""evproxy.py LISTEN RELAY SECS: a line proxy between trunkline-controller
and trunkline-relayd (Unix sockets) that loses every `timeout` event, as
a relay does for a subscriber that fell too far behind, and sends the
`resync` event the relay sends then. Lines pass through unchanged
otherwise. Runs at most SECS seconds; prints one JSON line per dropped
event.
"""
import json
import os
import selectors
import socket
import sys
import time


def main():
    listen, relay, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if os.path.exists(listen):
        os.unlink(listen)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen)
    srv.listen(4)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    peer = {}   # socket -> (other socket, buffer, from_relay)
    bufs = {}
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            if s is srv:
                c, _ = srv.accept()
                r = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                r.connect(relay)
                peer[c], peer[r] = (r, False), (c, True)
                bufs[c], bufs[r] = b"", b""
                sel.register(c, selectors.EVENT_READ, None)
                sel.register(r, selectors.EVENT_READ, None)
                continue
            other, from_relay = peer[s]
            data = s.recv(65536)
            if not data:
                for x in (s, other):
                    sel.unregister(x)
                    x.close()
                continue
            bufs[s] += data
            *lines, bufs[s] = bufs[s].split(b"\n")
            out = []
            for line in lines:
                if from_relay and b'"event"' in line:
                    ev = json.loads(line)
                    if ev.get("event") == "timeout":
                        seq = ev.get("seq", 0)
                        print(json.dumps({"dropped": ev.get("call_id"),
                                          "seq": seq}), flush=True)
                        line = json.dumps({"event": "resync", "missed": 1,
                                           "first_seq": seq,
                                           "last_seq": seq}).encode()
                out.append(line + b"\n")
            if out:
                other.sendall(b"".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
