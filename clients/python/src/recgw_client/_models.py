"""Typed results. Each keeps the JSON it came from in `raw`, so fields the gateway adds
later are not lost."""

from __future__ import annotations

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

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "TokenInfo":
        return cls(d["session_id"], d["token"], d["url"], bool(d["rotated"]))


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
class RecordingStats:
    """What a HEAD on the recording says, without downloading it."""

    size: Optional[int]
    content_type: Optional[str]
    etag: Optional[str]
    last_modified: Optional[str]
    accepts_ranges: bool


@dataclass(frozen=True)
class UploadReportResult:
    session_id: str
    public_url: str
    token_created: bool

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "UploadReportResult":
        return cls(d["session_id"], d["public_url"], bool(d["token_created"]))


@dataclass(frozen=True)
class DownloadResult:
    path: str
    size: int
    etag: Optional[str]
    resumed_from: int  # bytes already on disk when this call started (0: from scratch)
    reconnects: int    # connections that broke and were resumed during this call
