"""TLS with private CAs, and MongoDB as deployed (issue 13 item 6, issue 14 item 3).

Every certificate is made here with the openssl CLI: a test CA, a server certificate for
IP 127.0.0.1 signed by it, and a second CA that signed nothing we serve.

  * MinIO started with `--certs-dir` (public.crt/private.key signed by the test CA):
    with `s3.ca_file` recgw streams from it; without, /readyz (ops listener), the admin
    diagnose route and `check-config --probe` say the certificate could not be verified.
  * A fake fleet host behind TLS (Python ssl): the same with `fleet.ca_file`.
  * An extra FerretDB with a TLS listener and SCRAM users (`--test-enable-new-auth`):
    `tls=true&tlsCAFile=…` and `user:password@…?authSource=…` work; an untrusted CA or a
    wrong password make /readyz 503 with a reason that names the fix and never the password.
"""

from __future__ import annotations

import os
import secrets
import signal
import ssl
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

from fakes import FakeFleetHost
from helpers import hs256_jwt, wait_for
from stack import Gateway, Stack, free_port

BIN = Path.home() / ".cache" / "recgw" / "bin"
MINIO = BIN / "minio"
FERRETDB = BIN / "ferretdb"
PUBLIC = "/api/v1/public/recordings/"
JWT_SECRET = "tls-jwt-" + secrets.token_hex(16)
FLEET_SECRET = "tls-fleet-" + secrets.token_hex(12)
NO_S3 = {k: None for k in ("RECGW_S3_ENDPOINT", "RECGW_S3_ACCESS_KEY", "RECGW_S3_SECRET_KEY",
                           "RECGW_S3_BUCKET", "RECGW_S3_REGION")}
UNVERIFIED = "could not be verified"


# ---- certificates --------------------------------------------------------------------------

def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class Pki:
    """ca.crt/ca.key, server.crt/server.key (SAN IP:127.0.0.1, signed by ca), other-ca.crt."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.ca = directory / "ca.crt"
        self.other_ca = directory / "other-ca.crt"
        self.server_crt = directory / "server.crt"
        self.server_key = directory / "server.key"
        for name, subject in (("ca", "recgw test CA"), ("other-ca", "recgw unrelated CA")):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={subject}",
                    "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.crt"))
        csr = directory / "server.csr"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", str(self.server_key), "-out", str(csr))
        ext = directory / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(directory / "ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(self.server_crt))

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def stop_process(proc: Optional[subprocess.Popen]) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()  # our own child, by its id
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ---- MinIO behind the test CA -------------------------------------------------------------------

class TlsMinio:
    def __init__(self, pki: Pki):
        self.pki = pki
        self.dir = Path(tempfile.mkdtemp(prefix="recgw-tls-minio-"))
        self.port = free_port()
        self.console_port = free_port()
        self.access_key = "tlsAK" + secrets.token_hex(6)
        self.secret_key = "tlsSK-" + secrets.token_hex(16)
        self.bucket = "tls-recordings"
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self._s3 = None

    def start(self, timeout: float = 30.0) -> "TlsMinio":
        certs = self.dir / "certs"
        certs.mkdir()
        (certs / "public.crt").write_bytes(self.pki.server_crt.read_bytes())
        (certs / "private.key").write_bytes(self.pki.server_key.read_bytes())
        env = dict(os.environ, MINIO_ROOT_USER=self.access_key, MINIO_ROOT_PASSWORD=self.secret_key,
                   MINIO_BROWSER="off", MINIO_UPDATE="off")
        self.log = open(self.dir / "minio.log", "wb")
        self.proc = subprocess.Popen(
            [str(MINIO), "server", str(self.dir / "data"), "--address", f"127.0.0.1:{self.port}",
             "--console-address", f"127.0.0.1:{self.console_port}", "--certs-dir", str(certs), "--quiet"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        context = self.pki.client_context()

        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"minio exited: {(self.dir / 'minio.log').read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(self.endpoint + "/minio/health/ready", timeout=1,
                                            context=context) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_for(ready, timeout, "the TLS MinIO to be ready", interval=0.1)

        def bucket_made():  # "ready" can come before "initialized"
            try:
                self.s3.create_bucket(Bucket=self.bucket)
                return True
            except Exception:  # noqa: BLE001 — retried until the deadline
                return False

        wait_for(bucket_made, timeout, "the bucket on the TLS MinIO", interval=0.2)
        return self

    @property
    def s3(self):
        if self._s3 is None:
            import boto3
            from botocore.config import Config
            self._s3 = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name="us-east-1", verify=str(self.pki.ca),
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                              retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10))
        return self._s3

    def env(self) -> dict:
        return {"RECGW_S3_ENDPOINT": self.endpoint, "RECGW_S3_ACCESS_KEY": self.access_key,
                "RECGW_S3_SECRET_KEY": self.secret_key, "RECGW_S3_BUCKET": self.bucket,
                "RECGW_S3_REGION": "us-east-1"}

    def stop(self) -> None:
        stop_process(self.proc)
        if getattr(self, "log", None):
            self.log.close()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_minio(pki):
    if not MINIO.exists():
        pytest.skip(f"minio binary not found: {MINIO}")
    m = TlsMinio(pki)
    try:
        yield m.start()
    finally:
        m.stop()


# ---- a fleet host behind the test CA -----------------------------------------------------------

class TlsFleetHost(FakeFleetHost):
    """FakeFleetHost whose listening socket speaks TLS with the test CA's server certificate."""

    def __init__(self, pki: Pki, *args, **kw):
        super().__init__(*args, **kw)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(pki.server_crt), str(pki.server_key))

    def start(self) -> "TlsFleetHost":
        super().start()
        # A client that refuses the certificate makes accept() raise; socketserver logs it
        # and goes on serving.
        self._server.socket = self.context.wrap_socket(self._server.socket, server_side=True)
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"


# ---- an extra FerretDB: TLS listener and SCRAM users ------------------------------------------

class SecureFerret:
    user = "recgw"

    def __init__(self, pki: Pki):
        self.pki = pki
        self.password = "ferret-pw-" + secrets.token_hex(8)
        self.dir = Path(tempfile.mkdtemp(prefix="recgw-tls-ferret-"))
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self._client = None

    def start(self, timeout: float = 30.0) -> "SecureFerret":
        (self.dir / "data").mkdir()
        (self.dir / "state").mkdir()
        self.log_path = self.dir / "ferretdb.log"
        self.log = open(self.log_path, "wb")
        # The same flags as tools/stack.sh, plus the TLS listener and authentication.
        self.proc = subprocess.Popen(
            [str(FERRETDB), "--handler=sqlite", f"--sqlite-url=file:{self.dir / 'data'}/",
             f"--state-dir={self.dir / 'state'}", f"--listen-addr=127.0.0.1:{self.port}",
             f"--listen-tls=127.0.0.1:{self.tls_port}", f"--listen-tls-cert-file={self.pki.server_crt}",
             f"--listen-tls-key-file={self.pki.server_key}", "--debug-addr=-", "--telemetry=disable",
             "--log-level=INFO", "--log-format=console", "--test-enable-new-auth",
             "--setup-database=cxb", f"--setup-username={self.user}", f"--setup-password={self.password}"],
            env=dict(os.environ, FERRETDB_TELEMETRY="disable", DO_NOT_TRACK="1"),
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"ferretdb exited: {self.log_path.read_text(errors='replace')}")
            try:
                self.db.command("ping")
                return True
            except Exception:  # noqa: BLE001 — retried until the deadline
                return False

        wait_for(ready, timeout, "the extra FerretDB to answer", interval=0.1)
        return self

    def uri(self, *, password: Optional[str] = None, tls_ca: Optional[Path] = None) -> str:
        pw = self.password if password is None else password
        if tls_ca is None:
            return f"mongodb://{self.user}:{pw}@127.0.0.1:{self.port}/cxb?authSource=cxb"
        return (f"mongodb://{self.user}:{pw}@127.0.0.1:{self.tls_port}/cxb?authSource=cxb"
                f"&tls=true&tlsCAFile={tls_ca}")

    @property
    def db(self):
        if self._client is None:
            import pymongo
            self._client = pymongo.MongoClient(self.uri(), serverSelectionTimeoutMS=2000, tz_aware=True)
        return self._client["cxb"]

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        stop_process(self.proc)
        if getattr(self, "log", None):
            self.log.close()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ferret(pki):
    if not FERRETDB.exists():
        pytest.skip(f"ferretdb binary not found: {FERRETDB}")
    f = SecureFerret(pki)
    try:
        yield f.start()
    finally:
        f.stop()


# ---- helpers -----------------------------------------------------------------------------------

def ops_env(**extra) -> dict:
    return {"RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{free_port()}", "RECGW_JWT_HS256_SECRET": JWT_SECRET,
            "RECGW_MONGO_TIMEOUT_MS": "1500", **extra}


def readyz(gw: Gateway) -> tuple[int, dict]:
    r = requests.get(gw.ops_url + "/readyz", timeout=20)
    return r.status_code, r.json()


def admin_headers() -> dict:
    now = int(time.time())
    token = hs256_jwt({"sub": "tls-admin", "role": "admin", "iat": now, "exp": now + 600}, JWT_SECRET)
    return {"Authorization": "Bearer " + token}


def diagnose(gw: Gateway, subject: str) -> dict:
    r = requests.get(f"{gw.url}/api/v1/admin/diagnose/{subject}", headers=admin_headers(), timeout=30)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def step(report: dict, name: str) -> dict:
    found = [s for s in report["steps"] if s["step"] == name]
    assert found, report
    return found[0]


def cli_env(st: Stack, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    env.update(st.env)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def probe_cli(binary: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "check-config", "--probe", "--json"], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def new_call(db, key: str) -> str:
    token = "tls-" + secrets.token_urlsafe(20)
    db.calls.insert_one({"session_id": "sess-" + uuid.uuid4().hex, "account_id": "acct-tls",
                         "recording_access_token": token, "recording_key": key})
    return token


# ---- 1. storage behind a private CA ------------------------------------------------------------

def test_storage_with_ca_file_streams(clean_stack: Stack, gateway_factory, tls_minio: TlsMinio, pki: Pki):
    key = f"calls/{uuid.uuid4().hex}.ogg"
    data = b"OggS" + os.urandom(300_000)
    tls_minio.s3.put_object(Bucket=tls_minio.bucket, Key=key, Body=data, ContentType="audio/ogg")
    token = new_call(clean_stack.db, key)
    gw = gateway_factory(ops_env(**tls_minio.env(), RECGW_S3_CA_FILE=str(pki.ca), RECGW_FLEET_URLS=None))

    r = requests.get(gw.url + PUBLIC + token, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300], gw.logs()[-3000:])
    assert r.content == data
    status, body = readyz(gw)
    assert status == 200 and body["storage"]["ok"] is True, body
    report = diagnose(gw, token)
    assert report["servable"] is True, report
    assert step(report, "storage")["status"] == "ok", report


def test_storage_without_ca_file_says_the_certificate_could_not_be_verified(
        clean_stack: Stack, gateway_factory, tls_minio: TlsMinio, recgw_binary):
    key = f"calls/{uuid.uuid4().hex}.ogg"
    tls_minio.s3.put_object(Bucket=tls_minio.bucket, Key=key, Body=b"OggS" + os.urandom(1000))
    token = new_call(clean_stack.db, key)
    env = ops_env(**tls_minio.env(), RECGW_FLEET_URLS=None)
    gw = gateway_factory(env)

    # /readyz names the cause before any user request has failed on it.
    status, body = readyz(gw)
    storage = body["storage"]
    assert storage["ok"] is False, body
    assert UNVERIFIED in storage["reason"] and "s3.ca_file" in storage["reason"], storage
    assert tls_minio.secret_key not in str(body)

    r = requests.get(gw.url + PUBLIC + token, timeout=30)
    assert r.status_code != 200, r.status_code
    wait_for(lambda: any(UNVERIFIED in str(line) for line in gw.log_lines()), 10,
             "a log line naming the unverified certificate")

    report = diagnose(gw, token)
    s = step(report, "storage")
    assert s["status"] == "fail" and UNVERIFIED in s["summary"], report
    assert UNVERIFIED in report["verdict"] and "s3.ca_file" in report["verdict"], report

    p = probe_cli(recgw_binary, cli_env(clean_stack, env))
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert UNVERIFIED in p.stdout and "s3.ca_file" in p.stdout, p.stdout
    assert tls_minio.secret_key not in p.stdout + p.stderr + gw.logs()


def test_a_ca_file_of_another_ca_is_no_better_than_none(clean_stack: Stack, gateway_factory,
                                                       tls_minio: TlsMinio, pki: Pki):
    gw = gateway_factory(ops_env(**tls_minio.env(), RECGW_S3_CA_FILE=str(pki.other_ca), RECGW_FLEET_URLS=None))
    status, body = readyz(gw)
    assert body["storage"]["ok"] is False and UNVERIFIED in body["storage"]["reason"], body


def test_ca_file_set_by_a_reload_takes_effect_without_a_restart(
        clean_stack: Stack, gateway_factory, tls_minio: TlsMinio, pki: Pki, tmp_path):
    key = f"calls/{uuid.uuid4().hex}.ogg"
    data = b"OggS" + os.urandom(4000)
    tls_minio.s3.put_object(Bucket=tls_minio.bucket, Key=key, Body=data)
    token = new_call(clean_stack.db, key)
    cfg = tmp_path / "recgw.toml"
    cfg.write_text("[s3]\n")
    gw = gateway_factory(ops_env(**tls_minio.env(), RECGW_FLEET_URLS=None), args=["--config", str(cfg)])
    status, body = readyz(gw)
    assert body["storage"]["ok"] is False and UNVERIFIED in body["storage"]["reason"], body

    cfg.write_text(f'[s3]\nca_file = "{pki.ca}"\n')
    gw.send_signal(signal.SIGHUP)
    # well within the 10 s a readiness answer is cached: a reload is checked again at once
    wait_for(lambda: readyz(gw)[1]["storage"]["ok"], 5, "storage ok in /readyz after the reload", interval=0.2)
    r = requests.get(gw.url + PUBLIC + token, timeout=30)
    assert r.status_code == 200 and r.content == data, (r.status_code, gw.logs()[-2000:])


def test_the_right_ca_does_not_excuse_a_name_the_certificate_does_not_cover(
        clean_stack: Stack, gateway_factory, tls_minio: TlsMinio, pki: Pki):
    # The certificate covers IP 127.0.0.1 only; "localhost" reaches the same server.
    env = {**tls_minio.env(), "RECGW_S3_ENDPOINT": f"https://localhost:{tls_minio.port}"}
    gw = gateway_factory(ops_env(**env, RECGW_S3_CA_FILE=str(pki.ca), RECGW_FLEET_URLS=None))
    status, body = readyz(gw)
    assert body["storage"]["ok"] is False and UNVERIFIED in body["storage"]["reason"], body


def test_unreadable_ca_file_is_a_config_error(clean_stack: Stack, recgw_binary, tmp_path):
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("hello\n")
    for value, words in (("/nonexistent/ca.pem", "cannot read"), (str(not_pem), "PEM")):
        p = subprocess.run([str(recgw_binary), "check-config"],
                           env=cli_env(clean_stack, {"RECGW_S3_CA_FILE": value}),
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert p.returncode != 0, p.stdout
        assert "s3.ca_file" in p.stderr + p.stdout and words in p.stderr + p.stdout, (p.stdout, p.stderr)


# ---- 2. a fleet host behind a private CA -------------------------------------------------------

@pytest.fixture
def tls_fleet(pki):
    host = TlsFleetHost(pki, secret=FLEET_SECRET).start()
    yield host
    host.stop()


def test_fleet_with_ca_file_streams_and_without_names_the_certificate(
        clean_stack: Stack, gateway_factory, tls_fleet: TlsFleetHost, pki: Pki, recgw_binary):
    key = f"calls/{uuid.uuid4().hex}.ogg"
    data = b"OggS" + os.urandom(200_000)
    tls_fleet.put(key, data, "audio/ogg")
    token = new_call(clean_stack.db, key)
    fleet = {**NO_S3, "RECGW_FLEET_URLS": tls_fleet.url, "RECGW_FLEET_SECRET": FLEET_SECRET}

    good = gateway_factory(ops_env(**fleet, RECGW_FLEET_CA_FILE=str(pki.ca)))
    r = requests.get(good.url + PUBLIC + token, timeout=30)
    assert r.status_code == 200 and r.content == data, (r.status_code, good.logs()[-3000:])
    status, body = readyz(good)
    assert body["fleet"]["ok"] is True, body

    env = ops_env(**fleet)
    bad = gateway_factory(env)
    status, body = readyz(bad)
    assert body["fleet"]["ok"] is False, body
    assert UNVERIFIED in body["fleet"]["reason"] and "fleet.ca_file" in body["fleet"]["reason"], body
    assert requests.get(bad.url + PUBLIC + token, timeout=30).status_code != 200
    report = diagnose(bad, token)
    assert step(report, "fleet:0")["status"] == "fail", report
    assert UNVERIFIED in report["verdict"] and "fleet.ca_file" in report["verdict"], report
    p = probe_cli(recgw_binary, cli_env(clean_stack, env))
    assert p.returncode == 1 and "fleet.ca_file" in p.stdout, (p.stdout, p.stderr)
    assert FLEET_SECRET not in str(body) + p.stdout + p.stderr + bad.logs()


# ---- 3. MongoDB with TLS and authentication (an extra FerretDB) --------------------------------

def stream_through(gw: Gateway, st: Stack, ferret: SecureFerret) -> None:
    """A call in the extra FerretDB, its object in the stack's MinIO: streams."""
    key = f"calls/{uuid.uuid4().hex}.ogg"
    data = b"OggS" + os.urandom(5000)
    st.put_object(key, data, content_type="audio/ogg")
    token = new_call(ferret.db, key)
    r = requests.get(gw.url + PUBLIC + token, timeout=30)
    assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:300], gw.logs()[-3000:])


def test_mongo_with_password_and_auth_source(clean_stack: Stack, gateway_factory, ferret: SecureFerret):
    gw = gateway_factory(ops_env(RECGW_MONGO_URI=ferret.uri()))
    status, body = readyz(gw)
    assert status == 200 and body["mongo"]["ok"] is True, body
    stream_through(gw, clean_stack, ferret)


def test_mongo_wrong_password_is_503_naming_authentication(clean_stack: Stack, gateway_factory,
                                                          ferret: SecureFerret):
    wrong = "wrong-pw-" + secrets.token_hex(8)
    gw = gateway_factory(ops_env(RECGW_MONGO_URI=ferret.uri(password=wrong)))
    status, body = readyz(gw)
    assert status == 503, body
    reason = body["mongo"]["reason"]
    assert body["mongo"]["ok"] is False and "authentication failed" in reason and "authSource" in reason, body
    assert wrong not in str(body) and wrong not in gw.logs()
    public = requests.get(gw.url + "/readyz", timeout=20)
    assert public.status_code == 503 and public.json().get("ready") is False, public.text
    assert "reason" not in public.text  # the details are for the ops listener


def test_mongo_without_credentials_against_a_server_that_requires_them_is_503(
        clean_stack: Stack, gateway_factory, ferret: SecureFerret):
    # FerretDB answers ping without a login: readiness must not stop there.
    gw = gateway_factory(ops_env(RECGW_MONGO_URI=f"mongodb://127.0.0.1:{ferret.port}/cxb"))
    status, body = readyz(gw)
    assert status == 503, body
    assert "requires authentication" in body["mongo"]["reason"], body


def test_mongo_over_tls_with_ca_file(clean_stack: Stack, gateway_factory, ferret: SecureFerret, pki: Pki):
    gw = gateway_factory(ops_env(RECGW_MONGO_URI=ferret.uri(tls_ca=pki.ca)))
    status, body = readyz(gw)
    assert status == 200 and body["mongo"]["ok"] is True, body
    stream_through(gw, clean_stack, ferret)


def test_mongo_over_tls_with_an_untrusted_ca_is_503_naming_the_certificate(
        clean_stack: Stack, gateway_factory, ferret: SecureFerret, pki: Pki):
    gw = gateway_factory(ops_env(RECGW_MONGO_URI=ferret.uri(tls_ca=pki.other_ca)))
    status, body = readyz(gw)
    assert status == 503, body
    reason = body["mongo"]["reason"]
    assert UNVERIFIED in reason and "tlsCAFile" in reason, body
    assert ferret.password not in str(body) and ferret.password not in gw.logs()


def test_rooms_archive_on_private_ca_storage_uses_its_ca_file(clean_stack: Stack, gateway_factory,
                                                             tls_minio: TlsMinio, pki: Pki):
    # The rooms lifecycle's own S3 calls (archive copy, delete) go to the same storage:
    # s3.ca_file must apply to them too, not only to streams and /readyz.
    import datetime as _dt
    archive_bucket = "tls-archive"
    try:
        tls_minio.s3.create_bucket(Bucket=archive_bucket)
    except tls_minio.s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    key = f"rooms/{uuid.uuid4().hex}.mp4"
    data = os.urandom(200_000)
    tls_minio.s3.put_object(Bucket=tls_minio.bucket, Key=key, Body=data, ContentType="video/mp4")
    rec_id = "rec_tls" + uuid.uuid4().hex[:10]
    now = _dt.datetime.now(_dt.timezone.utc)
    clean_stack.db.recordings.insert_one({
        "_id": rec_id, "id": rec_id, "tenant_id": "tenant-tls", "room_id": "room-tls", "status": "ready",
        "source": "provider", "provider_recording_id": "prov_" + rec_id, "started_at": now,
        "stopped_at": now, "ready_at": now, "duration_seconds": 3.0, "size_bytes": len(data),
        "storage": {"provider": "s3", "bucket": tls_minio.bucket, "key": key},
        "created_at": now, "updated_at": now})
    gw = gateway_factory(ops_env(**tls_minio.env(), RECGW_S3_CA_FILE=str(pki.ca), RECGW_FLEET_URLS=None,
                                 RECGW_LIFECYCLE_POLL_PERIOD_S="0",
                                 RECGW_LIFECYCLE_ARCHIVE_BUCKET=archive_bucket,
                                 RECGW_LIFECYCLE_ARCHIVE_STORAGE_CLASS="STANDARD"))
    now_s = int(time.time())
    token = hs256_jwt({"sub": "tenant-user", "account_id": "tenant-tls", "iat": now_s, "exp": now_s + 600},
                      JWT_SECRET)
    r = requests.post(f"{gw.url}/api/v1/recordings/{rec_id}/archive",
                      headers={"Authorization": "Bearer " + token}, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text[:300], gw.logs()[-2000:])
    assert r.json()["data"]["status"] == "archived"
    copied = tls_minio.s3.get_object(Bucket=archive_bucket, Key=key)["Body"].read()
    assert copied == data
