"""The bridge's wire schema: the envelope it publishes and every answer its routes give.

The routes build these models and send their ``model_dump()``; auren-tui
validates the bridge's answers and the records it traces with the same
models. Depends on pydantic alone (no FastAPI, no Textual, nothing opened at
import), so auren-tui may import it: the one bridge module it may.

Field order is the order of the JSON keys on the wire. A field declared with
``exclude_if=_absent`` is left out of the body when it is None (the key is
absent, not null); every other field is always sent, null included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["oura", "whoop", "healthkit", "terra"]
SOURCES: tuple[Source, ...] = ("oura", "whoop", "healthkit", "terra")

# Kafka record headers the bridge sets on every published event.
HEADER_SOURCE = "source"
HEADER_EVENT_ID = "event_id"
HEADER_TRACE_ID = "trace_id"


def _absent(value: object) -> bool:
    """Leave the key out of the body rather than send null."""
    return value is None


class Envelope(BaseModel):
    """One normalised event, as stored and as published to ``biometric-events``."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="The provider's event identity (see REFERENCE §3)")
    source: Source
    user_id: str
    event_type: str
    occurred_at: datetime | None = None
    received_at: datetime
    trace_id: str | None = None
    payload: dict[str, Any]


# -- POST /webhooks/{provider} ---------------------------------------------------


class Accepted(BaseModel):
    """202: the event and its outbox row are committed; it will be published."""

    status: Literal["accepted"] = "accepted"
    event_id: str


class Duplicate(BaseModel):
    """200: this event was stored before (a provider's retry); nothing was written."""

    status: Literal["duplicate"] = "duplicate"
    event_id: str


class Problem(BaseModel):
    """Any refusal of the bridge's own (400, 403, 408, 413, 422, 503): one line to act on.

    Not FastAPI's own answers: an unknown path or method has ``detail`` too, a
    malformed query parameter has a list of errors there.
    """

    detail: str


class SignatureProblem(Problem):
    """403: the request failed verification; ``check`` names the check that failed.

    One of ``no_secret``, ``missing_signature``, ``missing_timestamp``,
    ``bad_timestamp``, ``stale_timestamp``, ``future_timestamp``, ``bad_signature``.
    """

    check: str


# -- GET /webhooks/oura ------------------------------------------------------------


class Challenge(BaseModel):
    """200: Oura's subscription handshake, the challenge echoed back."""

    challenge: str


# -- GET /ready --------------------------------------------------------------------


class Readiness(BaseModel):
    """200 ``{"ready": true}`` when a webhook sent now could be stored, else 503 and why."""

    ready: bool
    reason: str | None = Field(default=None, exclude_if=_absent)
    """``database unavailable`` or ``saturated``; absent when ready."""


# -- GET /health -------------------------------------------------------------------


class DatabaseHealth(BaseModel):
    """The event store: which backend, and whether it answers."""

    backend: str
    """``postgresql`` or ``sqlite``."""
    status: Literal["up", "down"]
    error: str | None = Field(default=None, exclude_if=_absent)
    """Why it is down (one line, no password); absent when up."""


class RedisHealth(BaseModel):
    """The de-duplication fast path."""

    status: Literal["up", "down", "not configured"]


class KafkaHealth(BaseModel):
    """Publishing (the outbox relay) and, when enabled, the Terra consumer."""

    status: Literal["up", "down", "not configured"]
    circuit: str | None = Field(default=None, exclude_if=_absent)
    """The circuit breaker (``closed``, ``half_open``, ``open``); absent when not configured."""
    last_error: str | None = Field(default=None, exclude_if=_absent)
    """The last publish failure the breaker saw; absent when there was none."""
    terra_consumer: Literal["up", "down"] | None = Field(default=None, exclude_if=_absent)
    """Whether the Terra consumer is connected; absent when it does not run."""


class OutboxHealth(BaseModel):
    """Events stored but not yet published. Both null when the database is down."""

    backlog: int | None
    oldest_age_seconds: float | None


class WebhookProviderHealth(BaseModel):
    """A provider that posts webhooks: without a secret every webhook is refused."""

    secret_configured: bool


class KafkaProviderHealth(BaseModel):
    """A provider whose records arrive through Kafka (Terra)."""

    via: Literal["kafka"] = "kafka"
    topic: str


class HealthComponents(BaseModel):
    """Every component of one bridge, in the order /health lists them."""

    database: DatabaseHealth
    redis: RedisHealth
    kafka: KafkaHealth
    outbox: OutboxHealth
    circuit: str
    """The Kafka circuit breaker, also when Kafka is not configured."""
    providers: dict[str, WebhookProviderHealth | KafkaProviderHealth]


class Health(BaseModel):
    """GET /health: 200 while the bridge can store events (healthy or degraded), else 503."""

    status: Literal["healthy", "degraded", "unhealthy"]
    service: str
    """``SERVICE_NAME``."""
    components: HealthComponents
    in_flight: int
    """Webhooks being processed now."""
