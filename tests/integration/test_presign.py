"""Presigned URLs, tokens and the compatible signed-URL APIs (issue 5),
against real MinIO, FerretDB and Redis.

    recgw presign / mint-token / extract-key          the CLI
    POST /v1/call-recording/signed-url                 compatible shape, Bearer JWT
    GET  /api/v1/sessions/{id}/recording               X-Account-ID, 5-minute URL
    POST /api/v1/admin/recordings/{session_id}/token   mint or rotate the public token
    GET  /openapi.json                                  validated with openapi-spec-validator

Every URL the gateway or the CLI signs is fetched from MinIO itself: a wrong signature
or a wrong canonical form would be refused there, not merely differ from a string.
boto3's presigner (botocore's S3SigV4QueryAuth, with its clock frozen) is the
reference for the byte-exact comparison.

Set RECGW_SLOW_TESTS=1 to also wait out the 5-minute URL of the session route.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Dict, Optional
from unittest import mock

import pytest
import requests

from fakes import fleet_factory  # noqa: F401 — fixture used by name
from stack import REPO, Stack, free_port
from helpers import hs256_jwt

pytestmark = pytest.mark.timeout(240)

JWT_SECRET = "presign-test-secret-0123456789abcdef"
FLEET_SECRET = "presign-fleet-secret"
PUBLIC = "/api/v1/public/recordings/"
COMPAT = "/v1/call-recording/signed-url"
NO_S3 = {k: None for k in ("RECGW_S3_ENDPOINT", "RECGW_S3_ACCESS_KEY", "RECGW_S3_SECRET_KEY",
                           "RECGW_S3_BUCKET", "RECGW_S3_REGION")}
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
FIXED_AT = "2013-05-24T00:00:00Z"
FIXED_DT = dt.datetime(2013, 5, 24, 0, 0, 0)

# Keys that trip naive encoders: each is presigned by recgw and compared with boto3's
# presigner, and (except the "//" ones MinIO cannot store, see MINIO_UNSTORABLE) uploaded
# with boto3 and fetched from MinIO through recgw's URL.
AWKWARD_KEYS = [
    "plain/recording.ogg",
    "with space/a b  c.ogg",
    "plus+sign+.mp3",
    "equals=and&amp.wav",
    "brackets[0]{1}(2).ogg",
    "ünïcødé/日本語/запись.opus",
    "tilde~and-dash_dot.m4a",
    "double//slash/x.ogg",
    "trailing//",
    "percent%20already%2Fencoded.ogg",
    "quote's \"dq\" !*.webm",
    "semi;colon:comma,at@dollar$.flac",
    "hash#and?question.ogg",
    "caret^backtick`pipe|.ogg",
    "emoji 🎙️ recording.ogg",
]


# ---- helpers ---------------------------------------------------------------------------

def make_jwt(claims: dict, secret: str = JWT_SECRET) -> str:
    return hs256_jwt(claims, secret, compact=True)


def bearer(role: Optional[str] = "admin", account: Optional[str] = None, secret: str = JWT_SECRET,
           exp_in: int = 3600) -> Dict[str, str]:
    now = int(time.time())
    claims = {"sub": "presign-test", "iat": now, "exp": now + exp_in}
    if role is not None:
        claims["role"] = role
    if account is not None:
        claims["account_id"] = account
    return {"Authorization": "Bearer " + make_jwt(claims, secret)}


def admin() -> Dict[str, str]:
    return bearer("admin")


def tenant(account: str) -> Dict[str, str]:
    return bearer("viewer", account)


def run_recgw(binary: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=30)


def presign_cli(binary: Path, st: Stack, key: str, *extra: str, bucket: Optional[str] = None) -> str:
    p = run_recgw(binary, "presign", "--endpoint", st.s3_endpoint, "--bucket", bucket or st.bucket,
                  "--key", key, "--access-key", st.s3_access_key, "--secret-key", st.s3_secret_key,
                  "--region", st.region, *extra)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    return lines[0]


def query(url: str) -> Dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def amz_date(url: str) -> dt.datetime:
    return dt.datetime.strptime(query(url)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def fetch(url: str, **kw) -> requests.Response:
    # requests keeps the path as given (no re-quoting of %XX, no collapsing of //)
    return requests.get(url, timeout=10, **kw)


def tamper_signature(url: str) -> str:
    m = re.search(r"X-Amz-Signature=([0-9a-f]{64})", url)
    assert m, url
    sig = m.group(1)
    i = len(sig) // 2
    flipped = sig[:i] + ("0" if sig[i] != "0" else "1") + sig[i + 1:]
    assert flipped != sig
    return url[:m.start(1)] + flipped + url[m.end(1):]


def parse_rfc3339(text: str) -> dt.datetime:
    assert RFC3339_UTC.match(text), f"not RFC 3339 UTC: {text!r}"
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def assert_error(r: requests.Response, status: int, code: Optional[str] = None) -> dict:
    assert r.status_code == status, f"{r.status_code} != {status}: {r.text}"
    assert r.headers.get("X-Request-Id")
    body = r.json()
    assert set(body) >= {"error", "message"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["error"] == code, body
    return body


def assert_string_error(r: requests.Response, status: int) -> str:
    """The session route's API documents its error bodies as JSON strings."""
    assert r.status_code == status, f"{r.status_code} != {status}: {r.text}"
    assert r.headers.get("X-Request-Id")
    body = r.json()
    assert isinstance(body, str) and body, r.text
    return body


def assert_422(r: requests.Response, loc_field: Optional[str]) -> dict:
    assert r.status_code == 422, f"{r.status_code}: {r.text}"
    body = r.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], list) and body["detail"], body
    for item in body["detail"]:
        assert set(item) >= {"loc", "msg", "type"}, item
        assert isinstance(item["loc"], list) and item["loc"][0] == "body", item
        assert isinstance(item["msg"], str) and item["msg"]
        assert isinstance(item["type"], str) and item["type"]
    if loc_field is not None:
        assert any(item["loc"][-1] == loc_field for item in body["detail"]), body
    return body


def seed(st: Stack, session_id: str, key: str, data: Optional[bytes], *, token: Optional[str] = None,
         account: str = "acct-a", status: Optional[str] = None, content_type: str = "audio/ogg") -> dict:
    if data is not None:
        st.put_object(key, data, content_type)
    return st.insert_call(session_id, token=token, key=key, status=status, account_id=account)


def payload(n: int, salt: str) -> bytes:
    block = hashlib.sha256(salt.encode()).digest()
    return (block * (n // len(block) + 1))[:n]


def start(gateway_factory, workers: int = 1, **env) -> "object":
    """A gateway with the test JWT secret and its public base URL pointing at itself."""
    port = free_port()
    extra = {"RECGW_JWT_HS256_SECRET": JWT_SECRET,
             "RECGW_SERVER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    extra.update(env)
    return gateway_factory(extra_env=extra, port=port, workers=workers)


def compat(gw, body, headers=None, raw: Optional[bytes] = None) -> requests.Response:
    h = admin() if headers is None else headers
    if raw is not None:
        return requests.post(gw.url + COMPAT, data=raw, headers={**h, "Content-Type": "application/json"},
                             timeout=15)
    return requests.post(gw.url + COMPAT, json=body, headers=h, timeout=15)


def session_url(gw, session_id: str, account: Optional[str], headers: Optional[dict] = None):
    h = dict(headers if headers is not None else tenant(account or "acct-a"))
    if account is not None:
        h["X-Account-ID"] = account
    return requests.get(f"{gw.url}/api/v1/sessions/{urllib.parse.quote(session_id, safe='')}/recording",
                        headers=h, timeout=15)


# ---- 1. CLI: presign against real MinIO --------------------------------------------------

def test_cli_presigned_url_fetches_identical_bytes(clean_stack: Stack, recgw_binary):
    data = payload(300_000, "cli")
    clean_stack.put_object("cli/rec.ogg", data, "audio/ogg")
    url = presign_cli(recgw_binary, clean_stack, "cli/rec.ogg", "--expires", "300")
    q = query(url)
    assert url.startswith(f"{clean_stack.s3_endpoint}/{clean_stack.bucket}/cli/rec.ogg?")  # path style
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Expires"] == "300"
    assert q["X-Amz-SignedHeaders"] == "host"
    assert q["X-Amz-Credential"].startswith(clean_stack.s3_access_key + "/")
    assert abs((amz_date(url) - now_utc()).total_seconds()) < 60
    r = fetch(url)
    assert r.status_code == 200, r.text
    assert r.content == data


def test_cli_presigned_url_is_refused_after_expiry(clean_stack: Stack, recgw_binary):
    data = payload(10_000, "expiry")
    clean_stack.put_object("cli/expiring.ogg", data)
    one = presign_cli(recgw_binary, clean_stack, "cli/expiring.ogg", "--expires", "1")
    three = presign_cli(recgw_binary, clean_stack, "cli/expiring.ogg", "--expires", "3")
    assert query(one)["X-Amz-Expires"] == "1"
    # the 3-second URL works now and stops working once its time is up
    r = fetch(three)
    assert r.status_code == 200 and r.content == data, r.text
    signed_at = amz_date(one)
    deadline = time.monotonic() + 20
    while now_utc() <= signed_at + dt.timedelta(seconds=1.2):
        time.sleep(0.05)
    r = fetch(one)
    assert r.status_code == 403, r.text
    assert "expired" in r.text.lower(), r.text
    while True:
        r = fetch(three)
        if r.status_code == 403:
            break
        assert r.status_code == 200, r.text
        assert time.monotonic() < deadline, "the 3-second URL still works 20 s later"
        time.sleep(0.2)
    assert now_utc() > amz_date(three) + dt.timedelta(seconds=3), "refused before it expired"
    assert "expired" in r.text.lower(), r.text


def test_cli_presigned_url_with_a_changed_signature_is_refused(clean_stack: Stack, recgw_binary):
    clean_stack.put_object("cli/tamper.ogg", b"x" * 1000)
    url = presign_cli(recgw_binary, clean_stack, "cli/tamper.ogg", "--expires", "300")
    assert fetch(url).status_code == 200
    r = fetch(tamper_signature(url))
    assert r.status_code == 403, r.text
    assert "SignatureDoesNotMatch" in r.text, r.text
    # a signature for another key does not open this one either
    other = presign_cli(recgw_binary, clean_stack, "cli/other.ogg", "--expires", "300")
    forged = url.split("?")[0] + "?" + other.split("?")[1]
    assert fetch(forged).status_code == 403


# MinIO cannot store a key with an empty path segment ("a//b": XMinioInvalidObjectName, for
# boto3's upload too). For those the URL is still checked at MinIO: a good signature gets
# past authentication to that 400, a changed one is refused with 403 SignatureDoesNotMatch.
MINIO_UNSTORABLE = {k for k in AWKWARD_KEYS if "//" in k}


@pytest.mark.parametrize("key", sorted(MINIO_UNSTORABLE))
def test_cli_presigned_url_for_key_minio_cannot_store_passes_authentication(clean_stack: Stack,
                                                                             recgw_binary, key):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="XMinioInvalidObjectName"):
        clean_stack.s3.put_object(Bucket=clean_stack.bucket, Key=key, Body=b"x")
    url = presign_cli(recgw_binary, clean_stack, key, "--expires", "120")
    assert "//" in urllib.parse.urlsplit(url).path
    r = fetch(url)
    assert r.status_code == 400 and "XMinioInvalidObjectName" in r.text, r.text
    r = fetch(tamper_signature(url))
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text, r.text


@pytest.mark.parametrize("key", [k for k in AWKWARD_KEYS if k not in MINIO_UNSTORABLE])
def test_cli_presigned_url_for_awkward_key_fetches_from_minio(clean_stack: Stack, recgw_binary, key):
    data = payload(4096, key)
    clean_stack.s3.put_object(Bucket=clean_stack.bucket, Key=key, Body=data)
    # boto3 reads it back under the same key (so the key really is what we think)
    assert clean_stack.s3.get_object(Bucket=clean_stack.bucket, Key=key)["Body"].read() == data
    url = presign_cli(recgw_binary, clean_stack, key, "--expires", "120")
    r = fetch(url)
    assert r.status_code == 200, f"{url}\n{r.text}"
    assert r.content == data
    # and the key comes back out of the URL
    p = run_recgw(recgw_binary, "extract-key", url, "--bucket", clean_stack.bucket)
    assert p.returncode == 0, p.stderr
    assert p.stdout.rstrip("\n") == key


def test_cli_presign_at_is_reproducible(clean_stack: Stack, recgw_binary):
    a = presign_cli(recgw_binary, clean_stack, "same/key.ogg", "--at", FIXED_AT, "--expires", "600")
    b = presign_cli(recgw_binary, clean_stack, "same/key.ogg", "--at", FIXED_AT, "--expires", "600")
    assert a == b
    assert query(a)["X-Amz-Date"] == "20130524T000000Z"
    assert query(a)["X-Amz-Credential"].endswith(f"/20130524/{clean_stack.region}/s3/aws4_request")
    c = presign_cli(recgw_binary, clean_stack, "same/key.ogg", "--at", "2013-05-24T00:00:01Z", "--expires", "600")
    assert query(c)["X-Amz-Signature"] != query(a)["X-Amz-Signature"]


# ---- 2. byte-exact agreement with boto3's presigner --------------------------------------

def boto3_presign(endpoint: str, region: str, access: str, secret: str, bucket: str, key: str,
                  expires: int, style: str, session_token: Optional[str] = None) -> str:
    """boto3's own generate_presigned_url, with botocore's signing clock frozen at FIXED_DT."""
    import boto3
    import botocore.auth
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access,
                          aws_secret_access_key=secret, aws_session_token=session_token,
                          config=Config(s3={"addressing_style": style}, signature_version="s3v4"))
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=FIXED_DT):
        return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                             ExpiresIn=expires)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_presign_matches_boto3_for_minio_path_style(stack: Stack, recgw_binary, key):
    ours = presign_cli(recgw_binary, stack, key, "--at", FIXED_AT, "--expires", "3600", "--addressing", "path")
    theirs = boto3_presign(stack.s3_endpoint, stack.region, stack.s3_access_key, stack.s3_secret_key,
                           stack.bucket, key, 3600, "path")
    assert query(ours)["X-Amz-Signature"] == query(theirs)["X-Amz-Signature"], f"\nrecgw {ours}\nboto3 {theirs}"
    assert ours == theirs  # the whole URL, byte for byte


@pytest.mark.parametrize("endpoint,region,style,cli_region", [
    ("https://s3.eu-west-2.amazonaws.com", "eu-west-2", "virtual", None),
    ("https://s3.amazonaws.com", "us-east-1", "virtual", None),
    ("https://nyc3.digitaloceanspaces.com", "nyc3", "virtual", None),
    ("https://minio.example.com:9443", "eu-central-1", "path", "eu-central-1"),
])
@pytest.mark.parametrize("key", ["with space/a b.ogg", "ünïcødé/日本語.opus", "double//slash+eq=&.ogg"])
def test_presign_matches_boto3_for_provider_endpoints(recgw_binary, endpoint, region, style, cli_region, key):
    access, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    args = ["presign", "--endpoint", endpoint, "--bucket", "recordings-bucket", "--key", key,
            "--access-key", access, "--secret-key", secret, "--expires", "86400", "--at", FIXED_AT]
    if cli_region:
        args += ["--region", cli_region]
    p = run_recgw(recgw_binary, *args)  # addressing auto: virtual for AWS and Spaces, path otherwise
    assert p.returncode == 0, p.stderr
    ours = p.stdout.strip()
    theirs = boto3_presign(endpoint, region, access, secret, "recordings-bucket", key, 86400, style)
    assert ours == theirs, f"\nrecgw {ours}\nboto3 {theirs}"


# Temporary credentials: the session token is signed into the query, where boto3 puts it.
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token=="


@pytest.mark.parametrize("endpoint,region,style,cli_region", [
    ("https://s3.eu-west-2.amazonaws.com", "eu-west-2", "virtual", None),
    ("https://nyc3.digitaloceanspaces.com", "nyc3", "virtual", None),
    ("https://minio.example.com:9443", "eu-central-1", "path", "eu-central-1"),
])
@pytest.mark.parametrize("key", ["with space/a b.ogg", "ünïcødé/日本語.opus"])
def test_presign_with_session_token_matches_boto3(recgw_binary, endpoint, region, style, cli_region, key):
    access, secret = "ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    args = ["presign", "--endpoint", endpoint, "--bucket", "recordings-bucket", "--key", key,
            "--access-key", access, "--secret-key", secret, "--session-token", SESSION_TOKEN,
            "--expires", "3600", "--at", FIXED_AT]
    if cli_region:
        args += ["--region", cli_region]
    p = run_recgw(recgw_binary, *args)
    assert p.returncode == 0, p.stderr
    ours = p.stdout.strip()
    theirs = boto3_presign(endpoint, region, access, secret, "recordings-bucket", key, 3600, style,
                           session_token=SESSION_TOKEN)
    assert query(ours)["X-Amz-Security-Token"] == SESSION_TOKEN
    assert ours == theirs, f"\nrecgw {ours}\nboto3 {theirs}"


def test_cli_presigned_url_with_minio_temporary_credentials(clean_stack: Stack, recgw_binary):
    """Real temporary credentials from MinIO's STS: the URL with the token is accepted, the
    same URL signed without it is refused (so the token is what makes it work)."""
    import boto3
    data = payload(4096, "temporary")
    clean_stack.put_object("tmp/creds.ogg", data, "audio/ogg")
    sts = boto3.client("sts", endpoint_url=clean_stack.s3_endpoint, region_name=clean_stack.region,
                       aws_access_key_id=clean_stack.s3_access_key,
                       aws_secret_access_key=clean_stack.s3_secret_key)
    c = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/recgw-test", RoleSessionName="presign-test",
                        DurationSeconds=900)["Credentials"]
    base = ["presign", "--endpoint", clean_stack.s3_endpoint, "--bucket", clean_stack.bucket,
            "--key", "tmp/creds.ogg", "--access-key", c["AccessKeyId"], "--secret-key", c["SecretAccessKey"],
            "--region", clean_stack.region, "--addressing", "path", "--expires", "300"]
    with_token = run_recgw(recgw_binary, *base, "--session-token", c["SessionToken"])
    assert with_token.returncode == 0, with_token.stderr
    f = fetch(with_token.stdout.strip())
    assert f.status_code == 200, f.text
    assert f.content == data
    without = run_recgw(recgw_binary, *base)
    assert fetch(without.stdout.strip()).status_code == 403


# ---- 3. CLI: mint-token, extract-key, errors -----------------------------------------------

def test_cli_mint_token_is_43_char_base64url_and_fresh_each_time(recgw_binary):
    tokens = set()
    for _ in range(20):
        p = run_recgw(recgw_binary, "mint-token")
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert len(lines) == 1
        assert TOKEN_RE.match(lines[0]), lines[0]
        assert len(base64.urlsafe_b64decode(lines[0] + "=")) == 32
        tokens.add(lines[0])
    assert len(tokens) == 20


@pytest.mark.parametrize("url,bucket,key", [
    ("https://my-bucket.nyc3.digitaloceanspaces.com/recordings/2024/call%20one.ogg", None,
     "recordings/2024/call one.ogg"),
    ("https://my-bucket.nyc3.cdn.digitaloceanspaces.com/a/b%2Bc.mp3", None, "a/b+c.mp3"),
    ("http://127.0.0.1:9000/recordings/calls/x%C3%BC.ogg", "recordings", "calls/xü.ogg"),
    ("http://minio.internal:9000/recordings/calls/2024/05/a.wav", "recordings", "calls/2024/05/a.wav"),
    ("https://s3.eu-west-2.amazonaws.com/my-bucket/k/e%20y.ogg", None, "k/e y.ogg"),
    ("https://my-bucket.s3.eu-west-2.amazonaws.com/k/e%20y.ogg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
     "&X-Amz-Credential=A%2F20240101%2Feu-west-2%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z"
     "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64, None, "k/e y.ogg"),
])
def test_cli_extract_key(recgw_binary, url, bucket, key):
    args = ["extract-key", url] + (["--bucket", bucket] if bucket else [])
    p = run_recgw(recgw_binary, *args)
    assert p.returncode == 0, p.stderr
    assert p.stdout == key + "\n"


def test_cli_extract_key_from_a_recgw_presigned_spaces_url(recgw_binary):
    p = run_recgw(recgw_binary, "presign", "--endpoint", "https://nyc3.digitaloceanspaces.com", "--bucket", "bkt",
                  "--key", "calls/2024/a b+c.ogg", "--access-key", "A", "--secret-key", "S")
    assert p.returncode == 0, p.stderr
    url = p.stdout.strip()
    assert url.startswith("https://bkt.nyc3.digitaloceanspaces.com/calls/2024/a%20b%2Bc.ogg?X-Amz-")
    q = run_recgw(recgw_binary, "extract-key", url)
    assert q.returncode == 0, q.stderr
    assert q.stdout == "calls/2024/a b+c.ogg\n"


def assert_one_line_exit_2(p: subprocess.CompletedProcess):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr


@pytest.mark.parametrize("args", [
    ["extract-key", "not a url"],
    ["extract-key", "https://my-bucket.nyc3.digitaloceanspaces.com/"],
    ["extract-key", "http://127.0.0.1:9000/recordings", "--bucket", "recordings"],
    ["extract-key", "http://127.0.0.1:9000/bad%zzencoding.ogg"],
    ["extract-key"],
    ["presign", "--endpoint", "http://127.0.0.1:9000", "--bucket", "b", "--key", "k"],
    ["presign", "--endpoint", "http://127.0.0.1:9000", "--bucket", "b", "--key", "k", "--access-key", "A",
     "--secret-key", "S", "--expires", "604801"],
    ["presign", "--endpoint", "http://127.0.0.1:9000", "--bucket", "b", "--key", "k", "--access-key", "A",
     "--secret-key", "S", "--expires", "0"],
    ["presign", "--endpoint", "http://127.0.0.1:9000", "--bucket", "b", "--key", "k", "--access-key", "A",
     "--secret-key", "S", "--at", "yesterday"],
    ["presign", "--endpoint", "http://127.0.0.1:9000", "--bucket", "b", "--key", "k", "--access-key", "A",
     "--secret-key", "S", "--addressing", "sideways"],
    ["mint-token", "extra"],
])
def test_cli_errors_are_one_line_and_exit_2(recgw_binary, args):
    assert_one_line_exit_2(run_recgw(recgw_binary, *args))


# ---- 4. POST /v1/call-recording/signed-url ------------------------------------------------

def test_compat_signed_url_shape_and_fetch(clean_stack: Stack, gateway_factory):
    data = payload(200_000, "compat")
    seed(clean_stack, "sess-compat", "calls/2024/compat rec+1.ogg", data, token="tok-compat-1")
    gw = start(gateway_factory)
    before = now_utc()
    r = compat(gw, {"call_id": "sess-compat", "expiration_url_in_minutes": 15})
    after = now_utc()
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"file_name", "signed_url", "expiration_minutes", "expires_at", "url_kind"}, body
    assert body["file_name"] == "compat rec+1.ogg"
    assert body["expiration_minutes"] == 15
    assert body["url_kind"] == "storage_presigned"
    expires_at = parse_rfc3339(body["expires_at"])
    assert before + dt.timedelta(minutes=15, seconds=-2) <= expires_at <= after + dt.timedelta(minutes=15, seconds=2)
    q = query(body["signed_url"])
    assert q["X-Amz-Expires"] == str(15 * 60)
    assert abs((amz_date(body["signed_url"]) + dt.timedelta(minutes=15) - expires_at).total_seconds()) <= 1
    f = fetch(body["signed_url"])
    assert f.status_code == 200, f.text
    assert f.content == data
    assert fetch(tamper_signature(body["signed_url"])).status_code == 403

    # default expiry 10 minutes; a tenant token for the call's own account works too
    r = compat(gw, {"call_id": "sess-compat"}, headers=tenant("acct-a"))
    assert r.status_code == 200, r.text
    assert r.json()["expiration_minutes"] == 10
    assert fetch(r.json()["signed_url"]).content == data
    # the maximum, 7 days
    r = compat(gw, {"call_id": "sess-compat", "expiration_url_in_minutes": 10080})
    assert r.status_code == 200, r.text
    assert query(r.json()["signed_url"])["X-Amz-Expires"] == "604800"


def test_compat_signed_url_expires_at_minio(clean_stack: Stack, gateway_factory):
    """The shortest URL the route makes (1 minute) is refused by MinIO once it has expired."""
    data = payload(5000, "compat-expiry")
    seed(clean_stack, "sess-compat-exp", "calls/exp.ogg", data)
    gw = start(gateway_factory)
    r = compat(gw, {"call_id": "sess-compat-exp", "expiration_url_in_minutes": 1})
    assert r.status_code == 200, r.text
    url = r.json()["signed_url"]
    assert fetch(url).status_code == 200
    signed_at = amz_date(url)
    while now_utc() <= signed_at + dt.timedelta(seconds=61):
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while True:
        f = fetch(url)
        if f.status_code == 403:
            break
        assert f.status_code == 200 and time.monotonic() < deadline, f.text
        time.sleep(0.2)
    assert "expired" in f.text.lower(), f.text


def test_compat_signed_url_401_without_or_with_bad_token(clean_stack: Stack, gateway_factory):
    seed(clean_stack, "sess-401", "calls/401.ogg", b"abc")
    gw = start(gateway_factory)
    body = {"call_id": "sess-401"}
    r = requests.post(gw.url + COMPAT, json=body, timeout=10)
    assert_error(r, 401, "unauthorized")
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    for headers in (bearer(secret="not-the-secret"), bearer(exp_in=-3600), {"Authorization": "Bearer x.y.z"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        assert_error(compat(gw, body, headers=headers), 401, "unauthorized")


def test_compat_signed_url_404(clean_stack: Stack, gateway_factory):
    seed(clean_stack, "sess-other-acct", "calls/other.ogg", b"abc", account="acct-a")
    clean_stack.insert_call("sess-nokey", account_id="acct-a")
    gw = start(gateway_factory)
    assert_error(compat(gw, {"call_id": "no-such-call"}), 404, "not_found")
    # another account's call is invisible to a tenant token
    assert_error(compat(gw, {"call_id": "sess-other-acct"}, headers=tenant("acct-b")), 404, "not_found")
    assert_error(compat(gw, {"call_id": "sess-other-acct"}, headers=bearer("viewer")), 404, "not_found")
    # a call without a derivable key
    assert_error(compat(gw, {"call_id": "sess-nokey"}), 404)
    # the key is known but the object is nowhere, and there is no public token to fall back on
    seed(clean_stack, "sess-missing", "calls/missing.ogg", None)
    assert_error(compat(gw, {"call_id": "sess-missing"}), 404, "not_found")


@pytest.mark.parametrize("raw,loc", [
    (b'{}', "call_id"),
    (b'{"expiration_url_in_minutes": 5}', "call_id"),
    (b'{"call_id": 123}', "call_id"),
    (b'{"call_id": null}', "call_id"),
    (b'{"call_id": ["a"]}', "call_id"),
    (b'{"call_id": "sess-422", "expiration_url_in_minutes": "ten"}', "expiration_url_in_minutes"),
    (b'{"call_id": "sess-422", "expiration_url_in_minutes": 1.5}', "expiration_url_in_minutes"),
    (b'{"call_id": "sess-422", "expiration_url_in_minutes": 0}', "expiration_url_in_minutes"),
    (b'{"call_id": "sess-422", "expiration_url_in_minutes": 10081}', "expiration_url_in_minutes"),
    (b'not json at all', None),
    (b'[1, 2, 3]', None),
    (b'"call_id"', None),
    (b'', None),
])
def test_compat_signed_url_422_detail_shape(clean_stack: Stack, gateway_factory, raw, loc):
    seed(clean_stack, "sess-422", "calls/422.ogg", b"abc")
    gw = start(gateway_factory)
    assert_422(compat(gw, None, raw=raw), loc)


def test_compat_signed_url_gateway_link_when_object_only_on_fleet(clean_stack: Stack, gateway_factory,
                                                                   fleet_factory):
    data = payload(50_000, "fleet-only")
    key = "calls/fleet only.ogg"
    host = fleet_factory({key: data}, secret=FLEET_SECRET)
    seed(clean_stack, "sess-fleet", key, None, token="tok-fleet-only-1")
    seed(clean_stack, "sess-fleet-notoken", "calls/fleet-nt.ogg", None)
    host.put("calls/fleet-nt.ogg", b"no token")
    gw = start(gateway_factory, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET)
    r = compat(gw, {"call_id": "sess-fleet", "expiration_url_in_minutes": 20})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url_kind"] == "gateway_public_link"
    assert body["signed_url"] == f"{gw.url}{PUBLIC}tok-fleet-only-1"
    assert body["file_name"] == "fleet only.ogg"
    assert body["expiration_minutes"] == 20
    assert abs((parse_rfc3339(body["expires_at"]) - now_utc() - dt.timedelta(minutes=20)).total_seconds()) < 5
    f = fetch(body["signed_url"])
    assert f.status_code == 200, f.text
    assert f.content == data
    # no public token to hand out → 404, never a storage URL that would 404
    assert_error(compat(gw, {"call_id": "sess-fleet-notoken"}), 404, "not_found")
    # the session route makes the same choice
    r = session_url(gw, "sess-fleet", "acct-a")
    assert r.status_code == 200, r.text
    assert r.json()["url"] == f"{gw.url}{PUBLIC}tok-fleet-only-1"
    assert r.json()["url_kind"] == "gateway_public_link"
    assert_string_error(session_url(gw, "sess-fleet-notoken", "acct-a"), 404)


def test_signed_url_routes_404_when_object_is_nowhere_even_with_a_token(clean_stack: Stack, gateway_factory):
    seed(clean_stack, "sess-nowhere", "calls/nowhere.ogg", None, token="tok-nowhere-1", account="acct-a")
    gw = start(gateway_factory)  # storage configured, no fleet hosts
    assert "RECGW_FLEET_URLS" not in gw.env
    assert fetch(gw.url + PUBLIC + "tok-nowhere-1").status_code == 404  # where the link would lead
    r = compat(gw, {"call_id": "sess-nowhere"})
    assert r.status_code == 404, f"{r.status_code} {r.text}"
    r = session_url(gw, "sess-nowhere", "acct-a")
    assert r.status_code == 404, f"{r.status_code} {r.text}"


def test_compat_signed_url_without_storage(clean_stack: Stack, gateway_factory, fleet_factory):
    data = payload(20_000, "no-storage")
    seed(clean_stack, "sess-nos3", "calls/nos3.ogg", None, token="tok-nos3-1")
    # storage not configured, no fleet → 503
    gw = start(gateway_factory, **NO_S3)
    assert "RECGW_S3_ENDPOINT" not in gw.env
    assert_error(compat(gw, {"call_id": "sess-nos3"}), 503, "storage_not_configured")
    assert_string_error(session_url(gw, "sess-nos3", "acct-a"), 503)
    # the endpoint alone set to empty counts as not configured too
    gw2 = start(gateway_factory, RECGW_S3_ENDPOINT="")
    assert_error(compat(gw2, {"call_id": "sess-nos3"}), 503, "storage_not_configured")
    # storage not configured but a fleet host is: the gateway's own link, which streams
    host = fleet_factory({"calls/nos3.ogg": data}, secret=FLEET_SECRET)
    gw3 = start(gateway_factory, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET, **NO_S3)
    r = compat(gw3, {"call_id": "sess-nos3"})
    assert r.status_code == 200, r.text
    assert r.json()["url_kind"] == "gateway_public_link"
    assert fetch(r.json()["signed_url"]).content == data


def test_compat_signed_url_503_when_mongo_is_down(clean_stack: Stack, gateway_factory):
    seed(clean_stack, "sess-mongo-down", "calls/md.ogg", b"abc")
    gw = start(gateway_factory, RECGW_MONGO_TIMEOUT_MS="500")
    clean_stack.stop_service("ferretdb")
    try:
        r = compat(gw, {"call_id": "sess-mongo-down"})
        assert_error(r, 503, "lookup_unavailable")
        assert r.headers.get("Retry-After")
        # the session route documents 500 for the same failure
        assert_string_error(session_url(gw, "sess-mongo-down", "acct-a"), 500)
    finally:
        clean_stack.start_service("ferretdb")


# ---- 5. GET /api/v1/sessions/{id}/recording ------------------------------------------------

def test_session_recording_url_shape_and_fetch(clean_stack: Stack, gateway_factory):
    data = payload(120_000, "session")
    seed(clean_stack, "sess-ok", "calls/2024/sess ok+.ogg", data, account="acct-a")
    gw = start(gateway_factory)
    before = now_utc()
    r = session_url(gw, "sess-ok", "acct-a")
    after = now_utc()
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"url", "expires_at", "expires_in"}, body
    assert set(body) <= {"url", "expires_at", "expires_in", "url_kind"}, body
    assert body["expires_in"] == 300
    assert body.get("url_kind", "storage_presigned") == "storage_presigned"
    expires_at = parse_rfc3339(body["expires_at"])
    assert before + dt.timedelta(seconds=298) <= expires_at <= after + dt.timedelta(seconds=302)
    assert query(body["url"])["X-Amz-Expires"] == "300"
    f = fetch(body["url"])
    assert f.status_code == 200, f.text
    assert f.content == data
    assert fetch(tamper_signature(body["url"])).status_code == 403
    # an admin token may name any account, and still sees only that account's calls
    r = session_url(gw, "sess-ok", "acct-a", headers=admin())
    assert r.status_code == 200, r.text
    assert fetch(r.json()["url"]).content == data
    assert_string_error(session_url(gw, "sess-ok", "acct-b", headers=admin()), 404)


@pytest.mark.skipif(os.environ.get("RECGW_SLOW_TESTS") != "1", reason="waits 5 minutes (RECGW_SLOW_TESTS=1)")
@pytest.mark.timeout(420)
def test_session_recording_url_expires_at_minio(clean_stack: Stack, gateway_factory):
    seed(clean_stack, "sess-exp", "calls/sess-exp.ogg", b"expire me", account="acct-a")
    gw = start(gateway_factory)
    url = session_url(gw, "sess-exp", "acct-a").json()["url"]
    assert fetch(url).status_code == 200
    while now_utc() <= amz_date(url) + dt.timedelta(seconds=301):
        time.sleep(1)
    f = fetch(url)
    assert f.status_code == 403 and "expired" in f.text.lower(), f.text


def test_session_recording_status_codes(clean_stack: Stack, gateway_factory):
    seed(clean_stack, "sess-a", "calls/a.ogg", b"a-bytes", account="acct-a")
    seed(clean_stack, "sess-b", "calls/b.ogg", b"b-bytes", account="acct-b")
    seed(clean_stack, "sess-uploading", "calls/up.ogg", None, account="acct-a", status="uploading")
    seed(clean_stack, "sess-pending", "calls/pend.ogg", None, account="acct-a", status="pending")
    seed(clean_stack, "sess-uploading-present", "calls/up2.ogg", b"already there", account="acct-a",
         status="uploading")
    seed(clean_stack, "sess-ready", "calls/ready.ogg", b"ready", account="acct-a", status="ready")
    seed(clean_stack, "sess-gone", "calls/gone.ogg", None, account="acct-a")
    clean_stack.insert_call("sess-nokey", account_id="acct-a")
    gw = start(gateway_factory)

    # 400: the header is required (even before auth is looked at)
    r = requests.get(f"{gw.url}/api/v1/sessions/sess-a/recording", headers=tenant("acct-a"), timeout=10)
    assert "X-Account-ID" in assert_string_error(r, 400)
    r = requests.get(f"{gw.url}/api/v1/sessions/sess-a/recording",
                     headers={**tenant("acct-a"), "X-Account-ID": ""}, timeout=10)
    assert_string_error(r, 400)
    # 401: no token / bad token
    r = requests.get(f"{gw.url}/api/v1/sessions/sess-a/recording", headers={"X-Account-ID": "acct-a"}, timeout=10)
    assert_string_error(r, 401)
    assert_string_error(session_url(gw, "sess-a", "acct-a", headers=bearer("viewer", "acct-a", secret="wrong")), 401)
    # the header names another account than the (non-admin) token: refused like a missing
    # recording (404; the API documents no 403), so nothing about the other account leaks
    assert_string_error(session_url(gw, "sess-a", "acct-b", headers=tenant("acct-a")), 404)
    assert_string_error(session_url(gw, "sess-a", "acct-a", headers=bearer("viewer")), 404)
    # 404: unknown call, another account's call, no key, object nowhere
    assert_string_error(session_url(gw, "no-such-session", "acct-a"), 404)
    assert_string_error(session_url(gw, "sess-b", "acct-a"), 404)
    assert_string_error(session_url(gw, "sess-a", "acct-b", headers=tenant("acct-b")), 404)
    assert_string_error(session_url(gw, "sess-nokey", "acct-a"), 404)
    assert_string_error(session_url(gw, "sess-gone", "acct-a"), 404)
    # 409: not uploaded yet, whatever storage holds
    for sid, status in (("sess-uploading", "uploading"), ("sess-pending", "pending"),
                        ("sess-uploading-present", "uploading")):
        assert status in assert_string_error(session_url(gw, sid, "acct-a"), 409)
    # 409 only for the owner: another account still gets 404
    assert_string_error(session_url(gw, "sess-uploading", "acct-b", headers=tenant("acct-b")), 404)
    # 200 for the account's own ready call
    for sid, data in (("sess-a", b"a-bytes"), ("sess-ready", b"ready")):
        r = session_url(gw, sid, "acct-a")
        assert r.status_code == 200, r.text
        assert fetch(r.json()["url"]).content == data
    r = session_url(gw, "sess-b", "acct-b", headers=tenant("acct-b"))
    assert r.status_code == 200 and fetch(r.json()["url"]).content == b"b-bytes"


# ---- 6. POST /api/v1/admin/recordings/{session_id}/token -----------------------------------

def worker_pids(gw) -> set:
    """The worker processes of a gateway (children of the supervisor)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == gw.pid:
            pids.add(int(entry))
    return pids


def socket_owner(server_port: int, client_port: int, pids: set) -> Optional[int]:
    """Which of `pids` holds the server side of the TCP connection 127.0.0.1:client_port → server_port."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local_port = int(cols[1].rsplit(":", 1)[1], 16)
            remote_port = int(cols[2].rsplit(":", 1)[1], 16)
            if local_port == server_port and remote_port == client_port and cols[9] != "0":
                inode = cols[9]
                break
        if inode:
            break
    if not inode:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


def get_on_fresh_connection(gw, path: str, pids: set, headers: Optional[dict] = None):
    """GET over a new TCP connection; returns (status, body, pid of the worker that answered)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    try:
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        # the worker has accepted the connection by now, and keeps it open (keep-alive)
        owner = socket_owner(gw.port, client_port, pids)
        return resp.status, body, owner
    finally:
        conn.close()


def test_mint_token_rotates_and_old_link_dies_on_every_worker(clean_stack: Stack, gateway_factory):
    data = payload(30_000, "rotate")
    old = "tok-old-rotate-0123456789"
    seed(clean_stack, "sess-rotate", "calls/rotate.ogg", data, token=old, account="acct-a")
    clean_stack.ensure_indexes()
    gw = start(gateway_factory, workers=2, RECGW_CACHE_L1_TTL_S="1",
               RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE="0")
    deadline = time.monotonic() + 15
    pids = worker_pids(gw)
    while len(pids) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = worker_pids(gw)
    assert len(pids) == 2, f"expected 2 workers, found {pids}"

    # the old link streams on both workers (and sits in both workers' L1)
    seen = set()
    for _ in range(200):
        status, body, owner = get_on_fresh_connection(gw, PUBLIC + old, pids)
        assert status == 200 and body == data
        seen.add(owner)
        if seen >= pids:
            break
    assert seen >= pids, f"only reached workers {seen} of {pids}"

    r = requests.post(f"{gw.url}/api/v1/admin/recordings/sess-rotate/token", headers=admin(), timeout=10)
    minted_at = time.monotonic()
    assert r.status_code == 200, r.text
    body = r.json()
    new = body["token"]
    assert TOKEN_RE.match(new), new
    assert new != old
    assert body["url"] == f"{gw.url}{PUBLIC}{new}"
    assert body["session_id"] == "sess-rotate"
    assert body["rotated"] is True
    doc = clean_stack.db.calls.find_one({"session_id": "sess-rotate"})
    assert doc["recording_access_token"] == new
    assert doc["recording_key"] == "calls/rotate.ogg"  # nothing else touched

    # the new link streams at once
    f = fetch(body["url"])
    assert f.status_code == 200 and f.content == data

    # within the L1 TTL (1 s, plus a little slack for the clock tick) every worker says 404
    ttl_deadline = minted_at + 1.0 + 1.0
    while time.monotonic() < ttl_deadline:
        status, _, _ = get_on_fresh_connection(gw, PUBLIC + old, pids)
        if status == 404:
            break
        assert status == 200
        time.sleep(0.05)
    while time.monotonic() < ttl_deadline:
        time.sleep(0.05)
    answers: Dict[int, set] = {}
    for i in range(400):
        status, _, owner = get_on_fresh_connection(gw, PUBLIC + old, pids)
        answers.setdefault(owner, set()).add(status)
        if set(answers) >= pids and i >= 20:
            break
    assert set(answers) >= pids, f"only reached {set(answers)} of {pids}"
    for owner, statuses in answers.items():
        assert statuses == {404}, f"worker {owner} answered {statuses} for the old token after the L1 TTL"
    # and the new link streams on every worker
    seen = set()
    for _ in range(200):
        status, got, owner = get_on_fresh_connection(gw, PUBLIC + new, pids)
        assert status == 200 and got == data
        seen.add(owner)
        if seen >= pids:
            break
    assert seen >= pids

    # minting again rotates again
    r2 = requests.post(f"{gw.url}/api/v1/admin/recordings/sess-rotate/token", headers=admin(), timeout=10)
    assert r2.status_code == 200 and r2.json()["token"] not in (old, new) and r2.json()["rotated"] is True


class ReplyHoldingProxy:
    """A TCP proxy in front of FerretDB that, while armed, holds back each reply that
    carries a cursor (`firstBatch`, i.e. a find) and contains `needle`, for `delay`
    seconds. The query has already run on FerretDB; only its answer is late, like a
    slow network or a busy MongoDB. `held` is set when a reply is being held."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.needle: Optional[bytes] = None
        self.delay = 0.0
        self.held = threading.Event()
        self._socks: list = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, needle: str, delay: float) -> None:
        self.held.clear()
        self.delay = delay
        self.needle = needle.encode()

    def disarm(self) -> None:
        self.needle = None

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            threading.Thread(target=self._copy, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._replies, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _replies(self, src: socket.socket, dst: socket.socket):
        try:
            while True:
                header = self._recv_exact(src, 16)
                length = struct.unpack_from("<i", header, 0)[0]
                body = self._recv_exact(src, length - 16)
                needle = self.needle
                if needle and needle in body and b"firstBatch" in body:
                    self.held.set()
                    time.sleep(self.delay)
                dst.sendall(header + body)
        except (OSError, EOFError):
            pass
        finally:
            self._shut(src, dst)

    def _copy(self, src: socket.socket, dst: socket.socket):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._shut(src, dst)

    @staticmethod
    def _shut(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in self._socks:
                self._shut(s)
                s.close()


def tok_redis_key(token: str) -> str:
    return "recgw:tok:" + hashlib.sha256(token.encode()).hexdigest()


def connection_on(gw, pids: set, want: Optional[int] = None, avoid: Optional[int] = None):
    """An open HTTP/1.1 connection whose server side a chosen worker accepted (SO_REUSEPORT
    spreads new connections by hash, so try until one lands where wanted)."""
    for _ in range(400):
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        owner = None
        deadline = time.monotonic() + 1.0
        while owner is None and time.monotonic() < deadline:
            owner = socket_owner(gw.port, client_port, pids)
            if owner is None:
                time.sleep(0.005)
        if owner is not None and (want is None or owner == want) and (avoid is None or owner != avoid):
            return conn, owner
        conn.close()
    raise AssertionError(f"no connection landed on the wanted worker (want={want}, avoid={avoid}, pids={pids})")


# Bug found here (open): LookupCache::noteSource() records where the object was found with
# `SET key <record> KEEPTTL XX`. XX only asks that *some* value exists, and the eviction
# tombstone ({"o":"evicted"}, EX 30) is one, so the worker whose lookup raced the rotation
# overwrites the tombstone with the stale pre-rotation record when its stream finds the
# object; every worker then serves the revoked token for the tombstone's remaining TTL (~30 s).
# The same-worker case is covered by the in-flight `evicted` flag. (Fixed before: the
# lookup's own write-back after the DEL, which kept the old token for ttl_hit_s, 1 h.)



@pytest.mark.parametrize("placement", [
    "same-worker",
    "cross-worker",
])
def test_rotation_racing_an_in_flight_lookup_still_kills_the_old_link(clean_stack: Stack, gateway_factory,
                                                                      placement):
    """A lookup of the old token that read MongoDB just before the rotation, and answers
    just after it, must not leave the old token cached: the old link has to die within the
    L1 TTL even when someone was using it while it was rotated (a leaked link being revoked
    is exactly that case). The lookup and the rotation run on the same worker, or on two."""
    data = payload(2000, "race")
    old = "tok-old-race-0123456789abc"
    seed(clean_stack, "sess-race", "calls/race.ogg", data, token=old, account="acct-a")
    proxy = ReplyHoldingProxy(clean_stack.mongo_port)
    conns = []
    try:
        uri = clean_stack.mongo_uri.replace(f"127.0.0.1:{clean_stack.mongo_port}/", f"127.0.0.1:{proxy.port}/")
        assert uri != clean_stack.mongo_uri
        gw = start(gateway_factory, workers=2, RECGW_MONGO_URI=uri, RECGW_CACHE_L1_TTL_S="1",
                   RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE="0", RECGW_MONGO_TIMEOUT_MS="5000")
        pids = worker_pids(gw)
        deadline = time.monotonic() + 15
        while len(pids) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = worker_pids(gw)
        assert len(pids) == 2, pids
        user_conn, user_pid = connection_on(gw, pids)
        if placement == "same-worker":
            admin_conn, admin_pid = connection_on(gw, pids, want=user_pid)
        else:
            admin_conn, admin_pid = connection_on(gw, pids, avoid=user_pid)
        conns += [user_conn, admin_conn]
        assert (admin_pid == user_pid) == (placement == "same-worker")

        proxy.arm(old, delay=1.5)
        result = {}

        def use_old_link():
            user_conn.request("GET", PUBLIC + old)
            resp = user_conn.getresponse()
            resp.read()
            result["status"] = resp.status

        user = threading.Thread(target=use_old_link)
        user.start()
        assert proxy.held.wait(10), "the lookup of the old token never reached MongoDB"
        # MongoDB has answered the lookup with the old document; the answer is on its way.
        admin_conn.request("POST", "/api/v1/admin/recordings/sess-race/token", headers=admin())
        resp = admin_conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body
        minted_at = time.monotonic()
        new = json.loads(body)["token"]
        user.join(20)
        proxy.disarm()
        assert result.get("status") == 200  # it started before the rotation: fine either way
        while time.monotonic() < minted_at + 1.0 + 1.5:  # the L1 TTL, plus slack
            time.sleep(0.05)
        assert fetch(gw.url + PUBLIC + new).content == data
        stale = clean_stack.redis.get(tok_redis_key(old))
        answers = set()
        for _ in range(20):  # fresh connections: both workers
            status, _, _ = get_on_fresh_connection(gw, PUBLIC + old, pids)
            answers.add(status)
        assert answers == {404}, (
            f"old link still answers {answers} after rotation; Redis holds "
            f"{tok_redis_key(old)} = {stale!r} (TTL {clean_stack.redis.ttl(tok_redis_key(old))} s)")
    finally:
        for c in conns:
            c.close()
        proxy.close()


def test_mint_token_for_a_call_without_one_and_errors(clean_stack: Stack, gateway_factory):
    data = payload(1000, "first-token")
    seed(clean_stack, "sess-first", "calls/first.ogg", data, account="acct-a")
    gw = start(gateway_factory)
    path = f"{gw.url}/api/v1/admin/recordings/sess-first/token"
    # 401 / 403
    assert_error(requests.post(path, timeout=10), 401, "unauthorized")
    assert_error(requests.post(path, headers=bearer(secret="wrong"), timeout=10), 401)
    assert_error(requests.post(path, headers=tenant("acct-a"), timeout=10), 403, "forbidden")
    assert "recording_access_token" not in clean_stack.db.calls.find_one({"session_id": "sess-first"})
    # 404 unknown session
    r = requests.post(f"{gw.url}/api/v1/admin/recordings/no-such-session/token", headers=admin(), timeout=10)
    assert_error(r, 404, "not_found")
    assert clean_stack.db.calls.count_documents({}) == 1
    # mint for a call that had no token
    r = requests.post(path, headers=admin(), timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rotated"] is False
    assert TOKEN_RE.match(body["token"])
    assert body["url"] == f"{gw.url}{PUBLIC}{body['token']}"
    f = fetch(body["url"])
    assert f.status_code == 200 and f.content == data
    # other methods on the route
    r = requests.get(path, headers=admin(), timeout=10)
    assert_error(r, 405)
    assert "POST" in r.headers.get("Allow", "")


# ---- 7. /openapi.json ------------------------------------------------------------------------

ROUTE_RE = re.compile(r"route\(\s*((?:reactor::k[A-Za-z]+\s*\|?\s*)+),\s*\"([^\"]+)\"")


def registered_routes() -> set:
    """(path, method) for every route( call in the committed sources of handlers/ and app/.

    Committed (HEAD), not the working tree: routes still being written in an uncommitted
    file are not part of the gateway yet. Once they are committed, this test asks for
    them to be described in handlers/openapi.cc."""
    out = set()
    files = subprocess.run(["git", "-C", str(REPO), "ls-tree", "-r", "--name-only", "HEAD", "handlers", "app"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if not name.endswith(".cc"):
            continue
        text = subprocess.run(["git", "-C", str(REPO), "show", f"HEAD:{name}"],
                              capture_output=True, text=True, check=True).stdout
        for methods, path in ROUTE_RE.findall(text):
            for m in re.findall(r"k([A-Za-z]+)", methods):
                out.add((path, m.lower()))
    return out


def serves(gw, pattern: str, method: str) -> bool:
    """Does the gateway route `method pattern` (unauthenticated probe, so no side effects)?
    The router itself answers an unknown path 404 "no such route", and a known path with
    another method 405; anything else came from a handler."""
    path = re.sub(r"\{[^}]+\}", "probe-x", pattern)
    r = requests.request(method.upper(), gw.url + path, timeout=10)
    if r.status_code == 405:
        return False
    if r.status_code == 404:
        probe = r if method != "head" else requests.get(gw.url + path, timeout=10)
        try:
            return probe.json().get("message") != "no such route"
        except ValueError:
            return True
    return True


EXPECTED_ROUTES = {
    ("/healthz", "get"), ("/healthz", "head"), ("/readyz", "get"), ("/readyz", "head"),
    ("/metrics", "get"), ("/openapi.json", "get"),
    ("/api/v1/public/recordings/{token}", "get"), ("/api/v1/public/recordings/{token}", "head"),
    ("/api/v1/public/recordings/{token}", "options"),
    ("/api/v1/recordings/{session_id}", "get"), ("/api/v1/recordings/{session_id}", "head"),
    ("/api/v1/recordings/{session_id}", "options"),
    ("/api/v1/admin/cache/{id}", "delete"), ("/api/v1/admin/cache/warm", "post"),
    ("/v1/call-recording/signed-url", "post"),
    ("/api/v1/sessions/{id}/recording", "get"), ("/v1/sessions/{id}/recording", "get"),
    ("/api/v1/admin/recordings/{session_id}/token", "post"),
    ("/api/v1/admin/calls/accessible-urls", "post"),
}


def test_openapi_document_is_valid_and_lists_every_route(stack: Stack, gateway_factory):
    from openapi_spec_validator import validate

    gw = start(gateway_factory, RECGW_SERVER_CORS_ORIGINS="*")  # CORS on: the preflight routes exist
    r = requests.get(gw.url + "/openapi.json", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"].startswith("3.1")

    listed = {(path, method) for path, item in doc["paths"].items()
              for method in item if method in ("get", "head", "post", "put", "patch", "delete", "options")}
    assert EXPECTED_ROUTES <= listed, f"missing: {sorted(EXPECTED_ROUTES - listed)}"
    in_source = registered_routes()
    assert EXPECTED_ROUTES <= in_source, f"route scan broke: {sorted(EXPECTED_ROUTES - in_source)}"
    assert listed <= in_source, f"documented but not registered: {sorted(listed - in_source)}"
    # Every route in the committed sources that this gateway really serves is documented
    # (a handler file whose routes are not wired into app/gateway.cc yet is not served).
    served = {(path, method) for path, method in in_source if serves(gw, path, method)}
    assert EXPECTED_ROUTES <= served, sorted(EXPECTED_ROUTES - served)
    assert served <= listed, f"served but not documented: {sorted(served - listed)}"

    # the shapes the tests above rely on
    schemas = doc["components"]["schemas"]
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert set(schemas["Error"]["required"]) == {"error", "message"}
    assert set(schemas["ValidationError"]["required"]) == {"loc", "msg", "type"}
    assert set(schemas["CallRecordingSignedUrlResponse"]["required"]) >= {"file_name", "signed_url",
                                                                         "expiration_minutes", "expires_at"}
    assert set(schemas["SessionRecordingUrl"]["required"]) >= {"url", "expires_at", "expires_in"}
    compat_op = doc["paths"]["/v1/call-recording/signed-url"]["post"]
    assert set(compat_op["responses"]) >= {"200", "401", "404", "422"}
    assert compat_op["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    sess_op = doc["paths"]["/api/v1/sessions/{id}/recording"]["get"]
    assert set(sess_op["responses"]) >= {"200", "400", "404", "409", "500", "503"}
    stream = doc["paths"]["/api/v1/public/recordings/{token}"]["get"]["responses"]
    assert set(stream) >= {"200", "206", "304", "404", "416", "429", "503"}
    assert "Retry-After" in stream["429"]["headers"] and "Retry-After" in stream["503"]["headers"]
    assert "Content-Range" in stream["206"]["headers"] and "Content-Range" in stream["416"]["headers"]
    admin_stream = doc["paths"]["/api/v1/recordings/{session_id}"]["get"]
    assert admin_stream["security"] == [{"bearerAuth": []}]
    # live answers match the documented schemas
    import jsonschema

    def conforms(body, schema_name):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
        jsonschema.Draft202012Validator(schema).validate(body)

    conforms(requests.get(gw.url + "/healthz", timeout=5).json(), "Health")
    conforms(requests.get(gw.url + "/readyz", timeout=5).json(), "Readiness")
    conforms(requests.get(gw.url + PUBLIC + "no-such-token", timeout=5).json(), "Error")
    conforms(requests.post(gw.url + COMPAT, data=b"{}", headers=admin(), timeout=5).json(), "HTTPValidationError")
    conforms(requests.post(gw.url + "/api/v1/admin/cache/warm", json={"tokens": ["a"]}, headers=admin(),
                           timeout=10).json(), "WarmResponse")
    conforms(requests.delete(gw.url + "/api/v1/admin/cache/abc", headers=admin(), timeout=5).json(),
             "EvictResponse")

    # every operation has an id and every response the X-Request-Id header
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op.get("operationId"), (path, method)
            for code, resp in op["responses"].items():
                if "$ref" in resp:
                    resp = doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
                assert "X-Request-Id" in resp.get("headers", {}), (path, method, code)
