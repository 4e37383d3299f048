"""Link expiry (issue 17, item 3): POST .../token with {"expires_in_s"} or {"expires_at"}
stores recording_access_expires_at; after that instant the link answers 410 link_expired,
from MongoDB, from L1 and from Redis alike (nothing is served past it)."""

from __future__ import annotations

import datetime as dt
import json
import hashlib
import time

import pytest
import requests

from helpers import wait_for
from links_support import admin_headers, error_of, fetch_with_tier, public_get, seed_call, start_links_gateway
from stack import Stack

pytestmark = pytest.mark.timeout(120)


def mint(gw, session_id: str, body=None, raw: str | None = None) -> requests.Response:
    url = f"{gw.url}/api/v1/admin/recordings/{session_id}/token"
    if raw is not None:
        return requests.post(url, data=raw, headers={**admin_headers(), "Content-Type": "application/json"},
                             timeout=10)
    return requests.post(url, json=body, headers=admin_headers(), timeout=10)


def parse_instant(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_expiry_at_an_instant_for_cached_lookups_too(clean_stack: Stack, gateway_factory):
    st = clean_stack
    _, session_id, _, data = seed_call(st)
    a = start_links_gateway(gateway_factory, RECGW_CACHE_L1_TTL_S="60")            # answers from L1
    b = start_links_gateway(gateway_factory, RECGW_CACHE_L1_ENTRIES="0")           # answers from Redis
    r = mint(a, session_id, {"expires_in_s": 4})
    assert r.status_code == 200, r.text
    token, expires_at = r.json()["token"], parse_instant(r.json()["expires_at"])
    assert abs(expires_at - (time.time() + 4)) < 2, r.json()
    doc = st.db.calls.find_one({"session_id": session_id})
    assert abs(doc["recording_access_expires_at"].replace(tzinfo=dt.timezone.utc).timestamp() - expires_at) < 0.01

    # before the instant: 200, from L1 on A and from Redis on B
    for gw in (a, b):
        assert public_get(gw, token).status_code == 200
    r, tier = fetch_with_tier(a, token)
    assert r.status_code == 200 and r.content == data and tier == "l1"
    r, tier = fetch_with_tier(b, token)
    assert r.status_code == 200 and tier == "redis"
    cached = st.redis.get("recgw:tok:" + hashlib.sha256(token.encode()).hexdigest())
    assert json.loads(cached)["x"] == round(expires_at * 1000), cached

    # after it: 410 at once, still from the caches (their entries outlive the link)
    wait_for(lambda: public_get(a, token).status_code == 410, 10, "the link expiring on A", interval=0.02)
    first_410 = time.time()
    assert first_410 >= expires_at - 0.05, "expired before its instant"
    for gw, want_tier in ((a, "l1"), (b, "redis")):
        r, tier = fetch_with_tier(gw, token)
        assert (r.status_code, error_of(r), tier) == (410, "link_expired", want_tier)
    assert requests.head(a.url + "/api/v1/public/recordings/" + token, timeout=10).status_code == 410
    print(f"\nlink expired at its instant; first 410 {1000 * (first_410 - expires_at):.0f} ms after it")

    # a fresh mint without a body: no expiry any more
    r = mint(a, session_id)
    assert r.status_code == 200 and "expires_at" not in r.json()
    assert "recording_access_expires_at" not in st.db.calls.find_one({"session_id": session_id})
    assert public_get(b, r.json()["token"]).status_code == 200


def test_expires_at_instant_and_one_set_by_hand(clean_stack: Stack, gateway_factory):
    st = clean_stack
    _, session_id, _, _ = seed_call(st)
    gw = start_links_gateway(gateway_factory)
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=2)
    r = mint(gw, session_id, {"expires_at": when.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert r.status_code == 200, r.text
    assert r.json()["expires_at"] == when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert public_get(gw, r.json()["token"]).status_code == 200

    # a call whose expiry another service wrote (a date in the past, or an ISO string)
    old, _, _, _ = seed_call(st, recording_access_expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
    r = public_get(gw, old)
    assert r.status_code == 410 and error_of(r) == "link_expired"
    text, _, _, _ = seed_call(st, recording_access_expires_at="2020-01-01T00:00:00Z")
    assert error_of(public_get(gw, text)) == "link_expired"
    future, _, _, _ = seed_call(st, recording_access_expires_at="2099-01-01T00:00:00Z")
    assert public_get(gw, future).status_code == 200


BAD_BODIES = [
    "[]", "nope", '{"expires_in_s": 0}', '{"expires_in_s": -1}', '{"expires_in_s": "60"}',
    '{"expires_in_s": 1.5}', '{"expires_at": "tomorrow"}', '{"expires_at": "2020-01-01T00:00:00Z"}',
    '{"expires_in_s": 60, "expires_at": "2099-01-01T00:00:00Z"}',
]


def test_bad_expiry_is_400_and_changes_nothing(clean_stack: Stack, gateway_factory):
    token, session_id, _, _ = seed_call(clean_stack)
    gw = start_links_gateway(gateway_factory)
    for raw in BAD_BODIES:
        r = mint(gw, session_id, raw=raw)
        assert r.status_code == 400 and error_of(r) == "bad_request", (raw, r.status_code, r.text)
        assert clean_stack.db.calls.find_one({"session_id": session_id})["recording_access_token"] == token, raw
