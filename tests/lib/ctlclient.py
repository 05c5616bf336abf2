#!/usr/bin/env python3
"""ctlclient.py: hostile and bulk control-protocol clients for the relay's
integration tests (tests/integration/relay_control_*.sh).

  ctlclient.py offers SOCK N PREFIX         N offers (one stream each) with
                                            255-byte ids; exits 0 when all ok
  ctlclient.py slowsub SOCK GOFILE N SECS   subscribe, read nothing until
                                            GOFILE exists, then read events
                                            until N timeouts or SECS; print
                                            a JSON summary
  ctlclient.py idle HOST PORT N SECS        open N TCP connections, send
                                            nothing; print how many the
                                            server closed within SECS
  ctlclient.py noread SOCK N BYTES READY GO SECS
                                            N connections, each offers a
                                            call and offers it again until
                                            about BYTES of replies are due
                                            (60 kB ids, echoed in each
                                            reply), reading nothing; once the
                                            relay took every request (or
                                            closed), write a JSON summary to
                                            READY, wait for the file GO,
                                            print the summary again
  ctlclient.py unixidle SOCK N SECS         the same on a Unix socket
  ctlclient.py bigline SOCK BYTES SECS      send BYTES without a newline
                                            (as far as the server reads);
                                            print its reply and whether it
                                            closed the connection in SECS
  ctlclient.py sentidle SOCK N SECS         N Unix connections, each sends
                                            one ping and reads its reply,
                                            then idles; print how many were
                                            answered, then how many the
                                            server closed within SECS (and
                                            the seconds the last one took)
  ctlclient.py poll SOCK INTERVAL SECS      one Unix connection sending
                                            status every INTERVAL for SECS;
                                            print how many were answered,
                                            whether the server closed it,
                                            and the last reply's "control"

Every loop is bounded in count and time.
"""
import json
import os
import select
import socket
import sys
import time


def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_lines(s, buf, deadline):
    """Read once (bounded by deadline); return (lines, rest, closed)."""
    left = deadline - time.monotonic()
    if left <= 0:
        return [], buf, False
    r, _, _ = select.select([s], [], [], left)
    if not r:
        return [], buf, False
    try:
        data = s.recv(1 << 20)
    except ConnectionResetError:
        return [], buf, True
    if not data:
        return [], buf, True
    buf += data
    *lines, rest = buf.split(b"\n")
    return [json.loads(l) for l in lines if l.strip()], rest, False


def offers(path, n, prefix):
    s = unix(path)
    buf = b""
    pad = "x" * 255
    batch = 100
    deadline = time.monotonic() + 600
    done = 0
    while done < n:
        k = min(batch, n - done)
        out = []
        for i in range(done, done + k):
            cid = (f"{prefix}-{i}-" + pad)[:255]
            out.append(json.dumps({
                "id": i, "cmd": "offer", "call_id": cid,
                "from_tag": ("f" + pad)[:255], "to_tag": ("t" + pad)[:255],
                "media": [{"type": "audio", "address": "192.0.2.10",
                           "rtp_port": 4000}]}))
        s.sendall(("\n".join(out) + "\n").encode())
        got = 0
        while got < k:
            msgs, buf, closed = read_lines(s, buf, deadline)
            if closed or time.monotonic() > deadline:
                print(f"offers: connection closed/timed out after {done + got}",
                      file=sys.stderr)
                return 1
            for m in msgs:
                if m.get("ok") is not True:
                    print(f"offers: {m}", file=sys.stderr)
                    return 1
                got += 1
        done += k
    print(json.dumps({"offers": done}))
    return 0


def slowsub(path, gofile, n, secs):
    s = unix(path)
    s.sendall(b'{"id":1,"cmd":"subscribe"}\n')
    buf = b""
    deadline = time.monotonic() + 10
    msgs = []
    while not msgs:
        msgs, buf, closed = read_lines(s, buf, deadline)
        if closed or time.monotonic() > deadline:
            print("slowsub: no subscribe reply", file=sys.stderr)
            return 1
    print(json.dumps({"subscribed": msgs[0].get("ok")}), flush=True)
    # The slow part: read nothing until told (bounded).
    limit = time.monotonic() + 600
    while not os.path.exists(gofile) and time.monotonic() < limit:
        time.sleep(0.05)
    seqs, ids, resync, closed = [], set(), [], False
    deadline = time.monotonic() + secs
    while len(ids) < n and time.monotonic() < deadline and not closed:
        got, buf, closed = read_lines(s, buf, deadline)
        for m in got:
            if m.get("event") == "timeout":
                seqs.append(m.get("seq"))
                ids.add(m.get("call_id"))
            elif m.get("event") == "resync":
                resync.append(m)
    contiguous = (bool(seqs) and all(isinstance(q, int) for q in seqs) and
                  seqs == list(range(seqs[0], seqs[0] + len(seqs))))
    print(json.dumps({"events": len(seqs), "distinct": len(ids),
                      "contiguous": contiguous, "resync": resync,
                      "closed": closed}))
    return 0


def idle(host, port, n, secs, path=None):
    conns = []
    for _ in range(n):
        if path is not None:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # A full backlog says EAGAIN on a Unix socket: retry (bounded).
            limit = time.monotonic() + 5
            while True:
                try:
                    c.connect(path)
                    break
                except BlockingIOError:
                    if time.monotonic() > limit:
                        raise
                    time.sleep(0.01)
        else:
            c = socket.create_connection((host, port), timeout=5)
        c.setblocking(False)
        conns.append(c)
    print(json.dumps({"opened": len(conns)}), flush=True)
    closed = set()
    deadline = time.monotonic() + secs
    while len(closed) < n and time.monotonic() < deadline:
        live = [c for c in conns if c.fileno() not in closed]
        r, _, _ = select.select(live, [], [], max(0, deadline - time.monotonic()))
        for c in r:
            try:
                if c.recv(4096) == b"":
                    closed.add(c.fileno())
            except (ConnectionResetError, BlockingIOError):
                closed.add(c.fileno())
    print(json.dumps({"closed": len(closed)}))
    for c in conns:
        c.close()
    return 0


def hung_up(conns):
    """Connections the relay closed (POLLHUP), without reading them."""
    p = select.poll()
    for c in conns:
        p.register(c, select.POLLHUP)
    return sum(1 for _, ev in p.poll(0) if ev & (select.POLLHUP | select.POLLERR))


def noread(path, n, nbytes, ready, gofile, secs):
    import fcntl
    import termios
    # The reply echoes the request's id: a 60,000-byte id makes every
    # offer's reply as long, cheaply for both sides. Measured once on a
    # connection that reads.
    pad = "x" * 60000

    def offer(i, c):
        return json.dumps({"id": f"{pad}{i}", "cmd": "offer", "call_id": c,
                           "from_tag": "f", "media": [
                               {"type": "audio", "address": "192.0.2.10",
                                "rtp_port": 4000}]})
    probe = unix(path)
    probe.sendall((offer(0, "nr-probe") + "\n").encode())
    buf, got, deadline = b"", [], time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        got, buf, closed = read_lines(probe, buf, deadline)
    if not got or not got[0].get("ok"):
        print(f"noread: probe failed: {got}", file=sys.stderr)
        return 1
    qlen = len(json.dumps(got[0], separators=(",", ":"))) + 1
    k = max(1, nbytes // qlen)
    conns = []
    for c in range(n):
        s = unix(path)
        s.setblocking(False)
        # a new call, then offers again (re-INVITEs) of the same call
        lines = [offer(i, f"nr-{c}") for i in range(k)]
        conns.append([s, ("\n".join(lines) + "\n").encode()])
    # Send everything (the relay reads as it answers), then wait until it
    # has taken every byte: SIOCOUTQ is what the peer has not read yet.
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        left = 0
        for cw in conns:
            s, data = cw
            if data:
                try:
                    cw[1] = data[s.send(data):]
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    cw[1] = b""
            try:
                outq = fcntl.ioctl(s, termios.TIOCOUTQ, b"\0\0\0\0")
                left += len(cw[1]) + int.from_bytes(outq, "little")
            except OSError:
                pass
        if left == 0:
            break
        time.sleep(0.02)
    summary = {"conns": n, "offers_each": k, "reply_bytes": qlen,
               "unsent": left, "closed": hung_up([c[0] for c in conns])}
    with open(ready + ".tmp", "w") as f:
        json.dump(summary, f)
    os.rename(ready + ".tmp", ready)
    limit = time.monotonic() + secs
    while not os.path.exists(gofile) and time.monotonic() < limit:
        time.sleep(0.05)
    summary["closed"] = hung_up([c[0] for c in conns])
    print(json.dumps(summary))
    for c in conns:
        c[0].close()
    probe.close()
    return 0


def bigline(path, nbytes, secs):
    s = unix(path)
    s.setblocking(False)
    chunk = b"x" * 65536
    sent, buf, closed = 0, b"", False
    deadline = time.monotonic() + secs
    while not closed and time.monotonic() < deadline:
        w = [s] if sent < nbytes else []
        r, w, _ = select.select([s], w, [], max(0, deadline - time.monotonic()))
        if w:
            try:
                sent += s.send(chunk[:nbytes - sent])
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        if r:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                data = b""
            if data == b"":
                closed = True
            buf += data
    lines = [json.loads(l) for l in buf.split(b"\n") if l.strip()]
    print(json.dumps({"sent": sent, "replies": lines, "closed": closed}))
    return 0


def request(s, buf, line, deadline):
    """Send one line, read its reply (bounded); (reply or None, rest, closed)."""
    try:
        s.sendall(line)
    except (BrokenPipeError, ConnectionResetError):
        return None, buf, True
    while time.monotonic() < deadline:
        msgs, buf, closed = read_lines(s, buf, deadline)
        if msgs:
            return msgs[0], buf, closed
        if closed:
            return None, buf, True
    return None, buf, False


def sentidle(path, n, secs):
    # One after another, each answered before the next connects (a
    # flood of connections without a request would be evicted).
    conns, answered = [], 0
    deadline = time.monotonic() + 30
    for i in range(n):
        s = unix(path)
        reply, _, _ = request(s, b"", b'{"id":%d,"cmd":"ping"}\n' % i, deadline)
        answered += reply is not None and reply.get("pong") is True
        s.setblocking(False)
        conns.append(s)
    t0 = time.monotonic()
    print(json.dumps({"answered": answered}), flush=True)
    closed, last = set(), None
    deadline = t0 + secs
    while len(closed) < n and time.monotonic() < deadline:
        live = [c for c in conns if c.fileno() not in closed]
        r, _, _ = select.select(live, [], [], max(0, deadline - time.monotonic()))
        for c in r:
            try:
                if c.recv(4096) == b"":
                    closed.add(c.fileno())
            except (ConnectionResetError, BlockingIOError):
                closed.add(c.fileno())
            last = time.monotonic() - t0
    print(json.dumps({"answered": answered, "closed": len(closed),
                      "last_closed_after": last}))
    for c in conns:
        c.close()
    return 0


def poll(path, interval, secs):
    s = unix(path)
    buf, answered, closed, last = b"", 0, False, None
    end = time.monotonic() + secs
    sent = 0
    while time.monotonic() < end and not closed:
        sent += 1
        reply, buf, closed = request(s, buf, b'{"id":%d,"cmd":"status"}\n' % sent,
                                     time.monotonic() + 5)
        if reply is not None and reply.get("ok") is True:
            answered += 1
            last = reply.get("control")
        elif reply is None:
            closed = True
        time.sleep(interval)
    print(json.dumps({"sent": sent, "answered": answered, "closed": closed,
                      "control": last}))
    s.close()
    return 0


def main():
    mode = sys.argv[1]
    a = sys.argv[2:]
    if mode == "offers":
        return offers(a[0], int(a[1]), a[2])
    if mode == "slowsub":
        return slowsub(a[0], a[1], int(a[2]), float(a[3]))
    if mode == "idle":
        return idle(a[0], int(a[1]), int(a[2]), float(a[3]))
    if mode == "noread":
        return noread(a[0], int(a[1]), int(a[2]), a[3], a[4], float(a[5]))
    if mode == "unixidle":
        return idle(None, 0, int(a[1]), float(a[2]), path=a[0])
    if mode == "bigline":
        return bigline(a[0], int(a[1]), float(a[2]))
    if mode == "sentidle":
        return sentidle(a[0], int(a[1]), float(a[2]))
    if mode == "poll":
        return poll(a[0], float(a[1]), float(a[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
