"""The object cache (issue 16) against the real stack: hot recordings answered from memory
with the streamed answer's bytes and headers, revalidated past cache.object_fresh_s, dropped
by an admin eviction, a token rotation, an object deleted; the byte budget; an aborted first
stream; single flight for a burst of cold requests.

A gateway with cache.objects_bytes = 0 on the same stack gives the streamed answer each
memory answer is compared with. Counting: recgw_upstream_first_byte_seconds_count{source=
"storage"} rises once per upstream answer, recgw_object_cache_hits_total once per answer
from memory.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from typing import Optional

import pytest
import requests

from helpers import hs256_jwt, metric_sum, metrics_snapshot, wait_for
from delay_proxy import delay_proxy_factory  # noqa: F401 — fixture used by name
from stack import Gateway, Stack

pytestmark = pytest.mark.timeout(180)

JWT_SECRET = "object-cache-test-secret-0123456789abcdef"
PUBLIC = "/api/v1/public/recordings/"
KiB = 1024
MiB = 1024 * KiB
# Headers that differ between any two answers, streamed or not.
VOLATILE = {"date", "x-request-id"}


def env(**overrides) -> dict:
    e = {"RECGW_JWT_HS256_SECRET": JWT_SECRET, "RECGW_SERVER_WORKERS": "1",
         "RECGW_CACHE_OBJECT_FRESH_S": "30", "RECGW_CACHE_OBJECT_ADMIT_AFTER": "2"}
    e.update({f"RECGW_CACHE_{k.upper()}": str(v) for k, v in overrides.items()})
    return e


def admin() -> dict:
    now = int(time.time())
    return {"Authorization": "Bearer " + hs256_jwt({"sub": "t", "role": "admin", "iat": now, "exp": now + 600},
                                                   JWT_SECRET)}


def seed(st: Stack, size: int = 64 * KiB, *, content_type: str = "audio/ogg",
         key: Optional[str] = None) -> tuple[str, str, str, bytes]:
    token = f"tok-{uuid.uuid4().hex}"
    session_id = f"sess-{uuid.uuid4().hex[:12]}"
    key = key or f"rec/{session_id}.ogg"
    data = os.urandom(size)
    st.put_object(key, data, content_type)
    st.insert_call(session_id, token=token, key=key, status="ready")
    return token, session_id, key, data


def m(gw: Gateway, name: str, **labels) -> float:
    return metric_sum(metrics_snapshot(gw.url), name, **labels)


def upstream_answers(gw: Gateway) -> float:
    return m(gw, "recgw_upstream_first_byte_seconds_count", source="storage")


def hits(gw: Gateway) -> float:
    return m(gw, "recgw_object_cache_hits_total")


def get(gw: Gateway, token: str, headers: Optional[dict] = None, method: str = "GET") -> requests.Response:
    return requests.request(method, gw.url + PUBLIC + token, headers=headers or {}, timeout=30)


def comparable(r: requests.Response) -> tuple:
    headers = sorted((k.lower(), v) for k, v in r.headers.items() if k.lower() not in VOLATILE)
    return r.status_code, headers, r.content


def admit(gw: Gateway, token: str, data: bytes) -> None:
    """Two requests: the second is admitted and fills the entry; the third is a hit."""
    for _ in range(2):
        r = get(gw, token)
        assert r.status_code == 200 and r.content == data
    wait_for(lambda: m(gw, "recgw_object_cache_entries") >= 1, 10, "the entry to be filled")


@pytest.fixture
def gateways(clean_stack, gateway_factory):
    """(cached gateway, streaming-only gateway) on the same stack."""
    cached = gateway_factory(extra_env=env())
    streaming = gateway_factory(extra_env=env(objects_bytes=0))
    return clean_stack, cached, streaming


def test_hit_after_admission_is_byte_and_header_identical_to_the_streamed_answer(gateways):
    st, gw, _ = gateways
    token, _, _, data = seed(st)
    first = get(gw, token)  # streamed, counted toward admission
    second = get(gw, token)  # streamed, admitted: fills from these bytes
    wait_for(lambda: m(gw, "recgw_object_cache_entries") == 1, 10, "the entry to be filled")
    before_upstream, before_hits = upstream_answers(gw), hits(gw)
    third = get(gw, token)
    assert third.content == data
    assert comparable(third) == comparable(first) == comparable(second)
    wait_for(lambda: hits(gw) == before_hits + 1, 10, "one hit")
    assert upstream_answers(gw) == before_upstream, "a hit must not reach storage"


@pytest.mark.parametrize("headers, method", [
    ({}, "HEAD"),
    ({"Range": "bytes=100-4195"}, "GET"),
    ({"Range": "bytes=-777"}, "GET"),
    ({"Range": "bytes=-999999999"}, "GET"),
    ({"Range": "bytes=60000-"}, "GET"),
    ({"Range": "bytes=70000-"}, "GET"),  # past the end: 416
    ({"Range": "bytes=10-20"}, "HEAD"),
    ({"If-None-Match": "ETAG"}, "GET"),
    ({"If-None-Match": "\"other\""}, "GET"),
    ({"If-None-Match": "*"}, "HEAD"),
    ({"If-Modified-Since": "LAST_MODIFIED"}, "GET"),
    ({"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, "GET"),
    ({"Range": "bytes=5-9", "If-Range": "ETAG"}, "GET"),
    ({"Range": "bytes=5-9", "If-Range": "\"stale\""}, "GET"),
    ({"Range": "bytes=5-9", "If-Range": "LAST_MODIFIED"}, "GET"),
])
def test_range_head_and_conditionals_from_memory_answer_as_streamed(gateways, headers, method):
    st, gw, streaming = gateways
    token, _, _, data = seed(st)
    admit(gw, token, data)
    reference = get(streaming, token)
    headers = {k: v.replace("ETAG", reference.headers["ETag"]).replace("LAST_MODIFIED",
                                                                        reference.headers["Last-Modified"])
               for k, v in headers.items()}
    before_upstream, before_hits = upstream_answers(gw), hits(gw)
    from_memory = get(gw, token, headers, method)
    streamed = get(streaming, token, headers, method)
    assert comparable(from_memory) == comparable(streamed), (headers, method)
    wait_for(lambda: hits(gw) == before_hits + 1, 10, "the answer to come from memory")
    assert upstream_answers(gw) == before_upstream


def test_overwritten_object_is_served_new_after_fresh_s_and_at_once_after_admin_evict(clean_stack,
                                                                                      gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=env(object_fresh_s=1))
    token, session_id, key, old = seed(st)
    admit(gw, token, old)
    assert get(gw, token).content == old

    new = os.urandom(len(old))
    st.put_object(key, new, "audio/ogg")
    # Within object_fresh_s the copy may still answer; past it, storage is asked first.
    wait_for(lambda: get(gw, token).content == new, 10, "the new bytes after object_fresh_s")
    assert m(gw, "recgw_object_cache_revalidations_total") >= 1
    # Never the old bytes again, from memory or not.
    for _ in range(5):
        assert get(gw, token).content == new

    # An admin eviction drops the copy at once, long before object_fresh_s.
    gw2 = gateway_factory(extra_env=env(object_fresh_s=3600))
    admit(gw2, token, new)
    assert get(gw2, token).content == new
    newer = os.urandom(len(old))
    st.put_object(key, newer, "audio/ogg")
    assert get(gw2, token).content == new  # fresh for an hour: still the copy
    r = requests.delete(gw2.url + "/api/v1/admin/cache/" + session_id, headers=admin(), timeout=10)
    assert r.status_code == 200, r.text
    assert get(gw2, token).content == newer


def test_download_mode_from_memory_answers_as_streamed(gateways):
    """?download=1 on a copy in memory carries the same attachment header as the stream."""
    st, cached, streaming = gateways
    token, _, _, data = seed(st)
    admit(cached, token, data)
    before = hits(cached)
    from_memory = requests.get(cached.url + PUBLIC + token + "?download=1", timeout=30)
    streamed = requests.get(streaming.url + PUBLIC + token + "?download=1", timeout=30)
    wait_for(lambda: hits(cached) == before + 1, 10, "the download answered from memory")
    assert from_memory.content == data
    assert from_memory.headers["Content-Disposition"].startswith("attachment")
    assert comparable(from_memory) == comparable(streamed)


def test_admin_evict_on_one_gateway_drops_the_copy_on_another(clean_stack, gateway_factory):
    """Two gateways share Redis: an eviction through A reaches B's object cache through the
    invalidation channel, long before B's object_fresh_s."""
    st = clean_stack
    gw_a = gateway_factory(extra_env=env(object_fresh_s=3600))
    gw_b = gateway_factory(extra_env=env(object_fresh_s=3600))
    wait_for(lambda: m(gw_b, "recgw_invalidation_subscribed") >= 1, 15, "B subscribed to recgw:invalidate")
    token, session_id, key, old = seed(st)
    admit(gw_b, token, old)
    assert m(gw_b, "recgw_object_cache_entries") == 1
    new = os.urandom(len(old))
    st.put_object(key, new, "audio/ogg")
    assert get(gw_b, token).content == old  # fresh for an hour: still B's copy
    r = requests.delete(gw_a.url + "/api/v1/admin/cache/" + token, headers=admin(), timeout=10)
    assert r.status_code == 200, r.text
    wait_for(lambda: m(gw_b, "recgw_object_cache_entries") == 0, 10, "B's copy dropped by A's eviction")
    assert get(gw_b, token).content == new


def test_unchanged_object_is_revalidated_with_a_304_and_stays_in_memory(clean_stack, gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=env(object_fresh_s=1))
    token, _, _, data = seed(st)
    admit(gw, token, data)
    get(gw, token)
    wait_for(lambda: m(gw, "recgw_object_cache_hits_total") >= 1, 10, "a hit")
    before = upstream_answers(gw)
    # Hits until object_fresh_s has passed; then one conditional request, answered 304.
    wait_for(lambda: get(gw, token).content == data and m(gw, "recgw_object_cache_revalidations_total") >= 1,
             10, "a revalidation")
    wait_for(lambda: upstream_answers(gw) == before + 1, 10, "the conditional request to be counted")
    assert m(gw, "recgw_object_cache_entries") == 1
    hits_before = hits(gw)
    assert get(gw, token).content == data
    wait_for(lambda: hits(gw) == hits_before + 1, 10, "a hit")
    assert upstream_answers(gw) == before + 1  # fresh again: no request


def test_deleted_object_is_404_after_revalidation(clean_stack, gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=env(object_fresh_s=1))
    token, _, key, data = seed(st)
    admit(gw, token, data)
    st.s3.delete_object(Bucket=st.bucket, Key=key)
    wait_for(lambda: get(gw, token).status_code == 404, 10, "404 once the copy is revalidated")
    wait_for(lambda: m(gw, "recgw_object_cache_entries") == 0, 10, "the entry to be dropped")


def test_token_rotation_drops_the_object(clean_stack, gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=env(object_fresh_s=3600))
    token, session_id, key, data = seed(st)
    admit(gw, token, data)
    r = requests.post(gw.url + f"/api/v1/admin/recordings/{session_id}/token", headers=admin(), timeout=10)
    assert r.status_code == 200, r.text
    wait_for(lambda: m(gw, "recgw_object_cache_entries") == 0, 10, "the entry to be dropped")


def test_budget_is_respected_under_a_fill_of_many_objects(clean_stack, gateway_factory):
    st = clean_stack
    budget = 4 * MiB
    gw = gateway_factory(extra_env=env(objects_bytes=budget, object_admit_after=1))

    def rss_kib() -> int:
        """The gateway's processes together (the supervisor and its worker)."""
        pids = [gw.pid]
        for task in os.listdir(f"/proc/{gw.pid}/task"):
            with open(f"/proc/{gw.pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return total

    rss_before = rss_kib()
    seeded = [seed(st, 256 * KiB) for _ in range(48)]  # 12 MiB through a 4 MiB cache
    for token, _, _, data in seeded:
        r = get(gw, token)
        assert r.status_code == 200 and r.content == data
    wait_for(lambda: m(gw, "recgw_object_cache_evictions_total", reason="budget") > 0, 10, "evictions")
    cached = m(gw, "recgw_object_cache_bytes")
    assert 0 < cached <= budget
    assert m(gw, "recgw_object_cache_entries") <= budget // (256 * KiB)
    # The worker runs in the gateway process with one worker; what it holds beyond the
    # budget is the relay's buffers and the allocator's slack.
    grown = rss_kib() - rss_before
    print(f"\nobject cache {cached / MiB:.2f} MiB, RSS grew {grown / 1024:.1f} MiB")
    assert grown * KiB <= budget + 16 * MiB
    # The most recent objects answer from memory, with their own bytes.
    token, _, _, data = seeded[-1]
    before = hits(gw)
    assert get(gw, token).content == data
    wait_for(lambda: hits(gw) == before + 1, 10, "a hit on a recent object")


def test_a_client_aborting_the_first_stream_leaves_no_partial_entry(clean_stack, gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=env(object_admit_after=1))
    token, _, _, data = seed(st, 6 * MiB)
    before = m(gw, "recgw_stream_client_aborts_total")
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {PUBLIC}{token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = s.recv(65536)
        assert got.startswith(b"HTTP/1.1 200")
    wait_for(lambda: m(gw, "recgw_stream_client_aborts_total") > before, 20, "the abort to be seen")
    assert m(gw, "recgw_object_cache_entries") == 0
    assert m(gw, "recgw_object_cache_bytes") == 0
    # The next request is relayed and fills it, whole.
    r = get(gw, token)
    assert r.content == data
    wait_for(lambda: m(gw, "recgw_object_cache_entries") == 1, 10, "a whole entry")
    before_hits = hits(gw)
    assert get(gw, token).content == data
    wait_for(lambda: hits(gw) == before_hits + 1, 10, "a hit")


async def _burst_get(port: int, path: str, n: int) -> list[tuple[int, bytes]]:
    """Open n connections, then send one GET on each as fast as possible; read each
    answer whole (Connection: close)."""
    conns = await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port) for _ in range(n)])
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    for _, w in conns:
        w.write(req)

    async def read_all(reader, writer):
        try:
            raw = await asyncio.wait_for(reader.read(), 60)
            head, _, body = raw.partition(b"\r\n\r\n")
            return int(head.split(b" ", 2)[1]), body
        except (asyncio.TimeoutError, ConnectionError, IndexError, ValueError):
            return -1, b""
        finally:
            writer.close()

    return await asyncio.gather(*[read_all(r, w) for r, w in conns])


def test_thousand_concurrent_first_requests_cause_one_upstream_get(clean_stack, gateway_factory,
                                                                   delay_proxy_factory):
    st = clean_stack
    # Storage answers after 0.3 s: the burst lands while the first GET is in flight.
    proxy = delay_proxy_factory("127.0.0.1", st.minio_port, delay_s=0.3, direction="down")
    gw = gateway_factory(extra_env={**env(), "RECGW_S3_ENDPOINT": proxy.url})
    token, _, _, data = seed(st, 16 * KiB)
    before = upstream_answers(gw)
    answers = asyncio.run(_burst_get(gw.port, PUBLIC + token, 1000))
    statuses = [s for s, _ in answers]
    assert statuses.count(200) == 1000, {s: statuses.count(s) for s in set(statuses)}
    assert all(body == data for _, body in answers)
    after = upstream_answers(gw)
    print(f"\nupstream answers for 1000 concurrent first requests: {after - before:.0f}, "
          f"from memory {hits(gw):.0f}, misses {m(gw, 'recgw_object_cache_misses_total'):.0f}")
    assert after - before == 1
    assert hits(gw) == 999


def test_stats_list_top_entries_by_storage_key_never_tokens(clean_stack, gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=env())
    token, _, key, data = seed(st)
    admit(gw, token, data)
    for _ in range(3):
        get(gw, token)
    r = requests.get(gw.url + "/api/v1/admin/cache/stats", headers=admin(), timeout=10)
    assert r.status_code == 200, r.text
    assert token not in r.text
    body = r.json()
    assert body["enabled"] is True and body["entries"] == 1
    assert body["top"][0]["key"] == key and body["top"][0]["hits"] >= 3
    assert requests.get(gw.url + "/api/v1/admin/cache/stats", timeout=10).status_code == 401


def test_objects_over_the_maximum_size_always_stream(clean_stack, gateway_factory):
    st = clean_stack
    gw = gateway_factory(extra_env=env(object_max_bytes=32 * KiB, object_admit_after=1))
    token, _, _, data = seed(st, 64 * KiB)
    for _ in range(3):
        assert get(gw, token).content == data
    assert m(gw, "recgw_object_cache_entries") == 0
    assert hits(gw) == 0


def test_lifecycle_delete_drops_the_object(clean_stack, gateway_factory):
    """A rooms recording deleted through the lifecycle API drops the copy of its object at once."""
    import datetime as dt
    st = clean_stack
    gw = gateway_factory(extra_env=env(object_fresh_s=3600))
    token, _, key, data = seed(st)
    admit(gw, token, data)
    now = dt.datetime.now(dt.timezone.utc)
    rec_id = "rec_" + uuid.uuid4().hex[:16]
    st.db.recordings.insert_one({
        "_id": rec_id, "id": rec_id, "tenant_id": "tenant-oc", "room_id": "room-oc", "status": "ready",
        "source": "provider", "started_at": now, "stopped_at": now, "ready_at": now, "size_bytes": len(data),
        "storage": {"provider": "s3", "bucket": st.bucket, "key": key}, "created_at": now, "updated_at": now})
    t = int(time.time())
    tenant = {"Authorization": "Bearer " + hs256_jwt(
        {"sub": "u", "role": "member", "account_id": "tenant-oc", "iat": t, "exp": t + 600}, JWT_SECRET)}
    assert m(gw, "recgw_object_cache_entries") == 1
    r = requests.delete(gw.url + f"/api/v1/recordings/{rec_id}", headers=tenant, timeout=10)
    assert r.status_code == 200, r.text
    assert m(gw, "recgw_object_cache_entries") == 0


def test_lifecycle_delete_on_one_gateway_drops_the_copy_on_another(clean_stack, gateway_factory):
    """The lifecycle's delete through A reaches B's object cache through the invalidation
    channel (an object-only event), long before B's object_fresh_s."""
    import datetime as dt
    st = clean_stack
    gw_a = gateway_factory(extra_env=env(object_fresh_s=3600))
    gw_b = gateway_factory(extra_env=env(object_fresh_s=3600))
    wait_for(lambda: m(gw_b, "recgw_invalidation_subscribed") >= 1, 15, "B subscribed to recgw:invalidate")
    token, _, key, data = seed(st)
    admit(gw_b, token, data)
    assert m(gw_b, "recgw_object_cache_entries") == 1
    now = dt.datetime.now(dt.timezone.utc)
    rec_id = "rec_" + uuid.uuid4().hex[:16]
    st.db.recordings.insert_one({
        "_id": rec_id, "id": rec_id, "tenant_id": "tenant-oc2", "room_id": "room-oc2", "status": "ready",
        "source": "provider", "started_at": now, "stopped_at": now, "ready_at": now, "size_bytes": len(data),
        "storage": {"provider": "s3", "bucket": st.bucket, "key": key}, "created_at": now, "updated_at": now})
    t = int(time.time())
    tenant = {"Authorization": "Bearer " + hs256_jwt(
        {"sub": "u", "role": "member", "account_id": "tenant-oc2", "iat": t, "exp": t + 600}, JWT_SECRET)}
    r = requests.delete(gw_a.url + f"/api/v1/recordings/{rec_id}", headers=tenant, timeout=10)
    assert r.status_code == 200, r.text
    wait_for(lambda: m(gw_b, "recgw_object_cache_entries") == 0, 10, "B's copy dropped by A's lifecycle delete")


def test_a_first_stream_parked_and_resumed_still_fills_the_exact_bytes(clean_stack, gateway_factory):
    """A park takes back the bytes queued on the client's connection and fetches them again on
    resume: the fill must take them back too, or the copy would hold them twice."""
    st = clean_stack
    gw = gateway_factory(extra_env={**env(object_admit_after=1), "RECGW_STREAM_PARK_AFTER_MS": "200",
                                    "RECGW_STREAM_HIGH_WATERMARK": "131072",
                                    "RECGW_STREAM_LOW_WATERMARK": "32768"})
    token, _, _, data = seed(st, 6 * MiB)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * KiB)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", gw.port))
    sock.sendall(f"GET {PUBLIC}{token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf or len(buf) < 64 * KiB:
        chunk = sock.recv(16 * KiB)
        assert chunk
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    wait_for(lambda: m(gw, "recgw_streams_parked") == 1, 30, "the stream to be parked")
    out = bytearray(body)
    while len(out) < len(data):
        chunk = sock.recv(1 * MiB)
        if not chunk:
            break
        out += chunk
    sock.close()
    assert bytes(out) == data
    assert m(gw, "recgw_stream_unparks_total") >= 1
    wait_for(lambda: m(gw, "recgw_object_cache_entries") == 1, 10, "the fill from the resumed stream")
    before = hits(gw)
    assert get(gw, token).content == data
    wait_for(lambda: hits(gw) == before + 1, 10, "a hit with the exact bytes")


def test_an_older_fill_never_replaces_the_copy_of_a_later_flight(clean_stack, gateway_factory):
    """A first stream whose client reads slowly outlives its waiters' patience (2 s); the
    object is replaced and a later request fills the cache with the new bytes. When the slow
    stream finally completes, its (old) bytes must not replace the newer copy."""
    st = clean_stack
    gw = gateway_factory(extra_env={**env(object_fresh_s=3600, object_admit_after=1),
                                    "RECGW_STREAM_PARK_AFTER_MS": "0"})
    token, _, key, old = seed(st, size=4 * MiB)
    slow = socket.create_connection(("127.0.0.1", gw.port), timeout=60)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * KiB)
    slow.sendall(f"GET {PUBLIC}{token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    got = bytearray(slow.recv(16 * KiB))
    assert b" 200 " in bytes(got).split(b"\r\n", 1)[0]
    # The slow stream's flight stops holding later requests back after its 2 s of patience.
    time.sleep(2.5)
    new = os.urandom(len(old))
    st.put_object(key, new, "audio/ogg")
    fresh = get(gw, token)
    assert fresh.content == new
    wait_for(lambda: m(gw, "recgw_object_cache_entries") == 1, 10, "the later flight's copy")
    while True:  # the slow client now reads everything: its fill completes
        chunk = slow.recv(1 * MiB)
        if not chunk:
            break
        got += chunk
    slow.close()
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    assert body == old
    for _ in range(3):
        assert get(gw, token).content == new, "the older fill replaced the newer copy"
