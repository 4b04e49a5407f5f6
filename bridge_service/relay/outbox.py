"""The outbox relay: publishes stored events to Kafka, at least once.

Rows are leased (``Store.claim``) so several bridge processes on one database
never publish the same row at the same time; a crashed relay's lease expires
and another picks the rows up. Every Kafka call is bounded by a timeout, and a
circuit breaker stops hammering a dead broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from bridge_service.metrics import Metrics
from bridge_service.relay.breaker import CircuitBreaker, State
from bridge_service.schema import HEADER_EVENT_ID, HEADER_SOURCE, HEADER_TRACE_ID
from bridge_service.storage.base import OutboxRow, StorageUnavailable, Store

log = logging.getLogger("bridge.relay")


def make_producer(bootstrap: str, timeout: float) -> AIOKafkaProducer:
    """The producer the old bridge only claimed to have: idempotent, acks=all, compressed."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="auren-bridge",
        acks="all",
        enable_idempotence=True,
        compression_type="gzip",
        linger_ms=5,
        request_timeout_ms=int(timeout * 1000),
        retry_backoff_ms=200,
        metadata_max_age_ms=30_000,
    )


async def stop_quietly(client: Any, bound: float) -> None:
    """Stop an aiokafka client without hanging when the broker is gone."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(bound):
            await client.stop()


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        bootstrap: str | None,
        topic: str,
        metrics: Metrics,
        breaker: CircuitBreaker,
        timeout: float,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.topic = topic
        self.metrics = metrics
        self.breaker = breaker
        self.timeout = timeout
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = max(30.0, timeout * 3)
        self.connected = False
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something was stored: publish it now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self.bootstrap:
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_producer()

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            assert self.bootstrap is not None
            producer = make_producer(self.bootstrap, self.timeout)
            try:
                async with asyncio.timeout(self.timeout):
                    await producer.start()
            except BaseException:
                await stop_quietly(producer, 2.0)
                raise
            self._producer = producer
            self.connected = True
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        self.connected = False
        if producer is not None:
            await stop_quietly(producer, 2.0)

    async def _run(self) -> None:
        while True:
            try:
                published = await self.publish_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the relay die; the breaker records why
                log.exception("relay iteration failed")
                published = 0
            if published >= self.batch_size:
                continue  # more waiting: go on at once
            wait = self.poll_seconds
            if self.breaker.state is State.OPEN:
                wait = max(wait, self.breaker.seconds_until_retry())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    async def publish_once(self) -> int:
        """Claim one batch and publish it. Returns the number of rows published."""
        if not self.breaker.allow():
            return 0
        try:
            rows = await self.store.claim(self.batch_size, self.lease_seconds, self.owner)
        except StorageUnavailable as exc:
            log.warning("relay cannot read the outbox: %s", exc)
            return 0
        if not rows:
            await self._refresh_backlog()
            return 0
        done, failed, error = await self._send(rows)
        if done:
            with contextlib.suppress(StorageUnavailable):
                await self.store.mark_published([r.id for r in done], self.owner)
            self.metrics.published.inc(len(done))
        if failed:
            self.metrics.publish_failures.inc(len(failed))
            with contextlib.suppress(StorageUnavailable):
                await self.store.release([r.id for r in failed], self.owner, error or "failed")
            self.breaker.failure(error or "publish failed")
            await self._drop_producer()
            log.warning("publish failed for %d events: %s", len(failed), error)
        else:
            self.breaker.success()
        await self._refresh_backlog()
        return len(done)

    async def _send(self, rows: list[OutboxRow]) -> tuple[list[OutboxRow], list[OutboxRow], str]:
        self.metrics.publish_attempts.inc(len(rows))
        try:
            producer = await self._producer_ready()
        except Exception as exc:
            return [], rows, f"kafka unreachable: {type(exc).__name__}"
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self.timeout):
                for row in rows:
                    headers = [
                        (HEADER_SOURCE, row.source.encode()),
                        (HEADER_EVENT_ID, row.event_id.encode()),
                    ]
                    if row.trace_id:
                        headers.append((HEADER_TRACE_ID, row.trace_id.encode()))
                    futures.append(
                        await producer.send(
                            self.topic, row.value, key=row.user_id.encode(), headers=headers
                        )
                    )
                results = await asyncio.gather(*futures, return_exceptions=True)
        except (TimeoutError, Exception) as exc:
            for f in futures:
                f.cancel()
            # Rows whose future finished fine were delivered; the rest go back.
            done = [r for r, f in zip(rows, futures, strict=False) if _ok(f)]
            failed = [r for r in rows if r not in done]
            return done, failed, f"kafka: {type(exc).__name__}"
        done, failed, error = [], [], ""
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                failed.append(row)
                error = f"kafka: {type(result).__name__}"
            else:
                done.append(row)
        return done, failed, error

    async def _refresh_backlog(self) -> None:
        with contextlib.suppress(StorageUnavailable):
            backlog = await self.store.backlog()
            self.metrics.outbox_backlog.set(backlog.count)
            self.metrics.outbox_oldest.set(backlog.oldest_age_seconds or 0.0)


def _ok(future: asyncio.Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
