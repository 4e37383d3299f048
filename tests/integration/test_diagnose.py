"""Integration tests of the link diagnosis (issue 9): `GET /api/v1/admin/diagnose/{id}`,
`recgw diagnose ID` and `recgw check-config --probe`.

One test per symptom of the operators' table, each set up for real (a rotated token,
a call without key fields, settings missing in the env or in the system_settings
document in MongoDB, a fake fleet host with another secret, a wrong S3 secret key
against MinIO, a second MinIO started with region eu-west-1), asserting that the
verdict names the cause; then: no secret value in any output, a diagnosis changes
nothing (Redis, MongoDB, no object streamed), the route needs admin and is
rate-limited, and check-config --probe.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import secrets
import select
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Optional

import pytest
import requests

from fakes import fleet_factory  # noqa: F401  (pytest fixture)
from stack import Gateway, Stack, free_port
from helpers import hs256_jwt, metric_sum, metrics_snapshot, wait_for

pytestmark = pytest.mark.timeout(180)

JWT_SECRET = "diag-jwt-" + secrets.token_hex(16)
BASE_ENV = {"RECGW_JWT_HS256_SECRET": JWT_SECRET}
FLEET_SECRET = "diag-fleet-" + secrets.token_hex(12)
SECRET_HEADER = "X-CXBCore-Secret"
MINIO = Path.home() / ".cache" / "recgw" / "bin" / "minio"


# ---- helpers -------------------------------------------------------------------------

def make_jwt(claims: dict, secret: str = JWT_SECRET) -> str:
    return hs256_jwt(claims, secret)


def bearer(role: str = "admin", secret: str = JWT_SECRET) -> dict:
    now = int(time.time())
    return {"Authorization": "Bearer " + make_jwt({"sub": f"diag-{role}", "role": role,
                                                   "iat": now, "exp": now + 600}, secret)}


def new_token(prefix: str = "dtok") -> str:
    return f"{prefix}-{secrets.token_urlsafe(24)}"


def redacted(value: str) -> str:
    """What reactor::redactToken shows: the first 6 chars, an ellipsis, # and 8 hex of sha256."""
    return value[:6] + "\u2026#" + hashlib.sha256(value.encode()).hexdigest()[:8]


def seed(st: Stack, *, key: Optional[str] = None, data: Optional[bytes] = b"OggS" + os.urandom(2044),
         in_storage: bool = True, bucket: Optional[str] = None, **call) -> tuple[str, str, str]:
    """A call (and, with in_storage, its object): (token, session_id, key)."""
    token = call.pop("token", None) or new_token()
    session_id = call.pop("session_id", None) or "sess-" + uuid.uuid4().hex
    key = key or f"calls/{uuid.uuid4().hex}.ogg"
    if in_storage:
        st.put_object(key, data, content_type="audio/ogg", bucket=bucket)
    st.insert_call(session_id, token=token, key=key, **call)
    return token, session_id, key


def diag_http(gw: Gateway, subject: str, text: bool = False, headers: Optional[dict] = None,
              request_id: Optional[str] = None) -> requests.Response:
    h = dict(bearer() if headers is None else headers)
    if request_id:
        h["X-Request-Id"] = request_id
    return requests.get(f"{gw.url}/api/v1/admin/diagnose/{subject}",
                        params={"format": "text"} if text else None, headers=h, timeout=30)


def diag_report(gw: Gateway, subject: str) -> dict:
    r = diag_http(gw, subject)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    return check_shape(r.json())


def check_shape(report: dict) -> dict:
    assert set(report) >= {"subject", "servable", "verdict", "steps"}, report
    assert isinstance(report["servable"], bool) and isinstance(report["verdict"], str) and report["verdict"]
    for s in report["steps"]:
        assert set(s) >= {"step", "status", "summary", "details"}, s
        assert s["status"] in ("ok", "warn", "fail", "skip"), s
        assert isinstance(s["details"], dict), s
    return report


def step(report: dict, name: str) -> dict:
    found = [s for s in report["steps"] if s["step"] == name]
    assert found, f"no step {name!r} in {json.dumps(report, indent=1)}"
    return found[0]


def cli_env(st: Optional[Stack], extra: Optional[dict] = None) -> dict:
    """The CLI reads RECGW_* like the server: ours minus inherited RECGW_*, the stack's, extra (None removes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    if st is not None:
        env.update(st.env)
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def run_cli(binary: Path, args: list, env: dict, timeout: float = 45.0) -> subprocess.CompletedProcess:
    p = subprocess.Popen([str(binary), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"recgw {' '.join(args)} still running after {timeout}s\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def run_cli_tty(binary: Path, args: list, env: dict, timeout: float = 45.0) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal (the readable text form). Returns (exit code, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([str(binary), *args], env=env, stdout=slave, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:      # EIO: the child closed its side
                    break
                if not data:
                    break
                chunks.append(data)
            elif p.poll() is not None:
                break
        else:
            os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"recgw {' '.join(args)} (tty) still running after {timeout}s")
        rc = p.wait(10)
    finally:
        os.close(master)
    return rc, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def last_json(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.strip().startswith("{")]
    assert lines, f"no JSON line in the output:\n{stdout}"
    return check_shape(json.loads(lines[-1]))


def diag_cli(binary: Path, env: dict, subject: str) -> tuple[int, dict, str]:
    """`recgw diagnose SUBJECT --json`: (exit code, report, raw stdout+stderr). stdout holds the
    report and nothing else (logs go to stderr)."""
    p = run_cli(binary, ["diagnose", subject, "--json"], env)
    assert p.returncode in (0, 1), f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    report = check_shape(json.loads(p.stdout))
    assert report["servable"] == (p.returncode == 0), (p.returncode, report)
    return p.returncode, report, p.stdout + p.stderr


def probe_cli(binary: Path, env: dict) -> tuple[int, dict, str]:
    p = run_cli(binary, ["check-config", "--probe", "--json"], env)
    assert p.returncode in (0, 1), f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p.returncode, last_json(p.stdout), p.stdout + p.stderr


def metrics(gw: Gateway) -> dict:
    return metrics_snapshot(gw.url)


def metric(snapshot: dict, name: str, **labels) -> float:
    return metric_sum(snapshot, name, **labels)


def access_lines(gw: Gateway) -> list:
    return [r for r in gw.log_lines() if r.get("type") == "access"]


# ---- a second MinIO, started with region eu-west-1 -----------------------------------------

class RegionalMinio:
    def __init__(self, region: str):
        self.region = region
        self.dir = Path(tempfile.mkdtemp(prefix="recgw-diag-minio-"))
        self.port = free_port()
        self.console_port = free_port()
        # distinctive credentials: test_no_secret_value_in_any_output greps for them
        self.access_key = "diagAK" + secrets.token_hex(6)
        self.secret_key = "diagSK-" + secrets.token_hex(16)
        self.bucket = "diag-eu"
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self._s3 = None

    def start(self, timeout: float = 30.0) -> "RegionalMinio":
        env = dict(os.environ, MINIO_ROOT_USER=self.access_key, MINIO_ROOT_PASSWORD=self.secret_key,
                   MINIO_REGION=self.region, MINIO_SITE_REGION=self.region,
                   MINIO_BROWSER="off", MINIO_UPDATE="off")
        self.log = open(self.dir / "minio.log", "wb")
        self.proc = subprocess.Popen(
            [str(MINIO), "server", str(self.dir / "data"), "--address", f"127.0.0.1:{self.port}",
             "--console-address", f"127.0.0.1:{self.console_port}", "--quiet"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"minio exited with {self.proc.returncode}:\n"
                                   f"{(self.dir / 'minio.log').read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(self.endpoint + "/minio/health/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"minio not ready after {timeout}s")
            time.sleep(0.1)
        extra = {} if self.region == "us-east-1" else \
            {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        while True:    # "ready" can come before "initialized" (XMinioServerNotInitialized)
            try:
                self.s3.create_bucket(Bucket=self.bucket, **extra)
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    @property
    def s3(self):
        if self._s3 is None:
            import boto3
            from botocore.config import Config
            self._s3 = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                              retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10))
        return self._s3

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="audio/ogg")

    def env(self, region: Optional[str]) -> dict:
        """RECGW_S3_* for this MinIO, signing with `region`."""
        return {"RECGW_S3_ENDPOINT": self.endpoint, "RECGW_S3_ACCESS_KEY": self.access_key,
                "RECGW_S3_SECRET_KEY": self.secret_key, "RECGW_S3_BUCKET": self.bucket,
                "RECGW_S3_REGION": region}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()            # our own process, by its id
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if getattr(self, "log", None):
            self.log.close()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def minio_in_region():
    """make(region) → a RegionalMinio started with that region (one per region per module)."""
    started: dict[str, RegionalMinio] = {}

    def make(region: str) -> RegionalMinio:
        if region not in started:
            if not MINIO.exists():
                pytest.skip(f"minio binary not found: {MINIO}")
            m = RegionalMinio(region)
            try:
                m.start()
            except Exception:
                m.stop()
                raise
            started[region] = m
        return started[region]

    yield make
    for m in started.values():
        m.stop()


@pytest.fixture
def eu_minio(minio_in_region) -> RegionalMinio:
    return minio_in_region("eu-west-1")


# ---- 1. token mismatch ------------------------------------------------------------------------

def test_token_mismatch_http_and_cli(clean_stack: Stack, gateway_factory, recgw_binary):
    # the call exists, but under a rotated token: the CRM still holds the old one
    current, session_id, key = seed(clean_stack)
    old = new_token("rotated")
    gw = gateway_factory(BASE_ENV)

    report = diag_report(gw, old)
    assert report["servable"] is False
    assert "token mismatch" in report["verdict"] and "no call" in report["verdict"], report["verdict"]
    assert step(report, "call")["status"] == "fail"
    assert report["subject"] == redacted(old)

    rc, report, _ = diag_cli(recgw_binary, cli_env(clean_stack, BASE_ENV), old)
    assert rc == 1
    assert "token mismatch" in report["verdict"] and "no call" in report["verdict"], report["verdict"]
    assert step(report, "call")["status"] == "fail"

    # the current token of the same call is fine (the mismatch is the token, not the call)
    good = diag_report(gw, current)
    assert good["servable"] is True and "token mismatch" not in good["verdict"], good


def test_cli_speaks_to_a_person_unless_asked_for_json(clean_stack: Stack, recgw_binary):
    """`recgw diagnose` prints for a person (verdict and what to fix first, then a step table);
    --json prints the report alone; logs (here: Redis unreachable) go to stderr either way."""
    seed(clean_stack)
    old = new_token("rotated")
    env = cli_env(clean_stack, dict(BASE_ENV, RECGW_REDIS_URL="redis://127.0.0.1:1"))

    p = run_cli(recgw_binary, ["diagnose", old], env)
    assert p.returncode == 1, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == f"diagnosis of {redacted(old)}: NOT servable", p.stdout
    assert lines[1].startswith("verdict: token mismatch: no call in 'calls'"), p.stdout
    assert lines[2] == "first failing step: call (no call has this recording_access_token or session_id)", \
        p.stdout
    header = next(i for i, ln in enumerate(lines) if ln.split() == ["step", "result", "detail"])
    rows = {ln.split()[0]: ln.split()[1] for ln in lines[header + 1:] if ln and not ln.startswith(" ")}
    assert rows == {"cache": "warn", "indexes": "ok", "call": "FAIL", "storage_settings": "ok"}, p.stdout
    assert "Redis is not answering" in p.stdout and "redis: unavailable: Connection refused" in p.stdout
    assert not any(ln.lstrip().startswith("{") for ln in lines), f"JSON on a person's stdout:\n{p.stdout}"
    # the Redis warning is a log line, on stderr
    logs = [json.loads(ln) for ln in p.stderr.splitlines() if ln.startswith("{")]
    assert any(x.get("msg") == "redis: connected -> disconnected" for x in logs), p.stderr

    p = run_cli(recgw_binary, ["diagnose", old, "--json"], env)
    assert p.returncode == 1, p.stdout + p.stderr
    report = check_shape(json.loads(p.stdout))      # the whole of stdout is the one document
    assert report["verdict"].startswith("token mismatch") and step(report, "call")["status"] == "fail"
    assert "redis: connected -> disconnected" in p.stderr

    # the older spelling still works for scripts
    p = run_cli(recgw_binary, ["diagnose", old, "--json", "true"], env)
    assert json.loads(p.stdout)["subject"] == redacted(old), p.stdout + p.stderr


def test_missing_indexes_on_calls_are_a_warning_with_the_fix(clean_stack: Stack, recgw_binary):
    """The link still plays, but every lookup that reaches MongoDB scans `calls`: diagnose
    (and check-config --probe, which shares its steps) says which index is missing and how to
    create it."""
    token, session_id = new_token(), "sess-noidx-" + uuid.uuid4().hex
    clean_stack.insert_call(session_id, token=token, key="k.ogg", status="ready", cxb_indexes=False)
    env = cli_env(clean_stack, BASE_ENV)
    p = run_cli(recgw_binary, ["diagnose", token, "--json"], env)
    report = check_shape(json.loads(p.stdout))
    indexes = step(report, "indexes")
    assert indexes["status"] == "warn", indexes
    assert "recording_access_token (unique; public links)" in json.dumps(indexes), indexes
    assert "recgw ensure-indexes" in json.dumps(indexes), indexes
    assert step(report, "call")["status"] == "ok"   # the warning does not hide the rest


def test_check_config_probe_speaks_to_a_person_unless_asked_for_json(clean_stack: Stack, recgw_binary):
    env = cli_env(clean_stack, BASE_ENV)
    p = run_cli(recgw_binary, ["check-config", "--probe"], env)      # piped, still for a person
    assert "diagnosis of the configuration: servable" in p.stdout, p.stdout + p.stderr
    assert not any(ln.lstrip().startswith('{"subject"') for ln in p.stdout.splitlines()), p.stdout
    p = run_cli(recgw_binary, ["check-config", "--probe", "--json"], env)
    assert last_json(p.stdout)["servable"] is True, p.stdout
    p = run_cli(recgw_binary, ["check-config", "--json"], env)
    assert p.returncode == 2 and "--json goes with --probe" in p.stderr, (p.returncode, p.stderr)


# ---- 2. neither recording_key nor recording_url ----------------------------------------------------

def test_call_without_key_or_url_http_and_cli(clean_stack: Stack, gateway_factory, recgw_binary):
    token, session_id = new_token(), "sess-nokey-" + uuid.uuid4().hex
    clean_stack.insert_call(session_id, token=token, status="ready")
    gw = gateway_factory(BASE_ENV)

    report = diag_report(gw, token)
    assert report["servable"] is False
    assert "neither recording_key nor recording_url" in report["verdict"], report["verdict"]
    call = step(report, "call")
    assert call["status"] == "ok" and call["details"]["matched_by"] == "recording_access_token", call
    assert call["details"]["recording_key"] == "absent" and call["details"]["recording_url"] == "absent", call
    assert step(report, "key")["status"] == "fail"

    # by session id, through the CLI
    rc, report, _ = diag_cli(recgw_binary, cli_env(clean_stack, BASE_ENV), session_id)
    assert rc == 1
    assert "neither recording_key nor recording_url" in report["verdict"], report["verdict"]
    assert step(report, "call")["details"]["matched_by"] == "session_id"
    assert step(report, "key")["status"] == "fail"


# ---- 3. storage settings incomplete ------------------------------------------------------------------

def test_storage_skipped_bucket_missing_http_and_cli(clean_stack: Stack, gateway_factory, recgw_binary,
                                                    tmp_path):
    token, _, _ = seed(clean_stack)
    no_bucket = dict(BASE_ENV, RECGW_S3_BUCKET=None)
    gw = gateway_factory(no_bucket)

    for report in (diag_report(gw, token),
                   diag_cli(recgw_binary, cli_env(clean_stack, no_bucket), token)[1]):
        assert report["servable"] is False
        v = report["verdict"]
        assert "storage is silently skipped" in v and "bucket" in v, v
        for other in ("endpoint", "access_key", "secret_key"):
            assert other not in v, f"only the bucket is missing, verdict names {other}: {v}"
        s = step(report, "storage_settings")
        assert s["status"] == "fail" and s["details"]["bucket"] == "(missing)", s
        assert s["details"]["system_settings"] == "absent", s
        assert not [x for x in report["steps"] if x["step"] == "storage"], "storage probed without a bucket"

    # the same through `--config FILE`: a config file with every s3 setting but the bucket
    config = tmp_path / "recgw.toml"
    config.write_text("[s3]\n"
                      f'endpoint = "{clean_stack.s3_endpoint}"\n'
                      f'access_key = "{clean_stack.s3_access_key}"\n'
                      f'secret_key = "{clean_stack.s3_secret_key}"\n')
    env = cli_env(clean_stack, dict(BASE_ENV, RECGW_S3_ENDPOINT=None, RECGW_S3_ACCESS_KEY=None,
                                    RECGW_S3_SECRET_KEY=None, RECGW_S3_BUCKET=None))
    p = run_cli(recgw_binary, ["diagnose", token, "--config", str(config), "--json"], env)
    assert p.returncode == 1, p.stdout + p.stderr
    report = last_json(p.stdout)
    assert "storage is silently skipped" in report["verdict"] and "bucket" in report["verdict"], report
    d = step(report, "storage_settings")["details"]
    assert d["endpoint"] == clean_stack.s3_endpoint and d["secret_key"] == "present", d


def test_storage_skipped_settings_document_without_secret_key(clean_stack: Stack, gateway_factory,
                                                              recgw_binary):
    token, _, _ = seed(clean_stack)
    clean_stack.db.system_settings.insert_one({
        "_id": "global",
        "minio": {"endpoint": clean_stack.s3_endpoint, "access_key": clean_stack.s3_access_key,
                  "bucket": clean_stack.bucket},            # secret_key forgotten
    })
    env = dict(BASE_ENV, RECGW_S3_ENDPOINT=None, RECGW_S3_ACCESS_KEY=None, RECGW_S3_SECRET_KEY=None,
               RECGW_S3_BUCKET=None, RECGW_S3_REGION=None)

    rc, cli_report, _ = diag_cli(recgw_binary, cli_env(clean_stack, env), token)
    gw = gateway_factory(env)
    http_report = diag_report(gw, token)
    assert rc == 1
    for report in (cli_report, http_report):
        assert report["servable"] is False
        v = report["verdict"]
        assert "storage is silently skipped" in v and "secret_key" in v, v
        assert "bucket" not in v.split("missing:")[-1].split("(")[0], v
        s = step(report, "storage_settings")
        assert s["status"] == "fail", s
        d = s["details"]
        # read from the document: endpoint and bucket are the document's
        assert d["system_settings"] == "found" and d["endpoint"] == clean_stack.s3_endpoint, d
        assert d["bucket"] == clean_stack.bucket and d["access_key"] == "present", d
        assert d["secret_key"] == "(missing)", d


# ---- 4. the fleet fallback never hits -----------------------------------------------------------------

def test_fleet_never_hits_no_fleet_hosts(clean_stack: Stack, gateway_factory, recgw_binary):
    token, _, key = seed(clean_stack, in_storage=False)
    gw = gateway_factory(BASE_ENV)
    for report in (diag_report(gw, token),
                   diag_cli(recgw_binary, cli_env(clean_stack, BASE_ENV), token)[1]):
        assert report["servable"] is False
        assert "no fleet hosts" in report["verdict"], report["verdict"]
        assert step(report, "storage")["status"] == "warn"            # NoSuchKey: not a storage fault
        assert step(report, "storage")["details"].get("http_status") == "404"
        assert step(report, "fleet")["status"] == "warn"
        assert step(report, "storage_settings")["details"]["fleet_hosts"] == "0"


def test_fleet_never_hits_wrong_secret(clean_stack: Stack, gateway_factory, recgw_binary, fleet_factory):
    token, _, key = seed(clean_stack, in_storage=False)
    host = fleet_factory(secret=FLEET_SECRET)
    host.put(key, b"OggS" + os.urandom(1000), "audio/ogg")

    # CLI: fleet settings from the env, with a secret that is not the fleet's
    env = dict(BASE_ENV, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET="not-the-fleet-secret")
    rc, report, _ = diag_cli(recgw_binary, cli_env(clean_stack, env), token)
    assert rc == 1 and report["servable"] is False
    assert "refused the fleet secret" in report["verdict"], report["verdict"]
    assert "fleet:0" in report["verdict"] and SECRET_HEADER in report["verdict"], report["verdict"]
    f0 = step(report, "fleet:0")
    assert f0["status"] == "fail" and f0["details"]["http_status"] == "401", f0
    assert "secret" in f0["summary"]
    seen = host.requests_for(key)
    assert seen and seen[-1].headers.get(SECRET_HEADER) == "not-the-fleet-secret" and seen[-1].status == 401

    # HTTP: fleet settings from the system_settings document in MongoDB
    clean_stack.db.system_settings.insert_one({"_id": "global", "cxbcore_fleet": [host.url],
                                               "cxbcore_secret": "also-not-the-fleet-secret"})
    gw = gateway_factory(BASE_ENV)
    report = diag_report(gw, token)
    assert report["servable"] is False
    assert "refused the fleet secret" in report["verdict"], report["verdict"]
    assert step(report, "fleet:0")["status"] == "fail"


# ---- 5. storage refuses (AccessDenied / SignatureDoesNotMatch) -------------------------------------

def test_storage_refused_wrong_secret_key_http_and_cli(clean_stack: Stack, gateway_factory, recgw_binary):
    token, _, _ = seed(clean_stack)
    env = dict(BASE_ENV, RECGW_S3_SECRET_KEY="wrong-" + secrets.token_hex(8))
    gw = gateway_factory(env)
    for report in (diag_report(gw, token),
                   diag_cli(recgw_binary, cli_env(clean_stack, env), token)[1]):
        assert report["servable"] is False
        v = report["verdict"]
        assert "storage refused" in v, v
        assert "token URL" in v, v                 # the advice for CRMs holding a clipped presigned URL
        s = step(report, "storage")
        assert s["status"] == "fail", s
        assert s["details"].get("http_status") == "403", s
        assert s["details"].get("s3_error") in ("SignatureDoesNotMatch", "AccessDenied"), s
        assert s["details"]["s3_error"] in v, v
        assert "region" not in v.lower(), f"not a region problem: {v}"


# ---- 6. wrong region ------------------------------------------------------------------------------------

@pytest.mark.parametrize("minio_region, signing_region", [("eu-west-1", "us-east-1"), ("us-east-1", "eu-west-1")])
def test_wrong_region_against_minio_region_setting(clean_stack: Stack, gateway_factory, recgw_binary,
                                                   minio_in_region, minio_region, signing_region):
    minio = minio_in_region(minio_region)
    key = f"calls/{uuid.uuid4().hex}.ogg"
    minio.put(key, b"OggS" + os.urandom(3000))
    token, _, _ = seed(clean_stack, key=key, in_storage=False)

    wrong = dict(BASE_ENV, **minio.env(signing_region))
    gw = gateway_factory(wrong)
    for report in (diag_report(gw, token),
                   diag_cli(recgw_binary, cli_env(clean_stack, wrong), token)[1]):
        assert report["servable"] is False
        v = report["verdict"]
        assert "region is wrong" in v, v
        # names the region S3 expects, and the one we sign with
        assert f"S3 expects '{minio_region}'" in v and f"signing with '{signing_region}'" in v, v
        s = step(report, "storage")
        assert s["status"] == "fail", s
        assert s["details"].get("s3_expects_region") == minio_region, s
        assert s["details"].get("s3_error") in ("AuthorizationHeaderMalformed", "PermanentRedirect"), s
        assert step(report, "storage_settings")["details"]["region_in_use"] == signing_region

    # check-config --probe finds it too, without a token
    rc, report, raw = probe_cli(recgw_binary, cli_env(clean_stack, wrong))
    assert rc == 1, raw
    assert "region is wrong" in report["verdict"] and minio_region in report["verdict"], report["verdict"]

    # the control: the same MinIO, signed with the region it expects, serves the object
    right = dict(BASE_ENV, **minio.env(minio_region))
    rc, report, _ = diag_cli(recgw_binary, cli_env(clean_stack, right), token)
    assert rc == 0 and report["verdict"].startswith("servable from storage"), report["verdict"]


# ---- 7. servable ------------------------------------------------------------------------------------------

def test_servable_from_storage_and_from_fleet(clean_stack: Stack, gateway_factory, recgw_binary,
                                              fleet_factory):
    in_storage, in_storage_sid, in_storage_key = seed(clean_stack)
    fleet_only, _, fleet_key = seed(clean_stack, in_storage=False)
    host = fleet_factory(secret=FLEET_SECRET)
    host.put(fleet_key, b"OggS" + os.urandom(5000), "audio/ogg")
    env = dict(BASE_ENV, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET)
    gw = gateway_factory(env)

    report = diag_report(gw, in_storage)
    assert report["servable"] is True and report["verdict"] == "servable from storage", report
    assert step(report, "storage")["status"] == "ok"
    key_step = step(report, "key")
    assert key_step["status"] == "ok" and key_step["details"]["key"] == in_storage_key, key_step
    assert key_step["details"]["derived_from"]

    rc, report, _ = diag_cli(recgw_binary, cli_env(clean_stack, env), in_storage_sid)
    assert rc == 0 and report["verdict"] == "servable from storage", report["verdict"]

    report = diag_report(gw, fleet_only)
    assert report["servable"] is True
    assert report["verdict"].startswith("servable from fleet:0"), report["verdict"]
    assert step(report, "storage")["status"] == "warn"
    assert step(report, "fleet:0")["status"] == "ok"

    rc, report, _ = diag_cli(recgw_binary, cli_env(clean_stack, env), fleet_only)
    assert rc == 0 and report["verdict"].startswith("servable from fleet:0"), report["verdict"]

    # a legacy call with only a (presigned) recording_url: the key is its last path segment
    legacy_key = f"legacy-{uuid.uuid4().hex}.ogg"
    clean_stack.put_object(legacy_key, b"OggS" + os.urandom(100), content_type="audio/ogg")
    signature = secrets.token_hex(32)
    legacy = new_token("legacy")
    clean_stack.insert_call("sess-legacy-" + uuid.uuid4().hex, token=legacy,
                            url=f"https://old-minio.example/recordings/{legacy_key}?X-Amz-Signature={signature}")
    r = diag_http(gw, legacy)
    report = check_shape(r.json())
    assert report["servable"] is True and report["verdict"] == "servable from storage", report
    key_step = step(report, "key")
    assert key_step["details"]["key"] == legacy_key and "recording_url" in key_step["details"]["derived_from"], \
        key_step
    assert step(report, "call")["details"]["recording_url"] == "present"
    assert signature not in r.text


# ---- 8. no secret value in any output ---------------------------------------------------------------------

def test_no_secret_value_in_any_output(clean_stack: Stack, gateway_factory, recgw_binary, fleet_factory,
                                       eu_minio: RegionalMinio):
    token = "Zq" + secrets.token_urlsafe(32)
    fleet_key = f"calls/{uuid.uuid4().hex}.ogg"
    key = f"calls/{uuid.uuid4().hex}.ogg"
    eu_minio.put(key, b"OggS" + os.urandom(2000))
    session_id = "sess-secret-" + uuid.uuid4().hex
    clean_stack.insert_call(session_id, token=token, key=key)
    fleet_token, _, _ = seed(clean_stack, key=fleet_key, in_storage=False)
    host = fleet_factory(secret=FLEET_SECRET)
    host.put(fleet_key, b"OggS" + os.urandom(2000))
    host.put(key, b"OggS" + os.urandom(2000))
    wrong_secret_key = "diagWRONG-" + secrets.token_hex(12)
    wrong_fleet_secret = "diagWRONGFLEET-" + secrets.token_hex(12)

    good = dict(BASE_ENV, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET, **eu_minio.env("eu-west-1"))
    bad = dict(good, RECGW_S3_SECRET_KEY=wrong_secret_key, RECGW_FLEET_SECRET=wrong_fleet_secret)
    secret_values = {
        "s3 secret key": eu_minio.secret_key, "s3 access key": eu_minio.access_key,
        "fleet secret": FLEET_SECRET, "jwt secret": JWT_SECRET, "token": token,
        "wrong s3 secret key": wrong_secret_key, "wrong fleet secret": wrong_fleet_secret,
        "fleet token": fleet_token,
    }
    outputs: dict[str, str] = {}
    gateways = []
    for name, env in (("good", good), ("bad", bad)):
        gw = gateway_factory(env)
        gateways.append(gw)
        for subject in (token, session_id, fleet_token):
            r = diag_http(gw, subject)
            assert r.status_code == 200, r.text
            outputs[f"{name} http json {subject[:8]}"] = r.text
            r = diag_http(gw, subject, text=True)
            assert r.status_code == 200, r.text
            assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
            assert "verdict: " in r.text
            outputs[f"{name} http text {subject[:8]}"] = r.text + "\n" + json.dumps(dict(r.headers))
        rc, report, raw = diag_cli(recgw_binary, cli_env(clean_stack, env), token)
        outputs[f"{name} cli json"] = raw
        rc_tty, text = run_cli_tty(recgw_binary, ["diagnose", token], cli_env(clean_stack, env))
        assert "verdict: " in text and rc_tty == rc, text
        outputs[f"{name} cli tty"] = text
        p = run_cli(recgw_binary, ["check-config", "--probe"], cli_env(clean_stack, env))
        outputs[f"{name} check-config --probe"] = p.stdout + p.stderr
        # the diagnosis did run into the problems it must describe without their values
        if name == "good":
            assert report["servable"] is True and report["verdict"] == "servable from storage", report
        else:
            assert "storage refused" in report["verdict"], report["verdict"]   # the first thing to fix
            assert step(report, "fleet:0")["status"] == "fail", report["steps"]
            assert p.returncode == 1
        assert report["subject"] == redacted(token)
        assert f"diagnosis of {redacted(token)}" in text, text
    # MongoDB unreachable at a URI with credentials: the error is shown, the password is not
    mongo_password = "diagMongoPW-" + secrets.token_hex(8)
    secret_values["mongo password"] = mongo_password
    dead = cli_env(clean_stack, dict(good, RECGW_MONGO_URI=f"mongodb://diaguser:{mongo_password}@127.0.0.1:"
                                           f"{free_port()}/cxb?serverSelectionTimeoutMS=500&connectTimeoutMS=500"))
    rc, report, raw = diag_cli(recgw_binary, dead, token)
    assert rc == 1 and "MongoDB" in report["verdict"], report
    outputs["cli, MongoDB unreachable"] = raw
    p = run_cli(recgw_binary, ["check-config", "--probe"], dead)
    outputs["check-config --probe, MongoDB unreachable"] = p.stdout + p.stderr
    # Redis at a URL with a password it does not expect: the cache step says so, without the password
    redis_password = "diagRedisPW-" + secrets.token_hex(8)
    secret_values["redis password"] = redis_password
    rc, report, raw = diag_cli(recgw_binary, cli_env(clean_stack, dict(
        good, RECGW_REDIS_URL=f"redis://:{redis_password}@127.0.0.1:{clean_stack.redis_port}")), token)
    outputs["cli, Redis with a password"] = raw
    assert report["verdict"] == "servable from storage", report
    cache = step(report, "cache")
    assert cache["status"] == "warn" and "Redis refuses our credentials" in cache["summary"], cache
    assert cache["details"]["redis"].startswith("unavailable: AUTH refused: "), cache
    for gw in gateways:
        gw.stop()
        outputs[f"gateway {gw.port} logs"] = gw.logs()

    leaks = [f"{what} in {where}" for where, out in outputs.items()
             for what, value in secret_values.items() if value in out]
    assert not leaks, "secret values in diagnosis output:\n" + "\n".join(leaks)


# ---- 9. a diagnosis changes nothing --------------------------------------------------------------------------

def _redis_state(st: Stack) -> dict:
    state = {}
    for k in st.redis.scan_iter(match="*", count=1000):
        state[k] = (st.redis.type(k), st.redis.dump(k), st.redis.pttl(k))
    return state


def test_diagnosis_changes_nothing(clean_stack: Stack, gateway_factory, recgw_binary, fleet_factory):
    size = 256 * 1024
    token, session_id, key = seed(clean_stack, data=os.urandom(size))
    host = fleet_factory(secret=FLEET_SECRET)
    host.put(key, os.urandom(size))
    never_seen, never_sid, _ = seed(clean_stack)
    env = dict(BASE_ENV, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET, RECGW_CACHE_L1_TTL_S="300")
    gw = gateway_factory(env)

    # a real download first: Redis holds the lookup, the bytes counter is non-zero
    r = requests.get(f"{gw.url}/api/v1/public/recordings/{token}", timeout=30)
    assert r.status_code == 200 and len(r.content) == size
    wait_for(lambda: any(rec.get("route") == "public_recording" for rec in access_lines(gw)), 10,
             "the download's access line")
    host.reset_counts()

    redis_before = _redis_state(clean_stack)
    assert redis_before, "the download should have cached its lookup"
    calls_before = sorted(clean_stack.db.calls.find({}), key=lambda d: d["session_id"])
    collections_before = sorted(clean_stack.db.list_collection_names())
    m_before = metrics(gw)
    public_bytes = metric(m_before, "recgw_http_response_bytes_total", route="public_recording")
    assert public_bytes >= size
    access_before = len(access_lines(gw))

    ids, reports = [], []
    for i, subject in enumerate((token, session_id, never_seen, new_token("unknown"), never_seen)):
        rid = f"diag-nothing-{i}-{uuid.uuid4().hex[:8]}"
        r = diag_http(gw, subject, request_id=rid)
        assert r.status_code == 200, r.text
        ids.append((rid, len(r.content)))
        reports.append(check_shape(r.json()))
    # the first one saw the download's cache entries (read only)
    cache = step(reports[0], "cache")["details"]
    assert cache["l1"] == "hit as token", cache
    assert cache["redis_token_key"].startswith("hit: found"), cache
    # the second diagnosis of never_seen finds no cache tier filled by the first one
    cache = step(reports[4], "cache")["details"]
    assert cache["l1"] == "miss", cache
    assert cache["redis_token_key"] == "miss" and cache["redis_session_key"] == "miss", cache
    rc, report, _ = diag_cli(recgw_binary, cli_env(clean_stack, env), never_sid)
    assert rc == 0 and report["servable"] is True

    wanted = {rid for rid, _ in ids}
    wait_for(lambda: wanted <= {x.get("request_id") for x in access_lines(gw)}, 10,
             "the diagnoses' access lines")
    time.sleep(0.3)
    new_lines = [x for x in access_lines(gw)[access_before:] if x.get("route") != "metrics"]
    # the access log shows the diagnose requests only, each with its JSON body's size: nothing streamed
    assert [x["route"] for x in new_lines] == ["admin_diagnose"] * len(ids), new_lines
    by_id = {x["request_id"]: x for x in new_lines}
    for rid, n in ids:
        line = by_id[rid]
        assert line["status"] == 200 and line["bytes"] == n, line
    m_after = metrics(gw)
    assert metric(m_after, "recgw_http_response_bytes_total", route="public_recording") == public_bytes
    assert metric(m_after, "recgw_http_requests_total", route="public_recording") == \
        metric(m_before, "recgw_http_requests_total", route="public_recording")

    # the fleet host was asked for one byte at most, never for the object
    for seen in host.seen:
        assert seen.headers.get("Range") == "bytes=0-0", seen
        assert seen.body_bytes_sent <= 1, seen

    # Redis: the same keys, values, and no TTL refreshed; nothing cached for the unknown ids
    redis_after = _redis_state(clean_stack)
    assert set(redis_after) == set(redis_before), (set(redis_after) ^ set(redis_before))
    for k, (typ, dump, pttl) in redis_before.items():
        typ2, dump2, pttl2 = redis_after[k]
        assert (typ2, dump2) == (typ, dump), k
        assert pttl2 <= pttl, f"TTL of {k!r} refreshed by a diagnosis ({pttl} -> {pttl2})"
    # MongoDB: the calls unchanged, no collection created (no system_settings written)
    calls_after = sorted(clean_stack.db.calls.find({}), key=lambda d: d["session_id"])
    assert calls_after == calls_before
    assert sorted(clean_stack.db.list_collection_names()) == collections_before


# ---- 10. admin only, rate-limited ----------------------------------------------------------------------------

def test_route_needs_admin_and_is_rate_limited(clean_stack: Stack, gateway_factory):
    token, _, _ = seed(clean_stack)
    gw = gateway_factory(BASE_ENV)

    r = diag_http(gw, token, headers={})
    assert r.status_code == 401, r.text
    assert r.json().get("error")
    r = diag_http(gw, token, headers=bearer("admin", secret="not-the-jwt-secret-" + secrets.token_hex(8)))
    assert r.status_code == 401, r.text
    r = diag_http(gw, token, headers=bearer("user"))
    assert r.status_code == 403, r.text
    for r in (diag_http(gw, token, headers={}), diag_http(gw, token, headers=bearer("user"))):
        assert "verdict" not in r.text and "steps" not in r.text

    statuses, retry_after = [], None
    for _ in range(15):
        r = diag_http(gw, token)
        statuses.append(r.status_code)
        if r.status_code == 429:
            retry_after = r.headers.get("Retry-After")
            assert r.json().get("error") == "rate_limited", r.text
            break
        assert r.status_code == 200, r.text
    assert 429 in statuses, f"15 quick diagnoses from one address, never a 429: {statuses}"
    assert statuses.count(200) >= 5, statuses          # a handful of diagnoses pass first
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1, retry_after


# ---- 11. check-config --probe -------------------------------------------------------------------------------

def test_check_config_probe(clean_stack: Stack, recgw_binary, fleet_factory):
    host = fleet_factory(secret=FLEET_SECRET)
    good = dict(BASE_ENV, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET)
    rc, report, raw = probe_cli(recgw_binary, cli_env(clean_stack, good))
    assert rc == 0, raw
    assert report["servable"] is True and report["verdict"] == "storage and fleet settings work", report
    assert report["subject"] == ""
    assert step(report, "storage")["status"] == "ok"
    assert step(report, "fleet:0")["status"] == "ok"
    assert not [s for s in report["steps"] if s["step"] in ("call", "key", "cache")], report["steps"]
    assert host.request_count >= 1 and host.seen[-1].headers.get(SECRET_HEADER) == FLEET_SECRET

    wrong = dict(good, RECGW_S3_SECRET_KEY="wrong-" + secrets.token_hex(8))
    rc, report, raw = probe_cli(recgw_binary, cli_env(clean_stack, wrong))
    assert rc == 1, raw
    assert report["servable"] is False and "storage refused" in report["verdict"], report["verdict"]
    assert step(report, "storage")["status"] == "fail"

    wrong_fleet = dict(good, RECGW_FLEET_SECRET="wrong-" + secrets.token_hex(8))
    rc, report, raw = probe_cli(recgw_binary, cli_env(clean_stack, wrong_fleet))
    assert rc == 1, raw
    assert "refused the fleet secret" in report["verdict"], report["verdict"]


def test_rate_limit_ignores_spoofed_forwarded_for(clean_stack: Stack, gateway_factory):
    """Without trusted proxies X-Forwarded-For is the client's word: a new value each time
    must not give a fresh allowance."""
    token, _, _ = seed(clean_stack)
    gw = gateway_factory(BASE_ENV)
    statuses = []
    for i in range(15):
        r = diag_http(gw, token, headers=dict(bearer(), **{"X-Forwarded-For": f"198.51.100.{i + 1}"}))
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert 429 in statuses, statuses


def test_rate_limit_is_per_client_behind_a_trusted_proxy(clean_stack: Stack, gateway_factory):
    token, _, _ = seed(clean_stack)
    gw = gateway_factory(dict(BASE_ENV, RECGW_SERVER_TRUSTED_PROXIES="127.0.0.1"))

    def as_client(address: str) -> requests.Response:
        return diag_http(gw, token, headers=dict(bearer(), **{"X-Forwarded-For": address}))

    statuses = []
    for _ in range(15):
        statuses.append(as_client("203.0.113.7").status_code)
        if statuses[-1] == 429:
            break
    assert 429 in statuses, statuses                      # one admin behind the proxy is limited...
    r = as_client("203.0.113.8")                           # ...another one, through the same proxy, is not
    assert r.status_code == 200, (r.status_code, r.text)
