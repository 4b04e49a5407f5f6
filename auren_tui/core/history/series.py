"""The History screen's charts from this workstation's recording of refreshes.

Where the profile has no Prometheus (or it does not answer), the bridge's
charts come from the snapshots the dashboard recorded; the containers' CPU,
memory and restarts always do (the stack runs no cAdvisor, so Prometheus
has none). A figure a refresh did not have (None) is a gap in its line,
never a zero: "the bridge was unreachable" must not draw as "no traffic".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence

from auren_tui.core.history.model import CHART_KEYS, Chart, Series, Source
from auren_tui.core.model import BridgeFigures, ContainerInfo, Snapshot

CHARTS: dict[str, tuple[str, str]] = {
    "accepted": ("accepted webhooks/s by provider", "/s"),
    "duplicate": ("duplicate webhooks/s by provider", "/s"),
    "forbidden": ("forbidden webhooks/s by provider", "/s"),
    "latency": ("processing time p50/p95", "ms"),
    "outbox": ("outbox backlog", "events"),
    "circuit": ("Kafka circuit (0 closed, 1 half open, 2 open)", "state"),
    "cpu": ("CPU by container", "%"),
    "memory": ("memory by container", "bytes"),
    "restarts": ("restarts by container", "restarts"),
}
"""Each chart key's title and unit, shared by both sources so a chart reads the same."""

BRIDGE_KEYS: tuple[str, ...] = CHART_KEYS[:6]
"""Charts Prometheus can draw (the bridge's metrics); the rest only the recording has."""

CONTAINER_KEYS: tuple[str, ...] = CHART_KEYS[6:]

CIRCUIT_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
"""The circuit's states as the bridge exports them (``bridge_kafka_circuit_state``)."""

OUTBOX_SERIES = "backlog"
CIRCUIT_SERIES = "circuit"


def chart(key: str, series: Iterable[Series], source: Source, note: str = "") -> Chart:
    """A chart of ``key`` with its title and unit; series without a point are dropped."""
    title, unit = CHARTS[key]
    kept = tuple(s for s in series if s.points)
    return Chart(key, title, unit, kept, source, note)


class _Lines:
    """Points gathered per label, in the order labels were first seen."""

    def __init__(self) -> None:
        self.points: dict[str, list[tuple[float, float]]] = {}

    def add(self, label: str, at: float, value: float | None) -> None:
        if value is not None and math.isfinite(value):
            self.points.setdefault(label, []).append((at, float(value)))

    def series(self, *, by_label: bool = False) -> list[Series]:
        labels = sorted(self.points) if by_label else list(self.points)
        return [Series(label, tuple(self.points[label])) for label in labels]


BridgeValues = Callable[[BridgeFigures], Iterable[tuple[str, float | None]]]
ContainerValue = Callable[[ContainerInfo], float | None]


def _rates(status: str) -> BridgeValues:
    def values(b: BridgeFigures) -> Iterable[tuple[str, float | None]]:
        for key, rate in b.rate_by_source_status.items():
            source, _, outcome = key.rpartition("/")
            if outcome == status and source:
                yield source, rate

    return values


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _latency(b: BridgeFigures) -> Iterable[tuple[str, float | None]]:
    return (("p50", _ms(b.p50_seconds)), ("p95", _ms(b.p95_seconds)))


def _outbox(b: BridgeFigures) -> Iterable[tuple[str, float | None]]:
    return ((OUTBOX_SERIES, b.outbox_backlog),)


def _circuit(b: BridgeFigures) -> Iterable[tuple[str, float | None]]:
    # An unknown state (a newer bridge's) is a gap: drawing it as some number would lie.
    value = None if b.circuit_state is None else CIRCUIT_VALUES.get(b.circuit_state)
    return ((CIRCUIT_SERIES, value),)


BRIDGE_VALUES: dict[str, BridgeValues] = {
    "accepted": _rates("accepted"),
    "duplicate": _rates("duplicate"),
    "forbidden": _rates("forbidden"),
    "latency": _latency,
    "outbox": _outbox,
    "circuit": _circuit,
}


def _restarts(c: ContainerInfo) -> float | None:
    # A missing container's count is the dataclass default, not Docker's figure.
    return None if c.state == "missing" else float(c.restart_count)


CONTAINER_VALUES: dict[str, ContainerValue] = {
    "cpu": lambda c: c.cpu_percent,
    "memory": lambda c: None if c.mem_bytes is None else float(c.mem_bytes),
    "restarts": _restarts,
}


def recorder_charts(
    snapshots: Sequence[Snapshot], keys: Collection[str] = CHART_KEYS
) -> tuple[Chart, ...]:
    """The charts of ``keys`` (in CHART_KEYS order) from recorded snapshots.

    The bridge's series are sorted by label (as Prometheus's charts are);
    containers keep the catalog's order, labelled by service name (a snapshot
    carries no container name). A refresh whose bridge figures failed adds no point.
    """
    wanted = [k for k in CHART_KEYS if k in keys]
    ordered = sorted(snapshots, key=lambda s: s.taken_at)
    lines = {key: _Lines() for key in wanted}
    for snap in ordered:
        at = snap.taken_at
        if snap.bridge is not None:
            for key in wanted:
                if key in BRIDGE_VALUES:
                    for label, value in BRIDGE_VALUES[key](snap.bridge):
                        lines[key].add(label, at, value)
        for service in snap.services:
            if service.container is None:
                continue
            for key in wanted:
                if key in CONTAINER_VALUES:
                    lines[key].add(service.name, at, CONTAINER_VALUES[key](service.container))
    out = []
    for key in wanted:
        series = lines[key].series(by_label=key in BRIDGE_KEYS)
        out.append(chart(key, series, "recorder"))
    return tuple(out)
