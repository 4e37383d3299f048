"""Instant revocation across gateways (issue 17, item 1): DELETE .../token, the
`recgw:invalidate` channel and 410 link_revoked.

Two gateways (two deployments) share one Redis — default user off, recgw logging in as an
ACL user with a password on database 2, channels limited to `recgw:*` — and FerretDB. The
L1 TTL is long, so only the invalidation bus can explain a revocation seen at once.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests

from helpers import wait_for
from links_support import (ACL_PASSWORD, acl_redis, admin_headers, error_of, fetch_with_tier,  # noqa: F401
                           metric, public_get, seed_call, start_links_gateway)
from stack import Stack

pytestmark = pytest.mark.timeout(180)


def revoke(gw, session_id: str) -> requests.Response:
    return requests.delete(f"{gw.url}/api/v1/admin/recordings/{session_id}/token", headers=admin_headers(),
                           timeout=10)


def time_until_410(gw, token: str, timeout: float) -> float:
    """Seconds from now until `gw` answers the token 410 (polled as fast as it answers)."""
    start = time.monotonic()
    wait_for(lambda: public_get(gw, token).status_code == 410, timeout, f"410 for the revoked token on {gw.url}",
             interval=0.002)
    return time.monotonic() - start


def subscribed(gw) -> bool:
    return metric(gw, "recgw_invalidation_subscribed") == 1


def test_revocation_reaches_the_other_gateway_at_once(clean_stack: Stack, gateway_factory, acl_redis):
    st = clean_stack
    env = dict(acl_redis.env(), RECGW_CACHE_L1_TTL_S="60")
    a = start_links_gateway(gateway_factory, **env)
    b = start_links_gateway(gateway_factory, **env)
    # Each worker's subscriber logged in as the ACL user (password, database 2) and subscribed.
    for gw in (a, b):
        wait_for(lambda gw=gw: subscribed(gw), 15, f"the invalidation subscription of {gw.url}")
    token, session_id, _, data = seed_call(st)
    for gw in (a, b):
        r, _ = fetch_with_tier(gw, token)
        assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:200])
        r, tier = fetch_with_tier(gw, token)
        assert r.status_code == 200 and tier == "l1", (r.status_code, tier)   # B would serve this for 60 s

    r = revoke(a, session_id)
    revoked_at = time.monotonic()
    assert r.status_code == 200, r.text
    assert r.json() == {"session_id": session_id, "revoked": True}
    time_until_410(b, token, 5)
    delay = time.monotonic() - revoked_at
    print(f"\nrevocation through gateway A seen by gateway B after {delay * 1000:.1f} ms "
          f"(L1 TTL 60 s; includes the DELETE's own answer)")
    assert delay < 1.0, f"gateway B answered 410 only after {delay:.3f}s"

    for gw in (a, b):
        r = public_get(gw, token)
        assert r.status_code == 410 and error_of(r) == "link_revoked", (r.status_code, r.text)
        r, tier = fetch_with_tier(gw, token)
        assert r.status_code == 410 and tier == "l1", (r.status_code, tier)   # cached as revoked
    assert requests.head(b.url + "/api/v1/public/recordings/" + token, timeout=10).status_code == 410
    # Cached as revoked in Redis too (under the token's hash, never the token), and filed in MongoDB.
    cached = acl_redis.admin().get("recgw:tok:" + hashlib.sha256(token.encode()).hexdigest())
    assert cached is not None and json.loads(cached).get("rv") == 1, cached
    assert st.db.revoked_links.find_one({"_id": hashlib.sha256(token.encode()).hexdigest()})["session_id"] == \
        session_id
    call = st.db.calls.find_one({"session_id": session_id})
    assert "recording_access_token" not in call and call["recording_key"]   # the call keeps its recording
    assert metric(b, "recgw_invalidations_received_total") >= 1

    # A new token can be minted and plays; revoking again without a token revokes nothing.
    minted = requests.post(f"{b.url}/api/v1/admin/recordings/{session_id}/token", headers=admin_headers(),
                           timeout=10)
    assert minted.status_code == 200 and minted.json()["rotated"] is False, minted.text
    r = public_get(a, minted.json()["token"])
    assert r.status_code == 200 and r.content == data
    assert public_get(a, token).status_code == 410
    r = revoke(a, session_id)
    assert r.status_code == 200 and r.json()["revoked"] is True
    r = revoke(a, session_id)
    assert r.status_code == 200 and r.json()["revoked"] is False
    assert revoke(a, "sess-links-no-such-call").status_code == 404
    assert requests.delete(f"{a.url}/api/v1/admin/recordings/{session_id}/token", timeout=10).status_code == 401
    assert ACL_PASSWORD not in a.logs() and ACL_PASSWORD not in b.logs()


def test_rotation_and_admin_eviction_are_published(clean_stack: Stack, gateway_factory, acl_redis):
    """Rotation and DELETE /api/v1/admin/cache/{id} reach the other gateway's L1 at once too
    (before, the old token kept playing there for the L1 TTL)."""
    st = clean_stack
    env = dict(acl_redis.env(), RECGW_CACHE_L1_TTL_S="60")
    a = start_links_gateway(gateway_factory, **env)
    b = start_links_gateway(gateway_factory, **env)
    for gw in (a, b):
        wait_for(lambda gw=gw: subscribed(gw), 15, f"the invalidation subscription of {gw.url}")
    token, session_id, _, data = seed_call(st)
    for _ in range(2):
        assert public_get(b, token).status_code == 200
    rotated = requests.post(f"{a.url}/api/v1/admin/recordings/{session_id}/token", headers=admin_headers(),
                            timeout=10)
    assert rotated.status_code == 200 and rotated.json()["rotated"] is True
    wait_for(lambda: public_get(b, token).status_code == 404, 2, "the rotated-away token gone on gateway B")

    new = rotated.json()["token"]
    for _ in range(2):
        assert public_get(b, new).status_code == 200
    r, tier = fetch_with_tier(b, new)
    assert tier == "l1"
    # The object changes under the same call: an admin eviction through A must reach B's L1.
    st.db.calls.update_one({"session_id": session_id}, {"$set": {"recording_status": "failed"}})
    evicted = requests.delete(f"{a.url}/api/v1/admin/cache/{new}", headers=admin_headers(), timeout=10)
    assert evicted.status_code == 200, evicted.text
    wait_for(lambda: error_of(public_get(b, new)) == "recording_failed", 2, "gateway B re-reading the call")


def test_after_a_redis_restart_the_subscriber_comes_back(clean_stack: Stack, gateway_factory, acl_redis):
    """While Redis is down nothing crosses gateways: B serves a revoked token from L1 until its
    TTL (4 s), then answers 410. Redis restarted on its port: the subscriber logs in again (ACL
    user, password, database) and revocations are instant again."""
    st = clean_stack
    l1_ttl = 4
    env = dict(acl_redis.env(), RECGW_CACHE_L1_TTL_S=str(l1_ttl))
    a = start_links_gateway(gateway_factory, **env)
    b = start_links_gateway(gateway_factory, **env)
    for gw in (a, b):
        wait_for(lambda gw=gw: subscribed(gw), 15, f"the invalidation subscription of {gw.url}")

    acl_redis.stop()
    wait_for(lambda: not subscribed(b), 10, "gateway B's subscriber noticing Redis is gone")
    token, session_id, _, data = seed_call(st)
    assert public_get(b, token).status_code == 200        # from MongoDB, now in B's L1
    r = revoke(a, session_id)
    revoked_at = time.monotonic()
    assert r.status_code == 200 and r.json()["revoked"] is True, r.text
    time_until_410(b, token, l1_ttl + 3)
    bound = time.monotonic() - revoked_at
    print(f"\nRedis down: gateway B answered 410 after {bound:.2f} s (L1 TTL {l1_ttl} s)")
    assert bound <= l1_ttl + 1.0, bound
    assert error_of(public_get(b, token)) == "link_revoked"

    acl_redis.start()
    came_back = time.monotonic()
    wait_for(lambda: subscribed(b) and subscribed(a), 20, "both subscribers back after the restart")
    # and A's own connection, which publishes
    wait_for(lambda: metric(a, "recgw_redis_connected") == 1, 20, "gateway A's Redis connection back")
    print(f"subscribers back {time.monotonic() - came_back:.2f} s after Redis answered again")

    token2, session2, _, _ = seed_call(st)
    assert public_get(b, token2).status_code == 200
    assert public_get(b, token2).status_code == 200
    r = revoke(a, session2)
    revoked_at = time.monotonic()
    assert r.status_code == 200 and r.json()["revoked"] is True
    time_until_410(b, token2, l1_ttl + 3)
    delay = time.monotonic() - revoked_at
    print(f"after the restart: gateway B answered 410 after {delay * 1000:.1f} ms")
    assert delay < 1.0, delay
    assert ACL_PASSWORD not in a.logs() and ACL_PASSWORD not in b.logs()
