"""The storage contract both backends (PostgreSQL, SQLite) implement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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
