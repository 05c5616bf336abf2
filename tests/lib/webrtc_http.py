#!/usr/bin/python3
"""webrtc_http.py: the stand-in web server of tests/integration/
webrtc_chromium.sh (the controller's web listener is another piece of
work): serves tests/lib/webrtc_page.html, turns the browser's offer into
trunkline-relayd `offer`/`answer` requests (peer_transport RTP/AVP, the
SIP side a plain RTP endpoint) and the relay's reply into the browser's
answer SDP, and writes what the page reports to /result.

  webrtc_http.py --listen IP:PORT --sock S --call C --callee IP:PORT
                 --ifaces A,B --out FILE --secs N

Exits 0 once the page reported, 2 if it did not within N seconds.
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webrtc_peer import answer_sdp, ctl, offer_entry, sdp_attr  # noqa: E402

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "webrtc_page.html")
MAX_BODY = 64 * 1024


def make_handler(a, done, log):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            log.append(fmt % args)

        def reply(self, code, body, ctype="text/plain"):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.split("?")[0] != "/page.html":
                return self.reply(404, "not found")
            with open(PAGE) as f:
                self.reply(200, f.read(), "text/html; charset=utf-8")

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(min(n, MAX_BODY)).decode()

        def do_POST(self):
            if self.path == "/offer":
                sdp = self.body()
                entry = offer_entry(sdp)
                entry["peer_transport"] = "RTP/AVP"
                ip, port = a.callee.rsplit(":", 1)
                r1 = ctl(a.sock, {"cmd": "offer", "call_id": a.call,
                                  "from_tag": "web", "media": [entry],
                                  "interfaces": a.ifaces.split(",")})
                r2 = ctl(a.sock, {"cmd": "answer", "call_id": a.call,
                                  "from_tag": "web", "to_tag": "sip",
                                  "media": [{"type": "audio", "address": ip,
                                             "rtp_port": int(port)}]})
                log.append("offer reply %s; answer reply %s" % (r1, r2))
                if not (r1.get("ok") and r2.get("ok")):
                    return self.reply(502, json.dumps([r1, r2]))
                self.server.replies = {"offer_reply": r1, "answer_reply": r2,
                                       "browser_offer": sdp}
                return self.reply(200, answer_sdp(
                    r2["media"][0], sdp_attr(sdp, "mid") or "0"),
                    "application/sdp")
            if self.path == "/result":
                res = json.loads(self.body() or "{}")
                res.update(getattr(self.server, "replies", {}))
                with open(a.out + ".tmp", "w") as f:
                    json.dump(res, f)
                os.rename(a.out + ".tmp", a.out)
                self.reply(200, "ok")
                done.set()
                return None
            return self.reply(404, "not found")
    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--sock", required=True)
    p.add_argument("--call", required=True)
    p.add_argument("--callee", required=True)
    p.add_argument("--ifaces", default="caller,callee")
    p.add_argument("--out", required=True)
    p.add_argument("--secs", type=float, default=60)
    a = p.parse_args()
    ip, port = a.listen.rsplit(":", 1)
    done, log = threading.Event(), []
    srv = ThreadingHTTPServer((ip, int(port)), make_handler(a, done, log))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("listening", flush=True)
    ok = done.wait(a.secs)
    srv.shutdown()
    for line in log:
        print(line, file=sys.stderr)
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
