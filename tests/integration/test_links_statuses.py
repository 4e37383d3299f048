"""Statuses that know the recording (issue 17, item 2): the public route answers from the
call's `recording_status` before looking for bytes — 503 recording_not_ready + Retry-After
while processing/uploading, 410 recording_deleted / recording_failed — and caches those
answers only for public.not_ready_ttl_s, so a recording that becomes ready plays soon."""

from __future__ import annotations

import time

import pytest
import requests

from helpers import wait_for
from links_support import PUBLIC, error_of, fetch_with_tier, public_get, seed_call, start_links_gateway
from stack import Stack

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("status,code,error", [
    ("processing", 503, "recording_not_ready"),
    ("uploading", 503, "recording_not_ready"),
    ("deleted", 410, "recording_deleted"),
    ("failed", 410, "recording_failed"),
])
def test_each_state_of_the_recording(clean_stack: Stack, gateway_factory, status, code, error):
    # The object is in storage: before, every one of these streamed it with 200.
    token, _, _, _ = seed_call(clean_stack, status=status)
    gw = start_links_gateway(gateway_factory, RECGW_PUBLIC_RETRY_AFTER_S="17")
    r = public_get(gw, token)
    assert r.status_code == code and error_of(r) == error, (r.status_code, r.text)
    if code == 503:
        assert r.headers["Retry-After"] == "17"
    else:
        assert "Retry-After" not in r.headers
    head = requests.head(gw.url + PUBLIC + token, timeout=10)
    assert head.status_code == code and head.content == b""
    # cached as such (L1), still the same answer
    r, tier = fetch_with_tier(gw, token)
    assert (r.status_code, error_of(r), tier) == (code, error, "l1")


def test_a_soft_deleted_recording_is_gone(clean_stack: Stack, gateway_factory):
    """Deleted the way the rooms lifecycle deletes (deleted_at set, the status left as it was)."""
    import datetime as dt
    token, _, _, _ = seed_call(clean_stack, status="ready", deleted_at=dt.datetime.now(dt.timezone.utc))
    gw = start_links_gateway(gateway_factory)
    r = public_get(gw, token)
    assert r.status_code == 410 and error_of(r) == "recording_deleted", (r.status_code, r.text)


def test_ready_and_unset_states_stream(clean_stack: Stack, gateway_factory):
    ready, _, _, data = seed_call(clean_stack, status="ready")
    unset, _, _, data2 = seed_call(clean_stack, status=None)
    completed, _, _, data3 = seed_call(clean_stack, status="completed")
    gw = start_links_gateway(gateway_factory)
    for token, body in ((ready, data), (unset, data2), (completed, data3)):
        r = public_get(gw, token)
        assert r.status_code == 200 and r.content == body


def test_retry_after_defaults_to_30(clean_stack: Stack, gateway_factory):
    token, _, _, _ = seed_call(clean_stack, status="processing")
    gw = start_links_gateway(gateway_factory)
    r = public_get(gw, token)
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"


def test_a_processing_recording_that_becomes_ready_plays_within_not_ready_ttl(clean_stack: Stack,
                                                                              gateway_factory):
    """L1 60 s and Redis hits for an hour: only the short not-ready TTL (2 s here) lets the
    finished recording play quickly, from L1 and from Redis alike."""
    st = clean_stack
    token, session_id, _, data = seed_call(st, status="processing")
    ttl = 2
    env = dict(RECGW_PUBLIC_NOT_READY_TTL_S=str(ttl), RECGW_CACHE_L1_TTL_S="60")
    a = start_links_gateway(gateway_factory, **env)
    b = start_links_gateway(gateway_factory, RECGW_CACHE_L1_ENTRIES="0", **env)  # reads Redis
    assert public_get(a, token).status_code == 503
    r, tier = fetch_with_tier(b, token)
    assert r.status_code == 503 and tier == "redis", tier
    st.db.calls.update_one({"session_id": session_id}, {"$set": {"recording_status": "ready"}})
    became_ready = time.monotonic()
    for gw in (a, b):
        wait_for(lambda gw=gw: public_get(gw, token).status_code == 200, ttl + 2,
                 f"the ready recording playing on {gw.url}", interval=0.05)
    took = time.monotonic() - became_ready
    print(f"\nready recording playable on both gateways {took:.2f} s after the status changed "
          f"(not_ready_ttl_s {ttl})")
    assert took <= ttl + 1.0, took
    r = public_get(a, token)
    assert r.status_code == 200 and r.content == data
