"""Start-up as a load balancer sees it: from the moment `recgw serve` starts, a TCP probe on
its port is either refused (nothing there yet) or connects to a worker that answers; it is
never accepted and then refused again. (Issue 14, item 4.)

Before the fix the supervisor checked that the port was free with bind() + listen(): a probe
that connected in that instant reached a socket nobody served, and the next probe was
refused until a worker listened. The window is a few microseconds on an idle machine; on a
loaded one the supervisor can be descheduled inside it. The second case below widens every
listen() to 300 ms with an LD_PRELOAD shim, which makes that schedule happen every time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stack import free_port, gateway_env

pytestmark = pytest.mark.timeout(120)

# Connects to 127.0.0.1:<port> in a tight loop (one process per port, so the gateway's
# start is not slowed by the GIL of the test). On its first accepted connection it sends
# GET /healthz and reads the answer: only a worker answers. Prints "ready" once looping, and
# one JSON line of results when it has <wanted> accepted connections or the deadline passes.
PROBER = textwrap.dedent(r"""
    import errno, json, socket, sys, time
    port, wanted, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    deadline = time.monotonic() + seconds
    attempts = accepted = 0
    refused_after_first = []
    first_answer = None
    print("ready", flush=True)
    while time.monotonic() < deadline and accepted < wanted:
        s = socket.socket()
        s.settimeout(5)
        attempts += 1
        rc = s.connect_ex(("127.0.0.1", port))
        if rc == 0:
            accepted += 1
            if accepted == 1:
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
                    first_answer = s.recv(64).decode("latin-1").split("\r\n")[0] or "closed without answer"
                except OSError as e:
                    first_answer = f"{type(e).__name__}: {e}"
        elif accepted:
            refused_after_first.append(errno.errorcode.get(rc, str(rc)))
        s.close()
    print(json.dumps({"attempts": attempts, "accepted": accepted, "first_answer": first_answer,
                      "refused_after_first": len(refused_after_first),
                      "errors": sorted(set(refused_after_first))}), flush=True)
""")

SLOW_LISTEN_SHIM = textwrap.dedent(r"""
    #define _GNU_SOURCE
    #include <dlfcn.h>
    #include <time.h>
    /* Every listen() succeeds, then its caller is held for 300 ms: a scheduler that
       deschedules the process right after listen(), on every call. */
    int listen(int fd, int backlog) {
      static int (*real)(int, int);
      if (!real) real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
      int rc = real(fd, backlog);
      struct timespec hold = {0, 300 * 1000 * 1000};
      nanosleep(&hold, 0);
      return rc;
    }
""")


def build_slow_listen_shim(directory: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "no C compiler (build-essential is in tools/install.sh)"
    source = directory / "slow_listen.c"
    source.write_text(SLOW_LISTEN_SHIM)
    shim = directory / "slow_listen.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(shim), str(source), "-ldl"], check=True)
    return shim


def start_prober(port: int, wanted: int, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", PROBER, str(port), str(wanted), str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def prober_result(p: subprocess.Popen, timeout: float) -> dict:
    out, _ = p.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("listen_hold", ["none", "300ms"])
def test_tcp_probe_from_first_instant_is_never_refused_after_first_accept(recgw_binary, tmp_path, listen_hold):
    port, ops_port = free_port(), free_port()
    # No stack: the port is what matters, and a worker serves /healthz without its dependencies.
    env = gateway_env(None, port, workers=2, extra_env={
        "RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{ops_port}",
        "RECGW_MONGO_URI": "mongodb://127.0.0.1:1/cxb",
        "RECGW_REDIS_URL": "redis://127.0.0.1:1",
    })
    if listen_hold != "none":
        env["LD_PRELOAD"] = str(build_slow_listen_shim(tmp_path))
    probers = {name: start_prober(p, wanted=300, seconds=30) for name, p in
               (("server.listen", port), ("server.ops_listen", ops_port))}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        gw = subprocess.Popen([str(recgw_binary), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        results = {name: prober_result(p, timeout=60) for name, p in probers.items()}
        alive = gw.poll() is None
    finally:
        for p in probers.values():
            if p.poll() is None:
                p.kill()
        os.killpg(gw.pid, signal.SIGTERM)
        try:
            gw.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(gw.pid, signal.SIGKILL)
            gw.wait()
    logs = log.read_text(errors="replace")
    assert alive, f"recgw serve exited during start-up\n{logs}"
    for name, r in results.items():
        assert r["accepted"] == 300, f"{name}: the probe never got 300 accepted connections: {r}\n{logs}"
        assert r["refused_after_first"] == 0, (
            f"{name}: accepted, then refused {r['refused_after_first']} times ({r['errors']}): "
            f"something listened before a worker did: {r}")
        assert r["first_answer"] and r["first_answer"].startswith("HTTP/1.1 200"), (
            f"{name}: the first accepted connection was not answered by a worker: {r}\n{logs}")


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "so_reuseport"])
def test_port_another_process_listens_on_is_refused_at_start(recgw_binary, reuse_port):
    """The check no longer listens, but still refuses a taken port: another program's, or
    another recgw's (SO_REUSEPORT, which the workers' sockets would silently join)."""
    with socket.socket() as busy:
        if reuse_port:
            busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(8)
        env = gateway_env(None, busy.getsockname()[1])
        p = subprocess.run([str(recgw_binary), "serve"], env=env, capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("server.listen: 127.0.0.1:") and "in use" in lines[0], lines


SHM = Path("/dev/shm")


@pytest.mark.skipif(not SHM.is_dir(), reason="needs /dev/shm")
def test_killed_gateway_leaves_no_libmongoc_segment(recgw_binary):
    """A gateway killed with SIGKILL (OOM killer, a supervisor's last resort) cannot clean
    up; it must not have anything in /dev/shm for libmongoc to leave behind. libmongoc 1.23
    creates /dev/shm/mongoc-<pid> before main; a later process given the same pid then
    printed "Falling back to malloc for counters" ahead of its one-line error (a CI run
    failed on exactly that, after other tests had killed gateways)."""
    port = free_port()
    env = gateway_env(None, port, workers=2, extra_env={
        "RECGW_MONGO_URI": "mongodb://127.0.0.1:1/cxb",
        "RECGW_REDIS_URL": "redis://127.0.0.1:1",
    })
    env.pop("MONGOC_DISABLE_SHM", None)
    gw = subprocess.Popen([str(recgw_binary), "serve"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    pids = [gw.pid]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            children = Path(f"/proc/{gw.pid}/task/{gw.pid}/children")
            if children.exists():
                pids = [gw.pid, *map(int, children.read_text().split())]
            if len(pids) == 3:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    pass
            time.sleep(0.05)
        assert len(pids) == 3, f"supervisor and 2 workers expected, saw {pids}"
    finally:
        os.killpg(gw.pid, signal.SIGKILL)
        gw.wait()
    left = [pid for pid in pids if (SHM / f"mongoc-{pid}").exists()]
    for pid in left:
        (SHM / f"mongoc-{pid}").unlink(missing_ok=True)
    assert not left, f"/dev/shm/mongoc-<pid> left behind by killed processes {left}"
