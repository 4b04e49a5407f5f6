"""The bridge's wire schema: the envelope it publishes and the answers it gives.

Depends on pydantic alone, so auren-tui may import it (the one module it may).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["oura", "whoop", "healthkit", "terra"]
SOURCES: tuple[Source, ...] = ("oura", "whoop", "healthkit", "terra")


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


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_id: str


class Duplicate(BaseModel):
    status: Literal["duplicate"] = "duplicate"
    event_id: str


class Problem(BaseModel):
    detail: str


# Kafka record headers the bridge sets on every published event.
HEADER_SOURCE = "source"
HEADER_EVENT_ID = "event_id"
HEADER_TRACE_ID = "trace_id"
