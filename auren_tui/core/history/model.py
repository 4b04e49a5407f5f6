"""The history's plain data: series, charts, markers and alerts (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["prometheus", "recorder"]
Severity = Literal["error", "warning", "information"]

WINDOWS: tuple[float, ...] = (15 * 60.0, 3600.0, 6 * 3600.0, 24 * 3600.0)
"""The History screen's windows, in seconds (``[``/``]`` step through them)."""


def window_label(seconds: float) -> str:
    """``15m``, ``1h``, ``6h``, ``24h`` (the CLI's ``--since`` spelling)."""
    if seconds < 3600 or seconds % 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"


@dataclass(frozen=True)
class Series:
    """One line of a chart: ``(unix time, value)`` points, oldest first."""

    label: str  # "oura", "p95", "biometric-bridge"
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Chart:
    """One plot of the History screen."""

    key: str  # CHART_KEYS
    title: str  # "accepted webhooks/s by provider"
    unit: str  # "/s", "ms", "events", "%", "bytes", "restarts", "state"
    series: tuple[Series, ...]
    source: Source
    note: str = ""  # one line: why it is empty, or where it came from


CHART_KEYS: tuple[str, ...] = (
    "accepted",  # webhooks/s by provider, status accepted
    "duplicate",  # webhooks/s by provider, status duplicate
    "forbidden",  # webhooks/s by provider, status forbidden
    "latency",  # p50 and p95 processing time, ms
    "outbox",  # outbox backlog
    "circuit",  # Kafka circuit state: 0 closed, 1 half open, 2 open
    "cpu",  # per container, %
    "memory",  # per container, bytes
    "restarts",  # per container, restart count
)


@dataclass(frozen=True)
class Marker:
    """A change made to the server (from the audit log), drawn on every chart."""

    at: float  # unix time
    kind: str  # "restore", "restart", "stop", "start", "break-lock"
    subject: str  # the container
    text: str  # one line: "restore of biometric-bridge: done"


@dataclass(frozen=True)
class History:
    """Everything the History screen shows for one window."""

    since: float
    until: float
    charts: tuple[Chart, ...]
    markers: tuple[Marker, ...] = ()
    notes: tuple[str, ...] = ()  # "no Prometheus in this profile: this workstation's recording"

    def chart(self, key: str) -> Chart | None:
        return next((c for c in self.charts if c.key == key), None)


@dataclass(frozen=True)
class Alert:
    """One transition worth an operator's attention."""

    at: float  # the refresh's taken_at
    rule: str  # "unhealthy", "restart", "circuit", "backlog", "recovered"
    subject: str  # service or container name, or "bridge"
    text: str  # one line
    severity: Severity = "warning"


@dataclass(frozen=True)
class Pruned:
    """What one :meth:`FlightRecorder.prune` removed, and what it took."""

    expired: int  # rows older than keep_seconds
    thinned: int  # rows older than thin_after, not first of their thin_step bucket
    capped: int  # oldest rows deleted to get under max_bytes
    seconds: float
    size_bytes: int  # the store's size afterwards (file and WAL)
