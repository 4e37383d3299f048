"""The documented APIs, exactly (issue #19), against real MinIO, FerretDB and Redis.

One contract test per documented route: every field name and type, every status code and
body type the API documents list, checked on live answers.

    CXB      GET /api/v1/public/recordings/{token}, GET /api/v1/recordings/{session_id}
             (storage, then the fleet: cxbcore_fleet + X-CXBCore-Secret, or the older
             voxcore_fleet + X-VoxCore-Secret)                                      rows 11
    Verbex   POST /v1/call-recording/signed-url                                      rows 1, 8
    Kataven  GET /api/v1/sessions/{id}/recording (+ /v1/sessions/{id}/recording),
             JSON-string error bodies, API keys (recgw api-key …)                   rows 1, 6, 7
    CXB helper enrich_call_with_accessible_url, in bulk:
             POST /api/v1/admin/calls/accessible-urls                                row 10
    /openapi.json: the documented operationIds and schema names                      row 8

The rooms recording lifecycle (start/stop/sync/list/get/download/archive/recover/delete,
rows 2, 4, 5 and its part of 8) has its own contract file, test_contract_rooms.py.
The Verbex schemas below are transcribed from that API's published OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import subprocess
import threading
import time
import urllib.parse
from typing import Dict, Optional

import jsonschema
import pytest
import requests

from fakes import FakeFleetHost, SeenRequest, fleet_factory  # noqa: F401 — fixture used by name
from helpers import hs256_jwt, wait_for
from stack import Stack, free_port

pytestmark = pytest.mark.timeout(300)

JWT_SECRET = "contract-test-secret-0123456789abcdef"
FLEET_SECRET = "contract-fleet-secret"
PUBLIC = "/api/v1/public/recordings/"
VERBEX = "/v1/call-recording/signed-url"
ACCESSIBLE = "/api/v1/admin/calls/accessible-urls"
NO_S3 = {k: None for k in ("RECGW_S3_ENDPOINT", "RECGW_S3_ACCESS_KEY", "RECGW_S3_SECRET_KEY",
                           "RECGW_S3_BUCKET", "RECGW_S3_REGION")}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
API_KEY_RE = re.compile(r"^rgw_[A-Za-z0-9_-]{43}$")

# ---- the Verbex document's schemas (names, fields, types, required) ----------------------------

VERBEX_SCHEMAS = {
    "CallRecordingRequest": {
        "type": "object", "required": ["call_id"],
        "properties": {"call_id": {"type": "string"},
                       "expiration_url_in_minutes": {"type": "integer", "default": 10}},
    },
    "CallRecordingSignedUrlResponse": {
        "type": "object", "required": ["file_name", "signed_url", "expiration_minutes", "expires_at"],
        "properties": {"file_name": {"type": "string"}, "signed_url": {"type": "string"},
                       "expiration_minutes": {"type": "integer"},
                       "expires_at": {"type": "string", "format": "date-time"}},
    },
    "app__calls__schemas__ErrorResponse": {
        "type": "object", "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "HTTPValidationError": {
        "type": "object",
        "properties": {"detail": {"type": "array", "items": {"$ref": "#/$defs/ValidationError"}}},
    },
    "ValidationError": {
        "type": "object", "required": ["loc", "msg", "type"],
        "properties": {"loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                       "msg": {"type": "string"}, "type": {"type": "string"}},
    },
}
VERBEX_OPERATION_ID = "get_signed_url_v1_call_recording_signed_url_post"
VERBEX_RESPONSES = {"200": "CallRecordingSignedUrlResponse", "401": "app__calls__schemas__ErrorResponse",
                    "404": "app__calls__schemas__ErrorResponse", "422": "HTTPValidationError"}
# Kataven: the response table (code → body type).
KATAVEN_RESPONSES = {"200": "object", "400": "string", "404": "string", "409": "string", "500": "string",
                     "503": "string"}


def verbex_conforms(body, name: str):
    schema = dict(VERBEX_SCHEMAS[name])
    schema["$defs"] = {"ValidationError": VERBEX_SCHEMAS["ValidationError"]}
    jsonschema.Draft202012Validator(schema).validate(body)
    # types exactly (jsonschema lets 10.0 pass as an integer)
    for field, spec in VERBEX_SCHEMAS[name]["properties"].items():
        if field in body and spec.get("type") == "integer":
            assert type(body[field]) is int, (field, body)


# ---- helpers -----------------------------------------------------------------------------------

def jwt(role: Optional[str] = "admin", account: Optional[str] = None, exp_in: int = 3600) -> Dict[str, str]:
    now = int(time.time())
    claims = {"sub": "contract-test", "iat": now, "exp": now + exp_in}
    if role is not None:
        claims["role"] = role
    if account is not None:
        claims["account_id"] = account
    return {"Authorization": "Bearer " + hs256_jwt(claims, JWT_SECRET, compact=True)}


def admin() -> Dict[str, str]:
    return jwt("admin")


def bearer(credential: str) -> Dict[str, str]:
    return {"Authorization": "Bearer " + credential}


def start(gateway_factory, **env):
    port = free_port()
    extra = {"RECGW_JWT_HS256_SECRET": JWT_SECRET, "RECGW_SERVER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    extra.update(env)
    return gateway_factory(extra_env=extra, port=port)


def seed(st: Stack, session_id: str, key: Optional[str], data: Optional[bytes], *, token: Optional[str] = None,
         account: str = "acct-a", status: Optional[str] = None) -> dict:
    if data is not None and key is not None:
        st.put_object(key, data, "audio/ogg")
    return st.insert_call(session_id, token=token, key=key, status=status, account_id=account)


def payload(n: int, salt: str) -> bytes:
    block = hashlib.sha256(salt.encode()).digest()
    return (block * (n // len(block) + 1))[:n]


def verbex(gw, body, headers=None) -> requests.Response:
    return requests.post(gw.url + VERBEX, json=body, headers=admin() if headers is None else headers, timeout=20)


def kataven(gw, session_id: str, account: Optional[str] = "acct-a", headers=None, alias: bool = False):
    h = dict(jwt("viewer", "acct-a") if headers is None else headers)
    if account is not None:
        h["X-Account-ID"] = account
    prefix = "/v1/sessions/" if alias else "/api/v1/sessions/"
    return requests.get(f"{gw.url}{prefix}{urllib.parse.quote(session_id, safe='')}/recording", headers=h,
                        timeout=20)


def assert_kataven_error(r: requests.Response, status: int) -> str:
    """The Kataven table: every error body is a JSON string."""
    assert r.status_code == status, f"{r.status_code} != {status}: {r.text}"
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, str) and body, f"not a JSON string: {r.text}"
    assert KATAVEN_RESPONSES.get(str(status), "string") == "string"
    return body


def assert_kataven_ok(r: requests.Response) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, dict), body
    assert set(body) == {"url", "expires_at", "expires_in", "url_kind"}, body
    assert isinstance(body["url"], str) and body["url"].startswith("http")
    assert isinstance(body["expires_at"], str) and RFC3339_UTC.match(body["expires_at"]), body
    assert type(body["expires_in"]) is int and body["expires_in"] == 300
    assert body["url_kind"] in ("storage_presigned", "gateway_public_link")
    return body


def assert_verbex_error(r: requests.Response, status: int, code: Optional[str] = None) -> dict:
    assert r.status_code == status, f"{r.status_code} != {status}: {r.text}"
    body = r.json()
    verbex_conforms(body, "app__calls__schemas__ErrorResponse")
    if code is not None:
        assert body["error"] == code, body
    return body


def recgw_cli(binary, st: Stack, *args: str, extra_env: Optional[dict] = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECGW_")}
    env.update(st.env)
    env.update(extra_env or {})
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=60)


def create_api_key(binary, st: Stack, account: str, name: str) -> str:
    p = recgw_cli(binary, st, "api-key", "create", "--account", account, "--name", name)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1 and API_KEY_RE.match(lines[0]), p.stdout
    return lines[0]


def fetch(url: str, **kw) -> requests.Response:
    return requests.get(url, timeout=15, **kw)


class CountingFleetHost(FakeFleetHost):
    """A fleet host that counts requests in flight (the most at once), and may refuse HEAD."""

    def __init__(self, *a, refuse_head: bool = False, **kw):
        super().__init__(*a, **kw)
        self.refuse_head = refuse_head
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()

    def _handle(self, h, head):
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if head and self.refuse_head:
                path = h.path.split("?", 1)[0]
                key = urllib.parse.unquote(path[len("/recordings/"):]) if path.startswith("/recordings/") else None
                seen = SeenRequest("HEAD", h.path, key, {k: v for k, v in h.headers.items()})
                self._record(seen)
                return self._plain(h, seen, 405, b"", head)
            return super()._handle(h, head)
        finally:
            with self._count_lock:
                self.in_flight -= 1


@pytest.fixture
def counting_fleet():
    started = []

    def make(objects=None, **kw):
        host = CountingFleetHost(objects, **kw).start()
        started.append(host)
        return host

    yield make
    for host in started:
        host.stop()


# ---- row 1: no recording → 404, and a fleet-only answer only after a fleet host confirmed it ----

def test_row1_verbex_and_kataven_404_when_the_object_is_nowhere_though_a_fleet_is_configured(
        clean_stack: Stack, gateway_factory, fleet_factory):
    host = fleet_factory({}, secret=FLEET_SECRET)  # has nothing
    seed(clean_stack, "sess-nowhere", "calls/nowhere.ogg", None, token="tok-nowhere-row1")
    gw = start(gateway_factory, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET)
    assert fetch(gw.url + PUBLIC + "tok-nowhere-row1").status_code == 404  # where a link would lead
    host.reset_counts()
    assert_verbex_error(verbex(gw, {"call_id": "sess-nowhere"}), 404, "not_found")
    assert_kataven_error(kataven(gw, "sess-nowhere"), 404)
    # the fleet host was asked (HEAD, with the secret) before answering
    heads = host.requests_for("calls/nowhere.ogg")
    assert len(heads) == 2 and all(s.method == "HEAD" for s in heads), [(s.method, s.key) for s in host.seen]
    assert all(s.headers.get("X-CXBCore-Secret") == FLEET_SECRET for s in heads)


def test_row1_404_when_storage_is_not_configured_and_no_fleet_host_has_it(clean_stack: Stack, gateway_factory,
                                                                           fleet_factory):
    host = fleet_factory({}, secret=FLEET_SECRET)
    seed(clean_stack, "sess-nos3-nowhere", "calls/nos3-nowhere.ogg", None, token="tok-nos3-nowhere")
    gw = start(gateway_factory, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET, **NO_S3)
    assert_verbex_error(verbex(gw, {"call_id": "sess-nos3-nowhere"}), 404, "not_found")
    assert_kataven_error(kataven(gw, "sess-nos3-nowhere"), 404)
    # no storage and no fleet at all: not configured (503 in both)
    gw2 = start(gateway_factory, **NO_S3)
    assert_verbex_error(verbex(gw2, {"call_id": "sess-nos3-nowhere"}), 503, "storage_not_configured")
    assert_kataven_error(kataven(gw2, "sess-nos3-nowhere"), 503)


def test_row1_gateway_link_only_after_a_fleet_host_confirmed_the_object(clean_stack: Stack, gateway_factory,
                                                                        counting_fleet):
    data = payload(30_000, "row1-fleet")
    empty = counting_fleet({}, secret=FLEET_SECRET)
    holder = counting_fleet({"calls/row1 fleet.ogg": data}, secret=FLEET_SECRET, refuse_head=True)
    seed(clean_stack, "sess-fleet-row1", "calls/row1 fleet.ogg", None, token="tok-fleet-row1")
    gw = start(gateway_factory, RECGW_FLEET_URLS=f"{empty.url},{holder.url}", RECGW_FLEET_SECRET=FLEET_SECRET)
    r = verbex(gw, {"call_id": "sess-fleet-row1", "expiration_url_in_minutes": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    verbex_conforms(body, "CallRecordingSignedUrlResponse")
    assert body["url_kind"] == "gateway_public_link"
    assert body["signed_url"] == f"{gw.url}{PUBLIC}tok-fleet-row1"
    # asked in order: the first host (HEAD → 404), the second (HEAD refused → GET cut after the headers)
    assert [(s.method, s.status) for s in empty.requests_for("calls/row1 fleet.ogg")] == [("HEAD", 404)]
    assert [(s.method, s.status) for s in holder.requests_for("calls/row1 fleet.ogg")] == [("HEAD", 405),
                                                                                            ("GET", 200)]
    assert fetch(body["signed_url"]).content == data
    assert_kataven_ok(kataven(gw, "sess-fleet-row1"))


def test_row1_a_failing_source_is_503_not_a_link(clean_stack: Stack, gateway_factory, fleet_factory):
    broken = fleet_factory({}, secret=FLEET_SECRET, status_override=500)
    seed(clean_stack, "sess-broken", "calls/broken.ogg", None, token="tok-broken-row1")
    gw = start(gateway_factory, RECGW_FLEET_URLS=broken.url, RECGW_FLEET_SECRET=FLEET_SECRET)
    r = verbex(gw, {"call_id": "sess-broken"})
    assert_verbex_error(r, 503, "storage_unavailable")
    assert r.headers.get("Retry-After")
    assert_kataven_error(kataven(gw, "sess-broken"), 500)
    # a fleet host that refuses the secret is a failing source too
    wrong = start(gateway_factory, RECGW_FLEET_URLS=fleet_factory({"calls/broken.ogg": b"x"}, secret="other").url,
                  RECGW_FLEET_SECRET=FLEET_SECRET)
    assert_verbex_error(verbex(wrong, {"call_id": "sess-broken"}), 503, "storage_unavailable")


# ---- Verbex: every documented status and shape -------------------------------------------------

def test_verbex_contract(clean_stack: Stack, gateway_factory):
    data = payload(20_000, "verbex")
    seed(clean_stack, "sess-verbex", "calls/2026/verbex rec.ogg", data)
    seed(clean_stack, "sess-verbex-b", "calls/verbex-b.ogg", b"b", account="acct-b")
    gw = start(gateway_factory)
    r = verbex(gw, {"call_id": "sess-verbex"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text
    body = r.json()
    verbex_conforms(body, "CallRecordingSignedUrlResponse")
    assert body["file_name"] == "verbex rec.ogg"
    assert body["expiration_minutes"] == 10  # the documented default
    assert RFC3339_UTC.match(body["expires_at"])
    assert fetch(body["signed_url"]).content == data
    # 401
    for headers in ({}, bearer("not-a-jwt"), bearer("rgw_short"), jwt(exp_in=-3600)):
        r = verbex(gw, {"call_id": "sess-verbex"}, headers=headers)
        assert_verbex_error(r, 401)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    # 404: unknown, and another account's call for a tenant
    assert_verbex_error(verbex(gw, {"call_id": "no-such-call"}), 404)
    assert_verbex_error(verbex(gw, {"call_id": "sess-verbex-b"}, headers=jwt("viewer", "acct-a")), 404)
    # 422
    for raw in (b"{}", b'{"call_id": 5}', b'{"call_id": "x", "expiration_url_in_minutes": "ten"}', b"[]"):
        r = requests.post(gw.url + VERBEX, data=raw, headers={**admin(), "Content-Type": "application/json"},
                          timeout=10)
        assert r.status_code == 422, r.text
        verbex_conforms(r.json(), "HTTPValidationError")


def test_verbex_takes_an_api_key_of_the_calls_account(clean_stack: Stack, gateway_factory, recgw_binary):
    data = payload(5000, "verbex-key")
    seed(clean_stack, "sess-vk-a", "calls/vk-a.ogg", data, account="acct-a")
    seed(clean_stack, "sess-vk-b", "calls/vk-b.ogg", b"b", account="acct-b")
    key = create_api_key(recgw_binary, clean_stack, "acct-a", "verbex")
    gw = start(gateway_factory)
    r = verbex(gw, {"call_id": "sess-vk-a"}, headers=bearer(key))
    assert r.status_code == 200, r.text
    assert fetch(r.json()["signed_url"]).content == data
    assert_verbex_error(verbex(gw, {"call_id": "sess-vk-b"}, headers=bearer(key)), 404)


# ---- Kataven: rows 6 and 7 ---------------------------------------------------------------------

def test_row6_kataven_error_bodies_are_json_strings(clean_stack: Stack, gateway_factory):
    seed(clean_stack, "sess-k", "calls/k.ogg", b"k-bytes")
    seed(clean_stack, "sess-k-up", "calls/k-up.ogg", None, status="uploading")
    seed(clean_stack, "sess-k-gone", "calls/k-gone.ogg", None)
    gw = start(gateway_factory)
    assert_kataven_ok(kataven(gw, "sess-k"))
    assert_kataven_error(kataven(gw, "sess-k", account=None), 400)
    r = kataven(gw, "sess-k", headers={})
    assert_kataven_error(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert_kataven_error(kataven(gw, "no-such-session"), 404)
    assert_kataven_error(kataven(gw, "sess-k-gone"), 404)
    assert "uploading" in assert_kataven_error(kataven(gw, "sess-k-up"), 409)
    # 503: playback not configured (no storage, no fleet)
    assert_kataven_error(kataven(start(gateway_factory, **NO_S3), "sess-k"), 503)
    # 500: the recording index failed
    gw_fast = start(gateway_factory, RECGW_MONGO_TIMEOUT_MS="500")
    clean_stack.stop_service("ferretdb")
    try:
        assert_kataven_error(kataven(gw_fast, "sess-k"), 500)
    finally:
        clean_stack.start_service("ferretdb")


def test_row7_kataven_api_key_auth_and_the_v1_alias(clean_stack: Stack, gateway_factory, recgw_binary):
    data = payload(8000, "kataven-key")
    seed(clean_stack, "agent_01HZ2N", "calls/agent.ogg", data, account="acct-a")
    seed(clean_stack, "sess-other", "calls/other.ogg", b"other", account="acct-b")
    key = create_api_key(recgw_binary, clean_stack, "acct-a", "kataven sdk")
    # stored as its SHA-256 only
    docs = list(clean_stack.db.api_keys.find({}))
    assert len(docs) == 1
    doc = docs[0]
    assert doc["key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert doc["account_id"] == "acct-a" and doc["name"] == "kataven sdk"
    assert isinstance(doc["created_at"], dt.datetime) and doc.get("revoked_at") is None
    assert key not in repr(doc) and key[4:] not in repr(doc)

    gw = start(gateway_factory)
    for alias in (False, True):
        body = assert_kataven_ok(kataven(gw, "agent_01HZ2N", headers=bearer(key), alias=alias))
        assert fetch(body["url"]).content == data
        # JWTs keep working on both paths
        assert_kataven_ok(kataven(gw, "agent_01HZ2N", alias=alias))
        # X-Account-ID stays required, and must be the key's account (404, not 403: nothing leaks)
        assert_kataven_error(kataven(gw, "agent_01HZ2N", account=None, headers=bearer(key), alias=alias), 400)
        assert_kataven_error(kataven(gw, "sess-other", account="acct-b", headers=bearer(key), alias=alias), 404)
        assert_kataven_error(kataven(gw, "agent_01HZ2N", account="acct-b", headers=bearer(key), alias=alias), 404)
        assert_kataven_error(kataven(gw, "sess-other", account="acct-a", headers=bearer(key), alias=alias), 404)
    # malformed and unknown keys: 401
    unknown = "rgw_" + "A" * 43
    for bad in (unknown, key[:-1], key + "x", "rgw_", key.replace("rgw_", "rgx_")):
        r = kataven(gw, "agent_01HZ2N", headers=bearer(bad))
        assert_kataven_error(r, 401)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    # the key never reaches a log line
    assert key not in gw.logs() and key[4:] not in gw.logs()


def test_row7_revoked_key_stops_working_within_the_cache_time(clean_stack: Stack, gateway_factory,
                                                              recgw_binary):
    seed(clean_stack, "sess-rev", "calls/rev.ogg", b"revoke-me", account="acct-a")
    key = create_api_key(recgw_binary, clean_stack, "acct-a", "to revoke")
    other = create_api_key(recgw_binary, clean_stack, "acct-a", "stays")
    cache_s = 2
    gw = start(gateway_factory, RECGW_API_KEYS_CACHE_S=str(cache_s))
    assert_kataven_ok(kataven(gw, "sess-rev", headers=bearer(key)))  # now cached on the worker
    listed = recgw_cli(recgw_binary, clean_stack, "api-key", "list", "--account", "acct-a")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()[1:]]
    key_id = hashlib.sha256(key.encode()).hexdigest()[:16]
    assert sorted(r[0] for r in rows) == sorted([key_id, hashlib.sha256(other.encode()).hexdigest()[:16]])
    assert all(r[1] == "acct-a" and r[4] == "active" for r in rows), rows
    assert key not in listed.stdout
    revoked = recgw_cli(recgw_binary, clean_stack, "api-key", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    revoked_at = time.monotonic()
    assert clean_stack.db.api_keys.find_one({"key_sha256": hashlib.sha256(key.encode()).hexdigest()})["revoked_at"]

    def refused():
        r = kataven(gw, "sess-rev", headers=bearer(key))
        return (r,) if r.status_code == 401 else None
    (r,) = wait_for(refused, cache_s + 3, "the revoked key to be refused")
    assert time.monotonic() - revoked_at <= cache_s + 1.5
    assert isinstance(r.json(), str)
    assert_kataven_ok(kataven(gw, "sess-rev", headers=bearer(other)))  # the other key is untouched
    listed = recgw_cli(recgw_binary, clean_stack, "api-key", "list")
    assert any(line.startswith(key_id) and "\trevoked " in line for line in listed.stdout.splitlines())
    # CLI errors: one line, exit 2
    for args in (["revoke", "zz"], ["revoke", "0000000000000000"], ["create", "--account", "a"], ["frobnicate"]):
        p = recgw_cli(recgw_binary, clean_stack, "api-key", *args)
        assert p.returncode == 2 and p.stdout == "" and len(p.stderr.strip().splitlines()) == 1, (args, p)


# ---- row 10: accessible URLs in bulk --------------------------------------------------------------

ACCESSIBLE_FIELDS = {"session_id": (str,), "url": (str, type(None)), "url_kind": (str, type(None)),
                     "expires_at": (str, type(None)), "reason": (str, type(None))}


def test_row10_accessible_urls_for_many_calls(clean_stack: Stack, gateway_factory, fleet_factory):
    in_storage = payload(9000, "acc-storage")
    on_fleet = payload(7000, "acc-fleet")
    host = fleet_factory({"calls/acc-fleet.ogg": on_fleet, "calls/acc-fleet-nt.ogg": b"nt"}, secret=FLEET_SECRET)
    seed(clean_stack, "acc-storage", "calls/acc-storage.ogg", in_storage)
    seed(clean_stack, "acc-fleet", "calls/acc-fleet.ogg", None, token="tok-acc-fleet")
    seed(clean_stack, "acc-fleet-nt", "calls/acc-fleet-nt.ogg", None)
    seed(clean_stack, "acc-nowhere", "calls/acc-nowhere.ogg", None, token="tok-acc-nowhere")
    seed(clean_stack, "acc-nokey", None, None)
    seed(clean_stack, "acc-pending", "calls/acc-pending.ogg", None, status="pending")
    seed(clean_stack, "acc-failed", "calls/acc-failed.ogg", None, status="failed")
    gw = start(gateway_factory, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET)
    ids = ["acc-storage", "acc-fleet", "acc-fleet-nt", "acc-nowhere", "acc-nokey", "acc-pending", "acc-failed",
           "no-such-call", "acc-storage"]
    r = requests.post(gw.url + ACCESSIBLE, json={"session_ids": ids, "expires_in": 600}, headers=admin(),
                      timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"results"}
    results = body["results"]
    assert [x["session_id"] for x in results] == ids[:-1]  # one per distinct id, in order
    for x in results:
        assert set(x) == set(ACCESSIBLE_FIELDS), x
        for field, types in ACCESSIBLE_FIELDS.items():
            assert isinstance(x[field], types), (field, x)
        assert (x["url"] is None) == (x["url_kind"] is None) == (x["reason"] is not None), x
        assert x["url_kind"] in ("presigned", "gateway_public_link", None)
    by = {x["session_id"]: x for x in results}
    s = by["acc-storage"]
    assert s["url_kind"] == "presigned" and RFC3339_UTC.match(s["expires_at"])
    assert fetch(s["url"]).content == in_storage
    f = by["acc-fleet"]
    assert f["url_kind"] == "gateway_public_link" and f["expires_at"] is None
    assert f["url"] == f"{gw.url}{PUBLIC}tok-acc-fleet" and fetch(f["url"]).content == on_fleet
    assert {k: by[k]["reason"] for k in ids[2:8]} == {
        "acc-fleet-nt": "no_public_token", "acc-nowhere": "not_found", "acc-nokey": "no_recording_key",
        "acc-pending": "not_ready", "acc-failed": "recording_failed", "no-such-call": "no_call"}
    # auth like the other admin routes; bad bodies are 400
    assert requests.post(gw.url + ACCESSIBLE, json={"session_ids": ids}, timeout=10).status_code == 401
    assert requests.post(gw.url + ACCESSIBLE, json={"session_ids": ids}, headers=jwt("viewer", "acct-a"),
                         timeout=10).status_code == 403
    for bad in ({}, {"session_ids": "x"}, {"session_ids": [1]}, {"session_ids": [""]},
                {"session_ids": [f"s{i}" for i in range(501)]}, {"session_ids": ["a"], "expires_in": 0}):
        r = requests.post(gw.url + ACCESSIBLE, json=bad, headers=admin(), timeout=10)
        assert r.status_code == 400 and set(r.json()) >= {"error", "message"}, (bad, r.text)
    r = requests.post(gw.url + ACCESSIBLE, json={"session_ids": [f"s{i}" for i in range(500)]}, headers=admin(),
                      timeout=30)
    assert r.status_code == 200 and len(r.json()["results"]) == 500


def test_row10_accessible_urls_bound_their_heads_and_stop_asking_a_failing_source(clean_stack: Stack,
                                                                               gateway_factory, fleet_factory,
                                                                               counting_fleet):
    broken = fleet_factory({}, secret=FLEET_SECRET, status_override=503)
    slow = counting_fleet({}, secret=FLEET_SECRET, delay_s=0.15)
    n = 40
    ids = []
    for i in range(n):
        key = f"calls/bulk-{i}.ogg"
        slow.put(key, b"x" * 100)
        seed(clean_stack, f"bulk-{i}", key, None, token=f"tok-bulk-{i:04d}")
        ids.append(f"bulk-{i}")
    gw = start(gateway_factory, RECGW_FLEET_URLS=f"{broken.url},{slow.url}", RECGW_FLEET_SECRET=FLEET_SECRET)
    r = requests.post(gw.url + ACCESSIBLE, json={"session_ids": ids}, headers=admin(), timeout=60)
    assert r.status_code == 200, r.text
    assert all(x["url_kind"] == "gateway_public_link" for x in r.json()["results"]), r.text
    assert slow.request_count == n
    assert 2 <= slow.max_in_flight <= 8, slow.max_in_flight  # in parallel, but bounded
    # once it has failed it is not asked again: only the calls already on their way asked it
    assert 1 <= broken.request_count <= 8, broken.request_count


# ---- CXB routes (storage, then the fleet) and row 11: the VoxCore names ----------------------------

def test_cxb_public_and_admin_routes(clean_stack: Stack, gateway_factory, fleet_factory):
    data = payload(6000, "cxb")
    on_fleet = payload(4000, "cxb-fleet")
    host = fleet_factory({"calls/cxb-fleet.ogg": on_fleet}, secret=FLEET_SECRET)
    seed(clean_stack, "cxb-s", "calls/cxb.ogg", data, token="tok-cxb-storage")
    seed(clean_stack, "cxb-f", "calls/cxb-fleet.ogg", None, token="tok-cxb-fleet")
    by_url = payload(3000, "cxb-url")
    clean_stack.put_object("cxb-url.ogg", by_url, "audio/ogg")
    clean_stack.insert_call("cxb-url", token="tok-cxb-url", account_id="acct-a",
                            url="https://b.nyc3.digitaloceanspaces.com/calls/2024/cxb-url.ogg?X-Amz-Expires=60")
    seed(clean_stack, "cxb-nokey", None, None, token="tok-cxb-nokey")
    gw = start(gateway_factory, RECGW_FLEET_URLS=host.url, RECGW_FLEET_SECRET=FLEET_SECRET)
    r = fetch(gw.url + PUBLIC + "tok-cxb-storage")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Disposition"].startswith("inline")
    assert fetch(gw.url + PUBLIC + "tok-cxb-fleet").content == on_fleet  # fleet fallback
    assert host.requests_for("calls/cxb-fleet.ogg")[-1].headers.get("X-CXBCore-Secret") == FLEET_SECRET
    # no recording_key: the last path segment of recording_url
    assert fetch(gw.url + PUBLIC + "tok-cxb-url").content == by_url
    for token in ("no-such-token", "tok-cxb-nokey"):
        assert fetch(gw.url + PUBLIC + token).status_code == 404
    # admin router: require_admin
    assert fetch(gw.url + "/api/v1/recordings/cxb-s", headers=admin()).content == data
    assert fetch(gw.url + "/api/v1/recordings/cxb-s").status_code == 401
    assert fetch(gw.url + "/api/v1/recordings/cxb-s", headers=jwt("viewer", "acct-a")).status_code == 403
    assert fetch(gw.url + "/api/v1/recordings/no-such", headers=admin()).status_code == 404


def test_row11_voxcore_fleet_settings_of_older_deployments(clean_stack: Stack, gateway_factory, fleet_factory):
    on_fleet = payload(5000, "voxcore")
    vox = fleet_factory({"calls/vox.ogg": on_fleet}, secret="vox-secret", secret_header="X-VoxCore-Secret")
    clean_stack.db.system_settings.insert_one({"_id": "global", "voxcore_fleet": [vox.url],
                                               "voxcore_secret": "vox-secret"})
    seed(clean_stack, "sess-vox", "calls/vox.ogg", None, token="tok-vox-row11")
    gw = start(gateway_factory)  # storage from the environment, no fleet configured
    r = fetch(gw.url + PUBLIC + "tok-vox-row11")
    assert r.status_code == 200 and r.content == on_fleet, r.text
    assert vox.requests_for("calls/vox.ogg")[-1].headers.get("X-VoxCore-Secret") == "vox-secret"
    r = verbex(gw, {"call_id": "sess-vox"})
    assert r.status_code == 200 and r.json()["url_kind"] == "gateway_public_link", r.text
    # fleet.secret_header configured: that header, whatever the settings' naming
    custom = fleet_factory({"calls/vox.ogg": on_fleet}, secret="vox-secret", secret_header="X-Custom-Secret")
    clean_stack.db.system_settings.update_one({"_id": "global"}, {"$set": {"voxcore_fleet": [custom.url]}})
    gw2 = start(gateway_factory, RECGW_FLEET_SECRET_HEADER="X-Custom-Secret")
    assert fetch(gw2.url + PUBLIC + "tok-vox-row11").content == on_fleet
    assert custom.requests_for("calls/vox.ogg")[-1].headers.get("X-Custom-Secret") == "vox-secret"


# ---- row 8: /openapi.json ----------------------------------------------------------------------------

def test_row8_openapi_operation_ids_and_schema_names(stack: Stack, gateway_factory):
    from openapi_spec_validator import validate

    gw = start(gateway_factory)
    doc = requests.get(gw.url + "/openapi.json", timeout=10).json()
    validate(doc)
    schemas = doc["components"]["schemas"]
    op = doc["paths"]["/v1/call-recording/signed-url"]["post"]
    assert op["operationId"] == VERBEX_OPERATION_ID
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/CallRecordingRequest"
    for code, name in VERBEX_RESPONSES.items():
        assert op["responses"][code]["content"]["application/json"]["schema"]["$ref"] == \
            f"#/components/schemas/{name}", code
    for name, documented in VERBEX_SCHEMAS.items():
        assert name in schemas, name
        ours = schemas[name]
        assert ours["type"] == "object"
        assert set(documented.get("required", [])) == set(ours.get("required", [])) - {"detail"}, name
        for field, spec in documented["properties"].items():
            assert field in ours["properties"], (name, field)
            if "type" in spec:
                assert ours["properties"][field]["type"] == spec["type"], (name, field)
    assert schemas["CallRecordingRequest"]["properties"]["expiration_url_in_minutes"]["default"] == 10

    for path in ("/api/v1/sessions/{id}/recording", "/v1/sessions/{id}/recording"):
        op = doc["paths"][path]["get"]
        assert {"bearerAuth": []} in op["security"] and {"apiKeyAuth": []} in op["security"]
        for code, kind in KATAVEN_RESPONSES.items():
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            resolved = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
            assert resolved["type"] == kind, (path, code)
    acc = doc["paths"][ACCESSIBLE]["post"]
    assert set(acc["responses"]) >= {"200", "400", "401", "403"}
    assert doc["components"]["securitySchemes"]["apiKeyAuth"]["scheme"] == "bearer"


def test_a_flood_of_unknown_api_keys_is_limited_per_address(clean_stack: Stack, gateway_factory, recgw_binary):
    # Each unknown key costs a MongoDB query: like unknown public tokens, they are charged to
    # the client's address, so random keys cannot fill the queue the public links share.
    seed(clean_stack, "sess-flood", "calls/flood.ogg", b"flood", account="acct-a")
    key = create_api_key(recgw_binary, clean_stack, "acct-a", "real")
    gw = start(gateway_factory, RECGW_CACHE_FAILED_LOOKUPS_BURST="5", RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE="1")
    assert_kataven_ok(kataven(gw, "sess-flood", headers=bearer(key)))  # charged, then given back
    answers = [kataven(gw, "sess-flood", headers=bearer("rgw_" + secrets.token_urlsafe(32))) for _ in range(12)]
    statuses = [r.status_code for r in answers]
    assert statuses[:5] == [401] * 5, statuses
    assert set(statuses[5:]) == {429}, statuses
    assert int(answers[-1].headers["Retry-After"]) >= 1 and isinstance(answers[-1].json(), str)
    # the address's real key, cached on the worker, still works
    assert_kataven_ok(kataven(gw, "sess-flood", headers=bearer(key)))


def test_a_key_revoked_by_hand_with_a_non_date_is_refused(clean_stack: Stack, gateway_factory, recgw_binary):
    seed(clean_stack, "sess-hand", "calls/hand.ogg", b"hand", account="acct-a")
    key = create_api_key(recgw_binary, clean_stack, "acct-a", "revoked by a script")
    clean_stack.db.api_keys.update_one({"key_sha256": hashlib.sha256(key.encode()).hexdigest()},
                                       {"$set": {"revoked_at": "2026-01-01"}})
    gw = start(gateway_factory)
    assert_kataven_error(kataven(gw, "sess-hand", headers=bearer(key)), 401)
