"""Hostile requests against the ASan+UBSan build (issue 7, part 2), over raw sockets.

Every case is sent on its own connection to a gateway built with -fsanitize=address,undefined
(build-asan/recgw; `bash tools/build.sh asan`, or RECGW_ASAN_BINARY=path). Each must be
answered with a clear 4xx (for unknown methods evhttp's 501 also counts as a clear
refusal) or a closed connection, within CASE_DEADLINE seconds. After every case
/healthz answers 200, the process is alive and its stderr holds no sanitizer report;
the last test stops the gateways and checks their whole stderr once more.

Targets are picked so that a 4xx is the only right answer: unknown tokens, routes that
need a JWT, or /healthz for protocol violations the RFCs say must be refused with 400
(a 200 from /healthz then shows the violation was let through).

Plus: a stored recording key holding CR/LF and quotes cannot inject a header or break
Content-Disposition, and a stored key holding dot segments cannot leave the bucket or
/recordings/ on a fleet host.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest
import requests

from fakes import FakeFleetHost
from stack import REPO, Gateway, Stack, start_gateway

pytestmark = pytest.mark.timeout(300)

ASAN_BINARY = Path(os.environ.get("RECGW_ASAN_BINARY") or REPO / "build-asan" / "recgw")
HS_SECRET = "hostile-hs256-secret-0123456789abcdef"
FLEET_SECRET = "hostile-fleet-secret"
CASE_DEADLINE = 8.0          # seconds for one case to be answered or closed (ASan is slow)
GRACE = 0.5                  # how long to wait for an unexpected extra (smuggled, pipelined) response
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer")
MiB = 1024 * 1024
KiB = 1024

OK_TOKEN = "hostile-ok-token-" + uuid.uuid4().hex[:8]
OK_SID = "hostile-ok-sid-" + uuid.uuid4().hex[:8]
OK_KEY = "hostile/ok.ogg"
OK_BODY = bytes(range(256)) * 40            # 10240 bytes
EVIL_KEY = 'evil"\r\nSet-Cookie: x=1.ogg'
EVIL_TOKEN = "hostile-evil-token-" + uuid.uuid4().hex[:8]
EVIL_SID = "hostile-evil-sid-" + uuid.uuid4().hex[:8]
EVIL_BODY = os.urandom(5000)


# ---- JWTs ---------------------------------------------------------------------------------

def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_hs(payload, header: Optional[dict] = None, secret: str = HS_SECRET, raw_header: Optional[bytes] = None,
           raw_payload: Optional[bytes] = None) -> str:
    hdr = raw_header if raw_header is not None else json.dumps({"alg": "HS256", "typ": "JWT", **(header or {})}).encode()
    pl = raw_payload if raw_payload is not None else json.dumps(payload).encode()
    signing_input = b64u(hdr) + "." + b64u(pl)
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64u(sig)


def admin_claims(**more) -> dict:
    now = int(time.time())
    return {"sub": "hostile", "role": "admin", "iat": now, "exp": now + 3600, **more}


def admin_jwt() -> str:
    return jwt_hs(admin_claims())


# ---- raw HTTP -----------------------------------------------------------------------------

@dataclass
class Resp:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None


@dataclass
class Result:
    responses: List[Resp]
    closed: bool               # the server closed (or reset) the connection
    elapsed: float
    garbage: bytes = b""       # bytes that do not parse as a response
    send_error: Optional[str] = None

    def statuses(self) -> List[int]:
        return [r.status for r in self.responses]

    def __repr__(self) -> str:
        return (f"Result(statuses={self.statuses()}, closed={self.closed}, elapsed={self.elapsed:.2f}, "
                f"garbage={self.garbage[:80]!r}, send_error={self.send_error})")


def parse_responses(buf: bytes, head: bool = False) -> Tuple[List[Resp], bytes, bool]:
    """Complete responses in buf; returns (responses, unparsed rest, rest_is_garbage).
    head: the responses answer HEAD requests (no body whatever Content-Length says)."""
    out: List[Resp] = []
    rest = buf
    while rest:
        if not rest.startswith(b"HTTP/"):
            return out, rest, len(rest) >= 5
        i = rest.find(b"\r\n\r\n")
        if i < 0:
            return out, rest, False
        lines = rest[:i].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
        hd = dict(headers)
        after = rest[i + 4:]
        if head:
            out.append(Resp(status, headers, b""))
            rest = after
        elif "content-length" in hd:
            n = int(hd["content-length"])
            if len(after) < n:
                return out, rest, False
            out.append(Resp(status, headers, after[:n]))
            rest = after[n:]
        elif "chunked" in hd.get("transfer-encoding", "").lower():
            body, pos = b"", 0
            while True:
                j = after.find(b"\r\n", pos)
                if j < 0:
                    return out, rest, False
                size = int(after[pos:j].split(b";")[0], 16)
                if size == 0:
                    k = after.find(b"\r\n\r\n", j)
                    if k < 0:
                        return out, rest, False
                    pos = k + 4
                    break
                if len(after) < j + 2 + size + 2:
                    return out, rest, False
                body += after[j + 2:j + 2 + size]
                pos = j + 2 + size + 2
            out.append(Resp(status, headers, body))
            rest = after[pos:]
        elif status in (204, 304) or 100 <= status < 200:
            out.append(Resp(status, headers, b""))
            rest = after
        else:
            out.append(Resp(status, headers, after))      # delimited by the close
            rest = b""
    return out, rest, False


def exchange(port: int, data: bytes, expect: int = 1, deadline: float = CASE_DEADLINE,
             grace: float = 0.0) -> Result:
    """Send `data` (from a thread: the server may answer and close before it has read it
    all) and read until the connection closes, or `expect` responses arrived and nothing
    more came for `grace` seconds, or the deadline passed."""
    head = data.startswith(b"HEAD ")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    send_error: List[str] = []

    def sender():
        try:
            s.sendall(data)
        except OSError as e:
            send_error.append(type(e).__name__)
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    buf = b""
    closed = False
    quiet_since: Optional[float] = None
    try:
        while True:
            now = time.monotonic()
            if now - t0 > deadline:
                break
            resps, _, _ = parse_responses(buf, head)
            if len(resps) >= expect:
                quiet_since = quiet_since or now
                if now - quiet_since >= grace:
                    break
            s.settimeout(0.05)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            quiet_since = None
    finally:
        elapsed = time.monotonic() - t0
        try:
            s.close()
        except OSError:
            pass
        th.join(2)
    resps, rest, is_garbage = parse_responses(buf, head)
    return Result(resps, closed, elapsed, rest if is_garbage else b"", send_error[0] if send_error else None)


# ---- fixtures -------------------------------------------------------------------------------

@dataclass
class Hostile:
    gw: Gateway                  # default limits (16 KiB headers, 1 MiB bodies)
    gw_big: Gateway              # 4 MiB header limit: lets a 1 MiB JWT reach the verifier
    fleet: FakeFleetHost
    stack: Stack
    evil_in_minio: bool
    checked: Dict[str, int] = field(default_factory=dict)   # stderr bytes already checked


def sanitizer_lines(text: str) -> List[str]:
    return [ln for ln in text.splitlines() if SANITIZER.search(ln)]


def make_jwks(directory: Path) -> Path:
    """A JWKS with one RSA key (kid "good-key"), built with the openssl CLI."""
    key = directory / "jwks.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(key)], check=True, capture_output=True)
    mod = subprocess.run(["openssl", "rsa", "-in", str(key), "-noout", "-modulus"], check=True,
                         capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    jwks = {"keys": [{"kty": "RSA", "kid": "good-key", "use": "sig", "alg": "RS256",
                      "n": b64u(bytes.fromhex(mod)), "e": "AQAB"}]}
    path = directory / "jwks.json"
    path.write_text(json.dumps(jwks))
    return path


@pytest.fixture(scope="module")
def hostile(stack: Stack, tmp_path_factory):
    if not (ASAN_BINARY.is_file() and os.access(ASAN_BINARY, os.X_OK)):
        pytest.skip(f"ASan build missing: {ASAN_BINARY} (bash tools/build.sh asan, or RECGW_ASAN_BINARY)")
    d = tmp_path_factory.mktemp("hostile")
    stack.reset()
    stack.put_object(OK_KEY, OK_BODY, "audio/ogg")
    stack.insert_call(OK_SID, token=OK_TOKEN, key=OK_KEY, status="ready")
    # the CR/LF key: in MinIO if it takes such a name, and on the fleet host in any case
    evil_in_minio = True
    try:
        stack.put_object(EVIL_KEY, EVIL_BODY, "audio/ogg")
    except Exception:  # noqa: BLE001 — MinIO may refuse control characters in names
        evil_in_minio = False
    stack.insert_call(EVIL_SID, token=EVIL_TOKEN, key=EVIL_KEY, status="ready")
    fleet = FakeFleetHost({EVIL_KEY: EVIL_BODY}, secret=FLEET_SECRET).start()
    env = {
        "RECGW_JWT_HS256_SECRET": HS_SECRET,
        "RECGW_JWT_JWKS_FILE": str(make_jwks(d)),
        "RECGW_FLEET_URLS": fleet.url,
        "RECGW_FLEET_SECRET": FLEET_SECRET,
        "RECGW_CACHE_FAILED_LOOKUPS_BURST": "1000000",
        "RECGW_CACHE_FAILED_LOOKUPS_PER_MINUTE": "1000000",
        "RECGW_SERVER_CLIENT_TIMEOUT_MS": "3000",
        "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }
    gw = start_gateway(stack, env, binary=ASAN_BINARY, log_dir=d / "gw", timeout=60)
    gw_big = start_gateway(stack, {**env, "RECGW_SERVER_MAX_HEADER_BYTES": str(4 * MiB)},
                           binary=ASAN_BINARY, log_dir=d / "gw-big", timeout=60)
    h = Hostile(gw, gw_big, fleet, stack, evil_in_minio)
    try:
        yield h
    finally:
        for g in (gw, gw_big):
            g.stop()
        fleet.stop()


def assert_still_healthy(h: Hostile, case: str) -> None:
    for g in (h.gw, h.gw_big):
        assert g.alive(), f"[{case}] gateway died\n{g.stderr()[-6000:]}"
        r = requests.get(g.url + "/healthz", timeout=5)
        assert r.status_code == 200, f"[{case}] /healthz {r.status_code}"
        text = g.stderr()
        new = text[h.checked.get(g.url, 0):]
        h.checked[g.url] = len(text)
        bad = sanitizer_lines(new)
        assert not bad, f"[{case}] sanitizer report:\n" + "\n".join(bad) + "\n" + new[-6000:]


# ---- the corpus -----------------------------------------------------------------------------

def req(method: str, target: bytes | str, headers: Sequence[Tuple[bytes | str, bytes | str]] = (),
        body: bytes = b"", version: bytes = b"HTTP/1.1", host: bool = True) -> bytes:
    def b(x):
        return x if isinstance(x, bytes) else x.encode("latin-1")
    lines = [b(method) + b" " + b(target) + (b" " + version if version else b"")]
    if host:
        lines.append(b"Host: 127.0.0.1")
    lines += [b(k) + b": " + b(v) for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


PUB = "/api/v1/public/recordings/"
ADM = "/api/v1/recordings/"
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def no_nul(data: bytes) -> bytes:
    return data.replace(b"\x00", b"\x01")


def bearer(tok: str) -> Tuple[str, str]:
    return ("Authorization", "Bearer " + tok)


def post_json(path: str, body: bytes, auth: Optional[str] = None, ctype: str = "application/json") -> bytes:
    hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
    if auth:
        hdrs.append(bearer(auth))
    return req("POST", path, hdrs, body)


@dataclass
class Case:
    name: str
    build: Callable[[], bytes]
    allowed: Tuple[int, ...] = tuple(range(400, 500))   # statuses that count as a clear refusal
    big: bool = False                                   # send to gw_big (4 MiB header limit)
    check: Optional[Callable[[Result], None]] = None    # extra assertions
    expect: int = 1          # responses to wait for before the grace period (else: close/deadline)


def traversal_tokens() -> List[Tuple[str, str]]:
    return [
        ("dotdot-encoded-slash", "..%2F..%2Fetc%2Fpasswd"),
        ("dotdot-encoded-lower", "..%2f..%2f..%2f..%2fetc%2fpasswd"),
        ("dots-encoded", "%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        ("dots-only-encoded", "%2e%2e"),
        ("double-encoded", "%252e%252e%252fetc%252fpasswd"),
        ("backslash-encoded", "..%5c..%5cwindows%5cwin.ini"),
        ("pct-nul", "abc%00def"),
        ("pct-nul-only", "%00"),
        ("overlong-utf8-dotdot-slash", "%c0%ae%c0%ae%c0%af"),
        ("overlong-utf8-3byte", "%e0%80%ae%e0%80%ae%2f"),
        ("invalid-utf8-escapes", "%ff%fe%fd"),
        ("lone-surrogate", "%ed%a0%80"),
        ("bad-escape", "abc%zz"),
        ("truncated-escape", "abc%2"),
        ("lone-percent", "%"),
        ("semicolon-params", "tok;jsessionid=..%2f"),
        ("ctl-escapes", "%01%02%7f%1b%5b31m"),
        ("crlf-escapes", "x%0d%0aSet-Cookie:%20a=b"),
        ("json-ish", "%7B%22%24ne%22%3A1%7D"),
        ("long-8k", "A" * 8192),
    ]


def corpus() -> List[Case]:
    cases: List[Case] = []
    # --- traversal and encoding tricks in tokens and ids, on every id-taking route
    for name, tok in traversal_tokens():
        cases.append(Case(f"public-{name}", lambda tok=tok: req("GET", PUB + tok)))
        cases.append(Case(f"public-head-{name}", lambda tok=tok: req("HEAD", PUB + tok)))
        cases.append(Case(f"admin-{name}", lambda tok=tok: req("GET", ADM + tok, [bearer(admin_jwt())])))
    for name, tok in traversal_tokens()[:6]:
        # evicting an id that names nothing is a harmless admin no-op: 200 is fine there
        cases.append(Case(f"evict-{name}", lambda tok=tok: req("DELETE", "/api/v1/admin/cache/" + tok,
                                                               [bearer(admin_jwt())]),
                          allowed=tuple(range(400, 500)) + (200,)))
        cases.append(Case(f"mint-{name}", lambda tok=tok: req("POST", f"/api/v1/admin/recordings/{tok}/token",
                                                              [bearer(admin_jwt()), ("Content-Length", "0")])))
        cases.append(Case(f"session-url-{name}", lambda tok=tok: req(
            "GET", f"/api/v1/sessions/{tok}/recording", [bearer(admin_jwt()), ("X-Account-ID", "acct-test")])))
    cases += [
        Case("dot-segments-to-healthz", lambda: req("GET", PUB + "../../../healthz")),
        Case("dot-segments-admin-to-metrics", lambda: req("GET", ADM + "..%2F..%2F..%2Fmetrics", [bearer(admin_jwt())])),
        Case("raw-invalid-utf8-path", lambda: req("GET", PUB.encode() + b"\xc0\xaf\xff\xfe\x80")),
        Case("raw-overlong-utf8-path", lambda: req("GET", PUB.encode() + b"\xc0\xae\xc0\xae\xc0\xaf")),
        Case("raw-nul-in-path", lambda: req("GET", PUB.encode() + b"abc\x00def")),
        Case("raw-ctl-in-path", lambda: req("GET", PUB.encode() + b"abc\x01\x1b[31mdef")),
        Case("raw-tab-in-path", lambda: req("GET", PUB.encode() + b"abc\tdef")),
        Case("raw-del-in-path", lambda: req("GET", PUB.encode() + b"abc\x7fdef")),
        Case("query-nul-and-junk", lambda: req("GET", PUB + "nope?%00=%00&a=%zz&&=&" + "b=" * 2000)),
        Case("fragment-in-target", lambda: req("GET", PUB + "nope#../../etc/passwd")),
    ]
    # --- header bytes the gateway reads: invalid UTF-8, CTLs
    cases += [
        Case("invalid-utf8-authorization", lambda: req("GET", ADM + OK_SID, [("Authorization", b"Bearer \xc0\xaf\xff.\xfe.\x80")])),
        Case("invalid-utf8-range-unknown-token", lambda: req("GET", PUB + "nope", [("Range", b"bytes=\xff\xfe-\xc0\xaf")])),
        Case("invalid-utf8-account-id", lambda: req("GET", f"/api/v1/sessions/{OK_SID}/recording",
                                                    [bearer(admin_jwt()), ("X-Account-ID", b"\xff\xfe\xc0\xaf")]),
             allowed=tuple(range(400, 500)) + (200,)),   # admin may read any tenant; the bytes must not crash it
        Case("invalid-utf8-forwarded-for", lambda: req("GET", PUB + "nope", [("X-Forwarded-For", b"\xff\xfe, 1.2.3.4, \xc0")])),
        Case("invalid-utf8-origin", lambda: req("GET", PUB + "nope", [("Origin", b"http://\xff\xfe.example")])),
        Case("invalid-utf8-if-none-match", lambda: req("GET", PUB + "nope", [("If-None-Match", b"\"\xff\xfe\"")])),
        Case("ctl-request-id-not-echoed", lambda: req("GET", PUB + "nope", [("X-Request-Id", b"abc\x01\x1b[2Jdef")]),
             check=lambda res: _request_id_sane(res)),
        Case("long-request-id-not-echoed", lambda: req("GET", PUB + "nope", [("X-Request-Id", "r" * 5000)]),
             check=lambda res: _request_id_sane(res)),
    ]
    # --- size limits
    cases += [
        Case("url-64k", lambda: req("GET", PUB + "A" * 65536)),
        Case("url-64k-query", lambda: req("GET", "/healthz?" + "a=b&" * 16384)),
        Case("header-64k", lambda: req("GET", "/healthz", [("X-Big", "a" * 65536)])),
        Case("headers-5000", lambda: req("GET", "/healthz", [(f"X-H{i}", "v") for i in range(5000)])),
        Case("headers-unterminated-1mib", lambda: b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * (MiB // 8)),
        Case("header-line-1mib-no-crlf", lambda: b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * MiB),
        Case("request-line-1mib-no-crlf", lambda: b"GET /" + b"a" * MiB),
        Case("empty-lines-5000", lambda: b"\r\n" * 5000),
    ]
    # --- duplicate and conflicting framing headers, smuggling
    smuggled = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    cases += [
        Case("cl-te-smuggle", lambda: req("POST", "/v1/call-recording/signed-url",
                                          [("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
                                          b"0\r\n\r\n" + smuggled),
             check=lambda res: _no_second_response(res)),
        Case("te-cl-smuggle", lambda: req("POST", "/v1/call-recording/signed-url",
                                          [("Transfer-Encoding", "chunked"), ("Content-Length", str(5 + len(smuggled)))],
                                          b"0\r\n\r\n" + smuggled),
             check=lambda res: _no_second_response(res)),
        Case("te-cl-get-healthz", lambda: req("GET", "/healthz", [("Transfer-Encoding", "chunked"),
                                                                   ("Content-Length", "3")], b"0\r\n\r\n"),
             check=lambda res: _no_second_response(res)),
        Case("te-xchunked", lambda: req("POST", "/v1/call-recording/signed-url",
                                        [("Transfer-Encoding", "xchunked"), ("Content-Length", "2")], b"{}")),
        Case("te-chunked-identity", lambda: req("POST", "/v1/call-recording/signed-url",
                                                [("Transfer-Encoding", "chunked, identity")], b"2\r\n{}\r\n0\r\n\r\n")),
        Case("te-in-http10", lambda: req("POST", "/v1/call-recording/signed-url", [("Transfer-Encoding", "chunked")],
                                         b"0\r\n\r\n" + smuggled, version=b"HTTP/1.0"),
             check=lambda res: _no_second_response(res)),
        Case("chunk-size-overflow", lambda: req("POST", "/v1/call-recording/signed-url", [("Transfer-Encoding", "chunked")],
                                                b"ffffffffffffffffffffffff\r\nab\r\n0\r\n\r\n")),
        Case("chunk-size-negative", lambda: req("POST", "/v1/call-recording/signed-url", [("Transfer-Encoding", "chunked")],
                                                b"-5\r\nab\r\n0\r\n\r\n")),
        Case("chunk-ext-64k", lambda: req("POST", "/v1/call-recording/signed-url", [("Transfer-Encoding", "chunked")],
                                          b"2;" + b"e" * 65536 + b"\r\n{}\r\n0\r\n\r\n")),
        Case("cl-negative", lambda: req("POST", "/v1/call-recording/signed-url", [("Content-Length", "-1")], b"{}")),
        Case("cl-huge", lambda: req("POST", "/v1/call-recording/signed-url", [("Content-Length", "9" * 30)], b"{}")),
        Case("cl-hex", lambda: req("POST", "/v1/call-recording/signed-url", [("Content-Length", "0x2")], b"{}")),
        Case("cl-identical-duplicates", lambda: req("POST", "/v1/call-recording/signed-url",
                                                    [("Content-Length", "2"), ("Content-Length", "2")], b"{}")),
        Case("range-on-unknown-token", lambda: req("GET", PUB + "nope", [("Range", "bytes=0-1"), ("Range", "bytes=5-9")])),
        Case("range-overflow", lambda: req("GET", PUB + "nope", [("Range", "bytes=" + "9" * 40 + "-" + "9" * 40)])),
    ]
    # --- pipelined garbage, HTTP/0.9, bogus methods, other protocols
    hz = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    cases += [
        # the valid requests are answered; the garbage after them gets a 4xx or a close (within
        # the 3 s client timeout when it never ends a line). NUL-free: a NUL after a valid head
        # is test_valid_request_is_answered_when_the_next_pipelined_one_holds_a_nul.
        Case("pipelined-valid-then-garbage", lambda: hz + no_nul(os.urandom(4096)), check=_pipelined_then_refused,
             expect=2),
        Case("pipelined-3-valid-then-tls", lambda: hz * 3 + no_nul(TLS_HELLO + os.urandom(300)),
             check=lambda res: _pipelined_then_refused(res, valid=3), expect=4),
        Case("pipelined-valid-then-crlf-junk", lambda: hz + b"\r\n\r\n\x01\x02\x03 / HTTP/1.1\r\n\r\n",
             check=_pipelined_then_refused, expect=2),
        Case("garbage-only", lambda: os.urandom(4096)),
        Case("tls-client-hello", lambda: TLS_HELLO + os.urandom(500)),
        Case("http2-preface", lambda: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(64)),
        Case("http09-get", lambda: b"GET /healthz\r\n\r\n"),
        Case("http09-get-public", lambda: b"GET " + PUB.encode() + OK_TOKEN.encode() + b"\r\n\r\n"),
        Case("http-version-garbage", lambda: req("GET", "/healthz", version=b"HTXP/1.1")),
        Case("http-version-3", lambda: req("GET", "/healthz", version=b"HTTP/3.0")),
        Case("request-line-extra-words", lambda: b"GET /healthz HTTP/1.1 extra words\r\nHost: x\r\n\r\n"),
        Case("method-bogus", lambda: req("FOO", "/healthz"), allowed=(400, 405, 501)),
        Case("method-lowercase", lambda: req("get", "/healthz"), allowed=(400, 405, 501)),
        Case("method-long", lambda: req("A" * 4096, "/healthz"), allowed=(400, 405, 413, 431, 501)),
        Case("method-binary", lambda: b"\x00\xff\x01 /healthz HTTP/1.1\r\n\r\n", allowed=(400, 405, 501)),
        Case("method-trace", lambda: req("TRACE", "/healthz"), allowed=(400, 405, 501)),
        Case("method-connect", lambda: req("CONNECT", "127.0.0.1:22"), allowed=(400, 405, 501)),
        Case("method-put-on-stream", lambda: req("PUT", PUB + OK_TOKEN, [("Content-Length", "2")], b"{}"),
             allowed=(400, 405, 501)),
        Case("asterisk-target", lambda: req("OPTIONS", "*")),
        Case("no-target", lambda: b"GET  HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]
    # --- bodies over the limit (1 MiB) on POST routes, with and without sending them
    for path, auth in (("/v1/call-recording/signed-url", True), ("/api/v1/admin/cache/warm", True),
                       (f"/api/v1/admin/recordings/{OK_SID}/token", True)):
        slug = path.strip("/").replace("/", "-")
        cases.append(Case(f"body-2mib-{slug}", lambda p=path: req(
            "POST", p, [bearer(admin_jwt()), ("Content-Type", "application/json"), ("Content-Length", str(2 * MiB))],
            b"[" * (2 * MiB)), allowed=(400, 413)))
        cases.append(Case(f"body-declared-2mib-not-sent-{slug}", lambda p=path: req(
            "POST", p, [bearer(admin_jwt()), ("Content-Length", str(2 * MiB))]), allowed=(400, 413)))
        cases.append(Case(f"body-chunked-2mib-{slug}", lambda p=path: req(
            "POST", p, [bearer(admin_jwt()), ("Transfer-Encoding", "chunked")],
            (b"10000\r\n" + b"[" * 65536 + b"\r\n") * 32 + b"0\r\n\r\n"), allowed=(400, 413)))
    # --- JSON bombs and bad JSON on the two JSON routes (authenticated, so the parser runs)
    deep = 200_000
    json_bodies = {
        "deep-arrays": b"[" * deep + b"]" * deep,
        "deep-objects": b'{"a":' * deep + b"1" + b"}" * deep,
        "deep-in-tokens": b'{"tokens":' + b"[" * deep + b"]" * deep + b"}",
        "deep-in-call-id": b'{"call_id":' + b'{"a":' * deep + b"1" + b"}" * deep + b"}",
        "unclosed-deep": b"[" * 900_000,
        "tokens-not-strings": b'{"tokens":[1,{},[],null,true,1e999,-0,"' + b"\xff\xfe" + b'"]}',
        "tokens-over-max-items": b'{"tokens":[' + b",".join([b'"a"'] * 100_001) + b"]}",   # max 100000
        "huge-number": b'{"call_id":"x","expiration_url_in_minutes":' + b"9" * 5000 + b"}",
        "float-exponent": b'{"call_id":"x","expiration_url_in_minutes":1e308}',
        "nul-in-string": b'{"call_id":"a\x00b"}',
        "invalid-utf8-string": b'{"call_id":"\xc0\xaf\xff\xfe","session_ids":["\xed\xa0\x80"]}',
        # duplicate names: the first one wins (simdjson), so the operator object is never used
        "duplicate-keys": b'{"call_id":"nope","call_id":{"$ne":null},"tokens":["nope"],"tokens":{"$gt":""}}',
        "mongo-operator": b'{"call_id":{"$ne":null},"session_ids":[{"$gt":""}]}',
        "since-garbage": b'{"since":"' + b"9" * 1000 + b'","limit":-1}',
        "long-string-900k": b'{"call_id":"' + b"a" * 900_000 + b'"}',
        "empty": b"",
        "not-json": b"\x00\x01\x02 not json",
        "bom-then-json": b"\xef\xbb\xbf{}",
        "trailing-garbage": b'{"call_id":"x"} {"call_id":"y"}',
    }
    for jname, body in json_bodies.items():
        check = _warmed_nothing if jname == "duplicate-keys" else None
        cases.append(Case(f"warm-{jname}", lambda body=body: post_json("/api/v1/admin/cache/warm", body, admin_jwt()),
                          allowed=(400, 413, 422), check=check))
        cases.append(Case(f"signed-url-{jname}", lambda body=body: post_json(
            "/v1/call-recording/signed-url", body, admin_jwt()), allowed=(400, 404, 413, 422)))
    # --- malformed and huge JWTs, kid injection
    good_payload = admin_claims()
    bad_jwts = {
        "empty-bearer": "",
        "one-part": "abc",
        "two-parts": "a.b",
        "four-parts": "a.b.c.d",
        "empty-parts": "..",
        "dots-only": "." * 500,
        "not-base64": "!!!.@@@.###",
        "header-not-json": b64u(b"\xff\xfe not json") + "." + b64u(b"{}") + ".sig",
        "header-array": jwt_hs(good_payload, raw_header=b"[1,2,3]"),
        "header-deep": jwt_hs(good_payload, raw_header=b'{"alg":' + b"[" * 3000 + b"]" * 3000 + b"}"),
        "payload-deep": jwt_hs(None, raw_payload=b'{"role":' + b"[" * 3000 + b"]" * 3000 + b"}"),
        "payload-not-json": jwt_hs(None, raw_payload=b"\x00\x01"),
        "alg-none": b64u(b'{"alg":"none","typ":"JWT"}') + "." + b64u(json.dumps(good_payload).encode()) + ".",
        "alg-None-case": b64u(b'{"alg":"NoNe"}') + "." + b64u(json.dumps(good_payload).encode()) + ".",
        "alg-missing": jwt_hs(good_payload, raw_header=b'{"typ":"JWT"}'),
        "alg-number": jwt_hs(good_payload, raw_header=b'{"alg":256}'),
        "wrong-secret": jwt_hs(good_payload, secret="not-the-secret"),
        "exp-string": jwt_hs({**good_payload, "exp": "tomorrow"}, secret="x"),
        "exp-huge": jwt_hs({**good_payload, "exp": 10 ** 400}),
        "exp-negative-huge": jwt_hs({**good_payload, "exp": -(10 ** 30)}),
        "exp-float-inf": jwt_hs(None, raw_payload=b'{"role":"admin","exp":1e999}'),
        "nbf-huge": jwt_hs({**good_payload, "nbf": 10 ** 30}),
        "role-operator": jwt_hs({**good_payload, "role": {"$ne": None}}, secret="x"),
        "sig-not-base64": jwt_hs(good_payload).rsplit(".", 1)[0] + ".%%%%",
        "sig-empty": jwt_hs(good_payload).rsplit(".", 1)[0] + ".",
        "nul-in-token": jwt_hs(good_payload)[:20] + "\x00" + jwt_hs(good_payload)[20:],
        "jwt-8k": jwt_hs({**good_payload, "pad": "p" * 6200}, secret="x"),
        "jwt-12k": jwt_hs({**good_payload, "pad": "p" * 9000}, secret="x"),
        "jwt-8k-garbage": "e" * 8192 + "." + "f" * 100 + "." + "g" * 100,
    }
    kids = ["../../etc/passwd", "/etc/passwd", "/dev/zero", "/proc/self/environ", "file:///etc/passwd",
            "' OR '1'='1", "\"; DROP TABLE keys; --", "{\"$ne\": null}", "$(id)", "`id`", "%00", "\u0000nul",
            "good-key\u0000../../etc/passwd", "k" * 4096, "\u202egnp.exe"]
    for i, kid in enumerate(kids):
        bad_jwts[f"kid-hs256-wrong-secret-{i}"] = jwt_hs(good_payload, header={"kid": kid}, secret="x")
        bad_jwts[f"kid-rs256-{i}"] = b64u(json.dumps({"alg": "RS256", "kid": kid}).encode()) + "." + \
            b64u(json.dumps(good_payload).encode()) + "." + b64u(os.urandom(256))
    bad_jwts["kid-number"] = b64u(b'{"alg":"RS256","kid":12}') + "." + b64u(b"{}") + "." + b64u(os.urandom(256))
    bad_jwts["kid-object"] = b64u(b'{"alg":"RS256","kid":{"a":1}}') + "." + b64u(b"{}") + "." + b64u(os.urandom(256))
    bad_jwts["kid-good-key-hs256-confusion"] = jwt_hs(good_payload, header={"kid": "good-key"}, secret="x")
    for jname, tok in bad_jwts.items():
        tok_b = tok.encode("utf-8")
        cases.append(Case(f"jwt-{jname}", lambda t=tok_b: req("GET", ADM + OK_SID, [("Authorization", b"Bearer " + t)]),
                          allowed=(400, 401)))
    cases.append(Case("jwt-in-basic-scheme", lambda: req("GET", ADM + OK_SID, [("Authorization", "Basic " + admin_jwt())]),
                      allowed=(400, 401)))
    cases.append(Case("jwt-double-bearer", lambda: req("GET", ADM + OK_SID, [bearer(jwt_hs(good_payload, secret="x")),
                                                                           bearer(jwt_hs(good_payload, secret="y"))]),
                      allowed=(400, 401)))
    huge = "e" * (MiB // 2) + "." + "f" * (MiB // 2) + "." + "g" * 64
    cases.append(Case("jwt-1mib-over-header-limit", lambda: req("GET", ADM + OK_SID, [bearer(huge)]),
                      allowed=(400, 413, 431)))
    cases.append(Case("jwt-1mib-reaches-verifier", lambda: req("GET", ADM + OK_SID, [bearer(huge)]),
                      allowed=(400, 401), big=True))
    big_valid_shape = jwt_hs({**good_payload, "pad": "p" * MiB}, secret="x")
    cases.append(Case("jwt-1mib-well-formed-wrong-secret", lambda: req("GET", ADM + OK_SID, [bearer(big_valid_shape)]),
                      allowed=(400, 401), big=True))
    cases.append(Case("jwt-1mib-on-warm", lambda: post_json("/api/v1/admin/cache/warm", b'{"tokens":["a"]}', huge),
                      allowed=(400, 401), big=True))
    return cases


def _warmed_nothing(res: Result) -> None:
    assert len(res.responses) == 1, res
    r = res.responses[0]
    assert 400 <= r.status < 500 or (r.status == 200 and json.loads(r.body)["warmed"] == 0), (r.status, r.body)


def _request_id_sane(res: Result) -> None:
    rid = res.responses[0].header("x-request-id") if res.responses else None
    if rid is not None:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", rid), rid


def _no_second_response(res: Result) -> None:
    """A smuggled request must never be answered: one response, then (for TE+CL) a close."""
    assert len(res.responses) <= 1, f"smuggled request answered: {res}"
    assert not any(r.status == 200 for r in res.responses), res


def _pipelined_then_refused(res: Result, valid: int = 1) -> None:
    statuses = res.statuses()
    assert statuses[:valid] == [200] * valid, res
    assert all(400 <= s < 500 for s in statuses[valid:]), res
    assert len(statuses) <= valid + 1, res
    assert res.closed or len(statuses) == valid + 1, res


CORPUS = corpus()


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_hostile_request(hostile: Hostile, case: Case):
    gw = hostile.gw_big if case.big else hostile.gw
    # cases with their own check look for extra responses (smuggling, pipelining): wait for them
    res = exchange(gw.port, case.build(), expect=case.expect, grace=GRACE if case.check else 0.0)
    assert res.elapsed < CASE_DEADLINE, f"[{case.name}] no answer and no close within {CASE_DEADLINE}s: {res}"
    assert res.responses or res.closed, f"[{case.name}] hung: {res}"
    assert not res.garbage, f"[{case.name}] unparseable reply: {res}"
    if case.check is not None:
        case.check(res)
    else:
        assert res.responses or res.closed
        for r in res.responses:
            assert r.status in case.allowed, f"[{case.name}] {r.status} not in {case.allowed}: {r.body[:300]!r}"
    for r in res.responses:
        # a 4xx from our own handlers is JSON; evhttp's own refusals are short HTML
        assert b"root:x:0:0" not in r.body and b"[extensions]" not in r.body
    assert_still_healthy(hostile, case.name)


# ---- RFC 9112 framing violations: refused with one 400, the connection closed ------------------
# (These were let through — two smuggling vectors among them — until be149db added
# HttpServer::framingViolation.)

class Violation(AssertionError):
    """The one failure a strict xfail below expects; anything else (a crash, a hang, an
    unhealthy gateway) still fails the test."""


SMUGGLED = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize("name,data", [pytest.param(n, d, id=n) for n, d in [
    ("host-duplicate-conflicting", req("GET", "/healthz", [("Host", "a.example"), ("Host", "b.example")], host=False)),
    ("host-missing-http11", req("GET", "/healthz", host=False)),
    # two lengths: the first would frame an empty body and the rest would be a second request
    ("cl-conflicting-smuggle", req("GET", "/healthz", [("Content-Length", "0"), ("Content-Length", "44")], SMUGGLED)),
    ("cl-conflicting-post", req("POST", "/v1/call-recording/signed-url",
                                [("Content-Length", "2"), ("Content-Length", "40")], b"{}")),
    ("cl-plus-sign", req("POST", "/v1/call-recording/signed-url", [("Content-Length", "+2")], b"{}")),
    ("te-space-before-colon", req("POST", "/v1/call-recording/signed-url",
                                  [("Transfer-Encoding ", "chunked"), ("Content-Length", "2")], b"{}")),
    ("te-identity-then-chunked-smuggle", req("POST", "/v1/call-recording/signed-url",
                                             [("Transfer-Encoding", "identity"), ("Transfer-Encoding", "chunked")],
                                             b"0\r\n\r\n" + SMUGGLED)),
    ("nul-in-header-value", req("GET", "/healthz", [("X-A", b"a\x00b")])),
    # a valid admin JWT, then NUL and junk: evhttp's C strings would cut it at the NUL
    ("nul-in-authorization", req("GET", ADM + OK_SID, [("Authorization", b"Bearer " + admin_jwt().encode() + b"\x00junk")])),
]])
def test_framing_violation_is_refused_with_400(hostile: Hostile, name, data):
    res = exchange(hostile.gw.port, data, grace=GRACE)
    assert res.responses or res.closed, f"[{name}] hung: {res}"
    assert res.statuses() in ([400], [501]), f"[{name}] not refused with one 400: {res}"
    assert_still_healthy(hostile, name)


def test_conflicting_range_headers_on_a_real_recording(hostile: Hostile):
    """Two Range headers combine into a multi-range list, which the gateway ignores (200, full body)."""
    res = exchange(hostile.gw.port, req("GET", PUB + OK_TOKEN, [("Range", "bytes=0-1"), ("Range", "bytes=5-9")]))
    assert len(res.responses) == 1, res
    r = res.responses[0]
    assert (r.status == 200 and r.body == OK_BODY and r.header("content-range") is None) or 400 <= r.status < 500, \
        (r.status, r.header("content-range"))
    assert_still_healthy(hostile, "range-conflict")


def test_valid_request_is_answered_when_the_next_pipelined_one_holds_a_nul(hostile: Hostile):
    valid = req("GET", "/healthz")
    res = exchange(hostile.gw.port, valid + req("GET", "/healthz", [("X-A", b"a\x00b")]), expect=2, grace=GRACE)
    assert res.responses or res.closed, res
    assert_still_healthy(hostile, "pipelined-nul")
    if res.statuses()[:1] != [200]:
        raise Violation(f"the valid first request was refused: {res}")
    assert res.statuses() in ([200], [200, 400]), res


def test_identical_duplicate_range_and_many_small_headers_are_harmless(hostile: Hostile):
    """Not refusals, but bounded and sane: identical duplicate Range headers (one range
    either way), and 3000 empty headers under the 16 KiB byte limit (the limit is bytes,
    not a count)."""
    res = exchange(hostile.gw.port, req("GET", PUB + OK_TOKEN, [("Range", "bytes=0-1"), ("Range", "bytes=0-1")]))
    assert len(res.responses) == 1 and res.responses[0].status in (200, 206, 400), res
    if res.responses[0].status == 206:
        assert res.responses[0].body == OK_BODY[:2]
    res = exchange(hostile.gw.port, req("GET", "/healthz", [("a", "")] * 3000))
    assert res.elapsed < 2.0, res
    assert res.responses and res.responses[0].status in (200, 400, 431), res
    assert_still_healthy(hostile, "harmless-duplicates")


# ---- stored keys --------------------------------------------------------------------------------

TOKEN_CHARS = r"[!#$&+\-.^_`|~0-9A-Za-z%]"


def test_stored_key_with_crlf_and_quotes_cannot_inject_headers(hostile: Hostile):
    """recording_key = `evil"\\r\\nSet-Cookie: x=1.ogg`: the object is served, no header is
    injected, and Content-Disposition stays one well-formed header (RFC 6266 + 8187)."""
    for method, path, hdrs in (("GET", PUB + EVIL_TOKEN, []),
                               ("HEAD", PUB + EVIL_TOKEN, []),
                               ("GET", ADM + EVIL_SID, [bearer(admin_jwt())])):
        s = socket.create_connection(("127.0.0.1", hostile.gw.port), timeout=10)
        try:
            s.sendall(req(method, path, hdrs + [("Connection", "close")]))
            raw = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        finally:
            s.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0].startswith(b"HTTP/1.1 200"), (method, path, head)
        names = [ln.split(b":", 1)[0].strip().lower() for ln in lines[1:]]
        assert b"set-cookie" not in names, head
        assert all(b"\r" not in ln and b"\n" not in ln for ln in lines), head
        assert names.count(b"content-disposition") == 1, head
        cd = next(ln for ln in lines[1:] if ln.lower().startswith(b"content-disposition:")).decode("latin-1")
        value = cd.split(":", 1)[1].strip()
        # inline; filename="<no quote, backslash or CTL>"; filename*=UTF-8''<attr-chars and %XX>
        m = re.fullmatch(r'inline; filename="([^"\\\x00-\x1f\x7f]*)"; filename\*=UTF-8\'\'(' + TOKEN_CHARS + r'*)', value)
        assert m, value
        assert "%0D%0A" in m.group(2).upper() and "%22" in m.group(2), value   # the exact name, encoded
        if method == "GET":
            assert body == EVIL_BODY, (len(body), method, path)
        else:
            assert body == b""
    # the signed-URL route carries the name in JSON: it must stay valid JSON with one key
    r = requests.post(hostile.gw.url + "/v1/call-recording/signed-url", json={"call_id": EVIL_SID},
                      headers={"Authorization": "Bearer " + admin_jwt()}, timeout=10)
    if hostile.evil_in_minio:
        assert r.status_code == 200, r.text
        assert r.json()["file_name"].endswith("Set-Cookie: x=1.ogg")
        assert "Set-Cookie" not in r.headers
    else:
        assert r.status_code in (200, 404), r.text
    assert_still_healthy(hostile, "crlf-key")


def test_stored_key_with_dot_segments_stays_inside_bucket_and_recordings(hostile: Hostile):
    """A stored key `../../etc/passwd` once made recgw GET /etc/passwd on a fleet host with the
    fleet secret header (curl resolved the dot segments; fixed in be149db). Every request must
    stay under /recordings/ on the fleet host and under /<bucket>/ on storage."""
    st = hostile.stack
    probe = FakeFleetHost({}, secret=None).start()         # records every path it is asked for
    fake_s3 = FakeFleetHost({}, secret=None).start()
    gw = start_gateway(st, {"RECGW_FLEET_URLS": probe.url, "RECGW_FLEET_SECRET": FLEET_SECRET,
                            "RECGW_S3_ENDPOINT": fake_s3.url,
                            "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1"},
                       binary=ASAN_BINARY, log_dir=Path(hostile.gw.dir).parent / "gw-dots", timeout=60)
    try:
        for i, key in enumerate(["../../etc/passwd", "a/../../../other-bucket/x.ogg", "./x/../../y.ogg"]):
            tok = f"hostile-dots-{i}-{uuid.uuid4().hex[:6]}"
            st.insert_call(f"{tok}-sid", token=tok, key=key)
            r = requests.get(gw.url + PUB + tok, timeout=15)
            assert r.status_code in (404, 503), r.status_code
        fleet_paths = [s.path for s in probe.seen]
        s3_paths = [s.path for s in fake_s3.seen]
        assert fleet_paths and s3_paths
        escaped = [p for p in fleet_paths if not p.startswith("/recordings/")] + \
            [p for p in s3_paths if not p.startswith(f"/{st.bucket}/")]
        leaked = [s.path for s in probe.seen if s.headers.get("X-CXBCore-Secret") == FLEET_SECRET
                  and not s.path.startswith("/recordings/")]
        assert not escaped, f"requests outside the prefix: {escaped}; fleet secret sent to {leaked}"
    finally:
        gw.stop()
        probe.stop()
        fake_s3.stop()
        bad = sanitizer_lines(gw.stderr())
        assert not bad, bad


# ---- the end: whole stderr, after a clean stop ----------------------------------------------------

def test_zz_gateways_stop_cleanly_without_sanitizer_reports(hostile: Hostile):
    """Runs last in this module: SIGTERM both ASan gateways and read their whole stderr."""
    for g in (hostile.gw, hostile.gw_big):
        assert g.alive(), g.stderr()[-6000:]
        code = g.stop(timeout=30)
        text = g.stderr()
        bad = sanitizer_lines(text)
        assert not bad, "\n".join(bad) + "\n" + text[-8000:]
        assert code == 0, f"exit code {code}\n{text[-4000:]}"
