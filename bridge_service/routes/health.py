"""GET /health (per component), GET /ready, GET /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge_service.routes.deps import BridgeDep
from bridge_service.schema import SOURCES
from bridge_service.storage.base import StorageUnavailable

router = APIRouter(tags=["health"])


async def _database(bridge: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"backend": bridge.store.backend}
    if not bridge.store_ready:
        return {**info, "status": "down", "error": "not connected yet"}
    try:
        async with asyncio.timeout(2):
            await bridge.store.ping()
    except (StorageUnavailable, TimeoutError) as exc:
        return {**info, "status": "down", "error": str(exc) or "timeout"}
    return {**info, "status": "up"}


@router.get("/health")
async def health(bridge: BridgeDep) -> Response:
    """Every component's state. 200 while the bridge can store events, else 503."""
    s = bridge.settings
    database = await _database(bridge)
    if s.redis_url is None:
        redis: dict[str, Any] = {"status": "not configured"}
    else:
        redis = {"status": "up" if await bridge.dedup.ping() else "down"}
    circuit = bridge.breaker.state.name.lower()
    if not s.kafka_bootstrap_servers:
        kafka: dict[str, Any] = {"status": "not configured"}
    else:
        up = bridge.relay.connected and circuit == "closed"
        kafka = {"status": "up" if up else "down", "circuit": circuit}
        if bridge.breaker.last_error:
            kafka["last_error"] = bridge.breaker.last_error
        if bridge.terra is not None:
            kafka["terra_consumer"] = "up" if bridge.terra.connected else "down"
    outbox: dict[str, Any] = {"backlog": None, "oldest_age_seconds": None}
    if database["status"] == "up":
        with contextlib.suppress(StorageUnavailable, TimeoutError):
            async with asyncio.timeout(2):
                backlog = await bridge.store.backlog()
            outbox = {"backlog": backlog.count, "oldest_age_seconds": backlog.oldest_age_seconds}
    providers: dict[str, dict[str, Any]] = {
        src: {"secret_configured": bool(bridge.secrets.get(src))}
        for src in SOURCES
        if src != "terra"
    }
    providers["terra"] = {"via": "kafka", "topic": s.terra_topic}
    degraded = redis["status"] == "down" or kafka["status"] == "down"
    status = "unhealthy" if database["status"] != "up" else ("degraded" if degraded else "healthy")
    body = {
        "status": status,
        "service": s.service_name,
        "components": {
            "database": database,
            "redis": redis,
            "kafka": kafka,
            "outbox": outbox,
            "circuit": circuit,
            "providers": providers,
        },
        "in_flight": bridge.in_flight,
    }
    return JSONResponse(body, status_code=200 if status != "unhealthy" else 503)


@router.get("/ready")
async def ready(bridge: BridgeDep) -> Response:
    """200 only when a webhook sent now could be stored."""
    database = await _database(bridge)
    if database["status"] != "up":
        return JSONResponse({"ready": False, "reason": "database unavailable"}, status_code=503)
    if bridge.in_flight >= bridge.settings.max_concurrent_webhooks:
        return JSONResponse({"ready": False, "reason": "saturated"}, status_code=503)
    return JSONResponse({"ready": True})


@router.get("/metrics")
async def metrics(bridge: BridgeDep) -> Response:
    """Prometheus exposition of this bridge's registry."""
    return Response(generate_latest(bridge.metrics.registry), media_type=CONTENT_TYPE_LATEST)
