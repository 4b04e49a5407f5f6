"""Test-side signers, written from the providers' published schemes.

Deliberately independent of ``bridge_service.signatures``: if the production
verifier and these disagree, a test fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

SECRETS = {
    # Generated per test run: never committed keys.
    "oura": "oura-" + uuid.uuid4().hex,
    "whoop": "whoop-" + uuid.uuid4().hex,
    "healthkit": "whsec_" + base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode(),
}


def _mac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def oura_headers(body: bytes, secret: str, ts: float | None = None) -> dict[str, str]:
    stamp = str(int(ts if ts is not None else time.time()))
    sig = _mac(secret.encode(), stamp.encode() + body).hex().upper()  # Oura sends upper case
    return {"x-oura-signature": sig, "x-oura-timestamp": stamp, "content-type": "application/json"}


def whoop_headers(body: bytes, secret: str, ts: float | None = None) -> dict[str, str]:
    stamp = str(int((ts if ts is not None else time.time()) * 1000))
    sig = base64.b64encode(_mac(secret.encode(), stamp.encode() + body)).decode()
    return {
        "X-WHOOP-Signature": sig,
        "X-WHOOP-Signature-Timestamp": stamp,
        "content-type": "application/json",
    }


def healthkit_headers(
    body: bytes, secret: str, msg_id: str | None = None, ts: float | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = str(int(ts if ts is not None else time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = base64.b64encode(_mac(key, f"{msg_id}.{stamp}.".encode() + body)).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{sig}",
        "content-type": "application/json",
    }


def sign(source: str, body: bytes, secret: str | None = None, **kw: Any) -> dict[str, str]:
    secret = secret or SECRETS[source]
    if source == "oura":
        return oura_headers(body, secret, **kw)
    if source == "whoop":
        return whoop_headers(body, secret, **kw)
    return healthkit_headers(body, secret, **kw)


def event_body(source: str, n: int = 0, user: str = "u1") -> bytes:
    """A realistic body whose provider identity is unique per ``n`` (and per call)."""
    tag = uuid.uuid4().hex
    if source == "oura":
        payload: dict[str, Any] = {
            "event_type": "create",
            "data_type": "sleep",
            "object_id": f"sleep-{n}-{tag}",
            "event_time": "2026-11-25T08:00:00+00:00",
            "user_id": user,
        }
    elif source == "whoop":
        payload = {
            "user_id": 10_000 + n,
            "id": str(uuid.uuid4()),
            "type": "workout.updated",
            "trace_id": tag,
        }
    else:
        payload = {
            "user_id": user,
            "type": "samples",
            "samples": [
                {
                    "type": "heart_rate",
                    "value": 60 + n % 40,
                    "unit": "count/min",
                    "start": "2026-11-25T08:00:00Z",
                    "end": "2026-11-25T08:01:00Z",
                }
            ],
        }
    return json.dumps(payload).encode()
