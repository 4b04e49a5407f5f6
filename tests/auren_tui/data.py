"""Recorded-style data for UI tests: a fixed stack at a fixed time."""

from __future__ import annotations

from auren_tui.core.model import (
    BridgeFigures,
    CheckResult,
    ContainerInfo,
    ServiceStatus,
    Snapshot,
)

NOW = 1_795_000_000.0  # a fixed clock for snapshots


def _svc(
    name: str,
    title: str,
    health: str = "healthy",
    latency: float = 3.2,
    state: str = "running",
    restarts: int = 0,
    detail: str = "200",
    components: dict[str, str] | None = None,
) -> ServiceStatus:
    ok = health != "unhealthy"
    return ServiceStatus(
        name=name,
        title=title,
        container=ContainerInfo(
            state=state,
            health="healthy" if state == "running" else None,
            started_at=NOW - 3 * 3600 - 125,
            restart_count=restarts,
            image=f"{name}:production",
            cpu_percent=1.5,
            mem_bytes=150 * 1024 * 1024,
        ),
        check=CheckResult(ok=ok, latency_ms=latency if ok else None, detail=detail),
        health=health,  # type: ignore[arg-type]
        components=components or {},
    )


def stack(bridge_health: str = "healthy", redis_down: bool = False, at: float = NOW) -> Snapshot:
    services = (
        _svc("neuros", "NEUROS AI agent", latency=12.5),
        _svc("biometric", "Biometric service", latency=4.1),
        _svc(
            "bridge",
            "Biometric bridge",
            health=bridge_health,
            latency=2.7,
            components={"database": "up", "redis": "up", "kafka": "up", "circuit": "closed"},
        ),
        _svc("postgres", "PostgreSQL", latency=0.8, detail="protocol ok"),
        _svc(
            "redis",
            "Redis",
            health="unhealthy" if redis_down else "healthy",
            state="restarting" if redis_down else "running",
            restarts=4 if redis_down else 0,
            detail="connection refused" if redis_down else "PONG",
        ),
        _svc("kafka", "Kafka", latency=1.9, detail="api versions ok"),
        _svc("prometheus", "Prometheus", latency=1.1),
        _svc("grafana", "Grafana", latency=6.0),
    )
    bridge = BridgeFigures(
        rate_by_source_status={
            "oura/accepted": 4.2,
            "whoop/accepted": 2.0,
            "healthkit/forbidden": 0.1,
        },
        p95_seconds=0.0123,
        active_tasks=3,
        outbox_backlog=0,
        circuit_state="closed",
    )
    return Snapshot(taken_at=at, services=services, bridge=bridge)
