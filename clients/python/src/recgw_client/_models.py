"""Typed results. Each keeps the JSON it came from in `raw`, so fields the gateway adds
later are not lost."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class RecordingUrl:
    """A short-lived URL that plays a session's recording (`client.recordings.get`)."""

    url: str
    expires_at: str
    expires_in: int
    url_kind: Optional[str]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "RecordingUrl":
        return cls(d["url"], d["expires_at"], int(d["expires_in"]), d.get("url_kind"), d)


@dataclass(frozen=True)
class SignedUrl:
    file_name: str
    signed_url: str
    expiration_minutes: int
    expires_at: str
    url_kind: Optional[str]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "SignedUrl":
        return cls(d["file_name"], d["signed_url"], int(d["expiration_minutes"]), d["expires_at"],
                   d.get("url_kind"), d)


@dataclass(frozen=True)
class AccessibleUrl:
    session_id: str
    url: Optional[str]
    url_kind: Optional[str]
    expires_at: Optional[str]
    reason: Optional[str]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "AccessibleUrl":
        return cls(d["session_id"], d.get("url"), d.get("url_kind"), d.get("expires_at"), d.get("reason"))


@dataclass(frozen=True)
class TokenInfo:
    session_id: str
    token: str
    url: str
    rotated: bool
    # When the link stops working (410 `link_expired`), as the gateway wrote it (ISO 8601);
    # None for a link without expiry.
    expires_at: Optional[str] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "TokenInfo":
        return cls(d["session_id"], d["token"], d["url"], bool(d["rotated"]), d.get("expires_at"))


@dataclass(frozen=True)
class RevokeResult:
    session_id: str
    revoked: bool

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "RevokeResult":
        return cls(d["session_id"], bool(d["revoked"]))


@dataclass(frozen=True)
class WarmResult:
    warmed: int
    missing: int
    without_recording: int
    redis_failed: int

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "WarmResult":
        return cls(int(d["warmed"]), int(d["missing"]), int(d["without_recording"]), int(d["redis_failed"]))


@dataclass(frozen=True)
class EvictResult:
    evicted: bool
    redis: bool

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "EvictResult":
        return cls(bool(d["evicted"]), bool(d["redis"]))


@dataclass(frozen=True)
class Diagnosis:
    subject: str
    servable: bool
    verdict: str
    steps: List[Dict[str, Any]]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Diagnosis":
        return cls(d["subject"], bool(d["servable"]), d["verdict"], list(d["steps"]), d)


@dataclass(frozen=True)
class RecordingHead:
    """What a HEAD on the recording says, without downloading it (`recordings.head`)."""

    size: Optional[int]
    content_type: Optional[str]
    etag: Optional[str]
    last_modified: Optional[str]
    accepts_ranges: bool


@dataclass(frozen=True)
class SuspectedLeak:
    """The leaked-link signal: hours in which more distinct client addresses than the
    gateway's `analytics.leak_clients_per_hour` fetched the link, and the latest such hour."""

    warnings: int
    clients_in_hour: Optional[int] = None
    at: Optional[str] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "SuspectedLeak":
        clients = d.get("clients_in_hour")
        return cls(int(d["warnings"]), int(clients) if clients is not None else None, d.get("at"))


@dataclass(frozen=True)
class LinkStats:
    """The analytics of one public token the call had (current, rotated or revoked)."""

    token_sha256: str          # SHA-256 (hex) of the token; the gateway never stores the token
    opens: int                 # GETs without Range or with a Range from byte 0
    unique_clients: int        # HyperLogLog estimate of distinct client addresses
    bytes_sent: int
    furthest_byte: int         # one past the furthest byte delivered
    object_size: Optional[int]
    played_fraction: Optional[float]  # furthest_byte / object_size, at most 1
    first_access: Optional[str]
    last_access: Optional[str]
    suspected_leak: SuspectedLeak

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "LinkStats":
        size = d.get("object_size")
        fraction = d.get("played_fraction")
        return cls(d["token_sha256"], int(d["opens"]), int(d["unique_clients"]), int(d["bytes_sent"]),
                   int(d["furthest_byte"]), int(size) if size is not None else None,
                   float(fraction) if fraction is not None else None, d.get("first_access"), d.get("last_access"),
                   SuspectedLeak.from_json(d["suspected_leak"]))


@dataclass(frozen=True)
class RecordingLinkStats:
    """`admin.stats(session_id)`: per-link analytics of a call (an empty `links` when no link
    was ever played). Flushed from the gateway's workers every `analytics.flush_ms`, so the
    latest interval may be missing."""

    session_id: str
    links: List[LinkStats]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "RecordingLinkStats":
        return cls(d["session_id"], [LinkStats.from_json(x) for x in d["links"]], d)

    def for_token(self, token: str) -> Optional[LinkStats]:
        """The stats of this token (matched by its SHA-256), or None if it was never played."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        return next((link for link in self.links if link.token_sha256 == digest), None)


@dataclass(frozen=True)
class CachedObject:
    key: str              # the storage key (entries are never named by token)
    hits: int
    bytes: int
    etag: str
    validated_s_ago: int

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "CachedObject":
        return cls(d["key"], int(d["hits"]), int(d["bytes"]), d["etag"], int(d["validated_s_ago"]))


@dataclass(frozen=True)
class ObjectCacheStats:
    """`admin.cache_stats()`: the object cache of the gateway worker that answered (each
    worker has its own). Only `enabled` (False) when the cache is off."""

    enabled: bool
    budget_bytes: Optional[int] = None
    object_max_bytes: Optional[int] = None
    object_fresh_s: Optional[int] = None
    object_admit_after: Optional[int] = None
    bytes: Optional[int] = None
    entries: Optional[int] = None
    evictions: Optional[int] = None
    top: List[CachedObject] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "ObjectCacheStats":
        def num(name: str) -> Optional[int]:
            return int(d[name]) if d.get(name) is not None else None
        return cls(bool(d["enabled"]), num("budget_bytes"), num("object_max_bytes"), num("object_fresh_s"),
                   num("object_admit_after"), num("bytes"), num("entries"), num("evictions"),
                   [CachedObject.from_json(x) for x in d.get("top", [])], d)


@dataclass(frozen=True)
class UploadReportResult:
    session_id: str
    public_url: Optional[str]  # None: the call's link was revoked and a report does not bring it back
    token_created: bool
    link_revoked: bool = False

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "UploadReportResult":
        return cls(d["session_id"], d.get("public_url"), bool(d["token_created"]), bool(d.get("link_revoked")))


@dataclass(frozen=True)
class DownloadResult:
    path: str
    size: int
    etag: Optional[str]
    resumed_from: int  # bytes already on disk when this call started (0: from scratch)
    reconnects: int    # connections that broke and were resumed during this call
    # The gateway's Content-Disposition: its type ("attachment" when downloading a public link
    # with download=True, else "inline") and file name (`filename*` preferred); None without one.
    disposition: Optional[str] = None
    filename: Optional[str] = None
