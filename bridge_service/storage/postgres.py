"""PostgreSQL storage: events and outbox over an asyncpg pool.

``PostgresStore`` is the ``Store`` the bridge runs on PostgreSQL. Its parts:
the pool and how failures are reported (``postgres_pool``), the batched insert
(``postgres_batch``); the schema, the outbox leases and the reads are here.
"""

from __future__ import annotations

from datetime import datetime

from bridge_service.schema import Envelope
from bridge_service.storage import migrations
from bridge_service.storage.base import (
    MAX_ERROR_CHARS,
    Backlog,
    OutboxRow,
    outbox_row,
    stored_event,
)
from bridge_service.storage.postgres_batch import InsertBatcher
from bridge_service.storage.postgres_pool import PostgresPool

# Serialises concurrent migrate() calls from several bridge replicas.
_MIGRATION_LOCK_KEY = 0x61757265_6E000001  # "auren" + 1
_MIGRATION_TIMEOUT = 60.0

# MATERIALIZED keeps the locking subquery evaluated exactly once.
_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT id FROM outbox
    WHERE lease_until IS NULL OR lease_until < now()
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox o
SET leased_by = $3, lease_until = now() + make_interval(secs => $2)
FROM picked
WHERE o.id = picked.id
RETURNING o.id, o.event_id, o.source, o.user_id, o.trace_id, o.value, o.attempts
"""

_MARK_PUBLISHED = "DELETE FROM outbox WHERE id = ANY($1::bigint[]) AND leased_by = $2"

_RELEASE = """
UPDATE outbox
SET attempts = attempts + 1, last_error = $3, leased_by = NULL, lease_until = NULL
WHERE id = ANY($1::bigint[]) AND leased_by = $2
"""

_EXTEND = """
UPDATE outbox SET lease_until = now() + make_interval(secs => $3)
WHERE id = ANY($1::bigint[]) AND leased_by = $2
"""

_BACKLOG = """
SELECT count(*), extract(epoch FROM now() - min(created_at))::float8 FROM outbox
"""

_GET_EVENT = """
SELECT source, event_id, user_id, event_type, trace_id, occurred_at, received_at,
       payload::text AS payload, stored_at
FROM events WHERE source = $1 AND event_id = $2
"""


class PostgresStore:
    """Events and outbox in PostgreSQL (see ``bridge_service.storage.base.Store``)."""

    backend = "postgresql"

    def __init__(
        self,
        dsn: str,
        min_size: int = 2,
        max_size: int = 10,
        command_timeout: float = 5,
        connect_timeout: float = 5,
    ) -> None:
        self._dsn = dsn
        self._pool = PostgresPool(dsn, min_size, max_size, command_timeout, connect_timeout)
        self._batcher = InsertBatcher(self._pool)
        self.target = self._pool.target

    def __repr__(self) -> str:
        return f"PostgresStore({self.target!r})"

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Create the pool; StorageUnavailable if PostgreSQL cannot be reached.

        After a failure the store stays usable: the next call tries again.
        """
        await self._pool.open()

    async def close(self) -> None:
        await self._pool.close()

    # -- schema ------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply pending migrations in one transaction; return the names applied."""
        applied: list[str] = []
        async with self._pool.connection("migrate") as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY, timeout=_MIGRATION_TIMEOUT
            )
            await conn.execute(migrations.SCHEMA_MIGRATIONS_POSTGRESQL)
            done = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
            for migration in migrations.load("postgresql"):
                if migration.name in done:
                    continue
                await conn.execute(migration.sql, timeout=_MIGRATION_TIMEOUT)
                await conn.execute(
                    "INSERT INTO schema_migrations (name) VALUES ($1)", migration.name
                )
                applied.append(migration.name)
        return applied

    async def ping(self) -> None:
        async with self._pool.connection("ping") as conn:
            await conn.fetchval("SELECT 1")

    # -- writes ------------------------------------------------------------

    async def insert(self, envelope: Envelope, value: bytes) -> bool:
        """Store the event and its outbox row; concurrent calls share one statement."""
        return await self._batcher.insert(envelope, value)

    async def claim(self, limit: int, lease_seconds: float, owner: str) -> list[OutboxRow]:
        async with self._pool.connection("claim") as conn:
            rows = await conn.fetch(_CLAIM, limit, float(lease_seconds), owner)
        return sorted((outbox_row(r) for r in rows), key=lambda r: r.id)

    async def mark_published(self, ids: list[int], owner: str) -> None:
        if not ids:
            return
        async with self._pool.connection("mark published") as conn:
            await conn.execute(_MARK_PUBLISHED, ids, owner)

    async def extend(self, ids: list[int], owner: str, lease_seconds: float) -> None:
        if not ids:
            return
        async with self._pool.connection("extend") as conn:
            await conn.execute(_EXTEND, ids, owner, float(lease_seconds))

    async def release(self, ids: list[int], owner: str, error: str) -> None:
        if not ids:
            return
        async with self._pool.connection("release") as conn:
            await conn.execute(_RELEASE, ids, owner, error[:MAX_ERROR_CHARS])

    # -- reads -------------------------------------------------------------

    async def backlog(self) -> Backlog:
        async with self._pool.connection("backlog") as conn:
            row = await conn.fetchrow(_BACKLOG)
        assert row is not None  # an aggregate always returns one row
        count, age = row[0], row[1]
        return Backlog(count=int(count), oldest_age_seconds=None if age is None else float(age))

    async def count_events(self, source: str | None = None) -> int:
        async with self._pool.connection("count") as conn:
            if source is None:
                count = await conn.fetchval("SELECT count(*) FROM events")
            else:
                count = await conn.fetchval("SELECT count(*) FROM events WHERE source = $1", source)
        return int(count)

    async def event_ids(self, source: str | None = None) -> list[str]:
        async with self._pool.connection("read") as conn:
            if source is None:
                rows = await conn.fetch("SELECT event_id FROM events ORDER BY id")
            else:
                rows = await conn.fetch(
                    "SELECT event_id FROM events WHERE source = $1 ORDER BY id", source
                )
        return [str(r["event_id"]) for r in rows]

    async def get_event(self, source: str, event_id: str) -> tuple[Envelope, datetime] | None:
        async with self._pool.connection("read") as conn:
            row = await conn.fetchrow(_GET_EVENT, source, event_id)
        return None if row is None else stored_event(row, _as_is)


def _as_is(value: datetime) -> datetime:
    """asyncpg already returns timestamptz columns as aware datetimes."""
    return value
