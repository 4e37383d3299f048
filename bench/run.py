#!/usr/bin/env python3
"""bench/run.py — recgw against direct MinIO and nginx, side by side, in one run.

    ~/.cache/recgw/venv/bin/python bench/run.py [--quick | --medium] [--out DIR] [--only S,S]

Starts the real local stack (tools/stack.sh: Redis, FerretDB, MinIO) in a temporary
directory, seeds objects and calls, starts recgw (1 worker unless a section says
otherwise) and nginx (reverse proxy to MinIO, anonymous read through a bucket policy)
on 127.0.0.1, and measures (sections, in order):

  small    16 KiB and 256 KiB objects, lookup-cache hit: wrk at 1/16/64/256 connections
           against recgw's public token route, MinIO (presigned URL) and nginx → MinIO
  large    one and 8 parallel downloads of a 256 MiB object (curl)
  slow     N stalled/slow streams of a 100 MiB object: RSS over time, recgw vs nginx,
           and one fast client's throughput meanwhile
  idle     N idle keep-alive connections: RSS per connection, p99 of wrk beside them
  tiers    lookup tiers (L1 hit, Redis hit, MongoDB) req/s, and instructions per request
           with callgrind (idle baseline subtracted)
  scaling  1 vs 2 worker processes on the small cache-hit case (recgw and nginx)
  hot      the object cache: hot 16 KiB / 1 MiB / 4 MiB objects from memory vs direct MinIO
           vs nginx; a cold uniform-random workload over many objects, cache on vs off

Every result is a ratio against a baseline measured in the same run, because the
machine is shared and noisy. Writes DIR/results.json, DIR/summary.md, DIR/*.png and the
logs of every process under DIR/logs (default DIR: bench/results/<date>/).
Every load loop is bounded in count or time; everything started is stopped at the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import secrets
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECGW_CACHE = Path(os.environ.get("RECGW_CACHE", Path.home() / ".cache" / "recgw"))
BUCKET = "recordings"
KiB, MiB = 1024, 1024 * 1024

PROFILES = {
    # development: well under 2 minutes
    "quick": dict(small_conns=[1, 16], small_dur=2, large_mib=32, large_reps=1,
                  slow_streams=100, slow_secs=5, fast_samples=5, slow_client_rcvbuf=0, spool_streams=5, spool_secs=2,
                  idle_conns=1000, idle_wrk_dur=1, tier_dur=1,
                  callgrind_reqs=500, callgrind_tiers=["l1"], callgrind_idle_s=(1.0, 5.0),
                  scale_conns=[16], scale_dur=1,
                  calls_sizes=[1_000, 10_000], calls_dur=2, l1_fill=10_000,
                  hot_conns=[16, 64], hot_dur=2, cold_objects=2_000, cold_dur=4),
    "medium": dict(small_conns=[1, 16, 64, 256], small_dur=4, large_mib=256, large_reps=1,
                   slow_streams=500, slow_secs=20, fast_samples=5, slow_client_rcvbuf=0, spool_streams=10, spool_secs=4,
                   idle_conns=5000, idle_wrk_dur=4, tier_dur=4,
                   callgrind_reqs=300, callgrind_tiers=["l1", "redis", "mongo"], callgrind_idle_s=(1.0, 3.0),
                   scale_conns=[16, 64], scale_dur=4,
                   calls_sizes=[1_000, 10_000], calls_dur=4, l1_fill=100_000,
                   hot_conns=[16, 64], hot_dur=4, cold_objects=10_000, cold_dur=8),
    "full": dict(small_conns=[1, 16, 64, 256], small_dur=8, large_mib=256, large_reps=2,
                 slow_streams=1000, slow_secs=30, fast_samples=5, slow_client_rcvbuf=0, spool_streams=10, spool_secs=5,
                 idle_conns=10000, idle_wrk_dur=8, tier_dur=8,
                 callgrind_reqs=300, callgrind_tiers=["l1", "redis", "mongo"], callgrind_idle_s=(1.0, 3.0),
                 scale_conns=[16, 64], scale_dur=8,
                 calls_sizes=[1_000, 10_000], calls_dur=8, l1_fill=100_000,
                 hot_conns=[16, 64], hot_dur=8, cold_objects=10_000, cold_dur=16),
}
SECTIONS = ["small", "large", "slow", "idle", "tiers", "scaling", "scale", "cost", "hot"]
SLOW_OBJECT_MIB = 100

# wrk Lua: each thread seeds its own random numbers (threads would otherwise repeat each
# other's sequence).
WRK_SEEDED_THREADS = """local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
end
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def listeners(port: int) -> list[int]:
    """Pids with a listening TCP socket on 127.0.0.1:port (ss -ltnp)."""
    p = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    return sorted({int(x) for x in re.findall(r"pid=(\d+)", p.stdout)})


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ---- process memory ----------------------------------------------------------------------

def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(root: int) -> tuple[int, int]:
    """Sum of VmRSS over the process tree rooted at `root`, and the number of processes."""
    total, n = 0, 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        n += 1
                        break
        except OSError:
            pass
    return total, n


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """utime+stime of the process tree (seconds), from /proc/<pid>/stat."""
    return sum(cpu_split(root))


def heap_release_call(pid: int) -> str:
    """The gdb command that makes process pid give its free heap memory back: mimalloc's
    mi_collect when the process maps libmimalloc (recgw's release build), else glibc's
    malloc_trim."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            if "libmimalloc" in f.read():
                return "call (void) mi_collect(1)"
    except OSError:
        pass
    return "call (int) malloc_trim(0)"


def cpu_split(root: int) -> tuple[float, float]:
    """(user, system) seconds of the process tree, from /proc/<pid>/stat."""
    user = system = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return user / CLK_TCK, system / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def tcp_mem_kib() -> int:
    """Kernel memory of all TCP sockets (pages in /proc/net/sockstat), not part of any RSS."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    return 0


def tcp_memory_pressure() -> bool:
    """True while the kernel throttles every TCP socket because all of them together hold more
    than net.ipv4.tcp_mem's pressure threshold (/proc/net/protocols, column "press")."""
    try:
        with open("/proc/net/protocols") as f:
            head = f.readline().split()
            col = head.index("press")
            for line in f:
                parts = line.split()
                if parts and parts[0] == "TCP":
                    return parts[col] == "yes"
    except (OSError, ValueError, IndexError):
        pass
    return False


class RssSampler:
    def __init__(self, root: int, interval: float = 0.5):
        self.root, self.interval = root, interval
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "RssSampler":
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, n = rss_kib(self.root)
            self.samples.append({"t": round(time.monotonic() - self._t0, 2), "rss_kib": rss, "procs": n,
                                 "tcp_mem_kib": tcp_mem_kib(), "tcp_pressure": tcp_memory_pressure(),
                                 "cpu_s": round(cpu_seconds(self.root), 2)})
            self._stop.wait(self.interval)

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(5)
        return self.samples


# ---- load generators -------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def wrk(url: str, conns: int, duration: float, script: str | None = None, threads: int | None = None) -> dict:
    t = threads or min(2, conns)
    cmd = ["wrk", "-t", str(t), "-c", str(conns), "-d", f"{duration}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    out = p.stdout
    res: dict = {"cmd": " ".join(shlex.quote(c) for c in cmd), "conns": conns, "duration_s": duration}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),\s+([\d.]+)(\w+) read", out)
    res["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
        res[f"p{pct}_ms"] = round(_ms(m.group(1), m.group(2)), 4) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    if p.returncode != 0 or not res["requests"]:
        res["error"] = (p.stderr or out)[-500:]
    return res


def curl_download(url: str, max_time: float) -> dict:
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", str(int(max_time)),
           "-w", "%{http_code} %{size_download} %{time_total}", url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=max_time + 30)
    code, size, secs = p.stdout.split()
    return {"status": int(code), "bytes": int(size), "seconds": float(secs),
            "mib_s": round(int(size) / MiB / max(float(secs), 1e-9), 1), "curl_rc": p.returncode}


def download_series(url: str, k: int, max_time: float) -> dict:
    """k downloads one after another: a single 100 MiB download over loopback lasts ~0.1 s, so one
    sample is mostly noise (the same idle box gave 700 and 1,315 MiB/s a second apart)."""
    runs = [curl_download(url, max_time) for _ in range(max(1, k))]
    speeds = sorted(r["mib_s"] for r in runs)
    return {"mib_s": statistics.median(speeds), "min_mib_s": speeds[0], "max_mib_s": speeds[-1],
            "statuses": sorted({r["status"] for r in runs}), "runs": runs}


def parallel_downloads(url: str, n: int, max_time: float) -> dict:
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", str(int(max_time)),
           "-w", "%{http_code} %{size_download} %{time_total}", url]
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max_time + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        outs.append((p.returncode, out.split()))
    wall = time.monotonic() - t0
    total = sum(int(o[1]) for _, o in outs if len(o) == 3)
    return {"n": n, "wall_s": round(wall, 3), "bytes": total, "mib_s": round(total / MiB / wall, 1),
            "statuses": sorted({o[0] for _, o in outs if o}), "curl_rcs": sorted({rc for rc, _ in outs})}


# ---- raw-socket clients ------------------------------------------------------------------

def _tcp_state(sock: socket.socket) -> int:
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return -1


TCP_STATES = {1: "established", 7: "close", 8: "close_wait", -1: "error"}


def open_connections(port: int, path: str, n: int, mode: str, deadline_s: float, batch: int = 100,
                     rcvbuf: int = 0) -> dict:
    """Open n connections to 127.0.0.1:port, each sending one GET for `path`.

    mode "headers": read until the end of the response headers, then stop reading (the
    body stays in the kernel buffers: a stalled client). mode "full": read the whole
    response (Content-Length) and keep the connection open (idle keep-alive).
    Bounded by deadline_s overall. rcvbuf > 0 fixes each socket's receive buffer (SO_RCVBUF,
    before connecting) instead of letting the kernel grow it. Returns the sockets and what was seen.
    """
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: recgw-bench\r\n"
           f"Accept: */*\r\n\r\n").encode()
    deadline = time.monotonic() + deadline_s
    socks: list[socket.socket] = []
    statuses: dict[str, int] = {}
    failures = 0
    not_keepalive = 0
    sel = selectors.DefaultSelector()
    for start in range(0, n, batch):
        pending = {}
        for _ in range(min(batch, n - start)):
            if time.monotonic() > deadline:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                if rcvbuf > 0:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                s.settimeout(5)
                s.connect(("127.0.0.1", port))
                s.sendall(req)
                s.setblocking(False)
            except OSError:
                s.close()
                failures += 1
                continue
            pending[s] = {"buf": b"", "need": None, "got": 0}
            sel.register(s, selectors.EVENT_READ)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                st = pending.get(s)
                if st is None:
                    continue
                try:
                    data = s.recv(256 * KiB)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                done = False
                if not data:
                    failures += 1
                    sel.unregister(s)
                    s.close()
                    del pending[s]
                    continue
                if st["need"] is None:
                    st["buf"] += data
                    end = st["buf"].find(b"\r\n\r\n")
                    if end >= 0:
                        head = st["buf"][:end].decode("latin-1")
                        status = head.split(" ", 2)[1] if " " in head else "?"
                        statuses[status] = statuses.get(status, 0) + 1
                        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
                        if re.search(r"(?im)^connection:\s*close", head):
                            not_keepalive += 1
                        st["need"] = int(m.group(1)) if m else 0
                        st["got"] = len(st["buf"]) - end - 4
                        st["buf"] = b""
                        done = mode == "headers" or st["got"] >= st["need"]
                else:
                    st["got"] += len(data)
                    done = st["got"] >= st["need"]
                if done:
                    sel.unregister(s)
                    del pending[s]
                    socks.append(s)
        for s in list(pending):
            failures += 1
            sel.unregister(s)
            s.close()
    sel.close()
    return {"socks": socks, "statuses": statuses, "failures": failures, "not_keepalive": not_keepalive}


METRIC_PREFIXES = ("recgw_streams_", "recgw_stream_", "recgw_http_open_connections", "recgw_http_in_flight",
                   "recgw_upstream_cancelled", "recgw_http_accept_paused", "recgw_http_connections_accepted",
                   "recgw_object_cache_")


def recgw_metrics(base: str) -> dict:
    """The stream and connection gauges/counters of /metrics (one worker: that worker's)."""
    try:
        st, body = http_get(f"{base}/metrics", timeout=10)
    except OSError as e:
        return {"error": str(e)}
    out = {}
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("#") or not line.startswith(METRIC_PREFIXES):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def anatomy(url: str, n: int = 21) -> dict:
    """n sequential GETs on one keep-alive connection, read with raw recv(): time to first
    byte, time to last byte, and the largest gap between two reads of one response. A gap
    near 40 ms is Nagle's algorithm on the server meeting the client's delayed ACK."""
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    target = u.path + (f"?{u.query}" if u.query else "")
    req = f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\nUser-Agent: recgw-bench\r\n\r\n".encode()
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    rows = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(req)
            buf, need, got, first, last, gap, reads = b"", None, 0, None, None, 0.0, 0
            while need is None or got < need:
                d = s.recv(1 << 20)
                if not d:
                    raise RuntimeError("connection closed mid-response")
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    gap = max(gap, now - last)
                last = now
                reads += 1
                if need is None:
                    buf += d
                    e = buf.find(b"\r\n\r\n")
                    if e >= 0:
                        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", buf[:e + 2])
                        need = int(m.group(1)) if m else 0
                        got = len(buf) - e - 4
                else:
                    got += len(d)
            rows.append(((first - t0) * 1e3, (last - t0) * 1e3, gap * 1e3, reads))
    finally:
        s.close()
    rows = rows[1:]  # the first request warms the connection
    med = lambda i: round(statistics.median(r[i] for r in rows), 3)  # noqa: E731
    return {"requests": len(rows), "ttfb_ms": med(0), "ttlb_ms": med(1), "max_gap_ms": med(2),
            "reads": med(3), "ttlb_max_ms": round(max(r[1] for r in rows), 3),
            "gaps_over_30ms": sum(1 for r in rows if r[2] > 30)}


WRAPPERS = ("runWorker", "superviseWorkers", "spawn(", "EventLoop::run", "serve(", "main")


def short_fn(entry: str) -> tuple[str, str]:
    """'path/file.cc:ns::fn(args) [/usr/lib/libx.so]' → ('ns::fn(…)', 'libx.so')."""
    lib = ""
    m = re.search(r" \[([^\]]+)\]$", entry)
    if m:
        lib = os.path.basename(m.group(1))
        entry = entry[: m.start()]
    if ":" in entry and not entry.startswith("recgw::"):
        head, rest = entry.split(":", 1)
        if "/" in head or head == "???" or "." in head:
            entry = rest
    entry = re.sub(r"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string", entry)
    if len(entry) > 110:
        entry = entry[:107] + "…"
    return entry.replace("|", "\\|"), lib


class SlowReaders:
    """Reads `nbytes` from each socket every `interval` seconds (a very slow client)."""

    def __init__(self, socks: list[socket.socket], nbytes: int = 4096, interval: float = 1.0):
        self.socks, self.nbytes, self.interval = socks, nbytes, interval
        self.bytes_read = 0
        self.closed_by_server = 0
        self._dead: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "SlowReaders":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for i, s in enumerate(self.socks):
                if i in self._dead:
                    continue
                try:
                    data = s.recv(self.nbytes)
                    if not data:
                        self._dead.add(i)
                        self.closed_by_server += 1
                    self.bytes_read += len(data)
                except BlockingIOError:
                    pass
                except OSError:
                    self._dead.add(i)
                    self.closed_by_server += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def count_states(socks: list[socket.socket]) -> dict:
    out: dict[str, int] = {}
    for s in socks:
        name = TCP_STATES.get(_tcp_state(s), "other")
        out[name] = out.get(name, 0) + 1
    return out


# ---- the runner --------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.profile_name = "quick" if args.quick else "medium" if args.medium else "full"
        self.p = dict(PROFILES[self.profile_name])
        for item in args.profile_set or []:  # e.g. idle_conns=10000; JSON values for lists
            name, _, raw = item.partition("=")
            if name not in self.p:
                raise SystemExit(f"run.py: --profile-set: no profile value {name!r} (have {sorted(self.p)})")
            self.p[name] = json.loads(raw)
        self.out = Path(args.out) if args.out else REPO / "bench" / "results" / dt.date.today().isoformat()
        self.out.mkdir(parents=True, exist_ok=True)
        self.logs = self.out / "logs"
        self.logs.mkdir(exist_ok=True)
        # No "recgw" in any path or process name of ours: other people on this machine stop
        # their gateways by name (pkill/killall recgw), which also killed ours mid-run. The
        # binary under test is a byte-for-byte copy named gw-under-test.
        self.tmp = Path(tempfile.mkdtemp(prefix="gwbench-"))
        self.stack_dir = self.tmp / "stack"
        self.recgw_source = Path(os.environ.get("RECGW_BINARY", REPO / "build" / "recgw"))
        self.recgw = self.tmp / "gw-under-test"
        shutil.copy2(self.recgw_source, self.recgw)
        self.procs: list[subprocess.Popen] = []
        self.gateways: list[dict] = []
        self.results: dict = {"profile": self.profile_name, "params": self.p, "sections": {}}
        self.stack_env: dict[str, str] = {}
        self.stack_ports: dict[str, str] = {}
        self.objects: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.gw_log_counter = 0
        self.partial: dict = {}
        # --gateway-env KEY=VALUE: applied to every recgw instance (what-if runs)
        self.gateway_env = dict(kv.split("=", 1) for kv in (args.gateway_env or []))
        self.results["gateway_env"] = self.gateway_env

    # -- environment -----------------------------------------------------------------
    def raise_nofile(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        self.results["rlimit_nofile"] = {"before": soft, "after": want, "hard": hard}
        log(f"RLIMIT_NOFILE {soft} -> {want} (inherited by recgw, nginx, wrk)")

    def machine(self) -> dict:
        def cmd(*c: str) -> str:
            try:
                p = subprocess.run(c, capture_output=True, text=True, timeout=20)
                return (p.stdout + p.stderr).strip()
            except (OSError, subprocess.TimeoutExpired) as e:
                return f"unavailable: {e}"
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
        if os.environ.get("RECGW_REV"):  # a clean build of one commit (bench/build_clean.sh)
            rev, dirty = os.environ["RECGW_REV"], ""
        else:  # the work tree's build: say whether it had uncommitted changes
            rev = cmd("git", "-C", str(REPO), "rev-parse", "HEAD")
            dirty = cmd("git", "-C", str(REPO), "status", "--porcelain")
        try:
            import matplotlib
            mpl = matplotlib.__version__
        except ImportError:
            mpl = None
        return {
            "nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kib / MiB, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "recgw_rev": rev, "recgw_tree_dirty": bool(dirty.strip()), "recgw_binary": str(self.recgw_source),
            "recgw_version": cmd(str(self.recgw), "--version"),
            "minio": (RECGW_CACHE / "bin" / "minio.version").read_text().strip()
            if (RECGW_CACHE / "bin" / "minio.version").exists() else "?",
            "ferretdb": (RECGW_CACHE / "bin" / "ferretdb.version").read_text().strip()
            if (RECGW_CACHE / "bin" / "ferretdb.version").exists() else "?",
            "redis": cmd("redis-server", "--version").split(" sha=")[0],
            "nginx": cmd("nginx", "-v").replace("nginx version: ", ""),
            "wrk": cmd("wrk", "-v").splitlines()[0].split(" Copyright")[0],
            "curl": cmd("curl", "--version").splitlines()[0],
            "valgrind": cmd("valgrind", "--version"),
            "matplotlib": mpl,
            "loadavg_start": loadavg(),
        }

    # -- stack ---------------------------------------------------------------------------
    def start_stack(self) -> None:
        log(f"starting the stack in {self.stack_dir}")
        subprocess.run([str(REPO / "tools" / "stack.sh"), "start", "--dir", str(self.stack_dir)],
                       check=True, timeout=180, stdout=subprocess.DEVNULL)
        env_text = subprocess.run([str(REPO / "tools" / "stack.sh"), "env", "--dir", str(self.stack_dir)],
                                  check=True, capture_output=True, text=True, timeout=30).stdout
        for line in env_text.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                self.stack_env[k] = shlex.split(v)[0]
        ports = subprocess.run([str(REPO / "tools" / "stack.sh"), "ports", "--dir", str(self.stack_dir)],
                               check=True, capture_output=True, text=True, timeout=30).stdout
        for line in ports.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                self.stack_ports[k] = v
        self.minio_port = int(self.stack_ports["MINIO_PORT"])

    def stop_stack(self) -> None:
        if self.stack_dir.exists():
            subprocess.run([str(REPO / "tools" / "stack.sh"), "stop", "--dir", str(self.stack_dir)],
                           timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def s3(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.stack_env["RECGW_S3_ENDPOINT"], region_name="us-east-1",
                            aws_access_key_id=self.stack_env["RECGW_S3_ACCESS_KEY"],
                            aws_secret_access_key=self.stack_env["RECGW_S3_SECRET_KEY"],
                            config=Config(s3={"addressing_style": "path"}))

    def seed(self) -> None:
        large_mib = self.p["large_mib"]
        sizes = {"16k": 16 * KiB, "256k": 256 * KiB, "large": large_mib * MiB, "slow": SLOW_OBJECT_MIB * MiB}
        s3 = self.s3()
        log("seeding objects: " + ", ".join(f"{k}={v // KiB} KiB" for k, v in sizes.items()))
        from boto3.s3.transfer import TransferConfig
        tc = TransferConfig(multipart_threshold=8 * 1024 * MiB)  # single PUT: one plain ETag
        for name, size in sizes.items():
            key = f"bench/{name}.ogg"
            path = self.tmp / f"{name}.bin"
            with open(path, "wb") as f:
                left = size
                while left:
                    chunk = os.urandom(min(left, 4 * MiB))
                    f.write(chunk)
                    left -= len(chunk)
            s3.upload_file(str(path), BUCKET, key, ExtraArgs={"ContentType": "audio/ogg"}, Config=tc)
            path.unlink()
            self.objects[name] = {"key": key, "size": size}
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/*"]}]}
        s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
        import pymongo
        client = pymongo.MongoClient(self.stack_env["RECGW_MONGO_URI"])
        calls = client.get_default_database()["calls"]
        now = dt.datetime.now(dt.timezone.utc)
        docs = []
        for name, obj in self.objects.items():
            tok = secrets.token_urlsafe(32)
            self.tokens[name] = tok
            docs.append({"session_id": f"bench-{name}-{secrets.token_hex(4)}", "account_id": "bench",
                         "recording_access_token": tok, "recording_key": obj["key"],
                         "recording_status": "ready", "created_at": now})
        calls.insert_many(docs)
        client.close()
        for name, obj in self.objects.items():
            obj["presigned"] = self.presign(obj["key"])
        st, _ = http_get(self.objects["16k"]["presigned"])
        if st != 200:
            raise RuntimeError(f"presigned GET of {self.objects['16k']['key']} answered {st}")

    def presign(self, key: str) -> str:
        p = subprocess.run([str(self.recgw), "presign", "--endpoint", self.stack_env["RECGW_S3_ENDPOINT"],
                            "--bucket", BUCKET, "--key", key,
                            "--access-key", self.stack_env["RECGW_S3_ACCESS_KEY"],
                            "--secret-key", self.stack_env["RECGW_S3_SECRET_KEY"],
                            "--region", self.stack_env.get("RECGW_S3_REGION", "us-east-1"),
                            "--expires", "86400"], check=True, capture_output=True, text=True, timeout=30)
        return p.stdout.strip()

    # -- recgw -----------------------------------------------------------------------------
    def start_gateway(self, name: str, workers: int = 1, extra: dict | None = None,
                      wrapper: list[str] | None = None, timeout: float = 30.0) -> dict:
        for attempt in range(3):
            try:
                return self._start_gateway(name, workers, extra, wrapper, timeout)
            except RuntimeError as e:
                if "foreign pids" not in str(e) or attempt == 2:
                    raise
                log(f"recgw {name}: {e}; retrying on another port")
        raise AssertionError("unreachable")

    def _start_gateway(self, name: str, workers: int, extra: dict | None,
                       wrapper: list[str] | None, timeout: float) -> dict:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
        env.update(self.stack_env)
        env["RECGW_SERVER_LISTEN"] = f"127.0.0.1:{port}"
        env["RECGW_SERVER_WORKERS"] = str(workers)
        for k, v in list(self.gateway_env.items()) + list((extra or {}).items()):
            env[k] = str(v)
        self.gw_log_counter += 1
        stem = self.logs / f"recgw-{self.gw_log_counter:02d}-{name}"
        argv = (wrapper or []) + [str(self.recgw), "serve"]
        out = open(f"{stem}.access.log", "wb")
        err = open(f"{stem}.log", "wb")
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        err.close()
        self.procs.append(proc)
        gw = {"name": name, "proc": proc, "port": port, "workers": workers, "stem": stem,
              "extra": {k: v for k, v in (extra or {}).items()}, "wrapper": wrapper,
              "base": f"http://127.0.0.1:{port}"}
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"recgw {name} exited with {proc.returncode}: "
                                   f"{Path(f'{stem}.log').read_text()[-2000:]}")
            try:
                st, _ = http_get(f"{gw['base']}/healthz", timeout=2)
                if st == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"recgw {name} not healthy after {timeout}s")
            time.sleep(0.1)
        foreign = [p for p in listeners(port) if p not in process_tree(proc.pid)]
        if foreign:
            # SO_REUSEPORT: another process (someone else's recgw) shares this port and would
            # take part of our connections. Never measure that; the caller may retry.
            self.stop_gateway(gw)
            raise RuntimeError(f"port {port} is also listened on by foreign pids {foreign}")
        self.gateways.append(gw)
        return gw

    def public_url(self, gw: dict, name: str) -> str:
        return f"{gw['base']}/api/v1/public/recordings/{self.tokens[name]}"

    def public_path(self, name: str) -> str:
        return f"/api/v1/public/recordings/{self.tokens[name]}"

    def stop_gateway(self, gw: dict) -> dict:
        proc: subprocess.Popen = gw["proc"]
        gw["exited_before_stop"] = proc.poll() is not None
        if gw["exited_before_stop"]:
            log(f"WARNING: recgw {gw['name']} had already exited ({proc.returncode}) before the runner stopped it")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group of the process we started (its workers)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if proc in self.procs:
            self.procs.remove(proc)
        return self.gateway_log_summary(gw, proc.returncode)

    def gateway_log_summary(self, gw: dict, code: int | None) -> dict:
        levels: dict[str, int] = {}
        msgs: dict[str, int] = {}
        started = died = 0
        sigterms: list[str] = []
        try:
            with open(f"{gw['stem']}.log", errors="replace") as f:
                for line in f:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        if line.strip() and not line.startswith("=="):
                            msgs["(non-JSON) " + line.strip()[:120]] = msgs.get("(non-JSON) " + line.strip()[:120], 0) + 1
                        continue
                    lv = obj.get("level", "?")
                    levels[lv] = levels.get(lv, 0) + 1
                    m = obj.get("msg", "")
                    if m == "worker started":
                        started += 1
                    if "died" in m:
                        died += 1
                    if obj.get("signal") == "SIGTERM" and "supervisor" in m:
                        sigterms.append(obj.get("time"))
                    if lv in ("warn", "error"):
                        k = f"{lv}: {m}" + (f" ({obj.get('error') or obj.get('reason') or ''})"
                                            if obj.get("error") or obj.get("reason") else "")
                        msgs[k[:200]] = msgs.get(k[:200], 0) + 1
        except OSError:
            pass
        statuses: dict[str, int] = {}
        try:
            with open(f"{gw['stem']}.access.log", errors="replace") as f:
                for line in f:
                    m = re.search(r'"status":(\d+)', line)
                    if m:
                        statuses[m.group(1)] = statuses.get(m.group(1), 0) + 1
        except OSError:
            pass
        return {"name": gw["name"], "workers": gw["workers"], "env": gw["extra"], "exit_code": code,
                "exited_before_stop": gw.get("exited_before_stop", False),
                "sigterm_lines": sigterms,
                "worker_starts": started, "worker_deaths": died, "log_levels": levels,
                "warn_error_messages": dict(sorted(msgs.items(), key=lambda kv: -kv[1])[:15]),
                "access_statuses": statuses}

    # -- nginx -----------------------------------------------------------------------------
    def start_nginx(self, name: str, workers: int = 1) -> dict:
        d = self.tmp / f"nginx-{name}"
        for sub in ("logs", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = f"""# generated by bench/run.py
worker_processes {workers};
worker_rlimit_nofile 20000;
error_log {d}/logs/error.log warn;
pid {d}/nginx.pid;
user root;
events {{ worker_connections 16384; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000;
    upstream minio {{
        server 127.0.0.1:{self.minio_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        # default proxy buffering (on, proxy_buffers 8 4k|8k, temp-file spool up to 1 GiB)
        location /{BUCKET}/ {{
            proxy_pass http://minio;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1:{self.minio_port};
        }}
{self.nginx_signed_locations()}
        # the same without the temp-file spool (proxy_max_temp_file_size 0): only the
        # in-memory proxy buffers, so stalled clients do not write GiBs to disk
        location /nospool/{BUCKET}/ {{
            proxy_max_temp_file_size 0;
            proxy_pass http://minio/{BUCKET}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1:{self.minio_port};
        }}
    }}
}}
"""
        (d / "nginx.conf").write_text(conf)
        err = open(d / "logs" / "stderr.log", "wb")
        proc = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                                stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        err.close()
        self.procs.append(proc)
        wait_port(port, 15, proc)
        ng = {"name": name, "proc": proc, "port": port, "dir": d, "workers": workers,
              "base": f"http://127.0.0.1:{port}"}
        st, _ = http_get(f"{ng['base']}/{BUCKET}/{self.objects['16k']['key']}", timeout=30)
        if st != 200:
            raise RuntimeError(f"nginx → MinIO anonymous GET answered {st} (bucket policy?)")
        st, _ = http_get(self.nginx_signed_url(ng, "16k"), timeout=30)
        if st != 200:
            raise RuntimeError(f"nginx → MinIO presigned GET answered {st}")
        return ng

    # nginx reads anonymously (the bucket policy), so MinIO skips the signature check it
    # runs for every recgw request; measured here at +40–120 µs of MinIO CPU per 16 KiB GET
    # on this box. /signed/<name> proxies to the object's presigned URL instead, so MinIO
    # verifies a signature behind nginx too: the like-for-like baseline for a signing proxy.
    def nginx_signed_locations(self) -> str:
        out = []
        for name, obj in self.objects.items():
            parts = urllib.parse.urlsplit(obj["presigned"])
            out.append(f"""        location = /signed/{name} {{
            proxy_pass http://minio{parts.path}?{parts.query};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {parts.netloc};
        }}""")
        return "\n".join(out)

    def nginx_signed_url(self, ng: dict, name: str) -> str:
        return f"{ng['base']}/signed/{name}"

    def stop_nginx(self, ng: dict) -> None:
        proc: subprocess.Popen = ng["proc"]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)
        try:
            shutil.copy(ng["dir"] / "logs" / "error.log", self.logs / f"nginx-{ng['name']}-error.log")
        except OSError:
            pass

    def nginx_url(self, ng: dict, name: str, nospool: bool = False) -> str:
        return f"{ng['base']}{'/nospool' if nospool else ''}/{BUCKET}/{self.objects[name]['key']}"

    # -- sections ----------------------------------------------------------------------------
    def targets_for(self, name: str) -> dict[str, str]:
        return {"recgw": self.public_url(self.gw, name), "minio": self.objects[name]["presigned"],
                "nginx": self.nginx_url(self.ng, name), "nginx_signed": self.nginx_signed_url(self.ng, name)}

    # CPU of the proxy (recgw's or nginx's process tree) and of MinIO per request, around one
    # load run: on a box the three share, req/s ratios mix the proxy's own cost with the work
    # it makes the origin do.
    def cpu_per_request(self, target: str, run) -> tuple[dict, dict]:
        proxy = {"recgw": self.gw["proc"].pid, "nginx": self.ng["proc"].pid,
                 "nginx_signed": self.ng["proc"].pid}.get(target)
        minio = self.minio_pid()
        p0 = cpu_split(proxy) if proxy else (0.0, 0.0)
        m0 = cpu_split(minio) if minio else (0.0, 0.0)
        r = run()
        p1 = cpu_split(proxy) if proxy else (0.0, 0.0)
        m1 = cpu_split(minio) if minio else (0.0, 0.0)
        n = max(1.0, r["rps"] * self.p["small_dur"])
        us = lambda a, b: round((b - a) / n * 1e6, 1)
        return r, {"proxy_user_us": us(p0[0], p1[0]) if proxy else None,
                   "proxy_sys_us": us(p0[1], p1[1]) if proxy else None,
                   "minio_user_us": us(m0[0], m1[0]), "minio_sys_us": us(m0[1], m1[1])}

    def section_small(self) -> dict:
        res: dict = {}
        for size in ("16k", "256k"):
            targets = self.targets_for(size)
            for t, url in targets.items():  # warm-up: connections, caches
                wrk(url, 4, 1)
            rows = []
            for c in self.p["small_conns"]:
                row = {"conns": c}
                for t, url in targets.items():  # interleaved: all see the same noise
                    r, cpu = self.cpu_per_request(t, lambda: wrk(url, c, self.p["small_dur"]))
                    r["cpu"] = cpu
                    row[t] = r
                    log(f"small {size} c={c} {t}: {r['rps']:.0f} req/s p50 {r['p50_ms']} ms "
                        f"p99 {r['p99_ms']} ms non2xx {r['non2xx']} {r['socket_errors']}")
                rows.append(row)
            res[size] = rows
        res["anatomy"] = {}
        for size in ("16k", "256k"):
            for t, url in self.targets_for(size).items():
                a = anatomy(url)
                res["anatomy"][f"{size}/{t}"] = a
                log(f"anatomy {size} {t}: ttfb {a['ttfb_ms']} ms, ttlb {a['ttlb_ms']} ms, max gap "
                    f"{a['max_gap_ms']} ms, {a['reads']} reads, {a['gaps_over_30ms']}/{a['requests']} gaps > 30 ms")
        return res

    def section_large(self) -> dict:
        size = self.objects["large"]["size"]
        targets = {t: u for t, u in self.targets_for("large").items() if t != "nginx_signed"}
        max_time = 600
        res: dict = {"object_bytes": size, "one": {}, "eight": {}}
        for t, url in targets.items():
            curl_download(url, max_time)  # warm-up (page cache)
            break
        # Who spends the CPU of one download: the proxy (user and kernel time) and MinIO. On a
        # small box the origin, the proxy and the client share the cores, so a proxy that
        # costs as much kernel time per byte as the origin cannot reach the origin's speed.
        servers = {"recgw": self.gw["proc"].pid, "nginx": self.ng["proc"].pid}
        cpu: dict = {t: {"user_s": 0.0, "sys_s": 0.0, "minio_s": 0.0, "bytes": 0} for t in targets}
        minio = self.minio_pid()
        for rep in range(self.p["large_reps"]):
            for t, url in targets.items():
                before = cpu_split(servers[t]) if t in servers else (0.0, 0.0)
                minio_before = cpu_seconds(minio) if minio else 0.0
                r = curl_download(url, max_time)
                after = cpu_split(servers[t]) if t in servers else (0.0, 0.0)
                cpu[t]["user_s"] += after[0] - before[0]
                cpu[t]["sys_s"] += after[1] - before[1]
                cpu[t]["minio_s"] += (cpu_seconds(minio) - minio_before) if minio else 0.0
                cpu[t]["bytes"] += r["bytes"]
                res["one"].setdefault(t, []).append(r)
                log(f"large one {t}: {r['mib_s']} MiB/s status {r['status']} bytes {r['bytes']}")
            for t, url in targets.items():
                r = parallel_downloads(url, 8, max_time)
                res["eight"].setdefault(t, []).append(r)
                log(f"large 8x {t}: {r['mib_s']} MiB/s aggregate statuses {r['statuses']}")
        res["one_cpu_s_per_gib"] = {
            t: {"proxy_user": round(c["user_s"] * 1024 / max(c["bytes"] / MiB, 1e-9), 3),
                "proxy_sys": round(c["sys_s"] * 1024 / max(c["bytes"] / MiB, 1e-9), 3),
                "minio": round(c["minio_s"] * 1024 / max(c["bytes"] / MiB, 1e-9), 3)}
            for t, c in cpu.items()}
        log(f"large one: CPU seconds per GiB {res['one_cpu_s_per_gib']}")
        # Issue 21, item 5: the same eight downloads against two worker processes on each side.
        gw2, ng2 = self.start_gateway("large-2w", workers=2), self.start_nginx("large-2w", workers=2)
        try:
            targets2 = {"recgw": self.public_url(gw2, "large"), "nginx": self.nginx_url(ng2, "large")}
            for rep in range(self.p["large_reps"]):
                for t, url in targets2.items():
                    r = parallel_downloads(url, 8, max_time)
                    res.setdefault("eight_2w", {}).setdefault(t, []).append(r)
                    log(f"large 8x 2 workers {t}: {r['mib_s']} MiB/s aggregate statuses {r['statuses']}")
        finally:
            res.setdefault("gateways", []).append(self.stop_gateway(gw2))
            self.stop_nginx(ng2)
        for kind in ("one", "eight", "eight_2w"):
            for t in (targets2 if kind == "eight_2w" else targets):
                runs = res[kind][t]
                ok = all(r.get("bytes") == (size if kind == "one" else 8 * size) for r in runs)
                res[kind][t] = {"runs": runs, "median_mib_s": statistics.median(r["mib_s"] for r in runs),
                                "complete": ok}
        return res

    def stalled_run(self, label: str, root_pid: int, port: int, path: str, fast_url: str, n: int,
                    secs: float, idle_rss: int, metrics_base: str | None = None) -> dict:
        settle = self.settle_minio()
        k = self.p.get("fast_samples", 5)
        # the first 100 MiB downloads through a fresh gateway run at about two thirds of the
        # later ones (its heap and the upstream connection's window grow): not part of "before"
        download_series(fast_url, 2, 120)
        fast_before = download_series(fast_url, k, 120)
        sampler = RssSampler(root_pid).start()
        t_open = time.monotonic()
        opened = open_connections(port, path, n, "headers", deadline_s=60, rcvbuf=self.p.get("slow_client_rcvbuf", 0))
        open_s = time.monotonic() - t_open
        socks = opened["socks"]
        slow = SlowReaders(socks[: len(socks) // 2]).start()  # half read 4 KiB/s, half never read
        minio_pid = self.minio_pid()
        minio_cpu0, busy0, t_stall0 = cpu_seconds(minio_pid) if minio_pid else 0.0, machine_busy(), time.monotonic()
        log(f"slow {label}: {len(socks)} streams open in {open_s:.1f}s, statuses {opened['statuses']}, "
            f"failures {opened['failures']}")
        fast_during: dict = {}
        fast_minio_during: dict = {}

        def fast() -> None:
            fast_during.update(download_series(fast_url, k, 120))
            # the same object straight from MinIO, meanwhile: is the origin or the proxy slow?
            fast_minio_during.update(curl_download(self.objects["slow"]["presigned"], 120))
        # after the streams had time to park (stream.park_after_ms, 2 s by default): the target
        # is a fast client beside parked streams; during the opening the origin itself is busy
        t_fast = threading.Timer(max(secs / 3, 3.0), fast)
        t_fast.start()
        time.sleep(secs)
        t_fast.join(250)
        states = count_states(socks)
        stall_s = time.monotonic() - t_stall0
        minio_cpu = (cpu_seconds(minio_pid) - minio_cpu0) if minio_pid else 0.0
        busy1 = machine_busy()
        metrics_open = recgw_metrics(metrics_base) if metrics_base else {}
        slow.stop()
        samples = sampler.stop()
        close_all(socks)
        time.sleep(2.0)
        after_close, _ = rss_kib(root_pid)
        metrics_closed = recgw_metrics(metrics_base) if metrics_base else {}
        window = [s for s in samples if s["t"] >= open_s]
        peak = max((s["rss_kib"] for s in samples), default=0)
        end_rss = window[-1]["rss_kib"] if window else 0
        mid_rss = window[len(window) // 2]["rss_kib"] if window else 0
        streams = max(1, opened["statuses"].get("200", 0))
        return {
            "streams_requested": n, "streams_open": len(socks), "statuses": opened["statuses"],
            "open_failures": opened["failures"], "open_seconds": round(open_s, 1),
            "rss_idle_kib": idle_rss, "rss_peak_kib": peak, "rss_mid_kib": mid_rss, "rss_end_kib": end_rss,
            "rss_after_close_kib": after_close,
            "kib_per_stream_peak": round((peak - idle_rss) / streams, 1),
            "kib_per_stream_end": round((end_rss - idle_rss) / streams, 1),
            "tcp_mem_peak_kib": max((s["tcp_mem_kib"] for s in samples), default=0),
            "tcp_pressure_samples": sum(1 for s in samples if s.get("tcp_pressure")),
            "client_rcvbuf": self.p.get("slow_client_rcvbuf", 0),
            "slow_reader_bytes": slow.bytes_read, "closed_by_server_seen_by_slow_readers": slow.closed_by_server,
            "socket_states_at_end": states,
            "fast_before": fast_before, "fast_during": fast_during,
            "fast_ratio": round(fast_during.get("mib_s", 0) / max(fast_before["mib_s"], 1e-9), 3),
            "fast_minio_during": fast_minio_during,
            "cpu_percent_stalled": round(100 * (window[-1]["cpu_s"] - window[0]["cpu_s"])
                                         / max(window[-1]["t"] - window[0]["t"], 1e-9), 1) if len(window) > 1 else None,
            "minio_settle_s_before": settle,
            "minio_cpu_percent_stalled": round(100 * minio_cpu / max(stall_s, 1e-9), 1),
            "machine_busy_percent_stalled": round(100 * (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1), 1),
            "metrics_streams_open": metrics_open, "metrics_after_close": metrics_closed,
            "samples": samples,
        }

    def minio_pid(self) -> int | None:
        try:
            return int((self.stack_dir / "minio.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def malloc_trim(self, root: int) -> dict:
        """Ask the allocator in every process of the tree to give free memory back (gdb:
        malloc_trim(0), or mi_collect(1) where mimalloc serves malloc),
        then read RSS again: what drops was free memory the allocator kept, what stays is in use."""
        if not shutil.which("gdb"):
            return {"error": "gdb not installed"}
        before, _ = rss_kib(root)
        rcs = []
        for pid in process_tree(root):
            p = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", heap_release_call(pid)],
                               capture_output=True, text=True, timeout=60)
            rcs.append(p.returncode)
        time.sleep(0.5)
        after, _ = rss_kib(root)
        return {"rss_before_kib": before, "rss_after_kib": after, "gdb_rcs": rcs}

    def settle_minio(self, limit_s: float = 60.0) -> float:
        """Wait until MinIO answers a 16 KiB GET within 50 ms again (after a phase that left it
        with hundreds of connections to tear down); returns the seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s:
            t = time.monotonic()
            try:
                st, _ = http_get(self.objects["16k"]["presigned"], timeout=10)
            except OSError:
                st = 0
            if st == 200 and time.monotonic() - t < 0.05:
                break
            time.sleep(0.5)
        return round(time.monotonic() - t0, 1)

    def section_slow(self) -> dict:
        n, secs = self.p["slow_streams"], self.p["slow_secs"]
        res = self.partial
        res.update({"streams": n, "seconds": secs, "object_bytes": self.objects["slow"]["size"]})
        # recgw: its own instance so the idle RSS is not inflated by earlier sections
        gw = self.start_gateway("slow")
        http_get(self.public_url(gw, "16k"))
        time.sleep(1)
        idle, _ = rss_kib(gw["proc"].pid)
        res["recgw"] = self.stalled_run("recgw", gw["proc"].pid, gw["port"], self.public_path("slow"),
                                        self.public_url(gw, "slow"), n, secs, idle, gw["base"])
        # a second, shorter round on the same process: memory that is only retained by the
        # allocator is reused; a leak grows again by about as much
        res["recgw_round2"] = self.stalled_run("recgw round 2", gw["proc"].pid, gw["port"], self.public_path("slow"),
                                               self.public_url(gw, "slow"), n, max(3, secs / 3), idle, gw["base"])
        res["recgw_round2"].pop("samples", None)
        res["recgw_malloc_trim"] = self.malloc_trim(gw["proc"].pid)
        log(f"slow recgw: malloc_trim {res['recgw_malloc_trim']}")
        res["recgw"]["gateway"] = self.stop_gateway(gw)
        log(f"slow recgw: {res['recgw']['kib_per_stream_peak']} KiB/stream peak, fast client "
            f"{res['recgw']['fast_ratio']}x")
        ng = self.start_nginx("slow")
        time.sleep(0.5)
        idle, _ = rss_kib(ng["proc"].pid)
        res["nginx"] = self.stalled_run("nginx", ng["proc"].pid, ng["port"],
                                        f"/nospool/{BUCKET}/{self.objects['slow']['key']}",
                                        self.nginx_url(ng, "slow", nospool=True), n, secs, idle)
        log(f"slow nginx: {res['nginx']['kib_per_stream_peak']} KiB/stream peak, fast client "
            f"{res['nginx']['fast_ratio']}x")
        # nginx's real default spools to (unlinked) temp files: measure it on a few streams
        res["nginx_spool"] = self.nginx_spool(ng)
        self.stop_nginx(ng)
        return res

    def nginx_spool(self, ng: dict) -> dict:
        n, secs = self.p["spool_streams"], self.p["spool_secs"]
        proxy_dir = str(ng["dir"] / "proxy")
        opened = open_connections(ng["port"], f"/{BUCKET}/{self.objects['slow']['key']}", n, "headers", 30)
        peak = 0
        t_end = time.monotonic() + secs
        while time.monotonic() < t_end:
            total = 0
            for pid in process_tree(ng["proc"].pid):
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        try:
                            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(proxy_dir):
                                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
                        except OSError:
                            pass
                except OSError:
                    pass
            peak = max(peak, total)
            time.sleep(0.5)
        close_all(opened["socks"])
        return {"streams": len(opened["socks"]), "seconds": secs, "temp_file_bytes_peak": peak,
                "mib_per_stream": round(peak / MiB / max(1, len(opened["socks"])), 1)}

    def idle_run(self, label: str, root: int, port: int, path: str, wrk_url: str, n: int,
                 metrics_base: str | None = None) -> dict:
        base = wrk(wrk_url, 16, self.p["idle_wrk_dur"])
        time.sleep(1)
        rss0, _ = rss_kib(root)
        t0 = time.monotonic()
        opened = open_connections(port, path, n, "full", deadline_s=120, batch=200)
        open_s = time.monotonic() - t0
        time.sleep(2)
        rss1, _ = rss_kib(root)
        beside = wrk(wrk_url, 16, self.p["idle_wrk_dur"])
        rss2, _ = rss_kib(root)
        states = count_states(opened["socks"])
        metrics_open = recgw_metrics(metrics_base) if metrics_base else {}
        close_all(opened["socks"])
        time.sleep(2.0)
        rss3, _ = rss_kib(root)
        metrics_closed = recgw_metrics(metrics_base) if metrics_base else {}
        ok = opened["statuses"].get("200", 0)
        log(f"idle {label}: {len(opened['socks'])} open ({open_s:.1f}s), rss {rss0} -> {rss1} KiB, "
            f"p99 {base['p99_ms']} -> {beside['p99_ms']} ms, states {states}")
        return {"conns_requested": n, "conns_open": len(opened["socks"]), "statuses": opened["statuses"],
                "open_failures": opened["failures"], "not_keepalive": opened["not_keepalive"],
                "open_seconds": round(open_s, 1),
                "rss_before_kib": rss0, "rss_idle_kib": rss1, "rss_after_wrk_kib": rss2, "rss_after_close_kib": rss3,
                "metrics_idle_open": metrics_open, "metrics_after_close": metrics_closed,
                "kib_per_conn": round((rss1 - rss0) / max(1, ok), 2),
                "socket_states_after_wrk": states, "wrk_alone": base, "wrk_beside_idle": beside,
                "p99_ratio": round((beside["p99_ms"] or 0) / max(base["p99_ms"] or 1e-9, 1e-9), 3),
                "rps_ratio": round(beside["rps"] / max(base["rps"], 1e-9), 3)}

    def section_idle(self) -> dict:
        n = self.p["idle_conns"]
        # the default max_connections (10000 per worker) would pause accepting exactly at 10k,
        # and the default client timeout (30 s) would close the idle connections mid-test
        extra = {"RECGW_SERVER_MAX_CONNECTIONS": n + 2000, "RECGW_SERVER_CLIENT_TIMEOUT_MS": 300000}
        gw = self.start_gateway("idle", extra=extra)
        wrk(self.public_url(gw, "16k"), 4, 1)
        res = self.partial
        res.update({"conns": n, "recgw_env": extra})
        res["recgw"] = self.idle_run("recgw", gw["proc"].pid, gw["port"], self.public_path("16k"),
                                     self.public_url(gw, "16k"), n, gw["base"])
        res["recgw"]["gateway"] = self.stop_gateway(gw)
        ng = self.start_nginx("idle")
        wrk(self.nginx_url(ng, "16k"), 4, 1)
        res["nginx"] = self.idle_run("nginx", ng["proc"].pid, ng["port"], f"/{BUCKET}/{self.objects['16k']['key']}",
                                     self.nginx_url(ng, "16k"), n)
        self.stop_nginx(ng)
        return res

    def miss_script(self) -> str:
        path = self.tmp / "random_tokens.lua"
        path.write_text("""-- every request a fresh random 43-character token: never cached anywhere
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
""" + WRK_SEEDED_THREADS + """request = function()
  local t = {}
  for i = 1, 43 do
    local k = math.random(1, 64)
    t[i] = chars:sub(k, k)
  end
  return wrk.format("GET", "/api/v1/public/recordings/" .. table.concat(t))
end
""")
        return str(path)

    TIER_ENV = {
        "l1": {"RECGW_CACHE_L1_TTL_S": 3600},
        "redis": {"RECGW_CACHE_L1_TTL_S": 0, "RECGW_CACHE_L1_ENTRIES": 0},
        "mongo": {"RECGW_CACHE_L1_TTL_S": 0, "RECGW_CACHE_L1_ENTRIES": 0, "RECGW_REDIS_ENABLED": "false"},
        "mongo_miss": {"RECGW_CACHE_L1_TTL_S": 0, "RECGW_CACHE_L1_ENTRIES": 0, "RECGW_REDIS_ENABLED": "false",
                       "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": 0},
    }

    def section_tiers(self) -> dict:
        res: dict = {"wrk": {}, "callgrind": {}, "gateways": []}
        script = self.miss_script()
        for tier, extra in self.TIER_ENV.items():
            gw = self.start_gateway(f"tier-{tier}", extra=extra)
            if tier == "mongo_miss":
                url, scr = gw["base"] + "/", script
            else:
                url, scr = self.public_url(gw, "16k"), None
            wrk(url, 4, 1, script=scr)
            r = wrk(url, 16, self.p["tier_dur"], script=scr)
            res["wrk"][tier] = r
            log(f"tier {tier}: {r['rps']:.0f} req/s p50 {r['p50_ms']} p99 {r['p99_ms']} non2xx {r['non2xx']}")
            res["gateways"].append(self.stop_gateway(gw))
        for tier in self.p["callgrind_tiers"]:
            try:
                res["callgrind"][tier] = self.callgrind_tier(tier)
            except Exception as e:  # noqa: BLE001 — keep the rest of the run
                res["callgrind"][tier] = {"error": f"{type(e).__name__}: {e}"}
                log(f"callgrind {tier} failed: {e}")
        return res

    def section_cost(self) -> dict:
        """Only the callgrind half of `tiers`: instructions per request, for iterating on cost."""
        res: dict = {"callgrind": {}}
        for tier in self.p["callgrind_tiers"]:
            res["callgrind"][tier] = self.callgrind_tier(tier)
        return res

    # callgrind_control cannot reach a forked worker (valgrind creates no vgdb pipes for the
    # child), so windows are cut by a function-triggered dump: GET /readyz (the only caller of
    # MongoClient::ping) dumps the counters and a dump zeroes them, so each dump holds exactly
    # what the worker executed since the previous /readyz.
    DUMP_FN = "recgw::storage::MongoClient::ping(std::function<void (recgw::storage::MongoStatus)>)"

    def callgrind_tier(self, tier: str) -> dict:
        cg_dir = self.logs / f"callgrind-{tier}"
        shutil.rmtree(cg_dir, ignore_errors=True)
        cg_dir.mkdir()
        wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_dir}/callgrind.out.%p",
                   "--dump-instr=no", "--collect-jumps=no", f"--dump-before={self.DUMP_FN}",
                   # each dump file must carry its own names: callgrind_annotate reads one file
                   "--compress-strings=no", "--compress-pos=no"]
        extra = dict(self.TIER_ENV[tier])
        extra["RECGW_MONGO_TIMEOUT_MS"] = 10000
        extra["RECGW_REDIS_TIMEOUT_MS"] = 5000
        gw = self.start_gateway(f"callgrind-{tier}", extra=extra, wrapper=wrapper, timeout=180)
        windows: dict[str, dict] = {}
        try:
            workers = [p for p in process_tree(gw["proc"].pid) if p != gw["proc"].pid]
            if len(workers) != 1:
                raise RuntimeError(f"expected one worker process under valgrind, found {workers}")
            worker = workers[0]
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", gw["port"], timeout=60)
            path = self.public_path("16k")

            def requests(n: int) -> None:
                for _ in range(n):
                    conn.request("GET", path)
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200 or len(body) != self.objects["16k"]["size"]:
                        raise RuntimeError(f"callgrind request answered {r.status} with {len(body)} bytes")

            def dumps() -> list[Path]:
                return sorted(cg_dir.glob(f"callgrind.out.{worker}.*"), key=lambda f: int(f.suffix[1:]))

            def window(label: str, work) -> None:
                before = len(dumps())
                t = time.monotonic()
                work()
                secs = time.monotonic() - t
                http_get(f"{gw['base']}/readyz", timeout=60)  # dump (and zero)
                deadline = time.monotonic() + 30
                while len(dumps()) <= before and time.monotonic() < deadline:
                    time.sleep(0.1)
                new = dumps()[before:]
                if not new:
                    raise RuntimeError(f"no callgrind dump for window {label}")
                windows[label] = {"file": new[0], "seconds": secs, "ir": self.total_ir(new[0])}
            requests(30)  # warm: connections to MinIO and Redis, L1 filled
            window("startup", lambda: None)  # start-up and warm-up: not used
            short, long_ = self.p["callgrind_idle_s"]  # two idle windows: rate and fixed frame
            window("idle1", lambda: time.sleep(short))
            window("idle3", lambda: time.sleep(long_))
            n = self.p["callgrind_reqs"]
            window("requests", lambda: requests(n))
            conn.close()
        finally:
            gw_summary = self.stop_gateway(gw)
        i1, i3 = windows["idle1"], windows["idle3"]
        rate = max(0.0, (i3["ir"] - i1["ir"]) / max(i3["seconds"] - i1["seconds"], 1e-6))  # Ir/s idle
        fixed = max(0.0, i1["ir"] - rate * i1["seconds"])  # the /readyz that closes a window
        req = windows["requests"]
        per_req = (req["ir"] - fixed - rate * req["seconds"]) / n
        # Frames entered before a mid-run dump are written with "calls=0", which
        # callgrind_annotate (3.19) counts as the caller's self cost (everything lands on
        # __libc_start_main). Rewrite them as one call on a copy before annotating.
        fixed_file = req["file"].with_name(req["file"].name + ".fixed")
        with open(req["file"]) as src, open(fixed_file, "w") as dst:
            for line in src:
                dst.write("calls=1 " + line[len("calls=0 "):] if line.startswith("calls=0 ") else line)
        annotate = {}
        for kind, flag in (("self", "--inclusive=no"), ("inclusive", "--inclusive=yes")):
            p = subprocess.run(["callgrind_annotate", flag, "--auto=no", "--threshold=99", str(fixed_file)],
                               capture_output=True, text=True, timeout=120)
            (self.out / f"callgrind-{tier}-{kind}.txt").write_text(p.stdout)
            annotate[kind] = self.parse_annotate(p.stdout, 40)
        by_object = self.self_cost_by_object(req["file"])
        # Allocations per request, the way Ir is counted: the idle windows give a rate (the
        # once-a-second metrics publish allocates hundreds) and the /readyz frame.
        a_req, a1, a3 = (self.allocation_calls(w["file"]) for w in (req, i1, windows["idle3"]))

        def per_request(get) -> float:
            a_rate = max(0.0, (get(a3) - get(a1)) / max(i3["seconds"] - i1["seconds"], 1e-6))
            a_fixed = max(0.0, get(a1) - a_rate * i1["seconds"])
            return round((get(a_req) - a_fixed - a_rate * req["seconds"]) / n, 1)
        allocs = {"malloc_family": per_request(lambda a: a["malloc_family"]),
                  "operator_new": per_request(lambda a: a["operator_new"]),
                  "by_caller": {ob: per_request(lambda a, ob=ob: a["by_caller"].get(ob, 0))
                                for ob in a_req["by_caller"]}}
        log(f"callgrind {tier}: {per_req:,.0f} Ir/request ({n} requests in {req['seconds']:.1f}s; "
            f"idle {rate:,.0f} Ir/s, frame {fixed:,.0f} Ir); {allocs['malloc_family']:.0f} allocations/request "
            f"({allocs['operator_new']:.0f} through operator new)")
        return {"requests": n, "request_seconds": round(req["seconds"], 2), "ir_requests_window": req["ir"],
                "idle_ir_per_s": round(rate), "frame_ir": round(fixed), "ir_per_request": round(per_req),
                "windows": {k: {"seconds": round(v["seconds"], 2), "ir": v["ir"], "file": v["file"].name}
                            for k, v in windows.items()},
                "self_by_object": by_object, "allocations_per_request": allocs,
                "top_self": annotate["self"], "top_inclusive": annotate["inclusive"], "gateway": gw_summary}

    @staticmethod
    def self_cost_by_object(path: Path) -> dict[str, int]:
        """Self Ir per shared object (libcurl, libcrypto, libc, recgw, ...) of one dump
        written with --compress-strings=no: cost lines not directly after a calls= line."""
        by: dict[str, int] = {}
        ob, after_calls = "?", False
        with open(path) as f:
            for line in f:
                if line.startswith("ob="):
                    ob = os.path.basename(line[3:].strip())
                elif line.startswith("calls="):
                    after_calls = True
                elif line[:1].isdigit() or line[:1] in "+-*":
                    parts = line.split()
                    if len(parts) == 2 and not after_calls:
                        by[ob] = by.get(ob, 0) + int(parts[1])
                    after_calls = False
        return dict(sorted(by.items(), key=lambda kv: -kv[1]))

    # glibc's names, and mimalloc's: it exports malloc, calloc and realloc under these names
    # (callgrind shows one name per address, so realloc may appear as mi_heap_realloc) and
    # replaces operator new itself (mi_new*, or an "operator new" that is its alias).
    ALLOCATORS = {"malloc", "calloc", "realloc", "__libc_malloc", "__libc_calloc", "__libc_realloc",
                  "mi_malloc", "mi_calloc", "mi_realloc", "mi_heap_realloc", "mi_zalloc"}
    NEW_ALIASES = {"mi_new", "mi_new_nothrow", "mi_new_aligned", "mi_new_aligned_nothrow"}

    @classmethod
    def allocation_calls(cls, path: Path) -> dict:
        """Calls to malloc/calloc/realloc and to operator new in one dump written with
        --compress-strings=no, each allocation counted once (glibc's operator new calls malloc,
        mimalloc's does not); `by_caller` splits them by the shared object whose code made them
        (operator new's calls are charged to its caller's object, so the recgw binary's count is
        "ours"; strdup's are charged to strdup's callers: libevent's header copies and curl's)."""
        out = {"malloc_family": 0, "operator_new": 0, "by_caller": {}}
        ob = fn_ob = "?"
        cfn = ""
        new_callers: dict[str, int] = {}
        strdup_callers: dict[str, int] = {}
        with open(path) as f:
            for line in f:
                if line.startswith("ob="):
                    ob = os.path.basename(line[3:].strip())
                elif line.startswith("fn="):
                    fn_ob = ob
                elif line.startswith("cfn="):
                    cfn = line[4:].strip()
                elif line.startswith("calls="):
                    count = int(line.split()[0][len("calls="):])
                    if cfn in ("strdup", "__strdup"):
                        strdup_callers[fn_ob] = strdup_callers.get(fn_ob, 0) + count
                    if cfn.startswith("operator new") or cfn in cls.NEW_ALIASES:
                        out["operator_new"] += count
                        new_callers[fn_ob] = new_callers.get(fn_ob, 0) + count
                    elif cfn in cls.ALLOCATORS:
                        # operator new's own calls (libstdc++'s, or mimalloc's new calling
                        # its malloc) are charged to operator new's callers below.
                        if not fn_ob.startswith(("libstdc++", "libmimalloc")):
                            out["by_caller"][fn_ob] = out["by_caller"].get(fn_ob, 0) + count
        for caller, count in new_callers.items():
            out["by_caller"][caller] = out["by_caller"].get(caller, 0) + count
        # strdup's own malloc call comes from code valgrind cannot name (an IFUNC stub, "???")
        # or from libc: move up to that many to the objects that called strdup.
        moved = 0
        wanted = sum(strdup_callers.values())
        for stub in ("???", "libc.so.6"):
            take = min(out["by_caller"].get(stub, 0), wanted - moved)
            out["by_caller"][stub] = out["by_caller"].get(stub, 0) - take
            moved += take
        for caller, count in strdup_callers.items():  # in proportion when not all were found
            share = round(count * moved / wanted) if wanted else 0
            out["by_caller"][caller] = out["by_caller"].get(caller, 0) + share
        # Every allocation once: glibc's operator new calls malloc, mimalloc's does not.
        out["malloc_family"] = sum(out["by_caller"].values())
        out["by_caller"] = {k: v for k, v in out["by_caller"].items() if v}
        out["by_caller"] = dict(sorted(out["by_caller"].items(), key=lambda kv: -kv[1]))
        return out

    @staticmethod
    def total_ir(path: Path) -> int:
        with open(path) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no summary in {path}")

    @staticmethod
    def parse_annotate(text: str, limit: int) -> list[dict]:
        out = []
        for line in text.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*([\d.]+)%\)\s+)?(\S.*)$", line)
            if not m or "PROGRAM TOTALS" in line or ":" not in m.group(3):
                continue
            ir = int(m.group(1).replace(",", ""))
            fn = m.group(3)
            out.append({"ir": ir, "pct": float(m.group(2)) if m.group(2) else None, "fn": fn[:600]})
            if len(out) >= limit:
                break
        return out

    def section_scaling(self) -> dict:
        res: dict = {"rows": [], "gateways": []}
        gw2 = self.start_gateway("scaling-2w", workers=2)
        ng2 = self.start_nginx("scaling-2w", workers=2)
        urls = {"recgw_1w": self.public_url(self.gw, "16k"), "recgw_2w": self.public_url(gw2, "16k"),
                "nginx_1w": self.nginx_url(self.ng, "16k"), "nginx_2w": self.nginx_url(ng2, "16k"),
                "minio": self.objects["16k"]["presigned"]}
        for u in urls.values():
            wrk(u, 4, 1)
        for c in self.p["scale_conns"]:
            row = {"conns": c}
            for k, u in urls.items():
                row[k] = wrk(u, c, self.p["scale_dur"])
                log(f"scaling c={c} {k}: {row[k]['rps']:.0f} req/s p99 {row[k]['p99_ms']} ms")
            res["rows"].append(row)
        res["gateways"].append(self.stop_gateway(gw2))
        self.stop_nginx(ng2)
        return res

    # -- hot: the object cache ------------------------------------------------------------------
    def seed_many(self, prefix: str, sizes: dict[str, int]) -> dict[str, dict]:
        """Objects (single PUT: a plain strong ETag) and calls naming them: name → {key, size, token,
        presigned}."""
        import pymongo
        s3 = self.s3()
        out: dict[str, dict] = {}
        docs = []
        now = dt.datetime.now(dt.timezone.utc)
        for name, size in sizes.items():
            key = f"bench/{prefix}/{name}.ogg"
            s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(size), ContentType="audio/ogg")
            tok = secrets.token_urlsafe(32)
            out[name] = {"key": key, "size": size, "token": tok}
            docs.append({"session_id": f"bench-{prefix}-{name}-{secrets.token_hex(4)}", "account_id": "bench",
                         "recording_access_token": tok, "recording_key": key, "recording_status": "ready",
                         "created_at": now})
        client = pymongo.MongoClient(self.stack_env["RECGW_MONGO_URI"])
        client.get_default_database()["calls"].insert_many(docs)
        client.close()
        return out

    def section_hot(self) -> dict:
        res: dict = {"hot": {}, "cold": {}, "gateways": []}
        self.partial = res
        hot = self.seed_many("hot", {"16k": 16 * KiB, "1m": 1 * MiB, "4m": 4 * MiB})
        for obj in hot.values():
            obj["presigned"] = self.presign(obj["key"])
        gw = self.start_gateway("hot-cache")
        try:
            for name, obj in hot.items():
                targets = {"recgw_cache": f"{gw['base']}/api/v1/public/recordings/{obj['token']}",
                           "minio": obj["presigned"],
                           "nginx": f"{self.ng['base']}/{BUCKET}/{obj['key']}"}
                for url in targets.values():  # warm-up: connections; recgw admits and fills the object
                    wrk(url, 4, 1)
                rows = []
                for c in self.p["hot_conns"]:
                    row = {"conns": c}
                    for t, url in targets.items():  # interleaved: the three see the same noise
                        r = wrk(url, c, self.p["hot_dur"])
                        row[t] = r
                        log(f"hot {name} c={c} {t}: {r['rps']:.0f} req/s p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms "
                            f"non2xx {r['non2xx']} {r['socket_errors']}")
                    rows.append(row)
                res["hot"][name] = rows
            m = recgw_metrics(gw["base"])
            res["hot_metrics"] = {k: v for k, v in m.items() if "object_cache" in k}
        finally:
            res["gateways"].append(self.stop_gateway(gw))

        n = self.p["cold_objects"]
        log(f"hot: seeding {n:,} cold 16 KiB objects")
        cold = self.seed_many("cold", {f"c{i:05d}": 16 * KiB for i in range(n)})
        script = self.tmp / "cold_tokens.lua"
        script.write_text("-- every request a uniformly random one of the cold objects\nlocal tokens = {\n" +
                          ",\n".join(f'"{o["token"]}"' for o in cold.values()) + "}\n" + WRK_SEEDED_THREADS +
                          """request = function()
  return wrk.format("GET", "/api/v1/public/recordings/" .. tokens[math.random(1, #tokens)])
end
""")
        res["cold"]["objects"] = n
        # The lookups come from Redis (as they do for links in use), so the runs measure the
        # object path, not FerretDB, which scans `calls` for every token it has not seen.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
        env.update(self.stack_env)
        warm = subprocess.run([str(self.recgw), "warm", "--since", "2000-01-01", "--limit", str(n + 100)],
                              env=env, capture_output=True, text=True, timeout=900)
        res["cold"]["warm"] = {"exit": warm.returncode, "said": (warm.stdout + warm.stderr).strip()[-300:]}
        # With the default 256 MiB budget the whole set would fit and become hits; an eighth of
        # the set's bytes keeps most requests misses, which is what "cold" is meant to measure.
        small_budget = n * 16 * KiB // 8
        res["cold"]["cache_on_budget_bytes"] = small_budget
        for label, extra in (("cache_off", {"RECGW_CACHE_OBJECTS_BYTES": 0}),
                             ("cache_on", {"RECGW_CACHE_OBJECTS_BYTES": small_budget})):
            g = self.start_gateway(f"cold-{label}", extra=extra)
            try:
                wrk(g["base"] + "/", 4, 1, script=str(script))
                r = wrk(g["base"] + "/", 16, self.p["cold_dur"], script=str(script))
                r["object_cache"] = {k: v for k, v in recgw_metrics(g["base"]).items() if "object_cache" in k}
                res["cold"][label] = r
                log(f"cold {label}: {r['rps']:.0f} req/s p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms "
                    f"non2xx {r['non2xx']}")
            finally:
                res["gateways"].append(self.stop_gateway(g))
        return res

    # -- output ------------------------------------------------------------------------------
    def plots(self) -> list[str]:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        made = []
        small = self.results["sections"].get("small", {})
        if isinstance(small, dict) and "16k" in small:
            fig, axes = plt.subplots(2, 2, figsize=(11, 8))
            for col, size in enumerate(("16k", "256k")):
                rows = small[size]
                conns = [r["conns"] for r in rows]
                for t, style in (("recgw", "o-"), ("minio", "s--"), ("nginx", "^-."), ("nginx_signed", "v:")):
                    if not all(t in r for r in rows):
                        continue  # results written before the signed baseline existed
                    axes[0][col].plot(conns, [r[t]["rps"] for r in rows], style, label=t)
                    axes[1][col].plot(conns, [r[t]["p99_ms"] or 0 for r in rows], style, label=t)
                axes[0][col].set_title(f"{size.replace('k', ' KiB')} object, lookup-cache hit: requests/s")
                axes[1][col].set_title(f"{size.replace('k', ' KiB')} object: p99 latency (ms)")
                for ax in (axes[0][col], axes[1][col]):
                    ax.set_xscale("log", base=2)
                    ax.set_xticks(conns, [str(c) for c in conns])
                    ax.set_xlabel("connections (wrk)")
                    ax.grid(True, alpha=0.3)
                    ax.legend()
                axes[0][col].set_yscale("log")
                axes[1][col].set_yscale("log")
            fig.suptitle(f"recgw vs MinIO direct vs nginx→MinIO ({self.profile_name} run, 2 shared cores)")
            fig.tight_layout()
            fig.savefig(self.out / "small_objects.png", dpi=90)
            plt.close(fig)
            made.append("small_objects.png")
        slow = self.results["sections"].get("slow", {})
        if isinstance(slow, dict) and "recgw" in slow:
            fig, ax = plt.subplots(figsize=(9, 5))
            for t, style in (("recgw", "o-"), ("nginx", "^-")):
                if t not in slow:
                    continue
                s = slow[t]["samples"]
                ax.plot([x["t"] for x in s], [x["rss_kib"] / 1024 for x in s], style, markersize=3,
                        label=f"{t} (sum of VmRSS over its processes)")
                ax.axvline(slow[t]["open_seconds"], color="grey", alpha=0.3)
            ax.set_xlabel("seconds since the first stalled stream was opened")
            ax.set_ylabel("RSS (MiB)")
            ax.set_title(f"{slow['streams']} stalled/slow streams of a {SLOW_OBJECT_MIB} MiB object")
            ax.grid(True, alpha=0.3)
            ax.legend()
            fig.tight_layout()
            fig.savefig(self.out / "slow_clients_rss.png", dpi=90)
            plt.close(fig)
            made.append("slow_clients_rss.png")
        return made

    def summary(self) -> str:
        R = self.results
        S = R["sections"]
        m = R["machine"]
        L: list[str] = []
        w = L.append

        def ratio(a, b) -> str:
            return f"{a / b:.2f}" if a and b else "–"

        def f0(x) -> str:
            return f"{x:,.0f}" if isinstance(x, (int, float)) else "–"

        def ms(x) -> str:
            return f"{x:.2f}" if isinstance(x, (int, float)) else "–"

        def errs(r: dict) -> str:
            e = sum(r.get("socket_errors", {}).values()) if r.get("socket_errors") else 0
            return f"{r.get('non2xx', 0)}/{e}"

        w(f"# recgw benchmark summary — {self.profile_name} run, {R['started']}")
        w("")
        w(f"Machine: {m['nproc']} × {m['cpu']}, {m['mem_gib']} GiB RAM, Linux {m['kernel']}; load average "
          f"at start {m['loadavg_start']}, at end {R.get('loadavg_end')} (shared machine: other builds and "
          f"tests were running).")
        w(f"recgw {m['recgw_rev'][:12]}{' (+ uncommitted changes in the tree)' if m['recgw_tree_dirty'] else ''}; "
          f"MinIO {m['minio']}; nginx {m['nginx']}; {m['wrk']}; FerretDB {m['ferretdb']}; {m['redis']}.")
        w(f"Command: `{R['command']}` — wall time {R.get('wall_seconds', 0):.0f} s.")
        if R.get("gateway_env"):
            w(f"Extra recgw environment (what-if run): `{R['gateway_env']}`.")
        w("")
        if isinstance(S.get("small"), dict) and "16k" in S["small"]:
            for size in ("16k", "256k"):
                w(f"## Small objects, lookup-cache hit — {size.replace('k', ' KiB')} "
                  f"({self.p['small_dur']} s per cell, wrk --latency)")
                w("")
                w("| conns | recgw req/s | MinIO req/s | nginx req/s | nginx signed req/s | recgw/MinIO | "
                  "recgw/nginx | recgw/nginx signed | "
                  "p50 ms r/M/n | p99 ms r/M/n | p99 added vs MinIO (ms) | non-2xx/socket errors r/M/n |")
                w("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|")
                for row in S["small"][size]:
                    r, mi, n = row["recgw"], row["minio"], row["nginx"]
                    ns = row.get("nginx_signed") or {"rps": None}
                    added = (r["p99_ms"] - mi["p99_ms"]) if r["p99_ms"] is not None and mi["p99_ms"] is not None else None
                    w(f"| {row['conns']} | {f0(r['rps'])} | {f0(mi['rps'])} | {f0(n['rps'])} | {f0(ns['rps'])} | "
                      f"{ratio(r['rps'], mi['rps'])} | {ratio(r['rps'], n['rps'])} | {ratio(r['rps'], ns['rps'])} | "
                      f"{ms(r['p50_ms'])} / {ms(mi['p50_ms'])} / {ms(n['p50_ms'])} | "
                      f"{ms(r['p99_ms'])} / {ms(mi['p99_ms'])} / {ms(n['p99_ms'])} | {ms(added)} | "
                      f"{errs(r)} / {errs(mi)} / {errs(n)} |")
                w("")
                w("CPU per request, µs (user + system), from /proc around each cell: the proxy's process tree "
                  "and MinIO's. nginx reads anonymously; \"nginx signed\" proxies to a presigned URL, so "
                  "MinIO checks a signature as it does for recgw.")
                w("")
                w("| conns | recgw | nginx | nginx signed | MinIO behind recgw | MinIO direct | MinIO behind nginx | "
                  "MinIO behind nginx signed |")
                w("|---:|---|---|---|---|---|---|---|")

                def cpu(cell, who):
                    c = (cell or {}).get("cpu") or {}
                    u, s_ = c.get(f"{who}_user_us"), c.get(f"{who}_sys_us")
                    return "—" if u is None or s_ is None else f"{u:.0f} + {s_:.0f}"
                for row in S["small"][size]:
                    w(f"| {row['conns']} | {cpu(row['recgw'], 'proxy')} | {cpu(row['nginx'], 'proxy')} | "
                      f"{cpu(row.get('nginx_signed'), 'proxy')} | {cpu(row['recgw'], 'minio')} | "
                      f"{cpu(row['minio'], 'minio')} | {cpu(row['nginx'], 'minio')} | "
                      f"{cpu(row.get('nginx_signed'), 'minio')} |")
                w("")
        if isinstance(S.get("small"), dict) and S["small"].get("anatomy"):
            w("### One request at a time (raw socket, 1 keep-alive connection, 20 sequential GETs, medians)")
            w("")
            w("| object / target | first byte ms | last byte ms | largest gap between reads ms | recv() calls | "
              "responses with a gap > 30 ms |")
            w("|---|---:|---:|---:|---:|---:|")
            for k, a in S["small"]["anatomy"].items():
                w(f"| {k} | {a['ttfb_ms']} | {a['ttlb_ms']} | {a['max_gap_ms']} | {a['reads']} | "
                  f"{a['gaps_over_30ms']}/{a['requests']} |")
            w("")
        if isinstance(S.get("large"), dict) and "one" in S["large"]:
            lg = S["large"]
            w(f"## Large object ({lg['object_bytes'] // MiB} MiB), curl -o /dev/null, median of "
              f"{self.p['large_reps']}")
            w("")
            w("| downloads | recgw MiB/s | MiB/s MinIO | MiB/s nginx | recgw/MinIO | recgw/nginx | complete r/M/n |")
            w("|---|---:|---:|---:|---:|---:|---|")
            for kind, label in (("one", "1"), ("eight", "8 parallel (aggregate)")):
                d = lg[kind]
                w(f"| {label} | {d['recgw']['median_mib_s']:.0f} | {d['minio']['median_mib_s']:.0f} | "
                  f"{d['nginx']['median_mib_s']:.0f} | {ratio(d['recgw']['median_mib_s'], d['minio']['median_mib_s'])} | "
                  f"{ratio(d['recgw']['median_mib_s'], d['nginx']['median_mib_s'])} | "
                  f"{d['recgw']['complete']}/{d['minio']['complete']}/{d['nginx']['complete']} |")
            if "eight_2w" in lg:
                d = lg["eight_2w"]
                w(f"| 8 parallel, 2 workers each (aggregate) | {d['recgw']['median_mib_s']:.0f} | — | "
                  f"{d['nginx']['median_mib_s']:.0f} | — | "
                  f"{ratio(d['recgw']['median_mib_s'], d['nginx']['median_mib_s'])} | "
                  f"{d['recgw']['complete']}/—/{d['nginx']['complete']} |")
            w("")
            if "one_cpu_s_per_gib" in lg:
                w("CPU seconds per GiB of one download (user and kernel time of the proxy's process tree; "
                  "MinIO's whole process):")
                w("")
                w("| path | proxy user | proxy kernel | MinIO |")
                w("|---|---:|---:|---:|")
                for t, c in lg["one_cpu_s_per_gib"].items():
                    w(f"| {t} | {c['proxy_user']} | {c['proxy_sys']} | {c['minio']} |")
                w("")
        if isinstance(S.get("slow"), dict) and "recgw" in S["slow"]:
            sl = S["slow"]
            w(f"## Slow clients — {sl['streams']} streams of a {SLOW_OBJECT_MIB} MiB object "
              f"(half never read, half read 4 KiB/s), {sl['seconds']} s")
            w("")
            w("| | streams 200 | RSS idle MiB | RSS peak MiB | RSS end MiB | KiB/stream (peak) | KiB/stream (end) | "
              "after close MiB | CPU % while stalled (proxy / MinIO / whole machine of 200) | client sockets at end | "
              "fast client before MiB/s | during MiB/s | during/before | MinIO direct during MiB/s |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|")
            for t in ("recgw", "recgw_round2", "nginx"):
                if t not in sl:
                    continue
                d = sl[t]
                w(f"| {t.replace('_', ' ')} | {d['statuses'].get('200', 0)} | {d['rss_idle_kib'] / 1024:.1f} | "
                  f"{d['rss_peak_kib'] / 1024:.1f} | {d['rss_end_kib'] / 1024:.1f} | {d['kib_per_stream_peak']} | "
                  f"{d['kib_per_stream_end']} | {d['rss_after_close_kib'] / 1024:.1f} | {d.get('cpu_percent_stalled')} / "
                  f"{d.get('minio_cpu_percent_stalled')} / {2 * (d.get('machine_busy_percent_stalled') or 0):.0f} | "
                  f"{d['socket_states_at_end']} | {d['fast_before']['mib_s']} | "
                  f"{d['fast_during'].get('mib_s', '–')} | {d['fast_ratio']} | "
                  f"{d.get('fast_minio_during', {}).get('mib_s', '–')} |")
            w("")
            if "recgw_round2" in sl:
                r1, r2 = sl["recgw"], sl["recgw_round2"]
                w(f"recgw RSS after the streams were closed: {r1['rss_after_close_kib'] / 1024:.1f} MiB after round 1, "
                  f"{r2['rss_after_close_kib'] / 1024:.1f} MiB after a second round of {r2['streams_open']} streams on "
                  f"the same process (peak in round 2: {r2['rss_peak_kib'] / 1024:.1f} MiB). Gauges after close: "
                  f"{ {k: v for k, v in r2['metrics_after_close'].items() if 'active' in k or 'paused' in k or 'open' in k or 'in_flight' in k} }.")
                mt = sl.get("recgw_malloc_trim", {})
                if "rss_after_kib" in mt:
                    w(f"Then the allocator was asked to give free memory back (gdb: `malloc_trim(0)`, or "
                      f"`mi_collect(1)` where mimalloc serves malloc): RSS {mt['rss_before_kib'] / 1024:.1f} → "
                      f"{mt['rss_after_kib'] / 1024:.1f} MiB (what drops was free memory the allocator kept; what "
                      f"stays is still allocated).")
                w("")
            if "nginx" in sl:
                w(f"recgw/nginx RSS per stream (peak): "
                  f"{ratio(sl['recgw']['kib_per_stream_peak'], sl['nginx']['kib_per_stream_peak'])}.")
            if "nginx_spool" in sl:
                w(f"nginx with its default temp-file spool: {sl['nginx_spool']['streams']} stalled streams wrote "
                  f"{sl['nginx_spool']['temp_file_bytes_peak'] / MiB:.0f} MiB of temp files in "
                  f"{sl['nginx_spool']['seconds']} s ({sl['nginx_spool']['mib_per_stream']} MiB per stream).")
            w("")
        if isinstance(S.get("idle"), dict) and "recgw" in S["idle"]:
            idl = S["idle"]
            w(f"## Idle keep-alive connections — {idl['conns']} (each after one 16 KiB GET), "
              f"wrk -c16 beside them")
            w("")
            w("| | open | RSS before MiB | RSS with idle MiB | KiB/conn | p99 alone ms | p99 beside idle ms | "
              "p99 ratio | req/s ratio | sockets after |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for t in ("recgw", "nginx"):
                if t not in idl:
                    continue
                d = idl[t]
                w(f"| {t} | {d['conns_open']} | {d['rss_before_kib'] / 1024:.1f} | {d['rss_idle_kib'] / 1024:.1f} | "
                  f"{d['kib_per_conn']} | {ms(d['wrk_alone']['p99_ms'])} | {ms(d['wrk_beside_idle']['p99_ms'])} | "
                  f"{d['p99_ratio']} | {d['rps_ratio']} | {d['socket_states_after_wrk']} |")
            w("")
            if "nginx" in idl:
                w(f"recgw/nginx KiB per idle connection: {ratio(idl['recgw']['kib_per_conn'], idl['nginx']['kib_per_conn'])}.")
            w("")
        if isinstance(S.get("cost"), dict) and "callgrind" in S["cost"] and not isinstance(S.get("tiers"), dict):
            S = dict(S, tiers={"wrk": {}, "callgrind": S["cost"]["callgrind"]})
        if isinstance(S.get("tiers"), dict) and "wrk" in S["tiers"]:
            tr = S["tiers"]
            base = tr["wrk"].get("l1", {}).get("rps")
            w(f"## Lookup tiers — GET 16 KiB by token, wrk -c16 {self.p['tier_dur']} s "
              f"(mongo_miss: random unknown tokens → 404)")
            w("")
            w("| tier | req/s | vs L1 | p50 ms | p99 ms | non-2xx | Ir/request (callgrind) |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            for tier, r in tr["wrk"].items():
                cg = tr["callgrind"].get(tier, {})
                w(f"| {tier} | {f0(r['rps'])} | {ratio(r['rps'], base)} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
                  f"{r['non2xx']} | {f0(cg.get('ir_per_request'))} |")
            w("")
            l1 = tr["callgrind"].get("l1", {})
            if l1.get("top_self"):
                n = l1["requests"]
                tot = sum(l1["self_by_object"].values()) or 1
                w(f"Callgrind, L1-hit path (GET 16 KiB, {n} requests on one keep-alive connection; "
                  f"the window also holds one /readyz). Self Ir by library:")
                w("")
                w("| library | Ir/request | share |")
                w("|---|---:|---:|")
                for ob, ir in list(l1["self_by_object"].items())[:10]:
                    w(f"| {ob} | {ir / n:,.0f} | {100 * ir / tot:.1f}% |")
                w("")
                al = l1.get("allocations_per_request")
                if al:
                    callers = ", ".join(f"{ob} {c:.0f}" for ob, c in list(al["by_caller"].items())[:6] if c >= 0.5)
                    w(f"Allocations per request (malloc, calloc, realloc; operator new included): "
                      f"**{al['malloc_family']:.0f}**, {al['operator_new']:.0f} of them through operator new. "
                      f"By the code that asked: {callers}.")
                    w("")
                w("Top functions by self Ir (callgrind_annotate --inclusive=no):")
                w("")
                w("| Ir/request | % | function | library |")
                w("|---:|---:|---|---|")
                for e in l1["top_self"][:20]:
                    fn, lib = short_fn(e["fn"])
                    w(f"| {e['ir'] / n:,.0f} | {e['pct'] if e['pct'] is not None else ''} | `{fn}` | {lib} |")
                w("")
                w("recgw's own functions by inclusive Ir (callgrind_annotate --inclusive=yes):")
                w("")
                w("| Ir/request | % | function |")
                w("|---:|---:|---|")
                shown = 0
                for e in l1["top_inclusive"]:
                    fn, lib = short_fn(e["fn"])
                    if "recgw::" not in fn or any(x in fn for x in WRAPPERS):
                        continue
                    w(f"| {e['ir'] / n:,.0f} | {e['pct'] if e['pct'] is not None else ''} | `{fn}` |")
                    shown += 1
                    if shown == 15:
                        break
                w("")
        if isinstance(S.get("scaling"), dict) and "rows" in S["scaling"]:
            w(f"## Scaling — 16 KiB cache hit, 1 vs 2 worker processes ({self.p['scale_dur']} s per cell)")
            w("")
            w("| conns | recgw 1w | recgw 2w | 2w/1w | nginx 1w | nginx 2w | 2w/1w | MinIO | recgw 2w/MinIO |")
            w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for row in S["scaling"]["rows"]:
                g = {k: row[k]["rps"] for k in row if k != "conns"}
                w(f"| {row['conns']} | {f0(g['recgw_1w'])} | {f0(g['recgw_2w'])} | {ratio(g['recgw_2w'], g['recgw_1w'])} | "
                  f"{f0(g['nginx_1w'])} | {f0(g['nginx_2w'])} | {ratio(g['nginx_2w'], g['nginx_1w'])} | "
                  f"{f0(g['minio'])} | {ratio(g['recgw_2w'], g['minio'])} |")
            w("")
        if isinstance(S.get("scale"), dict) and "rows" in S["scale"]:
            w(f"## Scale — lookups that reach MongoDB as `calls` grows (no L1, no Redis; 16 conns, "
              f"{self.p['calls_dur']} s per cell; indexes made by `recgw ensure-indexes`)")
            w("")
            w("FerretDB's plan for a token lookup: `" + S["scale"]["rows"][0].get("plan", "?") + "` — its SQLite "
              "backend does not use the index, so these rows show what a scan costs as the collection grows.")
            w("")
            w("| calls | found: req/s | p50 ms | p99 ms | absent: req/s | p50 ms | p99 ms |")
            w("|---:|---:|---:|---:|---:|---:|---:|")
            for row in S["scale"]["rows"]:
                f, m = row["found"], row["missing"]
                w(f"| {row['calls']:,} | {f0(f['rps'])} | {f['p50_ms']} | {f['p99_ms']} | {f0(m['rps'])} | "
                  f"{m['p50_ms']} | {m['p99_ms']} |")
            l1 = S["scale"].get("l1") or {}
            if l1.get("full"):
                w("")
                w(f"L1 with {l1['entries']:,} entries: {l1.get('bytes_per_entry')} bytes of worker RSS per entry "
                  f"({l1['rss_kib_before']:,} → {l1['rss_kib_after']:,} KiB); a hot hit: "
                  f"{f0(l1['empty']['rps'])} req/s with the L1 empty, {f0(l1['full']['rps'])} full "
                  f"(p99 {l1['empty']['p99_ms']} vs {l1['full']['p99_ms']} ms)")
            w("")
        if isinstance(S.get("hot"), dict) and S["hot"].get("hot"):
            w(f"## Hot objects — recgw's object cache vs direct MinIO vs nginx → MinIO ({self.p['hot_dur']} s per cell)")
            w("")
            w("| object | conns | recgw req/s | MinIO req/s | nginx req/s | recgw/MinIO | recgw p99 ms | "
              "MinIO p99 ms | nginx p99 ms | errors recgw/MinIO/nginx |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for name, rows in S["hot"]["hot"].items():
                for row in rows:
                    a, b, c = row["recgw_cache"], row["minio"], row["nginx"]
                    w(f"| {name} | {row['conns']} | {f0(a['rps'])} | {f0(b['rps'])} | {f0(c['rps'])} | "
                      f"{ratio(a['rps'], b['rps'])} | {ms(a['p99_ms'])} | {ms(b['p99_ms'])} | {ms(c['p99_ms'])} | "
                      f"{errs(a)} / {errs(b)} / {errs(c)} |")
            cold = S["hot"].get("cold") or {}
            if cold.get("cache_on") and cold.get("cache_off"):
                on, off = cold["cache_on"], cold["cache_off"]
                w("")
                budget = cold.get("cache_on_budget_bytes")
                if budget:
                    w(f"(cache on with `objects_bytes` = {budget // KiB:,} KiB, an eighth of the set, so most "
                      f"requests miss; object-cache counters of that run: {on.get('object_cache')})")
                    w("")
                w(f"Cold, uniformly random over {cold['objects']:,} 16 KiB objects (16 conns, {self.p['cold_dur']} s): "
                  f"cache on {f0(on['rps'])} req/s (p99 {ms(on['p99_ms'])} ms), cache off {f0(off['rps'])} req/s "
                  f"(p99 {ms(off['p99_ms'])} ms), on/off {ratio(on['rps'], off['rps'])}.")
            w("")
        w("## Gateway logs (per recgw instance)")
        w("")
        w("| instance | exit | exited before the runner stopped it | worker starts | warn/error lines | "
          "top warn/error messages | access-log statuses |")
        w("|---|---:|---|---:|---|---|---|")
        for g in R.get("gateways", []):
            lv = g["log_levels"]
            top = "; ".join(f"{k} ×{v}" for k, v in list(g["warn_error_messages"].items())[:3])
            w(f"| {g['name']} | {g['exit_code']} | {'**yes**' if g.get('exited_before_stop') else 'no'} | "
              f"{g['worker_starts']} | {lv.get('warn', 0)}/{lv.get('error', 0)} | "
              f"{top or '–'} | {g['access_statuses']} |")
        w("")
        for name, sec in S.items():
            if isinstance(sec, dict) and sec.get("error"):
                w(f"**Section {name} failed:** `{sec['error'].splitlines()[-1]}`")
                w("")
        return "\n".join(L) + "\n"

    # -- scale: the lookup tiers as the calls collection grows --------------------------------
    # FerretDB (SQLite) loads a million documents slowly, so each size's data directory is
    # built once (bulk inserts, then `recgw ensure-indexes`) and kept under
    # ~/.cache/recgw/bench-scale/ for later runs; a run starts its own FerretDB on a copy-free
    # reuse of that directory (lookups only read). Tokens are deterministic, so a wrk script
    # can ask for random existing ones.
    SCALE_TOKEN = "scale{:011d}"  # + padding to 43 characters, like a minted token

    @staticmethod
    def scale_token(i: int) -> str:
        return (Bench.SCALE_TOKEN.format(i) + "x" * 43)[:43]

    def scale_ferretdb(self, n: int) -> tuple[subprocess.Popen, str]:
        base = RECGW_CACHE / "bench-scale" / f"calls-{n}"
        marker = base / "complete"
        (base / "data").mkdir(parents=True, exist_ok=True)
        (base / "state").mkdir(parents=True, exist_ok=True)
        port = free_port()
        binary = RECGW_CACHE / "bin" / "ferretdb"
        log_file = open(self.logs / f"ferretdb-scale-{n}.log", "wb")
        proc = subprocess.Popen([str(binary), "--handler=sqlite", f"--sqlite-url=file:{base / 'data'}/",
                                 f"--state-dir={base / 'state'}", f"--listen-addr=127.0.0.1:{port}",
                                 "--debug-addr=-", "--telemetry=disable", "--log-level=WARN"],
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        self.procs.append(proc)
        wait_port(port, 60, proc)
        uri = f"mongodb://127.0.0.1:{port}/cxb"
        if not marker.exists():
            import pymongo
            client = pymongo.MongoClient(uri)
            calls = client.cxb["calls"]
            calls.drop()
            t0 = time.monotonic()
            now = dt.datetime.now(dt.timezone.utc)
            batch = 10_000
            for start in range(0, n, batch):
                calls.insert_many([{"session_id": f"scale-sess-{i}", "account_id": "bench",
                                    "recording_access_token": self.scale_token(i), "recording_key": "bench/16k.ogg",
                                    "recording_status": "ready", "created_at": now}
                                   for i in range(start, min(n, start + batch))], ordered=False)
            client.close()
            env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
            env["RECGW_MONGO_URI"] = uri
            subprocess.run([str(self.recgw), "ensure-indexes"], env=env, check=True, timeout=3600,
                           capture_output=True)
            marker.write_text(f"{n} calls loaded in {time.monotonic() - t0:.0f} s\n")
            log(f"scale: loaded {n:,} calls into {base} in {time.monotonic() - t0:.0f} s (kept for later runs)")
        return proc, uri

    def scale_script(self, n: int, found: bool) -> str:
        path = self.tmp / f"scale_{n}_{'found' if found else 'missing'}.lua"
        prefix = "scale" if found else "nocall"
        path.write_text(f"""-- a random {'existing' if found else 'absent'} token among {n} per request
""" + WRK_SEEDED_THREADS + f"""request = function()
  local t = string.format("{prefix}%011d", math.random(0, {n - 1}))
  t = (t .. string.rep("x", 43)):sub(1, 43)
  return wrk.format("GET", "/api/v1/public/recordings/" .. t)
end
""")
        return str(path)

    def scale_plan(self, uri: str) -> str:
        """How the server answers a token lookup (explain): FerretDB's SQLite backend scans."""
        import pymongo
        client = pymongo.MongoClient(uri)
        try:
            plan = client.cxb.command("explain", {"find": "calls", "filter": {"recording_access_token": "x"}})
            return json.dumps(plan.get("queryPlanner", plan), default=str)[:300]
        except Exception as e:  # noqa: BLE001
            return f"explain failed: {e}"
        finally:
            client.close()

    def stop_scale_ferretdb(self, fdb: subprocess.Popen) -> None:
        fdb.terminate()
        try:
            fdb.wait(30)
        except subprocess.TimeoutExpired:
            fdb.kill()
        if fdb in self.procs:
            self.procs.remove(fdb)

    def section_scale(self) -> dict:
        res: dict = {"rows": [], "l1": {}, "gateways": []}
        self.partial = res
        for n in self.p["calls_sizes"]:
            fdb, uri = self.scale_ferretdb(n)
            try:
                gw = self.start_gateway(f"scale-{n}", extra=dict(self.TIER_ENV["mongo_miss"], RECGW_MONGO_URI=uri))
                row = {"calls": n, "plan": self.scale_plan(uri)}
                for kind in ("found", "missing"):
                    script = self.scale_script(n, kind == "found")
                    wrk(gw["base"] + "/", 4, 1, script=script)
                    row[kind] = wrk(gw["base"] + "/", 16, self.p["calls_dur"], script=script)
                    log(f"scale {n:,} calls, {kind}: {row[kind]['rps']:.0f} req/s p50 {row[kind]['p50_ms']} "
                        f"p99 {row[kind]['p99_ms']} non2xx {row[kind]['non2xx']}")
                res["rows"].append(row)
                res["gateways"].append(self.stop_gateway(gw))
            finally:
                self.stop_scale_ferretdb(fdb)
        res["l1"] = self.scale_l1(res)
        return res

    def scale_l1(self, res: dict) -> dict:
        """The L1 at its 100k-entry default: worker RSS per entry once full, and a hot hit
        with a full L1 against an empty one. The L1 is filled from Redis (`recgw warm` puts
        every call there first), since FerretDB scans for each lookup."""
        n = self.p["l1_fill"]
        fdb, uri = self.scale_ferretdb(n)
        out: dict = {"entries": n}
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
            env.update(self.stack_env)
            env["RECGW_MONGO_URI"] = uri
            t0 = time.monotonic()
            warm = subprocess.run([str(self.recgw), "warm", "--since", "2000-01-01", "--limit", str(n)], env=env,
                                  capture_output=True, text=True, timeout=1800)
            out["warm"] = {"exit": warm.returncode, "seconds": round(time.monotonic() - t0, 1),
                           "said": (warm.stdout + warm.stderr).strip()[-300:]}
            gw = self.start_gateway("scale-l1", extra={"RECGW_MONGO_URI": uri, "RECGW_CACHE_L1_TTL_S": 3600,
                                                       "RECGW_CACHE_L1_ENTRIES": 100_000})
            hot = gw["base"] + "/api/v1/public/recordings/" + self.scale_token(0)
            wrk(hot, 4, 1)
            out["empty"] = wrk(hot, 16, self.p["calls_dur"])
            worker = [p for p in process_tree(gw["proc"].pid) if p != gw["proc"].pid]
            out["rss_kib_before"] = rss_kib(worker[0])[0] if worker else 0
            fill = self.tmp / "l1_fill.lua"
            fill.write_text(f"""-- every token once, in turn: each an L1 miss answered by Redis (GET: wrk cannot read HEAD answers)
local i = -1
request = function()
  i = (i + 1) % {n}
  local t = (string.format("scale%011d", i) .. string.rep("x", 43)):sub(1, 43)
  return wrk.format("GET", "/api/v1/public/recordings/" .. t)
end
""")
            filled, t0 = 0, time.monotonic()
            while filled < n and time.monotonic() - t0 < 900:
                filled += wrk(gw["base"] + "/", 16, 10, script=str(fill), threads=1)["requests"]
            out["fill_requests"] = filled
            out["rss_kib_after"] = rss_kib(worker[0])[0] if worker else 0
            out["bytes_per_entry"] = (round((out["rss_kib_after"] - out["rss_kib_before"]) * 1024 / n)
                                      if filled >= n else None)
            out["full"] = wrk(hot, 16, self.p["calls_dur"])
            log(f"scale L1: {out['bytes_per_entry']} bytes/entry at {n:,} entries; hot hit "
                f"{out['empty']['rps']:.0f} req/s (empty L1) vs {out['full']['rps']:.0f} (full)")
            res["gateways"].append(self.stop_gateway(gw))
        finally:
            self.stop_scale_ferretdb(fdb)
        return out

    # -- main ------------------------------------------------------------------------------------
    def run(self) -> int:
        t0 = time.monotonic()
        self.results["started"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.results["command"] = " ".join(["bench/run.py"] + sys.argv[1:])
        self.raise_nofile()
        self.results["machine"] = self.machine()
        failed = False
        only = set(self.args.only.split(",")) if self.args.only else set(SECTIONS)
        try:
            self.start_stack()
            self.seed()
            self.gw = self.start_gateway("main")
            self.ng = self.start_nginx("main")
            for name in SECTIONS:
                if name not in only:
                    continue
                settle = self.settle_minio()
                log(f"=== {name} (load average {loadavg()}; MinIO settled in {settle} s)")
                ts = time.monotonic()
                self.partial = {}  # sections may fill it as they go: kept if they fail later
                try:
                    self.results["sections"][name] = getattr(self, f"section_{name}")()
                except Exception:  # noqa: BLE001 — record, continue with the next section
                    failed = True
                    self.results["sections"][name] = dict(self.partial, error=traceback.format_exc())
                    log(f"section {name} FAILED:\n{traceback.format_exc()}")
                sec = self.results["sections"][name]
                if isinstance(sec, dict):
                    sec["elapsed_s"] = round(time.monotonic() - ts, 1)
                    sec["loadavg_after"] = loadavg()
                    if "gateways" in sec:
                        self.results.setdefault("gateways", []).extend(sec.pop("gateways"))
                    for sub in ("recgw",):
                        if isinstance(sec.get(sub), dict) and "gateway" in sec[sub]:
                            self.results.setdefault("gateways", []).append(sec[sub].pop("gateway"))
                    for tier, cg in (sec.get("callgrind") or {}).items():
                        if isinstance(cg, dict) and "gateway" in cg:
                            self.results.setdefault("gateways", []).append(cg.pop("gateway"))
            self.results.setdefault("gateways", []).insert(0, self.stop_gateway(self.gw))
            self.stop_nginx(self.ng)
        except Exception:  # noqa: BLE001
            failed = True
            self.results["fatal"] = traceback.format_exc()
            log(f"FATAL:\n{traceback.format_exc()}")
        finally:
            self.cleanup()
        self.results["loadavg_end"] = loadavg()
        self.results["wall_seconds"] = round(time.monotonic() - t0, 1)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, default=str))
        try:
            self.results["plots"] = self.plots()
        except Exception:  # noqa: BLE001
            failed = True
            log(f"plots failed:\n{traceback.format_exc()}")
        (self.out / "summary.md").write_text(self.summary())
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, default=str))
        log(f"done in {self.results['wall_seconds']:.0f} s: {self.out}/summary.md"
            + (" (with FAILURES)" if failed else ""))
        return 1 if failed else 0

    def cleanup(self) -> None:
        for proc in list(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + 15
        for proc in list(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.procs.clear()
        self.stop_stack()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="development run, under 2 minutes")
    g.add_argument("--medium", action="store_true", help="full matrix with reduced counts and durations")
    ap.add_argument("--out", help="output directory (default bench/results/<date>/)")
    ap.add_argument("--only", help=f"comma-separated subset of: {','.join(SECTIONS)}")
    ap.add_argument("--gateway-env", action="append", metavar="KEY=VALUE",
                    help="extra environment for every recgw instance, e.g. RECGW_STREAM_HIGH_WATERMARK=65536 "
                         "(repeatable; recorded in results.json)")
    ap.add_argument("--profile-set", action="append", metavar="NAME=JSON",
                    help="override one value of the chosen profile, e.g. idle_conns=10000 (repeatable)")
    args = ap.parse_args()
    for tool in ("wrk", "nginx", "curl", "valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            print(f"run.py: {tool} not found (tools/install.sh installs wrk, nginx-light; apt-get install valgrind)",
                  file=sys.stderr)
            return 2
    bench = Bench(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    try:
        return bench.run()
    except KeyboardInterrupt:
        bench.cleanup()
        return 130


if __name__ == "__main__":
    sys.exit(main())
