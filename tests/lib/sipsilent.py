#!/usr/bin/env python3
"""sipsilent.py: a scanner's probe over UDP, for the drop-mode tests.

  sipsilent.py SRC-IP DST-IP DST-PORT [--wait S] [--methods M,M,...]
      [--repeat N]
  From one socket on SRC-IP, sends one request of each method (default
  INVITE with an SDP offer, OPTIONS, REGISTER, BYE, MESSAGE, INFO) and a
  datagram that is not SIP ("GARBAGE"), N times each (retransmissions:
  the same Call-ID, CSeq and branch), then reads for S seconds (default
  1.5: the stack's "100 Trying" comes at 200 ms) and prints JSON
  {"sent": n, "answers": ["SIP/2.0 100 Trying", ...]}.
"""
import argparse, json, random, socket, time


def request(method, src, lport, dst, dport):
    tag = random.randint(1, 1 << 30)
    body = ""
    if method == "INVITE":
        body = ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                "m=audio 40000 RTP/AVP 0\r\n" % (src, src))
    hdrs = [
        "%s sip:0900123456@%s:%d SIP/2.0" % (method, dst, dport),
        "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%d;rport" % (src, lport, tag),
        "From: <sip:100@%s>;tag=s%d" % (src, tag),
        "To: <sip:0900123456@%s>" % dst,
        "Call-ID: scan-%d@%s" % (tag, src),
        "CSeq: 1 %s" % method,
        "Contact: <sip:100@%s:%d>" % (src, lport),
        "Max-Forwards: 70",
        "User-Agent: probe",
    ]
    if body:
        hdrs.append("Content-Type: application/sdp")
    hdrs.append("Content-Length: %d" % len(body))
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--wait", type=float, default=1.5)
    p.add_argument("--methods", default="INVITE,OPTIONS,REGISTER,BYE,MESSAGE,INFO,GARBAGE")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.src, 0))
    lport = s.getsockname()[1]
    msgs = []
    for m in a.methods.split(","):
        if m == "GARBAGE":
            msgs.append(b"\x16\x03\x01 not SIP at all\r\n\r\n")
        else:
            msgs.append(request(m, a.src, lport, a.dst, a.port))
    sent = 0
    for _ in range(max(1, min(a.repeat, 10))):
        for d in msgs:
            s.sendto(d, (a.dst, a.port))
            sent += 1
        time.sleep(0.05)
    end = time.time() + a.wait
    answers = []
    while len(answers) < 1000:
        left = end - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        answers.append(data.decode("latin-1").split("\r\n", 1)[0])
    print(json.dumps({"sent": sent, "answers": answers}))


if __name__ == "__main__":
    main()
