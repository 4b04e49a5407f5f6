"""One refresh of the dashboard: every check, the containers and the bridge panel.

``Collector.collect()`` is blocking and never raises: run it in a worker
thread, one at a time (the next refresh scheduled after the last finished).
Everything it learns goes into one immutable :class:`Snapshot`; problems of
the refresh itself (Docker unreachable, ...) are one-line ``Snapshot.errors``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.health.checks import DEFAULT_TIMEOUT, describe_error, http_client, run_check
from auren_tui.core.model import (
    BridgeFigures,
    CheckResult,
    ContainerInfo,
    Health,
    ServiceStatus,
    Snapshot,
    sorted_services,
)
from auren_tui.core.transport.connection import Connection

if TYPE_CHECKING:
    import docker

T = TypeVar("T")
_Figures = tuple[float | None, int | None, int | None]  # cpu %, memory bytes, memory limit
_Stats = tuple[dict[str, Any], float, float]  # stats body, ms taken, monotonic time done
STATS_MAX_AGE = 10.0  # seconds a prefetched stats sample stays worth showing

__all__ = [  # sorted_services lives with the model; re-exported for callers of collect()
    "Collector",
    "cpu_percent",
    "flatten_components",
    "histogram_quantile",
    "image_label",
    "memory_usage",
    "parse_docker_time",
    "row_health",
    "sorted_services",
]

DOWN_STATES = frozenset({"down", "open", "unhealthy", "error", "failed"})
CIRCUIT_STATES = {0: "closed", 1: "half_open", 2: "open"}
EVENTS = "webhook_events_total"
DURATION_BUCKET = "webhook_process_duration_seconds_bucket"
GAUGES = ("active_webhook_tasks", "bridge_outbox_backlog", "bridge_kafka_circuit_state")


@dataclass
class _Scrape:
    """Counter values of one /metrics scrape, kept to compute rates at the next."""

    at: float  # monotonic
    events: dict[str, float] = field(default_factory=dict)  # "source/status" -> count
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count


class Collector:
    """Collects a :class:`Snapshot` of the stack behind ``connection``.

    ``bridge_selector`` is a PromQL label matcher (``job="biometric-bridge"``)
    added to every bridge metric, for a Prometheus that scrapes more than one
    exporter of the same metric names (the old bridge exports them too).
    ``stats_wait`` bounds the wait for a container's CPU and memory figures
    (see ``_container_figures``); the figures may lag one refresh behind.
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
        self.prometheus_fallback_metrics = prometheus_fallback_metrics
        self.timeout = timeout
        self.bridge_selector = bridge_selector
        self.stats_wait = stats_wait
        self.clock = clock
        self.last_timings: dict[str, float] = {}
        """Milliseconds spent per part of the last collect (``check:redis``, ``docker.stats:…``)."""
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None  # shared by the refreshes' threads
        self._docker: docker.DockerClient | None = None
        self._docker_url: str | None = None
        self._prev_scrape: _Scrape | None = None
        self._prev_cpu: dict[str, tuple[int, int]] = {}  # container id -> (cpu total, system)
        self._stats_pending: dict[str, Future[_Stats]] = {}
        self._stats_figures: dict[str, _Figures] = {}  # container id -> last known figures

    # ---- lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        """Close the cached HTTP and Docker clients."""
        self._drop_docker()
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
            bridge = self.catalog.by_role("bridge")
            workers = max(2, min(16, len(specs) + 2))
            with ThreadPoolExecutor(workers, thread_name_prefix="auren-collect") as pool:
                checks = [
                    pool.submit(self._timed, timings, f"check:{s.name}", self._check, s)
                    for s in specs
                ]
                containers_f = pool.submit(
                    self._timed, timings, "docker", self._containers, timings
                )
                figures_f = (
                    pool.submit(self._timed, timings, "bridge", self._figures, bridge)
                    if bridge is not None
                    else None
                )
                results = [_result(f, lambda e: _check_crashed(e)) for f in checks]
                containers, docker_error = _result(
                    containers_f, lambda e: (None, f"docker: {describe_error(e)}")
                )
                figures = (
                    _result(figures_f, lambda e: BridgeFigures(error=describe_error(e)))
                    if figures_f is not None
                    else None
                )
            services = tuple(
                self._status(spec, check, containers)
                for spec, check in zip(specs, results, strict=True)
            )
            timings["total"] = _ms(began)
            self.last_timings = timings
            errors = (docker_error,) if docker_error else ()
            return Snapshot(taken_at=taken_at, services=services, bridge=figures, errors=errors)

    @staticmethod
    def _timed(timings: dict[str, float], name: str, fn: Callable[..., T], *args: Any) -> T:
        began = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timings[name] = _ms(began)

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

    # ---- docker -------------------------------------------------------------------------
    def _docker_client(self, url: str) -> docker.DockerClient:
        if self._docker is None or self._docker_url != url:
            from auren_tui.core.restore.target import docker_client

            self._drop_docker()
            # The SDK wants whole seconds; version "auto" costs one /version call, once.
            self._docker = docker_client(
                url, timeout=max(1, math.ceil(self.timeout)), keep_alive=True
            )
            self._docker_url = url
        return self._docker

    def _drop_docker(self) -> None:
        client, self._docker, self._docker_url = self._docker, None, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken client
                client.close()

    def _containers(
        self, timings: dict[str, float]
    ) -> tuple[dict[str, ContainerInfo] | None, str | None]:
        """Container info by name, or (None, one-line error); (None, None) without Docker."""
        try:
            url = self.connection.docker_url()
        except Exception as exc:
            return None, f"docker: {describe_error(exc)}"
        if url is None:
            return None, None
        try:
            client = self._docker_client(url)
            began = time.perf_counter()
            listed = client.api.containers(all=True)
            timings["docker.list"] = _ms(began)
        except Exception as exc:
            self._drop_docker()
            return (
                None,
                f"docker: cannot list containers at {url}: {describe_error(exc, self.timeout)}",
            )
        wanted = {s.container for s in self.catalog.services if s.container}
        found: dict[str, str] = {}
        for entry in listed:
            for name in entry.get("Names") or ():
                if name.lstrip("/") in wanted:
                    found[name.lstrip("/")] = entry["Id"]
        out: dict[str, ContainerInfo] = {}
        if found:
            with ThreadPoolExecutor(min(8, len(found)), thread_name_prefix="auren-docker") as pool:
                futures = {
                    name: pool.submit(self._container_info, client, name, cid, timings)
                    for name, cid in found.items()
                }
                for name, fut in futures.items():
                    out[name] = _result(fut, lambda e: ContainerInfo(state="unknown"))
        live = set(found.values())
        self._prev_cpu = {k: v for k, v in self._prev_cpu.items() if k in live}
        self._stats_figures = {k: v for k, v in self._stats_figures.items() if k in live}
        self._stats_pending = {k: v for k, v in self._stats_pending.items() if k in live}
        return out, None

    def _container_figures(
        self, client: docker.DockerClient, name: str, cid: str, timings: dict[str, float]
    ) -> _Figures:
        """CPU%, memory and limit from the newest stats sample, waiting ``stats_wait`` at most.

        A Docker stats call takes up to a second even with ``one_shot`` (the
        daemon answers at its collector's next tick), so it never holds up the
        refresh: a call still running is left to finish in the background and
        is read by the next refresh; meanwhile the last figures stand. At most
        one call per container is in flight.
        """
        pending = self._stats_pending.pop(cid, None)
        if pending is not None and pending.done() and _stale(pending):
            pending = None  # prefetched before a long pause: not worth showing
        if pending is None:
            pending = _fetch_stats(client, cid)
        try:
            stats, took_ms, _ = pending.result(timeout=self.stats_wait)
        except FutureTimeout:
            self._stats_pending[cid] = pending
            return self._stats_figures.get(cid, (None, None, None))
        except Exception:
            stats, took_ms = {}, 0.0
        timings[f"docker.stats:{name}"] = took_ms
        # Prefetch the next sample, so the next refresh finds it ready.
        self._stats_pending[cid] = _fetch_stats(client, cid)
        if not stats:
            return self._stats_figures.get(cid, (None, None, None))
        figures = (cpu_percent(stats, self._prev_cpu.get(cid)), *memory_usage(stats))
        sample = _cpu_sample(stats.get("cpu_stats") or {})
        if sample is not None:
            self._prev_cpu[cid] = sample
        self._stats_figures[cid] = figures
        return figures

    def _container_info(
        self, client: docker.DockerClient, name: str, cid: str, timings: dict[str, float]
    ) -> ContainerInfo:
        began = time.perf_counter()
        attrs: dict[str, Any] = client.api.inspect_container(cid)
        timings[f"docker.inspect:{name}"] = _ms(began)
        state: dict[str, Any] = attrs.get("State") or {}
        status = str(state.get("Status") or "unknown")
        cpu = mem = limit = None
        if status == "running":
            cpu, mem, limit = self._container_figures(client, name, cid, timings)
        health = (state.get("Health") or {}).get("Status")
        return ContainerInfo(
            state=status,
            health=str(health) if health else None,
            started_at=parse_docker_time(state.get("StartedAt")),
            restart_count=int(attrs.get("RestartCount") or 0),
            image=image_label(attrs),
            cpu_percent=cpu,
            mem_bytes=mem,
            mem_limit=limit,
        )

    # ---- the bridge panel ---------------------------------------------------------------------
    def _figures(self, bridge: ServiceSpec) -> BridgeFigures:
        problems: list[str] = []
        prom = self.catalog.by_role("prometheus")
        if prom is None:
            problems.append("no prometheus in the catalog")
        else:
            try:
                figures = self._from_prometheus(prom)
            except Exception as exc:
                problems.append(f"prometheus: {describe_error(exc, self.timeout)}")
            else:
                if figures is not None:
                    return figures
                problems.append("prometheus has no bridge metrics (is it scraping the bridge?)")
        if self.prometheus_fallback_metrics:
            try:
                return self._from_metrics(bridge)
            except Exception as exc:
                problems.append(f"bridge /metrics: {describe_error(exc, self.timeout)}")
        return BridgeFigures(source="none", error="; ".join(problems))

    def _from_prometheus(self, spec: ServiceSpec) -> BridgeFigures | None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        host, port = self._endpoint(spec)
        sel = "{" + self.bridge_selector + "}" if self.bridge_selector else ""
        extra = f",{self.bridge_selector}" if self.bridge_selector else ""
        # The library retries 3 times with back-off by default: seconds lost per refresh.
        prom = PrometheusConnect(
            f"http://{host}:{port}", disable_ssl=True, retry=Retry(total=0), timeout=self.timeout
        )
        try:

            def query(promql: str) -> list[dict[str, Any]]:
                result: list[dict[str, Any]] = prom.custom_query(promql)
                return result

            # The three gauges in one round trip (each is one through an SSH tunnel).
            found = query(f'{{__name__=~"{"|".join(GAUGES)}"{extra}}}')
            if not found:
                return None
            gauges = {
                name: [g for g in found if g.get("metric", {}).get("__name__") == name]
                for name in GAUGES
            }
            rates = query(f"sum by (source,status) (rate({EVENTS}{sel}[1m]))")
            p95 = query(f"histogram_quantile(0.95, sum by (le) (rate({DURATION_BUCKET}{sel}[5m])))")
        finally:
            prom.close()
        by_key: dict[str, float] = {}
        for r in rates:
            value = _num(r)
            if value is not None:
                labels = r.get("metric") or {}
                by_key[f"{labels.get('source', '')}/{labels.get('status', '')}"] = value
        return BridgeFigures(
            rate_by_source_status=by_key,
            p95_seconds=_first(p95),
            active_tasks=_first(gauges["active_webhook_tasks"], total=True),
            outbox_backlog=_first(gauges["bridge_outbox_backlog"], total=True),
            circuit_state=_circuit(_first(gauges["bridge_kafka_circuit_state"], worst=True)),
            source="prometheus",
        )

    def _from_metrics(self, spec: ServiceSpec) -> BridgeFigures:
        from prometheus_client.parser import text_string_to_metric_families

        host, port = self._endpoint(spec)
        assert self._http is not None  # created by collect()
        response = self._http.get(f"http://{host}:{port}/metrics")
        response.raise_for_status()
        now = time.monotonic()
        scrape = _Scrape(at=now)
        gauges: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                if s.name == EVENTS:
                    key = f"{s.labels.get('source', '')}/{s.labels.get('status', '')}"
                    scrape.events[key] = scrape.events.get(key, 0.0) + s.value
                elif s.name == DURATION_BUCKET:
                    le = float(s.labels["le"])
                    scrape.buckets[le] = scrape.buckets.get(le, 0.0) + s.value
                elif s.name in GAUGES:
                    gauges[s.name] = s.value
        prev, self._prev_scrape = self._prev_scrape, scrape
        rates: dict[str, float] = {}
        p95: float | None = None
        if prev is not None and now > prev.at:
            dt = now - prev.at
            rates = {
                k: _increase(v, prev.events.get(k, 0.0)) / dt for k, v in scrape.events.items()
            }
            deltas = {
                le: _increase(v, prev.buckets.get(le, 0.0)) for le, v in scrape.buckets.items()
            }
            p95 = histogram_quantile(0.95, deltas)
        circuit = gauges.get("bridge_kafka_circuit_state")
        return BridgeFigures(
            rate_by_source_status=rates,
            p95_seconds=p95,
            active_tasks=gauges.get("active_webhook_tasks"),
            outbox_backlog=gauges.get("bridge_outbox_backlog"),
            circuit_state=_circuit(circuit),
            source="metrics",
        )


# ---- pure helpers (unit-testable) ---------------------------------------------------------------


def _fetch_stats(client: docker.DockerClient, cid: str) -> Future[_Stats]:
    """One ``stats`` call on a daemon thread (an exiting CLI does not wait for it)."""
    future: Future[_Stats] = Future()

    def work() -> None:
        began = time.perf_counter()
        try:
            stats: dict[str, Any] = client.api.stats(cid, stream=False, one_shot=True)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result((stats, _ms(began), time.monotonic()))

    threading.Thread(target=work, name=f"auren-stats-{cid[:12]}", daemon=True).start()
    return future


def _stale(future: Future[_Stats]) -> bool:
    try:
        return time.monotonic() - future.result()[2] > STATS_MAX_AGE
    except Exception:
        return True


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


def cpu_percent(stats: dict[str, Any], previous: tuple[int, int] | None = None) -> float | None:
    """CPU% as the docker CLI computes it; ``previous`` stands in for an empty precpu."""
    now = _cpu_sample(stats.get("cpu_stats") or {})
    before = _cpu_sample(stats.get("precpu_stats") or {}) or previous
    if now is None or before is None:
        return None
    cpu_delta, system_delta = now[0] - before[0], now[1] - before[1]
    if system_delta <= 0 or cpu_delta < 0:
        return None
    cpu_stats = stats.get("cpu_stats") or {}
    online = cpu_stats.get("online_cpus") or len(
        (cpu_stats.get("cpu_usage") or {}).get("percpu_usage") or ()
    )
    return cpu_delta / system_delta * (online or 1) * 100.0


def _cpu_sample(cpu_stats: dict[str, Any]) -> tuple[int, int] | None:
    total = (cpu_stats.get("cpu_usage") or {}).get("total_usage")
    system = cpu_stats.get("system_cpu_usage")
    if not total or not system:
        return None
    return int(total), int(system)


def memory_usage(stats: dict[str, Any]) -> tuple[int | None, int | None]:
    """(usage without page cache, limit) as the docker CLI shows them."""
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is None:
        return None, None
    inner = mem.get("stats") or {}
    inactive = inner.get("total_inactive_file", inner.get("inactive_file"))  # cgroup v1, v2
    if isinstance(inactive, int) and inactive < usage:
        usage -= inactive
    limit = mem.get("limit")
    return int(usage), int(limit) if limit else None


def parse_docker_time(value: object) -> float | None:
    """Docker's RFC 3339 time with nanoseconds → unix time (None for "never")."""
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, frac = text.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{frac[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def image_label(attrs: dict[str, Any]) -> str:
    """``tag (short id)``: the name the container was run with, and what it really is."""
    tag = str((attrs.get("Config") or {}).get("Image") or "")
    short = str(attrs.get("Image") or "").removeprefix("sha256:")[:12]
    if tag and short and not short.startswith(tag.removeprefix("sha256:")[:12]):
        return f"{tag} ({short})"
    return tag or short


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's ``histogram_quantile`` over cumulative ``{le: count}`` buckets."""
    ordered = sorted(buckets.items())
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for i, (le, count) in enumerate(ordered):
        if count >= rank:
            if math.isinf(le):
                return ordered[i - 1][0] if i > 0 else None
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return None


def _increase(now: float, before: float) -> float:
    return now if now < before else now - before  # a smaller value: the counter was reset


def _num(sample: dict[str, Any]) -> float | None:
    try:
        value = float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _first(
    samples: Iterable[dict[str, Any]], total: bool = False, worst: bool = False
) -> float | None:
    values = [v for v in (_num(s) for s in samples) if v is not None]
    if not values:
        return None
    if total:
        return sum(values)
    return max(values) if worst else values[0]


def _circuit(value: float | None) -> str | None:
    if value is None:
        return None
    return CIRCUIT_STATES.get(int(value), f"state {value:g}")


def _check_crashed(exc: BaseException) -> CheckResult:
    return CheckResult(ok=False, latency_ms=None, detail=f"check failed: {describe_error(exc)}")


def _result(future: Future[T], on_error: Callable[[BaseException], T]) -> T:
    try:
        return future.result()
    except Exception as exc:
        return on_error(exc)


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000.0, 3)
