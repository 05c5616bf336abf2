#!/bin/bash
# run-also: asan
#
# Malformed and oversized SIP does not crash the controller: garbage,
# truncated and header-less requests, a bad Content-Length, an INVITE
# from a trunk with broken SDP (488), a 60 KB UDP request, 200 KB over
# TCP. After each the controller still answers OPTIONS, and at the end a
# normal call still completes.
. "$(dirname "$0")/../lib/sip.sh"
sip_init
sip_relayd_start
sip_controller_start

cat >"$TL_TMP/fuzz.py" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
dst = ("127.0.0.1", port)

def udp(src, data, want=None, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.sendto(data, dst)
    got = b""
    try:
        while True:
            got = s.recv(65536)
            if want is None or got.startswith(want) or not got.startswith(b"SIP/2.0 1"):
                break
    except socket.timeout:
        pass
    s.close()
    return got

def options(tag):
    lp = 5090
    msg = ("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:%d;rport;branch=z9hG4bK%s\r\n"
           "From: <sip:probe@127.0.0.3>;tag=%s\r\nTo: <sip:127.0.0.1>\r\nCall-ID: %s@probe\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (port, lp, tag, tag, tag))
    r = udp("127.0.0.3", msg.encode(), b"SIP/2.0 200", 3.0)
    if not r.startswith(b"SIP/2.0 200"):
        print("no 200 to OPTIONS after", tag, repr(r[:80]))
        sys.exit(1)

def invite(branch, body, clen=None, extra=""):
    clen = len(body) if clen is None else clen
    return ("INVITE sip:441234567@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5099;rport;branch=z9hG4bK%s\r\n"
            "From: <sip:1@127.0.0.2>;tag=f%s\r\nTo: <sip:441234567@127.0.0.1>\r\nCall-ID: %s@fuzz\r\n"
            "CSeq: 1 INVITE\r\nContact: <sip:1@127.0.0.2:5099>\r\nMax-Forwards: 70\r\n%s"
            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s" % (port, branch, branch, branch, extra, clen, body)).encode()

cases = [
    ("garbage", b"\x00\xff\xfe garbage \r\n\r\n"),
    ("empty-lines", b"\r\n\r\n\r\n"),
    ("truncated", b"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2"),
    ("no-call-id", b"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5099;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n"),
    ("bad-version", b"INVITE sip:1@127.0.0.1 SIP/9.9\r\n\r\n"),
    ("bad-uri", invite("baduri", "").replace(b"sip:441234567@127.0.0.1", b"sip:@@@:::", 1)),
    ("clen-too-big", invite("clen", "v=0\r\n", 5000)),
    ("clen-negative", invite("neg", "", -5)),
    ("bad-sdp", invite("badsdp", "this is not sdp\r\n")),
    ("sdp-no-c", invite("noc", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")),
    ("sdp-17-streams", invite("many", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n" +
                                "".join("m=audio %d RTP/AVP 0\r\n" % (4000 + 2 * i) for i in range(17)))),
    ("huge-header", invite("huge", "", None, "X-Big: " + "a" * 60000 + "\r\n")),
    ("many-vias", invite("vias", "", None, "".join("Via: SIP/2.0/UDP 10.0.0.%d:5060;branch=z9hG4bKv%d\r\n" % (i % 250, i) for i in range(500)))),
    ("response-stray", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKnone\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n\r\n"),
]
for name, data in cases:
    src = "127.0.0.2" if b"127.0.0.2" in data[:400] else "127.0.0.3"
    r = udp(src, data)
    print(name, len(data), repr(r.split(b"\r\n")[0][:60]))
    options(name.replace("-", ""))

# the trunk's INVITEs with broken SDP must be refused with 488
# (sdptrap: a body that makes Sofia's own SDP parser take all memory)
for name in ("badsdp2", "noc2", "sdptrap"):
    body = {"badsdp2": "junk\r\n",
            "noc2": "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
            "sdptrap": "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=image 4000 udptl /0\r\n"}[name]
    r = udp("127.0.0.2", invite(name, body), b"SIP/2.0 488", 3.0)
    if not r.startswith(b"SIP/2.0 488"):
        print("expected 488 for", name, repr(r[:80])); sys.exit(1)

# 200 KB over TCP: the connection is dropped or answered, the daemon lives
t = socket.create_connection(dst, timeout=3)
try:
    t.sendall(invite("tcpbig", "", None, "X-Big: " + "b" * 200000 + "\r\n").replace(b"UDP", b"TCP"))
    t.recv(100)
except (socket.timeout, ConnectionError, OSError):
    pass
t.close()
options("aftertcp")
print("ok")
PY
python3 "$TL_TMP/fuzz.py" "$SIP_CTL_PORT" >"$TL_TMP/fuzz.out" 2>&1 || { cat "$TL_TMP/fuzz.out" >&2; tl_fail "the controller stopped answering"; }
tl_log "$(tr '\n' ' ' <"$TL_TMP/fuzz.out")"
kill -0 "$SIP_CTL_PID" || tl_fail "the controller died"
sip_ctl_ping || tl_fail "the control socket does not answer"

# and a normal call still works
sip_uas gw1 uas_answer.xml "$SIP_GW1_PORT"
sip_uac caller uac_call.xml 127.0.0.2 -d 200
sip_expect caller 30 "a normal call after the garbage"
sip_expect gw1 30 "the gateway's side of it"
tl_wait_for 10 "no call left" sip_no_calls
sip_controller_stop
tl_relayd_stop
tl_pass
