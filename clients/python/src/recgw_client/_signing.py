"""The upload-report signature fleet hosts send: X-CXBCore-Signature: t=<unix>,v1=<hex
HMAC-SHA256 of "<t>.<body>"> keyed with the fleet secret."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Optional

SIGNATURE_HEADER = "X-CXBCore-Signature"


def sign_report(secret: str, body: bytes, timestamp: Optional[int] = None) -> str:
    """The header value for `body` (the exact bytes sent), signed now unless told when."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"
