"""Exceptions: every failed call raises a RecgwError carrying the API's error code and the
request id the gateway gave it (quote it when asking what happened: the gateway's access
log has the same id)."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple, Type

# Routes whose error bodies are plain JSON strings (the session URL route) get a code
# derived from the status, so callers can branch on `code` everywhere.
_CODE_BY_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                   409: "conflict", 410: "gone", 422: "validation_error", 429: "rate_limited", 500: "internal",
                   502: "bad_gateway", 503: "unavailable", 504: "gateway_timeout"}


class RecgwError(Exception):
    """A call the gateway answered with an error status (or that could not be made)."""

    def __init__(self, message: str, *, status: Optional[int] = None, code: Optional[str] = None,
                 request_id: Optional[str] = None, body: Any = None, retry_after: Optional[float] = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed later: 429, 503 (wait `retry_after` seconds
        when given) or a connection that could not be made."""
        return self.status in (429, 503) or self.code == "connection_failed"

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " | ".join(parts)


class BadRequestError(RecgwError):
    """400 or 422: the request itself is wrong."""


class AuthenticationError(RecgwError):
    """401: no, or an invalid, API key / JWT / fleet signature."""


class PermissionDeniedError(RecgwError):
    """403: valid credentials without the right role or account."""


class NotFoundError(RecgwError):
    """404."""


class ConflictError(RecgwError):
    """409: e.g. a recording not ready yet, or an upload report for an object that is missing."""


class GoneError(RecgwError):
    """410: the public link will not play again. `code` says why: `link_revoked`,
    `link_expired`, `recording_deleted` or `recording_failed` (each has its own subclass
    below). A HEAD answer has no body: its code is the generic `gone`."""


class LinkRevokedError(GoneError):
    """410 `link_revoked`: the token was revoked (`admin.revoke_token`); mint a new one."""


class LinkExpiredError(GoneError):
    """410 `link_expired`: past the link's `expires_at`; mint a new one."""


class RecordingDeletedError(GoneError):
    """410 `recording_deleted`: the call's recording was deleted."""


class RecordingFailedError(GoneError):
    """410 `recording_failed`: the recording failed and there is nothing to play."""


class RateLimitError(RecgwError):
    """429: retry after `retry_after` seconds."""


class ServiceUnavailableError(RecgwError):
    """503: a dependency is down or busy; retry after `retry_after` seconds."""


class RecordingNotReadyError(ServiceUnavailableError):
    """503 `recording_not_ready`: the recording is still processing or uploading; retry after
    `retry_after` seconds (the gateway's `public.retry_after_s`)."""


class ConnectionFailedError(RecgwError):
    """The gateway could not be reached, or the connection broke (no HTTP status)."""


_CLASS_BY_STATUS: Dict[int, Type[RecgwError]] = {400: BadRequestError, 422: BadRequestError,
                                                 401: AuthenticationError, 403: PermissionDeniedError,
                                                 404: NotFoundError, 409: ConflictError, 429: RateLimitError,
                                                 410: GoneError, 503: ServiceUnavailableError}
# A more specific class for the codes the public route answers (by status, then code).
_CLASS_BY_CODE: Dict[Tuple[int, str], Type[RecgwError]] = {
    (410, "link_revoked"): LinkRevokedError, (410, "link_expired"): LinkExpiredError,
    (410, "recording_deleted"): RecordingDeletedError, (410, "recording_failed"): RecordingFailedError,
    (503, "recording_not_ready"): RecordingNotReadyError}


def error_from_response(status: int, headers: Any, content: bytes) -> RecgwError:
    """The exception for an error answer: `{"error": code, "message": …}`, a FastAPI-style
    `{"detail": …}`, or a JSON string."""
    body: Any = None
    code: Optional[str] = None
    message = f"HTTP {status}"
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", "replace")[:500] or None
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            code = body["error"]
        if isinstance(body.get("message"), str):
            message = body["message"]
        elif "detail" in body:
            message = json.dumps(body["detail"])[:500]
    elif isinstance(body, str) and body:
        message = body
    if code is None:
        code = _CODE_BY_STATUS.get(status, "http_error")
    retry_after: Optional[float] = None
    raw_retry = headers.get("retry-after") if headers is not None else None
    if raw_retry:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    request_id = headers.get("x-request-id") if headers is not None else None
    cls = _CLASS_BY_CODE.get((status, code)) or _CLASS_BY_STATUS.get(status, RecgwError)
    return cls(message, status=status, code=code, request_id=request_id, body=body, retry_after=retry_after)
