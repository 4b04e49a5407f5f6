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

from bridge_service.logs import OutageNotice
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
        # A batch send is bounded by ``timeout``: a lease of three times that cannot
        # expire under a live relay, and a crashed relay's rows come back soon.
        self.lease_seconds = max(5.0, timeout * 3)
        self.connected = False
        self.settle_limit = 600.0
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The relay polls 5 times a second: an outage is logged once, then every 30 s.
        self._database = OutageNotice(log, "relay cannot read the outbox")

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
            # Let a burst of inserts gather into one claim/send/delete cycle.
            await asyncio.sleep(0.02)
            self._wake.clear()

    async def publish_once(self) -> int:
        """Claim one batch and publish it. Returns the number of rows published."""
        if not self.breaker.allow():
            return 0
        if self._producer is None:
            # Connect even with nothing to send, so /health tells the truth when idle.
            try:
                await self._producer_ready()
            except Exception as exc:
                self.breaker.failure(f"kafka unreachable: {type(exc).__name__}")
                return 0
        try:
            rows = await self.store.claim(self.batch_size, self.lease_seconds, self.owner)
        except StorageUnavailable as exc:
            self._database.failed(exc)
            return 0
        self._database.recovered()
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
            self.connected = True
        await self._refresh_backlog()
        return len(done)

    async def _send(self, rows: list[OutboxRow]) -> tuple[list[OutboxRow], list[OutboxRow], str]:
        """Hand the rows to the producer and wait until each is settled.

        Futures are never cancelled: the idempotent producer retries on its own,
        and a row is only given back once its delivery has definitely failed (a
        record released while still queued would be published twice).
        """
        self.metrics.publish_attempts.inc(len(rows))
        try:
            producer = await self._producer_ready()
        except Exception as exc:
            return [], rows, f"kafka unreachable: {type(exc).__name__}"
        futures: list[asyncio.Future[Any]] = []
        error = ""
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
        except Exception as exc:  # metadata wait timed out, producer closed, ...
            error = f"kafka: {type(exc).__name__}"
        if futures:
            pending = await self._settle(futures, rows)
            if pending:
                # Stopping the producer fails whatever it still holds; what is left
                # unsettled after that is treated as not delivered (at least once).
                await self._drop_producer()
                await asyncio.wait(pending, timeout=1)
                error = error or "kafka: delivery not confirmed"
        done = [r for r, f in zip(rows, futures, strict=False) if _ok(f)]
        failed = (
            rows[len(done) :] if len(done) == len(futures) else [r for r in rows if r not in done]
        )
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                error = error or f"kafka: {type(f.exception()).__name__}"
        return done, failed, error

    async def _settle(
        self, futures: list[asyncio.Future[Any]], rows: list[OutboxRow]
    ) -> set[asyncio.Future[Any]]:
        """Wait for the producer to settle every record, in bounded slices.

        A record sent as the broker went away may have been written with its
        acknowledgement lost. Releasing it now would publish it twice; the
        idempotent producer's own retry, once the broker is back, is
        de-duplicated by the broker. So keep waiting (the breaker shows the
        outage meanwhile), up to ``settle_limit``, then give up on them.
        """
        waited = 0.0
        pending: set[asyncio.Future[Any]] = set(futures)
        while pending and waited < self.settle_limit:
            _, pending = await asyncio.wait(pending, timeout=self.timeout)
            waited += self.timeout
            if pending:
                # Still ours: no other relay may take these rows meanwhile.
                with contextlib.suppress(StorageUnavailable):
                    await self.store.extend([r.id for r in rows], self.owner, self.lease_seconds)
                if self.breaker.state is not State.OPEN:
                    self.breaker.failure("kafka: delivery pending")
                    self.connected = False
        return pending

    async def _refresh_backlog(self) -> None:
        with contextlib.suppress(StorageUnavailable):
            backlog = await self.store.backlog()
            self.metrics.outbox_backlog.set(backlog.count)
            self.metrics.outbox_oldest.set(backlog.oldest_age_seconds or 0.0)


def _ok(future: asyncio.Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
