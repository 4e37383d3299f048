"""S3 credentials as deployed on AWS (issue 13): session tokens, the credential sources
(static, env, web-identity, ecs, imds, chain), STS AssumeRole on top, refresh on the loop,
the forced refresh on ExpiredToken/InvalidAccessKeyId, and what /readyz and /metrics show.

Everything is checked by the real MinIO of the test stack: the temporary credentials come
from MinIO's own STS (AssumeRole with the root keys), and the fake IMDS / ECS / STS
servers below (loopback only) hand out those real credentials, so a wrong signature, a
missing or unsigned session token is refused by MinIO, not by a fake.

No test here sends a packet to 169.254.169.254 or 169.254.170.2: every gateway runs with
AWS_EC2_METADATA_SERVICE_ENDPOINT on 127.0.0.1:1 (refused at once) unless a test points it
at its own fake, and without any inherited AWS_* variable.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import requests

from helpers import wait_for
from stack import Stack, free_port

pytestmark = pytest.mark.timeout(180)

PUBLIC = "/api/v1/public/recordings/"
ROLE_ARN = "arn:aws:iam::000000000000:role/recgw-test"
GUARD_IMDS = "http://127.0.0.1:1"


# ---- helpers -------------------------------------------------------------------------------

def minio_sts(st: Stack):
    import boto3
    return boto3.client("sts", endpoint_url=st.s3_endpoint, region_name=st.region,
                        aws_access_key_id=st.s3_access_key, aws_secret_access_key=st.s3_secret_key)


def temporary_credentials(st: Stack, duration: int = 900) -> dict:
    """Real temporary credentials from MinIO's STS (AssumeRole with the root keys)."""
    c = minio_sts(st).assume_role(RoleArn=ROLE_ARN, RoleSessionName="recgw-test-fake",
                                  DurationSeconds=duration)["Credentials"]
    return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
            "Token": c["SessionToken"],
            "Expiration": c["Expiration"].astimezone(__import__("datetime").timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ")}


def base_env(**extra) -> Dict[str, Optional[str]]:
    env: Dict[str, Optional[str]] = {k: None for k in os.environ if k.startswith("AWS_")}
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = GUARD_IMDS
    env["RECGW_SERVER_OPS_LISTEN"] = f"127.0.0.1:{free_port()}"
    env.update(extra)
    return env


def seed(st: Stack, name: str, size: int = 50_000) -> tuple[str, bytes]:
    data = (name.encode() * (size // len(name) + 1))[:size]
    token = secrets.token_urlsafe(32)
    st.put_object(f"calls/{name}.ogg", data, "audio/ogg")
    st.insert_call(f"sess-{name}", token=token, key=f"calls/{name}.ogg")
    return token, data


def fetch(gw, token: str) -> requests.Response:
    return requests.get(gw.url + PUBLIC + token, timeout=20)


def readyz(gw) -> dict:
    return requests.get(gw.ops_url + "/readyz", timeout=10).json()


def metric(gw, name: str, labels: str = "") -> float:
    text = requests.get(gw.ops_url + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + ("{" if labels or "{" in line else " ")) and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def assert_no_secrets(gw, *secrets: str) -> None:
    logs = gw.logs()
    for s in secrets:
        assert s and s not in logs, "a secret reached the gateway's log"
    text = json.dumps(readyz(gw)) + requests.get(gw.ops_url + "/metrics", timeout=10).text
    for s in secrets:
        assert s not in text, "a secret reached /readyz or /metrics"


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 whose handler is a function of (method, path,
    headers, body) -> (status, headers, body); every request is recorded."""

    def __init__(self, handler: Callable[[str, str, dict, bytes], tuple]):
        self.requests: List[dict] = []
        self.handler = handler
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                record = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                          "body": body, "at": time.time()}
                outer.requests.append(record)
                status, headers, payload = outer.handler(self.command, self.path, dict(self.headers), body)
                payload = payload.encode() if isinstance(payload, str) else payload
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_factory():
    servers: List[FakeServer] = []

    def make(handler):
        s = FakeServer(handler)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


class CountingProxy:
    """A TCP proxy in front of MinIO that counts STS AssumeRole requests (and keeps the
    Host header as recgw signed it, so MinIO checks the very bytes recgw sent). It also
    reads each answer's <Expiration>, for the refresh timeline."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.calls: List[float] = []
        self.expirations: List[str] = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, client_side: bool):
        seen = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                seen = (seen + data)[-4096:]
                with self.lock:
                    if client_side:
                        self.calls.extend([time.time()] * data.count(b"Action=AssumeRole"))
                    else:
                        self.expirations.extend(m.decode() for m in
                                                re.findall(rb"<Expiration>([^<]+)</Expiration>", data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.sock.close()


# ---- 1. session token, static source --------------------------------------------------------

def test_static_session_token_streams_from_minio(clean_stack: Stack, gateway_factory):
    """Temporary keys given as s3.access_key/secret_key/session_token: MinIO refuses them
    unless every request carries the token, signed."""
    creds = temporary_credentials(clean_stack)
    token, data = seed(clean_stack, "static-token")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_ACCESS_KEY=creds["AccessKeyId"],
                                            RECGW_S3_SECRET_KEY=creds["SecretAccessKey"],
                                            RECGW_S3_SESSION_TOKEN=creds["Token"]))
    r = fetch(gw, token)
    assert r.status_code == 200, r.text
    assert r.content == data
    # and a Range request (range + token both signed)
    r = requests.get(gw.url + PUBLIC + token, headers={"Range": "bytes=10-19"}, timeout=20)
    assert r.status_code == 206 and r.content == data[10:20]
    assert_no_secrets(gw, creds["SecretAccessKey"], creds["Token"])


def test_static_temporary_keys_without_the_token_are_refused(clean_stack: Stack, gateway_factory):
    """The control: the same keys without s3.session_token do not work (so the test above
    proves the token is sent)."""
    creds = temporary_credentials(clean_stack)
    token, _ = seed(clean_stack, "static-notoken")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_ACCESS_KEY=creds["AccessKeyId"],
                                            RECGW_S3_SECRET_KEY=creds["SecretAccessKey"]))
    assert fetch(gw, token).status_code == 503


# ---- 2. AssumeRole via MinIO's STS, refresh under load ------------------------------------

def test_assume_role_streams_presigns_and_reports(clean_stack: Stack, gateway_factory):
    proxy = CountingProxy(clean_stack.minio_port)
    try:
        token, data = seed(clean_stack, "assumed")
        jwt_secret = "creds-test-jwt-secret-0123456789abcdef"
        gw = gateway_factory(extra_env=base_env(RECGW_S3_ROLE_ARN=ROLE_ARN,
                                                RECGW_S3_ROLE_DURATION_S="900",
                                                RECGW_S3_STS_ENDPOINT=proxy.url,
                                                RECGW_JWT_HS256_SECRET=jwt_secret))
        wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15,
                 "assumed-role credentials")
        r = fetch(gw, token)
        assert r.status_code == 200, r.text
        assert r.content == data
        storage = readyz(gw)["storage"]
        c = storage["credentials"]
        assert c["source"] == "static+assume-role"
        assert c["temporary"] is True
        assert 800 < c["expires_in_s"] <= 900
        assert storage["ok"] is True
        assert len(proxy.calls) == 1

        # A presigned URL made with the assumed role carries its session token, and MinIO
        # accepts it.
        from helpers import hs256_jwt
        now = int(time.time())
        jwt = hs256_jwt({"sub": "t", "role": "admin", "account_id": "acct-test", "iat": now, "exp": now + 600},
                        jwt_secret)
        r = requests.get(f"{gw.url}/api/v1/sessions/sess-assumed/recording",
                         headers={"Authorization": f"Bearer {jwt}", "X-Account-ID": "acct-test"}, timeout=15)
        assert r.status_code == 200, r.text
        url = r.json()["url"]
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert "X-Amz-Security-Token" in q
        assert q["X-Amz-Credential"][0].split("/")[0] != clean_stack.s3_access_key  # not the root key
        f = requests.get(url, timeout=15)
        assert f.status_code == 200, f.text
        assert f.content == data

        assert metric(gw, "recgw_s3_credential_refreshes_total", 'result="ok"') == 1
        assert 800 < metric(gw, "recgw_s3_credentials_expiry_seconds") <= 900
        assert_no_secrets(gw, clean_stack.s3_secret_key)
    finally:
        proxy.close()


def test_assume_role_refreshes_under_load_without_a_failed_request(clean_stack: Stack, gateway_factory,
                                                                 capsys):
    """MinIO's shortest duration is 900 s; a margin of 893 s makes each worker refresh
    every ~7 s. Under steady concurrent load, at least two refreshes per worker happen, no
    request fails, and each refresh is exactly one STS call."""
    workers = 2
    margin = 893
    proxy = CountingProxy(clean_stack.minio_port)
    try:
        token, data = seed(clean_stack, "refresh-load", 20_000)
        gw = gateway_factory(workers=workers,
                             extra_env=base_env(RECGW_S3_ROLE_ARN=ROLE_ARN, RECGW_S3_ROLE_DURATION_S="900",
                                                RECGW_S3_STS_ENDPOINT=proxy.url,
                                                RECGW_S3_CREDENTIALS_REFRESH_MARGIN_S=str(margin)))
        wait_for(lambda: len(proxy.calls) >= workers, 15, "each worker's first STS call")
        start = time.time()
        results: List[int] = []
        served_at: List[float] = []
        failures: List[str] = []
        stop = threading.Event()

        def load():
            s = requests.Session()
            while not stop.is_set():
                r = s.get(gw.url + PUBLIC + token, timeout=20)
                results.append(r.status_code if r.content == data else -r.status_code)
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:120]}")
                served_at.append(time.time())

        with ThreadPoolExecutor(4) as pool:
            for _ in range(4):
                pool.submit(load)
            # initial fetch + 2 refreshes per worker
            wait_for(lambda: len(proxy.calls) >= workers * 3, 40, "two refreshes per worker", interval=0.2)
            time.sleep(0.5)  # keep loading across the last swap
            stop.set()
        elapsed = time.time() - start
        failed = [s for s in results if s != 200]
        # /metrics merges the workers' counters as each publishes them (every second), and the
        # workers keep refreshing after the load stops: compare one snapshot in which the calls
        # the proxy saw did not change while the counter was read.
        agreed: dict = {}

        def counters_agree() -> bool:
            seen = len(proxy.calls)
            ok = metric(gw, "recgw_s3_credential_refreshes_total", 'result="ok"')
            if len(proxy.calls) != seen or ok != seen:
                return False
            agreed.update(calls=list(proxy.calls)[:seen], ok=ok)
            return True
        wait_for(counters_agree, 10, "the workers' refresh counters to match the STS calls seen")
        ok_refreshes = agreed["ok"]
        error_refreshes = metric(gw, "recgw_s3_credential_refreshes_total", 'result="error"')
        calls = agreed["calls"]
        warnings = [line for line in gw.logs().splitlines() if '"level":"warn"' in line or '"status":503' in line]
        assert failed == [], (f"{len(failed)} failed of {len(results)}: {failures[:5]}\n" +
                              "\n".join(warnings[:20]))
        assert error_refreshes == 0
        # One STS call per refresh per worker: the proxy saw exactly as many AssumeRole
        # requests as the workers counted successful fetches, and no more than one per worker
        # per refresh interval (7 s) over the run.
        assert len(calls) == ok_refreshes, (calls, ok_refreshes)
        span = calls[-1] - calls[0]
        assert len(calls) <= workers * (int(span / (900 - margin)) + 2), (len(calls), span)
        # timeline, for docs/reliability.md
        t0 = calls[0]
        with capsys.disabled():
            print(f"\n[refresh timeline] workers={workers} duration=900s margin={margin}s "
                  f"requests={len(results)} failed={len(failed)} elapsed={elapsed:.1f}s")
            import datetime as _dt
            for i, at in enumerate(calls):
                exp = proxy.expirations[i] if i < len(proxy.expirations) else "?"
                left = ""
                if exp != "?":
                    e = _dt.datetime.strptime(exp[:19], "%Y-%m-%dT%H:%M:%S").replace(
                        tzinfo=_dt.timezone.utc).timestamp()
                    left = f" new set expires in {e - at:.0f}s"
                until = calls[i + 1] if i + 1 < len(calls) else float("inf")
                served = sum(1 for x in served_at if at <= x < until)
                print(f"  STS call {i + 1}: t={at - t0:6.2f}s{left}; requests served until the next call: {served}")
    finally:
        proxy.close()


# ---- 3. the AWS sources, with loopback fakes handing out MinIO's credentials ---------------

def ecs_handler(st: Stack, auth: str, bad_first: int = 0, fail: bool = False):
    served = {"n": 0}

    def handle(method, path, headers, body):
        if headers.get("Authorization") != auth:
            return 401, {}, "no"
        if fail:
            return 500, {}, "credentials endpoint broken"
        served["n"] += 1
        c = temporary_credentials(st)
        if served["n"] <= bad_first:
            # A set MinIO does not know (revoked / rotated away), still "valid" by its dates.
            c = {**c, "AccessKeyId": "REVOKEDKEY" + c["AccessKeyId"][:8]}
        return 200, {"Content-Type": "application/json"}, json.dumps(c)

    return handle


def test_ecs_source_streams(clean_stack: Stack, gateway_factory, fake_factory, tmp_path):
    auth_file = tmp_path / "ecs-token"
    auth_file.write_text("Bearer ecs-auth-0123\n")
    fake = fake_factory(ecs_handler(clean_stack, "Bearer ecs-auth-0123"))
    token, data = seed(clean_stack, "ecs")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="ecs", RECGW_S3_ACCESS_KEY=None,
                                            RECGW_S3_SECRET_KEY=None,
                                            AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/v2/creds",
                                            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(auth_file)))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15, "ECS credentials")
    r = fetch(gw, token)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert readyz(gw)["storage"]["credentials"]["source"] == "ecs"
    assert [q["path"] for q in fake.requests] == ["/v2/creds"]


def test_revoked_credentials_get_one_forced_refresh(clean_stack: Stack, gateway_factory, fake_factory):
    """The first set is one MinIO refuses (InvalidAccessKeyId): the request that meets it
    forces one refresh and is retried once, and succeeds."""
    fake = fake_factory(ecs_handler(clean_stack, "tok", bad_first=1))
    token, data = seed(clean_stack, "revoked")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="ecs",
                                            AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/creds",
                                            AWS_CONTAINER_AUTHORIZATION_TOKEN="tok"))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15, "the first (revoked) set")
    r = fetch(gw, token)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert len(fake.requests) == 2
    assert "storage refused the credentials; refreshing" in gw.logs()
    # HEAD has no body to read the code from; the fresh set is in force now anyway
    assert requests.head(gw.url + PUBLIC + token, timeout=10).status_code == 200


def test_requests_at_start_up_wait_for_the_first_fetch(clean_stack: Stack, gateway_factory, fake_factory):
    """The credentials endpoint takes 2 s to answer: a request that arrives meanwhile waits
    for that fetch instead of failing, and a presigned URL too."""
    inner = ecs_handler(clean_stack, "tok")

    def slow(method, path, headers, body):
        time.sleep(2.0)
        return inner(method, path, headers, body)

    fake = fake_factory(slow)
    token, data = seed(clean_stack, "slow-start")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="ecs",
                                            AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/creds",
                                            AWS_CONTAINER_AUTHORIZATION_TOKEN="tok"))
    assert readyz(gw)["storage"]["credentials"]["available"] is False  # still fetching
    r = fetch(gw, token)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert len(fake.requests) == 1


def test_failing_source_answers_503_with_the_reason(clean_stack: Stack, gateway_factory, fake_factory):
    fake = fake_factory(ecs_handler(clean_stack, "tok", fail=True))
    token, _ = seed(clean_stack, "failing")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="ecs",
                                            AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/creds",
                                            AWS_CONTAINER_AUTHORIZATION_TOKEN="tok"))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("last_error"), 15, "a failed fetch")
    t = time.monotonic()
    r = fetch(gw, token)
    assert time.monotonic() - t < 5
    assert r.status_code == 503
    assert r.json()["error"] == "storage_credentials_unavailable"
    storage = readyz(gw)["storage"]
    assert storage["ok"] is False
    assert "container credentials endpoint answered HTTP 500" in storage["reason"]
    assert storage["credentials"]["available"] is False
    # retried with backoff, not in a tight loop
    n = len(fake.requests)
    assert 1 <= n <= 4, n
    assert metric(gw, "recgw_s3_credential_refreshes_total", 'result="error"') >= 1


def test_revoked_set_that_stays_revoked_is_503_not_404(clean_stack: Stack, gateway_factory, fake_factory):
    fake = fake_factory(ecs_handler(clean_stack, "tok", bad_first=1000))
    token, _ = seed(clean_stack, "always-revoked")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="ecs",
                                            AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/creds",
                                            AWS_CONTAINER_AUTHORIZATION_TOKEN="tok"))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15, "the first set")
    r = fetch(gw, token)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "upstream_unavailable"
    assert len(fake.requests) == 2  # one forced refresh, one retry, then no more


def test_imds_source_streams(clean_stack: Stack, gateway_factory, fake_factory):
    imds_token = "imds-session-token-abc"

    def handle(method, path, headers, body):
        if method == "PUT" and path == "/latest/api/token":
            if not headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return 400, {}, "ttl required"
            return 200, {}, imds_token
        if headers.get("X-aws-ec2-metadata-token") != imds_token:
            return 401, {}, ""
        if path == "/latest/meta-data/iam/security-credentials/":
            return 200, {}, "recgw-instance-role"
        if path == "/latest/meta-data/iam/security-credentials/recgw-instance-role":
            return 200, {}, json.dumps({"Code": "Success", "Type": "AWS-HMAC", **temporary_credentials(clean_stack)})
        return 404, {}, ""

    fake = fake_factory(handle)
    token, data = seed(clean_stack, "imds")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="imds", RECGW_S3_ACCESS_KEY=None,
                                            RECGW_S3_SECRET_KEY=None,
                                            AWS_EC2_METADATA_SERVICE_ENDPOINT=fake.url + "/"))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15, "IMDS credentials")
    r = fetch(gw, token)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert [(q["method"], q["path"]) for q in fake.requests] == [
        ("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/recgw-instance-role")]
    c = readyz(gw)["storage"]["credentials"]
    assert c["source"] == "imds" and c["temporary"] is True


def sts_web_identity_handler(st: Stack, calls: List[str]):
    def handle(method, path, headers, body):
        form = urllib.parse.parse_qs(body.decode())
        if form.get("Action") != ["AssumeRoleWithWebIdentity"] or form.get("RoleArn") != [ROLE_ARN]:
            return 400, {}, "<ErrorResponse><Error><Code>InvalidParameter</Code></Error></ErrorResponse>"
        calls.append(form["WebIdentityToken"][0])
        c = temporary_credentials(st)
        xml = ("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
               f"<AccessKeyId>{c['AccessKeyId']}</AccessKeyId><SecretAccessKey>{c['SecretAccessKey']}"
               f"</SecretAccessKey><SessionToken>{c['Token']}</SessionToken><Expiration>{c['Expiration']}"
               "</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>")
        return 200, {"Content-Type": "text/xml"}, xml

    return handle


def test_web_identity_rereads_the_rotating_token(clean_stack: Stack, gateway_factory, fake_factory, tmp_path):
    calls: List[str] = []
    fake = fake_factory(sts_web_identity_handler(clean_stack, calls))
    token_file = tmp_path / "irsa-token"
    token_file.write_text("jwt-one")
    token, data = seed(clean_stack, "irsa")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="web-identity", RECGW_S3_STS_ENDPOINT=fake.url,
                                            RECGW_S3_CREDENTIALS_REFRESH_MARGIN_S="896",
                                            RECGW_S3_ROLE_DURATION_S="900",
                                            AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                                            AWS_ROLE_ARN=ROLE_ARN))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15,
             "credentials from the first AssumeRoleWithWebIdentity")
    assert fetch(gw, token).content == data
    token_file.write_text("jwt-two")  # the kubelet rotated it
    wait_for(lambda: "jwt-two" in calls, 20, "a refresh with the rotated token")
    assert calls[0] == "jwt-one"
    r = fetch(gw, token)
    assert r.status_code == 200 and r.content == data
    assert readyz(gw)["storage"]["credentials"]["source"] == "web-identity"


def test_web_identity_unreadable_token_file_is_reported(clean_stack: Stack, gateway_factory, tmp_path):
    token, _ = seed(clean_stack, "irsa-missing")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="web-identity", RECGW_S3_STS_ENDPOINT=GUARD_IMDS,
                                            AWS_WEB_IDENTITY_TOKEN_FILE=str(tmp_path / "absent"),
                                            AWS_ROLE_ARN=ROLE_ARN))
    reason = wait_for(lambda: readyz(gw)["storage"]["reason"] if "token file" in readyz(gw)["storage"]["reason"]
                      else None, 15, "the reason in /readyz")
    assert "web identity token file not readable" in reason
    assert fetch(gw, token).status_code == 503


def test_chain_picks_the_container_source_and_logs_it(clean_stack: Stack, gateway_factory, fake_factory):
    fake = fake_factory(ecs_handler(clean_stack, "chain-tok"))
    token, data = seed(clean_stack, "chain")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="chain",
                                            AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + "/creds",
                                            AWS_CONTAINER_AUTHORIZATION_TOKEN="chain-tok"))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15, "chain credentials")
    assert fetch(gw, token).content == data
    assert readyz(gw)["storage"]["credentials"]["source"] == "chain:ecs"
    assert gw.logs().count("s3 credentials source chosen") == 1


def test_env_source_with_assume_role(clean_stack: Stack, gateway_factory):
    """env keys (MinIO's root keys here) as the base of AssumeRole."""
    token, data = seed(clean_stack, "env-role")
    gw = gateway_factory(extra_env=base_env(RECGW_S3_CREDENTIALS="env", RECGW_S3_ACCESS_KEY=None,
                                            RECGW_S3_SECRET_KEY=None, RECGW_S3_ROLE_ARN=ROLE_ARN,
                                            RECGW_S3_ROLE_DURATION_S="900",
                                            AWS_ACCESS_KEY_ID=clean_stack.s3_access_key,
                                            AWS_SECRET_ACCESS_KEY=clean_stack.s3_secret_key))
    wait_for(lambda: readyz(gw)["storage"].get("credentials", {}).get("available"), 15, "credentials")
    assert fetch(gw, token).content == data
    assert readyz(gw)["storage"]["credentials"]["source"] == "env+assume-role"


# ---- 4. check-config --probe and diagnose name the source or the failure ------------------

def test_probe_names_the_source_and_the_failure(clean_stack: Stack, gateway_factory, recgw_binary, tmp_path):
    import subprocess
    from stack import gateway_env
    ok_env = gateway_env(clean_stack, free_port(), 1, base_env(RECGW_S3_ROLE_ARN=ROLE_ARN,
                                                                 RECGW_S3_ROLE_DURATION_S="900"))
    p = subprocess.run([str(recgw_binary), "check-config", "--probe", "--json"], env=ok_env, capture_output=True,
                       text=True, timeout=60)
    assert "credentials from static+assume-role" in p.stdout + p.stderr, p.stdout + p.stderr
    bad_env = gateway_env(clean_stack, free_port(), 1, base_env(
        RECGW_S3_CREDENTIALS="web-identity", RECGW_S3_STS_ENDPOINT=GUARD_IMDS,
        AWS_WEB_IDENTITY_TOKEN_FILE=str(tmp_path / "absent"), AWS_ROLE_ARN=ROLE_ARN))
    p = subprocess.run([str(recgw_binary), "check-config", "--probe", "--json"], env=bad_env, capture_output=True,
                       text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "web-identity: web identity token file not readable" in out, out
    # STS refusing: wrong root secret for AssumeRole
    denied_env = gateway_env(clean_stack, free_port(), 1, base_env(RECGW_S3_ROLE_ARN=ROLE_ARN,
                                                                     RECGW_S3_SECRET_KEY="not-the-secret"))
    p = subprocess.run([str(recgw_binary), "check-config", "--probe", "--json"], env=denied_env, capture_output=True,
                       text=True, timeout=60)
    out = p.stdout + p.stderr
    assert "static+assume-role: STS answered" in out, out
    assert "not-the-secret" not in out


def test_sighup_applies_a_new_session_token_with_its_keys(clean_stack: Stack, gateway_factory, tmp_path):
    """Rotated temporary keys in the config file: after SIGHUP the new key is signed with the
    new token (a stale token with the new key is refused by MinIO)."""
    import signal
    first, second = temporary_credentials(clean_stack), temporary_credentials(clean_stack)
    token, data = seed(clean_stack, "sighup-token")
    config = tmp_path / "recgw.toml"

    def write(c):
        config.write_text(f'[s3]\naccess_key = "{c["AccessKeyId"]}"\nsecret_key = "{c["SecretAccessKey"]}"\n'
                          f'session_token = "{c["Token"]}"\n')

    write(first)
    gw = gateway_factory(extra_env=base_env(RECGW_S3_ACCESS_KEY=None, RECGW_S3_SECRET_KEY=None),
                         args=("--config", str(config)))
    assert fetch(gw, token).content == data
    write(second)
    gw.send_signal(signal.SIGHUP)
    wait_for(lambda: gw.logs().count("config changed") >= 3, 10, "the reload")
    r = fetch(gw, token)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert_no_secrets(gw, first["SecretAccessKey"], first["Token"], second["SecretAccessKey"], second["Token"])
