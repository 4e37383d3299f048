"""Parked streams (stream.park_after_ms): a client that stops reading makes its stream let go
of the upstream transfer and the bytes it held; when the client reads again, the stream
resumes from the next byte with Range + If-Match, so the client gets the same bytes it would
have got without the park, or a cut connection when the object changed meanwhile.

The origins are fake fleet hosts (no storage), so each test sees what the origin saw: its
transfer dropped while parked, and the resume request it got. park_after_ms is set low and
the watermarks small, so that a stalled client parks quickly; nothing here asserts timing.
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import List, Optional

import pytest

from fakes import FakeFleetHost, FakeObject, fleet_factory, md5_etag  # noqa: F401 — fixture used by name
from helpers import metric_sum, metrics_snapshot, wait_for

pytestmark = pytest.mark.timeout(180)

KiB = 1024
MiB = 1024 * KiB
FLEET_SECRET = "fleet-secret-park"
PUBLIC = "/api/v1/public/recordings/"
NO_S3 = {k: None for k in ("RECGW_S3_ENDPOINT", "RECGW_S3_ACCESS_KEY", "RECGW_S3_SECRET_KEY",
                           "RECGW_S3_BUCKET", "RECGW_S3_REGION")}
PARKING = {"RECGW_STREAM_PARK_AFTER_MS": "200", "RECGW_STREAM_HIGH_WATERMARK": "131072",
           "RECGW_STREAM_LOW_WATERMARK": "32768", "RECGW_SERVER_WORKERS": "1"}


PARKED_TAIL = 4 * KiB  # what a parked stream leaves queued on its client's connection


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gateway_with(gateway_factory, *hosts: FakeFleetHost, **more):
    env = {**NO_S3, **PARKING, "RECGW_FLEET_URLS": ",".join(h.url for h in hosts),
           "RECGW_FLEET_SECRET": FLEET_SECRET, **more}
    return gateway_factory(env)


def value(gw, name: str) -> float:
    return metric_sum(metrics_snapshot(gw.url), name)


class StalledClient:
    """A raw HTTP/1.1 GET with a small receive buffer that reads the headers and the first
    `first_bytes` of the body, then stops reading until told to."""

    def __init__(self, gw, path: str, headers: Optional[dict] = None, first_bytes: int = 64 * KiB):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * KiB)
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", gw.port))
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{gw.port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed before the headers ended: {buf!r}"
            buf += chunk
        head, _, self.body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        while len(self.body) < first_bytes:
            chunk = self.sock.recv(64 * KiB)
            assert chunk, "closed early"
            self.body += chunk

    def read_rest(self) -> bytes:
        """Everything until the server closes or the declared length is reached (a cut
        connection ends it early, a reset too)."""
        declared = int(self.headers["content-length"])
        out = bytearray(self.body)
        try:
            while len(out) < declared:
                chunk = self.sock.recv(1 * MiB)
                if not chunk:
                    break
                out += chunk
        except ConnectionResetError:
            pass
        self.sock.close()
        return bytes(out)


def wait_parked(gw, n: int):
    wait_for(lambda: value(gw, "recgw_streams_parked") == n, timeout=30, what=f"{n} parked streams")


def assert_origin_released(gw, *hosts: FakeFleetHost):
    """While parked, no upstream transfer is held: recgw has none in flight and every
    request the origins got has ended (the origin saw its connection dropped)."""
    snap = metrics_snapshot(gw.url)
    assert metric_sum(snap, "recgw_upstream_transfers_active") == 0
    assert metric_sum(snap, "recgw_streams_active") >= 1   # the parked stream is still a stream
    for host in hosts:
        wait_for(lambda: all(q.aborted or q.finished for q in host.seen), timeout=15,
                 what="the origin's transfers ended")


def test_stalled_past_park_after_ms_then_reads_everything(clean_stack, gateway_factory, fleet_factory):
    data = os.urandom(16 * MiB)
    clean_stack.insert_call("s-park", token="tok-park", key="park/whole.ogg")
    f1 = fleet_factory({"park/whole.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1)

    client = StalledClient(gw, PUBLIC + "tok-park")
    assert client.status == 200 and client.headers["content-length"] == str(len(data))
    wait_parked(gw, 1)
    assert_origin_released(gw, f1)
    # The bytes queued on the client's connection were taken back but a 4 KiB tail (they
    # are fetched again on resume); before, a parked stream kept up to the high watermark.
    assert value(gw, "recgw_streams_unsent_bytes") <= PARKED_TAIL
    assert f1.seen[0].aborted and f1.seen[0].body_bytes_sent < len(data)
    assert value(gw, "recgw_stream_parks_total") >= 1

    got = client.read_rest()
    assert len(got) == len(data)
    assert sha(got) == sha(data)
    snap = metrics_snapshot(gw.url)
    assert metric_sum(snap, "recgw_stream_unparks_total") >= 1
    assert metric_sum(snap, "recgw_streams_parked") == 0
    # the origin was asked for the rest of the same object, from where the client was
    resumed = [q for q in f1.seen[1:] if q.status == 206]
    assert resumed, f1.statuses()
    first = int(resumed[0].headers["Range"][len("bytes="):].split("-")[0])
    assert 0 < first < len(data)
    assert resumed[0].headers["If-Match"] == md5_etag(data)
    wait_for(lambda: value(gw, "recgw_streams_active") == 0, timeout=10, what="the stream retired")


def test_range_request_parked_mid_range(clean_stack, gateway_factory, fleet_factory):
    data = os.urandom(16 * MiB)
    first, last = 1_000_003, 14 * MiB + 11
    clean_stack.insert_call("s-prange", token="tok-prange", key="park/range.ogg")
    f1 = fleet_factory({"park/range.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1)

    client = StalledClient(gw, PUBLIC + "tok-prange", {"Range": f"bytes={first}-{last}"})
    assert client.status == 206
    assert client.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    wait_parked(gw, 1)
    assert_origin_released(gw, f1)

    got = client.read_rest()
    assert len(got) == last - first + 1
    assert sha(got) == sha(data[first:last + 1])
    resumed = [q for q in f1.seen[1:] if q.status == 206]
    assert resumed, f1.statuses()
    asked_first, asked_last = (int(x) for x in resumed[0].headers["Range"][len("bytes="):].split("-"))
    assert first < asked_first <= last and asked_last == last   # the rest of the range, no more
    assert value(gw, "recgw_stream_unparks_total") >= 1


def test_object_replaced_during_the_park_cuts_the_connection(clean_stack, gateway_factory, fleet_factory):
    old = os.urandom(16 * MiB)
    new = os.urandom(16 * MiB)
    clean_stack.insert_call("s-prepl", token="tok-prepl", key="park/replaced.ogg")
    f1 = fleet_factory({"park/replaced.ogg": old}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1)

    client = StalledClient(gw, PUBLIC + "tok-prepl")
    wait_parked(gw, 1)
    assert_origin_released(gw, f1)
    f1.put("park/replaced.ogg", new)

    got = client.read_rest()
    assert len(got) < len(old)            # cut: the client can tell it is not the whole object
    assert got == old[:len(got)]          # and every byte it got is the old object's
    assert any(q.status == 412 for q in f1.seen), f1.statuses()
    assert value(gw, "recgw_stream_truncated_total") >= 1


def test_origin_gone_during_the_park_resumes_on_the_next_host(clean_stack, gateway_factory, fleet_factory):
    data = os.urandom(16 * MiB)
    clean_stack.insert_call("s-pgone", token="tok-pgone", key="park/gone.ogg")
    f1 = fleet_factory({"park/gone.ogg": data}, secret=FLEET_SECRET)
    f2 = fleet_factory({"park/gone.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1, f2)

    client = StalledClient(gw, PUBLIC + "tok-pgone")
    wait_parked(gw, 1)
    assert_origin_released(gw, f1, f2)
    served_by_f1 = f1.request_count > 0
    (f1 if served_by_f1 else f2).stop()
    other = f2 if served_by_f1 else f1

    got = client.read_rest()
    assert sha(got) == sha(data)
    resumed = [q for q in other.seen if q.status == 206]
    assert resumed and resumed[0].headers["If-Match"] == md5_etag(data), other.statuses()


def test_origin_gone_during_the_park_without_fallback_cuts(clean_stack, gateway_factory, fleet_factory):
    data = os.urandom(16 * MiB)
    clean_stack.insert_call("s-palone", token="tok-palone", key="park/alone.ogg")
    f1 = fleet_factory({"park/alone.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1)

    client = StalledClient(gw, PUBLIC + "tok-palone")
    wait_parked(gw, 1)
    assert_origin_released(gw, f1)
    f1.stop()

    got = client.read_rest()
    assert len(got) < len(data)
    assert got == data[:len(got)]
    wait_for(lambda: value(gw, "recgw_streams_active") == 0, timeout=10, what="the stream retired")


def test_client_gone_while_parked_frees_the_stream(clean_stack, gateway_factory, fleet_factory):
    data = os.urandom(16 * MiB)
    clean_stack.insert_call("s-pleft", token="tok-pleft", key="park/left.ogg")
    f1 = fleet_factory({"park/left.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1)

    client = StalledClient(gw, PUBLIC + "tok-pleft")
    wait_parked(gw, 1)
    requests_before = f1.request_count
    client.sock.close()
    wait_for(lambda: (lambda s: metric_sum(s, "recgw_streams_active") == 0 and
                      metric_sum(s, "recgw_streams_parked") == 0)(metrics_snapshot(gw.url)),
             timeout=10, what="the parked stream freed")
    assert f1.request_count == requests_before    # no resume was started for nobody
    assert value(gw, "recgw_upstream_transfers_active") == 0


def test_many_parked_streams_all_resume(clean_stack, gateway_factory, fleet_factory):
    n = 20
    data = os.urandom(8 * MiB)
    clean_stack.insert_call("s-pmany", token="tok-pmany", key="park/many.ogg")
    f1 = fleet_factory({"park/many.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1)

    clients: List[StalledClient] = [StalledClient(gw, PUBLIC + "tok-pmany") for _ in range(n)]
    wait_parked(gw, n)
    assert_origin_released(gw, f1)
    assert value(gw, "recgw_streams_active") == n
    assert value(gw, "recgw_streams_unsent_bytes") <= n * PARKED_TAIL

    for i, c in enumerate(clients):
        got = c.read_rest()
        if len(got) != len(data) or sha(got) != sha(data):
            warnings = [ln for ln in gw.logs().splitlines() if '"warn"' in ln or '"error"' in ln]
            pytest.fail(f"client {i} got {len(got)} of {len(data)} bytes; gateway warnings: {warnings[-15:]}; log tail: {gw.logs().splitlines()[-25:]}")
    assert value(gw, "recgw_stream_unparks_total") >= n
    wait_for(lambda: value(gw, "recgw_streams_active") == 0, timeout=10, what="all streams retired")


def test_weak_etag_stream_is_never_parked(clean_stack, gateway_factory, fleet_factory):
    # Without a strong ETag a resume could splice two objects, so such a stream stays paused.
    # A strong-ETag stream stalled after it is the witness that park_after_ms has passed.
    weak, strong = os.urandom(16 * MiB), os.urandom(16 * MiB)
    clean_stack.insert_call("s-pweak", token="tok-pweak", key="park/weak.ogg")
    clean_stack.insert_call("s-pstrong", token="tok-pstrong", key="park/strong.ogg")
    f1 = fleet_factory({"park/weak.ogg": FakeObject(weak, etag='W/"weak-1"'), "park/strong.ogg": strong},
                       secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1)

    weak_client = StalledClient(gw, PUBLIC + "tok-pweak")
    wait_for(lambda: value(gw, "recgw_streams_paused") == 1, timeout=30, what="the weak-ETag stream paused")
    strong_client = StalledClient(gw, PUBLIC + "tok-pstrong")
    wait_parked(gw, 1)
    snap = metrics_snapshot(gw.url)
    assert metric_sum(snap, "recgw_streams_paused") == 1          # the weak one, still holding its transfer
    assert metric_sum(snap, "recgw_upstream_transfers_active") == 1

    got = weak_client.read_rest()
    assert sha(got) == sha(weak)
    assert len(f1.requests_for("park/weak.ogg")) == 1               # never resumed
    assert sha(strong_client.read_rest()) == sha(strong)
    assert value(gw, "recgw_stream_parks_total") == 1


def test_chunked_response_parks_without_losing_its_framing(clean_stack, gateway_factory, fleet_factory):
    """An origin without Content-Length: the client gets a chunked body, whose queued bytes
    hold chunk framing, so the park must not take any of them back; after the park the
    client still reads exactly the object."""
    data = os.urandom(8 * MiB)
    clean_stack.insert_call("s-pchunk", token="tok-pchunk", key="park/chunked.ogg")
    f1 = fleet_factory({"park/chunked.ogg": data}, secret=FLEET_SECRET, chunked=True)
    gw = gateway_with(gateway_factory, f1)

    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=60)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * KiB)
    sock.sendall(f"GET {PUBLIC}tok-pchunk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = bytearray(sock.recv(16 * KiB))
    wait_parked(gw, 1)
    while True:
        chunk = sock.recv(1 * MiB)
        if not chunk:
            break
        raw += chunk
    sock.close()
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0]
    assert b"transfer-encoding: chunked" in head.lower()
    out, rest = bytearray(), body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        n = int(size_line, 16)
        if n == 0:
            break
        out += rest[:n]
        assert rest[n:n + 2] == b"\r\n", "chunk framing broken"
        rest = rest[n + 2:]
    assert sha(bytes(out)) == sha(data)
    assert value(gw, "recgw_stream_unparks_total") >= 1


def server_side_send_queue(gw_port: int, client_port: int) -> int:
    """Bytes the kernel holds in the gateway's send queue for one client connection (unsent
    and unacknowledged: /proc/net/tcp's tx_queue of the socket from gw_port to client_port)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.split(":")[1], 16) == gw_port and int(remote.split(":")[1], 16) == client_port:
                return int(queues.split(":")[0], 16)
    raise AssertionError(f"no socket from :{gw_port} to :{client_port} in /proc/net/tcp")


@pytest.mark.parametrize("limit", [0, 128 * KiB])
def test_a_stalled_client_pins_little_kernel_memory(clean_stack, gateway_factory, fleet_factory, limit):
    """stream.kernel_unsent_bytes (TCP_NOTSENT_LOWAT) bounds what the kernel queues for a
    client that stopped reading; parking cannot take those bytes back. 0 leaves the kernel's
    default, which on loopback lets the queue grow to megabytes (the comparison case)."""
    data = os.urandom(32 * MiB)
    clean_stack.insert_call("s-kq", token="tok-kq", key="park/kq.ogg")
    f1 = fleet_factory({"park/kq.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1, RECGW_STREAM_HIGH_WATERMARK=str(1 * MiB),
                      RECGW_STREAM_LOW_WATERMARK=str(256 * KiB), RECGW_STREAM_KERNEL_UNSENT_BYTES=str(limit))
    client = StalledClient(gw, PUBLIC + "tok-kq")
    wait_parked(gw, 1)
    queued = server_side_send_queue(gw.port, client.sock.getsockname()[1])
    print(f"kernel_unsent_bytes={limit}: {queued} bytes queued for the stalled client")
    if limit:
        # the limit, plus one segment the kernel builds past it, plus what is in flight
        # against the client's 32 KiB window
        assert queued <= limit + 128 * KiB, queued
    else:
        assert queued > 512 * KiB, queued
    got = client.read_rest()
    assert sha(got) == sha(data)


def test_a_client_that_reads_gets_the_kernel_default_back(clean_stack, gateway_factory, fleet_factory):
    """The unsent limit is lifted once the client has taken 4 MiB (a stalled client cannot):
    a client that read 8 MiB and then stalls has a kernel queue past the limit again."""
    data = os.urandom(32 * MiB)
    clean_stack.insert_call("s-kq2", token="tok-kq2", key="park/kq2.ogg")
    f1 = fleet_factory({"park/kq2.ogg": data}, secret=FLEET_SECRET)
    gw = gateway_with(gateway_factory, f1, RECGW_STREAM_HIGH_WATERMARK=str(1 * MiB),
                      RECGW_STREAM_LOW_WATERMARK=str(256 * KiB), RECGW_STREAM_KERNEL_UNSENT_BYTES=str(128 * KiB))
    client = StalledClient(gw, PUBLIC + "tok-kq2", first_bytes=8 * MiB)
    wait_parked(gw, 1)
    queued = server_side_send_queue(gw.port, client.sock.getsockname()[1])
    print(f"after 8 MiB read, then a stall: {queued} bytes queued")
    assert queued > 512 * KiB, queued
    got = client.read_rest()
    assert sha(got) == sha(data)
