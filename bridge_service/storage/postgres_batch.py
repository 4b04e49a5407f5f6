"""The PostgreSQL store's writes: concurrent inserts share one statement and one commit.

Every ``insert`` of one event-loop turn joins a batch; one ``INSERT … SELECT
FROM unnest(…)`` stores the batch's events and an outbox row for each new one.
A copy of an event already in the batch waits for the first copy's outcome.
When PostgreSQL refuses one row's data, the rows are retried one statement
each, so only the refused event fails (``UnstorableEvent``, a 422).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bridge_service.schema import Envelope
from bridge_service.storage.base import StorageUnavailable, UnstorableEvent, as_utc, reason
from bridge_service.storage.postgres_pool import DATA_ERRORS, PostgresPool

log = logging.getLogger("bridge.storage")

_Item = tuple[Envelope, bytes, asyncio.Future[bool]]
_Key = tuple[str, str]

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


class InsertBatcher:
    """Collects the inserts of one loop turn and stores them in one statement."""

    def __init__(self, pool: PostgresPool) -> None:
        self._pool = pool
        self._batch: list[_Item] = []
        self._batcher: asyncio.Future[None] | None = None

    async def insert(self, envelope: Envelope, value: bytes) -> bool:
        """Store the event and its outbox row; True if new (see ``Store.insert``)."""
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
            async with self._pool.connection("insert", pass_data_errors=True) as conn:
                rows = await conn.fetch(_INSERT_MANY, *_columns(items))
        except DATA_ERRORS as exc:
            if len(items) == 1:
                envelope = items[0][0]
                why = reason(exc)
                log.warning("PostgreSQL refused a %s event's data: %s", envelope.source, why)
                return {
                    (envelope.source, envelope.event_id): UnstorableEvent(
                        self._pool.redact(f"the database cannot store this event: {why}")
                    )
                }
            outcomes: dict[_Key, bool | UnstorableEvent] = {}
            for item in items:
                outcomes.update(await self._store([item]))
            return outcomes
        new = {(r["source"], r["event_id"]) for r in rows}
        return {(e.source, e.event_id): (e.source, e.event_id) in new for e, _, _ in items}


def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if future.done():
        return  # its waiter gave up (a timeout); nothing to tell
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
        future.exception()  # retrieved: a waiter may have timed out
    else:
        future.set_result(outcome)


def _columns(items: Iterable[_Item]) -> list[list[Any]]:
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
    return None if value is None else as_utc(value)
