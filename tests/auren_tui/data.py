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


def past_hour(until: float = NOW, every: float = 30.0) -> list[Snapshot]:
    """An hour of refreshes ending at ``until``, oldest first, that tells a story:
    traffic climbs from -45 min, redis restarts at -40 min (and stays down two
    minutes), the outbox backs up from -30 min and the circuit opens at -20 min
    for five minutes. Deterministic (a snapshot test draws it)."""
    from dataclasses import replace

    out: list[Snapshot] = []
    count = int(3600 / every)
    for i in range(count + 1):
        at = until - 3600 + i * every
        minute = (at - until) / 60  # -60 .. 0
        climb = max(0.0, minute + 45) / 45  # 0 .. 1 from -45 min
        redis_down = -40 <= minute < -38
        snap = stack(redis_down=redis_down, at=at)
        services = tuple(
            replace(
                s,
                container=replace(
                    s.container,
                    restart_count=(1 if minute >= -40 else 0)
                    if s.name == "redis"
                    else s.container.restart_count,
                    cpu_percent=round(5 + 40 * climb + (i % 7), 1)
                    if s.name == "bridge"
                    else round(1 + (i % 5) * 0.5, 1),
                    mem_bytes=int((150 + 100 * climb) * 1024 * 1024)
                    if s.name == "bridge"
                    else s.container.mem_bytes,
                ),
            )
            if s.container is not None
            else s
            for s in snap.services
        )
        backlog = 0.0 if minute < -30 else round((minute + 30) * 20 if minute < -10 else 400.0)
        circuit = "open" if -20 <= minute < -15 else "closed"
        bridge = replace(
            snap.bridge,
            rate_by_source_status={
                "oura/accepted": round(2 + 6 * climb, 2),
                "whoop/accepted": round(1 + 3 * climb, 2),
                "healthkit/accepted": round(0.5 + climb, 2),
                "oura/duplicate": round(0.4 * climb, 2),
                "whoop/forbidden": 0.1 if i % 10 == 0 else 0.0,
            },
            p50_seconds=round(0.004 + 0.01 * climb, 4),
            p95_seconds=round(0.012 + 0.08 * climb, 4),
            outbox_backlog=backlog,
            circuit_state=circuit,
        )
        out.append(replace(snap, services=services, bridge=bridge))
    return out
