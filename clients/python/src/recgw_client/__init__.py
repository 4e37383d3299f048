"""recgw-client: Python client for the recgw recording gateway.

    from recgw_client import RecgwClient

    client = RecgwClient()                 # reads RECGW_URL and RECGW_API_KEY
    url = client.recordings.get(id="sess-1")   # needs an account: account_id= or RECGW_ACCOUNT_ID
    client.recordings.download(token, "call.ogg", progress=print)

AsyncRecgwClient has the same surface with awaitable calls.
"""

from ._async import AsyncRecgwClient
from ._errors import (AuthenticationError, BadRequestError, ConflictError, ConnectionFailedError, NotFoundError,
                      PermissionDeniedError, RateLimitError, RecgwError, ServiceUnavailableError)
from ._models import (AccessibleUrl, Diagnosis, DownloadResult, EvictResult, RecordingStats, RecordingUrl,
                      RevokeResult, SignedUrl, TokenInfo, UploadReportResult, WarmResult)
from ._routes import ROUTES, Route
from ._signing import SIGNATURE_HEADER, sign_report
from ._sync import RecgwClient

__version__ = "0.1.0"

__all__ = [
    "AccessibleUrl", "AsyncRecgwClient", "AuthenticationError", "BadRequestError", "ConflictError",
    "ConnectionFailedError", "Diagnosis", "DownloadResult", "EvictResult", "NotFoundError", "PermissionDeniedError",
    "ROUTES", "RateLimitError", "RecgwClient", "RecgwError", "RecordingStats", "RecordingUrl", "RevokeResult",
    "Route", "SIGNATURE_HEADER", "ServiceUnavailableError", "SignedUrl", "TokenInfo", "UploadReportResult",
    "WarmResult", "sign_report",
]
