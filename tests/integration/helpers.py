"""Small helpers the integration tests share: polling, HS256 JWTs, /metrics samples."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
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
