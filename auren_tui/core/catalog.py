"""The AUREN stack's service catalog (REFERENCE §1), overridable per profile."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

CheckKind = Literal["http", "postgres", "redis", "kafka", "none"]


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the stack, as seen from the server."""

    name: str
    """Short name used on screen and in commands (e.g. ``bridge``)."""
    title: str
    """Human name."""
    container: str
    """Docker container name on the server."""
    port: int
    """Server-side TCP port (reached through an SSH tunnel)."""
    check: CheckKind = "http"
    """How health is checked."""
    path: str = "/health"
    """HTTP health path (for ``check == "http"``)."""
    host: str = "127.0.0.1"
    """Address on the server the port listens on."""
    role: Literal["bridge", "prometheus", "kafka", "other"] = "other"


DEFAULT_CATALOG: tuple[ServiceSpec, ...] = (
    ServiceSpec("neuros", "NEUROS AI agent", "neuros-advanced", 8000),
    ServiceSpec("biometric", "Biometric service", "biometric-production", 8888),
    ServiceSpec("bridge", "Biometric bridge", "biometric-bridge", 8889, role="bridge"),
    ServiceSpec("postgres", "PostgreSQL", "auren-postgres", 5432, check="postgres", path=""),
    ServiceSpec("redis", "Redis", "auren-redis", 6379, check="redis", path=""),
    ServiceSpec("kafka", "Kafka", "auren-kafka", 9092, check="kafka", path="", role="kafka"),
    ServiceSpec(
        "prometheus", "Prometheus", "auren-prometheus", 9090, path="/-/ready", role="prometheus"
    ),
    ServiceSpec("grafana", "Grafana", "auren-grafana", 3000, path="/api/health"),
)


@dataclass(frozen=True)
class Catalog:
    services: tuple[ServiceSpec, ...] = field(default_factory=lambda: DEFAULT_CATALOG)

    def get(self, name: str) -> ServiceSpec | None:
        return next((s for s in self.services if s.name == name), None)

    def by_role(self, role: str) -> ServiceSpec | None:
        return next((s for s in self.services if s.role == role), None)

    def kafka_address(self) -> str | None:
        """The broker as the server sees it (``host:port``), or None without a kafka service."""
        for spec in self.services:
            if spec.role == "kafka" or spec.check == "kafka":
                return f"{spec.host}:{spec.port}"
        return None

    def bridge_address(self) -> tuple[str, int] | None:
        """The bridge as the server sees it, or None without a bridge service."""
        spec = self.by_role("bridge")
        return None if spec is None else (spec.host, spec.port)

    def with_overrides(self, overrides: dict[str, dict[str, object]]) -> Catalog:
        """Defaults with per-service fields replaced (unknown services are added)."""
        out = {s.name: s for s in self.services}
        for name, fields in overrides.items():
            base = out.get(name) or ServiceSpec(name, name, name, 0)
            out[name] = replace(base, **fields)  # type: ignore[arg-type]
        return Catalog(tuple(out.values()))
