"""One window of the History screen: Prometheus where it can, the recording where not.

The bridge's charts come from Prometheus when the profile has one and it
answers with bridge metrics; otherwise from this workstation's recording,
and a note says which and why (an operator comparing two workstations'
plots must know one of them only saw its own refreshes). The containers'
charts always come from the recording (the stack runs no cAdvisor).
Blocking: the caller runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from auren_tui.core.health.checks import describe_error
from auren_tui.core.history.markers import read_markers
from auren_tui.core.history.model import CHART_KEYS, Chart, History, Marker
from auren_tui.core.history.prometheus import HistoryUnavailable, prometheus_charts
from auren_tui.core.history.series import BRIDGE_KEYS, CONTAINER_KEYS, recorder_charts
from auren_tui.core.model import Snapshot

RECORDING = "this workstation's recording"
NO_PROMETHEUS = f"no Prometheus in this profile: bridge charts from {RECORDING}"


def build_history(
    *,
    since: float,
    until: float,
    snapshots: Sequence[Snapshot],
    prometheus: tuple[str, int] | None,
    audit_path: Path | None,
    profile: str,
    bridge_selector: str = "",
    timeout: float = 5.0,
) -> History:
    """Every chart of the window ``since``..``until`` (CHART_KEYS order), markers and notes.

    ``prometheus`` is where Prometheus is reached (the tunnel's local end), None
    when the profile has none. Never raises for Prometheus's or the audit log's
    trouble: each becomes a note.
    """
    recorded = [s for s in snapshots if since <= s.taken_at <= until]
    notes: list[str] = []
    bridge: tuple[Chart, ...] | None = None
    if prometheus is None:
        notes.append(NO_PROMETHEUS)
    else:
        try:
            bridge = prometheus_charts(
                prometheus, since, until, bridge_selector=bridge_selector, timeout=timeout
            )
        except HistoryUnavailable as exc:
            notes.append(f"Prometheus: {exc}; bridge charts from {RECORDING}")
        except Exception as exc:  # an answer of a shape we did not expect: still a plot
            notes.append(f"Prometheus: {describe_error(exc)}; bridge charts from {RECORDING}")
    if bridge is None:
        bridge = _noted(recorder_charts(recorded, BRIDGE_KEYS))
    charts = (*bridge, *_noted(recorder_charts(recorded, CONTAINER_KEYS)))
    order = {key: i for i, key in enumerate(CHART_KEYS)}
    markers: tuple[Marker, ...] = ()
    if audit_path is not None:
        try:
            markers = read_markers(audit_path, profile, since, until)
        except OSError as exc:
            notes.append(f"audit log {audit_path}: {describe_error(exc)}; no markers")
    return History(
        since=since,
        until=until,
        charts=tuple(sorted(charts, key=lambda c: order[c.key])),
        markers=markers,
        notes=tuple(notes),
    )


def _noted(charts: tuple[Chart, ...]) -> tuple[Chart, ...]:
    return tuple(replace(c, note=RECORDING) for c in charts)
