"""What the dashboard shows: plain data, produced by the collector in a thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Health = Literal["healthy", "degraded", "unhealthy", "unknown"]
ConnState = Literal["connecting", "connected", "reconnecting", "failed", "local"]


@dataclass(frozen=True)
class ContainerInfo:
    state: str  # running, exited, restarting, missing, ...
    health: str | None = None  # docker healthcheck status, if any
    started_at: float | None = None  # unix time
    restart_count: int = 0
    image: str = ""
    cpu_percent: float | None = None
    mem_bytes: int | None = None
    mem_limit: int | None = None


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float | None
    detail: str = ""  # one line: "200", "connection refused", ...
    status_code: int | None = None
    body: dict[str, Any] | None = None  # parsed JSON health body, if any


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    title: str
    container: ContainerInfo | None
    check: CheckResult | None
    health: Health
    components: dict[str, str] = field(default_factory=dict)  # bridge: component -> status

    @property
    def fault(self) -> bool:
        return self.health in ("unhealthy", "degraded")


@dataclass(frozen=True)
class BridgeFigures:
    """The bridge panel, from Prometheus (or the bridge's /metrics)."""

    rate_by_source_status: dict[str, float] = field(default_factory=dict)  # "oura/accepted" -> /s
    p50_seconds: float | None = None  # median processing time
    p95_seconds: float | None = None
    active_tasks: float | None = None
    outbox_backlog: float | None = None
    circuit_state: str | None = None  # closed | half_open | open
    source: str = "prometheus"  # or "metrics"
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """One complete refresh."""

    taken_at: float
    services: tuple[ServiceStatus, ...]
    bridge: BridgeFigures | None = None
    errors: tuple[str, ...] = ()  # one-line problems of the refresh itself (docker unreachable...)

    @property
    def healthy(self) -> bool:
        return all(s.health == "healthy" for s in self.services)


_ORDER = {"unhealthy": 0, "degraded": 1, "unknown": 2, "healthy": 3}


def sorted_services(snapshot: Snapshot) -> list[ServiceStatus]:
    """Faults first (unhealthy, degraded, unknown, healthy), then catalog order."""
    indexed = list(enumerate(snapshot.services))
    indexed.sort(key=lambda pair: (_ORDER.get(pair[1].health, 2), pair[0]))
    return [s for _, s in indexed]
