"""A small fake of the media provider recgw's lifecycle routes talk to (fleet/media_provider.h).

FakeProvider  a threaded HTTP/1.1 server on 127.0.0.1:<ephemeral>, API under `/v1`:
                GET  /v1/rooms/{room_id}/recordings   → {"recordings": [...]}
                GET  /v1/recordings/{id}              → the recording, 404 unknown
                POST /v1/recordings/{id}/reprocess    → 202 {"id", "status": "processing"}
              Every request must carry `Authorization: Bearer <token>` (401 otherwise).
              State is a dict of recordings (add_recording / update), shared with the
              test thread under a lock. Knobs:
                fail_next(n, status=503)   the next n requests answer `status`
                delay_s                    sleep before every answer (timeouts)
              Records every request in `requests` (method, path, authorization header)
              and every reprocess in `reprocessed`.

room_name(tenant, room)  the id under which recgw asks the provider about a tenant's room
                         (storage::providerRoomId): rooms are unique only per tenant, so the
                         provider knows each one by a name that includes its tenant.

Pytest fixture (import it into a test module: `from fake_provider import provider`):
  provider   function: a started FakeProvider (token "provider-test-token"), stopped at teardown
"""

from __future__ import annotations

import datetime as _dt
import http.server
import json
import socketserver
import threading
import time
import urllib.parse
import uuid
from typing import Dict, List, Optional

import pytest

DEFAULT_TOKEN = "provider-test-token"


def room_name(tenant: str, room: str) -> str:
    """`<length of tenant>:<tenant>:<room>`, as recgw names a tenant's room to the provider."""
    return f"{len(tenant)}:{tenant}:{room}"


def iso(t: Optional[_dt.datetime] = None) -> str:
    t = t or _dt.datetime.now(_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeProvider:
    def __init__(self, token: str = DEFAULT_TOKEN):
        self.token = token
        self.lock = threading.Lock()
        self.recordings: Dict[str, dict] = {}
        self.requests: List[tuple] = []
        self.reprocessed: List[str] = []
        self.delay_s = 0.0
        self._fail_count = 0
        self._fail_status = 503
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # ---- lifecycle --------------------------------------------------------------
    def start(self) -> "FakeProvider":
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                fake._handle(self)

            def do_POST(self):
                fake._handle(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to configure in recgw (RECGW_LIFECYCLE_PROVIDER_URL)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- state for tests ----------------------------------------------------------
    def add_recording(self, room_id: str, *, id: Optional[str] = None, status: str = "recording",
                      started_at: Optional[_dt.datetime] = None, **fields) -> dict:
        rec = {"id": id or "prov_" + uuid.uuid4().hex[:16], "room_id": room_id, "status": status,
               "started_at": iso(started_at), "stopped_at": None, "duration_seconds": None,
               "size_bytes": None, "storage": None}
        rec.update(fields)
        with self.lock:
            self.recordings[rec["id"]] = rec
        return dict(rec)

    def update(self, rec_id: str, **fields) -> dict:
        with self.lock:
            self.recordings[rec_id].update(fields)
            return dict(self.recordings[rec_id])

    def set_ready(self, rec_id: str, *, bucket: str, key: str, size: int, duration: float = 12.5) -> dict:
        return self.update(rec_id, status="ready", stopped_at=iso(), duration_seconds=duration, size_bytes=size,
                           storage={"provider": "s3", "bucket": bucket, "key": key})

    def fail_next(self, n: int, status: int = 503) -> None:
        with self.lock:
            self._fail_count = n
            self._fail_status = status

    def request_count(self, method: Optional[str] = None, prefix: str = "") -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests if (method is None or m == method) and p.startswith(prefix))

    # ---- HTTP ---------------------------------------------------------------------------
    def _send(self, h, status: int, body: Optional[dict] = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _handle(self, h) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        path = urllib.parse.urlsplit(h.path).path
        auth = h.headers.get("Authorization", "")
        with self.lock:
            self.requests.append((h.command, path, auth))
            failing = self._fail_count > 0
            if failing:
                self._fail_count -= 1
                fail_status = self._fail_status
        if self.delay_s:
            time.sleep(self.delay_s)
        if failing:
            return self._send(h, fail_status, {"error": "injected failure"})
        if auth != f"Bearer {self.token}":
            return self._send(h, 401, {"error": "bad token"})
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if not parts or parts[0] != "v1":
            return self._send(h, 404, {"error": "no such route"})
        parts = parts[1:]
        with self.lock:
            if h.command == "GET" and len(parts) == 3 and parts[0] == "rooms" and parts[2] == "recordings":
                recs = [dict(r) for r in self.recordings.values() if r["room_id"] == parts[1]]
                return self._send(h, 200, {"recordings": recs})
            if h.command == "GET" and len(parts) == 2 and parts[0] == "recordings":
                rec = self.recordings.get(parts[1])
                return self._send(h, 200, dict(rec)) if rec else self._send(h, 404, {"error": "not found"})
            if h.command == "POST" and len(parts) == 3 and parts[0] == "recordings" and parts[2] == "reprocess":
                rec = self.recordings.get(parts[1])
                if not rec:
                    return self._send(h, 404, {"error": "not found"})
                rec["status"] = "processing"
                self.reprocessed.append(parts[1])
                return self._send(h, 202, {"id": parts[1], "status": "processing"})
        return self._send(h, 404, {"error": "no such route"})


@pytest.fixture
def provider():
    fake = FakeProvider().start()
    try:
        yield fake
    finally:
        fake.stop()
