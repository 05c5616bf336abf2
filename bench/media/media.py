#!/usr/bin/env python3
"""bench/media: media forwarding benchmark of trunkline-relayd, side by side
with plain kernel IPv4 forwarding and rtpengine (userspace mode).

Topology (three network namespaces created by this script, unique names,
deleted on exit):

  caller ns             relay ns                           callee ns
  10.88.1.2 (c0) --- (r1) 10.88.1.1 | 10.88.2.1 (r2) --- (e0) 10.88.2.2
  rtpgen (CPU0)         relayd / rtpengine (CPU1),         drop sink: nft netdev
                        or kernel forwarding (softirq      ingress counter on e0;
                        on CPU0, in the sender's context)  app sink: rtpsink

Method (bench/README.md, "The per-packet metric" and "Method notes"):
  * every path is measured in every repetition, interleaved (A B C A B C),
    so that load from other users of the machine hits all paths alike;
    results are medians over repetitions, ratios are taken within one
    repetition (same N) and then their median;
  * a run: warm-up, then a window opened/closed with SIGUSR1/SIGUSR2 on the
    generator, /proc/stat and the relay's CPU time read at both ends, the
    drop sink's counters read at both ends (delivered pps counts what
    arrives inside the window: a userspace relay's socket queues cannot
    flatter it), then a drain; loss is over the whole run;
  * relay cost (ns/pkt) = CPU0 softirq per delivered packet minus the same
    for `rdrop` (counter+drop at the relay's ingress: the sender plus one
    veth hop), plus the relay process's CPU time per packet (userspace);
  * the app sink (rtpsink --flow-file) checks per stream the source address
    and port, arrival port and sequence of every packet, in a short paced
    verification run per path and stream count.

Outputs one JSON document (--out); bench/report.py turns it into the
markdown table and the gnuplot plots. `media.py --resummarize FILE`
recomputes a document's medians, ratios and targets from its raw runs.
"""
import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import ng  # noqa: E402

CALLER_IP, RELAY_A_IP, RELAY_B_IP, CALLEE_IP = (
    "10.88.1.2", "10.88.1.1", "10.88.2.1", "10.88.2.2")
CALLER_PORT0 = 30000        # caller sockets bind 30000 + 2k
CALLER_SOCKETS = 256        # at most; FINDINGS pitfall 5: not one source port
STREAMS_PER_SOCKET = 32     # for all, but sendmmsg batches of 32 per socket
CALLEE_PORT0 = 5000         # callee ports 5000 + 2k
CALLEE_PORTS = 16
SSRC_BASE = 0x1000
PKT_SIZE = 172
RDROP_PORT0 = 60000
# Each relayd instance gets its own port range in the relay namespace.
RELAYD_PORT_BASE = {"userspace": 10000, "nft": 20000, "kmod": 30000}
RTPE_PORTS = (40000, 59998)
RTPE_NG_PORT = 2223
RELAYD_FIXED_FDS = 64 + 256   # relayd/main.c raise_nofile(): 64 + RELAYD_MAX_CONNS
RTPE_FIXED_FDS = 400          # threads, epoll, timers, logging; conservative

LOG_T0 = time.monotonic()


def log(msg):
    sys.stderr.write("[%7.1fs] %s\n" % (time.monotonic() - LOG_T0, msg))
    sys.stderr.flush()


def sh(*cmd, check=True, capture=True, input=None, timeout=60):
    r = subprocess.run(cmd, capture_output=capture, text=True, input=input,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                (r.stderr or "").strip()[:500]))
    return r


def caller_sockets(n):
    return max(1, min(CALLER_SOCKETS, n // STREAMS_PER_SOCKET))


def caller_port(i, n):
    return CALLER_PORT0 + 2 * (i % caller_sockets(n))


def callee_port(i):
    return CALLEE_PORT0 + 2 * (i % CALLEE_PORTS)


# ---------------------------------------------------------------- CPU time

def read_proc_stat():
    """Per CPU: dict of jiffies (USER_HZ) by field."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                v = [int(x) for x in p[1:9]]
                out[int(p[0][3:])] = dict(zip(
                    ("user", "nice", "system", "idle", "iowait", "irq",
                     "softirq", "steal"), v))
    return out


HZ = os.sysconf("SC_CLK_TCK")


def stat_delta(a, b, cpu):
    d = {k: (b[cpu][k] - a[cpu][k]) * 1e9 / HZ for k in a[cpu]}
    # steal (the hypervisor ran someone else) is not busy time of ours or
    # anybody's in this guest; it is kept apart as a noise indicator
    d["busy"] = sum(d[k] for k in ("user", "nice", "system", "irq",
                                   "softirq"))
    return d


def proc_cpu_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat: ns resolution;
    includes softirq work that ran in the task's context)."""
    if pid is None:
        return 0
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return 0
    return total


def wait_handler(proc, sigs, limit=10.0):
    """Wait until proc (ip netns exec / taskset exec into the tool, same
    pid) catches sigs: a SIGUSR1 before that would kill it."""
    want = 0
    for sg in sigs:
        want |= 1 << (int(sg) - 1)
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            return
        try:
            with open("/proc/%d/status" % proc.pid) as f:
                for line in f:
                    if line.startswith("SigCgt:") and \
                            int(line.split()[1], 16) & want == want:
                        return
        except OSError:
            return
        time.sleep(0.005)
    raise RuntimeError("pid %d did not install its signal handlers" % proc.pid)


def ksoftirqd_pids():
    """cpu -> pid of ksoftirqd/cpu: the kernel's receive work spills into
    it under load; that is our work, not another user's."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith("ksoftirqd/"):
                out[int(comm.split("/")[1])] = int(d)
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def perf_available():
    if not shutil.which("perf"):
        return False, "perf not installed"
    r = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"],
                       capture_output=True, text=True)
    if r.returncode != 0 or "not supported" in r.stderr or "<not" in r.stderr:
        return False, "perf: hardware counters (instructions) not supported here"
    return True, "perf instructions counter available (not used yet)"


# ---------------------------------------------------------------- topology

class Topo:
    def __init__(self, tmp, suffix=""):
        tag = "tlb%dx%d%s" % (os.getpid(), int(time.time()) % 10000, suffix)
        self.caller, self.relay, self.callee = (
            tag + "-caller", tag + "-relay", tag + "-callee")
        self.tmp = tmp
        self.created = []

    def up(self):
        for ns in (self.caller, self.relay, self.callee):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self._veth(self.caller, "c0", CALLER_IP, self.relay, "r1", RELAY_A_IP)
        self._veth(self.callee, "e0", CALLEE_IP, self.relay, "r2", RELAY_B_IP)
        sh("ip", "-n", self.caller, "route", "add", "default", "via", RELAY_A_IP)
        sh("ip", "-n", self.callee, "route", "add", "default", "via", RELAY_B_IP)
        for ns in (self.caller, self.relay, self.callee):
            self.ns_exec(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
                         "net.ipv4.conf.default.rp_filter=0")
        self.ns_exec(self.relay, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # relayd's nft backend reads per-flow counters from conntrack and
        # refuses to start without accounting (per namespace).
        self.ns_exec(self.relay, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1",
                     check=False)
        # Static neighbours: no ARP in the measurement (the drop sink drops
        # only UDP, but a neighbour miss must never be what we measure).
        self._neigh(self.caller, "c0", RELAY_A_IP, self.relay, "r1")
        self._neigh(self.relay, "r1", CALLER_IP, self.caller, "c0")
        self._neigh(self.relay, "r2", CALLEE_IP, self.callee, "e0")
        self._neigh(self.callee, "e0", RELAY_B_IP, self.relay, "r2")
        # Full checksums on the wire (FINDINGS pitfall 7): every rewrite must
        # keep them right and the callee verifies them in software.
        self.csum = "on"
        if shutil.which("ethtool"):
            a = self.ns_exec(self.caller, "ethtool", "-K", "c0", "tx", "off",
                             check=False)
            b = self.ns_exec(self.callee, "ethtool", "-K", "e0", "rx", "off",
                             check=False)
            if a.returncode == 0 and b.returncode == 0:
                self.csum = "off (caller tx, callee rx)"
        log("namespaces %s, %s, %s up (checksum offload %s)" % (
            self.caller, self.relay, self.callee, self.csum))

    def _veth(self, ns1, if1, ip1, ns2, if2, ip2):
        sh("ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer",
           "name", if2, "netns", ns2)
        sh("ip", "-n", ns1, "addr", "add", ip1 + "/24", "dev", if1)
        sh("ip", "-n", ns2, "addr", "add", ip2 + "/24", "dev", if2)
        sh("ip", "-n", ns1, "link", "set", if1, "up")
        sh("ip", "-n", ns2, "link", "set", if2, "up")

    def _neigh(self, ns, dev, ip, peer_ns, peer_dev):
        mac = json.loads(sh("ip", "-j", "-n", peer_ns, "link", "show",
                            peer_dev).stdout)[0]["address"]
        sh("ip", "-n", ns, "neigh", "replace", ip, "lladdr", mac, "dev", dev,
           "nud", "permanent")

    def ns_exec(self, ns, *cmd, check=True, input=None, timeout=60):
        return sh("ip", "netns", "exec", ns, *cmd, check=check, input=input,
                  timeout=timeout)

    def nft(self, ns, script):
        return self.ns_exec(ns, "nft", "-f", "-", input=script)

    def down(self):
        for ns in self.created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created = []


# ---------------------------------------------------------------- sinks

SINK_TABLE = """table netdev tlbsink {
    counter good_relay { }
    counter good_fwd { }
    counter good_rdrop { }
    counter c_all { }
    chain in {
        type filter hook ingress device "e0" priority 0; policy accept;
        ip daddr %(callee)s udp dport %(p0)d-%(p1)d ip saddr %(rb)s counter name "good_relay"
        ip daddr %(callee)s udp dport %(p0)d-%(p1)d ip saddr %(caller)s counter name "good_fwd"
        ip protocol udp counter name "c_all" drop
    }
}
"""

RDROP_TABLE = """table netdev tlbrdrop {
    counter good_rdrop { }
    chain in {
        type filter hook ingress device "r1" priority 0; policy accept;
        ip daddr %(ra)s udp dport %(p0)d-%(p1)d counter name "good_rdrop" drop
    }
}
"""


def nft_counters(topo, ns, table):
    r = topo.ns_exec(ns, "nft", "-j", "list", "counters", "table", "netdev",
                     table, check=False)
    out = {}
    if r.returncode != 0:
        return out
    for item in json.loads(r.stdout).get("nftables", []):
        c = item.get("counter")
        if c:
            out[c["name"]] = c["packets"]
    return out


class Sinks:
    def __init__(self, topo):
        self.topo = topo

    def drop_on(self):
        self.topo.ns_exec(self.topo.callee, "nft", "delete", "table", "netdev",
                          "tlbsink", check=False)
        self.topo.nft(self.topo.callee, SINK_TABLE % {
            "callee": CALLEE_IP, "rb": RELAY_B_IP, "caller": CALLER_IP,
            "p0": CALLEE_PORT0, "p1": CALLEE_PORT0 + 2 * CALLEE_PORTS})

    def drop_off(self):
        self.topo.ns_exec(self.topo.callee, "nft", "delete", "table", "netdev",
                          "tlbsink", check=False)

    def rdrop_on(self):
        self.topo.nft(self.topo.relay, RDROP_TABLE % {
            "ra": RELAY_A_IP, "p0": RDROP_PORT0, "p1": RDROP_PORT0 + 4095})

    def rdrop_off(self):
        self.topo.ns_exec(self.topo.relay, "nft", "delete", "table", "netdev",
                          "tlbrdrop", check=False)

    def read(self, path_kind):
        """(timestamp, good, all) for the counter that counts this path."""
        t0 = time.monotonic()
        if path_kind == "rdrop":
            c = nft_counters(self.topo, self.topo.relay, "tlbrdrop")
            good = allc = c.get("good_rdrop", 0)
        else:
            c = nft_counters(self.topo, self.topo.callee, "tlbsink")
            good = c.get("good_fwd" if path_kind == "fwd" else "good_relay", 0)
            allc = c.get("c_all", 0)
        t1 = time.monotonic()
        return (t0 + t1) / 2, good, allc


# ---------------------------------------------------------------- paths

class Path:
    """One way of getting packets from the caller to the callee."""
    name = "?"
    kind = "relay"        # "rdrop", "fwd" or "relay"
    userspace = False
    pid = None            # the relay process, if any
    topo = None           # own namespaces (None: the bench's shared ones)
    sinks = None

    def __init__(self, bench):
        self.b = bench
        self.n = 0
        self.skip_reason = None
        self.cap_note = None
        self.install = None
        self.memory = None

    def max_streams(self):
        return None

    def prepare(self, n):
        """Set up n streams; fill self.gen_file/self.sink_file."""
        raise NotImplementedError

    def teardown(self):
        pass

    def write_flows(self, dests, sources):
        """dests[i]: where the caller sends stream i; sources[i]: where the
        callee must see it come from."""
        d = self.b.tmp
        self.gen_file = os.path.join(d, "%s.gen" % self.name)
        self.sink_file = os.path.join(d, "%s.sink" % self.name)
        with open(self.gen_file, "w") as f:
            f.write("".join("%s\n" % x for x in dests))
        with open(self.sink_file, "w") as f:
            f.write("".join("%s %d\n" % (sources[i], callee_port(i))
                            for i in range(len(sources))))


class RdropPath(Path):
    name = "rdrop"
    kind = "rdrop"

    def prepare(self, n):
        self.n = n
        self.write_flows(["%s:%d" % (RELAY_A_IP, RDROP_PORT0 + (i % 4096))
                          for i in range(n)], [])

    def before_run(self):
        self.b.sinks.rdrop_on()

    def after_run(self):
        self.b.sinks.rdrop_off()


CT_TABLE = """table ip tlbct {
    chain ctfwd { type filter hook forward priority 0; policy accept; ct state invalid drop; }
}
"""


class FwdPath(Path):
    """Plain forwarding in namespaces of its own: no relay table and no
    conntrack touch its packets (in the shared relay namespace relayd-nft's
    table switches conntrack on for everything). fwd_ct adds one `ct state`
    rule, as any stateful firewall would: conntrack's own cost."""
    name = "fwd"
    kind = "fwd"
    conntrack = False

    def prepare(self, n):
        if self.topo is None:
            self.topo = Topo(self.b.tmp, "ct" if self.conntrack else "f")
            self.b.extra_topos.append(self.topo)
            self.topo.up()
            self.sinks = Sinks(self.topo)
            self.sinks.drop_on()
            if self.conntrack:
                self.topo.nft(self.topo.relay, CT_TABLE)
        self.n = n
        self.write_flows(["%s:%d" % (CALLEE_IP, callee_port(i)) for i in range(n)],
                         ["%s:%d" % (CALLER_IP, caller_port(i, n)) for i in range(n)])


class FwdCtPath(FwdPath):
    name = "fwd_ct"
    conntrack = True


class RelaydPath(Path):
    userspace = False

    def __init__(self, bench, backend):
        super().__init__(bench)
        self.backend = backend
        self.name = "relayd-" + backend
        self.userspace = backend == "userspace"
        self.proc = None
        self.sock = None

    def max_streams(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # 2 port pairs per stream (legs A and B), 2 sockets per pair.
        return max(0, (hard - RELAYD_FIXED_FDS) // 4 // 100 * 100)

    def _config(self, n):
        base = RELAYD_PORT_BASE.get(self.backend, 10000)
        self.sock = os.path.join(self.b.tmp, "%s.sock" % self.name)
        conf = {
            "control": {"socket": self.sock, "mode": "0600"},
            "interfaces": [
                {"name": "caller", "bind": RELAY_A_IP, "advertise": RELAY_A_IP},
                {"name": "callee", "bind": RELAY_B_IP}],
            "ports": {"min": base, "max": base + 2 * max(n, 2) - 1},
            "timeouts": {"setup": 3600, "inactivity": 3600, "hold": 3600,
                         "max_duration": 14400},
            "backend": self.backend,
            "log_level": "notice",
        }
        # A relayd that keeps a session journal gets its own directory
        # (the default is shared by every relayd on the host); one that
        # does not know the field (unknown fields are errors) runs without.
        jdir = os.path.join(self.b.tmp, "%s.journal" % self.name)
        os.makedirs(jdir, exist_ok=True)
        conf["journal"] = jdir
        path = os.path.join(self.b.tmp, "%s.json" % self.name)
        with open(path, "w") as f:
            json.dump(conf, f)
        r = subprocess.run([self.b.relayd, "-n", "-f", path], capture_output=True,
                           text=True)
        if r.returncode != 0 and "journal" in (r.stderr + r.stdout):
            del conf["journal"]
            with open(path, "w") as f:
                json.dump(conf, f)
        self.journal = "journal" in conf
        return path

    def start(self, n):
        conf = self._config(n)
        self.log = os.path.join(self.b.tmp, "%s.log" % self.name)
        cmd = ["ip", "netns", "exec", self.b.topo.relay, "taskset", "-c",
               str(self.b.relay_cpu), self.b.relayd, "-f", conf, "-d"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))
        self.pid = self.proc.pid  # ip netns exec / taskset exec the daemon
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                with open(self.log) as f:
                    tail = f.read().strip().splitlines()[-3:]
                self.proc = None
                raise RuntimeError("relayd (backend %s) exited %s: %s" % (
                    self.backend, "", " | ".join(tail)))
            if os.path.exists(self.sock):
                try:
                    self.ctl = Control(self.sock)
                    break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError("relayd did not open its control socket")
            time.sleep(0.05)
        hello = self.ctl.call({"cmd": "hello", "client": "bench/media"})
        if hello.get("backend") != self.backend:
            raise RuntimeError("relayd runs backend %r, not %r (%s)" % (
                hello.get("backend"), self.backend, hello.get("backend_reason")))
        self.hello = hello

    def stop(self):
        if self.proc is not None:
            try:
                self.ctl.close()
            except Exception:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.pid = None

    def probe(self):
        """Can this backend run here? Sets skip_reason if not."""
        try:
            self.start(2)
            self.stop()
        except Exception as e:
            self.stop()
            self.skip_reason = str(e)

    def prepare(self, n):
        self.stop()
        self.n = n
        self.start(n)
        rss0 = rss_kb(self.pid)
        cpu0 = proc_cpu_ns(self.pid)
        t0 = time.monotonic()
        reqs = []
        for i in range(n):
            reqs.append({"cmd": "offer", "call_id": "b%d" % i, "from_tag": "f%d" % i,
                         "interfaces": ["caller", "callee"],
                         "media": [{"type": "audio", "address": CALLER_IP,
                                    "rtp_port": caller_port(i, n)}]})
        b_ports = [r["media"][0]["rtp_port"] for r in self.ctl.pipeline(reqs)]
        t1 = time.monotonic()
        reqs = []
        for i in range(n):
            reqs.append({"cmd": "answer", "call_id": "b%d" % i, "from_tag": "f%d" % i,
                         "to_tag": "t%d" % i,
                         "media": [{"type": "audio", "address": CALLEE_IP,
                                    "rtp_port": callee_port(i)}]})
        a_ports = [r["media"][0]["rtp_port"] for r in self.ctl.pipeline(reqs)]
        t2 = time.monotonic()
        cpu1 = proc_cpu_ns(self.pid)
        self.write_flows(["%s:%d" % (RELAY_A_IP, p) for p in a_ports],
                         ["%s:%d" % (RELAY_B_IP, p) for p in b_ports])
        # Latch both legs (a kernel backend installs a stream once both
        # peers are known): one packet per stream from each side.
        back = os.path.join(self.b.tmp, "%s.back" % self.name)
        with open(back, "w") as f:
            f.write("".join("%s:%d\n" % (RELAY_B_IP, p) for p in b_ports))
        t3 = time.monotonic()
        self.b.gen_once(self.b.topo.caller, self.gen_file,
                        "%s:%d" % (CALLER_IP, CALLER_PORT0), caller_sockets(n), n)
        self.b.gen_once(self.b.topo.callee, back,
                        "%s:%d" % (CALLEE_IP, CALLEE_PORT0), CALLEE_PORTS, n)
        installed = self.wait_installed(n, deadline=60)
        t4 = time.monotonic()
        cpu2 = proc_cpu_ns(self.pid)
        rss1 = rss_kb(self.pid)
        self.install = {
            "streams": n, "journal": self.journal,
            "offer_answer_s": round(t2 - t0, 4),
            "offer_answer_streams_per_s": round(n / (t2 - t0), 1),
            "latch_install_s": round(t4 - t3, 4),
            "installed": installed,
            "streams_per_s": round(n / ((t2 - t0) + (t4 - t3)), 1),
            "relayd_cpu_offer_answer_s": round((cpu1 - cpu0) / 1e9, 4),
            "relayd_cpu_latch_install_s": round((cpu2 - cpu1) / 1e9, 4),
            "streams_per_relayd_cpu_s": round(n / ((cpu2 - cpu0) / 1e9), 1)
            if cpu2 > cpu0 else None,
            "what": "offer+answer over the control socket (pipelined, one "
                    "client) + one packet per leg to latch, until the last "
                    "stream is %s" % ("latched" if self.userspace else
                                       "installed in the kernel backend") +
                    "; streams_per_relayd_cpu_s = streams per second of relayd "
                    "CPU time (what the daemon and its backend cost, without "
                    "the Python client)",
        }
        self.memory = {"rss_start_kb": rss0, "rss_kb": rss1,
                       "bytes_per_stream": round((rss1 - rss0) * 1024 / n, 1)
                       if rss0 and rss1 else None}
        log("%s: %d streams: offer+answer %.2fs (%.0f/s), latch+install %.2fs, "
            "RSS +%s kB" % (self.name, n, t2 - t0, n / (t2 - t0), t4 - t3,
                            (rss1 - rss0) if rss0 and rss1 else "?"))

    def wait_installed(self, n, deadline):
        """Poll the last call until its stream is latched (userspace) or on
        the kernel path; the latch packets were sent in call order."""
        end = time.monotonic() + deadline
        last = "b%d" % (n - 1)
        while time.monotonic() < end:
            q = self.ctl.call({"cmd": "query", "call_id": last})
            st = q.get("streams", [{}])[0]
            legs = st.get("legs", [{}, {}])
            if self.userspace:
                if legs[0].get("latched") and legs[1].get("latched"):
                    return True
            elif st.get("path") not in (None, "userspace"):
                return True
            time.sleep(0.01)
        return False

    def stats(self):
        return self.ctl.call({"cmd": "stats"})

    def teardown(self):
        self.stop()


class RtpenginePath(Path):
    name = "rtpengine"
    userspace = True

    def __init__(self, bench):
        super().__init__(bench)
        self.proc = None
        self.runs_done = 0
        self.bin = shutil.which("rtpengine")
        if not self.bin:
            self.skip_reason = ("rtpengine not installed (Debian package "
                                "rtpengine-daemon; scripts/install-bench-deps.sh)")

    def max_streams(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # RTP+RTCP on both legs: 4 sockets per call.
        return max(0, (hard - RTPE_FIXED_FDS) // 4 // 100 * 100)

    def start(self):
        self.log = os.path.join(self.b.tmp, "rtpengine.log")
        # FINDINGS pitfall 17: by hand, in the relay namespace only,
        # userspace forwarding (--table=-1), no iptables setup.
        cmd = ["ip", "netns", "exec", self.b.topo.relay, "taskset", "-c",
               str(self.b.relay_cpu), self.bin, "--config-file=none",
               "--foreground", "--log-stderr", "--log-level=2", "--table=-1",
               "--interface=pub/" + RELAY_A_IP, "--interface=priv/" + RELAY_B_IP,
               "--listen-ng=127.0.0.1:%d" % RTPE_NG_PORT,
               "--port-min=%d" % RTPE_PORTS[0], "--port-max=%d" % RTPE_PORTS[1],
               "--timeout=3600", "--silent-timeout=3600", "--final-timeout=7200"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))
        self.pid = self.proc.pid
        # The NG port answers "ping" once rtpengine is up.
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                with open(self.log) as f:
                    tail = f.read().strip().splitlines()[-3:]
                self.proc = None
                raise RuntimeError("rtpengine exited: " + " | ".join(tail))
            r = self.ng_cmd(["ping"], check=False, timeout=5)
            if r.returncode == 0 and "pong" in r.stdout:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("rtpengine NG port did not answer ping")
            time.sleep(0.2)

    def ng_cmd(self, args, check=True, timeout=120):
        return self.b.topo.ns_exec(self.b.topo.relay, sys.executable,
                                   os.path.join(HERE, "ngctl.py"),
                                   "127.0.0.1:%d" % RTPE_NG_PORT, *args,
                                   check=check, timeout=timeout)

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.pid = None

    def probe(self):
        if self.skip_reason:
            return
        try:
            self.start()
            self.stop()
        except Exception as e:
            self.stop()
            self.skip_reason = str(e)

    def prepare(self, n):
        self.stop()
        if n != self.n:
            self.runs_done = 0
        self.n = n
        self.start()
        rss0 = rss_kb(self.pid)
        t0 = time.monotonic()
        r = self.ng_cmd(["setup", str(n), CALLER_IP, str(CALLER_PORT0),
                         str(caller_sockets(n)), CALLEE_IP, str(CALLEE_PORT0),
                         str(CALLEE_PORTS)])
        t1 = time.monotonic()
        res = json.loads(r.stdout)
        a_ports, b_ports = res["a_ports"], res["b_ports"]
        self.write_flows(["%s:%d" % (RELAY_A_IP, p) for p in a_ports],
                         ["%s:%d" % (RELAY_B_IP, p) for p in b_ports])
        # Latch like relayd: one packet per stream from the caller.
        self.b.gen_once(self.b.topo.caller, self.gen_file,
                        "%s:%d" % (CALLER_IP, CALLER_PORT0), caller_sockets(n), n)
        rss1 = rss_kb(self.pid)
        self.install = {
            "streams": n, "offer_answer_s": round(t1 - t0, 4),
            "offer_answer_streams_per_s": round(n / (t1 - t0), 1),
            "streams_per_s": round(n / (t1 - t0), 1),
            "ng_inner_s": res.get("elapsed"),
            "what": "NG offer+answer (bencode/UDP, pipelined, one client; "
                    "includes starting the client in the namespace)"}
        self.memory = {"rss_start_kb": rss0, "rss_kb": rss1,
                       "bytes_per_stream": round((rss1 - rss0) * 1024 / n, 1)
                       if rss0 and rss1 else None}
        log("rtpengine: %d calls set up in %.2fs" % (n, t1 - t0))

    def before_run(self):
        """A fresh rtpengine for every run: after an overload it goes on
        discarding packets of the streams whose receive queue overflowed
        (its log: "UDP receive queue exceeded 5 times: discarding packet"),
        and that state would carry into the next run; observed here as
        99 % loss at 25 kpps right after a flood run."""
        if self.runs_done > 0:
            install, memory = self.install, self.memory
            self.prepare(self.n)
            self.install, self.memory = install, memory
            # its latch packets must not be counted in the run
            self.b.drain(self, 0.3, limit=10.0)
        self.runs_done += 1

    def teardown(self):
        self.stop()


# ---------------------------------------------------------------- control

class Control:
    """trunkline-relayd's control protocol: JSON lines on a Unix socket,
    pipelined (replies come in order)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(30)
        self.buf = b""
        self.id = 0

    def close(self):
        self.s.close()

    def _line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise RuntimeError("relayd closed the control connection")
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def call(self, req):
        return self.pipeline([req])[0]

    def pipeline(self, reqs, window=256):
        out = []
        sent = 0
        while len(out) < len(reqs):
            chunk = []
            while sent < len(reqs) and sent - len(out) < window:
                self.id += 1
                r = dict(reqs[sent], id=self.id)
                chunk.append(json.dumps(r, separators=(",", ":")))
                sent += 1
            if chunk:
                self.s.sendall(("\n".join(chunk) + "\n").encode())
            while len(out) < sent and (sent == len(reqs) or
                                       sent - len(out) >= window):
                rep = self._line()
                if "event" in rep:
                    continue
                if not rep.get("ok"):
                    raise RuntimeError("relayd: %s: %s" % (
                        reqs[len(out)].get("cmd"), rep.get("error")))
                out.append(rep)
        return out


# ---------------------------------------------------------------- bench

class Bench:
    def __init__(self, args):
        self.a = args
        build = os.path.join(ROOT, args.build)
        self.relayd = args.relayd or os.path.join(build, "trunkline-relayd")
        self.rtpgen = os.path.join(build, "tools", "rtpgen")
        self.rtpsink = os.path.join(build, "tools", "rtpsink")
        self.tmp = tempfile.mkdtemp(prefix="tl-bench-media.")
        self.topo = Topo(self.tmp)
        self.sinks = Sinks(self.topo)
        self.extra_topos = []
        self.eqrate = []
        ncpu = os.cpu_count() or 1
        self.gen_cpu = 0
        self.relay_cpu = 1 if ncpu > 1 else 0
        self.ksoftirqd = ksoftirqd_pids()
        self.runs = []
        self.verify = []
        self.ladder = []
        self.install = []
        self.skipped = []
        self.notes = []

    # -- tools

    def gen_once(self, ns, flow_file, bind, sockets, n):
        """One packet per stream (latching)."""
        r = self.topo.ns_exec(ns, self.rtpgen, "--flow-file", flow_file,
                              "-n", str(n), "-b", bind, "--sockets",
                              str(min(sockets, n)), "-c", "1", "-F",
                              "-S", str(SSRC_BASE), "--max-time", "30",
                              check=False)
        if r.returncode != 0:
            raise RuntimeError("latch rtpgen failed: %s %s" % (r.stdout[-300:],
                                                               r.stderr[-300:]))

    def start_gen(self, path, secs, rate=None, spin=True):
        cmd = ["ip", "netns", "exec", (path.topo or self.topo).caller, "taskset", "-c",
               str(self.gen_cpu), self.rtpgen, "--flow-file", path.gen_file,
               "-n", str(path.n), "-b", "%s:%d" % (CALLER_IP, CALLER_PORT0),
               "--sockets", str(caller_sockets(path.n)), "-S", str(SSRC_BASE),
               "-s", str(PKT_SIZE), "-t", "%.3f" % secs, "--max-time",
               "%.1f" % (secs + 30), "--start-seq", "1"]
        # paced: poll the clock rather than sleep, or the generator loses
        # its CPU share to foreign load and falls short of the rate (the
        # ladder); the equal-rate cost runs sleep instead, because the
        # generator's CPU time is part of the metric
        if rate is None:
            cmd += ["-F"]
        else:
            cmd += ["-r", "%.6f" % (rate / path.n)] + (["--spin"] if spin else [])
        return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    # -- one measurement

    def measure(self, path, rep, rate=None, secs=None, spin=True):
        a = self.a
        secs = secs or a.secs
        if hasattr(path, "before_run"):
            path.before_run()
        try:
            return self._measure(path, rep, rate, secs, spin)
        finally:
            if hasattr(path, "after_run"):
                path.after_run()

    def _measure(self, path, rep, rate, secs, spin=True):
        a = self.a
        sinks = path.sinks or self.sinks
        _, c_start, _ = sinks.read(path.kind)
        relay_stats0 = path.stats() if isinstance(path, RelaydPath) else None
        gen = self.start_gen(path, a.warmup + secs + 0.3, rate, spin)
        wait_handler(gen, (signal.SIGUSR1, signal.SIGUSR2))
        time.sleep(a.warmup)
        # The CPU snapshots are taken together, timed themselves: under
        # foreign load this process can be descheduled between any two
        # steps, so no interval is assumed to equal another.
        t_w0, g0, all0 = sinks.read(path.kind)
        gen.send_signal(signal.SIGUSR1)
        k0 = {c: proc_cpu_ns(p) for c, p in self.ksoftirqd.items()}
        p0, gcpu0 = proc_cpu_ns(path.pid), proc_cpu_ns(gen.pid)
        s0 = read_proc_stat()
        wall0 = time.monotonic()
        time.sleep(secs)
        s1 = read_proc_stat()
        wall1 = time.monotonic()
        p1, gcpu1 = proc_cpu_ns(path.pid), proc_cpu_ns(gen.pid)
        k1 = {c: proc_cpu_ns(p) for c, p in self.ksoftirqd.items()}
        gen.send_signal(signal.SIGUSR2)
        t_w1, g1, all1 = sinks.read(path.kind)
        out, err = gen.communicate(timeout=secs + 60)
        # What arrives after this read was queued somewhere (a userspace
        # relay's socket buffers): late, even if it is not lost.
        _, c_gen_end, _ = sinks.read(path.kind)
        c_end, drain_s = self.drain(path, a.drain)
        try:
            g = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError("rtpgen (%s): no summary: %s" % (path.name, err[-400:]))
        wall = wall1 - wall0
        delivered = g1 - g0
        pps = delivered / (t_w1 - t_w0) if t_w1 > t_w0 else 0
        d0 = stat_delta(s0, s1, self.gen_cpu)
        d1 = stat_delta(s0, s1, self.relay_cpu)
        relay_ns = p1 - p0
        gen_ns = gcpu1 - gcpu0
        ksi0 = k1.get(self.gen_cpu, 0) - k0.get(self.gen_cpu, 0)
        ksi1 = k1.get(self.relay_cpu, 0) - k0.get(self.relay_cpu, 0)
        run = {
            "path": path.name, "kind": path.kind, "streams": path.n, "rep": rep,
            "userspace": path.userspace,
            "rate": rate, "secs": secs,
            "sent": g["sent"], "sent_window": g.get("window_sent"),
            "window_s": g.get("window_elapsed"),
            "sent_pps": (g["window_sent"] / g["window_elapsed"])
            if g.get("window_elapsed") else None,
            "delivered_window": delivered, "delivered_pps": pps,
            "delivered_total": c_end - c_start,
            "loss": 1 - (c_end - c_start) / g["sent"] if g["sent"] else None,
            "not_matching": max(0, (all1 - all0) - delivered)
            if path.kind != "rdrop" else 0,
            "gen_errors": g["errors"], "drain_s": drain_s,
            "late": c_end - c_gen_end,
            "cpu0_softirq_ns": d0["softirq"], "cpu0_busy_ns": d0["busy"],
            "cpu1_busy_ns": d1["busy"], "cpu1_softirq_ns": d1["softirq"],
            "relay_proc_ns": relay_ns, "gen_proc_ns": gen_ns, "wall_s": wall,
            "ksoftirqd_cpu0_ns": ksi0, "ksoftirqd_cpu1_ns": ksi1,
            "steal_cpu0": d0["steal"] / (wall * 1e9),
            "steal_cpu1": d1["steal"] / (wall * 1e9),
            # foreign load: busy time not ours (generator, relay, the
            # kernel's softirq threads), as a share of the window
            "foreign_cpu0": max(0.0, (d0["busy"] - gen_ns - ksi0) / (wall * 1e9)),
            "foreign_cpu1": max(0.0, (d1["busy"] - relay_ns - ksi1) / (wall * 1e9))
            if self.relay_cpu != self.gen_cpu else None,
        }
        # CPU per packet: CPU time over the CPU interval divided by the
        # packets delivered in that interval (delivery rate x its length)
        pkts = pps * wall
        run["cpu_interval_s"] = wall
        if pkts > 0:
            run["cpu0_softirq_ns_pkt"] = d0["softirq"] / pkts
            run["relay_proc_ns_pkt"] = relay_ns / pkts
            # THE metric (bench/README.md): scheduler CPU time of the
            # processes doing the work (generator, whose context runs the
            # kernel path on veth; relay threads; ksoftirqd) per packet
            run["cost_ns_pkt"] = (gen_ns + relay_ns + ksi0 + ksi1) / pkts
        if relay_stats0 is not None:
            st = path.stats()
            run["relay_drops"] = st.get("drops", 0) - relay_stats0.get("drops", 0)
            run["relay_errors"] = st.get("errors", 0) - relay_stats0.get("errors", 0)
        return run

    def drain(self, path, quiet, limit=30.0, counter=None):
        """Wait until the sink counter has not moved for `quiet` seconds:
        a userspace relay may still be emptying its socket queues (FINDINGS
        pitfall 11), and that backlog must not spill into the next run."""
        def read():
            _, good, allc = (path.sinks or self.sinks).read(path.kind)
            return allc if counter == "c_all" else good
        t0 = time.monotonic()
        last = read()
        still = time.monotonic()
        while time.monotonic() - t0 < limit:
            time.sleep(0.1)
            c = read()
            if c != last:
                last, still = c, time.monotonic()
            elif time.monotonic() - still >= quiet:
                break
        return last, round(time.monotonic() - t0, 2)

    def verify_path(self, path):
        """Paced run into rtpsink: every stream, every packet checked."""
        n = path.n
        rate = min(self.a.verify_rate, 50.0 * n)
        secs = self.a.verify_secs
        per_stream = max(1, int(rate / n * secs))
        # Nothing else may still be arriving at the callee (a relay set up
        # for another path forwarding its latch packets late): it would
        # show up as packets from a wrong source.
        self.drain(FwdPath(self), 0.5, limit=20.0, counter="c_all")
        sinks, topo = path.sinks or self.sinks, path.topo or self.topo
        sinks.drop_off()
        sink_out = os.path.join(self.tmp, "verify-%s.out" % path.name)
        ready = os.path.join(self.tmp, "verify-%s.ready" % path.name)
        if os.path.exists(ready):
            os.unlink(ready)
        sink = subprocess.Popen(
            ["ip", "netns", "exec", topo.callee, "taskset", "-c",
             str(self.relay_cpu if path.kind != "relay" else self.gen_cpu),
             self.rtpsink, "-b", CALLEE_IP, "--flow-file", path.sink_file,
             "-S", str(SSRC_BASE), "-e", str(per_stream), "--start-seq", "0",
             "-s", str(PKT_SIZE), "-t", str(secs + 20), "-i", "3",
             "-r", ready], stdout=open(sink_out, "w"), stderr=subprocess.PIPE,
            text=True)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(ready):
                if sink.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("rtpsink did not start: %s" %
                                       sink.stderr.read()[-300:])
                time.sleep(0.02)
            r = topo.ns_exec(
                topo.caller, self.rtpgen, "--flow-file", path.gen_file,
                "-n", str(n), "-b", "%s:%d" % (CALLER_IP, CALLER_PORT0),
                "--sockets", str(caller_sockets(n)), "-S", str(SSRC_BASE),
                "-s", str(PKT_SIZE), "-c", str(per_stream),
                "-r", "%.6f" % (rate / n), "--max-time", str(secs + 20),
                check=False, timeout=secs + 40)
            _, err = sink.communicate(timeout=secs + 40)
        finally:
            if sink.poll() is None:
                sink.kill()
                sink.wait()
            sinks.drop_on()
        try:
            with open(sink_out) as f:
                s = json.loads(f.read().strip().splitlines()[-1])
        except (ValueError, IndexError):
            s = {"ok": False, "error": err[-300:]}
        v = {"path": path.name, "streams": n, "rate": rate, "per_stream": per_stream,
             "ok": bool(s.get("ok")), "sent": json.loads(r.stdout or "{}").get("sent"),
             "sink": {k: s.get(k) for k in (
                 "received", "lost", "late", "streams_missing", "bad_source",
                 "bad_port", "bad_header", "bad_ssrc", "first_bad")},
             "sink_stderr": err.strip()[-300:] if err else ""}
        log("verify %s N=%d: %s (%s received, %s lost, %s bad source, %s missing)" % (
            path.name, n, "ok" if v["ok"] else "FAILED", s.get("received"),
            s.get("lost"), s.get("bad_source"), s.get("streams_missing")))
        self.verify.append(v)
        return v

    # -- the campaign

    def paths(self):
        ps = [RdropPath(self), FwdPath(self), FwdCtPath(self)]
        for b in self.a.backends:
            p = RelaydPath(self, b)
            if b == "kmod" and not os.path.exists("/sys/module/trunkline"):
                p.skip_reason = ("kmod runs only inside the qemu guest "
                                 "(tests/kmod, another helper): its ratio "
                                 "against plain forwarding in the same guest "
                                 "goes in the kmod slot of the results")
            ps.append(p)
        if "rtpengine" in self.a.compare:
            ps.append(RtpenginePath(self))
        return ps

    def run(self):
        a = self.a
        self.topo.up()
        self.sinks.drop_on()
        paths = self.paths()
        for p in paths:
            if p.skip_reason is None and hasattr(p, "probe"):
                p.probe()
            if p.skip_reason:
                log("skip %s: %s" % (p.name, p.skip_reason))
                self.skipped.append({"path": p.name, "reason": p.skip_reason})
        live = [p for p in paths if p.skip_reason is None]
        done_caps = {}
        for n in a.streams:
            active = []
            for p in live:
                cap = p.max_streams()
                pn = n
                if cap is not None and n > cap:
                    pn = cap
                    why = ("RLIMIT_NOFILE hard limit %d (no CAP_SYS_RESOURCE "
                           "to raise it; FINDINGS pitfall 12): %s needs %d "
                           "descriptors per stream, so at most %d streams" % (
                               resource.getrlimit(resource.RLIMIT_NOFILE)[1],
                               p.name, 4, cap))
                    if done_caps.get(p.name) == cap:
                        self.skipped.append({"path": p.name, "streams": n,
                                             "reason": why + "; measured at %d "
                                             "in the row above" % cap})
                        log("skip %s at N=%d: capped at %d, already measured" %
                            (p.name, n, cap))
                        continue
                    done_caps[p.name] = cap
                    p.cap_note = why
                    self.notes.append("%s at N=%d runs %d streams: %s" % (
                        p.name, n, cap, why))
                try:
                    # install rate and memory: several fresh set-ups,
                    # the last one stays for the traffic runs
                    for k in range(max(1, a.install_reps)):
                        p.prepare(pn)
                        if p.install:
                            self.install.append(dict(p.install, path=p.name,
                                                     streams_label=n, rep=k,
                                                     memory=p.memory))
                except Exception as e:
                    log("%s: prepare N=%d failed: %s" % (p.name, pn, e))
                    self.skipped.append({"path": p.name, "streams": n,
                                         "reason": "setup failed: %s" % e})
                    p.teardown()
                    continue
                p.n_label = n
                active.append(p)
            for p in active:
                if p.kind != "rdrop" and a.verify_secs > 0:
                    try:
                        self.verify_path(p)
                    except Exception as e:
                        log("verify %s failed: %s" % (p.name, e))
                        self.verify.append({"path": p.name, "streams": p.n,
                                            "ok": False, "error": str(e)})
            for rep in range(a.reps):
                # the order rotates: no path always runs first after a set-up
                k = rep % len(active) if active else 0
                for p in active[k:] + active[:k]:
                    if a.rate:
                        try:
                            r = self.measure(p, rep, rate=a.rate, spin=False)
                            r["streams_label"] = n
                            self.eqrate.append(r)
                            log("N=%-6d rep %d %-17s at %.0f kpps offered: %5.0f ns/pkt "
                                "(generator + relay + ksoftirqd), loss %.2f%%" % (
                                    p.n, rep, p.name, a.rate / 1e3, r.get("cost_ns_pkt", 0),
                                    100 * (r["loss"] or 0)))
                        except Exception as e:
                            log("equal-rate run %s N=%d rep %d failed: %s" % (
                                p.name, p.n, rep, e))
                    try:
                        r = self.measure(p, rep)
                    except Exception as e:
                        log("run %s N=%d rep %d failed: %s" % (p.name, p.n, rep, e))
                        continue
                    r["streams_label"] = n
                    self.runs.append(r)
                    log("N=%-6d rep %d %-17s %7.0f kpps delivered, loss %6.2f%%, "
                        "CPU0 softirq %5.0f ns/pkt, relay proc %5.0f ns/pkt, "
                        "foreign %.0f%%/%s" % (
                            p.n, rep, p.name, r["delivered_pps"] / 1e3,
                            100 * (r["loss"] or 0), r.get("cpu0_softirq_ns_pkt", 0),
                            r.get("relay_proc_ns_pkt", 0), 100 * r["foreign_cpu0"],
                            "-" if r["foreign_cpu1"] is None else
                            "%.0f%%" % (100 * r["foreign_cpu1"])))
            if n == a.ladder_streams and a.ladder:
                self.run_ladder([p for p in active if p.userspace])
            for p in active:
                p.teardown()
        return paths

    def run_ladder(self, paths):
        """Highest offered rate each userspace path carries with < 0.1 % loss
        and < 0.1 % of the packets delivered late (after the generator
        stopped and the sink counter was read: a backlog in the relay)."""
        if not paths:
            return
        for rep in range(self.a.ladder_reps):
            alive = list(paths)
            for rate in self.a.ladder:
                for p in list(alive):
                    try:
                        r = self.measure(p, rep, rate=rate, secs=self.a.ladder_secs)
                        if not r["sent_pps"] or r["sent_pps"] < 0.95 * rate:
                            # the generator was starved (foreign load on
                            # CPU0): one more try before calling it a limit
                            log("ladder %s %d: generator reached only %.0f pps, "
                                "once more" % (p.name, rate, r["sent_pps"] or 0))
                            time.sleep(1)
                            r = self.measure(p, rep, rate=rate, secs=self.a.ladder_secs)
                    except Exception as e:
                        log("ladder %s %d failed: %s" % (p.name, rate, e))
                        alive.remove(p)
                        continue
                    ok = bool(r["loss"] is not None and r["loss"] < 0.001 and
                              r["sent"] and r["sent_pps"] and
                              r["late"] <= 0.001 * r["sent"])
                    # The generator shares CPU0 with the kernel's receive
                    # work: when it cannot offer the rate, the relay's
                    # limit is not reached and the ladder ends here.
                    limited = bool(not r["sent_pps"] or r["sent_pps"] < 0.95 * rate)
                    r["ladder_ok"] = ok
                    r["sender_limited"] = limited
                    r["streams_label"] = p.n_label
                    self.ladder.append(r)
                    log("ladder rep %d %-17s offered %6.0f kpps: sent %6.0f, "
                        "delivered %6.0f kpps, loss %.3f%%, late %d -> %s" % (
                            rep, p.name, rate / 1e3, (r["sent_pps"] or 0) / 1e3,
                            r["delivered_pps"] / 1e3, 100 * (r["loss"] or 0), r["late"],
                            ("ok" if ok else "FAIL") +
                            (" (sender-limited)" if limited else "")))
                    if not ok or limited:
                        alive.remove(p)
                if not alive:
                    break

    def cleanup(self):
        for attr in ("_paths",):
            pass
        self.topo.down()
        for t in self.extra_topos:
            t.down()
        if not self.a.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- summary

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio_runs(runs):
    both = [r for r in runs if r.get("clean") and r.get("ref_clean")]
    return both if both else runs


def summarize(bench, clean_limit):
    """Medians per (path, N) and per-repetition ratios against fwd."""
    runs = bench.runs
    by = {}
    for r in runs:
        # relay cost = CPU0 softirq/pkt - rdrop's in the same repetition + process
        ref = [x for x in runs if x["path"] == "rdrop" and x["rep"] == r["rep"]
               and x["streams_label"] == r["streams_label"]]
        if r.get("cpu0_softirq_ns_pkt") is not None and ref and \
                ref[0].get("cpu0_softirq_ns_pkt") is not None:
            r["relay_ns_pkt"] = (r["cpu0_softirq_ns_pkt"] -
                                 ref[0]["cpu0_softirq_ns_pkt"] +
                                 r.get("relay_proc_ns_pkt", 0))
            if r["path"] == "rdrop":
                r["relay_ns_pkt"] = 0.0
            if r["delivered_pps"] and ref[0]["delivered_pps"]:
                r["d_inv_pps_ns"] = 1e9 / r["delivered_pps"] - 1e9 / ref[0]["delivered_pps"]
        # CPU1 matters only where the relay works there (userspace relays)
        r["clean"] = (r["foreign_cpu0"] + r.get("steal_cpu0", 0) <= clean_limit and
                      (r["foreign_cpu1"] is None or not r.get("userspace") or
                       r["foreign_cpu1"] + r.get("steal_cpu1", 0) <= clean_limit))
        by.setdefault((r["path"], r["streams_label"]), []).append(r)
    for r in runs:
        fw = [x for x in runs if x["path"] == "fwd" and x["rep"] == r["rep"]
              and x["streams_label"] == r["streams_label"]]
        if fw:
            f = fw[0]
            r["ref_clean"] = f["clean"]
            if f["delivered_pps"]:
                r["pps_vs_fwd"] = r["delivered_pps"] / f["delivered_pps"]
            if r.get("relay_ns_pkt") is not None and f.get("relay_ns_pkt"):
                r["cost_vs_fwd"] = r["relay_ns_pkt"] / f["relay_ns_pkt"]
    rows = []
    for (path, n), rs in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        clean = [r for r in rs if r["clean"]]
        use = clean if clean else rs
        rows.append({
            "path": path, "streams": n, "streams_run": rs[0]["streams"],
            "reps": len(rs), "clean_reps": len(clean),
            "used": "clean" if clean else "all (every repetition had foreign load)",
            "delivered_pps": median([r["delivered_pps"] for r in use]),
            "delivered_pps_min": min(r["delivered_pps"] for r in use),
            "delivered_pps_max": max(r["delivered_pps"] for r in use),
            "sent_pps": median([r["sent_pps"] for r in use]),
            "loss": median([r["loss"] for r in use]),
            "relay_ns_pkt": median([r.get("relay_ns_pkt") for r in use]),
            "cpu0_softirq_ns_pkt": median([r.get("cpu0_softirq_ns_pkt") for r in use]),
            "relay_proc_ns_pkt": median([r.get("relay_proc_ns_pkt") for r in use]),
            "d_inv_pps_ns": median([r.get("d_inv_pps_ns") for r in use]),
            # a ratio needs both runs of its repetition clean, if any are
            "pps_vs_fwd": median([r.get("pps_vs_fwd") for r in ratio_runs(use)]),
            "cost_vs_fwd": median([r.get("cost_vs_fwd") for r in ratio_runs(use)]),
            "foreign_cpu0": median([r["foreign_cpu0"] for r in rs]),
            "foreign_cpu1": median([r["foreign_cpu1"] for r in rs]),
            "steal_cpu0": median([r.get("steal_cpu0") for r in rs]),
            "steal_cpu1": median([r.get("steal_cpu1") for r in rs]),
            "not_matching": sum(r["not_matching"] for r in rs),
        })
    ladder, limited = {}, {}
    for r in bench.ladder:
        key = (r["path"], r["rep"])
        ladder.setdefault(key, 0)
        if r["ladder_ok"] and r["sent_pps"]:
            # what was actually carried, not what was asked for
            ladder[key] = max(ladder[key], r["sent_pps"])
            if r.get("sender_limited"):
                limited[key] = True
    lossfree = {}
    for (path, rep), rate in ladder.items():
        lossfree.setdefault(path, []).append(rate)
    lossfree = {p: {"median_pps": median(v), "per_rep": v,
                    "sender_limited": any(limited.get((p, k[1])) for k in ladder
                                          if k[0] == p)}
                for p, v in lossfree.items()}
    return rows, lossfree


def verdict(xs):
    """Median and spread of per-repetition ratios; a spread that covers 1
    is noise, not a result."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"median": None, "min": None, "max": None, "text": "not measured"}
    lo, hi, m = min(xs), max(xs), median(xs)
    text = ("within noise (%.2f-%.2f)" % (lo, hi) if lo <= 1 <= hi and len(xs) > 1
            else "%.2f (%.2f-%.2f)" % (m, lo, hi))
    return {"median": m, "min": lo, "max": hi, "text": text}


def summarize_eqrate(runs):
    """The per-packet metric (bench/README.md): every path at the same
    offered rate; cost = generator + relay threads + ksoftirqd scheduler
    CPU per delivered packet; ratios against fwd within each repetition.
    No foreign-load filter: the metric counts only our processes' time."""
    rows = []
    by = {}
    for r in runs:
        by.setdefault((r["path"], r["streams_label"]), []).append(r)
    for (path, n), rs in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ratios = []
        for r in rs:
            f = [x for x in runs if x["path"] == "fwd" and x["rep"] == r["rep"]
                 and x["streams_label"] == n and x.get("cost_ns_pkt")]
            if f and r.get("cost_ns_pkt") is not None:
                ratios.append(r["cost_ns_pkt"] / f[0]["cost_ns_pkt"])
        costs = [r.get("cost_ns_pkt") for r in rs if r.get("cost_ns_pkt") is not None]
        loss = max((r["loss"] or 0) for r in rs)
        rows.append({
            "path": path, "streams": n, "streams_run": rs[0]["streams"],
            "reps": len(rs), "offered_pps": rs[0]["rate"],
            "sent_pps": median([r["sent_pps"] for r in rs]),
            "cost_ns_pkt": median(costs),
            "cost_ns_pkt_min": min(costs) if costs else None,
            "cost_ns_pkt_max": max(costs) if costs else None,
            "vs_fwd": verdict(ratios) if path != "fwd" else
            {"median": 1.0, "min": 1.0, "max": 1.0, "text": "1 (reference)"},
            "loss_max": loss,
            "below_lossfree": loss < 0.001,
            "foreign_cpu0": median([r["foreign_cpu0"] for r in rs]),
        })
    return rows


def install_summary(install):
    """Medians over the fresh set-ups of each (path, N)."""
    by = {}
    for i in install:
        by.setdefault((i["path"], i["streams"]), []).append(i)
    out = []
    for (path, n), xs in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        m = lambda k: median([x.get(k) for x in xs])
        out.append({
            "path": path, "streams": n, "reps": len(xs),
            "offer_answer_streams_per_s": m("offer_answer_streams_per_s"),
            "latch_install_s": m("latch_install_s"),
            "streams_per_s": m("streams_per_s"),
            "streams_per_s_min": min(x["streams_per_s"] for x in xs),
            "streams_per_s_max": max(x["streams_per_s"] for x in xs),
            "streams_per_relayd_cpu_s": m("streams_per_relayd_cpu_s"),
            "installed": all(x.get("installed", True) for x in xs),
            "rss_kb": median([(x.get("memory") or {}).get("rss_kb") for x in xs]),
            "bytes_per_stream": median([(x.get("memory") or {}).get("bytes_per_stream")
                                        for x in xs]),
            "what": xs[0].get("what"),
        })
    return out


def targets(rows, lossfree, install, skipped, eq=None):
    """Cost targets read the equal-rate rows (the one metric); the flood
    rows only give rates."""
    def row(path, n):
        for r in eq or []:
            if r["path"] == path and r["streams"] == n:
                return dict(r, cost_vs_fwd=r["vs_fwd"]["median"],
                            relay_ns_pkt=r["cost_ns_pkt"])
        return None

    def skipped_reason(path):
        for s in skipped:
            if s["path"] == path:
                return s["reason"]
        return "not measured"

    out = []
    k1 = row("relayd-kmod", 1000)
    out.append({"target": "kmod per-packet cost <= 1.0x plain forwarding",
                "value": k1 and k1["cost_vs_fwd"], "limit": 1.0,
                "met": None if not k1 or k1["cost_vs_fwd"] is None else k1["cost_vs_fwd"] <= 1.0,
                "note": "" if k1 else "kmod slot: " + skipped_reason("relayd-kmod")})
    n10 = row("relayd-nft", 10000)
    out.append({"target": "nft cost <= 1.4x plain forwarding at 10,000 streams",
                "value": n10 and n10["cost_vs_fwd"], "limit": 1.4,
                "met": None if not n10 or n10["cost_vs_fwd"] is None else n10["cost_vs_fwd"] <= 1.4,
                "note": "" if n10 is None else (
                    "measured with %d streams" % n10["streams_run"]
                    if n10["streams_run"] != 10000 else "") if n10 else
                skipped_reason("relayd-nft")})
    for be in ("nft", "kmod"):
        a, b = row("relayd-" + be, 1000), row("relayd-" + be, 50000)
        v = b["relay_ns_pkt"] / a["relay_ns_pkt"] if a and b and a["relay_ns_pkt"] \
            and b["relay_ns_pkt"] is not None else None
        out.append({"target": "%s cost at 50,000 streams <= 1.1x cost at 1,000" % be,
                    "value": v, "limit": 1.1, "met": None if v is None else v <= 1.1,
                    "note": "" if v is not None and b["streams_run"] == 50000 else
                    ("50,000-stream row ran with %d streams" % b["streams_run"] if b else
                     skipped_reason("relayd-" + be))})
    u, r = lossfree.get("relayd-userspace"), lossfree.get("rtpengine")
    v = u["median_pps"] / r["median_pps"] if u and r and r["median_pps"] else None
    out.append({"target": "userspace >= 4x rtpengine-userspace delivered pps at <0.1% loss",
                "value": v, "limit": 4.0, "met": None if v is None else v >= 4.0,
                "note": "loss-free rates (offered-rate ladder, median): relayd %s pps%s, "
                        "rtpengine %s pps" % (
                            u and round(u["median_pps"]),
                            " (sender-limited: a lower bound)" if u and u.get("sender_limited") else "",
                            r and round(r["median_pps"]))})
    for be in ("userspace", "nft", "kmod"):
        ins = [i for i in install_summary(install) if i["path"] == "relayd-" + be]
        if not ins:
            continue
        best = max(ins, key=lambda i: i["streams"])
        out.append({"target": "install >= 50,000 streams/s (relayd-%s)" % be,
                    "value": best["streams_per_s"], "limit": 50000,
                    "met": best["streams_per_s"] >= 50000,
                    "note": "end to end with one Python client, %d streams: "
                            "offer+answer %.0f/s, latch/install %.2fs; relayd's own "
                            "CPU time allows %s streams/s" % (
                        best["streams"], best["offer_answer_streams_per_s"],
                        best["latch_install_s"], best.get("streams_per_relayd_cpu_s"))})
    out.append({"target": "signaling >= 1,000 calls/s with media anchoring, zero failures",
                "value": None, "limit": 1000, "met": None,
                "note": "bench/signaling: see its result (the controller is not built yet)"})
    return out


def resummarize(path, clean_limit):
    """Recompute the medians, ratios and targets of a results file from its
    raw runs (after a change to the aggregation; the runs are untouched)."""
    with open(path) as f:
        doc = json.load(f)

    class Raw:
        runs = doc["runs"]
        ladder = doc["ladder"]
    rows, lossfree = summarize(Raw, clean_limit)
    doc["summary"], doc["lossfree"] = rows, lossfree
    doc["install"] = install_summary(doc["install_runs"])
    doc["eqrate_summary"] = summarize_eqrate(doc.get("eqrate_runs", []))
    doc["targets"] = targets(rows, lossfree, doc["install_runs"], doc["skipped"],
                             doc["eqrate_summary"])
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=lambda o: None)
        f.write("\n")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--resummarize":
        return resummarize(sys.argv[2], 0.25)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", default="1000,10000,50000",
                    help="stream counts (comma separated)")
    ap.add_argument("--backends", default="userspace,nft,kmod",
                    help="relayd backends to measure; each one relayd cannot "
                         "open here is skipped with its reason")
    ap.add_argument("--compare", default="rtpengine",
                    help="other relays to run side by side ('' for none)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rate", type=float, default=30000,
                    help="offered packets/s of the equal-rate cost runs (the "
                         "metric; below every path's loss-free rate); 0: none")
    ap.add_argument("--secs", type=float, default=2.0, help="measurement window")
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--drain", type=float, default=0.5)
    ap.add_argument("--ladder", default="25000,50000,75000,100000,150000,200000,300000,400000",
                    help="offered rates (pps) for the loss-free search of the "
                         "userspace paths ('' to skip)")
    ap.add_argument("--ladder-streams", type=int, default=1000)
    ap.add_argument("--ladder-reps", type=int, default=2)
    ap.add_argument("--ladder-secs", type=float, default=1.5)
    ap.add_argument("--install-reps", type=int, default=3,
                    help="fresh set-ups per path and stream count for the "
                         "install rate and memory (medians)")
    ap.add_argument("--verify-rate", type=float, default=20000,
                    help="pps of the per-stream verification run")
    ap.add_argument("--verify-secs", type=float, default=1.0, help="0 to skip")
    ap.add_argument("--clean", type=float, default=0.25,
                    help="a repetition is clean when foreign load on the "
                         "measured CPUs is below this share")
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--relayd", help="the trunkline-relayd binary (default: "
                    "BUILD/trunkline-relayd)")
    ap.add_argument("--label", default="", help="free text recorded in the "
                    "results, e.g. where the relayd binary comes from")
    a = ap.parse_args()
    a.streams = [int(x) for x in a.streams.split(",") if x]
    a.backends = [x for x in a.backends.split(",") if x]
    a.compare = [x for x in a.compare.split(",") if x]
    a.ladder = [int(x) for x in a.ladder.split(",") if x]

    if os.geteuid() != 0:
        print("SKIP: bench/media needs root (network namespaces)")
        return 77
    for tool in ("ip", "nft", "taskset"):
        if not shutil.which(tool):
            print("SKIP: %s not installed" % tool)
            return 77
    b = Bench(a)
    for f in (b.relayd, b.rtpgen, b.rtpsink):
        if not os.access(f, os.X_OK):
            print("bench/media: %s is not built (make)" % f, file=sys.stderr)
            return 2

    def on_term(sig, frm):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    started = datetime.datetime.now(datetime.timezone.utc)
    paths = []
    try:
        paths = b.run()
    finally:
        for p in paths:
            try:
                p.teardown()
            except Exception:
                pass
        b.cleanup()
    raw = os.path.abspath(a.out) + ".raw"
    with open(raw, "w") as f:
        json.dump({"runs": b.runs, "ladder": b.ladder, "verify": b.verify,
                   "install": b.install, "skipped": b.skipped}, f, default=lambda o: None)
    rows, lossfree = summarize(b, a.clean)
    os.unlink(raw)
    perf_ok, perf_note = perf_available()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    loadavg = open("/proc/loadavg").read().split()[:3]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    doc = {
        "bench": "media", "version": 1,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "kernel": os.uname().release,
        "cpus": os.cpu_count(), "commit": commit,
        "relayd": b.relayd, "label": a.label,
        "loadavg_at_end": loadavg,
        "rlimit_nofile": [soft, hard],
        "checksum_offload": b.topo.csum,
        "cpu_accounting": "/proc/stat ticks (USER_HZ %d) for softirq; per-thread "
                          "schedstat (ns) for processes; %s" % (HZ, perf_note),
        "metric": "bench/README.md, 'The per-packet metric': every path at the "
                  "same offered rate (params.rate packets/s), scheduler CPU time of "
                  "the generator + relay threads + ksoftirqd per delivered packet, "
                  "ratios against fwd (own namespaces: no relay table, no "
                  "conntrack) per repetition, median and spread (eqrate_summary); "
                  "flood runs (summary) give each path's delivered rate only",
        "method": "interleaved repetitions (rotating order), medians; "
                  "generator on CPU%d, relays pinned to CPU%d; drop "
                  "sink (nft netdev ingress on the callee veth) for throughput, "
                  "rtpsink per-stream verification at a paced rate" % (
                      b.gen_cpu, b.relay_cpu),
        "params": {k: getattr(a, k) for k in (
            "streams", "backends", "compare", "reps", "secs", "rate", "warmup", "drain",
            "ladder", "ladder_streams", "ladder_reps", "ladder_secs", "install_reps",
            "verify_rate", "verify_secs", "clean")},
        "shared_machine": "other users may load the CPUs during the run; foreign "
                          "load is measured per run (foreign_cpu0/1) and "
                          "repetitions above --clean are left out of medians",
        "skipped": b.skipped, "notes": b.notes,
        "kmod_slot": {"status": "not measured here",
                      "how": "the kmod ratio comes from the qemu guest (tests/kmod); "
                             "add it as path relayd-kmod with cost_vs_fwd measured "
                             "against fwd in the same guest"},
        "summary": rows, "lossfree": lossfree,
        "install": install_summary(b.install), "install_runs": b.install,
        "verify": b.verify, "runs": b.runs, "ladder": b.ladder,
    }
    doc["eqrate_summary"] = summarize_eqrate(b.eqrate)
    doc["eqrate_runs"] = b.eqrate
    doc["targets"] = targets(rows, lossfree, b.install, b.skipped, doc["eqrate_summary"])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1, default=lambda o: None)
        f.write("\n")
    log("wrote %s" % a.out)
    bad_verify = [v for v in b.verify if not v.get("ok")]
    if bad_verify:
        log("per-stream verification FAILED for: %s" % ", ".join(
            "%s N=%s" % (v["path"], v["streams"]) for v in bad_verify))
        return 1
    if not b.runs:
        log("no run succeeded")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
