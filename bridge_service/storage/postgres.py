"""PostgreSQL storage over an asyncpg pool.

Every database or network failure surfaces as ``StorageUnavailable`` with a
one-line message that names the server but never the password. The pool is
created lazily again after a failed ``open()``, and asyncpg reconnects dead
pool connections on acquire, so the store recovers by itself once PostgreSQL
is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from bridge_service.schema import Envelope
from bridge_service.storage import migrations
from bridge_service.storage.base import Backlog, OutboxRow, StorageUnavailable, UnstorableEvent

log = logging.getLogger("bridge.storage")

# Errors that mean "the database did not do it"; all become StorageUnavailable.
_DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,  # asyncio.TimeoutError is this class since 3.11
)

# Errors that mean "the database will never store this row" (SQLSTATE classes 22
# and 23, or a value asyncpg cannot encode): the event is refused, the database
# is fine, and the other rows of its batch must not share the failure.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.exceptions._base.DataError,  # client-side: invalid input for a query argument
    UnicodeError,
)

_Item = tuple[Envelope, bytes, asyncio.Future[bool]]
_Key = tuple[str, str]

# Serialises concurrent migrate() calls from several bridge replicas.
_MIGRATION_LOCK_KEY = 0x61757265_6E000001  # "auren" + 1
_MIGRATION_TIMEOUT = 60.0
_MAX_ERROR_CHARS = 2000

# One statement stores a whole batch: the events, then an outbox row for each
# event that was new. Concurrent requests share it (one round trip, one commit).
BATCH_LIMIT = 500
_INSERT_MANY = """
WITH rows AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::timestamptz[], $7::timestamptz[], $8::text[], $9::bytea[])
        WITH ORDINALITY AS r(source, event_id, user_id, event_type, trace_id,
                             occurred_at, received_at, payload, value, ord)
), e AS (
    INSERT INTO events (source, event_id, user_id, event_type, trace_id,
                        occurred_at, received_at, payload)
    SELECT source, event_id, user_id, event_type, trace_id, occurred_at, received_at,
           payload::jsonb
    FROM rows ORDER BY ord
    ON CONFLICT (source, event_id) DO NOTHING
    RETURNING source, event_id, user_id, trace_id
), o AS (
    INSERT INTO outbox (source, event_id, user_id, trace_id, value)
    SELECT e.source, e.event_id, e.user_id, e.trace_id, rows.value
    FROM e JOIN rows USING (source, event_id) ORDER BY rows.ord
    RETURNING source, event_id
)
SELECT source, event_id FROM o
"""

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
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._secrets = _dsn_secrets(dsn)
        self.target = _dsn_target(dsn)
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._closed = False
        self._batch: list[tuple[Envelope, bytes, asyncio.Future[bool]]] = []
        self._batcher: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.target!r})"

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Create the pool; StorageUnavailable if PostgreSQL cannot be reached.

        After a failure the store stays usable: the next call tries again.
        """
        self._closed = False
        await self._get_pool()

    async def close(self) -> None:
        self._closed = True
        async with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=self._command_timeout)
        except _DB_ERRORS:
            pool.terminate()  # the server is gone or slow: drop the sockets
        except asyncio.CancelledError:
            pool.terminate()
            raise

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StorageUnavailable(f"PostgreSQL at {self.target}: the store is closed")
        async with self._pool_lock:
            if self._pool is None:
                try:
                    # The overall bound covers DNS and every min_size connection.
                    self._pool = await asyncio.wait_for(
                        asyncpg.create_pool(
                            self._dsn,
                            min_size=self._min_size,
                            max_size=self._max_size,
                            command_timeout=self._command_timeout,
                            timeout=self._connect_timeout,
                            server_settings=self._server_settings(),
                            reset=_keep_session,
                        ),
                        timeout=self._connect_timeout * 2 + 1,
                    )
                except _DB_ERRORS as exc:
                    raise self._unavailable("connect", exc) from None
                except ValueError as exc:  # a malformed DSN
                    raise ValueError(self._redact(f"invalid PostgreSQL DSN: {exc}")) from None
            return self._pool

    def _server_settings(self) -> dict[str, str] | None:
        """Name the bridge in pg_stat_activity unless the DSN names it already."""
        try:
            query = parse_qs(urlsplit(self._dsn).query)
        except ValueError:
            query = {}
        return None if "application_name" in query else {"application_name": "auren-bridge"}

    @asynccontextmanager
    async def _conn(
        self, what: str, *, pass_data_errors: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; any database failure becomes StorageUnavailable.

        ``pass_data_errors``: a refused row's error (``_DATA_ERRORS``) reaches
        the caller as it is, to be told apart from the database being down.
        """
        pool = await self._get_pool()
        try:
            async with pool.acquire(timeout=self._command_timeout) as conn:
                yield conn
        except _DATA_ERRORS as exc:
            if pass_data_errors:
                raise
            raise self._unavailable(what, exc) from None
        except _DB_ERRORS as exc:
            raise self._unavailable(what, exc) from None

    def _unavailable(self, action: str, exc: BaseException) -> StorageUnavailable:
        """One line: which server, doing what, and the driver's reason (redacted)."""
        return StorageUnavailable(
            self._redact(f"PostgreSQL at {self.target} unavailable ({action}): {_reason(exc)}")
        )

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- schema ------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply pending migrations in one transaction; return the names applied."""
        applied: list[str] = []
        async with self._conn("migrate") as conn, conn.transaction():
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
        async with self._conn("ping") as conn:
            await conn.fetchval("SELECT 1")

    # -- writes ------------------------------------------------------------

    async def insert(self, envelope: Envelope, value: bytes) -> bool:
        """Store the event and its outbox row; concurrent calls share one statement."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._batch.append((envelope, value, future))
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.ensure_future(self._run_batches())
        return await asyncio.shield(future)

    async def _run_batches(self) -> None:
        await asyncio.sleep(0)  # let the requests of this loop turn join
        while self._batch:
            batch, self._batch = self._batch[:BATCH_LIMIT], self._batch[BATCH_LIMIT:]
            firsts: dict[_Key, _Item] = {}
            copies: dict[_Key, list[asyncio.Future[bool]]] = {}
            for item in batch:
                key: _Key = (item[0].source, item[0].event_id)
                if key in firsts:
                    # The same event twice in one batch: the copy is only a duplicate
                    # once the first copy is durable, so it waits for that outcome.
                    copies.setdefault(key, []).append(item[2])
                else:
                    firsts[key] = item
            try:
                outcomes = await self._store(list(firsts.values()))
            except BaseException as exc:
                failure = exc if isinstance(exc, Exception) else StorageUnavailable("cancelled")
                for key, (_, _, future) in firsts.items():
                    for waiter in (future, *copies.get(key, ())):
                        _settle(waiter, failure)
                if not isinstance(exc, Exception):
                    raise
                continue
            for key, (_, _, future) in firsts.items():
                outcome = outcomes[key]
                _settle(future, outcome)
                for copy in copies.get(key, ()):
                    # Stored (now or before): the copy is a duplicate. Refused: so is it.
                    _settle(copy, False if isinstance(outcome, bool) else outcome)

    async def _store(self, items: list[_Item]) -> dict[_Key, bool | UnstorableEvent]:
        """Insert ``items`` in one statement; each key's outcome: new, known or refused.

        When the database refuses one row's data the statement fails as a
        whole; the rows are then stored one statement each, so only the
        refused row fails.
        """
        try:
            async with self._conn("insert", pass_data_errors=True) as conn:
                rows = await conn.fetch(_INSERT_MANY, *_columns(items))
        except _DATA_ERRORS as exc:
            if len(items) == 1:
                envelope = items[0][0]
                log.warning(
                    "PostgreSQL refused a %s event's data: %s", envelope.source, _reason(exc)
                )
                return {
                    (envelope.source, envelope.event_id): UnstorableEvent(
                        self._redact(f"the database cannot store this event: {_reason(exc)}")
                    )
                }
            outcomes: dict[_Key, bool | UnstorableEvent] = {}
            for item in items:
                outcomes.update(await self._store([item]))
            return outcomes
        new = {(r["source"], r["event_id"]) for r in rows}
        return {(e.source, e.event_id): (e.source, e.event_id) in new for e, _, _ in items}

    async def claim(self, limit: int, lease_seconds: float, owner: str) -> list[OutboxRow]:
        async with self._conn("claim") as conn:
            rows = await conn.fetch(_CLAIM, limit, float(lease_seconds), owner)
        return sorted((_outbox_row(r) for r in rows), key=lambda r: r.id)

    async def mark_published(self, ids: list[int], owner: str) -> None:
        if not ids:
            return
        async with self._conn("mark published") as conn:
            await conn.execute(_MARK_PUBLISHED, ids, owner)

    async def extend(self, ids: list[int], owner: str, lease_seconds: float) -> None:
        if not ids:
            return
        async with self._conn("extend") as conn:
            await conn.execute(_EXTEND, ids, owner, float(lease_seconds))

    async def release(self, ids: list[int], owner: str, error: str) -> None:
        if not ids:
            return
        async with self._conn("release") as conn:
            await conn.execute(_RELEASE, ids, owner, error[:_MAX_ERROR_CHARS])

    # -- reads -------------------------------------------------------------

    async def backlog(self) -> Backlog:
        async with self._conn("backlog") as conn:
            row = await conn.fetchrow(_BACKLOG)
        assert row is not None  # an aggregate always returns one row
        count, age = row[0], row[1]
        return Backlog(count=int(count), oldest_age_seconds=None if age is None else float(age))

    async def count_events(self, source: str | None = None) -> int:
        async with self._conn("count") as conn:
            if source is None:
                count = await conn.fetchval("SELECT count(*) FROM events")
            else:
                count = await conn.fetchval("SELECT count(*) FROM events WHERE source = $1", source)
        return int(count)

    async def event_ids(self, source: str | None = None) -> list[str]:
        async with self._conn("read") as conn:
            if source is None:
                rows = await conn.fetch("SELECT event_id FROM events ORDER BY id")
            else:
                rows = await conn.fetch(
                    "SELECT event_id FROM events WHERE source = $1 ORDER BY id", source
                )
        return [str(r["event_id"]) for r in rows]

    async def get_event(self, source: str, event_id: str) -> tuple[Envelope, datetime] | None:
        async with self._conn("read") as conn:
            row = await conn.fetchrow(_GET_EVENT, source, event_id)
        if row is None:
            return None
        envelope = Envelope(
            source=row["source"],
            event_id=row["event_id"],
            user_id=row["user_id"],
            event_type=row["event_type"],
            trace_id=row["trace_id"],
            occurred_at=row["occurred_at"],
            received_at=row["received_at"],
            payload=json.loads(row["payload"]),
        )
        stored_at: datetime = row["stored_at"]
        return envelope, stored_at


def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if future.done():
        return  # its waiter gave up (a timeout); nothing to tell
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
        future.exception()  # retrieved: a waiter may have timed out
    else:
        future.set_result(outcome)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query: one round trip fewer per call.

    The store sets no session state (no SET, LISTEN, cursors or session
    advisory locks), and asyncpg still rolls back a transaction left open.
    """


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _columns(
    items: Iterable[tuple[Envelope, bytes, asyncio.Future[bool]]],
) -> list[list[Any]]:
    """The batch as the nine arrays ``_INSERT_MANY`` unnests, in order."""
    cols: list[list[Any]] = [[] for _ in range(9)]
    for envelope, value, _ in items:
        row = (
            envelope.source,
            envelope.event_id,
            envelope.user_id,
            envelope.event_type,
            envelope.trace_id,
            _utc(envelope.occurred_at),
            _utc(envelope.received_at),
            json.dumps(envelope.payload, ensure_ascii=False),
            value,
        )
        for col, item in zip(cols, row, strict=True):
            col.append(item)
    return cols


def _utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are UTC (asyncpg would take them as the host's local time)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _outbox_row(row: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        id=int(row[0]),
        event_id=row[1],
        source=row[2],
        user_id=row[3],
        trace_id=row[4],
        value=bytes(row[5]),
        attempts=int(row[6]),
    )


def _dsn_target(dsn: str) -> str:
    """``host:port/database`` for messages: enough to act on, nothing secret."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the configured server"
    database = unquote(parts.path.lstrip("/")) or parts.username or ""
    return f"{host}:{port}/{database}"


def _dsn_secrets(dsn: str) -> list[str]:
    """Every spelling of the password in ``dsn``, longest first, for redaction."""
    secrets: set[str] = set()
    try:
        parts = urlsplit(dsn)
        if parts.password:
            secrets.update({parts.password, unquote(parts.password)})
        for value in parse_qs(parts.query).get("password", []):
            secrets.add(value)
    except ValueError:
        pass
    return sorted((s for s in secrets if s), key=len, reverse=True)
