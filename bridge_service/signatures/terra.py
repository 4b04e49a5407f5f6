"""Terra: ``terra-signature: t=<ts>,v1=<hex>`` over ``t + "." + body`` (REFERENCE §3)."""

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

SIGNATURE = "terra-signature"
# The only headers the route hands to verify() (and normalise()).
HEADERS = (SIGNATURE,)

_HEX = re.compile(r"[0-9a-fA-F]{64}")


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: float,
    tolerance: float,
) -> None:
    """Verify a Terra webhook; raise ``SignatureError`` naming the failed check."""
    require_secrets(secrets, "Terra")
    value = require_header(headers, SIGNATURE, "missing_signature")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in value.split(","):
        key, _, field = item.partition("=")
        key, field = key.strip(), field.strip()
        if key == "t":
            timestamps.append(field)
        elif key == "v1":
            signatures.append(field)
    if not signatures:
        raise SignatureError("missing_signature", f"{SIGNATURE} has no v1= signature")
    if not timestamps or not timestamps[0]:
        raise SignatureError("missing_timestamp", f"{SIGNATURE} has no t= timestamp")
    if len(timestamps) > 1:
        raise SignatureError("bad_timestamp", f"{SIGNATURE} has more than one t= timestamp")
    timestamp = timestamps[0]
    check_timestamp(timestamp, f"{SIGNATURE} t=", now, tolerance, unit="s")
    # Several v1 entries are allowed (a sender mid-rotation); any may match.
    candidates = [bytes.fromhex(s) for s in signatures if _HEX.fullmatch(s)]
    if not candidates:
        raise SignatureError("bad_signature", f"{SIGNATURE} v1= is not 64 hex digits")
    message = timestamp.encode("ascii") + b"." + body
    if not matches_any(secrets, message, candidates):
        raise SignatureError("bad_signature", f"{SIGNATURE} does not match the body")
