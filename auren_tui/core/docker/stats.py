"""Docker's stats JSON read once, as ``docker stats`` reads it: CPU % and memory.

The Containers screen (``Stats``, from a ``stats(stream=False)`` sample whose
``precpu_stats`` the daemon filled) and the dashboard (one-shot samples,
whose CPU is measured against the collector's previous sample) both read it
here, so the two screens cannot disagree on a container's memory or CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CpuSample = tuple[int, int]
"""(the container's total CPU time, the host's system CPU time), in Docker's units."""

SINCE_START: CpuSample = (0, 0)
"""The ``previous`` sample of ``docker stats``: without ``precpu_stats``, CPU since start."""


@dataclass(frozen=True)
class Stats:
    cpu_percent: float
    memory: int
    """Bytes in use (without the page cache)."""
    memory_limit: int


def parse_stats(raw: dict[str, Any]) -> Stats:
    """The Containers screen's figures (0 for what Docker did not say)."""
    cpu = cpu_percent(raw, SINCE_START)
    memory, limit = memory_usage(raw)
    return Stats(cpu or 0.0, memory or 0, limit or 0)


def cpu_percent(stats: dict[str, Any], previous: CpuSample | None = None) -> float | None:
    """CPU% as the docker CLI computes it; ``previous`` stands in for an empty precpu."""
    now = cpu_sample(stats)
    before = cpu_sample(stats, "precpu_stats") or previous
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


def cpu_sample(stats: dict[str, Any], which: str = "cpu_stats") -> CpuSample | None:
    """The (container, system) CPU times of ``cpu_stats`` (or ``precpu_stats``), if given."""
    section = stats.get(which) or {}
    total = (section.get("cpu_usage") or {}).get("total_usage")
    system = section.get("system_cpu_usage")
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
