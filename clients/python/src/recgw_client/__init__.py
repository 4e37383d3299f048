"""recgw-client: Python client for the recgw recording gateway.

    from recgw_client import RecgwClient

    client = RecgwClient()                 # reads RECGW_URL and RECGW_API_KEY
    url = client.recordings.get(id="sess-1")   # needs an account: account_id= or RECGW_ACCOUNT_ID
    client.recordings.download(token, "call.ogg", progress=print)

AsyncRecgwClient has the same surface with awaitable calls.
"""

from ._async import AsyncRecgwClient
from ._errors import (AuthenticationError, BadRequestError, ConflictError, ConnectionFailedError, GoneError,
                      LinkExpiredError, LinkRevokedError, NotFoundError, PermissionDeniedError, RateLimitError,
                      RecgwError, RecordingDeletedError, RecordingFailedError, RecordingNotReadyError,
                      ServiceUnavailableError)
from ._models import (AccessibleUrl, CachedObject, Diagnosis, DownloadResult, EvictResult, LinkStats,
                      ObjectCacheStats, RecordingHead, RecordingLinkStats, RecordingUrl, RevokeResult, SignedUrl,
                      SuspectedLeak, TokenInfo, UploadReportResult, WarmResult)
from ._routes import ROUTES, Route
from ._signing import SIGNATURE_HEADER, sign_report
from ._sync import RecgwClient

__version__ = "0.1.0"

__all__ = [
    "AccessibleUrl", "AsyncRecgwClient", "AuthenticationError", "BadRequestError", "CachedObject", "ConflictError",
    "ConnectionFailedError", "Diagnosis", "DownloadResult", "EvictResult", "GoneError", "LinkExpiredError",
    "LinkRevokedError", "LinkStats", "NotFoundError", "ObjectCacheStats", "PermissionDeniedError", "ROUTES",
    "RateLimitError", "RecgwClient", "RecgwError", "RecordingDeletedError", "RecordingFailedError",
    "RecordingHead", "RecordingLinkStats", "RecordingNotReadyError", "RecordingUrl", "RevokeResult", "Route",
    "SIGNATURE_HEADER", "ServiceUnavailableError", "SignedUrl", "SuspectedLeak", "TokenInfo",
    "UploadReportResult", "WarmResult", "sign_report",
]
