"""Upload reports from fleet hosts (POST /api/v1/fleet/recordings) against the real stack.

A fleet host that finished uploading a recording reports it, signed with the fleet secret
(X-CXBCore-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">). The gateway checks
the object, updates the call (key, status, a token when it has none) and fills L1 and
Redis, so the link plays at once with no MongoDB lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Optional

import pytest
import requests

from fakes import fleet_factory, md5_etag  # noqa: F401 — fixture used by name
from helpers import hs256_jwt, metric_sum, metrics_snapshot, wait_for
from stack import Gateway, Stack, free_port

pytestmark = pytest.mark.timeout(120)

FLEET_SECRET = "reports-fleet-secret-0123456789"
REPORTS = "/api/v1/fleet/recordings"
NO_S3 = {k: None for k in ("RECGW_S3_ENDPOINT", "RECGW_S3_ACCESS_KEY", "RECGW_S3_SECRET_KEY",
                           "RECGW_S3_BUCKET", "RECGW_S3_REGION")}


def start(gateway_factory, **env) -> Gateway:
    port = free_port()
    extra = {"RECGW_FLEET_SECRET": FLEET_SECRET, "RECGW_SERVER_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    extra.update(env)
    return gateway_factory(extra_env=extra, port=port)


def signature(body: bytes, t: Optional[int] = None, secret: str = FLEET_SECRET) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def report_body(session_id: str, key: str, data: bytes, **more) -> bytes:
    doc = {"session_id": session_id, "key": key, "size": len(data), "etag": md5_etag(data),
           "content_type": "audio/ogg", "duration_s": 12.5, **more}
    return json.dumps(doc, separators=(",", ":")).encode()


def post_report(gw: Gateway, body: bytes, sig: Optional[str] = "auto", headers: Optional[dict] = None):
    h = {"Content-Type": "application/json", **(headers or {})}
    if sig == "auto":
        sig = signature(body)
    if sig is not None:
        h["X-CXBCore-Signature"] = sig
    return requests.post(gw.url + REPORTS, data=body, headers=h, timeout=15)


def access_source(gw: Gateway, request_id: str) -> dict:
    def find():
        for rec in gw.log_lines():
            if rec.get("type") == "access" and rec.get("request_id") == request_id:
                return rec
        return None
    return wait_for(find, 5, f"the access-log line of {request_id}")


def uploaded(st: Stack, size: int = 50_000) -> tuple[str, str, bytes]:
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    key = f"rec/{session_id}.ogg"
    data = uuid.uuid4().bytes * (size // 16)
    st.put_object(key, data, "audio/ogg")
    st.insert_call(session_id, status="uploading")
    return session_id, key, data


def test_a_valid_report_makes_the_link_play_at_once_without_a_mongo_lookup(clean_stack: Stack, gateway_factory):
    st = clean_stack
    gw = start(gateway_factory)
    session_id, key, data = uploaded(st)
    r = post_report(gw, report_body(session_id, key, data))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"session_id", "public_url", "token_created"}
    assert answer["session_id"] == session_id and answer["token_created"] is True
    token = answer["public_url"].rsplit("/", 1)[1]
    assert answer["public_url"] == f"{gw.url}/api/v1/public/recordings/{token}"

    call = st.db.calls.find_one({"session_id": session_id})
    assert call["recording_key"] == key and call["recording_status"] == "ready"
    assert call["recording_access_token"] == token
    assert call["recording_size"] == len(data) and call["recording_content_type"] == "audio/ogg"
    # Redis holds both lookups already (another worker's first request is a Redis hit).
    assert st.redis.get("recgw:tok:" + hashlib.sha256(token.encode()).hexdigest())
    assert st.redis.get("recgw:sid:" + session_id)

    mongo0 = metric_sum(metrics_snapshot(gw.url), "recgw_mongo_queries_total")
    rid = "fr" + uuid.uuid4().hex[:16]
    got = requests.get(answer["public_url"], headers={"X-Request-Id": rid}, timeout=15)
    assert got.status_code == 200 and got.content == data
    after = metrics_snapshot(gw.url)
    assert metric_sum(after, "recgw_mongo_queries_total") == mongo0, "the first request queried MongoDB"
    assert access_source(gw, rid).get("source") in ("l1", "redis")
    assert metric_sum(after, "recgw_fleet_reports_total", result="accepted_new_token") == 1


def test_a_repeated_report_keeps_the_token(clean_stack: Stack, gateway_factory):
    st = clean_stack
    gw = start(gateway_factory)
    session_id, key, data = uploaded(st)
    body = report_body(session_id, key, data)
    first = post_report(gw, body)
    assert first.status_code == 200, first.text
    again = post_report(gw, body)
    assert again.status_code == 200, again.text
    assert again.json()["public_url"] == first.json()["public_url"]
    assert again.json()["token_created"] is False
    # A call that already had a token keeps it too.
    other, other_key, other_data = uploaded(st)
    st.db.calls.update_one({"session_id": other}, {"$set": {"recording_access_token": "t" * 43}})
    r = post_report(gw, report_body(other, other_key, other_data))
    assert r.status_code == 200 and r.json()["public_url"].endswith("/" + "t" * 43)
    assert r.json()["token_created"] is False
    assert metric_sum(metrics_snapshot(gw.url), "recgw_fleet_reports_total", result="accepted") == 2


@pytest.mark.parametrize("case", ["replayed", "future", "wrong_secret", "changed_body", "moved_time",
                                  "plain_secret_only", "no_signature", "malformed"])
def test_a_report_that_is_not_signed_now_with_the_secret_is_401(clean_stack: Stack, gateway_factory, case):
    st = clean_stack
    gw = start(gateway_factory, RECGW_FLEET_REPORT_SKEW_S="60")
    session_id, key, data = uploaded(st)
    body = report_body(session_id, key, data)
    now = int(time.time())
    headers = None
    send = body
    if case == "replayed":
        sig = signature(body, now - 61)
    elif case == "future":
        sig = signature(body, now + 120)
    elif case == "wrong_secret":
        sig = signature(body, secret="not-the-secret")
    elif case == "changed_body":
        sig = signature(body)
        send = body.replace(b'"size":', b'"size":1')
    elif case == "moved_time":
        sig = signature(body, now).replace(f"t={now}", f"t={now - 1}")
    elif case == "plain_secret_only":
        sig, headers = None, {"X-CXBCore-Secret": FLEET_SECRET}
    elif case == "no_signature":
        sig = None
    else:
        sig = "sha256=" + hashlib.sha256(body).hexdigest()
    r = post_report(gw, send, sig, headers)
    assert r.status_code == 401, r.text
    code = r.json()["error"]
    assert code == {"replayed": "signature_expired", "future": "signature_expired",
                    "plain_secret_only": "signature_required", "no_signature": "signature_required",
                    "malformed": "signature_malformed"}.get(case, "signature_mismatch")
    assert FLEET_SECRET not in r.text
    call = st.db.calls.find_one({"session_id": session_id})
    assert "recording_access_token" not in call and call["recording_status"] == "uploading"


def test_the_skew_accepts_a_signature_a_little_old(clean_stack: Stack, gateway_factory):
    st = clean_stack
    gw = start(gateway_factory, RECGW_FLEET_REPORT_SKEW_S="60")
    session_id, key, data = uploaded(st)
    body = report_body(session_id, key, data)
    r = post_report(gw, body, signature(body, int(time.time()) - 50))
    assert r.status_code == 200, r.text


def test_a_missing_object_is_409_with_the_reason(clean_stack: Stack, gateway_factory, fleet_factory):
    st = clean_stack
    host = fleet_factory(secret=FLEET_SECRET)
    gw = start(gateway_factory, RECGW_FLEET_URLS=host.url)
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    st.insert_call(session_id, status="uploading")
    r = post_report(gw, report_body(session_id, f"rec/{session_id}.ogg", b"x" * 100))
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "object_not_found"
    assert "storage: not found" in r.json()["reason"] and "fleet:0: not found" in r.json()["reason"]
    call = st.db.calls.find_one({"session_id": session_id})
    assert call["recording_status"] == "uploading" and "recording_key" not in call
    # The object exists but not as reported: 409 too, nothing recorded.
    session_id, key, data = uploaded(st)
    r = post_report(gw, report_body(session_id, key, data, size=len(data) + 1))
    assert r.status_code == 409 and r.json()["error"] == "object_mismatch", r.text
    assert str(len(data)) in r.json()["reason"]


def test_bad_bodies_are_400_naming_the_field(clean_stack: Stack, gateway_factory):
    gw = start(gateway_factory)
    for body, field in ((b"[1]", None), (b'{"session_id":"s"}', "key"),
                        (b'{"session_id":"s","key":"k","size":-1,"etag":"e","content_type":"t"}', "size")):
        r = post_report(gw, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"] == "invalid_report"
        assert r.json().get("field") == field
    r = post_report(gw, report_body("no-such-call", "k", b"x"))
    assert r.status_code in (404, 409), r.text


def test_an_unknown_session_is_404(clean_stack: Stack, gateway_factory):
    st = clean_stack
    gw = start(gateway_factory)
    key = f"rec/{uuid.uuid4().hex}.ogg"
    st.put_object(key, b"y" * 64, "audio/ogg")
    r = post_report(gw, report_body("sess-nobody", key, b"y" * 64))
    assert r.status_code == 404 and r.json()["error"] == "no_call", r.text


def test_a_fleet_only_object_reported_by_its_host_plays_through_the_fleet(clean_stack: Stack, gateway_factory,
                                                                         fleet_factory):
    st = clean_stack
    data = b"fleet-only-recording " * 3000
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    key = f"rec/{session_id}.ogg"
    other = fleet_factory(secret=FLEET_SECRET)
    host = fleet_factory({key: data}, secret=FLEET_SECRET)
    gw = start(gateway_factory, RECGW_FLEET_URLS=f"{other.url},{host.url}")
    st.insert_call(session_id, status="uploading")
    r = post_report(gw, report_body(session_id, key, data, fleet_host=host.url + "/"))
    assert r.status_code == 200, r.text
    assert other.request_count == 0, "only the reporting host is asked"
    heads = host.requests_for(key)
    assert heads and heads[0].headers.get("X-CXBCore-Secret") == FLEET_SECRET
    host.reset_counts()
    rid = "ff" + uuid.uuid4().hex[:16]
    got = requests.get(r.json()["public_url"], headers={"X-Request-Id": rid}, timeout=15)
    assert got.status_code == 200 and got.content == data
    assert access_source(gw, rid).get("origin") == "fleet:1"
    assert other.request_count == 0, "the lookup hint sends the stream to the reporting host first"
    # A host the gateway does not know is refused: it could not stream from it.
    r = post_report(gw, report_body(session_id, key, data, fleet_host="http://127.0.0.1:1"))
    assert r.status_code == 409 and "fleet_host" in r.json()["reason"], r.text


def test_without_a_fleet_secret_reports_are_refused(clean_stack: Stack, gateway_factory):
    gw = start(gateway_factory, RECGW_FLEET_SECRET=None)
    body = report_body("s", "k", b"x")
    r = post_report(gw, body)
    assert r.status_code == 503 and r.json()["error"] == "fleet_secret_not_configured", r.text


def test_the_fleet_secret_from_system_settings_signs_reports(clean_stack: Stack, gateway_factory, fleet_factory):
    """The secret is the one in force: config, else system_settings (cxbcore_secret), as for
    the gateway's own requests to fleet hosts."""
    st = clean_stack
    data = b"settings-fleet " * 2000
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    key = f"rec/{session_id}.ogg"
    host = fleet_factory({key: data}, secret="settings-secret")
    st.db.system_settings.insert_one({"_id": "global", "cxbcore_fleet": [host.url],
                                      "cxbcore_secret": "settings-secret"})
    st.insert_call(session_id, status="uploading")
    gw = start(gateway_factory, RECGW_FLEET_SECRET=None)
    body = report_body(session_id, key, data)
    # The settings document is read at start-up, on the worker pool: wait until it is in force.
    r = wait_for(lambda: (lambda r: r if r.status_code != 503 else None)(
        post_report(gw, body, signature(body, secret="settings-secret"))), 10, "the settings' fleet secret")
    assert r.status_code == 200, r.text
    assert requests.get(r.json()["public_url"], timeout=15).content == data
    wrong = post_report(gw, body, signature(body))   # the test's default secret is not the one in force
    assert wrong.status_code == 401 and wrong.json()["error"] == "signature_mismatch"


def test_with_two_workers_no_first_request_reaches_mongo(clean_stack: Stack, gateway_factory):
    """The report is answered only once Redis holds the lookups, so the worker that did not
    handle it answers from Redis: no request for the new link is a MongoDB lookup."""
    st = clean_stack
    gw = start(gateway_factory, RECGW_SERVER_WORKERS="2")
    sources = []
    for _ in range(3):
        session_id, key, data = uploaded(st)
        r = post_report(gw, report_body(session_id, key, data))
        assert r.status_code == 200, r.text
        for _ in range(4):   # a new connection each: the kernel spreads them over both workers
            rid = "fw" + uuid.uuid4().hex[:16]
            got = requests.get(r.json()["public_url"], headers={"X-Request-Id": rid, "Connection": "close"},
                               timeout=15)
            assert got.status_code == 200 and got.content == data
            sources.append(access_source(gw, rid).get("source"))
    assert set(sources) <= {"l1", "redis"}, sources
    assert "redis" in sources, f"every request went to the reporting worker: {sources}"


JWT_SECRET = "reports-jwt-secret-0123456789abcdef0123"


def admin_headers() -> dict:
    now = int(time.time())
    claims = {"sub": "ops", "role": "admin", "iat": now, "exp": now + 600}
    return {"Authorization": "Bearer " + hs256_jwt(claims, JWT_SECRET)}


def test_a_report_never_brings_back_a_revoked_link(clean_stack: Stack, gateway_factory):
    """An admin revoked the call's link: a later report (a re-upload, or a report captured
    and replayed within the skew) records the object but mints no new link."""
    st = clean_stack
    gw = start(gateway_factory, RECGW_JWT_HS256_SECRET=JWT_SECRET)
    session_id, key, data = uploaded(st)
    first = post_report(gw, report_body(session_id, key, data))
    assert first.status_code == 200 and first.json()["token_created"] is True, first.text
    old_url = first.json()["public_url"]
    r = requests.delete(gw.url + f"/api/v1/admin/recordings/{session_id}/token", headers=admin_headers(),
                        timeout=10)
    assert r.status_code == 200 and r.json()["revoked"] is True, r.text
    again = post_report(gw, report_body(session_id, key, data))
    assert again.status_code == 200, again.text
    assert again.json()["public_url"] is None
    assert again.json()["token_created"] is False and again.json()["link_revoked"] is True
    call = st.db.calls.find_one({"session_id": session_id})
    assert not call.get("recording_access_token") and call["recording_status"] == "ready"
    assert requests.get(old_url, timeout=10).status_code == 410


def test_a_report_reaches_what_other_gateways_cached(clean_stack: Stack, gateway_factory):
    """Gateway B cached the link as not ready (for 60 s here); a report through A reaches B
    through the invalidation channel, so B plays the recording at once."""
    st = clean_stack
    gw_a = start(gateway_factory)
    gw_b = start(gateway_factory, RECGW_PUBLIC_NOT_READY_TTL_S="60", RECGW_CACHE_L1_TTL_S="60")
    wait_for(lambda: metric_sum(metrics_snapshot(gw_b.url), "recgw_invalidation_subscribed") >= 1, 15,
             "B subscribed to recgw:invalidate")
    session_id, key, data = uploaded(st)
    token = uuid.uuid4().hex + "abcdefghijk"
    st.db.calls.update_one({"session_id": session_id}, {"$set": {"recording_access_token": token}})
    link = gw_b.url + "/api/v1/public/recordings/" + token
    assert requests.get(link, timeout=10).status_code == 503   # uploading: cached as not ready
    r = post_report(gw_a, report_body(session_id, key, data))
    assert r.status_code == 200 and r.json()["public_url"].endswith("/" + token), r.text
    got = wait_for(lambda: (lambda g: g if g.status_code == 200 else None)(requests.get(link, timeout=10)),
                   10, "B playing the reported recording")
    assert got.content == data
