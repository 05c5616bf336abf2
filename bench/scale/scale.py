#!/usr/bin/env python3
"""scale.py: many concurrent streams in one relayd whose fd limit is far
below four sockets per stream (bench/scale/scale.sh sets it all up).

Streams are offered and answered in waves over the control socket
(pipelined requests), each learned by one packet per leg from the peers'
SDP addresses (an exact match latches at once), and the wave waits until
the kernel backend carries it and relayd has closed its sockets
(stats.streams_without_sockets). Then:
  - relayd's RSS and fds with every stream in the kernel;
  - media on a sample of streams, both ways, checked per packet: each
    arrives once, from that stream's relay port, with its stream id and
    sequence number;
  - no datagram reached a socket of the relay namespace meanwhile.
Prints one JSON object; exit 0 when every check passed.
"""
import argparse
import ctypes
import json
import os
import random
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_socket(ns, bind):
    """A UDP socket created in network namespace ns (/run/netns/ns)."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        s.bind(bind)
        s.setblocking(False)
    finally:
        _libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)
    return s


class Control:
    """Pipelined JSON lines over relayd's control socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def many(self, reqs, chunk=500):
        """Send reqs in chunks (relayd caps unread replies); replies in order."""
        out = []
        for i in range(0, len(reqs), chunk):
            part = reqs[i:i + chunk]
            self.s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in part))
            for _ in part:
                rep = self._line()
                if not rep.get("ok"):
                    raise RuntimeError("request failed: %s" % rep)
                out.append(rep)
        return out

    def one(self, req):
        return self.many([req])[0]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def udp_in(pid):
    """Udp InDatagrams + NoPorts of relayd's namespace."""
    with open("/proc/%d/net/snmp" % pid) as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    return int(rows[1][1]) + int(rows[1][2])


def pkt(sid, seq):
    # RTP v2, PT 0; the SSRC carries the stream id, the payload both again
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq, sid) + \
        b"TLSC" + struct.pack("!II", sid, seq) + b"\0" * 148


def drain(sock, deadline_s=0.0):
    n = 0
    end = time.monotonic() + deadline_s
    while True:
        try:
            sock.recv(2048)
            n += 1
        except BlockingIOError:
            if time.monotonic() >= end:
                return n
            time.sleep(0.001)


def send_all(sock, dsts, payloads, rate):
    """Send payloads[i] to dsts[i], paced to `rate` packets/s."""
    t0 = time.monotonic()
    for i, (d, p) in enumerate(zip(dsts, payloads)):
        while True:
            try:
                sock.sendto(p, d)
                break
            except BlockingIOError:
                time.sleep(0.0005)
        if rate and i % 256 == 255:
            ahead = (i + 1) / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)


def wave(ctl, a, first, n, k, caller, callee, ips_a, ips_b):
    offers = [{"cmd": "offer", "call_id": "s%d" % i, "from_tag": "f%d" % i,
               "interfaces": ["c%d" % (i % k), "e%d" % (i % k)],
               "media": [{"type": "audio", "address": caller[0],
                          "rtp_port": caller[1]}]}
              for i in range(first, first + n)]
    for i, rep in zip(range(first, first + n), ctl.many(offers)):
        a.b[i] = (ips_b[i % k], rep["media"][0]["rtp_port"])
    answers = [{"cmd": "answer", "call_id": "s%d" % i, "from_tag": "f%d" % i,
                "to_tag": "t%d" % i,
                "media": [{"type": "audio", "address": callee[0],
                           "rtp_port": callee[1]}]}
               for i in range(first, first + n)]
    for i, rep in zip(range(first, first + n), ctl.many(answers)):
        a.a[i] = (ips_a[i % k], rep["media"][0]["rtp_port"])


class Ports:
    def __init__(self, n):
        self.a = [None] * n     # relay A leg (caller side) address
        self.b = [None] * n


def wait_carried(ctl, want, timeout, csock, esock):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        drain(csock)
        drain(esock)
        st = ctl.one({"cmd": "stats"})
        if st["streams_without_sockets"] >= want and st["sockets"] == 0:
            return st
        time.sleep(0.02)
    raise RuntimeError("timed out: %d of %d streams carried without sockets"
                       % (st["streams_without_sockets"], want))


def verify(tx, rx, dsts, srcs, sample, count, rate, timeout):
    """count packets per sampled stream tx -> relay -> rx, checked each."""
    seen = {}
    bad = 0
    order = [(sid, seq) for seq in range(count) for sid in sample]
    send_all(tx, [dsts[sid] for sid, _ in order],
             [pkt(sid, seq) for sid, seq in order], rate)
    end = time.monotonic() + timeout
    want = len(order)
    while len(seen) < want and time.monotonic() < end:
        try:
            data, src = rx.recvfrom(2048)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        if len(data) < 20 or data[12:16] != b"TLSC":
            bad += 1
            continue
        sid, seq = struct.unpack("!II", data[16:24])
        if sid >= len(srcs) or src != srcs[sid] or (sid, seq) in seen:
            bad += 1
            continue
        seen[(sid, seq)] = True
    bad += drain(rx, 0.2)       # late duplicates or strays
    return {"sent": want, "received": len(seen), "bad": bad}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--streams", type=int, default=100000)
    ap.add_argument("--wave", type=int, default=3000)
    ap.add_argument("--ips-a", required=True)
    ap.add_argument("--ips-b", required=True)
    ap.add_argument("--ns-caller", required=True)
    ap.add_argument("--ns-callee", required=True)
    ap.add_argument("--caller", default="10.0.1.2:7000")
    ap.add_argument("--callee", default="10.0.2.2:9000")
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--rate", type=float, default=20000)
    args = ap.parse_args()
    ips_a = args.ips_a.split(",")
    ips_b = args.ips_b.split(",")
    k = len(ips_a)
    caller = (args.caller.split(":")[0], int(args.caller.split(":")[1]))
    callee = (args.callee.split(":")[0], int(args.callee.split(":")[1]))
    csock = netns_socket(args.ns_caller, caller)
    esock = netns_socket(args.ns_callee, callee)
    ctl = Control(args.sock)

    res = {"streams": args.streams, "wave": args.wave, "interfaces": 2 * k}
    res["rss_kib_start"] = rss_kib(args.pid)
    res["fds_start"] = nfds(args.pid)
    ports = Ports(args.streams)
    t0 = time.monotonic()
    max_fds = 0
    t_ctl = t_learn = 0.0
    for first in range(0, args.streams, args.wave):
        n = min(args.wave, args.streams - first)
        t1 = time.monotonic()
        wave(ctl, ports, first, n, k, caller, callee, ips_a, ips_b)
        t_ctl += time.monotonic() - t1
        max_fds = max(max_fds, nfds(args.pid))
        # one packet per leg from its SDP address: learned (exact match)
        ids = range(first, first + n)
        send_all(csock, [ports.a[i] for i in ids], [pkt(i, 0) for i in ids],
                 args.rate)
        send_all(esock, [ports.b[i] for i in ids], [pkt(i, 0) for i in ids],
                 args.rate)
        wait_carried(ctl, first + n, 60, csock, esock)
    res["setup_s"] = round(time.monotonic() - t0, 2)
    res["setup_control_s"] = round(t_ctl, 2)
    res["setup_learn_s"] = round(res["setup_s"] - t_ctl, 2)
    res["offers_per_s"] = round(args.streams / res["setup_s"], 1)
    drain(csock, 0.3)
    drain(esock, 0.3)
    st = ctl.one({"cmd": "stats"})
    res["relay_streams"] = st["streams"]
    res["relay_sockets"] = st["sockets"]
    res["streams_without_sockets"] = st["streams_without_sockets"]
    res["rebind_failures"] = st["rebind_failures"]
    res["fds_max_during_setup"] = max_fds
    res["fds_all_in_kernel"] = nfds(args.pid)
    res["rss_kib_all_in_kernel"] = rss_kib(args.pid)
    res["bytes_per_stream"] = round(
        (res["rss_kib_all_in_kernel"] - res["rss_kib_start"]) * 1024.0 /
        args.streams, 1)
    with open("/proc/%d/limits" % args.pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                res["rlimit_nofile"] = int(line.split()[3])

    sample = sorted(random.Random(1).sample(range(args.streams),
                                            min(args.sample, args.streams)))
    u0 = udp_in(args.pid)
    res["media_a_to_b"] = verify(csock, esock, ports.a, ports.b, sample,
                                 args.count, args.rate, 30)
    res["media_b_to_a"] = verify(esock, csock, ports.b, ports.a, sample,
                                 args.count, args.rate, 30)
    res["datagrams_to_relay_sockets"] = udp_in(args.pid) - u0
    ok = (res["relay_streams"] == args.streams and res["relay_sockets"] == 0
          and res["datagrams_to_relay_sockets"] == 0 and
          all(res[m]["received"] == res[m]["sent"] and res[m]["bad"] == 0
              for m in ("media_a_to_b", "media_b_to_a")))
    res["ok"] = ok
    print(json.dumps(res))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
