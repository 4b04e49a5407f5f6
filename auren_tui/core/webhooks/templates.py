"""Realistic webhook bodies per provider, fresh and unique on every render.

- Oura API v2: ``{event_type, data_type, object_id, event_time, user_id}``
  for create/update/delete of each data type.
- WHOOP API v2: ``{user_id, id, type, trace_id}``, types
  ``workout|sleep|recovery`` ``.updated|.deleted``.
- HealthKit (our iOS app): a batch of samples.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from auren_tui.core.webhooks.signing import Provider, SigningError, check_provider

Template = Callable[[int], dict[str, Any]]

OURA_DATA_TYPES = ("sleep", "daily_activity", "daily_readiness", "workout", "session")
WHOOP_TYPES = tuple(
    f"{k}.{a}" for k in ("workout", "sleep", "recovery") for a in ("updated", "deleted")
)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _oura(event_type: str, data_type: str) -> Template:
    def render(n: int) -> dict[str, Any]:
        return {
            "event_type": event_type,
            "data_type": data_type,
            "object_id": str(uuid.uuid4()),
            "event_time": _now().isoformat(),
            "user_id": f"oura-user-{n % 50:03d}",
        }

    return render


def _whoop(event_type: str) -> Template:
    def render(n: int) -> dict[str, Any]:
        return {
            "user_id": 10_000 + n % 50,
            "id": str(uuid.uuid4()),
            "type": event_type,
            "trace_id": str(uuid.uuid4()),
        }

    return render


def _healthkit(kind: str) -> Template:
    def render(n: int) -> dict[str, Any]:
        end = _now()
        samples = []
        for i in range(5):
            start = end - timedelta(minutes=5 - i)
            if kind == "heart_rate":
                sample = {"type": "HKQuantityTypeIdentifierHeartRate", "unit": "count/min",
                          "value": random.randint(52, 110)}  # noqa: S311 - test data  # fmt: skip
            elif kind == "hrv":
                sample = {"type": "HKQuantityTypeIdentifierHeartRateVariabilitySDNN", "unit": "ms",
                          "value": round(random.uniform(20, 90), 1)}  # noqa: S311  # fmt: skip
            else:
                sample = {"type": "HKQuantityTypeIdentifierStepCount", "unit": "count",
                          "value": random.randint(0, 200)}  # noqa: S311  # fmt: skip
            sample |= {
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=1)).isoformat(),
                "source": "Apple Watch",
                "uuid": str(uuid.uuid4()).upper(),
            }
            samples.append(sample)
        return {
            "user_id": f"hk-user-{n % 50:03d}",
            "type": "samples",
            "timestamp": end.isoformat(),
            "samples": samples,
        }

    return render


TEMPLATES: dict[Provider, dict[str, Template]] = {
    "oura": {
        f"{data}.{event}": _oura(event, data)
        for data in OURA_DATA_TYPES
        for event in ("create", "update", "delete")
    },
    "whoop": {t: _whoop(t) for t in WHOOP_TYPES},
    "healthkit": {f"samples.{k}": _healthkit(k) for k in ("heart_rate", "hrv", "steps")},
}
DEFAULT_TEMPLATE: dict[Provider, str] = {
    "oura": "sleep.create",
    "whoop": "workout.updated",
    "healthkit": "samples.heart_rate",
}


def template_names(provider: Provider) -> list[str]:
    return list(TEMPLATES[provider])


def render(
    provider: str, template: str | None = None, n: int = 0, indent: int | None = None
) -> bytes:
    """A fresh body for ``provider`` from ``template`` (its default when None)."""
    prov = check_provider(provider)
    name = template or DEFAULT_TEMPLATE[prov]
    try:
        build = TEMPLATES[prov][name]
    except KeyError:
        raise SigningError(
            f"no {prov} template {name!r} (templates: {', '.join(TEMPLATES[prov])})"
        ) from None
    return json.dumps(build(n), indent=indent).encode()
