"""Turn a verified provider request (or a Terra Kafka record) into an ``Envelope``.

Runs after signature verification, never before (STYLE: verify first, then
parse). Event identity follows REFERENCE §3: what makes two deliveries "the
same event" differs per provider, and de-duplication trusts ``event_id`` alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge_service.schema import Envelope
from bridge_service.signatures.base import header

WHOOP_TYPE = re.compile(r"(workout|sleep|recovery)\.(updated|deleted)")
HEALTHKIT_ID_MAX = 200
_SEPARATOR = "\x1f"  # ASCII unit separator: cannot be confused with the fields' own text


class InvalidPayload(ValueError):
    """A verified request or record whose content the bridge cannot use (one-line message).

    ``status`` is the HTTP answer: 400 for bytes that are not JSON, 422 for
    JSON the bridge cannot use or store.
    """

    status = 422


class NotJson(InvalidPayload):
    """The body is not JSON at all."""

    status = 400


def normalise(
    source: str, headers: Mapping[str, str], body: bytes, received_at: datetime
) -> Envelope:
    """Build the envelope of a verified webhook from ``source``.

    Raises ``InvalidPayload`` when the body is not a JSON object or lacks a
    field the provider's event identity or the envelope needs.
    """
    if source == "oura":
        return _oura(_json_object(body), received_at)
    if source == "whoop":
        return _whoop(_json_object(body), received_at)
    if source == "healthkit":
        return _healthkit(headers, _json_object(body), received_at)
    if source == "terra":
        return normalise_terra(body, received_at)
    raise ValueError(f"unknown source {source!r}")


def normalise_terra(value: bytes, received_at: datetime) -> Envelope:
    """Build the envelope of a record from the ``terra-biometric-events`` topic.

    The event id is Terra's own record id: top-level ``id``, else
    ``event_id``, else ``data[0].metadata.summary_id``.
    """
    payload = _json_object(value)
    record_id = _terra_id(payload)
    if record_id is None:
        raise InvalidPayload(
            "terra record has no id (looked for id, event_id, data[0].metadata.summary_id)"
        )
    user = payload.get("user")
    if not isinstance(user, dict):
        raise InvalidPayload("terra record: user is missing or not an object")
    return Envelope(
        event_id=f"terra-{record_id}",
        source="terra",
        user_id=_required_str(user, "user_id", "terra record: user."),
        event_type=_required_str(payload, "type", "terra record: "),
        received_at=received_at,
        payload=payload,
    )


def _oura(payload: dict[str, Any], received_at: datetime) -> Envelope:
    where = "oura body: "
    event_type = _required_str(payload, "event_type", where)
    data_type = _required_str(payload, "data_type", where)
    object_id = _required_str(payload, "object_id", where)
    user_id = _required_str(payload, "user_id", where)
    event_time = _optional_str(payload, "event_time", where)
    # Oura bodies carry no event id: the event is what happened to which
    # object when. event_time is hashed as sent, not as parsed.
    identity = [event_type, data_type, object_id, event_time or ""]
    return Envelope(
        event_id="oura-" + _digest(identity),
        source="oura",
        user_id=user_id,
        event_type=f"{data_type}.{event_type}",
        occurred_at=_time(event_time, "event_time", where),
        received_at=received_at,
        payload=payload,
    )


def _whoop(payload: dict[str, Any], received_at: datetime) -> Envelope:
    where = "whoop body: "
    user_id = payload.get("user_id")
    # bool is an int subclass; true is no user id.
    if isinstance(user_id, bool) or not isinstance(user_id, int | str) or user_id == "":
        raise InvalidPayload(f"{where}user_id is missing or not an integer or string")
    object_id = _required_str(payload, "id", where)
    event_type = _required_str(payload, "type", where)
    trace_id = _required_str(payload, "trace_id", where)
    if not WHOOP_TYPE.fullmatch(event_type):
        raise InvalidPayload(
            f"{where}type is not one of workout|sleep|recovery followed by .updated|.deleted"
        )
    # id names the object (kept across updates); trace_id names the event.
    return Envelope(
        event_id="whoop-" + _digest([event_type, object_id, trace_id]),
        source="whoop",
        user_id=str(user_id),
        event_type=event_type,
        received_at=received_at,
        trace_id=trace_id,
        payload=payload,
    )


def _healthkit(
    headers: Mapping[str, str], payload: dict[str, Any], received_at: datetime
) -> Envelope:
    where = "healthkit body: "
    event_id = header(headers, "webhook-id")
    if not event_id:
        raise InvalidPayload("healthkit request: webhook-id header is missing")
    if len(event_id) > HEALTHKIT_ID_MAX or not (event_id.isascii() and event_id.isprintable()):
        raise InvalidPayload(
            f"healthkit request: webhook-id is not at most {HEALTHKIT_ID_MAX} printable "
            "ASCII characters"
        )
    user_id = _required_str(payload, "user_id", where)
    event_type = _required_str(payload, "type", where)
    samples = payload.get("samples")
    if samples is not None and not isinstance(samples, list):
        raise InvalidPayload(f"{where}samples is not a list")
    timestamp = _optional_str(payload, "timestamp", where)
    return Envelope(
        event_id=event_id,
        source="healthkit",
        user_id=user_id,
        event_type=event_type,
        occurred_at=_time(timestamp, "timestamp", where),
        received_at=received_at,
        payload=payload,
    )


def _terra_id(payload: dict[str, Any]) -> str | None:
    for key in ("id", "event_id"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    data = payload.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        metadata = data[0].get("metadata")
        if isinstance(metadata, dict):
            summary_id = metadata.get("summary_id")
            if isinstance(summary_id, str) and summary_id:
                return summary_id
    return None


# Where a number could overflow a float to infinity: an exponent of three or more
# digits, or a run of 300+ digits. Only such bodies pay for the finite check.
_MAYBE_HUGE_FLOAT = re.compile(rb"[0-9][eE][+-]?[0-9]{3}|[0-9.]{300}")


def _json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object that every store and serialiser can hold.

    Not JSON: ``NotJson`` (400). JSON with a value nothing downstream can hold
    (NaN, Infinity, a number beyond a double like ``1e999``, NUL, a lone
    surrogate): ``InvalidPayload`` (422): refused now, never the database's
    503 on every retry of the provider.
    """
    parse_float = _finite_float if _MAYBE_HUGE_FLOAT.search(body) else float
    try:
        parsed = json.loads(body, parse_constant=_reject_constant, parse_float=parse_float)
    except _Unstorable as exc:
        raise InvalidPayload(f"body has a value that cannot be stored: {exc}") from None
    except RecursionError:
        raise NotJson("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise NotJson(f"body is not valid JSON: {_one_line(exc)}") from None
    if not isinstance(parsed, dict):
        raise InvalidPayload(f"body is JSON but not an object (a {type(parsed).__name__})")
    if b"\\u" not in body:
        return parsed  # no escapes: neither check below can apply (the common case)
    if b"\\u0000" in body:
        # PostgreSQL text and jsonb cannot hold NUL: refuse now (422) rather than
        # fail the database write (503) on every retry of the provider.
        raise InvalidPayload("body has a NUL character (\\u0000), which cannot be stored")
    try:
        # A JSON "\ud800" escape parses to a lone surrogate, which no UTF-8 store or
        # serialiser accepts; refused here, it cannot wedge the relay later.
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(
            "body has a value that cannot be stored: a string with a lone surrogate"
        ) from None
    return parsed


class _Unstorable(ValueError):
    """A JSON token no store or serialiser downstream can hold."""


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them later.
    raise _Unstorable(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise _Unstorable(f"the number {shown} is beyond a double's range")
    return value


def _required_str(payload: Mapping[str, Any], field: str, where: str) -> str:
    value = payload.get(field)
    if value is None or value == "":
        raise InvalidPayload(f"{where}{field} is missing")
    if not isinstance(value, str):
        raise InvalidPayload(f"{where}{field} is not a string")
    return value


def _optional_str(payload: Mapping[str, Any], field: str, where: str) -> str | None:
    value = payload.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{where}{field} is not a string")
    return value


def _time(value: str | None, field: str, where: str) -> datetime | None:
    """Parse an ISO 8601 time; a time without an offset is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidPayload(f"{where}{field} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _digest(fields: list[str]) -> str:
    """First 32 hex digits (128 bits) of the SHA-256 of the identity fields."""
    joined = _SEPARATOR.join(fields).encode("utf-8")
    return hashlib.sha256(joined).hexdigest()[:32]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
