"""What every provider verifier shares."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Literal


class SignatureError(Exception):
    """A webhook failed verification. ``check`` names which check failed.

    The message never contains a secret or an expected signature.
    """

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (HTTP header names are case-insensitive)."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


Secrets = Sequence[bytes]

# At most 20 ASCII digits: enough for any Unix time in ms, short enough that
# int() never meets Python's long-string limit. ``[0-9]`` rather than ``\d``
# so other scripts' digits do not pass.
_UNIX_TIME = re.compile(r"[0-9]{1,20}")


def require_secrets(secrets: Secrets, provider: str) -> None:
    """Reject everything when no secret is configured (fail closed).

    Empty secrets do not count: anyone can sign with an empty key, and a stray
    comma in a secret list makes one.
    """
    if not any(secrets):
        raise SignatureError(
            "no_secret",
            f"no {provider} webhook secret is configured, so every {provider} webhook is "
            "rejected; set one in the bridge's environment",
        )


def require_header(headers: Mapping[str, str], name: str, check: str) -> str:
    """The header's value, or ``SignatureError(check)`` when it is absent or empty."""
    value = header(headers, name)
    if not value:
        raise SignatureError(check, f"{name} header is missing")
    return value


def check_timestamp(
    value: str, name: str, now: float, tolerance: float, *, unit: Literal["s", "ms", "auto"]
) -> None:
    """Parse a Unix time header and check it is within ``tolerance`` seconds of ``now``.

    ``unit="auto"`` reads seconds, except that a 13-digit value is milliseconds.
    The header's value is never echoed (it is the sender's, not ours).
    """
    if not _UNIX_TIME.fullmatch(value):
        raise SignatureError("bad_timestamp", f"{name} is not a Unix time in decimal digits")
    millis = unit == "ms" or (unit == "auto" and len(value) == 13)
    seconds = int(value) / 1000 if millis else float(int(value))
    if now - seconds > tolerance:
        raise SignatureError(
            "stale_timestamp",
            f"{name} is {now - seconds:.0f} s in the past (tolerance {tolerance:.0f} s); "
            "a replay, or the sender's or the bridge's clock is wrong",
        )
    if seconds - now > tolerance:
        raise SignatureError(
            "future_timestamp",
            f"{name} is {seconds - now:.0f} s in the future (tolerance {tolerance:.0f} s); "
            "the sender's or the bridge's clock is wrong",
        )


def matches_any(secrets: Secrets, message: bytes, candidates: Sequence[bytes]) -> bool:
    """Whether any HMAC-SHA256 of ``message`` under any secret equals any candidate.

    Several secrets are rotation; several candidates are senders that sign
    with several keys at once (Standard Webhooks).
    """
    for secret in secrets:
        if not secret:
            continue  # see require_secrets
        expected = hmac.new(secret, message, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return True
    return False
