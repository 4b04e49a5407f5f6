"""One refresh of the dashboard: every check, the containers and the bridge panel.

``Collector.collect()`` is blocking and never raises: run it in a worker
thread, one at a time (the next refresh scheduled after the last finished).
Everything it learns goes into one immutable :class:`Snapshot`; problems of
the refresh itself (Docker unreachable, ...) are one-line ``Snapshot.errors``.
The containers' part is ``containers.py``, the bridge panel's ``bridge_figures.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.health.bridge_figures import BridgePanel
from auren_tui.core.health.checks import DEFAULT_TIMEOUT, describe_error, http_client, run_check
from auren_tui.core.health.containers import ContainerProbe
from auren_tui.core.health.timing import ms_since, result_or
from auren_tui.core.model import (
    BridgeFigures,
    CheckResult,
    ContainerInfo,
    Health,
    ServiceStatus,
    Snapshot,
)
from auren_tui.core.transport.connection import Connection

T = TypeVar("T")

DOWN_STATES = frozenset({"down", "open", "unhealthy", "error", "failed"})


class Collector:
    """Collects a :class:`Snapshot` of the stack behind ``connection``.

    ``bridge_selector`` is a PromQL label matcher (``job="biometric-bridge"``)
    added to every bridge metric, for a Prometheus that scrapes more than one
    exporter of the same metric names (the old bridge exports them too).
    ``stats_wait`` bounds the wait for a container's CPU and memory figures
    (see ``ContainerProbe``); the figures may lag one refresh behind.
    """

    def __init__(
        self,
        connection: Connection,
        catalog: Catalog,
        prometheus_fallback_metrics: bool = True,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        bridge_selector: str = "",
        stats_wait: float = 0.3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connection = connection
        self.catalog = catalog
        self.timeout = timeout
        self.clock = clock
        self.last_timings: dict[str, float] = {}
        """Milliseconds spent per part of the last collect (``check:redis``, ``docker.stats:…``)."""
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None  # shared by the refreshes' threads
        self._containers = ContainerProbe(
            connection, catalog, timeout=timeout, stats_wait=stats_wait
        )
        self._bridge = BridgePanel(
            catalog, self._endpoint, timeout=timeout, bridge_selector=bridge_selector,
            prometheus_fallback_metrics=prometheus_fallback_metrics,
        )  # fmt: skip

    # ---- lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        """Close the cached HTTP and Docker clients."""
        self._containers.close()
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the refresh ------------------------------------------------------------------
    def collect(self) -> Snapshot:
        """One complete refresh (blocking; every part bounded by ``timeout``)."""
        with self._lock:
            timings: dict[str, float] = {}
            began = time.perf_counter()
            taken_at = self.clock()
            specs = self.catalog.services
            if self._http is None:
                self._http = http_client(self.timeout)
            http = self._http
            bridge = self.catalog.by_role("bridge")
            workers = max(2, min(16, len(specs) + 2))
            with ThreadPoolExecutor(workers, thread_name_prefix="auren-collect") as pool:
                checks = [
                    pool.submit(self._timed, timings, f"check:{s.name}", self._check, s)
                    for s in specs
                ]
                containers_f = pool.submit(
                    self._timed, timings, "docker", self._containers.containers, timings
                )
                figures_f = (
                    pool.submit(self._timed, timings, "bridge", self._bridge.figures, bridge, http)
                    if bridge is not None
                    else None
                )
                results = [result_or(f, lambda e: _check_crashed(e)) for f in checks]
                containers, docker_error = result_or(
                    containers_f, lambda e: (None, f"docker: {describe_error(e)}")
                )
                figures = (
                    result_or(figures_f, lambda e: BridgeFigures(error=describe_error(e)))
                    if figures_f is not None
                    else None
                )
            services = tuple(
                self._status(spec, check, containers)
                for spec, check in zip(specs, results, strict=True)
            )
            timings["total"] = ms_since(began)
            self.last_timings = timings
            errors = (docker_error,) if docker_error else ()
            return Snapshot(taken_at=taken_at, services=services, bridge=figures, errors=errors)

    @staticmethod
    def _timed(timings: dict[str, float], name: str, fn: Callable[..., T], *args: Any) -> T:
        began = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timings[name] = ms_since(began)

    def _endpoint(self, spec: ServiceSpec) -> tuple[str, int]:
        return self.connection.endpoint(spec.host, spec.port)

    def _check(self, spec: ServiceSpec) -> CheckResult:
        if spec.check == "none":
            return run_check("none", "", 0)
        try:
            host, port = self._endpoint(spec)
        except Exception as exc:
            return CheckResult(
                False, None, f"no route to {spec.host}:{spec.port}: {describe_error(exc)}"
            )
        return run_check(spec.check, host, port, spec.path, self.timeout, self._http)

    def _status(
        self, spec: ServiceSpec, check: CheckResult, containers: dict[str, ContainerInfo] | None
    ) -> ServiceStatus:
        container = None
        if containers is not None and spec.container:
            container = containers.get(spec.container, ContainerInfo(state="missing"))
        components = flatten_components(check.body)
        return ServiceStatus(
            name=spec.name,
            title=spec.title,
            container=container,
            check=check,
            health=row_health(spec, check, container, components),
            components=components,
        )


def flatten_components(body: dict[str, Any] | None) -> dict[str, str]:
    """``{name: status}`` from a /health body's ``components`` (the bridge's, or booleans)."""
    comps = (body or {}).get("components")
    if not isinstance(comps, dict):
        return {}
    out: dict[str, str] = {}
    for name, value in comps.items():
        if isinstance(value, bool):
            out[name] = "up" if value else "down"
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        elif isinstance(value, dict) and isinstance(value.get("status"), str):
            out[name] = value["status"]
        elif isinstance(value, dict) and "backlog" in value:
            backlog = value.get("backlog")
            out[f"{name} backlog"] = "unknown" if backlog is None else str(backlog)
    return out


def row_health(
    spec: ServiceSpec,
    check: CheckResult | None,
    container: ContainerInfo | None,
    components: dict[str, str],
) -> Health:
    """Unhealthy: check failed or container not running/unhealthy/missing; degraded:
    the service's own health says so; unknown: nothing was checked."""
    if check is not None and not check.ok:
        return "unhealthy"
    if container is not None and (container.state != "running" or container.health == "unhealthy"):
        return "unhealthy"
    if spec.check == "none" and container is None:
        return "unknown"
    status = (check.body or {}).get("status") if check is not None else None
    if status == "degraded" or any(v in DOWN_STATES for v in components.values()):
        return "degraded"
    return "healthy"


def _check_crashed(exc: BaseException) -> CheckResult:
    return CheckResult(ok=False, latency_ms=None, detail=f"check failed: {describe_error(exc)}")
