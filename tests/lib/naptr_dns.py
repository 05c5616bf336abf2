#!/usr/bin/env python3
# naptr_dns.py ADDRESS PORT ZONE-JSON: a tiny authoritative DNS server for
# the ENUM tests (standard library only). ZONE-JSON maps a name (no
# trailing dot) to NAPTR records [order, preference, flags, services,
# regexp]; NAPTR queries for those names are answered, anything else gets
# NXDOMAIN; a name mapped to "drop" is never answered (a dead server).
# Each query is printed ("QUERY name type") and flushed. Exits
# after 120 s at the latest.
import json
import socket
import struct
import sys
import time

addr, port, zone = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
zone = {k.lower().rstrip('.'): v for k, v in zone.items()}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
s.settimeout(1)
print("READY", flush=True)


def cstr(b):
    b = b.encode()
    return bytes([len(b)]) + b


def answer(q):
    qid, flags, qd = struct.unpack('!HHH', q[:6])
    off, labels = 12, []
    while q[off] != 0:
        n = q[off]
        labels.append(q[off + 1:off + 1 + n].decode('ascii', 'replace'))
        off += 1 + n
    qtype, = struct.unpack('!H', q[off + 1:off + 3])
    question = q[12:off + 5]
    name = '.'.join(labels).lower()
    print("QUERY", name, qtype, flush=True)
    if zone.get(name) == "drop":
        return None
    recs = zone.get(name) if qtype == 35 else None
    rcode = 0 if name in zone else 3
    out = struct.pack('!HHHHHH', qid, 0x8400 | (flags & 0x0100) | rcode, 1,
                      len(recs or []), 0, 0) + question
    for order, pref, fl, svc, rx in recs or []:
        rdata = struct.pack('!HH', order, pref) + cstr(fl) + cstr(svc) + \
            cstr(rx) + b'\0'
        out += struct.pack('!HHHIH', 0xC00C, 35, 1, 60, len(rdata)) + rdata
    return out


end = time.time() + 120
while time.time() < end:
    try:
        q, peer = s.recvfrom(4096)
    except socket.timeout:
        continue
    try:
        a = answer(q)
        if a is not None:
            s.sendto(a, peer)
    except (IndexError, struct.error, UnicodeError):
        print("BAD query from", peer, flush=True)
