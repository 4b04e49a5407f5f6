"""The storage contract both backends (PostgreSQL, SQLite) implement, and what they share.

``Store`` is the contract; the helpers at the end turn the rows both backends
read (in the same column order) into the contract's types.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge_service.schema import Envelope


class StorageUnavailable(RuntimeError):
    """The database cannot be reached or is not working: answer 503 (retry later)."""


class UnstorableEvent(Exception):
    """The database refuses this one event's data (not the database's state): answer 422.

    Retrying cannot help, so the provider must not be told to. ``str()`` is one
    line naming the reason, never the value.
    """


@dataclass(frozen=True)
class OutboxRow:
    """One event waiting to be published."""

    id: int
    event_id: str
    source: str
    user_id: str
    trace_id: str | None
    value: bytes  # the JSON envelope, exactly as it will be published
    attempts: int


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_age_seconds: float | None


class Store(Protocol):
    """Events and outbox. ``insert`` is one transaction: both rows or neither."""

    backend: str  # "postgresql" | "sqlite"

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names applied."""
        ...

    async def ping(self) -> None:
        """Raise StorageUnavailable if the database does not answer."""
        ...

    async def insert(self, envelope: Envelope, value: bytes) -> bool:
        """Store the event and its outbox row in one transaction.

        True if new; False if (source, event_id) was already stored (nothing written).
        A second copy of an event still being written waits for the first copy's
        outcome and shares it: False once it is stored, its error if it failed.
        Raises StorageUnavailable on any database failure, UnstorableEvent when
        the database refuses this event's data (other events are unaffected).
        """
        ...

    async def claim(self, limit: int, lease_seconds: float, owner: str) -> list[OutboxRow]:
        """Lease up to ``limit`` unpublished rows no other live relay holds.

        Rows stay leased for ``lease_seconds``; a crashed relay's rows become
        claimable again after that. Two relays never hold the same row.
        """
        ...

    async def mark_published(self, ids: list[int], owner: str) -> None:
        """Remove published rows from the outbox (only those this owner leased)."""
        ...

    async def extend(self, ids: list[int], owner: str, lease_seconds: float) -> None:
        """Keep holding leased rows while their delivery is still settling."""
        ...

    async def release(self, ids: list[int], owner: str, error: str) -> None:
        """Give rows back after a failed publish (attempts += 1, lease cleared)."""
        ...

    async def backlog(self) -> Backlog: ...

    async def count_events(self, source: str | None = None) -> int: ...

    async def event_ids(self, source: str | None = None) -> list[str]: ...

    async def get_event(self, source: str, event_id: str) -> tuple[Envelope, datetime] | None:
        """The stored envelope and when it was stored, or None."""
        ...


# -- shared by both backends ---------------------------------------------------------

# ``release`` keeps at most this much of a publish error in the outbox row.
MAX_ERROR_CHARS = 2000


def reason(exc: BaseException) -> str:
    """The driver's reason in one line: ``TypeName: first line of the message``."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (a driver would take them as the host's local time)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def outbox_row(row: Sequence[Any]) -> OutboxRow:
    """An outbox row read as ``id, event_id, source, user_id, trace_id, value, attempts``."""
    return OutboxRow(
        id=int(row[0]),
        event_id=row[1],
        source=row[2],
        user_id=row[3],
        trace_id=row[4],
        value=bytes(row[5]),
        attempts=int(row[6]),
    )


def stored_event(
    row: Sequence[Any], to_datetime: Callable[[Any], datetime]
) -> tuple[Envelope, datetime]:
    """An event read as ``source, event_id, user_id, event_type, trace_id, occurred_at,
    received_at, payload (JSON text), stored_at``, and when it was stored.

    ``to_datetime`` turns the backend's timestamps into datetimes.
    """
    envelope = Envelope(
        source=row[0],
        event_id=row[1],
        user_id=row[2],
        event_type=row[3],
        trace_id=row[4],
        occurred_at=None if row[5] is None else to_datetime(row[5]),
        received_at=to_datetime(row[6]),
        payload=json.loads(row[7]),
    )
    return envelope, to_datetime(row[8])
