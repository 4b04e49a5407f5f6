"""Embedded SQLite storage over aiosqlite, for a bridge without PostgreSQL.

One connection per store, in WAL mode. Every write is a ``BEGIN IMMEDIATE``
transaction, so SQLite serialises writers across stores and processes and two
relays never claim the same row. Within one store an asyncio lock keeps
transactions from interleaving on the shared connection.

Timestamps are UTC ISO 8601 text with microseconds, written by this module in
one fixed format so they compare correctly as text.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite

from bridge_service.schema import Envelope
from bridge_service.storage import migrations
from bridge_service.storage.base import (
    MAX_ERROR_CHARS,
    Backlog,
    OutboxRow,
    StorageUnavailable,
    UnstorableEvent,
    as_utc,
    outbox_row,
    reason,
    stored_event,
)

_DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, ValueError)
# This row's data, not the database, is the problem: refuse the event (422).
# ValueError: json.dumps of NaN/Infinity (allow_nan=False), UnicodeEncodeError.
_DATA_ERRORS = (sqlite3.DataError, sqlite3.IntegrityError, ValueError, OverflowError)

_INSERT_EVENT = """
INSERT INTO events (source, event_id, user_id, event_type, trace_id,
                    occurred_at, received_at, stored_at, payload)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, event_id) DO NOTHING
RETURNING id
"""

_INSERT_OUTBOX = """
INSERT INTO outbox (source, event_id, user_id, trace_id, value, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""

_CLAIM = """
UPDATE outbox SET leased_by = ?, lease_until = ?
WHERE id IN (
    SELECT id FROM outbox
    WHERE lease_until IS NULL OR lease_until < ?
    ORDER BY id
    LIMIT ?
)
RETURNING id, event_id, source, user_id, trace_id, value, attempts
"""


def _to_text(value: datetime) -> str:
    """The one stored form of a timestamp (naive datetimes are taken as UTC)."""
    return as_utc(value).astimezone(UTC).isoformat(timespec="microseconds")


def _from_text(value: str) -> datetime:
    return datetime.fromisoformat(value)


class SqliteStore:
    """Events and outbox in one SQLite file (see ``bridge_service.storage.base.Store``)."""

    backend = "sqlite"

    def __init__(self, path: Path, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Open (creating the file and its directory); StorageUnavailable if impossible."""
        async with self._lock:
            if self._db is not None:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # isolation_level=None: transactions are ours (BEGIN IMMEDIATE).
                db = await aiosqlite.connect(self.path, isolation_level=None)
            except _DB_ERRORS as exc:
                raise self._unavailable("open", exc) from None
            try:
                await db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
            except _DB_ERRORS as exc:
                await db.close()
                raise self._unavailable("open", exc) from None
            self._db = db

    async def close(self) -> None:
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                await db.close()

    def _unavailable(self, action: str, exc: BaseException) -> StorageUnavailable:
        """One line: which file, doing what, and SQLite's reason."""
        return StorageUnavailable(
            f"SQLite database {self.path} unavailable ({action}): {reason(exc)}"
        )

    @asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """This store's connection, held alone; failures become StorageUnavailable."""
        async with self._lock:
            if self._db is None:
                raise StorageUnavailable(f"SQLite database {self.path}: the store is not open")
            try:
                yield self._db
            except _DB_ERRORS as exc:
                raise self._unavailable(what, exc) from None

    @asynccontextmanager
    async def _write(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, else rolled back."""
        async with self._connection(what) as db:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    # -- schema ------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply pending migrations in one transaction; return the names applied."""
        applied: list[str] = []
        async with self._write("migrate") as db:
            await db.execute(migrations.SCHEMA_MIGRATIONS_SQLITE)
            done = {
                row[0] for row in await db.execute_fetchall("SELECT name FROM schema_migrations")
            }
            for migration in migrations.load("sqlite"):
                if migration.name in done:
                    continue
                for statement in migrations.split_statements(migration.sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, _to_text(_now())),
                )
                applied.append(migration.name)
        return applied

    async def ping(self) -> None:
        async with self._connection("ping") as db:
            await db.execute_fetchall("SELECT 1")

    # -- writes ------------------------------------------------------------

    async def insert(self, envelope: Envelope, value: bytes) -> bool:
        """Store the event and its outbox row in one transaction.

        Calls are serialised on the one connection, so a second copy of an
        event always sees the first copy's outcome (committed or not).
        """
        now = _to_text(_now())
        async with self._write("insert") as db:
            try:
                rows = await db.execute_fetchall(
                    _INSERT_EVENT,
                    (
                        envelope.source,
                        envelope.event_id,
                        envelope.user_id,
                        envelope.event_type,
                        envelope.trace_id,
                        None if envelope.occurred_at is None else _to_text(envelope.occurred_at),
                        _to_text(envelope.received_at),
                        now,
                        json.dumps(envelope.payload, ensure_ascii=False, allow_nan=False),
                    ),
                )
                if not list(rows):
                    return False
                await db.execute(
                    _INSERT_OUTBOX,
                    (
                        envelope.source,
                        envelope.event_id,
                        envelope.user_id,
                        envelope.trace_id,
                        value,
                        now,
                    ),
                )
            except _DATA_ERRORS as exc:
                raise UnstorableEvent(
                    f"the database cannot store this event: {type(exc).__name__}"
                ) from None
        return True

    async def claim(self, limit: int, lease_seconds: float, owner: str) -> list[OutboxRow]:
        async with self._write("claim") as db:
            # The clock is read after BEGIN IMMEDIATE: a claim that waited for
            # the write lock must not judge leases by a stale "now".
            now = _now()
            until = now + timedelta(seconds=lease_seconds)
            rows = await db.execute_fetchall(_CLAIM, (owner, _to_text(until), _to_text(now), limit))
        return sorted((outbox_row(r) for r in rows), key=lambda r: r.id)

    async def mark_published(self, ids: list[int], owner: str) -> None:
        if not ids:
            return
        async with self._write("mark published") as db:
            await db.execute(
                f"DELETE FROM outbox WHERE leased_by = ? AND id IN ({_marks(ids)})",  # noqa: S608
                (owner, *ids),
            )

    async def extend(self, ids: list[int], owner: str, lease_seconds: float) -> None:
        if not ids:
            return
        async with self._write("extend") as db:
            until = _to_text(_now() + timedelta(seconds=lease_seconds))
            await db.execute(
                "UPDATE outbox SET lease_until = ?"  # noqa: S608
                f" WHERE leased_by = ? AND id IN ({_marks(ids)})",
                (until, owner, *ids),
            )

    async def release(self, ids: list[int], owner: str, error: str) -> None:
        if not ids:
            return
        async with self._write("release") as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?,"  # noqa: S608
                " leased_by = NULL, lease_until = NULL"
                f" WHERE leased_by = ? AND id IN ({_marks(ids)})",
                (error[:MAX_ERROR_CHARS], owner, *ids),
            )

    # -- reads -------------------------------------------------------------

    async def backlog(self) -> Backlog:
        async with self._connection("backlog") as db:
            rows = list(await db.execute_fetchall("SELECT count(*), min(created_at) FROM outbox"))
        count, oldest = rows[0]
        if oldest is None:
            return Backlog(count=int(count), oldest_age_seconds=None)
        age = (_now() - _from_text(oldest)).total_seconds()
        return Backlog(count=int(count), oldest_age_seconds=max(age, 0.0))

    async def count_events(self, source: str | None = None) -> int:
        async with self._connection("count") as db:
            if source is None:
                rows = await db.execute_fetchall("SELECT count(*) FROM events")
            else:
                rows = await db.execute_fetchall(
                    "SELECT count(*) FROM events WHERE source = ?", (source,)
                )
        return int(next(iter(rows))[0])

    async def event_ids(self, source: str | None = None) -> list[str]:
        async with self._connection("read") as db:
            if source is None:
                rows = await db.execute_fetchall("SELECT event_id FROM events ORDER BY id")
            else:
                rows = await db.execute_fetchall(
                    "SELECT event_id FROM events WHERE source = ? ORDER BY id", (source,)
                )
        return [str(r[0]) for r in rows]

    async def get_event(self, source: str, event_id: str) -> tuple[Envelope, datetime] | None:
        async with self._connection("read") as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT source, event_id, user_id, event_type, trace_id, occurred_at,"
                    " received_at, payload, stored_at"
                    " FROM events WHERE source = ? AND event_id = ?",
                    (source, event_id),
                )
            )
        return stored_event(rows[0], _from_text) if rows else None


def _now() -> datetime:
    return datetime.now(UTC)


def _marks(ids: Iterable[int]) -> str:
    return ", ".join("?" for _ in ids)
