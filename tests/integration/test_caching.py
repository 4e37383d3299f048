"""Lookup caching against the real stack (Redis, FerretDB, MinIO): L1 + Redis in front
of MongoDB, degraded modes, hashed Redis keys, single-flight, warm-up, the failed-lookup
rate limit and admin eviction.  (issue 4 "Lookup caching", acceptance list.)

Each test starts its own gateway(s) with the settings it needs; services a test kills are
restarted by conftest's autouse fixture afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import signal
import socket
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Optional

import bson
import pytest
import requests

from stack import Gateway, Stack
from helpers import hs256_jwt, metric_sum, metrics_snapshot, wait_for

pytestmark = pytest.mark.timeout(120)

JWT_SECRET = "caching-test-secret-0123456789abcdef"
BASE_ENV = {"RECGW_JWT_HS256_SECRET": JWT_SECRET}


# ---- helpers -------------------------------------------------------------------

def make_jwt(claims: dict, secret: str = JWT_SECRET) -> str:
    return hs256_jwt(claims, secret)


def bearer(role: str = "admin") -> dict:
    now = int(time.time())
    return {"Authorization": "Bearer " + make_jwt({"sub": f"test-{role}", "role": role,
                                                   "iat": now, "exp": now + 600})}




def admin() -> dict:
    return bearer("admin")


def assert_evicted(st, key: str) -> None:
    """Eviction leaves a short-lived tombstone (lookups write with SET NX, so an answer
    read from MongoDB before the eviction cannot put the old record back): the key holds no
    record any more and expires soon."""
    value = st.redis.get(key)
    assert value is not None and json.loads(value).get("o") == "evicted", value
    assert 0 < st.redis.ttl(key) <= 30


def tok_key(token: str) -> str:
    return "recgw:tok:" + hashlib.sha256(token.encode()).hexdigest()


def sid_key(session_id: str) -> str:
    return "recgw:sid:" + session_id


def new_token(prefix: str = "tok") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def metrics(gw: Gateway) -> dict:
    return metrics_snapshot(gw.url)


def metric(gw_or_snapshot, name: str, **labels) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 if none)."""
    snap = metrics(gw_or_snapshot) if isinstance(gw_or_snapshot, Gateway) else gw_or_snapshot
    return metric_sum(snap, name, **labels)


def public(gw: Gateway, token: str, method: str = "GET", headers: Optional[dict] = None,
           timeout: float = 15) -> requests.Response:
    return requests.request(method, f"{gw.url}/api/v1/public/recordings/{token}",
                            headers=headers or {}, timeout=timeout)


def access_record(gw: Gateway, request_id: str, timeout: float = 5.0) -> dict:
    def find():
        for rec in gw.log_lines():
            if rec.get("type") == "access" and rec.get("request_id") == request_id:
                return rec
        return None
    return wait_for(find, timeout, f"the access-log line of request {request_id}")


def fetch_with_source(gw: Gateway, token: str, method: str = "GET",
                      headers: Optional[dict] = None) -> tuple[requests.Response, Optional[str]]:
    """One public request; returns the response and the access log's `source` for it."""
    rid = "t" + uuid.uuid4().hex[:20]
    r = public(gw, token, method, headers={**(headers or {}), "X-Request-Id": rid})
    return r, access_record(gw, rid).get("source")


def seed_recording(st: Stack, *, token: Optional[str] = None, session_id: Optional[str] = None,
                   size: int = 4096, key: Optional[str] = None) -> tuple[str, str, str, bytes]:
    """An object in MinIO and a call pointing at it: (token, session_id, key, bytes)."""
    token = token or new_token()
    session_id = session_id or f"sess-{uuid.uuid4().hex[:12]}"
    key = key or f"rec/{session_id}.ogg"
    data = os.urandom(size)
    st.put_object(key, data, "audio/ogg")
    st.insert_call(session_id, token=token, key=key, status="ready")
    return token, session_id, key, data


def redis_key_appears(st: Stack, key: str) -> Callable[[], bool]:
    return lambda: st.redis.exists(key) == 1


def redis_cmd_calls(st: Stack, command: str) -> int:
    stats = st.redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


# ---- a wire-level counter for MongoDB commands ----------------------------------------

class MongoWireCounter:
    """A TCP proxy in front of FerretDB that decodes every OP_MSG the gateway sends and
    records the command documents: an independent, on-the-wire count of MongoDB queries.
    `slow` (a predicate on the command document) holds matching commands back for
    `delay` seconds, like a slow MongoDB, so concurrent requests arrive while the query
    is in flight."""

    OP_MSG = 2013

    def __init__(self, target_port: int, slow: Optional[Callable[[dict], bool]] = None, delay: float = 0.0):
        self.target_port = target_port
        self.slow = slow
        self.delay = delay
        self.commands: list[dict] = []
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

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
            threading.Thread(target=self._client_to_server, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._copy, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _client_to_server(self, src: socket.socket, dst: socket.socket):
        try:
            while True:
                header = self._recv_exact(src, 16)
                length, _rid, _to, opcode = struct.unpack("<iiii", header)
                body = self._recv_exact(src, length - 16)
                if opcode == self.OP_MSG:
                    doc = self._note(body)
                    if doc and self.slow and self.slow(doc):
                        time.sleep(self.delay)
                dst.sendall(header + body)
        except (OSError, EOFError):
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _note(self, body: bytes) -> Optional[dict]:
        flags = struct.unpack_from("<I", body, 0)[0]
        end = len(body) - (4 if flags & 1 else 0)
        pos = 4
        while pos < end:
            kind = body[pos]
            pos += 1
            size = struct.unpack_from("<i", body, pos)[0]
            if kind == 0:
                try:
                    doc = bson.decode(body[pos:pos + size])
                except Exception:  # noqa: BLE001 — never break the proxy
                    doc = {}
                with self._lock:
                    self.commands.append(doc)
                return doc
            pos += size
        return None

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
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def finds(self, collection: str, field: str, value: str) -> int:
        with self._lock:
            return sum(1 for c in self.commands
                       if c.get("find") == collection and (c.get("filter") or {}).get(field) == value)

    def close(self):
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass


async def _burst_head(port: int, path: str, n: int) -> list[int]:
    """Open n connections first, then send one HEAD on each as fast as possible, then
    read every status line."""
    conns = await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port) for _ in range(n)])
    req = (f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").encode()
    for _, w in conns:
        w.write(req)

    async def read_status(reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            return int(head.split(b" ", 2)[1])
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            return -1
        finally:
            writer.close()

    return await asyncio.gather(*[read_status(r, w) for r, w in conns])


# ---- 1. FerretDB down: Redis, then L1, serve; uncached → 503 ---------------------------

def test_ferretdb_down_served_from_redis_then_l1_and_uncached_gets_503(clean_stack: Stack, gateway_factory):
    st = clean_stack
    token, _sid, _key, data = seed_recording(st)
    # gw_short: L1 for 1 s, so after FerretDB dies its answers must come from Redis.
    # gw_long:  L1 for 30 s, so with Redis dead too it still has the call in memory.
    gw_short = gateway_factory(extra_env={**BASE_ENV, "RECGW_CACHE_L1_TTL_S": "1"})
    gw_long = gateway_factory(extra_env={**BASE_ENV, "RECGW_CACHE_L1_TTL_S": "30"})

    r, source = fetch_with_source(gw_short, token)
    assert r.status_code == 200 and r.content == data
    assert source == "mongo", source
    wait_for(redis_key_appears(st, tok_key(token)), 5, "the Redis entry of the first lookup")
    r, source = fetch_with_source(gw_long, token)           # now in gw_long's L1 for 30 s
    assert r.status_code == 200 and r.content == data
    assert source == "redis", source

    st.stop_service("ferretdb", kill=True)

    # gw_short: L1 expires within 1 s, then the call must come from Redis.
    sources = []

    def served_from_redis():
        r, source = fetch_with_source(gw_short, token)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.content == data
        sources.append(source)
        return source == "redis"
    wait_for(served_from_redis, 5, "a response served from Redis with FerretDB down", interval=0.2)
    assert set(sources) <= {"l1", "redis"}, sources

    # An uncached token: Redis has nothing, MongoDB is down → 503 with Retry-After, never 404.
    for gw in (gw_short, gw_long):
        r = public(gw, new_token("uncached"))
        assert r.status_code == 503, (r.status_code, r.text)
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
    assert metric(gw_short, "recgw_mongo_errors_total") >= 1

    # Redis too: gw_long still has the call in L1.
    st.stop_service("redis", kill=True)
    t_redis_down = time.monotonic()
    r, source = fetch_with_source(gw_long, token)
    assert r.status_code == 200 and r.content == data
    assert source == "l1", source
    # ...while gw_short (L1 expired, nothing reachable) must answer 503, not 404.
    # (polled: served from its L1 until that 1 s entry expires, then 503)
    short_seen = []

    def short_gives_503():
        r, source = fetch_with_source(gw_short, token)
        short_seen.append((round(time.monotonic() - t_redis_down, 2), r.status_code, source))
        assert r.status_code in (200, 503), (short_seen, r.text)
        return (r,) if r.status_code == 503 else None   # (a 503 Response itself is falsy)
    try:
        (r,) = wait_for(short_gives_503, 5, "gw_short to answer 503 once its L1 entry expired", interval=0.1)
    finally:
        print(f"\ngw_short after Redis went down: {short_seen}")
    assert r.headers.get("Retry-After", "").isdigit(), r.headers
    r = public(gw_long, new_token("uncached"))
    assert r.status_code == 503 and "Retry-After" in r.headers


# ---- 2. Redis down: MongoDB answers; Redis back: used again -----------------------------

def test_redis_down_degrades_to_mongo_and_recovers_without_restart(clean_stack: Stack, gateway_factory):
    st = clean_stack
    calls = [seed_recording(st, size=512) for _ in range(40)]
    gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_CACHE_L1_TTL_S": "1"})
    assert metric(gw, "recgw_redis_connected") == 1

    st.stop_service("redis", kill=True)
    wait_for(lambda: metric(gw, "recgw_redis_connected") == 0, 10, "recgw_redis_connected to drop to 0")
    degraded0 = metric(gw, "recgw_lookup_degraded_total")
    mongo0 = metric(gw, "recgw_mongo_queries_total")
    for token, _sid, _key, data in calls[:3]:
        r, source = fetch_with_source(gw, token)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.content == data
        assert source == "mongo", source
    assert metric(gw, "recgw_lookup_degraded_total") >= degraded0 + 3
    assert metric(gw, "recgw_mongo_queries_total") == mongo0 + 3

    st.start_service("redis")
    assert st.redis.dbsize() == 0          # no persistence: whatever appears is new
    t0 = time.monotonic()
    remaining = iter(calls[3:])

    def new_lookup_written():
        token, _sid, _key, data = next(remaining)
        r = public(gw, token, "HEAD")
        assert r.status_code == 200, (r.status_code, r.text)
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            if st.redis.exists(tok_key(token)):
                return token, data
            time.sleep(0.02)
        return None
    token, data = wait_for(new_lookup_written, 12, "a new lookup to be written to Redis again", interval=0.1)
    took = time.monotonic() - t0
    print(f"\nRedis used again {took:.2f}s after it came back")
    assert took < 10, took          # backoff is capped at 5 s
    assert metric(gw, "recgw_redis_connected") == 1

    # ...and read from again: once L1 (1 s) expires, the same token comes from Redis.
    def from_redis():
        r, source = fetch_with_source(gw, token)
        assert r.status_code == 200 and r.content == data
        return source == "redis"
    wait_for(from_redis, 5, "a Redis hit after Redis came back", interval=0.2)


def test_slow_redis_times_out_to_mongo_and_loop_stays_responsive(clean_stack: Stack, gateway_factory):
    """Redis that accepts but never answers (SIGSTOP): each lookup gives up after
    RECGW_REDIS_TIMEOUT_MS and goes to MongoDB; the loop keeps serving meanwhile."""
    st = clean_stack
    calls = [seed_recording(st, size=256) for _ in range(4)]
    gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_CACHE_L1_TTL_S": "1", "RECGW_REDIS_TIMEOUT_MS": "250"})
    pid = st.pid("redis")
    assert pid
    degraded0 = metric(gw, "recgw_lookup_degraded_total")
    errors0 = metric(gw, "recgw_redis_errors_total")
    os.kill(pid, signal.SIGSTOP)
    try:
        for token, _sid, _key, data in calls[:3]:
            t0 = time.monotonic()
            r, source = fetch_with_source(gw, token)
            took = time.monotonic() - t0
            assert r.status_code == 200 and r.content == data, r.status_code
            assert source == "mongo", source
            assert took < 2.0, took                    # 250 ms Redis timeout + a MongoDB query
            t0 = time.monotonic()
            assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - t0 < 0.2
        assert metric(gw, "recgw_lookup_degraded_total") >= degraded0 + 3
        assert metric(gw, "recgw_redis_errors_total") >= errors0 + 3
    finally:
        os.kill(pid, signal.SIGCONT)

    # Redis answering again: a Redis hit once L1 expires (written by a lookup after SIGCONT)
    token, _sid, _key, data = calls[3]
    r = public(gw, token)
    assert r.status_code == 200 and r.content == data
    wait_for(redis_key_appears(st, tok_key(token)), 5, "a Redis write after SIGCONT")

    def from_redis():
        r, source = fetch_with_source(gw, token)
        assert r.status_code == 200 and r.content == data
        return source == "redis"
    wait_for(from_redis, 5, "a Redis hit after SIGCONT", interval=0.2)


# ---- 3. Redis never holds a raw token -----------------------------------------------------

def test_no_redis_key_or_value_contains_a_raw_token(clean_stack: Stack, gateway_factory):
    st = clean_stack
    found = [seed_recording(st, size=256) for _ in range(4)]
    no_key = new_token("nokey")
    st.insert_call(f"sess-nokey-{uuid.uuid4().hex[:8]}", token=no_key)      # a call without a recording
    missing = [new_token("missing") for _ in range(4)]
    warmed = [seed_recording(st, size=64) for _ in range(3)]
    gw = gateway_factory(extra_env=BASE_ENV)

    for token, sid, _key, data in found:
        r = public(gw, token)
        assert r.status_code == 200 and r.content == data
        r = requests.get(f"{gw.url}/api/v1/recordings/{sid}", headers=admin(), timeout=10)
        assert r.status_code == 200 and r.content == data
    for token in [no_key, *missing]:
        assert public(gw, token).status_code == 404
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(),
                      json={"tokens": [w[0] for w in warmed]}, timeout=30)
    assert r.status_code == 200 and r.json()["warmed"] == 3, r.text
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(),
                      json={"since": "2000-01-01T00:00:00Z", "limit": 100}, timeout=30)
    assert r.status_code == 200, r.text

    tokens = [c[0] for c in found] + [no_key] + missing + [w[0] for w in warmed]
    # every token (found, without recording, unknown, warmed) has its hashed entry
    wait_for(lambda: all(st.redis.exists(tok_key(t)) for t in tokens), 5, "a Redis entry per token")

    keys = list(st.redis.scan_iter(count=1000))
    assert len(keys) >= len(tokens)
    values = []
    for k in keys:
        kind = st.redis.type(k)
        assert kind == b"string", (k, kind)
        values.append(st.redis.get(k) or b"")
    blob_keys = b"\n".join(keys)
    blob_values = b"\n".join(values)
    for t in tokens:
        assert t.encode() not in blob_keys, f"raw token {t} in a Redis key"
        assert t.encode() not in blob_values, f"raw token {t} in a Redis value"
    for k in keys:
        assert k.startswith(b"recgw:tok:") or k.startswith(b"recgw:sid:"), k
    # the entries hold what the spec says: the resolved key (and the outcome for misses)
    entry = json.loads(st.redis.get(tok_key(found[0][0])))
    assert found[0][2] in json.dumps(entry), entry
    # misses are cached too, with the short TTL (default 60 s); hits with the long one (1 h)
    assert 0 < st.redis.ttl(tok_key(missing[0])) <= 60
    assert st.redis.ttl(tok_key(found[0][0])) > 60


# ---- 4. single-flight: 1,000 concurrent requests, one MongoDB query ---------------------------

def test_thousand_concurrent_requests_for_a_cold_token_cost_one_mongo_query(clean_stack: Stack, gateway_factory):
    st = clean_stack
    token, _sid, _key, _data = seed_recording(st, size=1024)
    # MongoDB answers this token's find after 0.5 s: the burst lands while it is in flight
    proxy = MongoWireCounter(
        st.mongo_port, delay=0.5,
        slow=lambda c: c.get("find") == "calls" and (c.get("filter") or {}).get("recording_access_token") == token)
    try:
        uri = st.mongo_uri.replace(f"127.0.0.1:{st.mongo_port}/", f"127.0.0.1:{proxy.port}/")
        assert uri != st.mongo_uri
        gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_MONGO_URI": uri, "RECGW_SERVER_WORKERS": "1"})
        assert not st.redis.exists(tok_key(token))
        before = metrics(gw)
        wire_before = proxy.finds("calls", "recording_access_token", token)
        st.redis.config_resetstat()

        statuses = asyncio.run(_burst_head(gw.port, f"/api/v1/public/recordings/{token}", 1000))

        assert statuses.count(200) == 1000, {s: statuses.count(s) for s in set(statuses)}
        after = metrics(gw)
        d = lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)  # noqa: E731
        print(f"\nmongo queries +{d('recgw_mongo_queries_total'):.0f}, "
              f"singleflight joins +{d('recgw_lookup_singleflight_joins_total'):.0f}, "
              f"l1 hits +{d('recgw_lookup_hits_total', tier='l1'):.0f}, "
              f"wire finds +{proxy.finds('calls', 'recording_access_token', token) - wire_before}, "
              f"redis GETs {redis_cmd_calls(st, 'get')}")
        assert d("recgw_mongo_queries_total") == 1
        assert d("recgw_lookup_singleflight_joins_total") > 0
        # every request is accounted for: the one lookup, its joiners, and later L1 hits
        assert (1 + d("recgw_lookup_singleflight_joins_total") + d("recgw_lookup_hits_total", tier="l1")
                == 1000)
        assert d("recgw_lookup_hits_total", tier="mongo") == 1
        # on the wire: exactly one find on `calls` for this token reached FerretDB
        assert proxy.finds("calls", "recording_access_token", token) - wire_before == 1
        # and Redis saw one GET for it (the miss) — counted by Redis itself — plus at most
        # the one inside the source-hint script (a compare-and-set that never overwrites an
        # eviction tombstone; Redis counts a script's GET as a GET)
        assert redis_cmd_calls(st, "get") in (1, 2)
        assert redis_cmd_calls(st, "eval") <= 1
    finally:
        proxy.close()


# ---- 5. warm-up -------------------------------------------------------------------------

def test_warm_10000_tokens_since_limit_and_errors(clean_stack: Stack, gateway_factory):
    st = clean_stack
    st.ensure_indexes()
    n = 10_000
    base = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    run = uuid.uuid4().hex[:8]
    docs = [{"session_id": f"warm-{run}-{i:05d}",
             "account_id": "acct-warm",
             "created_at": base + dt.timedelta(seconds=i),
             "recording_access_token": f"wtok-{run}-{i:05d}-{uuid.uuid4().hex[:10]}",
             "recording_key": f"rec/warm/{i:05d}.ogg",
             "recording_status": "ready"} for i in range(n)]
    st.db.calls.insert_many([dict(d) for d in docs], ordered=False)
    assert st.db.calls.count_documents({}) == n
    tokens = [d["recording_access_token"] for d in docs]
    gw = gateway_factory(extra_env=BASE_ENV)

    # auth: none → 401, non-admin → 403, and nothing is written
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", json={"tokens": tokens[:5]}, timeout=10)
    assert r.status_code == 401, r.text
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=bearer("agent"),
                      json={"tokens": tokens[:5]}, timeout=10)
    assert r.status_code == 403, r.text
    assert st.redis.dbsize() == 0

    # bad bodies → 400
    for body in (b"not json", b"[]", b'{"tokens": "x"}', b'{"tokens": [1, 2]}', b"{}",
                 b'{"since": "yesterday"}', b'{"tokens": ["a"], "session_ids": ["b"]}',
                 b'{"since": "2024-05-01T00:00:00Z", "limit": 0}'):
        r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers={**admin(), "Content-Type": "application/json"},
                          data=body, timeout=10)
        assert r.status_code == 400, (body, r.status_code, r.text)
    assert st.redis.dbsize() == 0

    # 10,000 tokens in one request
    t0 = time.monotonic()
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(), json={"tokens": tokens}, timeout=90)
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    body = r.json()
    print(f"\nwarm: {n} tokens via POST /api/v1/admin/cache/warm in {took:.2f}s "
          f"({n / took:.0f} calls/s): {body}")
    assert body["warmed"] == n and body["missing"] == 0, body
    tok_keys = set(st.redis.scan_iter(match="recgw:tok:*", count=5000))
    assert len(tok_keys) == n
    assert tok_keys == {tok_key(t).encode() for t in tokens}
    ttl = st.redis.ttl(tok_key(tokens[123]))
    assert 3000 < ttl <= 3600, ttl                 # hit TTL (default 1 h)
    entry = st.redis.get(tok_key(tokens[123])).decode()
    assert "rec/warm/00123.ogg" in entry, entry
    # a warmed token is a Redis hit (no MongoDB query)
    mongo0 = metric(gw, "recgw_mongo_queries_total")
    r, source = fetch_with_source(gw, tokens[4567], "HEAD")
    assert source in ("redis", "l1"), source       # warm also fills this worker's L1
    assert metric(gw, "recgw_mongo_queries_total") == mongo0

    # the same 10,000 calls by date: one MongoDB query, 20,000 entries (token + session id)
    st.redis.flushall()
    t0 = time.monotonic()
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(),
                      json={"since": "2024-01-01T00:00:00Z", "limit": n}, timeout=90)
    took_since = time.monotonic() - t0
    assert r.status_code == 200, r.text
    body = r.json()
    print(f"warm: {n} calls via since/limit in {took_since:.2f}s ({n / took_since:.0f} calls/s, "
          f"{2 * n} Redis entries): {body}")
    assert body["warmed"] == 2 * n and body["missing"] == 0, body
    assert len(set(st.redis.scan_iter(match="recgw:tok:*", count=5000))) == n
    assert len(set(st.redis.scan_iter(match="recgw:sid:*", count=5000))) == n

    # unknown tokens are counted as missing
    st.redis.flushall()
    unknown = [new_token("unknown") for _ in range(2)]
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(),
                      json={"tokens": tokens[:3] + unknown}, timeout=10)
    assert r.status_code == 200, r.text
    assert (r.json()["warmed"], r.json()["missing"]) == (3, 2), r.json()
    assert st.redis.dbsize() == 3

    # session ids
    st.redis.flushall()
    sids = [d["session_id"] for d in docs[:10]] + ["no-such-session"]
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(), json={"session_ids": sids}, timeout=10)
    assert r.status_code == 200, r.text
    assert (r.json()["warmed"], r.json()["missing"]) == (10, 1), r.json()
    assert set(st.redis.scan_iter(match="recgw:*")) == {sid_key(s).encode() for s in sids[:10]}

    # since + limit: the 500 newest calls since `since`, each under its token and its session id
    st.redis.flushall()
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(),
                      json={"since": "2024-05-01T00:00:00Z", "limit": 500}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    newest = docs[n - 500:]
    assert body["missing"] == 0, body
    assert body["warmed"] == 1000, body           # one entry per token and one per session id
    assert set(st.redis.scan_iter(match="recgw:tok:*", count=5000)) == \
        {tok_key(d["recording_access_token"]).encode() for d in newest}
    assert set(st.redis.scan_iter(match="recgw:sid:*", count=5000)) == \
        {sid_key(d["session_id"]).encode() for d in newest}

    # since in the middle, no limit given: only calls created at or after it
    st.redis.flushall()
    since = (base + dt.timedelta(seconds=n - 30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(f"{gw.url}/api/v1/admin/cache/warm", headers=admin(), json={"since": since}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["warmed"] == 60, r.json()
    assert st.redis.dbsize() == 60


# ---- 6. failed-lookup rate limit per client address ------------------------------------------

def test_scanner_is_rate_limited_per_address_and_mongo_sees_only_allowed_lookups(clean_stack: Stack,
                                                                                  gateway_factory):
    st = clean_stack
    # A slow refill (one lookup per 10 s): the scan takes about a second, and the check after
    # it expects the bucket still empty.
    rate_per_min, burst = 6, 20
    gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_SERVER_TRUSTED_PROXIES": "127.0.0.1",
                                    "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": str(rate_per_min),
                                    "RECGW_CACHE_FAILED_LOOKUPS_BURST": str(burst)})
    scanner = {"X-Forwarded-For": "203.0.113.7"}
    other = {"X-Forwarded-For": "203.0.113.8"}
    before = metrics(gw)
    st.redis.config_resetstat()
    session = requests.Session()

    statuses = []
    other_statuses = []
    retry_after = set()
    t0 = time.monotonic()
    for i in range(1000):
        r = session.get(f"{gw.url}/api/v1/public/recordings/{new_token('scan')}", headers=scanner, timeout=10)
        statuses.append(r.status_code)
        if r.status_code == 429:
            retry_after.add(r.headers.get("Retry-After"))
        if i % 100 == 50:
            # meanwhile a different client still gets its honest 404
            r = session.get(f"{gw.url}/api/v1/public/recordings/{new_token('other')}", headers=other, timeout=10)
            other_statuses.append(r.status_code)
    elapsed = time.monotonic() - t0
    after = metrics(gw)

    counts = {s: statuses.count(s) for s in set(statuses)}
    print(f"\nscan of 1000 in {elapsed:.2f}s: {counts}; other address: {other_statuses}")
    assert set(statuses) <= {404, 429}, counts
    assert statuses[:burst] == [404] * burst            # the burst is allowed
    allowed = burst + int(elapsed * rate_per_min / 60) + 2
    # then it is over: the first 429 comes before the refill allowance runs out (on a loaded
    # machine a second may pass during the burst and refill one more lookup)
    assert 429 in statuses[burst:allowed + 1]
    assert counts.get(404, 0) <= allowed, (counts, allowed)
    assert counts.get(429, 0) >= 1000 - allowed
    assert retry_after and all(v and v.isdigit() and int(v) >= 1 for v in retry_after), retry_after
    assert other_statuses == [404] * len(other_statuses) and len(other_statuses) == 10

    d = lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)  # noqa: E731
    lookups_allowed = allowed + len(other_statuses)
    assert d("recgw_rate_limited_total") == counts[429]
    assert d("recgw_lookup_refused_total") == counts[429]
    assert d("recgw_mongo_queries_total") <= lookups_allowed, (d("recgw_mongo_queries_total"), lookups_allowed)
    assert d("recgw_mongo_queries_total") == counts[404] + len(other_statuses)
    # The limit guards MongoDB, not Redis: a limited address's lookups still ask Redis (one
    # cheap GET each), because a link cached there must keep playing (issue #19 row 9).
    # Counted by Redis itself, not by the gateway.
    assert redis_cmd_calls(st, "get") <= 1000 + len(other_statuses) + 1, redis_cmd_calls(st, "get")

    # a limited address gets 429 at once for another unknown token, the other one does not
    r = session.get(f"{gw.url}/api/v1/public/recordings/{new_token('scan')}", headers=scanner, timeout=10)
    assert r.status_code == 429 and r.headers.get("Retry-After", "").isdigit()
    r = session.get(f"{gw.url}/api/v1/public/recordings/{new_token('other')}", headers=other, timeout=10)
    assert r.status_code == 404


async def _burst_get(port: int, paths: list[str], headers: dict) -> list[int]:
    conns = await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port) for _ in paths])
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    for (_, w), path in zip(conns, paths):
        w.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n".encode())

    async def read_status(reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            return int(head.split(b" ", 2)[1])
        finally:
            writer.close()
    return await asyncio.gather(*[read_status(r, w) for r, w in conns])


def test_concurrent_scanner_cannot_exceed_the_burst(clean_stack: Stack, gateway_factory):
    st = clean_stack
    burst = 20
    gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_SERVER_TRUSTED_PROXIES": "127.0.0.1",
                                    "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "60",
                                    "RECGW_CACHE_FAILED_LOOKUPS_BURST": str(burst)})
    mongo0 = metric(gw, "recgw_mongo_queries_total")
    paths = [f"/api/v1/public/recordings/{new_token('pscan')}" for _ in range(200)]
    t0 = time.monotonic()
    statuses = asyncio.run(_burst_get(gw.port, paths, {"X-Forwarded-For": "203.0.113.9"}))
    elapsed = time.monotonic() - t0
    counts = {s: statuses.count(s) for s in set(statuses)}
    mongo = metric(gw, "recgw_mongo_queries_total") - mongo0
    print(f"\nconcurrent scan of 200: {counts}, MongoDB queries +{mongo:.0f} in {elapsed:.2f}s")
    assert set(statuses) <= {404, 429}, counts
    allowed = burst + int(elapsed) + 2
    assert counts.get(404, 0) <= allowed, (counts, allowed)
    assert mongo <= allowed, (mongo, allowed)


def test_locked_out_address_still_plays_its_valid_cached_links(clean_stack: Stack, gateway_factory):
    """Issue #19 row 9: a CRM behind one egress address that also sends unknown tokens is
    limited only for lookups that would reach MongoDB. Its links answered by L1 or Redis
    keep playing (200), a miss cached in Redis is still an honest 404 (it costs MongoDB
    nothing), and only a token that would need MongoDB gets 429 + Retry-After."""
    st = clean_stack
    burst = 5
    env = {**BASE_ENV, "RECGW_SERVER_TRUSTED_PROXIES": "127.0.0.1",
           "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "1",  # no refill to speak of during the test
           "RECGW_CACHE_FAILED_LOOKUPS_BURST": str(burst),
           "RECGW_CACHE_L1_TTL_S": "600"}
    gw = gateway_factory(extra_env=env)
    other_gateway = gateway_factory(extra_env=env)  # shares Redis and MongoDB, not L1
    crm = {"X-Forwarded-For": "198.51.100.20"}
    colleague = {"X-Forwarded-For": "198.51.100.21"}

    l1_token, _, _, l1_data = seed_recording(st, size=3000)
    redis_token, _, _, redis_data = seed_recording(st, size=3100)
    cold_token, _, _, cold_data = seed_recording(st, size=3200)
    cached_unknown = new_token("gone")

    # Playing real links that only MongoDB knows costs the address nothing (each lookup is
    # refunded when MongoDB finds the call): more than the burst of them all play.
    busy = [seed_recording(st, size=1000) for _ in range(burst + 3)]
    for token, _, _, data in busy:
        r = public(gw, token, headers=crm)
        assert r.status_code == 200 and r.content == data

    # l1_token: played by the CRM (now in this gateway's L1); redis_token and the unknown
    # token: looked up through the other gateway only, so this one finds them in Redis.
    assert public(gw, l1_token, headers=crm).content == l1_data
    assert public(other_gateway, redis_token).content == redis_data
    assert public(other_gateway, cached_unknown).status_code == 404
    wait_for(redis_key_appears(st, tok_key(redis_token)), 5, "the token's Redis entry")
    wait_for(redis_key_appears(st, tok_key(cached_unknown)), 5, "the cached miss in Redis")

    # The CRM sends unknown tokens until it is locked out.
    statuses = [public(gw, new_token("typo"), headers=crm).status_code for _ in range(burst + 3)]
    assert statuses[:burst] == [404] * burst and statuses[burst:] == [429] * 3, statuses
    mongo_before = metric(gw, "recgw_mongo_queries_total")

    r, source = fetch_with_source(gw, l1_token, headers=crm)
    assert (r.status_code, source) == (200, "l1") and r.content == l1_data
    r, source = fetch_with_source(gw, redis_token, headers=crm)
    assert (r.status_code, source) == (200, "redis") and r.content == redis_data
    r, source = fetch_with_source(gw, cached_unknown, headers=crm)
    assert (r.status_code, source) == (404, "redis")
    # A valid link nobody has played: it would need MongoDB, so it waits like any lookup.
    r, source = fetch_with_source(gw, cold_token, headers=crm)
    assert (r.status_code, source) == (429, "refused"), (r.status_code, source)
    assert r.headers.get("Retry-After", "").isdigit() and int(r.headers["Retry-After"]) >= 1, r.headers
    assert r.json()["error"] == "rate_limited"
    assert metric(gw, "recgw_mongo_queries_total") == mongo_before  # the limited address asked nothing

    # Another address plays it (MongoDB), and from then on the CRM plays it from L1.
    assert public(gw, cold_token, headers=colleague).content == cold_data
    r, source = fetch_with_source(gw, cold_token, headers=crm)
    assert (r.status_code, source) == (200, "l1") and r.content == cold_data


def _worker_files_text(directory: Path) -> dict:
    return {p.name: p.read_text() for p in directory.glob("worker-*.prom")}


def _public_requests_in(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("recgw_http_requests_total{") and 'route="public_recording"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_failed_lookup_limit_is_shared_by_all_workers(clean_stack: Stack, gateway_factory):
    """Audit item 8: the limit is per gateway, not per worker process. With two workers a
    scanner on fresh connections (SO_REUSEPORT spreads them over both) gets the burst of
    unknown tokens once, not twice."""
    burst = 20
    gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_SERVER_TRUSTED_PROXIES": "127.0.0.1",
                                    "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "6",  # one per 10 s
                                    "RECGW_CACHE_FAILED_LOOKUPS_BURST": str(burst)},
                         workers=2)
    listening = lambda: {r["pid"] for r in gw.log_lines() if r.get("msg") == "worker listening"}  # noqa: E731
    wait_for(lambda: len(listening()) == 2, 15, "both workers listening")
    mongo0 = metric(gw, "recgw_mongo_queries_total")

    n = 120
    t0 = time.monotonic()
    statuses = []
    for _ in range(n):
        # a new connection for every request (no session), so both workers get a share
        r = requests.get(f"{gw.url}/api/v1/public/recordings/{new_token('wscan')}",
                         headers={"X-Forwarded-For": "203.0.113.70", "Connection": "close"}, timeout=10)
        statuses.append(r.status_code)
    elapsed = time.monotonic() - t0
    counts = {s: statuses.count(s) for s in set(statuses)}
    print(f"\nscan of {n} over 2 workers in {elapsed:.2f}s: {counts}")

    allowed = burst + int(elapsed / 10) + 1
    assert set(statuses) <= {404, 429}, counts
    assert statuses[:burst] == [404] * burst, statuses[:burst]
    # Per-worker buckets would let about 2 × burst through.
    assert counts.get(404, 0) <= allowed, (counts, allowed)

    # Both workers answered part of the scan: each publishes its own numbers once a second.
    directory = Path(wait_for(lambda: next((r["directory"] for r in gw.log_lines()
                                            if r.get("msg") == "metrics directory"), None),
                              10, "the supervisor's metrics directory line"))
    per_worker = wait_for(lambda: (lambda f: f if len(f) == 2 and sum(map(_public_requests_in, f.values())) == n
                                   else None)(_worker_files_text(directory)),
                          10, "both workers' published request counts")
    served = {name: _public_requests_in(text) for name, text in per_worker.items()}
    print(f"served per worker: {served}")
    assert all(v >= 10 for v in served.values()), served
    # /metrics sums both workers (the other one's numbers up to a second old)
    wait_for(lambda: metric(gw, "recgw_mongo_queries_total") - mongo0 == counts[404], 5,
             f"MongoDB queries to equal the {counts[404]} lookups let through")


# ---- 7. admin eviction -------------------------------------------------------------------

def test_admin_evict_then_changed_key_is_served_within_l1_ttl(clean_stack: Stack, gateway_factory):
    st = clean_stack
    l1_ttl = 30
    token, sid, key_a, data_a = seed_recording(st, size=3000)
    key_b = f"rec/{sid}-v2.ogg"
    data_b = os.urandom(5000)
    st.put_object(key_b, data_b, "audio/ogg")
    gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_CACHE_L1_TTL_S": str(l1_ttl)})

    r = public(gw, token)
    assert r.status_code == 200 and r.content == data_a
    wait_for(redis_key_appears(st, tok_key(token)), 5, "the token's Redis entry")
    r = requests.get(f"{gw.url}/api/v1/recordings/{sid}", headers=admin(), timeout=10)
    assert r.status_code == 200 and r.content == data_a
    wait_for(redis_key_appears(st, sid_key(sid)), 5, "the session's Redis entry")

    res = st.db.calls.update_one({"session_id": sid}, {"$set": {"recording_key": key_b}})
    assert res.modified_count == 1
    # still cached: without eviction the old object keeps being served
    r, source = fetch_with_source(gw, token)
    assert r.status_code == 200 and r.content == data_a and source == "l1", source

    # only admins may evict
    assert requests.delete(f"{gw.url}/api/v1/admin/cache/{token}", timeout=10).status_code == 401
    assert requests.delete(f"{gw.url}/api/v1/admin/cache/{token}", headers=bearer("agent"),
                           timeout=10).status_code == 403
    assert public(gw, token).content == data_a

    t0 = time.monotonic()
    r = requests.delete(f"{gw.url}/api/v1/admin/cache/{token}", headers=admin(), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"evicted": True, "redis": True}, r.json()
    assert_evicted(st, tok_key(token))

    def new_object_served():
        r = public(gw, token)
        assert r.status_code == 200
        return r.content == data_b
    wait_for(new_object_served, l1_ttl / 3, "the new object after eviction")
    assert time.monotonic() - t0 < l1_ttl
    r, source = fetch_with_source(gw, token)
    assert r.content == data_b and r.content != data_a

    # evicting by session id works the same for the admin route
    r = requests.get(f"{gw.url}/api/v1/recordings/{sid}", headers=admin(), timeout=10)
    assert r.content == data_a                       # sid entry still cached
    r = requests.delete(f"{gw.url}/api/v1/admin/cache/{sid}", headers=admin(), timeout=10)
    assert r.status_code == 200 and r.json()["evicted"] is True
    assert_evicted(st, sid_key(sid))
    r = requests.get(f"{gw.url}/api/v1/recordings/{sid}", headers=admin(), timeout=10)
    assert r.status_code == 200 and r.content == data_b


def test_expired_l1_entries_do_not_pile_up_under_distinct_lookups(clean_stack: Stack, gateway_factory):
    """Every lookup of a new token caches its miss in L1. Entries nobody asks for again must
    not stay until cache.l1_entries is reached (100,000 by default): once expired, later
    inserts drop them, so L1 holds about rate × TTL entries, not everything ever seen."""
    gw = gateway_factory(extra_env={**BASE_ENV, "RECGW_CACHE_L1_TTL_S": "1",
                                    "RECGW_CACHE_FAILED_LOOKUPS_BURST": "100000",
                                    "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "100000"})
    session = requests.Session()
    for _ in range(200):
        r = session.get(f"{gw.url}/api/v1/public/recordings/{new_token('once')}", timeout=10)
        assert r.status_code == 404, r.text
    seen = metric(gw, "recgw_lookup_l1_entries")
    assert seen >= 1, seen
    last_insert = time.monotonic()
    # past the 1 s TTL of every entry above (waiting for expiry itself: nothing to poll)
    time.sleep(max(0.0, last_insert + 1.2 - time.monotonic()))
    r = session.get(f"{gw.url}/api/v1/public/recordings/{new_token('once')}", timeout=10)
    assert r.status_code == 404, r.text
    left = metric(gw, "recgw_lookup_l1_entries")
    print(f"\nL1 entries: {seen:.0f} during the scan, {left:.0f} after one more insert past the TTL")
    assert left == 1, f"{left:.0f} entries left in L1; only the newest is alive"
