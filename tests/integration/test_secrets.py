"""Secrets never leak (issue 7, part 6).

A gateway runs with known, distinctive secrets — the S3 access key and secret key
(MinIO's: the stack's credentials), the fleet secret, the JWT HS256 secret, a MongoDB URI
with a password (FerretDB takes SASL PLAIN credentials without checking them, so the
password really travels through libmongoc) — and debug logging. Every route is exercised:
public streams with a known token (GET, HEAD, Range, 304), admin streams with JWTs,
both signed-URL routes, token minting, cache warm/evict, diagnose, a fleet host that
answers 500 and one that echoes the secret header back, /metrics, /readyz, /openapi.json,
and errors (400, 401, 403, 404, 405, 413, 422, 429, 503). A second gateway whose storage
secret and fleet secret are wrong (but known) drives the failure paths: S3 403 and
fleet 401 → 503.

Then stdout, stderr, every response body and header, /metrics and `recgw check-config`
are searched for each secret, each JWT and each full token: none may appear.
(Logs may carry a token's first 6 characters + a hash; the full token never.)

The one legitimate exception: a presigned URL carries the access key ID in its
X-Amz-Credential query parameter (that is how SigV4 query signing works), so that one
parameter is cut out of the signed-URL responses before they are searched — nothing else.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import time
import urllib.parse
from typing import Dict, List, Tuple

import pytest
import requests

from fakes import fleet_factory  # noqa: F401 — fixture used by name
from stack import Stack
from helpers import hs256_jwt

pytestmark = pytest.mark.timeout(120)

PUBLIC = "/api/v1/public/recordings/"
ADMIN = "/api/v1/recordings/"


def make_jwt(claims: dict, secret: str) -> str:
    return hs256_jwt(claims, secret)


def claims(role: str = "admin", account: str = "acct-secret", exp_in: int = 3600) -> dict:
    now = int(time.time())
    return {"sub": "secrets-test", "role": role, "account_id": account, "iat": now, "exp": now + exp_in}


AMZ_CREDENTIAL = re.compile(r"X-Amz-Credential=[^&\"\s]*")


def strip_amz_credential(text: str) -> str:
    """Presigned URLs legitimately carry the access key ID in X-Amz-Credential (SigV4 query
    signing); cut out that one parameter, in plain and JSON-escaped form, nothing else."""
    text = AMZ_CREDENTIAL.sub("X-Amz-Credential=<cut>", text)
    return re.sub(r"X-Amz-Credential\\u003d[^&\"\s]*", "X-Amz-Credential=<cut>", text)


class Recorder:
    """Every response seen, as text (status line, headers, body) for the final search."""

    def __init__(self):
        self.seen: List[Tuple[str, str]] = []      # (what, text)

    def add(self, what: str, r: requests.Response, presigned: bool = False) -> requests.Response:
        head = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        body = r.content.decode("latin-1")
        text = f"HTTP {r.status_code}\n{head}\n\n{body}"
        if presigned:
            text = strip_amz_credential(text)
        self.seen.append((what, text))
        return r


def find_leaks(haystacks: Dict[str, str], needles: Dict[str, str]) -> List[str]:
    out = []
    for where, text in haystacks.items():
        for name, value in needles.items():
            if value and value in text:
                i = text.index(value)
                out.append(f"{name} found in {where}: …{text[max(0, i - 120):i + len(value) + 40]!r}…")
    return out


def test_no_secret_in_logs_bodies_headers_or_metrics(clean_stack: Stack, gateway_factory, fleet_factory,
                                                     recgw_binary):
    st = clean_stack
    s3_access, s3_secret = st.s3_access_key, st.s3_secret_key
    fleet_secret = "FleetSecret-" + secrets.token_hex(16)
    jwt_secret = "JwtSecret-" + secrets.token_hex(16)
    mongo_password = "MongoPass-" + secrets.token_hex(12)
    wrong_s3_secret = "WrongS3Secret-" + secrets.token_hex(12)
    wrong_fleet_secret = "WrongFleetSecret-" + secrets.token_hex(12)
    token = secrets.token_urlsafe(32)                     # like `recgw mint-token`
    token_fleet = secrets.token_urlsafe(32)
    unknown_tokens = [secrets.token_urlsafe(32) for _ in range(6)]

    body = os.urandom(50_000)
    st.put_object("sec/rec.ogg", body, "audio/ogg")
    st.insert_call("sess-sec", token=token, key="sec/rec.ogg", status="ready", account_id="acct-secret")
    st.insert_call("sess-sec-fleet", token=token_fleet, key="sec/fleet-only.ogg", status="ready",
                   account_id="acct-secret")
    st.insert_call("sess-sec-mint", key="sec/rec.ogg", status="ready", account_id="acct-secret")
    st.insert_call("sess-sec-pending", token=secrets.token_urlsafe(32), key="sec/pending.ogg",
                   status="uploading", account_id="acct-secret")

    broken = fleet_factory({}, secret=fleet_secret, status_override=500)       # fails with the secret
    echo = fleet_factory({"sec/fleet-only.ogg": b"f" * 20_000}, secret=fleet_secret)  # echoes the secret header
    mongo_uri = (f"mongodb://recgw-user:{mongo_password}@127.0.0.1:{st.mongo_port}/{st.db_name}"
                 "?authMechanism=PLAIN&authSource=%24external")
    env = {
        "RECGW_MONGO_URI": mongo_uri,
        "RECGW_FLEET_URLS": f"{broken.url},{echo.url}",
        "RECGW_FLEET_SECRET": fleet_secret,
        "RECGW_JWT_HS256_SECRET": jwt_secret,
        "RECGW_SERVER_LOG_LEVEL": "debug",
        "RECGW_CACHE_FAILED_LOOKUPS_BURST": "3",
        "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "1",
        "RECGW_SERVER_MAX_BODY_BYTES": "65536",
    }
    gw = gateway_factory(env)
    rec = Recorder()
    admin = make_jwt(claims("admin"), jwt_secret)
    user = make_jwt(claims("viewer"), jwt_secret)
    forged = make_jwt(claims("admin"), "not-" + jwt_secret)
    expired = make_jwt(claims("admin", exp_in=-3600), jwt_secret)
    A = {"Authorization": "Bearer " + admin}
    U = {"Authorization": "Bearer " + user}

    def get(path, headers=None, method="GET", what=None, presigned=False, **kw):
        r = requests.request(method, gw.url + path, headers=headers or {}, timeout=20, **kw)
        return rec.add(what or f"{method} {path[:60]}", r, presigned)

    # ---- the MongoDB URI with a password really works
    r = get(PUBLIC + token)
    if r.status_code == 503 and "lookup_unavailable" in r.text:
        pytest.skip("this FerretDB/libmongoc refuses SASL PLAIN credentials; the MongoDB password part "
                    "cannot run here")
    assert r.status_code == 200 and r.content == body, r.status_code

    # ---- public streams
    assert get(PUBLIC + token, method="HEAD").status_code == 200
    r = get(PUBLIC + token, {"Range": "bytes=0-99"})
    assert r.status_code == 206
    etag = r.headers["ETag"]
    assert get(PUBLIC + token, {"If-None-Match": etag}).status_code == 304
    r = get(PUBLIC + token_fleet)                      # storage 404 → fleet:0 500 → fleet:1 200
    assert r.status_code == 200 and r.content == b"f" * 20_000
    assert fleet_secret not in str(r.headers)
    assert broken.request_count >= 1 and broken.seen[0].headers.get("X-CXBCore-Secret") == fleet_secret

    # ---- admin streams, diagnose, cache
    assert get(ADMIN + "sess-sec", A).status_code == 200
    assert get(ADMIN + "sess-sec", U).status_code == 403
    assert get(ADMIN + "sess-sec", {"Authorization": "Bearer " + forged}).status_code == 401
    assert get(ADMIN + "sess-sec", {"Authorization": "Bearer " + expired}).status_code == 401
    assert get(ADMIN + "sess-sec", {"Authorization": "Basic " + base64.b64encode(
        f"admin:{jwt_secret}".encode()).decode()}).status_code == 401
    assert get(ADMIN + "sess-sec").status_code == 401
    r = get(f"/api/v1/admin/diagnose/{token}", A)
    assert r.status_code == 200, r.text
    r = get(f"/api/v1/admin/diagnose/{token_fleet}", A)
    assert r.status_code == 200, r.text
    assert get("/api/v1/admin/diagnose/sess-sec", A).status_code == 200
    r = get("/api/v1/admin/cache/warm", A, method="POST", json={"tokens": [token, token_fleet, unknown_tokens[0]]})
    assert r.status_code == 200, r.text
    r = get("/api/v1/admin/cache/warm", A, method="POST", json={"session_ids": ["sess-sec"]})
    assert r.status_code == 200, r.text
    assert get(f"/api/v1/admin/cache/{token}", A, method="DELETE").status_code in (200, 204)
    assert get(f"/api/v1/admin/cache/{token}", U, method="DELETE").status_code == 403

    # ---- signed URLs (the X-Amz-Credential parameter is the one exception, see the docstring)
    r = get("/v1/call-recording/signed-url", A, method="POST", presigned=True,
            json={"call_id": "sess-sec", "expiration_url_in_minutes": 10})
    assert r.status_code == 200, r.text
    signed = r.json()["signed_url"]
    assert requests.get(signed, timeout=10).content == body
    assert s3_secret not in signed
    r = get("/api/v1/sessions/sess-sec/recording", {**A, "X-Account-ID": "acct-secret"}, presigned=True)
    assert r.status_code == 200, r.text
    assert get("/api/v1/sessions/sess-sec/recording", U).status_code == 400            # no X-Account-ID
    assert get("/api/v1/sessions/sess-sec-pending/recording",
               {**A, "X-Account-ID": "acct-secret"}).status_code == 409
    r = get("/v1/call-recording/signed-url", A, method="POST", json={"call_id": 42})
    assert r.status_code == 422
    r = get("/v1/call-recording/signed-url", {"Authorization": "Bearer " + forged}, method="POST",
            json={"call_id": "sess-sec"})
    assert r.status_code == 401
    r = get("/api/v1/admin/recordings/sess-sec-mint/token", A, method="POST")
    assert r.status_code in (200, 201), r.text
    minted_body = r.text
    minted = r.json().get("token") or urllib.parse.urlparse(r.json().get("url", "")).path.rsplit("/", 1)[-1]
    assert minted and len(minted) >= 32, r.text
    # the mint response legitimately returns the new token: searched for the other secrets only
    rec.seen[-1] = ("POST mint (minted token removed)", rec.seen[-1][1].replace(minted, "<minted>"))
    assert minted not in minted_body.replace(minted, "")
    assert get(PUBLIC + minted).status_code == 200

    # ---- errors
    r = requests.post(gw.url + "/api/v1/admin/cache/warm", headers=A, data=b"[" * 70_000, timeout=10)
    rec.add("POST warm over max body", r)
    assert r.status_code == 413
    assert get("/api/v1/admin/cache/warm", A, method="POST", data=b"not json").status_code == 400
    assert get(PUBLIC + token, method="POST").status_code == 405
    assert get("/no/such/route").status_code == 404
    for t in unknown_tokens:
        get(PUBLIC + t)
    assert rec.seen[-1][1].startswith("HTTP 429"), rec.seen[-1][1][:200]

    # ---- operations
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert get(path).status_code == 200

    # ---- the failure paths: wrong storage secret, wrong fleet secret → 503 (both logged)
    gw_bad = gateway_factory({**env, "RECGW_S3_SECRET_KEY": wrong_s3_secret, "RECGW_FLEET_SECRET": wrong_fleet_secret,
                              "RECGW_FLEET_URLS": echo.url})
    r = requests.get(gw_bad.url + PUBLIC + token, timeout=20)
    rec.add("bad gw: GET token", r)
    assert r.status_code == 503, r.text
    r = requests.get(gw_bad.url + f"/api/v1/admin/diagnose/{token}", headers=A, timeout=20)
    rec.add("bad gw: diagnose", r)
    assert r.status_code == 200
    r = requests.post(gw_bad.url + "/v1/call-recording/signed-url", headers=A, timeout=20,
                      json={"call_id": "sess-sec"})
    rec.add("bad gw: signed url", r, presigned=True)
    rec.add("bad gw: readyz", requests.get(gw_bad.url + "/readyz", timeout=10))

    # ---- the CLI that prints the config
    cc = subprocess.run([str(recgw_binary), "check-config"], env=gw.env, capture_output=True, text=True, timeout=30)

    # ---- search
    time.sleep(0.5)                      # last access-log lines flushed
    haystacks = {"gateway stdout": gw.stdout(), "gateway stderr": gw.stderr(),
                 "bad gateway stdout": gw_bad.stdout(), "bad gateway stderr": gw_bad.stderr(),
                 "/metrics": requests.get(gw.url + "/metrics", timeout=5).text,
                 "bad /metrics": requests.get(gw_bad.url + "/metrics", timeout=5).text,
                 "check-config": cc.stdout + cc.stderr}
    for i, (what, text) in enumerate(rec.seen):
        haystacks[f"response #{i} {what}"] = text
    needles = {
        "S3 secret key": s3_secret, "S3 access key": s3_access, "fleet secret": fleet_secret,
        "JWT secret": jwt_secret, "MongoDB password": mongo_password,
        "wrong S3 secret": wrong_s3_secret, "wrong fleet secret": wrong_fleet_secret,
        "token": token, "fleet token": token_fleet, "minted token": minted,
        "admin JWT": admin, "viewer JWT": user, "forged JWT": forged, "expired JWT": expired,
        "admin JWT signature": admin.rsplit(".", 1)[1],
        **{f"unknown token {i}": t for i, t in enumerate(unknown_tokens)},
    }
    leaks = find_leaks(haystacks, needles)
    assert not leaks, "\n".join(leaks)
    # the search had something to search: every request left an access-log line
    assert len([x for x in gw.log_lines() if x.get("type") == "access"]) >= len(rec.seen) - 10


# ---- credentials inside configured URLs (security audit, item 3) ---------------------------

def test_credentials_in_configured_urls_are_never_shown(clean_stack: Stack, gateway_factory, fleet_factory,
                                                        recgw_binary):
    """A fleet URL with userinfo (curl sends it as Basic auth), a MongoDB URI with a password
    and a secret TLS option, and a provider URL with userinfo: neither the user:password
    pairs nor the passwords appear in /readyz (public, admin or ops), /metrics (ops), the
    gateway's stdout/stderr (including the "circuit breaker" line), the diagnose route,
    `recgw diagnose` or `recgw check-config`. Anonymous /readyz answers `ready` only: no
    storage endpoint, bucket or fleet host."""
    from helpers import wait_for
    from stack import free_port

    st = clean_stack
    fleet_pw = "FleetUrlPw-" + secrets.token_hex(8)
    dead_pw = "DeadFleetPw-" + secrets.token_hex(8)
    mongo_pw = "MongoUrlPw-" + secrets.token_hex(8)
    keyfile_pw = "KeyFilePw-" + secrets.token_hex(8)
    session_token = "AwsSessionTok-" + secrets.token_hex(8)
    provider_pw = "ProviderPw-" + secrets.token_hex(8)
    jwt_secret = "JwtSecret-" + secrets.token_hex(16)

    token = secrets.token_urlsafe(32)
    data = os.urandom(20_000)
    st.insert_call("sess-url-cred", token=token, key="sec/fleet-cred.ogg", status="ready")  # only on fleet:1
    fleet = fleet_factory({"sec/fleet-cred.ogg": data}, secret="url-cred-fleet-secret")
    fleet_port = int(fleet.url.rsplit(":", 1)[1])
    fleet_urls = f"http://deaduser:{dead_pw}@127.0.0.1:1,http://fleetuser:{fleet_pw}@127.0.0.1:{fleet_port}"
    # tls=false: the option is carried (and must be masked) without asking FerretDB for TLS.
    mongo_uri = (f"mongodb://recgw-user:{mongo_pw}@127.0.0.1:{st.mongo_port}/{st.db_name}"
                 f"?authMechanism=PLAIN&authSource=%24external&tls=false&tlsCertificateKeyFilePassword={keyfile_pw}"
                 f"&authMechanismProperties=AWS_SESSION_TOKEN:{session_token}")
    ops_listen = f"127.0.0.1:{free_port()}"
    env = {
        "RECGW_FLEET_URLS": fleet_urls,
        "RECGW_FLEET_SECRET": "url-cred-fleet-secret",
        "RECGW_MONGO_URI": mongo_uri,
        "RECGW_LIFECYCLE_PROVIDER_URL": f"http://provuser:{provider_pw}@127.0.0.1:1/api",
        "RECGW_JWT_HS256_SECRET": jwt_secret,
        "RECGW_SERVER_OPS_LISTEN": ops_listen,
        "RECGW_SERVER_LOG_LEVEL": "debug",
        "RECGW_STREAM_BREAKER_FAILURES": "1",
        "RECGW_STREAM_BREAKER_COOLDOWN_MS": "600000",
    }
    gw = gateway_factory(env)
    assert gw.ops_url == f"http://{ops_listen}"
    admin = {"Authorization": "Bearer " + make_jwt(claims("admin"), jwt_secret)}
    viewer = {"Authorization": "Bearer " + make_jwt(claims("viewer"), jwt_secret)}
    seen: Dict[str, str] = {}

    # storage 404 → fleet:0 refused (its breaker opens: one failure) → fleet:1 serves
    r = requests.get(gw.url + PUBLIC + token, timeout=20)
    if r.status_code == 503 and "lookup_unavailable" in r.text:
        pytest.skip("this FerretDB/libmongoc refuses SASL PLAIN credentials; the MongoDB part cannot run here")
    assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:200])
    # curl really used the userinfo: the fleet host got it as Basic auth
    assert fleet.seen[-1].headers.get("Authorization") == "Basic " + base64.b64encode(
        f"fleetuser:{fleet_pw}".encode()).decode()

    # anonymous /readyz on the public listener: the status, nothing else
    r = requests.get(gw.url + "/readyz", timeout=10)
    seen["public /readyz"] = r.text
    assert r.status_code == 200 and r.json() == {"ready": True, "status": "ready"}, r.text
    for detail in (st.bucket, str(st.minio_port), str(fleet_port), "127.0.0.1", "fleet", "storage"):
        assert detail not in r.text, f"anonymous /readyz shows {detail!r}: {r.text}"
    r = requests.head(gw.url + "/readyz", timeout=10)
    assert r.status_code == 200 and r.content == b""
    # the details on the public listener need an admin JWT
    assert requests.get(gw.url + "/readyz", headers=viewer, timeout=10).status_code == 403
    assert requests.get(gw.url + "/readyz", headers={"Authorization": "Bearer x.y.z"}, timeout=10).status_code == 401
    r = requests.get(gw.url + "/readyz", headers=admin, timeout=10)
    seen["admin /readyz"] = r.text
    assert r.status_code == 200, r.text
    detailed = r.json()
    assert st.bucket in detailed["storage"]["reason"], detailed
    assert detailed["breakers"].get("fleet:0 http://***@127.0.0.1:1") == "open", detailed
    # with an ops listener, /metrics is not public
    r = requests.get(gw.url + "/metrics", timeout=10)
    seen["public /metrics"] = r.text
    assert r.status_code == 404, r.text[:200]

    # the ops listener: the details and /metrics, anonymously
    r = requests.get(gw.ops_url + "/readyz", timeout=10)
    seen["ops /readyz"] = r.text
    assert r.status_code == 200, r.text
    ops_ready = r.json()
    assert ops_ready["mongo"]["ok"] is True and ops_ready["redis"]["ok"] is True, ops_ready
    assert st.bucket in ops_ready["storage"]["reason"], ops_ready
    assert ops_ready["breakers"].get("fleet:0 http://***@127.0.0.1:1") == "open", ops_ready
    assert ops_ready["breakers"].get(f"fleet:1 http://***@127.0.0.1:{fleet_port}") == "closed", ops_ready
    r = requests.get(gw.ops_url + "/metrics", timeout=10)
    seen["ops /metrics"] = r.text
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert 'recgw_breaker_state{origin="fleet:0 http://***@127.0.0.1:1"} 1' in r.text, r.text
    # the log line of the breaker names the origin in display form
    lines = wait_for(lambda: [x for x in gw.log_lines() if x.get("msg") == "circuit breaker"], 10,
                     "the 'circuit breaker' log line")
    assert lines[0]["origin"] == "fleet:0 http://***@127.0.0.1:1", lines

    # diagnosis: the admin route and the CLI
    r = requests.get(f"{gw.url}/api/v1/admin/diagnose/{token}", headers=admin, timeout=30)
    seen["diagnose route"] = r.text
    assert r.status_code == 200 and "***@127.0.0.1" in r.text, r.text
    p = subprocess.run([str(recgw_binary), "diagnose", token, "--json", "true"], env=gw.env,
                       capture_output=True, text=True, timeout=60)
    seen["recgw diagnose"] = p.stdout + p.stderr
    assert "fleet:1" in p.stdout and "***@127.0.0.1" in p.stdout, seen["recgw diagnose"]
    p = subprocess.run([str(recgw_binary), "check-config"], env=gw.env, capture_output=True, text=True, timeout=30)
    seen["check-config"] = p.stdout + p.stderr
    assert p.returncode == 0, p.stderr
    assert f'urls = ["http://***@127.0.0.1:1", "http://***@127.0.0.1:{fleet_port}"]' in p.stdout, p.stdout
    assert "tlsCertificateKeyFilePassword=***" in p.stdout and 'provider_url = "http://***@127.0.0.1:1/api"' \
        in p.stdout, p.stdout
    assert f'ops_listen = "{ops_listen}"' in p.stdout, p.stdout

    time.sleep(0.5)                      # last access-log lines flushed
    seen["gateway stdout"] = gw.stdout()
    seen["gateway stderr"] = gw.stderr()
    needles = {
        "fleet user:password": f"fleetuser:{fleet_pw}", "fleet password": fleet_pw,
        "dead fleet user:password": f"deaduser:{dead_pw}", "dead fleet password": dead_pw,
        "MongoDB user:password": f"recgw-user:{mongo_pw}", "MongoDB password": mongo_pw,
        "tlsCertificateKeyFilePassword": keyfile_pw,
        "AWS_SESSION_TOKEN": session_token,
        "provider user:password": f"provuser:{provider_pw}", "provider password": provider_pw,
        "JWT secret": jwt_secret,
    }
    leaks = find_leaks(seen, needles)
    assert not leaks, "\n".join(leaks)


AMZ_SECURITY_TOKEN = re.compile(r"X-Amz-Security-Token=[^&\"\s]*")


def test_no_session_token_or_temporary_secret_anywhere(clean_stack: Stack, gateway_factory, recgw_binary):
    """Temporary credentials (issue 13): real ones from MinIO's STS given as s3.access_key /
    secret_key / session_token, and a second gateway that assumes a role itself. Neither
    the secret key nor the session token appears in a log line (debug), a response (the
    presigned URL's own X-Amz-Security-Token and X-Amz-Credential parameters cut out, as
    SigV4 requires them there), /readyz, /metrics, `recgw diagnose` or `check-config`."""
    import boto3
    st = clean_stack
    sts = boto3.client("sts", endpoint_url=st.s3_endpoint, region_name=st.region,
                       aws_access_key_id=st.s3_access_key, aws_secret_access_key=st.s3_secret_key)
    c = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/recgw-secrets", RoleSessionName="secrets-test",
                        DurationSeconds=900)["Credentials"]
    jwt_secret = "JwtSecret-" + secrets.token_hex(16)
    token = secrets.token_urlsafe(32)
    body = os.urandom(20_000)
    st.put_object("sec/tmp.ogg", body, "audio/ogg")
    st.insert_call("sess-tmp", token=token, key="sec/tmp.ogg", status="ready", account_id="acct-secret")
    from stack import free_port
    common = {"RECGW_JWT_HS256_SECRET": jwt_secret, "RECGW_SERVER_LOG_LEVEL": "debug",
              "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1"}
    gw = gateway_factory({**common, "RECGW_S3_ACCESS_KEY": c["AccessKeyId"],
                          "RECGW_S3_SECRET_KEY": c["SecretAccessKey"], "RECGW_S3_SESSION_TOKEN": c["SessionToken"]})
    gw_role = gateway_factory({**common, "RECGW_S3_ROLE_ARN": "arn:aws:iam::000000000000:role/recgw-secrets",
                               "RECGW_S3_ROLE_DURATION_S": "900",
                               "RECGW_SERVER_OPS_LISTEN": f"127.0.0.1:{free_port()}"})
    A = {"Authorization": "Bearer " + make_jwt(claims("admin"), jwt_secret)}
    rec = Recorder()
    for g in (gw, gw_role):
        r = rec.add("stream", requests.get(g.url + PUBLIC + token, timeout=20))
        assert r.status_code == 200 and r.content == body, r.status_code
        r = rec.add("presign", requests.get(g.url + "/api/v1/sessions/sess-tmp/recording",
                                            headers={**A, "X-Account-ID": "acct-secret"}, timeout=20), True)
        assert r.status_code == 200, r.text
        assert requests.get(r.json()["url"], timeout=10).content == body
        rec.add("diagnose", requests.get(g.url + f"/api/v1/admin/diagnose/{token}", headers=A, timeout=30))
        rec.add("readyz", requests.get((g.ops_url or g.url) + "/readyz", headers=A, timeout=10))
        rec.add("metrics", requests.get((g.ops_url or g.url) + "/metrics", timeout=10))
    cc = subprocess.run([str(recgw_binary), "check-config"], env=gw.env, capture_output=True, text=True, timeout=30)
    assert cc.returncode == 0, cc.stderr
    diag = subprocess.run([str(recgw_binary), "diagnose", token, "--json", "true"], env=gw.env, capture_output=True,
                          text=True, timeout=60)
    time.sleep(0.5)
    haystacks = {"gateway logs": gw.stdout() + gw.stderr(), "role gateway logs": gw_role.stdout() + gw_role.stderr(),
                 "check-config": cc.stdout + cc.stderr, "diagnose CLI": diag.stdout + diag.stderr}
    for i, (what, text) in enumerate(rec.seen):
        haystacks[f"response #{i} {what}"] = AMZ_SECURITY_TOKEN.sub("X-Amz-Security-Token=<cut>", text)
    leaks = find_leaks(haystacks, {"temporary secret key": c["SecretAccessKey"],
                                   "session token": c["SessionToken"], "root secret key": st.s3_secret_key})
    assert not leaks, "\n".join(leaks)
