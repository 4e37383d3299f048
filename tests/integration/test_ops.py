"""Operations surface of `recgw serve` against the real stack (Redis, FerretDB, MinIO):
/healthz, /readyz, /metrics, request ids, 404/405, config errors and secret masking,
SIGTERM drain, worker replacement, a loop that never waits on MongoDB, SIGHUP reload
and the access log.  (issue 2 "Foundation".)"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from stack import Gateway, Stack, free_port, gateway_env
from helpers import wait_for

pytestmark = pytest.mark.timeout(180)

SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# ---- helpers -------------------------------------------------------------------

def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def stderr_records(gw: Gateway, msg: Optional[str] = None) -> list[dict]:
    recs = json_lines(gw.stderr())
    return [r for r in recs if msg is None or r.get("msg") == msg]


def readyz(gw: Gateway, timeout: float = 15.0) -> tuple[int, dict]:
    """/readyz with its details: on the ops listener when there is one."""
    r = requests.get((gw.ops_url or gw.url) + "/readyz", timeout=timeout)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return r.status_code, r.json()


def ops_env(**extra) -> dict:
    """Environment for a gateway with an ops listener on a free loopback port."""
    return {"RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{free_port()}", **extra}


def run_recgw(binary: Path, args: list[str], env: dict, timeout: float = 20.0) -> subprocess.CompletedProcess:
    p = subprocess.Popen([str(binary), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"recgw {' '.join(args)} still running after {timeout}s (expected a quick exit 2)\n"
                    f"stdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def recv_http_head(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Read an HTTP/1.1 response head; return (status, lower-cased headers, bytes after the head)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before the response head: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


# ---- 1. /healthz and X-Request-Id -------------------------------------------------

def test_healthz_and_request_id(gateway: Gateway):
    r = requests.get(gateway.url + "/healthz", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert isinstance(r.json(), dict)

    generated = r.headers.get("X-Request-Id")
    assert generated and SANE_ID.match(generated), generated
    other = requests.get(gateway.url + "/healthz", timeout=5).headers.get("X-Request-Id")
    assert other and other != generated, "generated request ids must differ per request"

    # a sane id is echoed
    for sane in ("abc-123", "req_42.x", "A" * 64):
        r = requests.get(gateway.url + "/healthz", headers={"X-Request-Id": sane}, timeout=5)
        assert r.status_code == 200
        assert r.headers.get("X-Request-Id") == sane

    # an insane one is replaced by a generated one (not echoed, not dropped)
    for insane in ("x" * 200, "has spaces in it", 'quote"and<angle>', "semi;colon"):
        r = requests.get(gateway.url + "/healthz", headers={"X-Request-Id": insane}, timeout=5)
        assert r.status_code == 200
        got = r.headers.get("X-Request-Id")
        assert got and got != insane, (insane, got)
        assert SANE_ID.match(got), got

    # HEAD works too and carries the id
    r = requests.head(gateway.url + "/healthz", headers={"X-Request-Id": "head-1"}, timeout=5)
    assert r.status_code == 200
    assert r.headers.get("X-Request-Id") == "head-1"
    assert r.content == b""


# ---- 2. /readyz -------------------------------------------------------------------

def assert_readyz_shape(body: dict):
    assert isinstance(body.get("ready"), bool), body
    for dep in ("mongo", "redis", "storage"):
        part = body.get(dep)
        assert isinstance(part, dict), (dep, body)
        assert isinstance(part.get("ok"), bool), (dep, body)
        assert isinstance(part.get("reason"), str) and part["reason"], (dep, body)


def test_readyz_flips_when_ferretdb_stops(clean_stack: Stack, gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=ops_env())

    status, body = readyz(gw)
    assert_readyz_shape(body)
    assert status == 200, body
    assert body["ready"] is True
    assert body["mongo"]["ok"] is True
    assert body["redis"]["ok"] is True
    assert body["storage"]["ok"] is True
    assert st.bucket in body["storage"]["reason"], body

    st.stop_service("ferretdb")
    try:
        def not_ready():
            s, b = readyz(gw)
            return (s, b) if s == 503 else None

        status, body = wait_for(not_ready, 30, "/readyz to answer 503 with FerretDB stopped", interval=0.1)
        assert_readyz_shape(body)
        assert body["ready"] is False
        assert body["mongo"]["ok"] is False
        assert body["redis"]["ok"] is True, "Redis is still up"
        # /healthz is about the process, not its dependencies
        assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200
    finally:
        st.start_service("ferretdb")

    def ready_again():
        s, b = readyz(gw)
        return (s, b) if s == 200 else None

    status, body = wait_for(ready_again, 45, "/readyz to answer 200 after FerretDB restarted", interval=0.2)
    assert body["ready"] is True and body["mongo"]["ok"] is True, body
    assert gw.alive()


def test_readyz_storage_incomplete_names_missing_field(clean_stack: Stack, gateway_factory):
    gw = gateway_factory(extra_env=ops_env(RECGW_S3_BUCKET=""))
    status, body = readyz(gw)
    assert_readyz_shape(body)
    assert body["storage"]["ok"] is False, body
    assert "bucket" in body["storage"]["reason"], body
    # the other settings are present, so they must not be reported missing
    for present in ("endpoint", "access_key", "secret_key"):
        assert present not in body["storage"]["reason"], body
    # MongoDB decides readiness; the status code agrees with the flag
    assert body["mongo"]["ok"] is True, body
    assert (status == 200) == body["ready"], (status, body)


def test_public_readyz_is_status_only_and_ops_listener_serves_details_with_two_workers(
        clean_stack: Stack, gateway_factory):
    """server.ops_listen with --workers 2: every worker binds the ops port (SO_REUSEPORT) and
    answers the detailed /readyz and the merged /metrics there; the public listener answers
    /readyz with the status only and /metrics with 404."""
    st = clean_stack
    gw = gateway_factory(extra_env=ops_env(RECGW_SERVER_WORKERS="2"))
    pids = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(worker_pids(gw)), 10,
                    "two 'worker started' lines")
    wait_for(lambda: set(pids) <= listening_pids(gw), 10, "both workers listening")
    ops_port = gw.env["RECGW_SERVER_OPS_LISTEN"]
    assert all(r.get("ops_listen") == ops_port for r in stderr_records(gw, "worker listening")), gw.stderr()

    # public: status only, no /metrics
    for _ in range(6):                                     # new connections: both workers answer
        r = requests.get(gw.url + "/readyz", timeout=10)
        assert r.status_code == 200 and r.json() == {"ready": True, "status": "ready"}, r.text
        assert st.bucket not in r.text and str(st.minio_port) not in r.text
        r = requests.get(gw.url + "/metrics", timeout=5)
        assert r.status_code == 404 and r.json()["error"], r.text[:200]
    assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200

    # ops: details and /metrics from whichever worker the kernel picks
    for _ in range(6):
        status, body = readyz(gw)
        assert status == 200, body
        assert_readyz_shape(body)
        assert isinstance(body.get("breakers"), dict), body
        assert st.bucket in body["storage"]["reason"], body
        assert requests.get(gw.ops_url + "/healthz", timeout=5).status_code == 200
    n = 12
    for _ in range(n):
        assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200

    def merged_healthz_count():
        fams = {f.name: f for f in text_string_to_metric_families(
            requests.get(gw.ops_url + "/metrics", timeout=5).text)}
        req = fams.get("recgw_http_requests")
        total = sum(s.value for s in (req.samples if req else []) if s.name == "recgw_http_requests_total"
                    and s.labels.get("route") == "healthz" and s.labels.get("status") == "200")
        return total if total >= n + 1 else None
    # both workers' public requests are summed (others are published once a second)
    wait_for(merged_healthz_count, 10, "the ops /metrics to count the public /healthz of both workers")
    # the ops listener's own traffic is not mixed into the public listener's metrics
    text = requests.get(gw.ops_url + "/metrics", timeout=5).text
    assert 'route="readyz",method="GET",status="200"} ' in text
    readyz_public = [line for line in text.splitlines() if line.startswith("recgw_http_requests_total{")
                     and 'route="readyz"' in line and 'status="200"' in line]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in readyz_public) == 6, readyz_public


def test_ops_listen_port_in_use_exits_2(recgw_binary):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        env = gateway_env(None, free_port())
        env["RECGW_SERVER_OPS_LISTEN"] = f"127.0.0.1:{busy.getsockname()[1]}"
        p = run_recgw(recgw_binary, ["serve"], env)
    assert_one_line_naming(p, ("server.ops_listen",), "serve with the ops port taken")


# ---- 3. /metrics ---------------------------------------------------------------------

def scrape(gw: Gateway) -> dict:
    r = requests.get(gw.url + "/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def test_metrics_prometheus_text(gateway: Gateway):
    for _ in range(3):
        assert requests.get(gateway.url + "/healthz", timeout=5).status_code == 200
    assert requests.get(gateway.url + "/no/such/route", timeout=5).status_code == 404

    families = scrape(gateway)
    # the parser strips _total from counter family names
    req = families.get("recgw_http_requests")
    assert req is not None, sorted(families)
    assert req.type == "counter"
    samples = [s for s in req.samples if s.name == "recgw_http_requests_total"]
    assert samples, req.samples
    for s in samples:
        assert "route" in s.labels and "status" in s.labels, s
    healthz_ok = sum(s.value for s in samples
                     if s.labels["route"] == "healthz" and s.labels["status"] == "200")
    assert healthz_ok >= 3, samples
    assert any(s.labels["status"] == "404" for s in samples), samples

    hist = [f for f in families.values()
            if f.type == "histogram" and f.name.startswith("recgw_") and "duration" in f.name]
    assert hist, f"no recgw_ request-duration histogram in {sorted(families)}"
    h = families.get("recgw_http_request_duration_seconds", hist[0])
    buckets = [s for s in h.samples if s.name.endswith("_bucket") and s.labels.get("route") == "healthz"]
    assert buckets, h.samples
    assert any(s.labels.get("le") == "+Inf" for s in buckets)
    inf = next(s.value for s in buckets if s.labels["le"] == "+Inf")
    count = next(s.value for s in h.samples
                 if s.name.endswith("_count") and s.labels.get("route") == "healthz")
    assert inf == count >= 3
    # cumulative buckets never decrease
    finite = sorted((float(s.labels["le"]), s.value) for s in buckets if s.labels["le"] != "+Inf")
    assert all(a[1] <= b[1] for a, b in zip(finite, finite[1:])), finite

    assert any("open_connections" in name for name in families), sorted(families)

    # counters move between scrapes
    requests.get(gateway.url + "/healthz", timeout=5)
    again = scrape(gateway)["recgw_http_requests"]
    after = sum(s.value for s in again.samples if s.name == "recgw_http_requests_total"
                and s.labels["route"] == "healthz" and s.labels["status"] == "200")
    assert after == healthz_ok + 1


def _healthz_ok(text: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "recgw_http_requests_total" and s.labels.get("route") == "healthz"
               and s.labels.get("status") == "200")


def test_metrics_directory_is_private_and_merged_across_workers(gateway_factory, tmp_path):
    """Audit item 5: the workers' metrics directory is made by the supervisor with mkdtemp
    (a random name nobody could have planted beforehand, mode 0700), only regular files of
    our own user in it are merged, and it is gone after shutdown. /metrics still sums the
    workers."""
    gw = gateway_factory(extra_env={"RECGW_SERVER_WORKERS": "2"})
    wait_for(lambda: len(listening_pids(gw)) == 2, 15, "both workers listening")
    directory = Path(wait_for(lambda: next((r["directory"] for r in stderr_records(gw, "metrics directory")), None),
                              10, "the supervisor's metrics directory line"))
    st = os.lstat(directory)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    assert st.st_uid == os.geteuid()
    # the old name, /dev/shm/recgw-metrics-<supervisor pid>, could be created in advance by anyone
    assert directory.name != f"recgw-metrics-{gw.pid}" and str(gw.pid) not in directory.name, directory

    n = 60
    for _ in range(n):  # fresh connections: SO_REUSEPORT spreads them over both workers
        assert requests.get(gw.url + "/healthz", headers={"Connection": "close"}, timeout=5).status_code == 200
    files = wait_for(lambda: (lambda f: f if len(f) == 2 and sum(map(_healthz_ok, f)) >= n else None)(
        [p.read_text() for p in directory.glob("worker-*.prom")]), 10, "both workers' published counts")
    assert all(_healthz_ok(text) > 0 for text in files), "one worker served every request; rerun"
    # whichever worker answers, the scrape shows every request (merged)
    wait_for(lambda: _healthz_ok(requests.get(gw.url + "/metrics", timeout=5).text) >= n, 10,
             "/metrics to sum both workers")

    # Files that are not our own regular files are not merged: a symlink to a file elsewhere,
    # and a file owned by another user (as root we can make one).
    forged = 'recgw_http_requests_total{route="healthz",method="GET",status="200"} 100000\n'
    outside = tmp_path / "outside.prom"
    outside.write_text(forged)
    (directory / "link.prom").symlink_to(outside)
    theirs = directory / "theirs.prom"
    theirs.write_text(forged)
    try:
        os.chown(theirs, 65534, 65534)
    except PermissionError:
        theirs.unlink()
    for _ in range(3):
        assert _healthz_ok(requests.get(gw.url + "/metrics", timeout=5).text) < 100000

    assert gw.stop() == 0
    assert not directory.exists()


# ---- 4. 404 / 405 -----------------------------------------------------------------

def test_unknown_route_404_and_wrong_method_405(gateway: Gateway):
    r = requests.get(gateway.url + "/definitely/not/here", timeout=5)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("message"), str) and body["message"]
    assert r.headers.get("X-Request-Id")

    for method, path in (("POST", "/healthz"), ("DELETE", "/metrics"), ("PUT", "/readyz")):
        r = requests.request(method, gateway.url + path, timeout=5)
        assert r.status_code == 405, (method, path, r.status_code)
        allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        assert "GET" in allow, (method, path, r.headers)
        assert method not in allow
        body = r.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str)
        assert r.headers.get("X-Request-Id")


# ---- 5. bad config, check-config masking --------------------------------------------

BAD_TOML = {
    "unknown key": ("[server]\nlisten = \"127.0.0.1:1\"\nbogus_key = 1\n", "bogus_key"),
    "wrong type": ("[server]\nworkers = \"two\"\n", "server.workers"),
    "bad url": ("[mongo]\nuri = \"http://x\"\n", "mongo.uri"),
}


def assert_one_line_naming(p: subprocess.CompletedProcess, names: tuple[str, ...], what: str):
    assert p.returncode == 2, f"{what}: exit {p.returncode}\nstdout:{p.stdout}\nstderr:{p.stderr}"
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"{what}: expected one stderr line, got {lines}"
    assert any(n in lines[0] for n in names), f"{what}: {lines[0]!r} names none of {names}"


@pytest.mark.parametrize("case", sorted(BAD_TOML))
@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_bad_config_file_exits_2_naming_key(recgw_binary, tmp_path, case, command):
    text, key = BAD_TOML[case]
    cfg = tmp_path / "recgw.toml"
    cfg.write_text(text)
    env = gateway_env(None, free_port())
    p = run_recgw(recgw_binary, [command, "--config", str(cfg)], env)
    assert_one_line_naming(p, (key,), f"{command} with {case}")


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_bad_workers_env_exits_2_naming_key(recgw_binary, command):
    env = gateway_env(None, free_port())
    env["RECGW_SERVER_WORKERS"] = "abc"
    p = run_recgw(recgw_binary, [command], env)
    assert_one_line_naming(p, ("RECGW_SERVER_WORKERS", "server.workers"), f"{command} with workers=abc")


def test_check_config_masks_secrets(recgw_binary, stack: Stack):
    env = gateway_env(stack, free_port())
    env["RECGW_S3_SECRET_KEY"] = "supersecret"
    env["RECGW_FLEET_SECRET"] = "fleetsecret"
    env["RECGW_JWT_HS256_SECRET"] = "jwtsecretvalue"
    env["RECGW_MONGO_URI"] = "mongodb://dbuser:mongopassword@127.0.0.1:27017/cxb"
    p = run_recgw(recgw_binary, ["check-config"], env)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    for secret in ("supersecret", "fleetsecret", "jwtsecretvalue", "mongopassword"):
        assert secret not in out, f"{secret!r} leaked by check-config:\n{out}"
    assert "***" in out
    # non-secrets are shown, so the output is useful
    assert stack.bucket in p.stdout
    assert env["RECGW_SERVER_LISTEN"] in p.stdout


# ---- 6. SIGTERM drains a slow download ------------------------------------------------

class SlowDownload:
    """GET a recording over a raw socket and read it slowly (~3 MB/s at most, small
    receive buffer) in a background thread once `start_slow()` is called."""

    def __init__(self, gw: Gateway, token: str, request_id: str):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", gw.port))
        self.sock.sendall(f"GET /api/v1/public/recordings/{token} HTTP/1.1\r\nHost: t\r\n"
                          f"X-Request-Id: {request_id}\r\n\r\n".encode())
        self.status, self.headers, first = recv_http_head(self.sock)
        self.received = bytearray(first)
        self.done = threading.Event()
        self.eof = False
        self.error: list = []
        self.length = int(self.headers.get("content-length", "-1"))

    def read_at_least(self, n: int) -> None:
        while len(self.received) < n:
            chunk = self.sock.recv(64 * 1024)
            assert chunk, "connection closed early"
            self.received.extend(chunk)

    def start_slow(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            while len(self.received) < self.length:
                chunk = self.sock.recv(64 * 1024)
                if not chunk:
                    self.eof = True
                    break
                self.received.extend(chunk)
                time.sleep(0.02)
        except Exception as e:  # noqa: BLE001
            self.error.append(e)
        finally:
            self.sock.close()
            self.done.set()

    def wait(self, timeout: float = 60) -> None:
        assert self.done.wait(timeout), "slow download did not finish"
        assert not self.error, self.error


def connection_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


@pytest.fixture
def big_recording(clean_stack: Stack):
    data = os.urandom(8 * 1024 * 1024)
    clean_stack.put_object("ops/drain.ogg", data, "audio/ogg")
    token = "drain-token-" + os.urandom(6).hex()
    clean_stack.insert_call("sess-drain", token=token, key="ops/drain.ogg", status="ready")
    return token, data


def sigterm_during_slow_download(gw: Gateway, token: str, data: bytes) -> SlowDownload:
    """Start a slow download, SIGTERM the supervisor after its first MiB, check that the
    listener closes while the body is still flowing, and wait for the download to end."""
    dl = SlowDownload(gw, token, "drain-1")
    assert dl.status == 200, (dl.status, dl.headers)
    assert dl.length == len(data), dl.headers
    dl.read_at_least(1024 * 1024)
    dl.start_slow()
    gw.send_signal(signal.SIGTERM)
    wait_for(lambda: connection_refused(gw.port), 5, "new connections to be refused after SIGTERM",
             interval=0.02)
    assert not dl.done.is_set(), "the download ended before the listener closed: the test proved nothing"
    dl.wait(60)
    return dl


def test_sigterm_stops_accepting_keeps_streaming_and_exits_0(big_recording, gateway_factory):
    token, data = big_recording
    gw = gateway_factory(extra_env={"RECGW_SERVER_SHUTDOWN_GRACE_MS": "20000"})

    # control: the same slow read without a signal gets every byte
    control = SlowDownload(gw, token, "control-1")
    assert control.status == 200 and control.length == len(data), control.headers
    control.start_slow()
    control.wait(60)
    assert bytes(control.received) == data, f"control download: {len(control.received)} of {len(data)}"

    dl = sigterm_during_slow_download(gw, token, data)
    # the stream kept flowing after SIGTERM (nearly all of the 7 MiB still due then)
    assert len(dl.received) > 7 * 1024 * 1024, len(dl.received)
    try:
        code = gw.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"recgw did not exit after SIGTERM\n{gw.logs()}")
    assert code == 0, gw.logs()
    assert not [r for r in stderr_records(gw) if "deadline" in str(r.get("msg", ""))], gw.stderr()
    access = [r for r in json_lines(gw.stdout()) if r.get("request_id") == "drain-1"]
    assert access and access[0]["status"] == 200, access


def test_sigterm_slow_download_gets_every_byte(big_recording, gateway_factory):
    token, data = big_recording
    gw = gateway_factory(extra_env={"RECGW_SERVER_SHUTDOWN_GRACE_MS": "20000"})
    dl = sigterm_during_slow_download(gw, token, data)
    assert len(dl.received) == len(data), f"got {len(dl.received)} of {len(data)} bytes (eof={dl.eof})"
    assert hashlib.sha256(dl.received).digest() == hashlib.sha256(data).digest()
    assert gw.proc.wait(30) == 0, gw.logs()


# ---- 7. a killed worker is replaced ----------------------------------------------------

def worker_pids(gw: Gateway) -> list[int]:
    return [int(r["worker_pid"]) for r in stderr_records(gw, "worker started")]


def listening_pids(gw: Gateway) -> set[int]:
    return {int(r["pid"]) for r in stderr_records(gw, "worker listening") if "pid" in r}


def test_killed_worker_is_replaced(gateway_factory):
    gw = gateway_factory(extra_env={"RECGW_SERVER_WORKERS": "2"})
    pids = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(worker_pids(gw)), 10,
                    "two 'worker started' lines")
    wait_for(lambda: set(pids) <= listening_pids(gw), 10, "both workers listening")
    victim, survivor = pids
    os.kill(victim, signal.SIGKILL)

    # the supervisor reaps it (so /proc entry goes) and starts another
    wait_for(lambda: not Path(f"/proc/{victim}").exists(), 10, "the killed worker to be reaped")
    for _ in range(10):
        assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200

    new = wait_for(lambda: [p for p in worker_pids(gw) if p not in pids], 10,
                   "a new 'worker started' line with a fresh pid")
    assert len(new) == 1, worker_pids(gw)
    fresh = new[0]
    wait_for(lambda: fresh in listening_pids(gw), 10, "the new worker to listen")
    assert Path(f"/proc/{fresh}").exists() and Path(f"/proc/{survivor}").exists()
    assert any(r.get("worker_pid") == str(victim) for r in stderr_records(gw, "worker died; restarting")), \
        gw.stderr()
    assert gw.alive()
    for _ in range(20):
        assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200


# ---- 8. the loop never blocks on MongoDB --------------------------------------------------

def test_healthz_fast_while_readyz_waits_on_dead_mongo(stack: Stack, gateway_factory):
    gw = gateway_factory(extra_env={"RECGW_MONGO_TIMEOUT_MS": "2000", "RECGW_SERVER_WORKERS": "1"})
    stack.stop_service("ferretdb")
    try:
        n = 8
        sent = threading.Semaphore(0)
        results: list = [None] * n
        finished = [0.0] * n

        def probe(i: int):
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
            try:
                conn.request("GET", "/readyz")
                sent.release()
                resp = conn.getresponse()
                results[i] = (resp.status, json.loads(resp.read()))
            except Exception as e:  # noqa: BLE001
                results[i] = e
            finally:
                finished[i] = time.monotonic()
                conn.close()

        threads = [threading.Thread(target=probe, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for _ in range(n):
            assert sent.acquire(timeout=10), "readyz requests were not sent"

        latencies = []
        for _ in range(20):
            t0 = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            latencies.append(time.monotonic() - t0)
            assert resp.status == 200
        healthz_done = time.monotonic()

        for t in threads:
            t.join(30)
        assert all(not t.is_alive() for t in threads), "readyz requests hung"
        # the premise: /readyz was still waiting on MongoDB while /healthz was measured
        assert max(finished) > healthz_done, "all /readyz answered before /healthz was measured"
        for r in results:
            assert isinstance(r, tuple), r
            status, body = r
            assert status == 503, r
            assert body == {"ready": False, "status": "not_ready"}, body  # the public listener: the status only
        assert max(latencies) < 0.2, f"/healthz latencies (s): {[round(x, 4) for x in latencies]}"
    finally:
        stack.start_service("ferretdb")


# ---- 9. SIGHUP reload -------------------------------------------------------------------

def test_sighup_reloads_config_and_keeps_old_on_error(gateway_factory, tmp_path):
    cfg = tmp_path / "recgw.toml"
    cfg.write_text('[server]\nlog_level = "info"\nclient_timeout_ms = 30000\n')
    gw = gateway_factory(args=["--config", str(cfg)])
    wait_for(lambda: stderr_records(gw, "worker listening"), 10, "worker listening")

    cfg.write_text('[server]\nlog_level = "info"\nclient_timeout_ms = 15000\n')
    gw.send_signal(signal.SIGHUP)
    changed = wait_for(lambda: stderr_records(gw, "config changed"), 10, "a 'config changed' log line")
    assert any("client_timeout_ms" in json.dumps(r) for r in changed), changed
    assert not any("log_level" in json.dumps(r) for r in changed), changed

    cfg.write_text('[server]\nclient_timeout_ms = "not a number"\n')
    gw.send_signal(signal.SIGHUP)
    failed = wait_for(lambda: [r for r in stderr_records(gw) if "config reload failed" in r.get("msg", "")],
                      10, "a 'config reload failed' log line")
    assert "client_timeout_ms" in json.dumps(failed[0]), failed
    assert gw.alive()
    assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200

    # the old (valid) config was kept: reloading the same valid content reports no change
    cfg.write_text('[server]\nlog_level = "info"\nclient_timeout_ms = 15000\n')
    before = len(stderr_records(gw, "config changed"))
    gw.send_signal(signal.SIGHUP)
    wait_for(lambda: stderr_records(gw, "config reloaded: no changes"), 10, "'config reloaded: no changes'")
    assert len(stderr_records(gw, "config changed")) == before, gw.stderr()
    assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200


# ---- 10. access log ----------------------------------------------------------------------

def test_access_log_line_per_request(gateway: Gateway):
    rid = "access-" + os.urandom(4).hex()
    r = requests.get(gateway.url + "/healthz", headers={"X-Request-Id": rid}, timeout=5)
    assert r.status_code == 200
    rid404 = rid + "-404"
    r404 = requests.get(gateway.url + "/nope", headers={"X-Request-Id": rid404}, timeout=5)
    assert r404.status_code == 404

    def find(request_id):
        return [o for o in json_lines(gateway.stdout()) if o.get("request_id") == request_id]

    lines = wait_for(lambda: find(rid), 10, "the access log line on stdout")
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["type"] == "access"
    assert line["method"] == "GET"
    assert line["route"] == "healthz"
    assert line["status"] == 200
    assert line["bytes"] == len(r.content)
    assert isinstance(line["duration_ms"], (int, float)) and 0 <= line["duration_ms"] < 5000
    assert isinstance(line.get("time"), str) and line["time"]

    miss = wait_for(lambda: find(rid404), 10, "the 404's access log line")[0]
    assert miss["type"] == "access" and miss["status"] == 404
    assert miss["bytes"] == len(r404.content)
    assert miss["route"] != "healthz"
    # access lines go to stdout, not stderr
    assert rid not in gateway.stderr()
