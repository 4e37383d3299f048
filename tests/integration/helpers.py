"""Small helpers the integration tests share: polling, HS256 JWTs, /metrics samples."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from typing import Callable, Optional

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy and return that; fail the test
    after `timeout` seconds, naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def b64url(raw: bytes) -> str:
    """Base64url without padding (JWT segments)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256_jwt(claims: dict, secret: str, *, compact: bool = False, header: Optional[dict] = None) -> str:
    """A JWT signed with HMAC-SHA256. compact: JSON without spaces (as most issuers write it)."""
    dump = (lambda o: json.dumps(o, separators=(",", ":"))) if compact else json.dumps
    head = b64url(dump({"alg": "HS256", "typ": "JWT", **(header or {})}).encode())
    payload = b64url(dump(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{b64url(sig)}"


def metrics_snapshot(url: str) -> dict:
    """{(name, frozenset(labels)): value} of every sample on <url>/metrics."""
    r = requests.get(url + "/metrics", timeout=5)
    assert r.status_code == 200, r.text
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def metric_sum(snapshot: dict, name: str, **labels) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 if none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in snapshot.items() if n == name and want <= set(ls))


def raw_request(gw, path: str, method: str = "GET", headers: Optional[dict] = None,
                rcvbuf: Optional[int] = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", gw.port))
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{gw.port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return s


def read_head(s: socket.socket) -> tuple:
    """Read up to the end of the response headers; returns (status, headers, extra body bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before the headers ended: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, rest
