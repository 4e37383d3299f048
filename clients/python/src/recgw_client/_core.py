"""What the sync and async clients share: configuration, the request of each call (built
from the route table) and the reading of its answer. No I/O here."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Generic, Iterable, List, Mapping, Optional, TypeVar, Union
from urllib.parse import quote, unquote, urlencode

import httpx

from ._errors import RecgwError, error_from_response
from ._models import (AccessibleUrl, Diagnosis, EvictResult, ObjectCacheStats, RecordingHead, RecordingLinkStats,
                      RecordingUrl, RevokeResult, SignedUrl, TokenInfo, UploadReportResult, WarmResult)
from ._routes import ROUTES, Route
from ._signing import SIGNATURE_HEADER, sign_report

T = TypeVar("T")
JSON = Dict[str, Any]
ProgressCallback = Callable[[int, Optional[int]], None]

DEFAULT_URL = "http://127.0.0.1:8080"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# `; name=value` of a header like Content-Disposition, value a token or a quoted string.
_DISPOSITION_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


@dataclass(frozen=True)
class Settings:
    base_url: str
    api_key: Optional[str]
    account_id: Optional[str]
    fleet_secret: Optional[str]
    timeout: float


def resolve_settings(base_url: Optional[str], api_key: Optional[str], account_id: Optional[str],
                     fleet_secret: Optional[str], timeout: float,
                     env: Optional[Mapping[str, str]] = None) -> Settings:
    """Arguments win; otherwise RECGW_URL, RECGW_API_KEY (an `rgw_…` key or a JWT),
    RECGW_ACCOUNT_ID and RECGW_FLEET_SECRET from the environment."""
    env = os.environ if env is None else env
    url = base_url or env.get("RECGW_URL") or DEFAULT_URL
    return Settings(url.rstrip("/"), api_key or env.get("RECGW_API_KEY") or None,
                    account_id or env.get("RECGW_ACCOUNT_ID") or None,
                    fleet_secret or env.get("RECGW_FLEET_SECRET") or None, timeout)


@dataclass
class Call(Generic[T]):
    """One request and how to read its answer."""

    route: Route
    parse: Callable[[httpx.Response], T]
    path_params: Dict[str, str] = field(default_factory=dict)
    query: Dict[str, str] = field(default_factory=dict)
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    auth: str = "bearer"  # "bearer", "fleet" (signed body) or "none"

    def path(self) -> str:
        return self.route.url_path(**self.path_params)


def request_headers(settings: Settings, call: "Call[Any]") -> Dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "recgw-client-python/0.1.0", **call.headers}
    if call.body is not None:
        headers["Content-Type"] = "application/json"
    if call.auth == "bearer" and settings.api_key:
        headers["Authorization"] = "Bearer " + settings.api_key
    if call.auth == "fleet":
        if not settings.fleet_secret:
            raise RecgwError("report_upload needs the fleet secret (fleet_secret= or RECGW_FLEET_SECRET)",
                             code="no_fleet_secret")
        assert call.body is not None
        headers[SIGNATURE_HEADER] = sign_report(settings.fleet_secret, call.body)
    return headers


def check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.headers, response.content)
    return response


def _json(response: httpx.Response) -> JSON:
    try:
        value = response.json()
    except ValueError as e:
        raise RecgwError("the gateway answered something that is not JSON", status=response.status_code,
                         code="invalid_response", request_id=response.headers.get("x-request-id")) from e
    if not isinstance(value, dict):
        raise RecgwError("the gateway answered JSON that is not an object", status=response.status_code,
                         code="invalid_response", request_id=response.headers.get("x-request-id"))
    return value


def _data(response: httpx.Response) -> JSON:
    data = _json(response).get("data")
    if not isinstance(data, dict):
        raise RecgwError("the gateway answered without a data object", status=response.status_code,
                         code="invalid_response", request_id=response.headers.get("x-request-id"))
    return data


def _body(doc: Mapping[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in doc.items() if v is not None}, separators=(",", ":")).encode()


def _account(settings: Settings, account_id: Optional[str], required: bool) -> Dict[str, str]:
    account = account_id or settings.account_id
    if account:
        return {"X-Account-ID": account}
    if required:
        raise RecgwError("this call needs an account id (account_id= or RECGW_ACCOUNT_ID)", code="no_account_id")
    return {}


def iso_instant(value: Union[str, _dt.datetime]) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_token(value: str) -> bool:
    return bool(_TOKEN_RE.match(value))


# ---- the calls -------------------------------------------------------------------------------

def public_query(download: bool, redirect: bool) -> Dict[str, str]:
    """?download=1 (Content-Disposition: attachment) and ?redirect=1 (302 to storage)."""
    return {k: "1" for k, on in (("download", download), ("redirect", redirect)) if on}


def public_url(settings: Settings, token: str, download: bool = False, redirect: bool = False) -> str:
    query = public_query(download, redirect)
    return (settings.base_url + ROUTES["public_recording"].url_path(token=token)
            + ("?" + urlencode(query) if query else ""))


def session_recording_url(settings: Settings, session_id: str, account_id: Optional[str]) -> Call[RecordingUrl]:
    return Call(ROUTES["session_recording_url"], lambda r: RecordingUrl.from_json(_json(r)), {"id": session_id},
                headers=_account(settings, account_id, True))


def signed_url(call_id: str, minutes: Optional[int]) -> Call[SignedUrl]:
    return Call(ROUTES["signed_url"], lambda r: SignedUrl.from_json(_json(r)),
                body=_body({"call_id": call_id, "expiration_url_in_minutes": minutes}))


def accessible_urls(session_ids: Iterable[str], expires_in: Optional[int]) -> Call[List[AccessibleUrl]]:
    return Call(ROUTES["accessible_urls"],
                lambda r: [AccessibleUrl.from_json(x) for x in _json(r)["results"]],
                body=_body({"session_ids": list(session_ids), "expires_in": expires_in}))


def mint_token(session_id: str, expires_in_s: Optional[int] = None,
               expires_at: Optional[Union[str, _dt.datetime]] = None) -> Call[TokenInfo]:
    """Without an expiry the request has no body and the link does not expire."""
    if expires_in_s is not None and expires_at is not None:
        raise RecgwError("mint_token takes at most one of expires_in_s= and expires_at=", code="bad_request")
    body = None
    if expires_in_s is not None or expires_at is not None:
        body = _body({"expires_in_s": expires_in_s,
                      "expires_at": iso_instant(expires_at) if expires_at is not None else None})
    return Call(ROUTES["mint_token"], lambda r: TokenInfo.from_json(_json(r)), {"session_id": session_id},
                body=body)


def revoke_token(session_id: str) -> Call[RevokeResult]:
    return Call(ROUTES["revoke_token"], lambda r: RevokeResult.from_json(_json(r)), {"session_id": session_id})


def warm(since: Optional[Union[str, _dt.datetime]], tokens: Optional[Iterable[str]],
         session_ids: Optional[Iterable[str]], limit: Optional[int],
         until: Optional[Union[str, _dt.datetime]] = None) -> Call[WarmResult]:
    given = [x for x in (since, tokens, session_ids) if x is not None]
    if len(given) != 1:
        raise RecgwError("warm takes exactly one of since=, tokens= or session_ids=", code="bad_request")
    if until is not None and since is None:
        raise RecgwError("warm takes until= only with since=", code="bad_request")
    return Call(ROUTES["warm"], lambda r: WarmResult.from_json(_json(r)),
                body=_body({"since": iso_instant(since) if since is not None else None,
                            "until": iso_instant(until) if until is not None else None,
                            "tokens": list(tokens) if tokens is not None else None,
                            "session_ids": list(session_ids) if session_ids is not None else None,
                            "limit": limit}))


def evict(id: str) -> Call[EvictResult]:
    return Call(ROUTES["evict"], lambda r: EvictResult.from_json(_json(r)), {"id": id})


def diagnose(id: str) -> Call[Diagnosis]:
    return Call(ROUTES["diagnose"], lambda r: Diagnosis.from_json(_json(r)), {"id": id}, query={"format": "json"})


def _head(r: httpx.Response) -> RecordingHead:
    length = r.headers.get("content-length")
    return RecordingHead(int(length) if length and length.isdigit() else None, r.headers.get("content-type"),
                         r.headers.get("etag"), r.headers.get("last-modified"),
                         r.headers.get("accept-ranges", "").lower() == "bytes")


def head(id: str) -> Call[RecordingHead]:
    """HEAD on the public route (a token) or the admin stream (a session id). A HEAD answer
    has no body, so a 410 there is a GoneError with the generic code `gone`."""
    if is_token(id):
        return Call(ROUTES["public_recording_head"], _head, {"token": id}, auth="none")
    return Call(ROUTES["session_stream_head"], _head, {"session_id": id})


def link_stats(session_id: str) -> Call[RecordingLinkStats]:
    return Call(ROUTES["link_stats"], lambda r: RecordingLinkStats.from_json(_json(r)), {"session_id": session_id})


def cache_stats() -> Call[ObjectCacheStats]:
    return Call(ROUTES["cache_stats"], lambda r: ObjectCacheStats.from_json(_json(r)))


def report_upload(session_id: str, key: str, size: int, etag: str, content_type: str,
                  duration_s: Optional[float], fleet_host: Optional[str]) -> Call[UploadReportResult]:
    return Call(ROUTES["report_upload"], lambda r: UploadReportResult.from_json(_json(r)),
                body=_body({"session_id": session_id, "key": key, "size": size, "etag": etag,
                            "content_type": content_type, "duration_s": duration_s, "fleet_host": fleet_host}),
                auth="fleet")


def room_call(name: str, room_or_recording_id: str, settings: Settings, account_id: Optional[str],
              top_level: bool = False, query: Optional[Dict[str, str]] = None) -> Call[JSON]:
    route = ROUTES[name]
    params = {"id": room_or_recording_id} if "{id}" in route.path else {}
    return Call(route, _json if top_level else _data, params, query=query or {},
                headers=_account(settings, account_id, False))


def recordings_list(settings: Settings, account_id: Optional[str], limit: Optional[int],
                    offset: Optional[int]) -> Call[JSON]:
    query = {k: str(v) for k, v in (("limit", limit), ("offset", offset)) if v is not None}
    return Call(ROUTES["recordings_list"], _json, query=query, headers=_account(settings, account_id, False))


# ---- downloads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class DownloadTarget:
    route: Route
    params: Dict[str, str]
    query: Dict[str, str]
    auth: str
    # The public route may answer 302 to storage (redirect=True, or the gateway's
    # public.mode = "redirect"); the client follows it with its Range and If-Range.
    follow_redirects: bool


def download_target(token_or_session: str, kind: str, download: bool = False,
                    redirect: bool = False) -> DownloadTarget:
    """Where a download goes: the public route for a token, the admin stream for a session id."""
    if kind not in ("auto", "token", "session"):
        raise ValueError("kind must be 'auto', 'token' or 'session'")
    if kind == "token" or (kind == "auto" and is_token(token_or_session)):
        return DownloadTarget(ROUTES["public_recording"], {"token": token_or_session},
                              public_query(download, redirect), "none", True)
    if download or redirect:
        raise ValueError("download= and redirect= apply to public tokens only (the admin stream has neither)")
    return DownloadTarget(ROUTES["session_stream"], {"session_id": token_or_session}, {}, "bearer", False)


def disposition_filename(value: Optional[str]) -> Optional[str]:
    """The file name of a Content-Disposition header: the RFC 6266 `filename*` (UTF-8,
    percent-encoded) when present, else the plain `filename`."""
    if not value:
        return None
    plain: Optional[str] = None
    for m in _DISPOSITION_PARAM.finditer(value):
        name, raw = m.group(1).lower(), m.group(2).strip()
        if name == "filename*" and "''" in raw:
            charset, _, encoded = raw.partition("''")
            try:
                return unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
        if name == "filename":
            plain = re.sub(r'\\(.)', r"\1", raw[1:-1]) if raw.startswith('"') else raw
    return plain


class Truncated(Exception):
    """The body ended before the length the gateway announced."""


class DownloadState:
    """The bytes on disk so far: `<path>.part`, with the ETag they belong to in
    `<path>.part.etag`, so a later call (resume=True) asks only for the rest — and only if
    the object is still the same (If-Range)."""

    def __init__(self, path: Union[str, "os.PathLike[str]"], resume: bool):
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.etag_file = self.path.with_name(self.path.name + ".part.etag")
        self.etag: Optional[str] = None
        self.total: Optional[int] = None
        self.disposition: Optional[str] = None
        self.filename: Optional[str] = None
        self.offset = 0
        if resume and self.part.exists() and self.etag_file.exists():
            self.etag = self.etag_file.read_text().strip() or None
            self.offset = self.part.stat().st_size if self.etag else 0
        if not self.offset:
            self.part.write_bytes(b"")
        self.resumed_from = self.offset
        self._out: Optional[Any] = None

    def request_headers(self) -> Dict[str, str]:
        if self.offset and self.etag:
            return {"Range": f"bytes={self.offset}-", "If-Range": self.etag}
        return {}

    def begin(self, response: httpx.Response) -> bool:
        """Reads the status and headers; False when the file is already complete (416 at
        its end)."""
        status = response.status_code
        if status == 416 and self.offset:
            total = response.headers.get("content-range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == self.offset:
                self.total = self.offset
                return False
            self.offset = 0  # the object shrank: start again
            raise Truncated("the object changed; starting again")
        check(response)
        if status == 206:
            first = response.headers.get("content-range", "").removeprefix("bytes ").partition("-")[0]
            if not first.isdigit() or int(first) != self.offset:
                raise RecgwError("the gateway answered another range than asked", status=status,
                                 code="invalid_range", request_id=response.headers.get("x-request-id"))
            total = response.headers.get("content-range", "").rpartition("/")[2]
            self.total = int(total) if total.isdigit() else None
            mode = "ab"
        else:  # 200: the whole object (first request, or it changed since the part was written)
            self.offset = 0
            length = response.headers.get("content-length")
            self.total = int(length) if length and length.isdigit() else None
            mode = "wb"
        self.etag = response.headers.get("etag")
        disposition = response.headers.get("content-disposition")
        self.disposition = disposition.split(";", 1)[0].strip().lower() if disposition else None
        self.filename = disposition_filename(disposition)
        self.etag_file.write_text(self.etag or "")
        self._out = open(self.part, mode)
        return True

    def write(self, chunk: bytes) -> None:
        assert self._out is not None
        self._out.write(chunk)
        self.offset += len(chunk)

    def end_attempt(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def complete(self) -> bool:
        return self.total is None or self.offset >= self.total

    def finish(self) -> None:
        self.end_attempt()
        os.replace(self.part, self.path)
        self.etag_file.unlink(missing_ok=True)

    def abandon(self) -> None:
        """The call failed for good: keep a partial file to resume later, but not an empty one."""
        self.end_attempt()
        if self.offset == 0:
            self.part.unlink(missing_ok=True)
            self.etag_file.unlink(missing_ok=True)


def backoff_seconds(attempt: int, retry_after: Optional[float] = None) -> float:
    if retry_after is not None:
        return min(max(retry_after, 0.0), 30.0)
    return min(0.2 * 2.0 ** (attempt - 1), 5.0)


def quote_segment(value: str) -> str:
    return quote(value, safe="")
