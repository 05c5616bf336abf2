#!/usr/bin/env python3
"""report.py RESULTS.json [--signaling SIG.json] [--readme README.md]

Turns a bench/media result into a markdown table (RESULTS.md) and two
gnuplot PNGs (RESULTS-pps.png: delivered packets/s against streams per
path; RESULTS-cpu.png: relay CPU per packet per path). With --readme, the
part of README.md between "<!-- bench:begin -->" and "<!-- bench:end -->"
is replaced by the headline table and the plots.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ORDER = ["rdrop", "fwd", "fwd_ct", "relayd-kmod", "relayd-nft", "relayd-userspace", "rtpengine"]
DESC = {
    "rdrop": "baseline: sender + one veth hop, dropped at the relay's ingress",
    "fwd": "plain kernel IPv4 forwarding (no rewrite), own namespaces, no relay table, no conntrack: the reference",
    "fwd_ct": "the same with conntrack switched on (one `ct state` rule): conntrack's own cost",
    "relayd-kmod": "trunkline-relayd, kmod backend",
    "relayd-nft": "trunkline-relayd, nft backend",
    "relayd-userspace": "trunkline-relayd, userspace backend",
    "rtpengine": "rtpengine (userspace mode, --table=-1)",
}


def order_key(p):
    return ORDER.index(p) if p in ORDER else len(ORDER)


def f(v, fmt="%.0f", none="–"):
    return none if v is None else fmt % v


def kpps(v):
    return "–" if v is None else "%.0fk" % (v / 1e3)


def pct(v):
    return "–" if v is None else "%.2f%%" % (100 * v)


def streams_label(r):
    if r["streams_run"] != r["streams"]:
        return "%d (%d)" % (r["streams"], r["streams_run"])
    return "%d" % r["streams"]


def cost_table(doc):
    """The one metric (bench/README.md): equal offered rate, per-process CPU."""
    rows = sorted(doc.get("eqrate_summary") or [],
                  key=lambda r: (r["streams"], order_key(r["path"])))
    if not rows:
        return "(no equal-rate runs in this result: --rate 0 or an older result)"
    out = ["| path | streams | offered pps | ns/pkt (median) | spread (min–max) | "
           "vs fwd, per repetition: median (spread) | max loss at this rate | reps |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %s | %s | %s | %s–%s | %s | %s%s | %d |" % (
            r["path"], streams_label(r), kpps(r["offered_pps"]), f(r["cost_ns_pkt"]),
            f(r["cost_ns_pkt_min"]), f(r["cost_ns_pkt_max"]), r["vs_fwd"]["text"],
            pct(r["loss_max"]), "" if r["below_lossfree"] else
            " (**above this path's loss-free rate: not comparable**)", r["reps"]))
    return "\n".join(out)


def main_table(doc):
    rows = sorted(doc["summary"], key=lambda r: (r["streams"], order_key(r["path"])))
    out = ["| path | streams | delivered pps (median, min–max) | vs fwd | loss | "
           "clean reps | foreign load CPU0/CPU1 | steal CPU0/CPU1 |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %s | %s (%s–%s) | %s | %s | %d/%d | %s/%s | %s/%s |" % (
            r["path"], streams_label(r), kpps(r["delivered_pps"]),
            kpps(r["delivered_pps_min"]), kpps(r["delivered_pps_max"]),
            f(r["pps_vs_fwd"], "%.2f"), pct(r["loss"]),
            r["clean_reps"], r["reps"], pct(r["foreign_cpu0"]).replace(".00", ""),
            pct(r["foreign_cpu1"]).replace(".00", ""),
            pct(r.get("steal_cpu0")), pct(r.get("steal_cpu1"))))
    return "\n".join(out)


def webrtc_row(w):
    """bench/webrtc's figure: WebRTC legs per core next to plain relaying
    (srtp-cost.sh, both measured in one run on one relayd)."""
    what = ("WebRTC legs per core (SRTP decrypt + encrypt per packet) next to "
            "plain relaying (bench/webrtc, one run)")
    if w is None or w.get("webrtc_legs_per_core") is None:
        return "| %s | – | not measured (%s) |" % (
            what, (w or {}).get("error", "bench/webrtc/srtp-cost.sh did not run"))
    return ("| %s | %.0f calls with a WebRTC leg, %.0f plain calls (%.2fx) | "
            "figure (%s, %.1f vs %.1f us CPU per relayed packet, %d pkt/s a call) |" % (
                what, w["webrtc_legs_per_core"], w["plain_calls_per_core"],
                w["legs_per_core_vs_plain"], w.get("srtp_profile", "?"),
                w["srtp_us_per_pkt"], w["plain_us_per_pkt"], w.get("pps_per_call", 100)))


def targets_table(doc, sig=None, webrtc=None):
    out = ["| target | value | met |", "|---|---|---|"]
    for t in doc["targets"]:
        if t["target"].startswith("signaling") and sig:
            t = dict(t, value=sig.get("max_rate_zero_failures"),
                     met=sig.get("target_met"), note=sig.get("note", ""))
        v = t["value"]
        vs = "–" if v is None else ("%.2f" % v if v < 100 else "%.0f" % v)
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        note = (" (%s)" % t["note"]) if t.get("note") else ""
        out.append("| %s | %s | %s%s |" % (t["target"], vs, met, note))
    if webrtc is not False:
        out.append(webrtc_row(webrtc))
    return "\n".join(out)


def install_table(doc):
    out = ["| path | streams | set-ups | offer+answer streams/s | latch+install s | "
           "install streams/s (median, min–max) | streams per relayd CPU-second | "
           "RSS kB | bytes/stream |", "|---|---|---|---|---|---|---|---|---|"]
    for i in sorted(doc["install"], key=lambda i: (i["streams"], order_key(i["path"]))):
        out.append("| %s | %d | %d | %s | %s | %s (%s–%s) | %s | %s | %s |" % (
            i["path"], i["streams"], i["reps"], f(i.get("offer_answer_streams_per_s")),
            f(i.get("latch_install_s"), "%.3f"), f(i.get("streams_per_s")),
            f(i.get("streams_per_s_min")), f(i.get("streams_per_s_max")),
            f(i.get("streams_per_relayd_cpu_s")), f(i.get("rss_kb")),
            f(i.get("bytes_per_stream"))))
    if doc["install"]:
        out.append("")
        out.append("relayd: %s. rtpengine: NG offer+answer (bencode/UDP, pipelined, one "
                   "client). Memory: RSS growth of the daemon over the set-up, per stream; "
                   "kernel memory (nft sets, conntrack) is not measured." % (
                       next((i["what"] for i in doc["install"] if i["path"].startswith("relayd")
                             and i.get("what")), "-")))
    return "\n".join(out)


def ladder_table(doc):
    if not doc.get("lossfree"):
        return "(no loss-free search in this run)"
    out = ["| path | highest rate with <0.1% loss and <0.1% delivered late (median) | per repetition | note |",
           "|---|---|---|---|"]
    for p in sorted(doc["lossfree"], key=order_key):
        v = doc["lossfree"][p]
        out.append("| %s | %s | %s | %s |" % (
            p, kpps(v["median_pps"]), ", ".join(kpps(x) for x in v["per_rep"]),
            "sender-limited: a lower bound" if v.get("sender_limited") else ""))
    return "\n".join(out)


def verify_table(doc):
    out = ["| path | streams | pps | result | received | lost | late | wrong source | missing streams |",
           "|---|---|---|---|---|---|---|---|---|"]
    for v in doc["verify"]:
        s = v.get("sink") or {}
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            v["path"], v.get("streams"), kpps(v.get("rate")),
            "ok" if v.get("ok") else "**FAILED** " + (v.get("error") or s.get("first_bad") or ""),
            s.get("received"), s.get("lost"), s.get("late"), s.get("bad_source"),
            s.get("streams_missing")))
    return "\n".join(out)


def gnuplot(doc, base):
    """Two PNGs; returns their paths (None if gnuplot is missing)."""
    if not shutil.which("gnuplot"):
        return None, None
    rows = doc["summary"]
    paths = sorted({r["path"] for r in rows if r["path"] != "rdrop"}, key=order_key)
    ns = sorted({r["streams"] for r in rows})
    tmp = tempfile.mkdtemp(prefix="tl-report.")
    dat_pps = os.path.join(tmp, "pps.dat")
    with open(dat_pps, "w") as fh:
        for p in paths:
            fh.write("# %s\n" % p)
            for r in sorted((r for r in rows if r["path"] == p), key=lambda r: r["streams"]):
                if r["delivered_pps"] is not None:
                    # plotted at the stream count that actually ran
                    fh.write("%d %f %f %f\n" % (r["streams_run"], r["delivered_pps"] / 1e3,
                                                r["delivered_pps_min"] / 1e3,
                                                r["delivered_pps_max"] / 1e3))
            fh.write("\n\n")
    dat_cpu = os.path.join(tmp, "cpu.dat")
    with open(dat_cpu, "w") as fh:
        fh.write("# path " + " ".join("N%d" % n for n in ns) + "\n")
        eq = doc.get("eqrate_summary") or []
        for p in paths:
            vals = []
            for n in ns:
                r = [x for x in eq if x["path"] == p and x["streams"] == n]
                v = r[0]["cost_ns_pkt"] if r and r[0]["cost_ns_pkt"] is not None else None
                vals.append("%f" % v if v is not None and v > 0 else "NaN")
            fh.write("%s %s\n" % (p, " ".join(vals)))
    png_pps, png_cpu = base + "-pps.png", base + "-cpu.png"

    def capped(n):
        runs = sorted({r["streams_run"] for r in rows if r["streams"] == n
                       and r["streams_run"] != n})
        return " (relays: %s)" % ",".join(str(x) for x in runs) if runs else ""
    title = "%s, %s, %s CPUs, %s" % (doc["host"], doc["started"][:10], doc["cpus"], doc["kernel"])
    plots = ", ".join(
        "'%s' index %d using 1:2:3:4 with yerrorlines lw 2 pt 7 title '%s'" % (dat_pps, i, p)
        for i, p in enumerate(paths))
    script = """
set terminal pngcairo size 900,540 noenhanced font ',10'
set output '%s'
set title 'Delivered packets/s vs streams actually run (flood, median and range) - %s'
set logscale x
set xlabel 'streams'
set ylabel 'delivered kpps'
set yrange [0:*]
set grid
set key outside right
set xtics (%s)
plot %s
set output '%s'
set title 'CPU per packet at an equal offered rate (generator + relay + ksoftirqd, ns, log scale) - %s'
unset logscale x
set logscale y
set yrange [*:*]
set xtics auto
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'ns/packet'
set xlabel 'path'
set xtics rotate by -20
plot %s
""" % (png_pps, title, ", ".join("'%d' %d" % (n, n) for n in sorted(
        set(ns) | {r["streams_run"] for r in rows})), plots, png_cpu, title,
       ", ".join("'%s' using %d:xtic(1) title '%d streams%s'" % (
                     dat_cpu, k + 2, n, capped(n))
                 for k, n in enumerate(ns)))
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if r.returncode != 0:
        print("report: gnuplot failed: %s" % r.stderr.strip()[:600], file=sys.stderr)
        return None, None
    return png_pps, png_cpu


def signaling_plot(sig, base):
    """calls/s offered against each daemon's CPU share and the failed calls."""
    if not sig or sig.get("skipped") or not sig.get("steps") or not shutil.which("gnuplot"):
        return None
    tmp = tempfile.mkdtemp(prefix="tl-report.")
    dat = os.path.join(tmp, "sig.dat")
    with open(dat, "w") as fh:
        for st in sig["steps"]:
            fh.write("%d %f %f %d\n" % (st["rate"], 100 * st["controller_cpu_share"],
                                        100 * st["relayd_cpu_share"], st["failed"]))
    png = base + "-signaling.png"
    script = """
set terminal pngcairo size 900,480 noenhanced font ',10'
set output '%s'
set title 'Signaling ramp (SIPp through controller + relayd): CPU share per daemon, failed calls'
set xlabel 'offered calls/s'
set ylabel '%% of one CPU'
set y2label 'failed calls'
set ytics nomirror
set y2tics
set y2range [0:*]
set yrange [0:*]
set grid
set key outside right
plot '%s' using 1:2 with linespoints lw 2 pt 7 title 'controller', \\
     '%s' using 1:3 with linespoints lw 2 pt 7 title 'relayd', \\
     '%s' using 1:4 axes x1y2 with impulses lw 4 title 'failed calls'
""" % (png, dat, dat, dat)
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if r.returncode != 0:
        print("report: gnuplot (signaling) failed: %s" % r.stderr.strip()[:400], file=sys.stderr)
        return None
    return png


def headline(doc, base, png_pps, png_cpu, rel, sig=None, webrtc=None):
    lines = ["Latest run: `%s` (%s, host %s, kernel %s, %s CPUs, commit %s%s). %s" % (
        rel(base + ".json"), doc["started"], doc["host"], doc["kernel"], doc["cpus"],
        doc["commit"], ("; " + doc["label"]) if doc.get("label") else "",
        doc["shared_machine"][:1].upper() + doc["shared_machine"][1:] + ".")
        + " **Load average at the end of the run: %s on %s CPUs** (other users of "
        "the machine): absolute figures move with it; compare ratios within this run." % (
            " ".join(doc.get("loadavg_at_end", [])), doc["cpus"])]
    lines += ["", "CPU per packet, every path at the same offered rate (the metric of "
              "[bench/README.md](%s)):" % rel(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")),
              "", cost_table(doc), "",
              "Flood: the rate each path delivers (kernel paths on veth never drop, so "
              "this is their loss-free rate; the userspace paths' loss-free rates are "
              "in the full tables):", "", main_table(doc), "",
              "", targets_table(doc, sig, webrtc), ""]
    if png_pps:
        lines.append("![delivered packets/s vs streams](%s)" % rel(png_pps))
    if png_cpu:
        lines.append("![relay CPU per packet](%s)" % rel(png_cpu))
    lines.append("")
    lines.append("Full tables (loss-free rates, install rate, memory, per-stream "
                 "verification, skipped paths): [%s](%s)." % (rel(base + ".md"), rel(base + ".md")))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--signaling")
    ap.add_argument("--readme")
    ap.add_argument("--webrtc", help="bench/webrtc/srtp-cost.sh's JSON")
    a = ap.parse_args()
    with open(a.results) as fh:
        doc = json.load(fh)
    sig = None
    if a.signaling and os.path.exists(a.signaling):
        with open(a.signaling) as fh:
            sig = json.load(fh)
    webrtc = False          # no row unless asked (older callers)
    if a.webrtc:
        webrtc = None
        if os.path.exists(a.webrtc):
            try:
                with open(a.webrtc) as fh:
                    webrtc = json.load(fh)
            except ValueError as e:
                webrtc = {"error": "%s: %s" % (a.webrtc, e)}
    base = a.results[:-5] if a.results.endswith(".json") else a.results
    png_pps, png_cpu = gnuplot(doc, base)
    here = os.path.dirname(os.path.abspath(base))

    def rel_md(p):
        return os.path.relpath(p, here)

    md = ["# bench/media: %s, %s" % (doc["host"], doc["started"]), "",
          "Kernel %s, %s CPUs, commit %s, RLIMIT_NOFILE %s, checksum offload %s." % (
              doc["kernel"], doc["cpus"], doc["commit"], doc["rlimit_nofile"],
              doc["checksum_offload"]),
          "relayd: `%s`%s." % (doc.get("relayd"), (" (%s)" % doc["label"]) if doc.get("label") else ""),
          "CPU accounting: %s." % doc["cpu_accounting"],
          "Metric: %s." % doc.get("metric", "(older result: flood CPU, see its method)"),
          "Method: %s." % doc["method"],
          "Parameters: `%s`." % json.dumps(doc["params"]),
          "**Shared machine:** %s; load average at the end: %s." % (
              doc["shared_machine"], " ".join(doc["loadavg_at_end"])), "",
          "## CPU per packet at an equal offered rate (the metric, bench/README.md)", "",
          cost_table(doc), "",
          "## Flood: delivered packets/s and loss (each path's rate, not its cost)", "",
          main_table(doc), "",
          "Paths: " + "; ".join("`%s` %s" % (p, DESC[p]) for p in ORDER if p in DESC) + ".",
          "Ratios are medians of per-repetition ratios against `fwd` (same repetition, "
          "same stream count). A stream count in parentheses is what actually ran.", ""]
    if png_pps:
        md += ["![pps](%s)" % rel_md(png_pps), ""]
    if png_cpu:
        md += ["![cpu](%s)" % rel_md(png_cpu), ""]
    md += ["## Targets", "", targets_table(doc, sig, webrtc), "",
           "## Loss-free rate (offered-rate ladder, userspace paths)", "", ladder_table(doc), "",
           "## Install rate and memory", "", install_table(doc), "",
           "## Per-stream verification (rtpsink: source address/port, port, sequence of every packet)",
           "", verify_table(doc), "",
           "## Skipped and capped", ""]
    for s in doc["skipped"]:
        md.append("- `%s`%s: %s" % (s["path"], " at %s streams" % s["streams"]
                                    if s.get("streams") else "", s["reason"]))
    for n in doc["notes"]:
        md.append("- %s" % n)
    md.append("- kmod slot: %s; %s" % (doc["kmod_slot"]["status"], doc["kmod_slot"]["how"]))
    if sig:
        png_sig = signaling_plot(sig, base)
        md += ["", "## Signaling (bench/signaling)", "", "- %s" % sig.get("note", "")]
        if not sig.get("skipped"):
            md += ["", "| calls/s | calls | successful | failed | controller ns/call | "
                   "relayd ns/call | controller CPU | relayd CPU |",
                   "|---|---|---|---|---|---|---|---|"]
            for st in sig.get("steps", []):
                md.append("| %d | %d | %d | %d | %s | %s | %s | %s |" % (
                    st["rate"], st["calls"], st["successful"], st["failed"],
                    f(st.get("controller_ns_per_call")), f(st.get("relayd_ns_per_call")),
                    pct(st.get("controller_cpu_share")), pct(st.get("relayd_cpu_share"))))
        if png_sig:
            md += ["", "![signaling](%s)" % rel_md(png_sig)]
    with open(base + ".md", "w") as fh:
        fh.write("\n".join(md) + "\n")
    print("report: wrote %s.md%s" % (base, ", %s, %s" % (png_pps, png_cpu) if png_pps else
                                     " (gnuplot not installed: no plots)"))

    if a.readme:
        rdir = os.path.dirname(os.path.abspath(a.readme))
        text = open(a.readme).read()
        b, e = "<!-- bench:begin -->", "<!-- bench:end -->"
        if b not in text or e not in text:
            print("report: %s has no %s/%s markers; not updated" % (a.readme, b, e),
                  file=sys.stderr)
            return 1
        head, rest = text.split(b, 1)
        _, tail = rest.split(e, 1)
        block = headline(doc, base, png_pps, png_cpu,
                         lambda p: os.path.relpath(os.path.abspath(p), rdir), sig,
                         webrtc)
        with open(a.readme, "w") as fh:
            fh.write(head + b + "\n" + block + "\n" + e + tail)
        print("report: updated %s" % a.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
