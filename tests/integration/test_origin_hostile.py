"""A hostile or broken origin cannot desynchronise the client's connection (issue 20, item 2),
and a stored Content-Type cannot turn the gateway into a web page (item 7).

The origin here is a raw-socket fleet host that answers whatever the test scripts, byte for
byte: wrong or overflowing Content-Range, 206 to a request without Range, a resume that
serves another object, an origin that answers 206 to everything. Each case ends in a 502 or
a cut connection; when a response was complete, a request pipelined behind it on the same
connection is answered by the gateway itself (not by bytes the origin smuggled in); and the
origin sees a bounded number of requests.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import pytest
import requests

from helpers import wait_for

pytestmark = pytest.mark.timeout(120)

FLEET_SECRET = "fleet-secret-hostile"
PUBLIC = "/api/v1/public/recordings/"
NO_S3 = {k: None for k in ("RECGW_S3_ENDPOINT", "RECGW_S3_ACCESS_KEY", "RECGW_S3_SECRET_KEY",
                           "RECGW_S3_BUCKET", "RECGW_S3_REGION")}
FORGED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 25\r\n\r\n"
          b"<script>alert(1)</script>")


@dataclass
class OriginRequest:
    method: str
    path: str
    headers: dict


@dataclass
class ScriptedOrigin:
    """Answers request number i with answer(i, request) → raw bytes, then closes the
    connection (one request per connection keeps the script simple)."""
    answer: Callable[[int, OriginRequest], bytes]
    seen: List[OriginRequest] = field(default_factory=list)
    sock: Optional[socket.socket] = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "ScriptedOrigin":
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def stop(self) -> None:
        if self.sock:
            self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            buf = b""
            try:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                method, path, _ = head[0].split(" ", 2)
                headers = {}
                for line in head[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                req = OriginRequest(method, path, headers)
                with self.lock:
                    index = len(self.seen)
                    self.seen.append(req)
                conn.sendall(self.answer(index, req))
                conn.shutdown(socket.SHUT_WR)
                # let the gateway read everything before the close
                while conn.recv(4096):
                    pass
            except OSError:
                return

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


@pytest.fixture
def origin_factory():
    made = []

    def make(answer) -> ScriptedOrigin:
        o = ScriptedOrigin(answer).start()
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()


def response(status: str, headers: dict, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


def gateway_with(gateway_factory, clean_stack, origin: ScriptedOrigin, token: str = "tok-h"):
    clean_stack.insert_call("s-" + token, token=token, key="hostile/rec.ogg")
    return gateway_factory({**NO_S3, "RECGW_FLEET_URLS": origin.url, "RECGW_FLEET_SECRET": FLEET_SECRET})


def read_response(s: socket.socket, buf: bytes):
    """One response off a keep-alive connection: (status, headers, body, rest of buf).
    Raises EOFError when the connection closed before the response was complete."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(buf)
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    assert "content-length" in hdrs, hdrs  # every answer from recgw here is length-framed
    n = int(hdrs["content-length"])
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(buf)
        buf += chunk
    return status, hdrs, buf[:n], buf[n:]


def pipelined(gw, token: str, extra_headers: Optional[dict] = None):
    """GET the recording and, on the same connection, GET /healthz; returns what came back:
    (first response or None if cut, second response or None, all bytes read)."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
    host = f"Host: 127.0.0.1:{gw.port}\r\n"
    extra = "".join(f"{k}: {v}\r\n" for k, v in (extra_headers or {}).items())
    s.sendall((f"GET {PUBLIC}{token} HTTP/1.1\r\n{host}{extra}\r\n"
               f"GET /healthz HTTP/1.1\r\n{host}\r\n").encode())
    try:
        first = read_response(s, b"")
    except EOFError as e:
        s.close()
        return None, None, e.args[0]
    try:
        second = read_response(s, first[3])
    except EOFError as e:
        s.close()
        return first, None, e.args[0]
    s.close()
    return first, second, b""


def assert_not_desynchronised(first, second):
    assert first is not None
    status, hdrs, body, _ = first
    assert status == 502, (status, hdrs, body)
    assert body.startswith(b"{") and b"bad_upstream_response" in body
    assert second is not None, "the pipelined request was not answered"
    assert second[0] == 200 and second[2].startswith(b"{") and b"<script>" not in second[2]
    assert second[1].get("content-type", "").startswith("application/json")


def test_206_to_a_request_without_range_is_a_bad_gateway(clean_stack, gateway_factory, origin_factory):
    body = b"A" * 10 + FORGED + b"B" * 65
    origin = origin_factory(lambda i, req: response(
        "206 Partial Content", {"Content-Range": "bytes 0-9/100", "Content-Length": len(body),
                                "ETag": '"e1"'}, body))
    gw = gateway_with(gateway_factory, clean_stack, origin)
    first, second, _ = pipelined(gw, "tok-h")
    assert_not_desynchronised(first, second)
    assert origin.count() <= 2


def test_content_range_overflow_is_a_bad_gateway(clean_stack, gateway_factory, origin_factory):
    body = FORGED * 4
    origin = origin_factory(lambda i, req: response(
        "206 Partial Content", {"Content-Range": "bytes 0-18446744073709551615/*", "Connection": "close"},
        body))
    gw = gateway_with(gateway_factory, clean_stack, origin)
    first, second, _ = pipelined(gw, "tok-h", {"Range": "bytes=0-"})
    assert_not_desynchronised(first, second)
    assert origin.seen[0].headers.get("range") == "bytes=0-"


@pytest.mark.parametrize("asked,answered,length", [
    ("bytes=10-19", "bytes 0-9/100", 10),        # another range than asked
    ("bytes=0-9", "bytes 0-9/100", 100),         # Content-Length disagrees with Content-Range
    ("bytes=0-9", "bytes 0-99/100", 100),        # more than asked
    ("bytes=-10", "bytes 0-9/*", 10),            # a suffix cannot be checked without the length
    ("bytes=0-9", "bytes */100", 0),             # 206 saying unsatisfied
    ("bytes=0-9", "bits 0-9/100", 10),           # another unit
])
def test_content_range_must_answer_the_range_asked(clean_stack, gateway_factory, origin_factory,
                                                    asked, answered, length):
    payload = (b"0123456789" + FORGED + b"x" * 100)[:length]
    origin = origin_factory(lambda i, req: response(
        "206 Partial Content", {"Content-Range": answered, "Content-Length": length, "ETag": '"e1"'},
        payload))
    gw = gateway_with(gateway_factory, clean_stack, origin)
    first, second, _ = pipelined(gw, "tok-h", {"Range": asked})
    assert_not_desynchronised(first, second)
    assert origin.count() == 1


def test_body_longer_than_declared_is_cut_at_the_declared_length(clean_stack, gateway_factory,
                                                                 origin_factory):
    # `bytes 0-9/*` answers `bytes=0-` (the length is unknown), so the gateway declares 10
    # bytes; the origin then sends 10 + a forged response, close-delimited. The gateway must
    # cut the connection after 10 bytes: the forged bytes never reach the client.
    body = b"0123456789" + FORGED
    origin = origin_factory(lambda i, req: response(
        "206 Partial Content", {"Content-Range": "bytes 0-9/*", "Connection": "close"}, body))
    gw = gateway_with(gateway_factory, clean_stack, origin)
    first, second, rest = pipelined(gw, "tok-h", {"Range": "bytes=0-"})
    if first is not None:
        status, hdrs, got, _ = first
        assert status == 206 and hdrs["content-length"] == "10" and got == b"0123456789"
    assert second is None, "the connection must be cut, not reused"
    assert b"<script>" not in rest and (first is None or b"<script>" not in first[3])
    # the gateway itself is fine
    assert requests.get(gw.url + "/healthz", timeout=5).status_code == 200


def test_always_206_origin_with_stale_if_range_is_bounded(clean_stack, gateway_factory, origin_factory):
    origin = origin_factory(lambda i, req: response(
        "206 Partial Content", {"Content-Range": "bytes 0-9/100", "Content-Length": 10, "ETag": '"now"'},
        b"0123456789"))
    gw = gateway_with(gateway_factory, clean_stack, origin)
    first, second, _ = pipelined(gw, "tok-h", {"Range": "bytes=0-9", "If-Range": '"nomatch"'})
    assert_not_desynchronised(first, second)
    # one ranged request, one re-request without Range (answered 206 again: a fault); then stop
    assert origin.count() == 2
    assert "range" not in origin.seen[1].headers


def break_after(headers: dict, body: bytes, sent: int) -> bytes:
    return response("200 OK", headers, body[:sent])


def test_resume_without_a_strong_validator_truncates(clean_stack, gateway_factory, origin_factory):
    # No ETag; the body breaks off; a second request would get another object. Splicing the
    # two would be silent corruption: the gateway must cut the connection instead.
    first_object, other_object = b"a" * 100_000, b"b" * 100_000

    def answer(i, req):
        if i == 0:
            return break_after({"Content-Length": 100_000}, first_object, 40_000)
        return response("200 OK", {"Content-Length": 100_000}, other_object)

    origin = origin_factory(answer)
    gw = gateway_with(gateway_factory, clean_stack, origin)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        r = requests.get(gw.url + PUBLIC + "tok-h", timeout=20)
        assert len(r.content) < 100_000  # only reached if requests did not notice
    assert origin.count() == 1


@pytest.mark.parametrize("resume_answer", [
    # same ETag claimed but another length
    lambda: response("206 Partial Content", {"Content-Range": "bytes 40000-99999/200000", "ETag": '"v1"',
                                             "Content-Length": 60_000}, b"c" * 60_000),
    # the object changed (another ETag)
    lambda: response("206 Partial Content", {"Content-Range": "bytes 40000-99999/100000", "ETag": '"v2"',
                                             "Content-Length": 60_000}, b"c" * 60_000),
    # a whole other object, no validator
    lambda: response("200 OK", {"Content-Length": 100_000}, b"c" * 100_000),
])
def test_resume_that_changes_the_object_truncates(clean_stack, gateway_factory, origin_factory, resume_answer):
    def answer(i, req):
        if i == 0:
            return break_after({"Content-Length": 100_000, "ETag": '"v1"'}, b"a" * 100_000, 40_000)
        assert req.headers.get("if-match") == '"v1"'
        return resume_answer()

    origin = origin_factory(answer)
    gw = gateway_with(gateway_factory, clean_stack, origin)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
    s.sendall(f"GET {PUBLIC}tok-h HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and b"Content-Length: 100000" in head
    assert len(body) < 100_000 and b"c" not in body, "another object was spliced into the response"
    assert b"HTTP/1.1" not in body
    # first request, a resume on the same source: nothing more
    assert origin.count() == 2


def test_resume_of_the_same_object_still_completes(clean_stack, gateway_factory, origin_factory):
    whole = bytes(range(256)) * 400

    def answer(i, req):
        if i == 0:
            return break_after({"Content-Length": len(whole), "ETag": '"same"'}, whole, 30_000)
        first = int(req.headers["range"].split("=")[1].split("-")[0])
        return response("206 Partial Content", {
            "Content-Range": f"bytes {first}-{len(whole) - 1}/{len(whole)}", "ETag": '"same"',
            "Content-Length": len(whole) - first}, whole[first:])

    origin = origin_factory(answer)
    gw = gateway_with(gateway_factory, clean_stack, origin)
    r = requests.get(gw.url + PUBLIC + "tok-h", timeout=20)
    assert r.status_code == 200 and r.content == whole
    assert origin.count() == 2


def test_client_gone_stops_retries(clean_stack, gateway_factory, origin_factory):
    # An origin that is slow to answer and then answers garbage: the client leaves first;
    # the gateway must not go on asking.
    gate = threading.Event()

    def answer(i, req):
        gate.wait(10)
        return response("206 Partial Content", {"Content-Range": "bytes 0-9/100", "Content-Length": 10},
                        b"0123456789")

    origin = origin_factory(answer)
    gw = gateway_with(gateway_factory, clean_stack, origin)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
    s.sendall(f"GET {PUBLIC}tok-h HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    wait_for(lambda: origin.count() >= 1, 10, "the origin was asked")
    s.close()
    gate.set()
    requests.get(gw.url + "/healthz", timeout=5)
    n = origin.count()
    # no new requests once the client is gone (give the loop a few turns to show otherwise)
    for _ in range(20):
        requests.get(gw.url + "/healthz", timeout=5)
    assert origin.count() == n <= 2


# ---- item 7: the stored Content-Type ----------------------------------------------------

@pytest.mark.parametrize("key,stored,served,disposition", [
    ("ct/page.html", "text/html", "application/octet-stream", "attachment"),
    ("ct/rec.ogg", "text/html; charset=utf-8", "application/octet-stream", "attachment"),
    ("ct/img.svg", "image/svg+xml", "application/octet-stream", "attachment"),
    ("ct/rec.ogg", "audio/ogg; codecs=opus", "audio/ogg; codecs=opus", "inline"),
    ("ct/rec.mp4", "video/mp4", "video/mp4", "inline"),
    ("ct/rec.ogg", "application/octet-stream", "audio/ogg", "inline"),
    ("ct/rec.ogg", "audio/<script>", "application/octet-stream", "attachment"),
])
def test_stored_content_type_is_served_only_when_playable(clean_stack, gateway_factory, key, stored,
                                                          served, disposition):
    clean_stack.insert_call("s-ct", token="tok-ct", key=key)
    clean_stack.put_object(key, b"<html><script>alert(1)</script></html>", content_type=stored)
    gw = gateway_factory()
    for method in (requests.get, requests.head):
        r = method(gw.url + PUBLIC + "tok-ct", timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == served
        assert r.headers["Content-Disposition"].startswith(disposition + ";")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Security-Policy"] == "default-src 'none'; media-src 'self'"


def test_every_answer_is_nosniff(clean_stack, gateway_factory):
    gw = gateway_factory()
    for path in ("/healthz", PUBLIC + "unknown-token", "/nope"):
        r = requests.get(gw.url + path, timeout=10)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path


def test_http10_keep_alive_client_gets_a_close_delimited_body(clean_stack, gateway_factory, origin_factory):
    # The origin streams chunked (no length); HTTP/1.0 has no chunked encoding, so the body
    # must end with the connection. evhttp's default for a keep-alive 1.0 request would be
    # `Content-Length: 0` and a kept connection: the body (here a forged response) would be
    # read as the answer to the request pipelined behind.
    payload = FORGED * 3

    def chunked(i, req):
        body = b"".join(b"%x\r\n" % len(part) + part + b"\r\n" for part in (payload[:40], payload[40:]))
        return response("200 OK", {"Transfer-Encoding": "chunked", "ETag": '"c1"'}, body + b"0\r\n\r\n")

    origin = origin_factory(chunked)
    gw = gateway_with(gateway_factory, clean_stack, origin)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
    s.sendall(f"GET {PUBLIC}tok-h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
              f"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    assert status_line.split()[1] == "200", head
    assert "content-length" not in headers, head
    assert body == payload, "the body ends with the connection and nothing follows it"
