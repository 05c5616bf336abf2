#!/usr/bin/env python3
"""siptcp.py: one connection attempt to a SIP TCP listener, for the
drop-mode tests.

  siptcp.py SRC-IP DST-IP DST-PORT [--wait S]
      Connects from SRC-IP (an ephemeral port) within S seconds (default
      1.5); once connected, sends an OPTIONS and reads the first line of
      the answer. Prints JSON {"connect": "connected" | "timeout" |
      "refused" | "error ...", "answer": "SIP/2.0 200 OK" or null}.
"""
import argparse, json, random, socket, time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--wait", type=float, default=1.5)
    a = p.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((a.src, 0))
    s.settimeout(a.wait)
    out = {"connect": None, "answer": None}
    try:
        s.connect((a.dst, a.port))
        out["connect"] = "connected"
    except socket.timeout:
        out["connect"] = "timeout"
    except ConnectionRefusedError:
        out["connect"] = "refused"
    except OSError as e:
        out["connect"] = "error " + str(e)
    if out["connect"] == "connected":
        lport = s.getsockname()[1]
        tag = random.randint(1, 1 << 30)
        req = "\r\n".join([
            "OPTIONS sip:%s:%d;transport=tcp SIP/2.0" % (a.dst, a.port),
            "Via: SIP/2.0/TCP %s:%d;branch=z9hG4bK%d" % (a.src, lport, tag),
            "From: <sip:probe@%s>;tag=t%d" % (a.src, tag),
            "To: <sip:%s:%d>" % (a.dst, a.port),
            "Call-ID: tcp-%d@%s" % (tag, a.src),
            "CSeq: 1 OPTIONS",
            "Max-Forwards: 70",
            "Content-Length: 0", "", ""])
        s.sendall(req.encode())
        buf, end = b"", time.time() + a.wait
        while b"\r\n" not in buf and time.time() < end:
            try:
                d = s.recv(4096)
            except socket.timeout:
                break
            if not d:
                break
            buf += d
        if buf:
            out["answer"] = buf.decode("latin-1").split("\r\n", 1)[0]
    s.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
