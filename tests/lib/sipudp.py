#!/usr/bin/env python3
"""sipudp.py: tiny SIP-over-UDP helpers for the controller tests (issue 6).

  sipudp.py gw IP PORT MODEFILE
      A probed gateway: answers OPTIONS with the code in MODEFILE ("200",
      "503", ...) or not at all ("silent"); prints each request's method
      and Call-ID, one per line. Runs until killed (at most 120 s).
  sipudp.py sink IP PORT
      Reads and never answers; prints each request's method and Call-ID.
  sipudp.py options SRC-IP DST-IP DST-PORT [--count N] [--rate R]
      [--ua UA] [--pad BYTES] [--body BYTES] [--wait S] [--expect N]
      Sends N OPTIONS (distinct Call-IDs) at R per second and prints JSON
      {"sent": N, "answered": M, "codes": {"200": M, ...}}.
"""
import json, os, random, socket, sys, time


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


def reply(sock, addr, hdrs, code):
    phrase = {200: "OK", 503: "Service Unavailable", 404: "Not Found"}.get(code, "Whatever")
    out = ["SIP/2.0 %d %s" % (code, phrase)]
    for v in hdrs.get("via", []):
        out.append("Via: " + v)
    out.append("From: " + hdrs.get("from", [""])[0])
    out.append("To: " + hdrs.get("to", [""])[0] + ";tag=gw%d" % random.randint(1, 1 << 30))
    out.append("Call-ID: " + hdrs.get("call-id", [""])[0])
    out.append("CSeq: " + hdrs.get("cseq", [""])[0])
    out.append("Content-Length: 0")
    sock.sendto(("\r\n".join(out) + "\r\n\r\n").encode(), addr)


def read_mode(modefile, previous):
    """The mode file's word: "silent" or a status code. A test rewrites
    the file while we serve, so a read can see it empty or half written
    (the shell truncates before it writes): then the previous mode holds
    rather than the responder dying on int("")."""
    try:
        mode = open(modefile).read().strip()
    except OSError:
        return previous
    if mode == "silent" or (mode.isdigit() and 100 <= int(mode) <= 699):
        return mode
    return previous


def serve(ip, port, modefile):
    mode = "200"
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET,
                      socket.SOCK_DGRAM)
    s.bind((ip, port))
    s.settimeout(0.5)
    end = time.time() + 120
    while time.time() < end:
        try:
            data, addr = s.recvfrom(65536)
        except socket.timeout:
            continue
        first, hdrs = parse(data)
        if first.startswith("SIP/2.0"):
            continue
        method = first.split(" ", 1)[0]
        print(method, hdrs.get("call-id", ["?"])[0], flush=True)
        if modefile is None or method != "OPTIONS":
            continue
        mode = read_mode(modefile, mode)
        if mode != "silent":
            reply(s, addr, hdrs, int(mode))


def options(argv):
    src, dst, dport = argv[0], argv[1], int(argv[2])
    opts = {"--count": "1", "--rate": "50", "--ua": "trunkline-test", "--pad": "0",
            "--body": "0", "--wait": "1.5", "--expect": "0"}
    i = 3
    while i < len(argv):
        opts[argv[i]] = argv[i + 1]
        i += 2
    count, rate = int(opts["--count"]), float(opts["--rate"])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setblocking(False)
    lport = s.getsockname()[1]
    tag = "%x" % random.randint(1, 1 << 40)
    codes, answered = {}, set()

    def drain():
        while True:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                return
            first, hdrs = parse(data)
            cid = hdrs.get("call-id", [""])[0]
            parts = first.split(" ")
            if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) < 200:
                continue
            if cid in answered:
                continue
            answered.add(cid)
            codes[parts[1]] = codes.get(parts[1], 0) + 1

    body = "x" * int(opts["--body"])
    t0 = time.time()
    for n in range(count):
        cid = "%s-%d@%s" % (tag, n, src)
        msg = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK%s%d\r\n"
               "From: <sip:probe@%s>;tag=%s\r\nTo: <sip:%s:%d>\r\n"
               "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "User-Agent: %s\r\n" % (dst, dport, src, lport, tag, n, src, tag, dst, dport,
                                        cid, opts["--ua"]))
        if int(opts["--pad"]):
            msg += "X-Pad: %s\r\n" % ("p" * int(opts["--pad"]))
        if body:
            msg += "Content-Type: text/plain\r\n"
        msg += "Content-Length: %d\r\n\r\n%s" % (len(body), body)
        s.sendto(msg.encode(), (dst, dport))
        drain()
        delay = t0 + (n + 1) / rate - time.time()
        if delay > 0:
            time.sleep(delay)
    # --wait S after the last request; with --expect N, less once N
    # requests are answered
    end = time.time() + float(opts["--wait"])
    expect = int(opts["--expect"])
    while time.time() < end and (expect == 0 or len(answered) < expect):
        drain()
        time.sleep(0.02)
    print(json.dumps({"sent": count, "answered": len(answered), "codes": codes}))


if __name__ == "__main__":
    if sys.argv[1] == "gw":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "sink":
        serve(sys.argv[2], int(sys.argv[3]), None)
    elif sys.argv[1] == "options":
        options(sys.argv[2:])
    else:
        sys.exit(__doc__)
