"""The blocking client: RecgwClient()."""

from __future__ import annotations

import datetime as _dt
import os
import time
from typing import Any, Iterable, List, Optional, TypeVar, Union

import httpx

from . import _core
from ._core import Call, JSON, ProgressCallback, Settings
from ._errors import ConnectionFailedError
from ._models import (AccessibleUrl, Diagnosis, DownloadResult, EvictResult, RecordingStats, RecordingUrl,
                      RevokeResult, SignedUrl, TokenInfo, UploadReportResult, WarmResult)

T = TypeVar("T")


class RecgwClient:
    """A client for one gateway.

        client = RecgwClient()   # RECGW_URL, RECGW_API_KEY (and RECGW_ACCOUNT_ID, RECGW_FLEET_SECRET)
        client.recordings.get(id="sess-1")

    Calls hang off `recordings`, `links`, `rooms` and `admin`. Every failure raises a
    RecgwError (status, code, request_id). Use it as a context manager, or close() it.
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, *,
                 account_id: Optional[str] = None, fleet_secret: Optional[str] = None, timeout: float = 30.0,
                 http_client: Optional[httpx.Client] = None):
        self._settings = _core.resolve_settings(base_url, api_key, account_id, fleet_secret, timeout)
        self._http = http_client or httpx.Client(timeout=timeout)
        self.recordings = Recordings(self)
        self.links = Links(self)
        self.rooms = Rooms(self)
        self.admin = Admin(self)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def settings(self) -> Settings:
        return self._settings

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RecgwClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        headers = _core.request_headers(self._settings, call)
        try:
            response = self._http.request(call.route.method, self._settings.base_url + call.path(),
                                          params=call.query or None, headers=headers, content=call.body)
        except httpx.TransportError as e:
            raise ConnectionFailedError(f"{call.route.method} {call.route.path}: {e}",
                                        code="connection_failed") from e
        return call.parse(_core.check(response))


class Recordings:
    def __init__(self, client: RecgwClient):
        self._c = client

    def get(self, id: str, *, account_id: Optional[str] = None) -> RecordingUrl:
        """The session's recording as a 5-minute presigned URL (GET /api/v1/sessions/{id}/recording)."""
        return self._c._send(_core.session_recording_url(self._c.settings, id, account_id))

    def stats(self, id: str) -> RecordingStats:
        """Size, type and ETag of a recording (HEAD), by public token or session id (admin)."""
        return self._c._send(_core.stats(id))

    def download(self, token_or_session: str, path: Union[str, "os.PathLike[str]"], *, resume: bool = True,
                 progress: Optional[ProgressCallback] = None, kind: str = "auto", max_reconnects: int = 5,
                 chunk_size: int = 64 * 1024) -> DownloadResult:
        """Downloads to `path` through `<path>.part`. A broken connection is resumed with
        Range + If-Range (up to max_reconnects times); with resume=True an earlier partial
        file is continued too. `progress(bytes_so_far, total_or_None)` is called per chunk."""
        route, params, auth = _core.download_target(token_or_session, kind)
        url = self._c.base_url + route.url_path(**params)
        state = _core.DownloadState(path, resume)
        reconnects = 0
        while True:
            call: Call[None] = Call(route, lambda r: None, params, headers=state.request_headers(), auth=auth)
            headers = _core.request_headers(self._c.settings, call)
            try:
                with self._c._http.stream("GET", url, headers=headers) as response:
                    if not response.is_success and response.status_code != 416:
                        response.read()
                    if state.begin(response):
                        for chunk in response.iter_bytes(chunk_size):
                            state.write(chunk)
                            if progress:
                                progress(state.offset, state.total)
                state.end_attempt()
                if not state.complete():
                    raise _core.Truncated(f"{state.offset} of {state.total} bytes")
                state.finish()
                return DownloadResult(str(state.path), state.offset, state.etag, state.resumed_from, reconnects)
            except (httpx.TransportError, _core.Truncated) as e:
                state.end_attempt()
                reconnects += 1
                if reconnects > max_reconnects:
                    state.abandon()
                    raise ConnectionFailedError(f"download of {route.path} broke {reconnects} times: {e}",
                                                code="connection_failed") from e
                time.sleep(_core.backoff_seconds(reconnects))
            except BaseException:
                state.abandon()
                raise

    def report_upload(self, session_id: str, key: str, size: int, etag: str, content_type: str, *,
                      duration_s: Optional[float] = None, fleet_host: Optional[str] = None) -> UploadReportResult:
        """What a fleet host sends after an upload, signed with the fleet secret
        (POST /api/v1/fleet/recordings)."""
        return self._c._send(_core.report_upload(session_id, key, size, etag, content_type, duration_s, fleet_host))


class Links:
    def __init__(self, client: RecgwClient):
        self._c = client

    def public_url(self, token: str) -> str:
        """The gateway's public link for a token (no request is made)."""
        return _core.public_url(self._c.settings, token)

    def signed_url(self, call_id: str, minutes: Optional[int] = None) -> SignedUrl:
        """A presigned URL (or the gateway's link for a fleet-only recording) valid `minutes`."""
        return self._c._send(_core.signed_url(call_id, minutes))

    def session_recording_url(self, session_id: str, account_id: Optional[str] = None) -> RecordingUrl:
        return self._c._send(_core.session_recording_url(self._c.settings, session_id, account_id))

    def accessible_urls(self, session_ids: Iterable[str], expires_in: Optional[int] = None) -> List[AccessibleUrl]:
        """Admin: for each call, a URL a client can play now, or the reason there is none."""
        return self._c._send(_core.accessible_urls(session_ids, expires_in))


class Rooms:
    """The rooms recording lifecycle (tenant JWT or API key; X-Account-ID for admins)."""

    def __init__(self, client: RecgwClient):
        self._c = client

    def _room(self, name: str, id: str, account_id: Optional[str], top_level: bool = False) -> JSON:
        return self._c._send(_core.room_call(name, id, self._c.settings, account_id, top_level))

    def start(self, room_id: str, *, account_id: Optional[str] = None) -> JSON:
        return self._room("room_start", room_id, account_id)

    def stop(self, room_id: str, *, account_id: Optional[str] = None) -> JSON:
        return self._room("room_stop", room_id, account_id)

    def sync(self, room_id: str, *, account_id: Optional[str] = None) -> JSON:
        return self._room("room_sync", room_id, account_id)

    def list(self, *, limit: Optional[int] = None, offset: Optional[int] = None,
             account_id: Optional[str] = None) -> JSON:
        """{"data": [...], "meta": {"total", "limit", "offset"}}"""
        return self._c._send(_core.recordings_list(self._c.settings, account_id, limit, offset))

    def get(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return self._room("recording_get", recording_id, account_id)

    def download_url(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        """{"recording_id", "status", "download_url", …}; no URL while still processing."""
        return self._room("recording_download", recording_id, account_id, top_level=True)

    def archive(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return self._room("recording_archive", recording_id, account_id)

    def recover(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return self._room("recording_recover", recording_id, account_id)

    def delete(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return self._room("recording_delete", recording_id, account_id)


class Admin:
    """Admin routes (a JWT with the platform admin role)."""

    def __init__(self, client: RecgwClient):
        self._c = client

    def mint_token(self, session_id: str) -> TokenInfo:
        """Gives the call a public token (replacing any it had: see `rotated`)."""
        return self._c._send(_core.mint_token(session_id))

    def rotate_token(self, session_id: str) -> TokenInfo:
        """A fresh token; the old link stops working."""
        return self._c._send(_core.mint_token(session_id))

    def revoke_token(self, session_id: str) -> RevokeResult:
        """Removes the token: the public link stops working."""
        return self._c._send(_core.revoke_token(session_id))

    def warm(self, *, since: Optional[Union[str, _dt.datetime]] = None, tokens: Optional[Iterable[str]] = None,
             session_ids: Optional[Iterable[str]] = None, limit: Optional[int] = None,
             until: Optional[Union[str, _dt.datetime]] = None) -> WarmResult:
        """Copies lookups from MongoDB into Redis: calls created since a time (and before
        `until`), or these ids."""
        return self._c._send(_core.warm(since, tokens, session_ids, limit, until))

    def evict(self, id: str) -> EvictResult:
        return self._c._send(_core.evict(id))

    def diagnose(self, id: str) -> Diagnosis:
        """Why a token or session id does (not) play."""
        return self._c._send(_core.diagnose(id))

    def stats(self, id: str) -> RecordingStats:
        return self._c._send(_core.stats(id))
