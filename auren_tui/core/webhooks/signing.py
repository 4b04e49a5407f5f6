"""Sign webhook bodies exactly as Oura, WHOOP and our HealthKit app do.

Always over the exact bytes that will be sent (REFERENCE §3):

- Oura: ``x-oura-signature`` = hex HMAC-SHA256(secret, timestamp + body),
  upper case as Oura sends it; ``x-oura-timestamp`` in seconds.
- WHOOP: ``X-WHOOP-Signature`` = base64 HMAC-SHA256(secret, timestamp +
  body); ``X-WHOOP-Signature-Timestamp`` in milliseconds.
- HealthKit (Standard Webhooks): ``webhook-signature`` = ``v1,`` + base64
  HMAC-SHA256(base64-decoded ``whsec_`` key, ``id.timestamp.body``).

``encoding`` can be flipped (hex <-> base64) for the negative suite.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pydantic import SecretStr  # annotations only: the CLI starts without pydantic

Provider = Literal["oura", "whoop", "healthkit"]
PROVIDERS: tuple[Provider, ...] = ("oura", "whoop", "healthkit")
Encoding = Literal["hex", "base64"]
NATIVE: dict[Provider, Encoding] = {"oura": "hex", "whoop": "base64", "healthkit": "base64"}
SIGNATURE_HEADER: dict[Provider, str] = {
    "oura": "x-oura-signature",
    "whoop": "X-WHOOP-Signature",
    "healthkit": "webhook-signature",
}


class SigningError(ValueError):
    """A secret or input that cannot sign (one line, never the secret)."""


def check_provider(name: str) -> Provider:
    for provider in PROVIDERS:
        if provider == name:
            return provider
    raise SigningError(f"unknown provider {name!r} (providers: {', '.join(PROVIDERS)})")


def _key(provider: Provider, secret: SecretStr) -> bytes:
    raw = secret.get_secret_value()
    if provider != "healthkit":
        return raw.encode()
    if not raw.startswith("whsec_"):
        raise SigningError("the healthkit secret must start with whsec_ (Standard Webhooks)")
    try:
        return base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII character (a pasted NBSP)
        raise SigningError(
            "the healthkit secret is not whsec_ followed by base64 (a stray space or "
            "non-ASCII character?): set it again with `auren-tui secret set PROFILE healthkit`"
        ) from None


def _encode(digest: bytes, encoding: Encoding, provider: Provider) -> str:
    if encoding == "hex":
        text = digest.hex()
        return text.upper() if provider == "oura" else text
    return base64.b64encode(digest).decode()


def sign(
    provider: Provider,
    body: bytes,
    secret: SecretStr,
    *,
    now: float | None = None,
    msg_id: str | None = None,
    encoding: Encoding | None = None,
) -> dict[str, str]:
    """The headers that make ``body`` a genuine ``provider`` webhook at ``now``."""
    key = _key(provider, secret)
    at = time.time() if now is None else now
    enc = encoding or NATIVE[provider]
    headers = {"content-type": "application/json"}
    if provider == "oura":
        stamp = str(int(at))
        mac = hmac.new(key, stamp.encode() + body, hashlib.sha256).digest()
        headers |= {"x-oura-signature": _encode(mac, enc, provider), "x-oura-timestamp": stamp}
    elif provider == "whoop":
        stamp = str(int(at * 1000))
        mac = hmac.new(key, stamp.encode() + body, hashlib.sha256).digest()
        headers |= {
            "X-WHOOP-Signature": _encode(mac, enc, provider),
            "X-WHOOP-Signature-Timestamp": stamp,
        }
    else:
        ident = msg_id or f"msg_{uuid.uuid4().hex}"
        stamp = str(int(at))
        mac = hmac.new(key, f"{ident}.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers |= {
            "webhook-id": ident,
            "webhook-timestamp": stamp,
            "webhook-signature": f"v1,{_encode(mac, enc, provider)}",
        }
    return headers


def masked(headers: dict[str, str], provider: Provider) -> dict[str, str]:
    """Headers for the screen: the signature shortened to its last 4 characters.

    The signature is not the secret, but it is a bearer credential for its
    timestamp window; the secret itself never reaches this function.
    """
    name = SIGNATURE_HEADER[provider]
    out = dict(headers)
    if name in out:
        out[name] = "…" + out[name][-4:]
    return out
