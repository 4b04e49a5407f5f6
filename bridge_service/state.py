"""Everything one running bridge holds, opened and closed by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from bridge_service.config import Settings
from bridge_service.dedup import Dedup
from bridge_service.logs import OutageNotice
from bridge_service.metrics import Metrics
from bridge_service.relay.breaker import CircuitBreaker
from bridge_service.relay.outbox import OutboxRelay
from bridge_service.relay.terra import TerraConsumer
from bridge_service.schema import SOURCES
from bridge_service.storage.base import StorageUnavailable, Store
from bridge_service.storage.factory import make_store

log = logging.getLogger("bridge")


@dataclass
class Bridge:
    settings: Settings
    store: Store
    dedup: Dedup
    relay: OutboxRelay
    metrics: Metrics
    breaker: CircuitBreaker
    terra: TerraConsumer | None = None
    secrets: dict[str, list[bytes]] = field(default_factory=dict)
    store_ready: bool = False
    in_flight: int = 0
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Fire-and-forget with a reference kept (so the task is not collected)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _open_store(bridge: Bridge) -> None:
    """Open (and migrate) the database, retrying until it answers.

    The bridge starts even with the database down — /health says so and
    webhooks get 503 — rather than exiting into a restart loop.
    """
    delay = 0.5
    outage = OutageNotice(log, "database unavailable at start; retrying")
    while True:
        try:
            await bridge.store.open()
            if bridge.settings.migrate_on_start:
                applied = await bridge.store.migrate()
                if applied:
                    log.info("migrations applied", extra={"migrations": applied})
            bridge.store_ready = True
            outage.recovered()
            return
        except StorageUnavailable as exc:
            outage.failed(exc)
            with contextlib.suppress(Exception):
                await bridge.store.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def open_bridge(settings: Settings, stack: AsyncExitStack) -> Bridge:
    """Open every client in ``stack`` so a half-finished start still closes them."""
    metrics = Metrics()
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    store = make_store(database_url, settings.data_dir)
    breaker = CircuitBreaker(
        settings.breaker_failure_threshold,
        settings.breaker_reset_seconds,
        on_change=lambda s: metrics.circuit_state.set(int(s)),
    )
    redis_client: Redis | None = None
    if settings.redis_url is not None:
        redis_client = Redis.from_url(
            settings.redis_url.get_secret_value(),
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            health_check_interval=5,
        )
        stack.push_async_callback(redis_client.aclose)
    relay = OutboxRelay(
        store,
        settings.kafka_bootstrap_servers,
        settings.kafka_topic,
        metrics,
        breaker,
        timeout=settings.publish_timeout_seconds,
        batch_size=settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
    )
    bridge = Bridge(
        settings=settings,
        store=store,
        dedup=Dedup(redis_client, settings.dedup_ttl_seconds),
        relay=relay,
        metrics=metrics,
        breaker=breaker,
        secrets={s: settings.secrets_for(s) for s in SOURCES},
    )
    stack.push_async_callback(store.close)
    opener = asyncio.create_task(_open_store(bridge), name="open-store")

    async def _cancel_opener() -> None:
        opener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opener

    stack.push_async_callback(_cancel_opener)
    # Give a reachable database the chance to be ready before the first request.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await asyncio.shield(opener)

    await relay.start()
    stack.push_async_callback(relay.stop)
    if settings.kafka_bootstrap_servers and settings.terra_consumer_enabled:
        bridge.terra = TerraConsumer(
            store,
            settings.kafka_bootstrap_servers,
            settings.terra_topic,
            settings.terra_consumer_group,
            metrics,
            on_stored=relay.wake,
            timeout=settings.publish_timeout_seconds,
        )
        await bridge.terra.start()
        stack.push_async_callback(bridge.terra.stop)
    return bridge
