"""Small fakes for recgw's integration tests: fleet hosts.

FakeFleetHost  a threaded HTTP/1.1 server on 127.0.0.1:<ephemeral> that serves
               `GET|HEAD /recordings/<key>` from an in-memory dict, checks the
               secret header (401 on mismatch), answers Range (206/416) and
               If-Match (412), counts requests, and has failure knobs:
                 status_override   answer every request with this status (e.g. 500),
                                   before the secret check, so it also fakes a
                                   broken S3 endpoint
                 fail_after_bytes  send the headers (full Content-Length), then that
                                   many body bytes, then drop the connection
                 delay_s           sleep before answering
                 chunk_size / chunk_delay_s   pace the body
(The TCP proxy for cutting, killing and slowing connections is delay_proxy.DelayProxy.)

Pytest fixtures (import them into a test module: `from fakes import fleet_factory, ...`):
  fleet_factory   function: make(objects=..., secret=..., **knobs) → started FakeFleetHost
It stops everything it started at teardown.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import socketserver
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple, Union

import pytest

DEFAULT_SECRET_HEADER = "X-CXBCore-Secret"
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"


def md5_etag(data: bytes) -> str:
    """The ETag S3/MinIO gives a single-part upload: the quoted MD5 hex."""
    return '"' + hashlib.md5(data).hexdigest() + '"'


@dataclass
class FakeObject:
    data: bytes
    content_type: Optional[str] = None
    etag: Optional[str] = None          # default: md5_etag(data), same as MinIO's

    def __post_init__(self):
        if self.etag is None:
            self.etag = md5_etag(self.data)


@dataclass
class SeenRequest:
    method: str
    path: str
    key: Optional[str]
    headers: Dict[str, str]
    status: int = 0
    body_bytes_sent: int = 0
    aborted: bool = False               # the peer went away (or we dropped it) mid-body
    finished: bool = False


_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _resolve_range(value: str, size: int) -> Union[None, str, Tuple[int, int]]:
    """None → ignore the header; "unsatisfiable"; or (first, last) inclusive."""
    m = _RANGE_RE.match(value.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    first = int(a)
    last = int(b) if b else size - 1
    if b and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    fake: "FakeFleetHost"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        self.server.fake._handle(self, head=False)

    def do_HEAD(self):
        self.server.fake._handle(self, head=True)


class FakeFleetHost:
    """A cxbcore fleet host: `GET {url}/recordings/<key>` with the secret header."""

    def __init__(self, objects: Optional[Mapping[str, Union[bytes, FakeObject]]] = None, *,
                 secret: str = "fleet-secret", secret_header: str = DEFAULT_SECRET_HEADER,
                 support_range: bool = True, status_override: Optional[int] = None,
                 fail_after_bytes: Optional[int] = None, delay_s: float = 0.0,
                 chunk_size: int = 64 * 1024, chunk_delay_s: float = 0.0, chunked: bool = False):
        self.objects: Dict[str, FakeObject] = {}
        for k, v in (objects or {}).items():
            self.put(k, v)
        self.secret = secret
        self.secret_header = secret_header
        self.support_range = support_range
        self.status_override = status_override
        self.fail_after_bytes = fail_after_bytes
        self.delay_s = delay_s
        self.chunk_size = chunk_size
        self.chunk_delay_s = chunk_delay_s
        self.chunked = chunked  # no Content-Length: Transfer-Encoding: chunked bodies
        self.seen: List[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # ---- data & introspection ----------------------------------------------
    def put(self, key: str, data: Union[bytes, FakeObject], content_type: Optional[str] = None) -> FakeObject:
        obj = data if isinstance(data, FakeObject) else FakeObject(data, content_type)
        self.objects[key] = obj
        return obj

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.seen)

    def requests_for(self, key: str) -> List[SeenRequest]:
        with self._lock:
            return [r for r in self.seen if r.key == key]

    def statuses(self) -> List[int]:
        with self._lock:
            return [r.status for r in self.seen]

    def reset_counts(self) -> None:
        with self._lock:
            self.seen.clear()

    # ---- life cycle ------------------------------------------------------------
    def start(self) -> "FakeFleetHost":
        srv = _Server(("127.0.0.1", 0), _Handler)
        srv.fake = self
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-fleet-{srv.server_address[1]}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- serving -------------------------------------------------------------------
    def _record(self, req: SeenRequest) -> None:
        with self._lock:
            self.seen.append(req)

    def _handle(self, h: _Handler, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        key = None
        if path.startswith("/recordings/"):
            key = urllib.parse.unquote(path[len("/recordings/"):])
        seen = SeenRequest("HEAD" if head else "GET", h.path, key, {k: v for k, v in h.headers.items()})
        self._record(seen)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.status_override is not None:
            return self._plain(h, seen, self.status_override, b"forced failure\n", head)
        if self.secret is not None and h.headers.get(self.secret_header) != self.secret:
            return self._plain(h, seen, 401, b"bad secret\n", head)
        obj = self.objects.get(key) if key is not None else None
        if obj is None:
            return self._plain(h, seen, 404, b"not found\n", head)
        if_match = h.headers.get("If-Match")
        if if_match is not None and if_match.strip() != "*" and \
                obj.etag not in [t.strip() for t in if_match.split(",")]:
            return self._plain(h, seen, 412, b"precondition failed\n", head)

        size = len(obj.data)
        first, last, status = 0, size - 1, 200
        rng = h.headers.get("Range") if self.support_range else None
        if rng:
            res = _resolve_range(rng, size)
            if res == "unsatisfiable":
                seen.status = 416
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                seen.finished = True
                return
            if res is not None:
                first, last = res
                status = 206
        body = obj.data[first:last + 1]
        seen.status = status
        h.send_response(status)
        if obj.content_type:
            h.send_header("Content-Type", obj.content_type)
        if self.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.send_header("ETag", obj.etag)
        h.send_header("Last-Modified", LAST_MODIFIED)
        if self.support_range:
            h.send_header("Accept-Ranges", "bytes")
        if status == 206:
            h.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        # a real host would never send this back; the gateway must not relay it anyway
        h.send_header(self.secret_header, "leaked-" + (self.secret or ""))
        h.end_headers()
        if head:
            seen.finished = True
            return
        limit = len(body) if self.fail_after_bytes is None else min(len(body), self.fail_after_bytes)
        sent = 0
        try:
            while sent < limit:
                n = min(self.chunk_size, limit - sent)
                if self.chunked:
                    h.wfile.write(b"%x\r\n" % n + body[sent:sent + n] + b"\r\n")
                else:
                    h.wfile.write(body[sent:sent + n])
                sent += n
                seen.body_bytes_sent = sent
                if self.chunk_delay_s:
                    time.sleep(self.chunk_delay_s)
            if self.chunked and sent == len(body):
                h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            seen.aborted = True
            h.close_connection = True
            return
        if sent < len(body):
            # the origin dies mid-body: reset the connection
            seen.aborted = True
            h.close_connection = True
            _reset(h.connection)
            return
        seen.finished = True

    def _plain(self, h: _Handler, seen: SeenRequest, status: int, body: bytes, head: bool) -> None:
        seen.status = status
        h.send_response(status)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)
        seen.finished = True


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), like a crashed peer.  shutdown() first: a plain
    close() from another thread would neither wake a thread blocked in recv/send on
    this socket nor really close it while that thread holds it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll predicate() until it returns a truthy value; return it, or raise AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")
        time.sleep(interval)


# ---- pytest fixtures ---------------------------------------------------------------

@pytest.fixture
def fleet_factory():
    started: List[FakeFleetHost] = []

    def make(objects=None, **kw) -> FakeFleetHost:
        host = FakeFleetHost(objects, **kw).start()
        started.append(host)
        return host

    yield make
    for host in started:
        try:
            host.stop()
        except Exception:  # noqa: BLE001 — teardown goes on
            pass
