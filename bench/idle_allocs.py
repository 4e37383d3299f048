#!/usr/bin/env python3
"""What one idle keep-alive connection keeps allocated in a recgw worker, by allocation site.

Starts the local stack and one gateway under glibc's malloc tracer (libc_malloc_debug.so,
MALLOC_TRACE), switches tracing on in the worker with gdb (`mtrace()`), opens N connections
that each fetch a 16 KiB recording and then stay open, switches tracing off (`muntrace()`),
and prints what was allocated during that window and is still live, grouped by the function
that called malloc: bytes and allocations per connection. Sizes are the sizes asked for;
glibc adds 8-16 bytes of chunk header to each.

    ~/.cache/recgw/venv/bin/python bench/idle_allocs.py [--conns 500]

Needs gdb, and the Debian glibc's libc_malloc_debug.so.0. Valgrind's massif is not used: under
valgrind the requests arrive in pieces and every input buffer keeps a 4 KiB read chunk that a
normal run never holds.
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402 — the benchmark's stack, seeding and gateway helpers

MALLOC_DEBUG = "/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"


def gdb_call(pid: int, expr: str) -> None:
    p = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", f"call (void){expr}"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"gdb {expr} failed: {p.stderr.strip()[-300:]}")


def live_by_caller(trace: Path) -> tuple[collections.Counter, collections.Counter]:
    live: dict[str, tuple[str, int]] = {}
    with trace.open(errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4 or parts[0] != "@":
                continue
            caller, op, addr = parts[1], parts[2], parts[3]
            if op in ("+", ">") and len(parts) >= 5:
                live[addr] = (caller, int(parts[4], 16))
            elif op in ("-", "<"):
                live.pop(addr, None)
    size: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    for caller, n in live.values():
        size[caller] += n
        count[caller] += 1
    return size, count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conns", type=int, default=500)
    ap.add_argument("--out", default="/tmp/recgw-idle-allocs")
    args = ap.parse_args()
    if not Path(MALLOC_DEBUG).exists():
        print(f"idle_allocs.py: {MALLOC_DEBUG} not found", file=sys.stderr)
        return 2
    bench = R.Bench(argparse.Namespace(quick=True, medium=False, out=args.out, only="", gateway_env=[],
                                       profile_set=[]))
    bench.raise_nofile()
    trace = Path(args.out) / "mtrace.txt"
    trace.unlink(missing_ok=True)
    n = args.conns
    try:
        bench.start_stack()
        bench.seed()
        gw = bench.start_gateway("idle-allocs", extra={
            "RECGW_SERVER_MAX_CONNECTIONS": n + 2000, "RECGW_SERVER_CLIENT_TIMEOUT_MS": 300000,
            "LD_PRELOAD": MALLOC_DEBUG, "MALLOC_TRACE": str(trace)})
        for _ in range(50):  # caches, pools and curl's connections are warm before tracing
            R.http_get(bench.public_url(gw, "16k"))
        worker = R.process_tree(gw["proc"].pid)[-1]
        gdb_call(worker, "mtrace()")
        opened = R.open_connections(gw["port"], bench.public_path("16k"), n, "full", deadline_s=120, batch=100)
        time.sleep(2)
        gdb_call(worker, "muntrace()")
        ok = opened["statuses"].get("200", 0)
        R.close_all(opened["socks"])
        bench.stop_gateway(gw)
    finally:
        bench.cleanup()
    if ok != n:
        print(f"idle_allocs.py: only {ok} of {n} connections got their 200", file=sys.stderr)
        return 1
    size, count = live_by_caller(trace)
    total = sum(size.values())
    print(f"{n} idle keep-alive connections: {total / n:.0f} bytes asked for per connection, "
          f"{sum(count.values()) / n:.1f} allocations per connection")
    print("| bytes/conn | allocs/conn | allocated by |")
    print("|---:|---:|---|")
    for caller, s in size.most_common(15):
        if s / n >= 1:
            print(f"| {s / n:.0f} | {count[caller] / n:.2f} | `{caller.split('/')[-1]}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
