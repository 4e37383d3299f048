"""Every gateway route this client calls, in one table.

The client builds its requests from this table only, and the test suite checks each entry
against the gateway's /openapi.json (method, path, parameters, response fields), so the
client and the document cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI template, e.g. "/api/v1/admin/diagnose/{id}"
    query: Tuple[str, ...] = ()
    headers: Tuple[str, ...] = ()
    # Fields of the 2xx JSON body this client reads ("data.id" walks into objects; "[]"
    # into array items). Empty for byte streams and HEAD.
    response_fields: Tuple[str, ...] = ()
    body_fields: Tuple[str, ...] = ()
    status: str = "200"

    def url_path(self, **params: str) -> str:
        from urllib.parse import quote

        out = self.path
        for name, value in params.items():
            out = out.replace("{" + name + "}", quote(str(value), safe=""))
        return out


_RECORDING = ("id", "room_id", "tenant_id", "status", "started_at", "stopped_at", "duration_seconds",
              "size_bytes", "created_at")

_LINK_STATS = ("token_sha256", "opens", "unique_clients", "bytes_sent", "furthest_byte", "object_size",
               "played_fraction", "first_access", "last_access", "suspected_leak", "suspected_leak.warnings",
               "suspected_leak.clients_in_hour", "suspected_leak.at")

ROUTES: Dict[str, Route] = {
    "public_recording": Route("GET", "/api/v1/public/recordings/{token}", query=("download", "redirect"),
                              headers=("Range", "If-Range")),
    "public_recording_head": Route("HEAD", "/api/v1/public/recordings/{token}"),
    "session_stream": Route("GET", "/api/v1/recordings/{session_id}", headers=("Range", "If-Range")),
    "session_stream_head": Route("HEAD", "/api/v1/recordings/{session_id}"),
    "session_recording_url": Route("GET", "/api/v1/sessions/{id}/recording", headers=("X-Account-ID",),
                                   response_fields=("url", "expires_at", "expires_in", "url_kind")),
    "signed_url": Route("POST", "/v1/call-recording/signed-url",
                        body_fields=("call_id", "expiration_url_in_minutes"),
                        response_fields=("file_name", "signed_url", "expiration_minutes", "expires_at",
                                         "url_kind")),
    "accessible_urls": Route("POST", "/api/v1/admin/calls/accessible-urls",
                             body_fields=("session_ids", "expires_in"),
                             response_fields=("results", "results[].session_id", "results[].url",
                                              "results[].url_kind", "results[].expires_at",
                                              "results[].reason")),
    "mint_token": Route("POST", "/api/v1/admin/recordings/{session_id}/token",
                        body_fields=("expires_in_s", "expires_at"),
                        response_fields=("session_id", "token", "url", "rotated", "expires_at")),
    "revoke_token": Route("DELETE", "/api/v1/admin/recordings/{session_id}/token",
                          response_fields=("session_id", "revoked")),
    "warm": Route("POST", "/api/v1/admin/cache/warm", body_fields=("tokens", "session_ids", "since", "until", "limit"),
                  response_fields=("warmed", "missing", "without_recording", "redis_failed")),
    "link_stats": Route("GET", "/api/v1/admin/recordings/{session_id}/stats",
                        response_fields=("session_id", "links") + tuple("links[]." + f for f in _LINK_STATS)),
    "cache_stats": Route("GET", "/api/v1/admin/cache/stats",
                         response_fields=("enabled", "budget_bytes", "object_max_bytes", "object_fresh_s",
                                          "object_admit_after", "bytes", "entries", "evictions", "top",
                                          "top[].key", "top[].hits", "top[].bytes", "top[].etag",
                                          "top[].validated_s_ago")),
    "evict": Route("DELETE", "/api/v1/admin/cache/{id}", response_fields=("evicted", "redis")),
    "diagnose": Route("GET", "/api/v1/admin/diagnose/{id}", query=("format",),
                      response_fields=("subject", "servable", "verdict", "steps")),
    "report_upload": Route("POST", "/api/v1/fleet/recordings",
                           body_fields=("session_id", "key", "size", "etag", "content_type", "duration_s",
                                        "fleet_host"),
                           response_fields=("session_id", "public_url", "token_created", "link_revoked")),
    "room_start": Route("POST", "/api/v1/rooms/{id}/recordings/start", headers=("X-Account-ID",),
                        response_fields=("data", "data.id", "data.room_id", "data.status", "data.started_at")),
    "room_stop": Route("POST", "/api/v1/rooms/{id}/recordings/stop", headers=("X-Account-ID",),
                       response_fields=("data", "data.id", "data.status", "data.stopped_at")),
    "room_sync": Route("POST", "/api/v1/rooms/{id}/recordings/sync", headers=("X-Account-ID",),
                       response_fields=("data", "data.synced_count", "data.recordings")),
    "recordings_list": Route("GET", "/api/v1/recordings", query=("limit", "offset"), headers=("X-Account-ID",),
                             response_fields=("data", "meta", "meta.total", "meta.limit", "meta.offset")
                             + tuple("data[]." + f for f in _RECORDING)),
    "recording_get": Route("GET", "/api/v1/recordings/{id}", headers=("X-Account-ID",),
                           response_fields=("data",) + tuple("data." + f for f in _RECORDING)),
    "recording_download": Route("GET", "/api/v1/recordings/{id}/download", headers=("X-Account-ID",),
                                response_fields=("recording_id", "status", "download_url")),
    "recording_archive": Route("POST", "/api/v1/recordings/{id}/archive", headers=("X-Account-ID",),
                               response_fields=("data", "data.id", "data.status", "data.archived_at")),
    "recording_recover": Route("POST", "/api/v1/recordings/{id}/recover", headers=("X-Account-ID",),
                               response_fields=("data", "data.id", "data.status")),
    "recording_delete": Route("DELETE", "/api/v1/recordings/{id}", headers=("X-Account-ID",),
                              response_fields=("data", "data.id", "data.deleted", "data.deleted_at")),
}

__all__ = ["Route", "ROUTES"]
