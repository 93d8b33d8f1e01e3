"""HMAC-SHA256 signatures shared by the carrier adapter and the carrier simulator.

A message is signed over ``"<unix timestamp>.<raw body>"``; the timestamp travels in ``X-Carrier-Timestamp``
and the hex digest in ``X-Carrier-Signature``. Verification compares in constant time and refuses messages
whose timestamp is more than ``max_age`` seconds away from now (either way), so a captured message cannot be
replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Carrier-Timestamp"
SIGNATURE_HEADER = "X-Carrier-Signature"


class SignatureError(Exception):
    pass


def sign(secret: str, timestamp: int, body: bytes) -> str:
    if not secret:
        raise SignatureError("no shared secret configured")
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None, age: float = 0.0) -> dict[str, str]:
    """Headers for ``body``; ``age`` signs it as if sent that many seconds ago (for stale-message tests)."""
    timestamp = int((time.time() if now is None else now) - age)
    return {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value.strip()
    return ""


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, max_age: int, now: float | None = None) -> None:
    """Raise ``SignatureError`` unless ``body`` carries a valid, fresh signature made with ``secret``."""
    if not secret:
        raise SignatureError("no shared secret configured")
    raw_timestamp, signature = _header(headers, TIMESTAMP_HEADER), _header(headers, SIGNATURE_HEADER)
    if not raw_timestamp or not signature:
        raise SignatureError("missing signature headers")
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
        raise SignatureError("malformed timestamp")
    timestamp = int(raw_timestamp)
    if abs((time.time() if now is None else now) - timestamp) > max_age:
        raise SignatureError("stale or future timestamp")
    # A signature is hex: anything else (non-ASCII text, which compare_digest refuses to compare) is no signature.
    if not signature.isascii() or not hmac.compare_digest(sign(secret, timestamp, body), signature.lower()):
        raise SignatureError("bad signature")
