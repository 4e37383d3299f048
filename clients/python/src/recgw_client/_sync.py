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
from ._models import (AccessibleUrl, Diagnosis, DownloadResult, EvictResult, ObjectCacheStats, RecordingHead,
                      RecordingLinkStats, RecordingUrl, RevokeResult, SignedUrl, TokenInfo, UploadReportResult,
                      WarmResult)

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

    def head(self, id: str) -> RecordingHead:
        """Size, type and ETag of a recording (a HEAD: nothing is downloaded and no link
        analytics are counted), by public token or session id (admin). For the per-link
        analytics see `admin.stats`."""
        return self._c._send(_core.head(id))

    def download(self, token_or_session: str, path: Union[str, "os.PathLike[str]"], *, resume: bool = True,
                 progress: Optional[ProgressCallback] = None, kind: str = "auto", max_reconnects: int = 5,
                 chunk_size: int = 64 * 1024, download: bool = False, redirect: bool = False) -> DownloadResult:
        """Downloads to `path` through `<path>.part`. A broken connection is resumed with
        Range + If-Range (up to max_reconnects times); with resume=True an earlier partial
        file is continued too. `progress(bytes_so_far, total_or_None)` is called per chunk.
        For a public token, download=True asks for `?download=1` (`disposition` comes back
        "attachment", the gateway's file name in `filename`) and redirect=True for
        `?redirect=1` (a 302 to storage, followed with the same Range/If-Range). A link that
        will not play raises a GoneError subclass (LinkRevokedError, LinkExpiredError, …);
        one still processing raises RecordingNotReadyError (retry after `retry_after`)."""
        target = _core.download_target(token_or_session, kind, download, redirect)
        route, params, auth = target.route, target.params, target.auth
        url = self._c.base_url + route.url_path(**params)
        state = _core.DownloadState(path, resume)
        reconnects = 0
        while True:
            call: Call[None] = Call(route, lambda r: None, params, headers=state.request_headers(), auth=auth)
            headers = _core.request_headers(self._c.settings, call)
            try:
                with self._c._http.stream("GET", url, params=target.query or None, headers=headers,
                                          follow_redirects=target.follow_redirects) as response:
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
                return DownloadResult(str(state.path), state.offset, state.etag, state.resumed_from, reconnects,
                                      state.disposition, state.filename)
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

    def public_url(self, token: str, *, download: bool = False, redirect: bool = False) -> str:
        """The gateway's public link for a token (no request is made); download=True adds
        `?download=1` (an attachment with the gateway's file name), redirect=True adds
        `?redirect=1` (a 302 to a presigned storage URL)."""
        return _core.public_url(self._c.settings, token, download, redirect)

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

    def mint_token(self, session_id: str, *, expires_in_s: Optional[int] = None,
                   expires_at: Optional[Union[str, _dt.datetime]] = None) -> TokenInfo:
        """Gives the call a public token (replacing any it had: see `rotated`). At most one
        of expires_in_s (seconds from now) or expires_at (a datetime, naive meaning UTC, or
        an ISO 8601 string) makes the link expire (410 `link_expired` after); the answer's
        `expires_at` is then set. Without either the link does not expire."""
        return self._c._send(_core.mint_token(session_id, expires_in_s, expires_at))

    def rotate_token(self, session_id: str, *, expires_in_s: Optional[int] = None,
                     expires_at: Optional[Union[str, _dt.datetime]] = None) -> TokenInfo:
        """A fresh token (with an optional expiry, as mint_token); the old link answers 404."""
        return self._c._send(_core.mint_token(session_id, expires_in_s, expires_at))

    def revoke_token(self, session_id: str) -> RevokeResult:
        """Revokes the token: the old link answers 410 `link_revoked` (LinkRevokedError) on
        every gateway at once. The call keeps its recording; mint_token gives a new link."""
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

    def stats(self, session_id: str) -> RecordingLinkStats:
        """Per-link analytics of a call (GET /api/v1/admin/recordings/{session_id}/stats):
        for each token it had, opens, unique clients, bytes sent, how far it was played and
        the leaked-link signal. `.for_token(token)` picks one link. For size/type/ETag of
        the recording itself see `recordings.head`."""
        return self._c._send(_core.link_stats(session_id))

    def cache_stats(self) -> ObjectCacheStats:
        """The object cache (hot recordings in memory) of the gateway worker that answers."""
        return self._c._send(_core.cache_stats())
