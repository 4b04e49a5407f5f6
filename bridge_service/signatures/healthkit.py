"""Our HealthKit app: Standard Webhooks (REFERENCE §3).

Signed bytes are ``id + "." + timestamp + "." + body``; ``webhook-signature``
is a space-separated list of ``v1,<base64>`` entries, any of which may match.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from bridge_service.signatures.base import (
    SignatureError,
    check_timestamp,
    matches_any,
    require_header,
    require_secrets,
)

ID = "webhook-id"
TIMESTAMP = "webhook-timestamp"
SIGNATURE = "webhook-signature"
# The only headers the route hands to verify() (and normalise()).
HEADERS = (ID, TIMESTAMP, SIGNATURE)
SECRET_PREFIX = b"whsec_"


def signing_key(secret: bytes) -> bytes:
    """The HMAC key of a configured secret: ``whsec_`` + base64 key.

    Without the prefix the whole secret is read as base64, as the Standard
    Webhooks libraries do. A secret that is not valid base64 cannot be one
    they issued, so it is used as raw bytes rather than refused, which keeps a
    hand-made secret shared with the app working.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return encoded


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: float,
    tolerance: float,
) -> None:
    """Verify a Standard Webhooks request; raise ``SignatureError`` naming the failed check."""
    keys = [signing_key(secret) for secret in secrets]
    require_secrets(keys, "HealthKit")  # "whsec_" alone is an empty key: no secret
    signature = require_header(headers, SIGNATURE, "missing_signature")
    # The id is signed material, so a request without one cannot be verified.
    message_id = require_header(headers, ID, "missing_signature")
    timestamp = require_header(headers, TIMESTAMP, "missing_timestamp")
    check_timestamp(timestamp, TIMESTAMP, now, tolerance, unit="s")
    candidates = []
    for entry in signature.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # other versions (e.g. v1a, asymmetric) are not ours to check
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except ValueError:  # binascii.Error, or a non-ASCII character
            continue
    if not candidates:
        raise SignatureError("bad_signature", f"{SIGNATURE} has no base64 v1 signature")
    try:
        signed_id = message_id.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no sender could have signed it
        raise SignatureError("bad_signature", f"{ID} is not valid text") from None
    message = signed_id + b"." + timestamp.encode("ascii") + b"." + body
    if not matches_any(keys, message, candidates):
        raise SignatureError("bad_signature", f"{SIGNATURE} does not match the body")
