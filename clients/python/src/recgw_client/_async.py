"""The asyncio client: AsyncRecgwClient(), the surface of RecgwClient with awaitable calls."""

from __future__ import annotations

import datetime as _dt
import os
import asyncio
from typing import Any, Iterable, List, Optional, TypeVar, Union

import httpx

from . import _core
from ._core import Call, JSON, ProgressCallback, Settings
from ._errors import ConnectionFailedError
from ._models import (AccessibleUrl, Diagnosis, DownloadResult, EvictResult, ObjectCacheStats, RecordingHead,
                      RecordingLinkStats, RecordingUrl, RevokeResult, SignedUrl, TokenInfo, UploadReportResult,
                      WarmResult)

T = TypeVar("T")


class AsyncRecgwClient:
    """A client for one gateway.

        client = AsyncRecgwClient()   # RECGW_URL, RECGW_API_KEY (and RECGW_ACCOUNT_ID, RECGW_FLEET_SECRET)
        await client.recordings.get(id="sess-1")

    Calls hang off `recordings`, `links`, `rooms` and `admin`. Every failure raises a
    RecgwError (status, code, request_id). Use it as an async context manager, or await aclose().
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, *,
                 account_id: Optional[str] = None, fleet_secret: Optional[str] = None, timeout: float = 30.0,
                 http_client: Optional[httpx.AsyncClient] = None):
        self._settings = _core.resolve_settings(base_url, api_key, account_id, fleet_secret, timeout)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self.recordings = AsyncRecordings(self)
        self.links = AsyncLinks(self)
        self.rooms = AsyncRooms(self)
        self.admin = AsyncAdmin(self)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def settings(self) -> Settings:
        return self._settings

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncRecgwClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def _send(self, call: Call[T]) -> T:
        headers = _core.request_headers(self._settings, call)
        try:
            response = await self._http.request(call.route.method, self._settings.base_url + call.path(),
                                          params=call.query or None, headers=headers, content=call.body)
        except httpx.TransportError as e:
            raise ConnectionFailedError(f"{call.route.method} {call.route.path}: {e}",
                                        code="connection_failed") from e
        return call.parse(_core.check(response))


class AsyncRecordings:
    def __init__(self, client: AsyncRecgwClient):
        self._c = client

    async def get(self, id: str, *, account_id: Optional[str] = None) -> RecordingUrl:
        """The session's recording as a 5-minute presigned URL (GET /api/v1/sessions/{id}/recording)."""
        return await self._c._send(_core.session_recording_url(self._c.settings, id, account_id))

    async def head(self, id: str) -> RecordingHead:
        """Size, type and ETag of a recording (a HEAD: nothing is downloaded and no link
        analytics are counted), by public token or session id (admin). For the per-link
        analytics see `admin.stats`."""
        return await self._c._send(_core.head(id))

    async def download(self, token_or_session: str, path: Union[str, "os.PathLike[str]"], *, resume: bool = True,
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
                async with self._c._http.stream("GET", url, params=target.query or None, headers=headers,
                                                follow_redirects=target.follow_redirects) as response:
                    if not response.is_success and response.status_code != 416:
                        await response.aread()
                    if state.begin(response):
                        async for chunk in response.aiter_bytes(chunk_size):
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
                await asyncio.sleep(_core.backoff_seconds(reconnects))
            except BaseException:
                state.abandon()
                raise

    async def report_upload(self, session_id: str, key: str, size: int, etag: str, content_type: str, *,
                      duration_s: Optional[float] = None, fleet_host: Optional[str] = None) -> UploadReportResult:
        """What a fleet host sends after an upload, signed with the fleet secret
        (POST /api/v1/fleet/recordings)."""
        return await self._c._send(
            _core.report_upload(session_id, key, size, etag, content_type, duration_s, fleet_host))


class AsyncLinks:
    def __init__(self, client: AsyncRecgwClient):
        self._c = client

    def public_url(self, token: str, *, download: bool = False, redirect: bool = False) -> str:
        """The gateway's public link for a token (no request is made); download=True adds
        `?download=1` (an attachment with the gateway's file name), redirect=True adds
        `?redirect=1` (a 302 to a presigned storage URL)."""
        return _core.public_url(self._c.settings, token, download, redirect)

    async def signed_url(self, call_id: str, minutes: Optional[int] = None) -> SignedUrl:
        """A presigned URL (or the gateway's link for a fleet-only recording) valid `minutes`."""
        return await self._c._send(_core.signed_url(call_id, minutes))

    async def session_recording_url(self, session_id: str, account_id: Optional[str] = None) -> RecordingUrl:
        return await self._c._send(_core.session_recording_url(self._c.settings, session_id, account_id))

    async def accessible_urls(self, session_ids: Iterable[str],
                              expires_in: Optional[int] = None) -> List[AccessibleUrl]:
        """Admin: for each call, a URL a client can play now, or the reason there is none."""
        return await self._c._send(_core.accessible_urls(session_ids, expires_in))


class AsyncRooms:
    """The rooms recording lifecycle (tenant JWT or API key; X-Account-ID for admins)."""

    def __init__(self, client: AsyncRecgwClient):
        self._c = client

    async def _room(self, name: str, id: str, account_id: Optional[str], top_level: bool = False) -> JSON:
        return await self._c._send(_core.room_call(name, id, self._c.settings, account_id, top_level))

    async def start(self, room_id: str, *, account_id: Optional[str] = None) -> JSON:
        return await self._room("room_start", room_id, account_id)

    async def stop(self, room_id: str, *, account_id: Optional[str] = None) -> JSON:
        return await self._room("room_stop", room_id, account_id)

    async def sync(self, room_id: str, *, account_id: Optional[str] = None) -> JSON:
        return await self._room("room_sync", room_id, account_id)

    async def list(self, *, limit: Optional[int] = None, offset: Optional[int] = None,
             account_id: Optional[str] = None) -> JSON:
        """{"data": [...], "meta": {"total", "limit", "offset"}}"""
        return await self._c._send(_core.recordings_list(self._c.settings, account_id, limit, offset))

    async def get(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return await self._room("recording_get", recording_id, account_id)

    async def download_url(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        """{"recording_id", "status", "download_url", …}; no URL while still processing."""
        return await self._room("recording_download", recording_id, account_id, top_level=True)

    async def archive(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return await self._room("recording_archive", recording_id, account_id)

    async def recover(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return await self._room("recording_recover", recording_id, account_id)

    async def delete(self, recording_id: str, *, account_id: Optional[str] = None) -> JSON:
        return await self._room("recording_delete", recording_id, account_id)


class AsyncAdmin:
    """Admin routes (a JWT with the platform admin role)."""

    def __init__(self, client: AsyncRecgwClient):
        self._c = client

    async def mint_token(self, session_id: str, *, expires_in_s: Optional[int] = None,
                   expires_at: Optional[Union[str, _dt.datetime]] = None) -> TokenInfo:
        """Gives the call a public token (replacing any it had: see `rotated`). At most one
        of expires_in_s (seconds from now) or expires_at (a datetime, naive meaning UTC, or
        an ISO 8601 string) makes the link expire (410 `link_expired` after); the answer's
        `expires_at` is then set. Without either the link does not expire."""
        return await self._c._send(_core.mint_token(session_id, expires_in_s, expires_at))

    async def rotate_token(self, session_id: str, *, expires_in_s: Optional[int] = None,
                     expires_at: Optional[Union[str, _dt.datetime]] = None) -> TokenInfo:
        """A fresh token (with an optional expiry, as mint_token); the old link answers 404."""
        return await self._c._send(_core.mint_token(session_id, expires_in_s, expires_at))

    async def revoke_token(self, session_id: str) -> RevokeResult:
        """Revokes the token: the old link answers 410 `link_revoked` (LinkRevokedError) on
        every gateway at once. The call keeps its recording; mint_token gives a new link."""
        return await self._c._send(_core.revoke_token(session_id))

    async def warm(self, *, since: Optional[Union[str, _dt.datetime]] = None,
                   tokens: Optional[Iterable[str]] = None,
                   session_ids: Optional[Iterable[str]] = None, limit: Optional[int] = None,
                   until: Optional[Union[str, _dt.datetime]] = None) -> WarmResult:
        """Copies lookups from MongoDB into Redis: calls created since a time (and before
        `until`), or these ids."""
        return await self._c._send(_core.warm(since, tokens, session_ids, limit, until))

    async def evict(self, id: str) -> EvictResult:
        return await self._c._send(_core.evict(id))

    async def diagnose(self, id: str) -> Diagnosis:
        """Why a token or session id does (not) play."""
        return await self._c._send(_core.diagnose(id))

    async def stats(self, session_id: str) -> RecordingLinkStats:
        """Per-link analytics of a call (GET /api/v1/admin/recordings/{session_id}/stats):
        for each token it had, opens, unique clients, bytes sent, how far it was played and
        the leaked-link signal. `.for_token(token)` picks one link. For size/type/ETag of
        the recording itself see `recordings.head`."""
        return await self._c._send(_core.link_stats(session_id))

    async def cache_stats(self) -> ObjectCacheStats:
        """The object cache (hot recordings in memory) of the gateway worker that answers."""
        return await self._c._send(_core.cache_stats())
