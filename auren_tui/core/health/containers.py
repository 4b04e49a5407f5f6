"""The dashboard's view of the containers: state, health, image, CPU and memory.

One ``ContainerProbe`` per collector keeps its Docker client (kept alive
between refreshes, rebuilt when the engine's URL changes) and the stats
samples a refresh prefetches for the next one. Blocking: the collector runs
it on one of its refresh's threads.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

from auren_tui.core.catalog import Catalog
from auren_tui.core.docker.client import docker_client
from auren_tui.core.docker.inspect import image_label, parse_docker_time
from auren_tui.core.docker.stats import CpuSample, cpu_percent, cpu_sample, memory_usage
from auren_tui.core.health.checks import describe_error
from auren_tui.core.health.timing import ms_since, result_or
from auren_tui.core.model import ContainerInfo
from auren_tui.core.transport.connection import Connection

if TYPE_CHECKING:
    import docker

Figures = tuple[float | None, int | None, int | None]  # cpu %, memory bytes, memory limit
_Stats = tuple[dict[str, Any], float, float]  # stats body, ms taken, monotonic time done
STATS_MAX_AGE = 10.0  # seconds a prefetched stats sample stays worth showing


class ContainerProbe:
    """The containers of ``catalog`` on the Docker Engine behind ``connection``.

    ``stats_wait`` bounds the wait for a container's CPU and memory figures
    (see ``_container_figures``); the figures may lag one refresh behind.
    """

    def __init__(
        self, connection: Connection, catalog: Catalog, *, timeout: float, stats_wait: float
    ) -> None:
        self.connection = connection
        self.catalog = catalog
        self.timeout = timeout
        self.stats_wait = stats_wait
        self._docker: docker.DockerClient | None = None
        self._docker_url: str | None = None
        self._prev_cpu: dict[str, CpuSample] = {}  # container id -> (cpu total, system)
        self._stats_pending: dict[str, Future[_Stats]] = {}
        self._stats_figures: dict[str, Figures] = {}  # container id -> last known figures

    def _docker_client(self, url: str) -> docker.DockerClient:
        if self._docker is None or self._docker_url != url:
            self.close()
            # The SDK wants whole seconds; version "auto" costs one /version call, once.
            self._docker = docker_client(
                url, timeout=max(1, math.ceil(self.timeout)), keep_alive=True
            )
            self._docker_url = url
        return self._docker

    def close(self) -> None:
        """Close the cached Docker client."""
        client, self._docker, self._docker_url = self._docker, None, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken client
                client.close()

    def containers(
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
            timings["docker.list"] = ms_since(began)
        except Exception as exc:
            self.close()
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
                    out[name] = result_or(fut, lambda e: ContainerInfo(state="unknown"))
        live = set(found.values())
        self._prev_cpu = {k: v for k, v in self._prev_cpu.items() if k in live}
        self._stats_figures = {k: v for k, v in self._stats_figures.items() if k in live}
        self._stats_pending = {k: v for k, v in self._stats_pending.items() if k in live}
        return out, None

    def _container_figures(
        self, client: docker.DockerClient, name: str, cid: str, timings: dict[str, float]
    ) -> Figures:
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
        sample = cpu_sample(stats)
        if sample is not None:
            self._prev_cpu[cid] = sample
        self._stats_figures[cid] = figures
        return figures

    def _container_info(
        self, client: docker.DockerClient, name: str, cid: str, timings: dict[str, float]
    ) -> ContainerInfo:
        began = time.perf_counter()
        attrs: dict[str, Any] = client.api.inspect_container(cid)
        timings[f"docker.inspect:{name}"] = ms_since(began)
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
            future.set_result((stats, ms_since(began), time.monotonic()))

    threading.Thread(target=work, name=f"auren-stats-{cid[:12]}", daemon=True).start()
    return future


def _stale(future: Future[_Stats]) -> bool:
    try:
        return time.monotonic() - future.result()[2] > STATS_MAX_AGE
    except Exception:
        return True
