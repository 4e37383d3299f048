"""Per-connection memory of idle keep-alive connections, measured from inside (issue 21,
item 3). One worker; 1000 connections opened one after another, each GET of a 16 KiB
recording complete before the next opens (so the upstream side is one pooled connection
and only the client side grows); worker RSS before and after, then again after the
allocator gave back its free memory (through gdb: malloc_trim(0), or mi_collect(1) for
mimalloc), and rounds of open-and-close to tell a leak (RSS keeps growing) from heap
fragmentation (it settles).

    ulimit -n 20000; ~/.cache/recgw/venv/bin/python bench/idle_probe.py [--rounds 8] [--burst 200]
    (GWBIN=path/to/recgw measures another build)
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from stack import Stack, start_gateway, stop_all  # noqa: E402
from run import heap_release_call  # noqa: E402

BODY = 16 * 1024


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def trim(pid: int) -> None:
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", heap_release_call(pid)],
                   capture_output=True, timeout=60)


def open_idle(port: int, request: bytes, n: int) -> list[socket.socket]:
    """n connections, each left idle after one complete answer."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < BODY:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed before the whole answer")
            got += chunk
        socks.append(s)
    return socks


def open_idle_burst(port: int, request: bytes, n: int, burst: int) -> list[socket.socket]:
    """n connections opened `burst` at a time: each batch sends its requests at once, so the
    gateway has `burst` transfers in flight together (as under load), then reads them all."""
    socks: list[socket.socket] = []
    while len(socks) < n:
        batch = [socket.create_connection(("127.0.0.1", port)) for _ in range(min(burst, n - len(socks)))]
        for s in batch:
            s.sendall(request)
        for s in batch:
            got = b""
            while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < BODY:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("connection closed before the whole answer")
                got += chunk
        socks += batch
    return socks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--burst", type=int, default=1,
                    help="requests in flight together while the connections open (1: one after another)")
    args = ap.parse_args()

    def open_conns(port: int, request: bytes, n: int) -> list[socket.socket]:
        if args.burst > 1:
            return open_idle_burst(port, request, n, args.burst)
        return open_idle(port, request, n)

    binary = os.environ.get("GWBIN", os.path.join(HERE, "..", "build", "recgw"))
    st = Stack(tempfile.mkdtemp(prefix="recgw-idle-probe-")).start("redis", "ferretdb", "minio")
    gw = None
    try:
        key, token = "idle/probe.ogg", "tok-" + uuid.uuid4().hex
        st.put_object(key, os.urandom(BODY), "audio/ogg")
        st.insert_call("sess-" + uuid.uuid4().hex, token=token, key=key, status="ready")
        gw = start_gateway(st, {"RECGW_SERVER_MAX_CONNECTIONS": str(args.connections * 2)}, (), binary=binary,
                           log_dir=tempfile.mkdtemp(prefix="recgw-idle-probe-gw-"))
        port = int(gw.url.rsplit(":", 1)[1])
        worker = int(open(f"/proc/{gw.proc.pid}/task/{gw.proc.pid}/children").read().split()[0])
        request = f"GET /api/v1/public/recordings/{token} HTTP/1.1\r\nHost: probe\r\n\r\n".encode()
        for s in open_idle(port, request, 1):  # warm: first-use allocations are not per connection
            s.close()
        trim(worker)
        before = rss_kib(worker)
        print(f"worker RSS before: {before} KiB")
        for r in range(args.rounds):
            for s in open_conns(port, request, args.connections):
                s.close()
            time.sleep(1)
            trim(worker)
            print(f"round {r}: {args.connections} opened, served, closed; trimmed RSS {rss_kib(worker)} KiB")
        socks = open_conns(port, request, args.connections)
        time.sleep(1)
        idle = rss_kib(worker)
        trim(worker)
        trimmed = rss_kib(worker)
        n = args.connections
        print(f"{n} idle: RSS {idle} KiB ({(idle - before) / n:.2f} KiB/conn); "
              f"after the heap release {trimmed} KiB ({(trimmed - before) / n:.2f} KiB/conn)")
        for s in socks:
            s.close()
    finally:
        if gw is not None:
            stop_all([gw])
        st.stop()


if __name__ == "__main__":
    main()
