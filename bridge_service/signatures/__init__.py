"""Provider signature verification over the raw request bytes.

Each provider module exposes ``verify(headers, body, secrets, now, tolerance)``
which returns nothing on success and raises ``SignatureError`` naming the
failed check otherwise. Verification always comes before parsing.
"""

from bridge_service.signatures.base import SignatureError

__all__ = ["SignatureError"]
