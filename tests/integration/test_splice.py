"""Bodies spliced from the origin's socket to the client's (stream.splice): while a client keeps
up, the built-in client moves body bytes with splice(2) and they never pass through recgw's
memory; a client that falls behind gets the rest through its connection's buffer, and the
splice takes over again once it has caught up. Whatever the mix, the client gets the same
bytes: these tests compare them whole, against real MinIO and fake fleet hosts.

Objects are larger than cache.object_max_bytes (8 MiB), so the object cache does not keep a
copy (a body it keeps is never spliced). One worker, so that /metrics is that worker's.

Whether a given read is spliced depends on the client having caught up at that moment, so the
tests that count spliced bytes pace their origin (MinIO behind a delaying proxy, or a fleet
host that sends its body in timed pieces) below what the test's client reads: the client then
catches up between pieces whatever the machine's load.
"""

from __future__ import annotations

import hashlib
import os
import socket

import pytest
import requests

from delay_proxy import delay_proxy_factory  # noqa: F401 — fixture used by name
from fakes import FakeObject, fleet_factory, md5_etag  # noqa: F401 — fixture used by name
from helpers import metric_sum, metrics_snapshot, raw_request, read_head, wait_for

pytestmark = pytest.mark.timeout(180)

KiB = 1024
MiB = 1024 * KiB
PUBLIC = "/api/v1/public/recordings/"
ONE_WORKER = {"RECGW_SERVER_WORKERS": "1"}
FLEET_SECRET = "fleet-secret-splice"
NO_S3 = {k: None for k in ("RECGW_S3_ENDPOINT", "RECGW_S3_ACCESS_KEY", "RECGW_S3_SECRET_KEY",
                           "RECGW_S3_BUCKET", "RECGW_S3_REGION")}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metric(gw, name: str, **labels) -> float:
    return metric_sum(metrics_snapshot(gw.url), name, **labels)


def spliced(gw) -> float:
    return metric(gw, "recgw_stream_spliced_bytes_total")


def open_stream(gw, path: str, headers=None, rcvbuf: int = 64 * KiB) -> tuple:
    """A GET on a raw socket: (socket, status, headers, body bytes already read)."""
    s = raw_request(gw, path, headers=headers, rcvbuf=rcvbuf)
    status, hdrs, rest = read_head(s)
    return s, status, hdrs, bytearray(rest)


def read_exactly(s: socket.socket, got: bytearray, total: int) -> bytearray:
    while len(got) < total:
        chunk = s.recv(min(1 * MiB, total - len(got)))
        assert chunk, f"connection closed after {len(got)} of {total} bytes"
        got += chunk
    return got


# About 60 MiB/s from the origin: well under what a raw-socket client here reads.
PACE = {"delay_s": 0.002, "max_chunk": 128 * KiB}


def paced_minio(clean_stack, delay_proxy_factory) -> dict:
    """Gateway environment for MinIO reached through a proxy that paces the body."""
    proxy = delay_proxy_factory("127.0.0.1", clean_stack.minio_port, direction="down", **PACE)
    return {"RECGW_S3_ENDPOINT": proxy.url}


@pytest.fixture
def big24(clean_stack):
    data = os.urandom(24 * MiB)
    put = clean_stack.put_object("splice/big24.ogg", data, "audio/ogg")
    clean_stack.insert_call("s-splice", token="tok-splice", key="splice/big24.ogg")
    return data, put["ETag"]


@pytest.mark.parametrize("splice", ["true", "false"])
def test_a_large_download_is_the_same_bytes_spliced_or_copied(big24, gateway_factory, splice):
    data, etag = big24
    gw = gateway_factory({**ONE_WORKER, "RECGW_STREAM_SPLICE": splice})
    with requests.get(gw.url + PUBLIC + "tok-splice", stream=True, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(len(data))
        assert r.headers["ETag"] == etag
        body = b"".join(r.iter_content(256 * KiB))
    assert sha(body) == sha(data)
    # At full speed, how many bytes are spliced depends on the client's pace (the benchmark
    # measures it); never more than the body, and none when splicing is off.
    moved = spliced(gw)
    assert moved <= len(data)
    if splice == "false":
        assert moved == 0


def test_a_client_that_keeps_up_is_spliced_to(big24, gateway_factory, clean_stack, delay_proxy_factory):
    data, _ = big24
    gw = gateway_factory({**ONE_WORKER, **paced_minio(clean_stack, delay_proxy_factory)})
    s, status, _, got = open_stream(gw, PUBLIC + "tok-splice", rcvbuf=4 * MiB)
    assert status == 200
    read_exactly(s, got, len(data))
    s.close()
    assert sha(bytes(got)) == sha(data)
    # The head and the first bytes go through the connection's buffer, most of the rest not.
    assert len(data) // 2 <= spliced(gw) <= len(data)


def test_a_range_is_spliced_exactly(big24, gateway_factory, clean_stack, delay_proxy_factory):
    data, _ = big24
    gw = gateway_factory({**ONE_WORKER, **paced_minio(clean_stack, delay_proxy_factory)})
    first, last = 3_000_001, 19_999_998
    s, status, hdrs, got = open_stream(gw, PUBLIC + "tok-splice", headers={"Range": f"bytes={first}-{last}"},
                                       rcvbuf=4 * MiB)
    assert status == 206
    assert hdrs["content-range"] == f"bytes {first}-{last}/{len(data)}"
    read_exactly(s, got, last - first + 1)
    s.close()
    assert sha(bytes(got)) == sha(data[first:last + 1])
    assert 0 < spliced(gw) <= last - first + 1


def test_a_client_that_falls_behind_and_catches_up_gets_every_byte(big24, gateway_factory, clean_stack,
                                                                   delay_proxy_factory):
    data, _ = big24
    gw = gateway_factory({**ONE_WORKER, **paced_minio(clean_stack, delay_proxy_factory)})
    s, status, hdrs, got = open_stream(gw, PUBLIC + "tok-splice")
    assert status == 200
    read_exactly(s, got, 4 * MiB)
    # Stop reading: the client's socket fills, the splice hands the rest to the connection's
    # buffer, and the upstream pauses.
    wait_for(lambda: metric(gw, "recgw_streams_paused") >= 1, 15, "the stream paused for the stalled client")
    before = spliced(gw)
    read_exactly(s, got, len(data))
    s.close()
    assert sha(bytes(got)) == sha(data)
    # Caught up, the client was spliced to again.
    assert spliced(gw) > before


def test_two_streams_share_the_pipe_without_mixing_bytes(clean_stack, gateway_factory, delay_proxy_factory):
    a = os.urandom(20 * MiB)
    b = os.urandom(20 * MiB)
    clean_stack.put_object("splice/a.ogg", a, "audio/ogg")
    clean_stack.put_object("splice/b.ogg", b, "audio/ogg")
    clean_stack.insert_call("s-a", token="tok-a", key="splice/a.ogg")
    clean_stack.insert_call("s-b", token="tok-b", key="splice/b.ogg")
    gw = gateway_factory({**ONE_WORKER, **paced_minio(clean_stack, delay_proxy_factory)})
    sa, status_a, _, got_a = open_stream(gw, PUBLIC + "tok-a", rcvbuf=4 * MiB)
    sb, status_b, _, got_b = open_stream(gw, PUBLIC + "tok-b", rcvbuf=4 * MiB)
    assert status_a == status_b == 200
    # Turn by turn, a MiB at a time: both transfers are under way at once on one worker.
    while len(got_a) < len(a) or len(got_b) < len(b):
        if len(got_a) < len(a):
            read_exactly(sa, got_a, min(len(a), len(got_a) + MiB))
        if len(got_b) < len(b):
            read_exactly(sb, got_b, min(len(b), len(got_b) + MiB))
    sa.close()
    sb.close()
    assert sha(bytes(got_a)) == sha(a)
    assert sha(bytes(got_b)) == sha(b)
    assert spliced(gw) > 0


def test_a_client_leaving_mid_splice_frees_the_stream_and_the_next_one_is_whole(big24, gateway_factory,
                                                                                clean_stack, delay_proxy_factory):
    data, _ = big24
    gw = gateway_factory({**ONE_WORKER, **paced_minio(clean_stack, delay_proxy_factory)})
    s, status, _, got = open_stream(gw, PUBLIC + "tok-splice", rcvbuf=4 * MiB)
    assert status == 200
    read_exactly(s, got, 6 * MiB)
    assert spliced(gw) > 0
    s.close()
    wait_for(lambda: metric(gw, "recgw_streams_active") == 0 and metric(gw, "recgw_upstream_transfers_active") == 0,
             15, "the stream and its upstream transfer released")
    with requests.get(gw.url + PUBLIC + "tok-splice", stream=True, timeout=60) as r:
        assert r.status_code == 200
        body = b"".join(r.iter_content(256 * KiB))
    assert sha(body) == sha(data)


def test_a_fleet_host_that_dies_mid_splice_is_resumed_on_the_next(clean_stack, gateway_factory, fleet_factory):
    data = os.urandom(24 * MiB)
    clean_stack.insert_call("s-fs", token="tok-fs", key="fs/big.ogg")
    pace = {"chunk_size": 128 * KiB, "chunk_delay_s": 0.002}
    f1 = fleet_factory({"fs/big.ogg": data}, secret=FLEET_SECRET, fail_after_bytes=10 * MiB, **pace)
    f2 = fleet_factory({"fs/big.ogg": data}, secret=FLEET_SECRET, **pace)
    gw = gateway_factory({**ONE_WORKER, **NO_S3, "RECGW_FLEET_URLS": f"{f1.url},{f2.url}",
                          "RECGW_FLEET_SECRET": FLEET_SECRET})
    s, status, _, got = open_stream(gw, PUBLIC + "tok-fs", rcvbuf=4 * MiB)
    assert status == 200
    read_exactly(s, got, len(data))
    s.close()
    assert sha(bytes(got)) == sha(data)
    assert f1.seen[0].aborted
    assert any(q.status == 206 and q.headers.get("If-Match") == md5_etag(data) for q in f2.seen)
    assert spliced(gw) > 0
