"""GET /health (per component), GET /ready, GET /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge_service.routes.deps import BridgeDep
from bridge_service.schema import (
    SOURCES,
    DatabaseHealth,
    Health,
    HealthComponents,
    KafkaHealth,
    KafkaProviderHealth,
    OutboxHealth,
    Readiness,
    RedisHealth,
    WebhookProviderHealth,
)
from bridge_service.state import Bridge
from bridge_service.storage.base import StorageUnavailable

router = APIRouter(tags=["health"])


async def _database(bridge: Bridge) -> DatabaseHealth:
    backend = bridge.store.backend
    if not bridge.store_ready:
        return DatabaseHealth(backend=backend, status="down", error="not connected yet")
    try:
        async with asyncio.timeout(2):
            await bridge.store.ping()
    except (StorageUnavailable, TimeoutError) as exc:
        return DatabaseHealth(backend=backend, status="down", error=str(exc) or "timeout")
    return DatabaseHealth(backend=backend, status="up")


async def _redis(bridge: Bridge) -> RedisHealth:
    if bridge.settings.redis_url is None:
        return RedisHealth(status="not configured")
    return RedisHealth(status="up" if await bridge.dedup.ping() else "down")


def _kafka(bridge: Bridge, circuit: str) -> KafkaHealth:
    if not bridge.settings.kafka_bootstrap_servers:
        return KafkaHealth(status="not configured")
    up = bridge.relay.connected and circuit == "closed"
    terra: Literal["up", "down"] | None = None
    if bridge.terra is not None:
        terra = "up" if bridge.terra.connected else "down"
    return KafkaHealth(
        status="up" if up else "down",
        circuit=circuit,
        last_error=bridge.breaker.last_error or None,
        terra_consumer=terra,
    )


async def _outbox(bridge: Bridge, database: DatabaseHealth) -> OutboxHealth:
    if database.status == "up":
        with contextlib.suppress(StorageUnavailable, TimeoutError):
            async with asyncio.timeout(2):
                backlog = await bridge.store.backlog()
            return OutboxHealth(
                backlog=backlog.count, oldest_age_seconds=backlog.oldest_age_seconds
            )
    return OutboxHealth(backlog=None, oldest_age_seconds=None)


def _providers(bridge: Bridge) -> dict[str, WebhookProviderHealth | KafkaProviderHealth]:
    providers: dict[str, WebhookProviderHealth | KafkaProviderHealth] = {
        src: WebhookProviderHealth(secret_configured=bool(bridge.secrets.get(src)))
        for src in SOURCES
        if src != "terra"
    }
    providers["terra"] = KafkaProviderHealth(topic=bridge.settings.terra_topic)
    return providers


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(bridge: BridgeDep) -> Response:
    """Every component's state. 200 while the bridge can store events, else 503."""
    database = await _database(bridge)
    redis = await _redis(bridge)
    circuit = bridge.breaker.state.name.lower()
    kafka = _kafka(bridge, circuit)
    outbox = await _outbox(bridge, database)
    status: Literal["healthy", "degraded", "unhealthy"] = "healthy"
    if database.status != "up":
        status = "unhealthy"
    elif redis.status == "down" or kafka.status == "down":
        status = "degraded"
    body = Health(
        status=status,
        service=bridge.settings.service_name,
        components=HealthComponents(
            database=database,
            redis=redis,
            kafka=kafka,
            outbox=outbox,
            circuit=circuit,
            providers=_providers(bridge),
        ),
        in_flight=bridge.in_flight,
    )
    return JSONResponse(body.model_dump(), status_code=200 if status != "unhealthy" else 503)


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(bridge: BridgeDep) -> Response:
    """200 only when a webhook sent now could be stored."""
    database = await _database(bridge)
    if database.status != "up":
        return _not_ready("database unavailable")
    if bridge.in_flight >= bridge.settings.max_concurrent_webhooks:
        return _not_ready("saturated")
    return JSONResponse(Readiness(ready=True).model_dump())


def _not_ready(reason: str) -> Response:
    return JSONResponse(Readiness(ready=False, reason=reason).model_dump(), status_code=503)


@router.get("/metrics")
async def metrics(bridge: BridgeDep) -> Response:
    """Prometheus exposition of this bridge's registry."""
    return Response(generate_latest(bridge.metrics.registry), media_type=CONTENT_TYPE_LATEST)
