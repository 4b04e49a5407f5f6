"""WHOOP API v2: base64 HMAC-SHA256 of ``timestamp + body`` (REFERENCE §3)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

from bridge_service.signatures.base import (
    SignatureError,
    check_timestamp,
    matches_any,
    require_header,
    require_secrets,
)

SIGNATURE = "X-WHOOP-Signature"
TIMESTAMP = "X-WHOOP-Signature-Timestamp"
# The only headers the route hands to verify() (and normalise()).
HEADERS = (SIGNATURE, TIMESTAMP)


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: float,
    tolerance: float,
) -> None:
    """Verify a WHOOP webhook; raise ``SignatureError`` naming the failed check."""
    require_secrets(secrets, "WHOOP")
    signature = require_header(headers, SIGNATURE, "missing_signature")
    timestamp = require_header(headers, TIMESTAMP, "missing_timestamp")
    check_timestamp(timestamp, TIMESTAMP, now, tolerance, unit="ms")
    try:
        given = base64.b64decode(signature, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        given = b""
    if len(given) != 32:
        # Also what a hex signature becomes (hex digits are valid base64).
        raise SignatureError("bad_signature", f"{SIGNATURE} is not a base64 HMAC-SHA256")
    message = timestamp.encode("ascii") + body
    if not matches_any(secrets, message, [given]):
        raise SignatureError("bad_signature", f"{SIGNATURE} does not match the body")
