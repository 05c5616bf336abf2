#!/usr/bin/env python3
"""sipraw.py: one hand-made SIP request over UDP, for hostile tests.

  sipraw.py SRC-IP DST-IP DST-PORT --method M --call-id ID --from-tag T
      [--to-tag T] [--cseq N] [--ruri URI] [--wait S]
  Sends the request once from SRC-IP (an ephemeral port), then reads
  for S seconds (default 3) and prints JSON {"codes": [...], "first": s
  or null}: every response that came back and when the first did. With
  no --to-tag the To header carries none (what a dialog hijacker sends).
"""
import argparse, json, random, socket, time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--method", default="BYE")
    p.add_argument("--call-id", required=True)
    p.add_argument("--from-tag", required=True)
    p.add_argument("--to-tag")
    p.add_argument("--cseq", type=int, default=2)
    p.add_argument("--ruri")
    p.add_argument("--wait", type=float, default=3.0)
    a = p.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    lport = s.getsockname()[1]
    ruri = a.ruri or "sip:441234567@%s:%d" % (a.dst, a.port)
    to = "<sip:441234567@%s:%d>" % (a.dst, a.port)
    if a.to_tag:
        to += ";tag=" + a.to_tag
    body = ""
    hdrs = [
        "%s %s SIP/2.0" % (a.method, ruri),
        "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%d" % (a.src, lport, random.randint(1, 1 << 30)),
        "From: <sip:sipp@%s:%d>;tag=%s" % (a.src, lport, a.from_tag),
        "To: " + to,
        "Call-ID: " + a.call_id,
        "CSeq: %d %s" % (a.cseq, a.method),
        "Contact: <sip:sipp@%s:%d>" % (a.src, lport),
        "Max-Forwards: 70",
        "Content-Length: %d" % len(body),
    ]
    s.sendto(("\r\n".join(hdrs) + "\r\n\r\n" + body).encode(), (a.dst, a.port))
    t0 = time.time()
    end = t0 + a.wait
    codes, first = [], None
    while True:
        left = end - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        line = data.decode("latin-1").split("\r\n", 1)[0]
        if line.startswith("SIP/2.0 "):
            codes.append(int(line.split()[1]))
            if first is None:
                first = round(time.time() - t0, 3)
    print(json.dumps({"codes": codes, "first": first}))


if __name__ == "__main__":
    main()
