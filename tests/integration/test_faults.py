"""The fault matrix (issue 7, part 1): Redis, FerretDB, MinIO (storage) and a fleet host,
each (a) down when the gateway starts, (b) killed in the middle of a request,
(c) restarted — the gateway recovers by itself — and (d) made slow through
delay_proxy.DelayProxy.  Plus the per-origin circuit breakers.

What every case asserts:
  * the status: a fallback 200 where one exists (Redis down → MongoDB; storage down →
    the fleet host's copy; a source dying mid-body → the rest from the next source),
    503 + Retry-After where none does, and never a 404 while a dependency is down;
  * the time: a request never outlives the configured timeouts (+ SLACK for a busy CI box);
  * the gateway is fine afterwards: /healthz 200 and the process alive.

"Down at start" and "restarted" stop and start the real service (tools/stack.sh);
"killed mid-request" and "slow" put a DelayProxy in front of the real service and kill
it or slow it down. conftest restarts any service a test left stopped.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import pytest
import requests

from delay_proxy import DelayProxy, delay_proxy_factory  # noqa: F401 — fixture used by name
from fakes import FakeFleetHost, fleet_factory  # noqa: F401 — fixture used by name
from stack import Gateway, Stack
from helpers import hs256_jwt, wait_for as shared_wait_for

pytestmark = pytest.mark.timeout(120)

PUBLIC = "/api/v1/public/recordings/"
FLEET_SECRET = "faults-fleet-secret"
SLACK = 1.5          # seconds on top of a configured timeout: scheduling on a loaded 2-core box
KiB = 1024
MiB = 1024 * 1024

# The failed-lookup limiter (429) would get in the way of polling: 503s count as failures.
BASE_ENV = {
    "RECGW_CACHE_FAILED_LOOKUPS_BURST": "100000",
    "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "100000",
    "RECGW_CACHE_L1_TTL_S": "1",
    "RECGW_STREAM_BREAKER_COOLDOWN_MS": "1000",
    # /readyz shows its details (breakers, dependency reasons) to an admin JWT only
    "RECGW_JWT_HS256_SECRET": "faults-admin-jwt-secret",
}


# ---- helpers -----------------------------------------------------------------------------

@dataclass
class Rec:
    token: str
    session_id: str
    key: str
    data: bytes


def seed(st: Stack, name: str, size: int = 64 * KiB, *, in_storage: bool = True,
         data: Optional[bytes] = None) -> Rec:
    """A call (token, session id, key) and, unless in_storage=False, its object in MinIO."""
    uid = uuid.uuid4().hex[:10]
    rec = Rec(f"tok-{name}-{uid}", f"sess-{name}-{uid}", f"faults/{name}-{uid}.ogg",
              data if data is not None else os.urandom(size))
    if in_storage:
        st.put_object(rec.key, rec.data, "audio/ogg")
    st.insert_call(rec.session_id, token=rec.token, key=rec.key, status="ready")
    return rec


def alias(st: Stack, rec: Rec) -> str:
    """A new call (fresh token) for the same object. A lookup remembers where its object was
    found and tries that source first next time, so a test that needs every request to walk
    the whole source chain uses a fresh token each time."""
    uid = uuid.uuid4().hex[:10]
    token = f"{rec.token}-a{uid}"
    st.insert_call(f"{rec.session_id}-a{uid}", token=token, key=rec.key, status="ready")
    return token


def fleet_env(*hosts, secret: str = FLEET_SECRET) -> Dict[str, str]:
    return {"RECGW_FLEET_URLS": ",".join(h.url for h in hosts), "RECGW_FLEET_SECRET": secret}


def timed_get(gw: Gateway, token: str, timeout: float = 30, **kw):
    """GET a public recording; returns (response, seconds, access-log record or None)."""
    rid = "f" + uuid.uuid4().hex[:20]
    headers = {"X-Request-Id": rid, **kw.pop("headers", {})}
    t0 = time.monotonic()
    r = requests.get(gw.url + PUBLIC + token, headers=headers, timeout=timeout, **kw)
    took = time.monotonic() - t0
    return r, took, access_record(gw, rid)


def access_record(gw: Gateway, rid: str, wait: float = 3.0) -> Optional[dict]:
    deadline = time.monotonic() + wait
    while True:
        for rec in gw.log_lines():
            if rec.get("type") == "access" and rec.get("request_id") == rid:
                return rec
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    return shared_wait_for(predicate, timeout, what, interval)


def metric(gw: Gateway, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when absent)."""
    text = requests.get(gw.url + "/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        mname, _, label_text = series.partition("{")
        if mname != name:
            continue
        have = {}
        for part in label_text.rstrip("}").split('",'):
            if "=" in part:
                k, v = part.split("=", 1)
                have[k.strip()] = v.strip().strip('"')
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def readyz_response(gw: Gateway) -> requests.Response:
    """/readyz with its details (the public listener gives them to an admin JWT)."""
    now = int(time.time())
    admin = hs256_jwt({"sub": "faults", "role": "admin", "iat": now, "exp": now + 600},
                      BASE_ENV["RECGW_JWT_HS256_SECRET"])
    return requests.get(gw.url + "/readyz", headers={"Authorization": "Bearer " + admin}, timeout=10)


def readyz(gw: Gateway) -> dict:
    return readyz_response(gw).json()


def assert_healthy(gw: Gateway) -> None:
    assert gw.alive(), f"gateway died\n{gw.logs()[-4000:]}"
    t0 = time.monotonic()
    r = requests.get(gw.url + "/healthz", timeout=5)
    assert r.status_code == 200, r.status_code
    assert time.monotonic() - t0 < 1.0, "/healthz slow"


def assert_503(r: requests.Response, what: str) -> None:
    assert r.status_code == 503, f"{what}: expected 503, got {r.status_code} {r.text[:300]}"
    assert r.headers.get("Retry-After", "").isdigit(), (what, dict(r.headers))


def tok_key(token: str) -> str:
    return "recgw:tok:" + hashlib.sha256(token.encode()).hexdigest()


def mongo_uri(port: int) -> str:
    """A FerretDB URI with no timeouts of its own: RECGW_MONGO_TIMEOUT_MS decides them."""
    return f"mongodb://127.0.0.1:{port}/{Stack.db_name}"


def mongo_budget(timeout_ms: int) -> float:
    """The longest one lookup may take: server selection (t) + connect (t) + socket (2t)
    as recgw adds them to the URI, plus SLACK."""
    return 4 * timeout_ms / 1000 + SLACK


def stream_get(gw: Gateway, token: str, on_progress: Callable[[int], None], timeout: float = 30):
    """A raw GET read to EOF. Returns (status, headers, body, clean_end) where clean_end says
    the body was complete (Content-Length reached, or the final chunk seen)."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=timeout)
    try:
        s.sendall(f"GET {PUBLIC}{token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"closed before the headers ended: {buf!r}")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        body = bytearray(body)
        while True:
            on_progress(len(body))
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            body += chunk
        if "content-length" in hdrs:
            clean = len(body) == int(hdrs["content-length"])
        else:
            clean = bytes(body).endswith(b"0\r\n\r\n")
        return status, hdrs, bytes(body), clean
    finally:
        s.close()


# ---- Redis -------------------------------------------------------------------------------

def test_redis_down_at_start_falls_back_to_mongo_and_reconnects_when_restarted(clean_stack: Stack,
                                                                              gateway_factory):
    st = clean_stack
    recs = [seed(st, f"rd{i}", 4 * KiB) for i in range(20)]
    st.stop_service("redis")
    gw = gateway_factory({**BASE_ENV, "RECGW_REDIS_TIMEOUT_MS": "250"})
    assert metric(gw, "recgw_redis_connected") == 0
    assert readyz(gw)["redis"]["ok"] is False

    # (a) Redis down: MongoDB answers, no 503 and no error
    r, took, log = timed_get(gw, recs[0].token)
    assert r.status_code == 200 and r.content == recs[0].data, r.status_code
    assert log and log.get("source") == "mongo", log
    assert took < 0.25 + SLACK, took
    # a token MongoDB does not know is a real 404 (MongoDB is up and authoritative)
    r, _, _ = timed_get(gw, "tok-never-issued-" + uuid.uuid4().hex)
    assert r.status_code == 404, r.status_code
    assert_healthy(gw)

    # (c) Redis back: the gateway reconnects by itself (backoff ≤ 5 s) and writes lookups again
    st.start_service("redis")
    wait_for(lambda: metric(gw, "recgw_redis_connected") == 1, 12, "recgw_redis_connected == 1")
    remaining = iter(recs[1:])

    def lookup_cached():
        rec = next(remaining)
        r, _, _ = timed_get(gw, rec.token)
        assert r.status_code == 200 and r.content == rec.data
        return wait_until_true(lambda: st.redis.exists(tok_key(rec.token)), 0.5)
    wait_for(lookup_cached, 8, "a lookup written to Redis after the restart", interval=0.2)
    assert readyz(gw)["redis"]["ok"] is True
    assert_healthy(gw)


def wait_until_true(pred: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_redis_killed_mid_request_falls_back_then_reconnects(clean_stack: Stack, gateway_factory,
                                                             delay_proxy_factory):
    st = clean_stack
    recs = [seed(st, f"rk{i}", 4 * KiB) for i in range(12)]
    proxy = delay_proxy_factory("127.0.0.1", st.redis_port)
    timeout_ms = 3000
    gw = gateway_factory({**BASE_ENV, "RECGW_REDIS_URL": f"redis://127.0.0.1:{proxy.port}",
                          "RECGW_REDIS_TIMEOUT_MS": str(timeout_ms)})
    wait_for(lambda: metric(gw, "recgw_redis_connected") == 1, 10, "Redis connected through the proxy")
    r, _, log = timed_get(gw, recs[0].token)
    assert r.status_code == 200 and log.get("source") == "mongo"

    # (b) the next Redis command hangs in the proxy; Redis "dies" while it is in flight
    proxy.delay_s = 5.0
    result = {}

    def fetch():
        result["r"], result["took"], result["log"] = timed_get(gw, recs[1].token)
    t = threading.Thread(target=fetch, daemon=True)
    t.start()
    wait_for(lambda: proxy.bytes_up > 0 or proxy.active, 3, "the lookup to reach the Redis proxy")
    time.sleep(0.3)
    proxy.kill()
    t.join(timeout_ms / 1000 + 10)
    assert not t.is_alive(), "request hung after Redis died"
    r, took, log = result["r"], result["took"], result["log"]
    assert r.status_code == 200 and r.content == recs[1].data, (r.status_code, r.text[:200])
    assert log and log.get("source") == "mongo", log
    assert took < timeout_ms / 1000 + SLACK, took
    wait_for(lambda: metric(gw, "recgw_redis_connected") == 0, 5, "recgw_redis_connected == 0")
    # with Redis gone, lookups keep working from MongoDB
    r, took, log = timed_get(gw, recs[2].token)
    assert r.status_code == 200 and log.get("source") == "mongo"
    assert_healthy(gw)

    # (c) Redis reachable again: reconnect by itself
    proxy.delay_s = 0.0
    proxy.revive()
    wait_for(lambda: metric(gw, "recgw_redis_connected") == 1, 12, "reconnect after the proxy came back")
    remaining = iter(recs[3:])

    def lookup_cached():
        rec = next(remaining)
        r, _, _ = timed_get(gw, rec.token)
        assert r.status_code == 200
        return wait_until_true(lambda: st.redis.exists(tok_key(rec.token)), 0.5)
    wait_for(lookup_cached, 6, "a lookup written to Redis after the reconnect", interval=0.2)
    assert_healthy(gw)


def test_redis_slow_times_out_to_mongo_within_the_redis_timeout(clean_stack: Stack, gateway_factory,
                                                                delay_proxy_factory):
    st = clean_stack
    recs = [seed(st, f"rs{i}", 4 * KiB) for i in range(5)]
    proxy = delay_proxy_factory("127.0.0.1", st.redis_port)
    timeout_ms = 300
    gw = gateway_factory({**BASE_ENV, "RECGW_REDIS_URL": f"redis://127.0.0.1:{proxy.port}",
                          "RECGW_REDIS_TIMEOUT_MS": str(timeout_ms)})
    wait_for(lambda: metric(gw, "recgw_redis_connected") == 1, 10, "Redis connected through the proxy")
    errors0 = metric(gw, "recgw_redis_errors_total")

    # (d) every Redis reply now takes 2 s: far beyond the 300 ms command timeout
    proxy.delay_s = 2.0
    for rec in recs[:4]:
        r, took, log = timed_get(gw, rec.token)
        assert r.status_code == 200 and r.content == rec.data, r.status_code
        assert log and log.get("source") == "mongo", log
        assert took < timeout_ms / 1000 + SLACK, f"lookup took {took:.2f}s with a {timeout_ms} ms Redis timeout"
        assert_healthy(gw)
    assert metric(gw, "recgw_redis_errors_total") > errors0

    # fast again: Redis is used again without a restart
    proxy.delay_s = 0.0
    proxy.cut()        # drop the connections still holding delayed replies
    rec = recs[4]

    def cached_again():
        r, _, _ = timed_get(gw, rec.token)
        assert r.status_code == 200
        return wait_until_true(lambda: st.redis.exists(tok_key(rec.token)), 0.5)
    wait_for(cached_again, 12, "Redis used again once fast", interval=0.3)
    assert_healthy(gw)


# ---- FerretDB (MongoDB) ------------------------------------------------------------------

def test_mongo_down_at_start_is_503_never_404_and_recovers_when_restarted(clean_stack: Stack,
                                                                          gateway_factory):
    st = clean_stack
    rec = seed(st, "md")
    timeout_ms = 500
    st.stop_service("ferretdb")
    gw = gateway_factory({**BASE_ENV, "RECGW_MONGO_URI": mongo_uri(st.mongo_port),
                          "RECGW_MONGO_TIMEOUT_MS": str(timeout_ms)})
    # (a) nothing cached and MongoDB down: 503 + Retry-After — for a real token and for a
    # token that does not exist (the gateway cannot know), never 404
    for token in (rec.token, "tok-never-issued-" + uuid.uuid4().hex):
        r, took, _ = timed_get(gw, token)
        assert_503(r, "MongoDB down, uncached")
        assert r.json()["error"] == "lookup_unavailable", r.text
        assert took < mongo_budget(timeout_ms), took
    ready = readyz_response(gw)
    assert ready.status_code == 503 and ready.json()["mongo"]["ok"] is False
    assert_healthy(gw)

    # (c) FerretDB back: served without restarting the gateway; unknown tokens 404 again
    st.start_service("ferretdb")

    def served():
        r, _, _ = timed_get(gw, rec.token)
        assert r.status_code in (200, 503), (r.status_code, r.text[:200])
        return r.status_code == 200 and r.content == rec.data
    wait_for(served, 20, "a 200 once FerretDB is back", interval=0.3)
    r, _, _ = timed_get(gw, "tok-never-issued-" + uuid.uuid4().hex)
    assert r.status_code == 404
    wait_for(lambda: requests.get(gw.url + "/readyz", timeout=10).status_code == 200, 15, "/readyz 200")
    assert_healthy(gw)


def test_mongo_killed_mid_request_is_503_then_recovers(clean_stack: Stack, gateway_factory,
                                                       delay_proxy_factory):
    st = clean_stack
    recs = [seed(st, f"mk{i}") for i in range(3)]
    proxy = delay_proxy_factory("127.0.0.1", st.mongo_port)
    timeout_ms = 1500
    gw = gateway_factory({**BASE_ENV, "RECGW_MONGO_URI": mongo_uri(proxy.port),
                          "RECGW_MONGO_TIMEOUT_MS": str(timeout_ms)})
    r, _, log = timed_get(gw, recs[0].token)
    assert r.status_code == 200 and log.get("source") == "mongo"

    # (b) the next query waits in the proxy; FerretDB "dies" while it is in flight
    proxy.delay_s = 10.0
    up0 = proxy.bytes_up
    result = {}

    def fetch():
        result["r"], result["took"], _ = timed_get(gw, recs[1].token)
    t = threading.Thread(target=fetch, daemon=True)
    t.start()
    time.sleep(0.5)      # the find is in the proxy (delayed), not answered
    killed_at = time.monotonic()
    proxy.kill()
    t.join(mongo_budget(timeout_ms) + 10)
    assert not t.is_alive(), "request hung after FerretDB died"
    r, took = result["r"], result["took"]
    assert_503(r, "MongoDB killed mid-query")
    assert took < mongo_budget(timeout_ms) + 0.5, took
    print(f"\n503 {time.monotonic() - killed_at:.2f}s after the kill (query bytes sent: {proxy.bytes_up - up0})")
    assert_healthy(gw)

    # (c) back: served again by itself
    proxy.delay_s = 0.0
    proxy.revive()

    def served():
        r, _, _ = timed_get(gw, recs[1].token)
        assert r.status_code in (200, 503), (r.status_code, r.text[:200])
        return r.status_code == 200
    wait_for(served, 20, "a 200 once FerretDB is reachable again", interval=0.3)
    r, _, _ = timed_get(gw, recs[2].token)
    assert r.status_code == 200 and r.content == recs[2].data
    assert_healthy(gw)


def test_mongo_slow_is_503_within_the_mongo_timeout_and_loop_stays_free(clean_stack: Stack, gateway_factory,
                                                                        delay_proxy_factory):
    st = clean_stack
    recs = [seed(st, f"ms{i}") for i in range(3)]
    proxy = delay_proxy_factory("127.0.0.1", st.mongo_port)
    timeout_ms = 400
    gw = gateway_factory({**BASE_ENV, "RECGW_MONGO_URI": mongo_uri(proxy.port),
                          "RECGW_MONGO_TIMEOUT_MS": str(timeout_ms)})
    r, _, _ = timed_get(gw, recs[0].token)
    assert r.status_code == 200

    # (d) every FerretDB reply takes 3 s
    proxy.delay_s = 3.0
    result = {}

    def fetch():
        result["r"], result["took"], _ = timed_get(gw, recs[1].token)
    t = threading.Thread(target=fetch, daemon=True)
    t.start()
    # the loop is not blocked meanwhile
    for _ in range(5):
        t0 = time.monotonic()
        assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200
        assert time.monotonic() - t0 < 0.3
        time.sleep(0.05)
    t.join(mongo_budget(timeout_ms) + 10)
    assert not t.is_alive()
    r, took = result["r"], result["took"]
    assert_503(r, "MongoDB slow")
    assert took < mongo_budget(timeout_ms), f"{took:.2f}s with a {timeout_ms} ms MongoDB timeout"

    # fast again: served without a restart
    proxy.delay_s = 0.0
    proxy.cut()

    def served():
        r, _, _ = timed_get(gw, recs[1].token)
        return r.status_code == 200
    wait_for(served, 15, "a 200 once FerretDB is fast again", interval=0.3)
    assert_healthy(gw)


# ---- MinIO (storage) ---------------------------------------------------------------------

def test_storage_down_at_start_fleet_copy_served_else_503_and_recovers(clean_stack: Stack, gateway_factory,
                                                                        fleet_factory):
    st = clean_stack
    both = seed(st, "sd-both")                       # in MinIO and on the fleet host
    only_s3 = seed(st, "sd-s3")                      # only in MinIO
    fleet = fleet_factory({both.key: both.data}, secret=FLEET_SECRET)
    st.stop_service("minio")
    env = {**BASE_ENV, **fleet_env(fleet), "RECGW_STREAM_CONNECT_TIMEOUT_MS": "500"}
    gw = gateway_factory(env)

    # (a) storage refuses connections: the fleet host's copy is served ...
    r, took, log = timed_get(gw, both.token)
    assert r.status_code == 200 and r.content == both.data, r.status_code
    assert log and log.get("origin") == "fleet:0", log
    # ... and an object only storage has is 503 + Retry-After, not 404
    r, took, _ = timed_get(gw, only_s3.token)
    assert_503(r, "storage down, fleet 404")
    assert took < 0.5 + 10 + SLACK
    assert metric(gw, "recgw_source_fallbacks_total", source="storage", reason="transport") >= 2
    assert_healthy(gw)

    # (c) MinIO back: storage is used again (the breaker, if it opened, probes after 1 s)
    st.start_service("minio")

    def from_storage():
        r, _, log = timed_get(gw, only_s3.token)
        assert r.status_code in (200, 503), (r.status_code, r.text[:200])
        return r.status_code == 200 and r.content == only_s3.data and log.get("origin") == "storage"
    wait_for(from_storage, 20, "storage to serve again after the restart", interval=0.3)
    # (the "both" object may keep coming from the fleet: the lookup remembers where it was found)
    r, _, log = timed_get(gw, both.token)
    assert r.status_code == 200 and r.content == both.data, log
    assert_healthy(gw)


def test_fleet_down_at_start_storage_still_serves_else_503_and_recovers(clean_stack: Stack, gateway_factory,
                                                                        fleet_factory, delay_proxy_factory):
    st = clean_stack
    in_s3 = seed(st, "fd-s3")
    only_fleet = seed(st, "fd-fleet", in_storage=False)
    host = fleet_factory({only_fleet.key: only_fleet.data}, secret=FLEET_SECRET)
    proxy = delay_proxy_factory("127.0.0.1", int(host.url.rsplit(":", 1)[1]))
    proxy.kill()                                     # the fleet host is down: connections refused
    gw = gateway_factory({**BASE_ENV, **fleet_env(proxy)})

    # (a) storage does not need the fleet host
    r, _, log = timed_get(gw, in_s3.token)
    assert r.status_code == 200 and r.content == in_s3.data and log.get("origin") == "storage"
    # an object only the (dead) fleet host has: 503 + Retry-After, never 404
    for _ in range(2):
        r, took, _ = timed_get(gw, only_fleet.token)
        assert_503(r, "fleet host down")
        assert took < 3 + SLACK, took
    assert metric(gw, "recgw_source_fallbacks_total", source="fleet:0", reason="transport") >= 1
    assert_healthy(gw)

    # (c) the host comes back on the same address: served by itself
    proxy.revive()

    def served():
        r, _, log = timed_get(gw, only_fleet.token)
        assert r.status_code in (200, 503), r.status_code
        return r.status_code == 200 and r.content == only_fleet.data and log.get("origin") == "fleet:0"
    wait_for(served, 10, "the fleet host to serve once back", interval=0.3)
    assert_healthy(gw)


@pytest.mark.parametrize("origin", ["storage", "fleet"])
@pytest.mark.parametrize("second_copy", [True, False], ids=["resumed", "truncated"])
def test_origin_killed_mid_body(clean_stack: Stack, gateway_factory, fleet_factory, delay_proxy_factory,
                                origin, second_copy):
    """(b) for storage and a fleet host: the origin dies after the headers went out. With a
    second copy the rest comes from it (Range + If-Match) and the client gets every byte;
    without one the connection is closed early — never a clean end of a short body."""
    st = clean_stack
    size = 3 * MiB
    data = os.urandom(size)
    rec = seed(st, f"kill-{origin}", data=data, in_storage=(origin == "storage"))
    if origin == "storage":
        proxy = delay_proxy_factory("127.0.0.1", st.minio_port, max_chunk=16 * KiB, delay_s=0.01,
                                    direction="down")
        env = {"RECGW_S3_ENDPOINT": proxy.url}
        backups = [fleet_factory({rec.key: data}, secret=FLEET_SECRET)] if second_copy else []
        env.update(fleet_env(*backups) if backups else {})
    else:
        primary = fleet_factory({rec.key: data}, secret=FLEET_SECRET)
        proxy = delay_proxy_factory("127.0.0.1", int(primary.url.rsplit(":", 1)[1]), max_chunk=16 * KiB,
                                    delay_s=0.01, direction="down")
        backups = [fleet_factory({rec.key: data}, secret=FLEET_SECRET)] if second_copy else []
        env = fleet_env(proxy, *backups)
    gw = gateway_factory({**BASE_ENV, **env})

    killed = []

    def progress(n):
        if not killed and proxy.bytes_down > 512 * KiB:
            killed.append(n)
            proxy.kill()
    t0 = time.monotonic()
    status, hdrs, body, clean = stream_get(gw, rec.token, progress)
    took = time.monotonic() - t0
    assert killed, "the origin was never killed"
    assert status == 200, status
    assert hdrs.get("content-length") == str(size), hdrs
    if second_copy:
        assert clean and body == data, (len(body), clean)
        assert backups[0].request_count >= 1
        resume = backups[0].seen[-1]
        assert resume.headers.get("Range", "").startswith("bytes="), resume.headers
    else:
        assert not clean and len(body) < size, (len(body), clean)
        assert body == data[:len(body)]
        assert metric(gw, "recgw_stream_truncated_total") >= 1
    assert took < 25, took
    assert_healthy(gw)

    # (c) the origin back: a new request streams it whole
    proxy.delay_s = 0.0
    proxy.revive()
    r, _, log = timed_get(gw, rec.token)
    assert r.status_code == 200 and r.content == data
    assert_healthy(gw)


@pytest.mark.parametrize("origin", ["storage", "fleet"])
def test_origin_slow_first_byte_times_out_to_the_next_source(clean_stack: Stack, gateway_factory, fleet_factory,
                                                             delay_proxy_factory, origin):
    """(d) an origin that accepts but answers after 10 s: the first-byte timeout (connect +
    first byte) moves on — to a copy elsewhere (200), or 503 when there is none."""
    st = clean_stack
    served = seed(st, f"slow-{origin}-a", in_storage=(origin == "storage"))
    alone = seed(st, f"slow-{origin}-b", in_storage=(origin == "storage"))
    if origin == "storage":
        proxy = delay_proxy_factory("127.0.0.1", st.minio_port, first_delay_s=10.0, direction="down")
        backup = fleet_factory({served.key: served.data}, secret=FLEET_SECRET)
        env = {"RECGW_S3_ENDPOINT": proxy.url, **fleet_env(backup)}
    else:
        slow = fleet_factory({served.key: served.data, alone.key: alone.data}, secret=FLEET_SECRET)
        proxy = delay_proxy_factory("127.0.0.1", int(slow.url.rsplit(":", 1)[1]), first_delay_s=10.0,
                                    direction="down")
        backup = fleet_factory({served.key: served.data}, secret=FLEET_SECRET)
        env = fleet_env(proxy, backup)
    connect_ms, first_byte_ms = 500, 800
    budget = (connect_ms + first_byte_ms) / 1000 + SLACK
    gw = gateway_factory({**BASE_ENV, **env, "RECGW_STREAM_CONNECT_TIMEOUT_MS": str(connect_ms),
                          "RECGW_STREAM_FIRST_BYTE_TIMEOUT_MS": str(first_byte_ms),
                          "RECGW_STREAM_BREAKER_FAILURES": "100"})
    r, took, log = timed_get(gw, served.token)
    assert r.status_code == 200 and r.content == served.data, r.status_code
    assert log.get("origin") == ("fleet:0" if origin == "storage" else "fleet:1"), log
    assert took < budget, f"{took:.2f}s, budget {budget:.2f}s"
    r, took, _ = timed_get(gw, alone.token)
    assert_503(r, f"{origin} slow, no other copy")
    assert took < budget, f"{took:.2f}s, budget {budget:.2f}s"
    src = "storage" if origin == "storage" else "fleet:0"
    assert metric(gw, "recgw_source_fallbacks_total", source=src, reason="timeout") >= 2
    assert_healthy(gw)

    # fast again: served from it by itself
    proxy.first_delay_s = 0.0
    proxy.cut()
    r, _, log = timed_get(gw, alone.token)
    assert r.status_code == 200 and r.content == alone.data
    assert_healthy(gw)


@pytest.mark.parametrize("origin", ["storage", "fleet"])
def test_origin_trickling_body_hits_the_low_speed_limit_and_resumes(clean_stack: Stack, gateway_factory,
                                                                    fleet_factory, delay_proxy_factory, origin):
    """(d) an origin that sends its headers and then trickles (~2.5 KB/s): the low-speed limit
    (bytes per N seconds) gives up on it and the rest comes from the next copy."""
    st = clean_stack
    data = os.urandom(256 * KiB)
    rec = seed(st, f"trickle-{origin}", data=data, in_storage=(origin == "storage"))
    if origin == "storage":
        proxy = delay_proxy_factory("127.0.0.1", st.minio_port, max_chunk=512, delay_s=0.2, direction="down")
        env = {"RECGW_S3_ENDPOINT": proxy.url}
    else:
        slow = fleet_factory({rec.key: data}, secret=FLEET_SECRET)
        proxy = delay_proxy_factory("127.0.0.1", int(slow.url.rsplit(":", 1)[1]), max_chunk=512, delay_s=0.2,
                                    direction="down")
        env = {"RECGW_FLEET_URLS": proxy.url}
    backup = fleet_factory({rec.key: data}, secret=FLEET_SECRET)
    env["RECGW_FLEET_URLS"] = ",".join(u for u in (env.get("RECGW_FLEET_URLS"), backup.url) if u)
    env["RECGW_FLEET_SECRET"] = FLEET_SECRET
    low_speed_time_s, first_byte_ms, connect_ms = 2, 3000, 500
    gw = gateway_factory({**BASE_ENV, **env, "RECGW_STREAM_LOW_SPEED_BYTES": "50000",
                          "RECGW_STREAM_LOW_SPEED_TIME_S": str(low_speed_time_s),
                          "RECGW_STREAM_FIRST_BYTE_TIMEOUT_MS": str(first_byte_ms),
                          "RECGW_STREAM_CONNECT_TIMEOUT_MS": str(connect_ms)})
    r, took, log = timed_get(gw, rec.token)
    assert r.status_code == 200, r.status_code
    assert r.content == data
    # a same-source retry is allowed once (it trickles too), then the next source
    budget = 2 * low_speed_time_s + (connect_ms + first_byte_ms) / 1000 + SLACK + 1
    assert took < budget, f"{took:.2f}s, budget {budget:.2f}s"
    assert backup.request_count >= 1
    assert_healthy(gw)


# ---- circuit breakers --------------------------------------------------------------------

def breaker_state(gw: Gateway, origin_key: str) -> Optional[str]:
    return readyz(gw).get("breakers", {}).get(origin_key)


@pytest.mark.parametrize("failure", ["refused", "blackhole"])
def test_fleet_breaker_opens_skips_and_closes_after_cooldown(clean_stack: Stack, gateway_factory, fleet_factory,
                                                             delay_proxy_factory, failure):
    """fleet:0 fails (connection refused, or accepts and never answers). After N failures
    its breaker is open in /readyz and /metrics and requests skip it at once (fleet:1
    serves); after the cool-down, with the host back, one probe closes it again."""
    st = clean_stack
    rec = seed(st, "brk", in_storage=False)
    host0 = fleet_factory({rec.key: rec.data}, secret=FLEET_SECRET)
    host1 = fleet_factory({rec.key: rec.data}, secret=FLEET_SECRET)
    proxy = delay_proxy_factory("127.0.0.1", int(host0.url.rsplit(":", 1)[1]))
    if failure == "refused":
        proxy.kill()
    else:
        proxy.mode = "blackhole"
    n, cooldown_ms, first_byte_ms, connect_ms = 3, 2500, 800, 300
    gw = gateway_factory({**BASE_ENV, **fleet_env(proxy, host1),
                          "RECGW_STREAM_BREAKER_FAILURES": str(n),
                          "RECGW_STREAM_BREAKER_COOLDOWN_MS": str(cooldown_ms),
                          "RECGW_STREAM_FIRST_BYTE_TIMEOUT_MS": str(first_byte_ms),
                          "RECGW_STREAM_CONNECT_TIMEOUT_MS": str(connect_ms)})
    origin_key = f"fleet:0 {proxy.url}"

    for i in range(n):
        assert breaker_state(gw, origin_key) in (None, "closed")
        r, took, log = timed_get(gw, alias(st, rec))
        assert r.status_code == 200 and r.content == rec.data and log.get("origin") == "fleet:1", log
        assert took < (connect_ms + first_byte_ms) / 1000 + SLACK
    assert breaker_state(gw, origin_key) == "open", readyz(gw)
    assert metric(gw, "recgw_breaker_state", origin=origin_key) == 1
    assert metric(gw, "recgw_breaker_transitions_total", origin=origin_key, state="open") == 1

    # open: fleet:0 is skipped at once — no connection to it, no waiting on it
    conns0 = proxy.connections_total
    skipped0 = metric(gw, "recgw_source_fallbacks_total", source="fleet:0", reason="breaker_open")
    for _ in range(4):
        r, took, log = timed_get(gw, alias(st, rec))
        assert r.status_code == 200 and log.get("origin") == "fleet:1"
        assert took < 0.5, f"an open breaker should skip fleet:0 at once, took {took:.2f}s"
    assert proxy.connections_total == conns0
    assert metric(gw, "recgw_source_fallbacks_total", source="fleet:0", reason="breaker_open") == skipped0 + 4
    assert_healthy(gw)

    # the host comes back; after the cool-down one request probes it and closes the breaker
    proxy.mode = "forward"
    proxy.cut()
    proxy.revive()
    wait_for(lambda: breaker_state(gw, origin_key) == "half_open", cooldown_ms / 1000 + 3, "half_open")
    host0.reset_counts()
    r, _, log = timed_get(gw, alias(st, rec))
    assert r.status_code == 200 and log.get("origin") == "fleet:0", log
    assert host0.statuses() == [200]
    assert breaker_state(gw, origin_key) == "closed"
    assert metric(gw, "recgw_breaker_state", origin=origin_key) == 0
    assert_healthy(gw)


def test_storage_breaker_opens_and_fleet_serves_meanwhile(clean_stack: Stack, gateway_factory, fleet_factory,
                                                          delay_proxy_factory):
    st = clean_stack
    rec = seed(st, "sbrk")
    fleet = fleet_factory({rec.key: rec.data}, secret=FLEET_SECRET)
    proxy = delay_proxy_factory("127.0.0.1", st.minio_port)
    proxy.kill()
    n, cooldown_ms = 2, 2000
    gw = gateway_factory({**BASE_ENV, **fleet_env(fleet), "RECGW_S3_ENDPOINT": proxy.url,
                          "RECGW_STREAM_BREAKER_FAILURES": str(n),
                          "RECGW_STREAM_BREAKER_COOLDOWN_MS": str(cooldown_ms)})
    origin_key = f"storage {proxy.url}"
    for _ in range(n):
        r, _, log = timed_get(gw, alias(st, rec))
        assert r.status_code == 200 and log.get("origin") == "fleet:0"
    assert breaker_state(gw, origin_key) == "open", readyz(gw)
    skipped0 = metric(gw, "recgw_source_fallbacks_total", source="storage", reason="breaker_open")
    r, took, log = timed_get(gw, alias(st, rec))
    assert r.status_code == 200 and log.get("origin") == "fleet:0" and took < 0.5
    assert metric(gw, "recgw_source_fallbacks_total", source="storage", reason="breaker_open") == skipped0 + 1
    # a token whose object only storage could have: still 503 (storage skipped is an error), not 404
    only = seed(st, "sbrk-only")
    r, _, _ = timed_get(gw, only.token)
    assert_503(r, "storage breaker open, fleet 404")

    proxy.revive()

    def closed_again():
        r, _, log = timed_get(gw, only.token)
        return r.status_code == 200 and log.get("origin") == "storage" and \
            breaker_state(gw, origin_key) == "closed"
    wait_for(closed_again, cooldown_ms / 1000 + 5, "the storage breaker to close once MinIO is back", interval=0.3)
    assert_healthy(gw)
