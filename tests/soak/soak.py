#!/usr/bin/env python3
"""A bounded soak of recgw on the real stack (issue 7, part 5). Not part of the default
test run; one command runs it:

    ~/.cache/recgw/venv/bin/python tests/soak/soak.py                # 10 minutes
    ~/.cache/recgw/venv/bin/python tests/soak/soak.py --minutes 3
    ~/.cache/recgw/venv/bin/python tests/soak/soak.py --asan         # build-asan/recgw + LeakSanitizer

It starts Redis, FerretDB and MinIO in a temp dir through tests/integration/stack.py,
seeds recordings (MinIO and a fake fleet host), starts the gateway, and drives mixed
traffic from --concurrency threads until the time is up (or --max-requests): full
streams of 64 KiB / 1 MiB / 8 MiB objects, Range, HEAD, 304s, fleet-only objects, 404s,
admin streams with a JWT, both signed-URL routes, cache warm/evict, /metrics, /readyz —
and random client disconnects: mid-body (half of them with RST), right after sending the
request, halfway through the request headers, and a slow reader that gives up.

Every --interval seconds (10) it samples the gateway's processes: VmRSS and open file
descriptors (/proc/<pid>/fd) of the supervisor and of each worker, plus the gateway's own
open-connection gauge. It prints a table, a verdict (RSS slope after warm-up, fds idle
before vs idle after) and writes everything as JSON (--out).

--asan: build-asan/recgw with ASAN_OPTIONS=detect_leaks=1. Workers leave with _exit()
(reactor/supervisor.cc), which skips LeakSanitizer's atexit check, so the soak preloads a
tiny shim (compiled here with gcc) whose _exit() runs __lsan_do_leak_check() first and
writes a marker line; at the end the gateway gets SIGTERM and every LeakSanitizer report
in its stderr is printed. RSS under ASan includes its quarantine and is not a leak signal.

Exit status: 0 when the verdict is clean, 1 otherwise, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import requests  # noqa: E402

from fakes import FakeFleetHost  # noqa: E402
from stack import Gateway, Stack, StackError, start_gateway  # noqa: E402

KiB, MiB = 1024, 1024 * 1024
JWT_SECRET = "soak-jwt-secret-0123456789abcdef"
FLEET_SECRET = "soak-fleet-secret"
PUBLIC = "/api/v1/public/recordings/"
ADMIN = "/api/v1/recordings/"

SHIM_C = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
extern void __lsan_do_leak_check(void) __attribute__((weak));
void _exit(int code) {
  if (__lsan_do_leak_check) {
    char line[96];
    int n = snprintf(line, sizeof line, "lsan-exit-shim: leak check in pid %d (exit %d)\n", (int)getpid(), code);
    if (n > 0) { ssize_t w = write(2, line, (size_t)n); (void)w; }
    __lsan_do_leak_check();
  }
  syscall(SYS_exit_group, code);
  __builtin_unreachable();
}
"""


# ---- helpers ---------------------------------------------------------------------------------

def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def admin_jwt() -> str:
    now = int(time.time())
    header = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64u(json.dumps({"sub": "soak", "role": "admin", "account_id": "acct-soak",
                               "iat": now, "exp": now + 24 * 3600}).encode())
    sig = hmac.new(JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64u(sig)}"


def children(pid: int) -> List[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def rss_kib(pid: int) -> Optional[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid: int) -> Optional[int]:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def tcp_table(pid: int) -> Dict[int, tuple]:
    """inode → (local port, remote port, state hex) for the process's network namespace."""
    out = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            lport = int(f[1].rsplit(":", 1)[1], 16)
            rport = int(f[2].rsplit(":", 1)[1], 16)
            out[int(f[9])] = (lport, rport, f[3])
    return out


def fd_kinds(pid: int, listen_port: int, peers: Dict[int, str]) -> Dict[str, int]:
    """Open fds by kind: client (a connection to the gateway's port), an upstream by name
    (redis, mongo, minio, fleet), listen, other sockets, and non-socket kinds (eventfd,
    epoll, pipe, file, ...)."""
    kinds: Dict[str, int] = collections.Counter()
    table = tcp_table(pid)
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return {}
    for fd in names:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            entry = table.get(int(m.group(1)))
            if entry is None:
                kinds["socket_other"] += 1
            elif entry[2] == "0A":
                kinds["listen"] += 1
            elif entry[0] == listen_port:
                kinds["client"] += 1
            else:
                kinds["up_" + peers.get(entry[1], "other")] += 1
        elif link.startswith("anon_inode:"):
            kinds[link.split(":", 1)[1].strip("[]")] += 1
        elif link.startswith("pipe:"):
            kinds["pipe"] += 1
        else:
            kinds["file"] += 1
    return dict(kinds)


def gauge(text: str, name: str) -> Optional[float]:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def build_shim(directory: Path) -> Path:
    src, lib = directory / "lsan_exit_shim.c", directory / "lsan_exit_shim.so"
    src.write_text(SHIM_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], check=True,
                   capture_output=True, text=True)
    return lib


def libasan_path(binary: Path) -> str:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"libasan\.so\S*\s+=>\s+(\S+)", out)
    if not m:
        raise RuntimeError(f"{binary} is not linked with a shared libasan")
    return m.group(1)


# ---- traffic ---------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.by_action: Dict[str, int] = collections.Counter()
        self.statuses: Dict[str, int] = collections.Counter()
        self.unexpected: Dict[str, int] = collections.Counter()
        self.errors: Dict[str, int] = collections.Counter()
        self.disconnects = 0
        self.bytes = 0
        self.window_max_s = 0.0          # slowest complete request since the last sample
        self.max_s = 0.0

    def note(self, action: str, status: Optional[int] = None, ok: bool = True, nbytes: int = 0,
             disconnect: bool = False, error: Optional[str] = None, seconds: float = 0.0) -> None:
        with self.lock:
            self.window_max_s = max(self.window_max_s, seconds)
            self.max_s = max(self.max_s, seconds)
            self.requests += 1
            self.by_action[action] += 1
            self.bytes += nbytes
            if status is not None:
                self.statuses[str(status)] += 1
                if not ok:
                    self.unexpected[f"{action}:{status}"] += 1
            if disconnect:
                self.disconnects += 1
            if error:
                self.errors[f"{action}:{error}"] += 1


class Traffic:
    def __init__(self, gw: Gateway, seeds: dict, stats: Stats, deadline: float, max_requests: int, seed: int):
        self.gw = gw
        self.seeds = seeds
        self.stats = stats
        self.deadline = deadline
        self.max_requests = max_requests
        self.rng_seed = seed
        self.stop = threading.Event()
        self.actions = [
            ("small", 22), ("medium", 7), ("large", 2), ("range", 10), ("head", 5), ("conditional", 5),
            ("fleet", 6), ("unknown", 4), ("admin", 4), ("signed_url", 3), ("session_url", 2),
            ("warm", 1), ("evict", 1), ("ops", 4), ("cut_mid_body", 8), ("cut_after_request", 3),
            ("cut_mid_headers", 3), ("slow_reader", 1),
        ]
        self.names = [a for a, _ in self.actions]
        self.weights = [w for _, w in self.actions]

    def running(self) -> bool:
        return (not self.stop.is_set() and time.monotonic() < self.deadline
                and self.stats.requests < self.max_requests)

    def worker(self, index: int) -> None:
        rng = random.Random(self.rng_seed * 1000 + index)
        session = requests.Session()
        jwt = admin_jwt()
        while self.running():
            action = rng.choices(self.names, self.weights)[0]
            try:
                getattr(self, "do_" + action)(rng, session, jwt)
            except (requests.RequestException, OSError) as e:
                self.stats.note(action, error=type(e).__name__)
                session.close()
                session = requests.Session()
        session.close()

    # -- plain requests
    def _get(self, action, session, path, expect=(200,), headers=None, method="GET", **kw):
        t = time.monotonic()
        r = session.request(method, self.gw.url + path, headers=headers or {}, timeout=60, **kw)
        n = len(r.content)
        self.stats.note(action, r.status_code, r.status_code in expect, n, seconds=time.monotonic() - t)
        return r

    def do_small(self, rng, s, jwt):
        tok, _sid, size = rng.choice(self.seeds["small"])
        r = self._get("small", s, PUBLIC + tok)
        if r.status_code == 200 and len(r.content) != size:
            self.stats.note("small", error="short_body")

    def do_medium(self, rng, s, jwt):
        tok, _sid, size = rng.choice(self.seeds["medium"])
        self._get("medium", s, PUBLIC + tok)

    def do_large(self, rng, s, jwt):
        tok, _sid, size = rng.choice(self.seeds["large"])
        self._get("large", s, PUBLIC + tok)

    def do_range(self, rng, s, jwt):
        tok, _sid, size = rng.choice(self.seeds["medium"])
        a = rng.randrange(0, size - 1)
        b = min(size - 1, a + rng.randrange(1, 256 * KiB))
        self._get("range", s, PUBLIC + tok, expect=(206,), headers={"Range": f"bytes={a}-{b}"})

    def do_head(self, rng, s, jwt):
        tok, _sid, _size = rng.choice(self.seeds["small"] + self.seeds["fleet"])
        self._get("head", s, PUBLIC + tok, method="HEAD")

    def do_conditional(self, rng, s, jwt):
        tok, _sid, _size = rng.choice(self.seeds["small"])
        self._get("conditional", s, PUBLIC + tok, expect=(304,),
                  headers={"If-None-Match": self.seeds["etags"][tok]})

    def do_fleet(self, rng, s, jwt):
        tok, _sid, _size = rng.choice(self.seeds["fleet"])
        self._get("fleet", s, PUBLIC + tok)

    def do_unknown(self, rng, s, jwt):
        self._get("unknown", s, PUBLIC + "soak-unknown-" + str(rng.randrange(10 ** 9)), expect=(404,))

    def do_admin(self, rng, s, jwt):
        _tok, sid, _size = rng.choice(self.seeds["small"])
        self._get("admin", s, ADMIN + sid, headers={"Authorization": "Bearer " + jwt})

    def do_signed_url(self, rng, s, jwt):
        _tok, sid, _size = rng.choice(self.seeds["small"])
        self._get("signed_url", s, "/v1/call-recording/signed-url", method="POST",
                  headers={"Authorization": "Bearer " + jwt}, json={"call_id": sid, "expiration_url_in_minutes": 5})

    def do_session_url(self, rng, s, jwt):
        _tok, sid, _size = rng.choice(self.seeds["small"])
        self._get("session_url", s, f"/api/v1/sessions/{sid}/recording",
                  headers={"Authorization": "Bearer " + jwt, "X-Account-ID": "acct-soak"})

    def do_warm(self, rng, s, jwt):
        toks = [t for t, _, _ in rng.sample(self.seeds["small"], 5)]
        self._get("warm", s, "/api/v1/admin/cache/warm", method="POST",
                  headers={"Authorization": "Bearer " + jwt}, json={"tokens": toks})

    def do_evict(self, rng, s, jwt):
        tok, _sid, _size = rng.choice(self.seeds["small"])
        self._get("evict", s, "/api/v1/admin/cache/" + tok, method="DELETE", expect=(200, 204),
                  headers={"Authorization": "Bearer " + jwt})

    def do_ops(self, rng, s, jwt):
        self._get("ops", s, rng.choice(["/metrics", "/readyz", "/healthz"]))

    # -- client disconnects (raw sockets)
    def _raw(self, data: bytes, rcvbuf: Optional[int] = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", self.gw.port))
        sock.sendall(data)
        return sock

    @staticmethod
    def _close(sock: socket.socket, rst: bool) -> None:
        if rst:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def do_cut_mid_body(self, rng, s, jwt):
        tok, _sid, size = rng.choice(self.seeds["large"] + self.seeds["medium"] + self.seeds["fleet"])
        sock = self._raw(f"GET {PUBLIC}{tok} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        want, got = rng.randrange(0, min(size, 2 * MiB)), 0
        while got < want:
            chunk = sock.recv(min(65536, want - got))
            if not chunk:
                break
            got += len(chunk)
        self._close(sock, rst=rng.random() < 0.5)
        self.stats.note("cut_mid_body", nbytes=got, disconnect=True)

    def do_cut_after_request(self, rng, s, jwt):
        tok, _sid, _size = rng.choice(self.seeds["large"] + self.seeds["small"])
        sock = self._raw(f"GET {PUBLIC}{tok} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        self._close(sock, rst=rng.random() < 0.5)
        self.stats.note("cut_after_request", disconnect=True)

    def do_cut_mid_headers(self, rng, s, jwt):
        tok, _sid, _size = rng.choice(self.seeds["small"])
        full = f"GET {PUBLIC}{tok} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {'p' * 200}\r\n\r\n".encode()
        sock = self._raw(full[:rng.randrange(1, len(full) - 2)])
        time.sleep(rng.random() * 0.05)
        self._close(sock, rst=rng.random() < 0.5)
        self.stats.note("cut_mid_headers", disconnect=True)

    def do_slow_reader(self, rng, s, jwt):
        tok, _sid, _size = rng.choice(self.seeds["large"])
        sock = self._raw(f"GET {PUBLIC}{tok} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(), rcvbuf=16 * KiB)
        got, until = 0, time.monotonic() + rng.uniform(0.3, 1.5)
        while time.monotonic() < until and self.running():
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += len(chunk)
            time.sleep(0.01)
        self._close(sock, rst=False)
        self.stats.note("slow_reader", nbytes=got, disconnect=True)


# ---- sampling --------------------------------------------------------------------------------

def sample(gw: Gateway, t0: float, stats: Stats, phase: str, peers: Dict[int, str]) -> dict:
    sup = gw.pid
    workers = children(sup)
    try:
        text = requests.get(gw.url + "/metrics", timeout=10).text
    except requests.RequestException:
        text = ""
    row = {
        "t_s": round(time.monotonic() - t0, 1),
        "phase": phase,
        "supervisor_rss_kib": rss_kib(sup),
        "supervisor_fds": fd_count(sup),
        "workers": [{"pid": w, "rss_kib": rss_kib(w), "fds": fd_count(w), "fd_kinds": fd_kinds(w, gw.port, peers)}
                    for w in workers],
        "open_connections": gauge(text, "recgw_http_open_connections"),
        "active_streams": gauge(text, "recgw_streams_active"),
        "upstream_transfers": gauge(text, "recgw_upstream_transfers_active"),
        "l1_entries": gauge(text, "recgw_lookup_l1_entries"),
        "requests": stats.requests,
        "disconnects": stats.disconnects,
        "unexpected": sum(stats.unexpected.values()),
        "errors": sum(stats.errors.values()),
        "max_request_s": round(stats.window_max_s, 3),
    }
    with stats.lock:
        stats.window_max_s = 0.0
    row["worker_rss_kib"] = sum(w["rss_kib"] or 0 for w in row["workers"])
    kinds: Dict[str, int] = collections.Counter()
    for w in row["workers"]:
        kinds.update(w["fd_kinds"])
    row["worker_fd_kinds"] = dict(kinds)
    # the total from the same listing as the kinds (a separate listdir races with the traffic)
    row["worker_fds"] = sum(kinds.values())
    row["worker_fds_client"] = kinds.get("client", 0)
    row["worker_fds_upstream"] = sum(v for k, v in kinds.items() if k.startswith("up_"))
    row["worker_fds_other"] = row["worker_fds"] - row["worker_fds_client"] - row["worker_fds_upstream"]
    return row


HEADER = (f"{'t (s)':>7} {'phase':>8} {'worker RSS MiB':>14} {'worker fds':>10} {'client':>6} {'upstream':>8} "
          f"{'other':>5} {'sup RSS MiB':>11} {'sup fds':>7} {'requests':>9} {'cuts':>6} {'unexp':>5} {'errors':>6} "
          f"{'max s':>9} {'L1':>7}")


def fmt(row: dict) -> str:
    def mib(k):
        return f"{(row[k] or 0) / 1024:.1f}"
    return (f"{row['t_s']:>7} {row['phase']:>8} {mib('worker_rss_kib'):>14} {row['worker_fds']:>10} "
            f"{row['worker_fds_client']:>6} {row['worker_fds_upstream']:>8} {row['worker_fds_other']:>5} "
            f"{mib('supervisor_rss_kib'):>11} {row['supervisor_fds'] or 0:>7} "
            f"{row['requests']:>9} {row['disconnects']:>6} {row['unexpected']:>5} {row['errors']:>6} "
            f"{row['max_request_s']:>9.2f} {row['l1_entries'] or 0:>7.0f}")


def slope_mib_per_min(rows: List[dict]) -> float:
    pts = [(r["t_s"] / 60, r["worker_rss_kib"] / 1024) for r in rows]
    if len(pts) < 2:
        return 0.0
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else 0.0


# ---- main ------------------------------------------------------------------------------------

def seed_stack(st: Stack, fleet: FakeFleetHost) -> dict:
    rng = random.Random(7)
    seeds = {"small": [], "medium": [], "large": [], "fleet": [], "etags": {}}
    for kind, count, size in (("small", 30, 64 * KiB), ("medium", 6, 1 * MiB), ("large", 3, 8 * MiB)):
        for i in range(count):
            key = f"soak/{kind}/{i}.ogg"
            data = rng.randbytes(size)
            put = st.put_object(key, data, "audio/ogg")
            tok, sid = f"soak-{kind}-{i}-{rng.getrandbits(64):x}", f"soak-sess-{kind}-{i}"
            st.insert_call(sid, token=tok, key=key, status="ready", account_id="acct-soak")
            seeds[kind].append((tok, sid, size))
            seeds["etags"][tok] = put["ETag"]
    for i in range(8):
        key = f"soak/fleet/{i}.ogg"
        fleet.put(key, rng.randbytes(512 * KiB), "audio/ogg")
        tok, sid = f"soak-fleet-{i}-{rng.getrandbits(64):x}", f"soak-sess-fleet-{i}"
        st.insert_call(sid, token=tok, key=key, status="ready", account_id="acct-soak")
        seeds["fleet"].append((tok, sid, 512 * KiB))
    st.ensure_indexes()
    return seeds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="traffic duration (default 10)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes (default 1)")
    ap.add_argument("--max-requests", type=int, default=5_000_000, help="stop after this many requests")
    ap.add_argument("--asan", action="store_true", help="run build-asan/recgw with LeakSanitizer")
    ap.add_argument("--binary", help="recgw binary (default build/recgw, or build-asan/recgw with --asan)")
    ap.add_argument("--out", help="JSON results (default build/soak/soak-<time>.json)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--env", action="append", default=[], metavar="RECGW_SECTION_KEY=VALUE",
                    help="extra gateway setting (repeatable), e.g. RECGW_CACHE_L1_ENTRIES=1000")
    ap.add_argument("--warmup-s", type=float, default=60.0, help="RSS slope ignores samples before this")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or args.minutes > 24 * 60:
        ap.error("--minutes must be in (0, 1440]")

    binary = Path(args.binary) if args.binary else REPO / ("build-asan/recgw" if args.asan else "build/recgw")
    if not binary.exists():
        print(f"recgw binary not found: {binary} (tools/build.sh {'asan' if args.asan else 'release'})",
              file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else REPO / "build" / "soak" / f"soak-{stamp}{'-asan' if args.asan else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="recgw-soak-"))
    st = Stack(work / "stack")
    fleet = FakeFleetHost({}, secret=FLEET_SECRET).start()
    fleet._server.handle_error = lambda *a: None       # cancelled upstream reads are expected here
    gw: Optional[Gateway] = None
    try:
        print(f"starting the stack in {work} …", flush=True)
        try:
            st.start()
        except StackError as e:
            print(f"could not start the stack: {e}", file=sys.stderr)
            return 2
        seeds = seed_stack(st, fleet)
        env = {"RECGW_JWT_HS256_SECRET": JWT_SECRET, "RECGW_FLEET_URLS": fleet.url,
               "RECGW_FLEET_SECRET": FLEET_SECRET,
               "RECGW_CACHE_FAILED_LOOKUPS_BURST": "1000000", "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "1000000",
               "RECGW_SERVER_LOG_LEVEL": "warn"}
        for setting in args.env:
            name, sep, value = setting.partition("=")
            if not sep or not name.startswith("RECGW_"):
                print(f"--env wants RECGW_<SECTION>_<KEY>=VALUE, got {setting!r}", file=sys.stderr)
                return 2
            env[name] = value
        lsan_note = None
        if args.asan:
            shim = build_shim(work)
            env["LD_PRELOAD"] = f"{libasan_path(binary)}:{shim}"
            env["ASAN_OPTIONS"] = "detect_leaks=1:quarantine_size_mb=64:malloc_context_size=20"
            env["LSAN_OPTIONS"] = "report_objects=0:max_leaks=30"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1"
            lsan_note = f"LD_PRELOAD {env['LD_PRELOAD']}"
        gw = start_gateway(st, env, binary=binary, workers=args.workers, log_dir=work / "gateway", timeout=60)
        peers = {st.redis_port: "redis", st.mongo_port: "mongo", st.minio_port: "minio",
                 int(fleet.url.rsplit(":", 1)[1]): "fleet"}
        print(f"gateway {binary} pid {gw.pid} on {gw.url}; workers {children(gw.pid)}", flush=True)

        # touch every route once so lazily created things exist before the idle baseline
        stats0 = Stats()
        warm = Traffic(gw, seeds, stats0, time.monotonic() + 60, 10 ** 9, args.seed)
        sess, jwt, rng = requests.Session(), admin_jwt(), random.Random(0)
        for name in warm.names:
            if not name.startswith("cut") and name != "slow_reader":
                getattr(warm, "do_" + name)(rng, sess, jwt)
        sess.close()
        time.sleep(2)

        t0 = time.monotonic()
        stats = Stats()
        rows = [sample(gw, t0, stats, "idle", peers)]
        print(HEADER)
        print(fmt(rows[0]), flush=True)
        traffic = Traffic(gw, seeds, stats, t0 + args.minutes * 60, args.max_requests, args.seed)
        threads = [threading.Thread(target=traffic.worker, args=(i,), daemon=True) for i in range(args.concurrency)]
        for t in threads:
            t.start()
        next_at = t0 + args.interval
        while traffic.running():
            time.sleep(max(0.0, min(next_at, traffic.deadline) - time.monotonic()))
            if time.monotonic() >= next_at:
                rows.append(sample(gw, t0, stats, "traffic", peers))
                print(fmt(rows[-1]), flush=True)
                next_at += args.interval
            if not gw.alive():
                print("gateway died!", file=sys.stderr)
                break
        traffic.stop.set()
        for t in threads:
            t.join(90)
        time.sleep(3)                      # let closes and cancellations settle
        rows.append(sample(gw, t0, stats, "idle", peers))
        print(fmt(rows[-1]), flush=True)

        # ---- verdict
        traffic_rows = [r for r in rows if r["phase"] == "traffic"]
        steady = [r for r in traffic_rows if r["t_s"] >= args.warmup_s] or traffic_rows
        slope = slope_mib_per_min(steady)
        rss_first = steady[0]["worker_rss_kib"] / 1024 if steady else 0
        rss_last = steady[-1]["worker_rss_kib"] / 1024 if steady else 0
        rss_max = max((r["worker_rss_kib"] for r in rows), default=0) / 1024
        fds_before, fds_after = rows[0]["worker_fds"], rows[-1]["worker_fds"]
        fds_max = max(r["worker_fds"] for r in rows)
        minutes_steady = (steady[-1]["t_s"] - steady[0]["t_s"]) / 60 if len(steady) > 1 else 0
        rss_growth = slope * minutes_steady
        rss_flat = args.asan or rss_growth <= max(8.0, 0.10 * rss_first)
        # fds: no client socket left once the clients are gone; the non-socket fds (eventfds,
        # epoll, pipes, files) exactly as before; upstream sockets no more than the pools and
        # curl's connection cache held under load; and no upward trend while under load
        before, after = rows[0], rows[-1]
        third = max(1, len(traffic_rows) // 3)
        trend = (max(r["worker_fds"] for r in traffic_rows[-third:]) - max(r["worker_fds"] for r in traffic_rows[:third])
                 if traffic_rows else 0)
        fds_flat = (after["worker_fds_client"] == 0 and after["worker_fds_other"] == before["worker_fds_other"]
                    and after["worker_fds_upstream"] <= max([before["worker_fds_upstream"]] +
                                                            [r["worker_fds_upstream"] for r in traffic_rows])
                    and trend <= 4)
        summary = {
            "minutes": args.minutes, "concurrency": args.concurrency, "workers": args.workers,
            "binary": str(binary), "asan": args.asan,
            "requests": stats.requests, "disconnects": stats.disconnects, "bytes": stats.bytes,
            "by_action": dict(stats.by_action), "statuses": dict(stats.statuses),
            "unexpected": dict(stats.unexpected), "errors": dict(stats.errors),
            "rss_mib_after_warmup": round(rss_first, 1), "rss_mib_last": round(rss_last, 1),
            "rss_mib_max": round(rss_max, 1), "rss_slope_mib_per_min": round(slope, 3),
            "rss_flat": rss_flat, "max_request_s": round(stats.max_s, 3), "fds_idle_before": fds_before, "fds_idle_after": fds_after,
            "fds_max": fds_max, "fds_trend_last_vs_first_third": trend, "fds_flat": fds_flat,
            "fd_kinds_idle_before": before["worker_fd_kinds"], "fd_kinds_idle_after": after["worker_fd_kinds"],
            "gateway_alive": gw.alive(), "gateway_settings": args.env,
        }

        # ---- stop: SIGTERM, exit code, sanitizer reports
        code = gw.stop(timeout=60)
        summary["exit_code"] = code
        stderr = gw.stderr()
        sanitizer = [ln for ln in stderr.splitlines()
                     if re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: ", ln)]
        summary["sanitizer_lines"] = sanitizer[:200]
        if args.asan:
            shim_marks = [ln for ln in stderr.splitlines() if ln.startswith("lsan-exit-shim:")]
            summary["lsan_checks"] = shim_marks
            summary["lsan_note"] = lsan_note
            summary["lsan_clean"] = not any("LeakSanitizer" in ln for ln in sanitizer) and bool(shim_marks)
        clean = (rss_flat and fds_flat and not sanitizer and code == 0 and summary["gateway_alive"]
                 and not stats.unexpected.get("ops:500"))
        summary["clean"] = clean
        result = {"started": stamp, "samples": rows, "summary": summary}
        out.write_text(json.dumps(result, indent=2))
        shutil.copy(gw.stderr_path, out.with_suffix(".stderr.log"))

        print()
        print(f"requests {stats.requests} ({stats.requests / max(1, args.minutes * 60):.0f}/s), "
              f"client disconnects {stats.disconnects}, {stats.bytes / MiB:.0f} MiB received")
        print(f"statuses {dict(sorted(stats.statuses.items()))}")
        if stats.unexpected:
            print(f"unexpected statuses {dict(stats.unexpected)}")
        if stats.errors:
            print(f"client-side errors {dict(stats.errors)}")
        print(f"worker RSS after warm-up {rss_first:.1f} MiB, last {rss_last:.1f} MiB, max {rss_max:.1f} MiB, "
              f"slope {slope:+.2f} MiB/min → {'flat' if rss_flat else 'GROWING'}"
              f"{' (ASan: quarantine, not judged)' if args.asan else ''}")
        print(f"worker fds idle before {fds_before} {before['worker_fd_kinds']}, idle after {fds_after} "
              f"{after['worker_fd_kinds']}, max under load {fds_max}, trend {trend:+d} → "
              f"{'flat' if fds_flat else 'GROWING'}")
        print(f"gateway exit code after SIGTERM: {code}")
        if args.asan:
            print(f"LeakSanitizer: {len(summary['lsan_checks'])} leak check(s) ran "
                  f"({'; '.join(summary['lsan_checks'])})")
        if sanitizer:
            print("sanitizer output:")
            for ln in sanitizer[:60]:
                print("  " + ln)
            leak_blocks = re.findall(r"(==\d+==ERROR: LeakSanitizer.*?SUMMARY: [^\n]*)", stderr, re.S)
            for block in leak_blocks[:3]:
                print(block[:6000])
        elif args.asan:
            print("LeakSanitizer: clean (no leak reports)")
        print(f"results: {out}")
        print("verdict:", "CLEAN" if clean else "NOT CLEAN")
        return 0 if clean else 1
    finally:
        if gw is not None and gw.alive():
            gw.kill()
        fleet.stop()
        st.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
