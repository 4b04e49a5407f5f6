"""Oura API v2: hex HMAC-SHA256 of ``timestamp + body`` (REFERENCE §3)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bridge_service.signatures.base import (
    SignatureError,
    check_timestamp,
    matches_any,
    require_header,
    require_secrets,
)

SIGNATURE = "x-oura-signature"
TIMESTAMP = "x-oura-timestamp"
# The only headers the route hands to verify() (and normalise()).
HEADERS = (SIGNATURE, TIMESTAMP)

# Oura sends upper case; either case is accepted.
_HEX = re.compile(r"[0-9a-fA-F]{64}")


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: float,
    tolerance: float,
) -> None:
    """Verify an Oura webhook; raise ``SignatureError`` naming the failed check."""
    require_secrets(secrets, "Oura")
    signature = require_header(headers, SIGNATURE, "missing_signature")
    timestamp = require_header(headers, TIMESTAMP, "missing_timestamp")
    # Seconds, but a 13-digit value is milliseconds.
    check_timestamp(timestamp, TIMESTAMP, now, tolerance, unit="auto")
    if not _HEX.fullmatch(signature):
        raise SignatureError("bad_signature", f"{SIGNATURE} is not 64 hex digits")
    # The timestamp is signed as received (already known to be ASCII digits).
    message = timestamp.encode("ascii") + body
    if not matches_any(secrets, message, [bytes.fromhex(signature)]):
        raise SignatureError("bad_signature", f"{SIGNATURE} does not match the body")
