#!/usr/bin/env python3
"""ngctl.py HOST:PORT ping | setup N CALLER_IP CALLER_PORT0 CALLER_SOCKETS
CALLEE_IP CALLEE_PORT0 CALLEE_PORTS

Runs inside the relay namespace (rtpengine's NG port is on its loopback).
`setup` offers and answers N one-stream calls; stream i's caller uses port
CALLER_PORT0 + 2*(i mod CALLER_SOCKETS), its callee CALLEE_PORT0 +
2*(i mod CALLEE_PORTS). Prints JSON: a_ports (where the caller sends),
b_ports (where rtpengine sends from towards the callee), elapsed.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ng  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = argv[1].rsplit(":", 1)
    c = ng.NGClient(host, int(port), timeout=5.0 if argv[2] == "ping" else 30.0)
    if argv[2] == "ping":
        rep = c.call({"command": "ping"})
        print(rep.get("result", b"").decode())
        return 0 if rep.get("result") == b"pong" else 1
    if argv[2] == "setup" and len(argv) == 10:
        n = int(argv[3])
        cip, cp0, cs = argv[4], int(argv[5]), int(argv[6])
        eip, ep0, es = argv[7], int(argv[8]), int(argv[9])
        t0 = time.monotonic()
        a, b = ng.setup_calls(c, n, cip, lambda i: cp0 + 2 * (i % cs),
                              eip, lambda i: ep0 + 2 * (i % es))
        print(json.dumps({"a_ports": a, "b_ports": b,
                          "elapsed": round(time.monotonic() - t0, 4)}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # a clear message, not a traceback
        print("ngctl: %s" % e, file=sys.stderr)
        sys.exit(1)
