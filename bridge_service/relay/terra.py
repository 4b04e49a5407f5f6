"""Terra arrives through Kafka: consume ``terra-biometric-events`` into the store.

Offsets are committed only after the database commit, and inserts are
idempotent on Terra's own record id, so a crash anywhere means at most a
re-read, never a loss or a second row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge_service.logs import OutageNotice
from bridge_service.metrics import Metrics
from bridge_service.providers import InvalidPayload, normalise_terra
from bridge_service.relay.outbox import stop_quietly
from bridge_service.storage.base import StorageUnavailable, Store, UnstorableEvent

log = logging.getLogger("bridge.terra")


class TerraConsumer:
    def __init__(
        self,
        store: Store,
        bootstrap: str,
        topic: str,
        group: str,
        metrics: Metrics,
        on_stored: Callable[[], None],
        timeout: float,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.metrics = metrics
        self.on_stored = on_stored
        self.timeout = timeout
        self.connected = False
        self._database = OutageNotice(log, "terra: database unavailable")
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="terra-consumer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=self.group,
                client_id="auren-bridge-terra",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                request_timeout_ms=int(max(self.timeout, 5) * 1000),
                metadata_max_age_ms=5_000,
            )
            try:
                async with asyncio.timeout(self.timeout):
                    await consumer.start()
                self.connected = True
                backoff = 0.5
                await self._consume(consumer)
            except asyncio.CancelledError:
                await stop_quietly(consumer, 2.0)
                raise
            except Exception as exc:
                self.connected = False
                self.last_error = type(exc).__name__
                log.warning("terra consumer: %s; retrying in %.1f s", self.last_error, backoff)
            await stop_quietly(consumer, 2.0)
            self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batch.items():
                next_offset: int | None = None
                stored_any = False
                for record in records:
                    try:
                        stored_any = await self._store(record.value) or stored_any
                    except StorageUnavailable as exc:
                        # Not committed: this record is read again once the database is back.
                        self._database.failed(exc)
                        consumer.seek(TopicPartition(tp.topic, tp.partition), record.offset)
                        self.last_error = "database unavailable"
                        break
                    self._database.recovered()
                    next_offset = record.offset + 1
                if next_offset is not None:
                    # Only after the database commit of every record before it.
                    async with asyncio.timeout(self.timeout):
                        await consumer.commit({tp: next_offset})
                if stored_any:
                    self.on_stored()
                if next_offset is None or next_offset <= records[-1].offset:
                    await asyncio.sleep(1.0)

    async def _store(self, value: bytes | None) -> bool:
        try:
            envelope = normalise_terra(value or b"", datetime.now(UTC))
        except InvalidPayload as exc:
            self.metrics.terra_consumed.labels("invalid").inc()
            log.warning("terra record rejected: %s", exc)
            return False
        try:
            new = await self.store.insert(envelope, envelope.model_dump_json().encode())
        except UnstorableEvent as exc:
            # The record, not the database, is the problem: retrying cannot help.
            self.metrics.terra_consumed.labels("invalid").inc()
            log.warning("terra record rejected: %s", exc)
            return False
        self.metrics.terra_consumed.labels("accepted" if new else "duplicate").inc()
        return new
