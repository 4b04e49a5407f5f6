"""The History charts from this workstation's recording, and one window put together
without Prometheus (pure: snapshots and audit lines written by hand)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from auren_tui.core.history.build import NO_PROMETHEUS, RECORDING, build_history
from auren_tui.core.history.model import CHART_KEYS, WINDOWS, Chart
from auren_tui.core.history.prometheus import aligned, queries, rate_window, step_for
from auren_tui.core.history.series import recorder_charts
from auren_tui.core.model import BridgeFigures, ContainerInfo, ServiceStatus, Snapshot
from auren_tui.core.restore.audit import AuditLog

T0 = 1_795_000_000.0


def _service(name: str, container: ContainerInfo | None) -> ServiceStatus:
    return ServiceStatus(name, name.title(), container, None, "healthy")


def _snap(at: float, bridge: BridgeFigures | None, *services: ServiceStatus) -> Snapshot:
    return Snapshot(taken_at=at, services=services, bridge=bridge)


def _recording() -> list[Snapshot]:
    """Three refreshes: full figures, a failed bridge panel, figures with gaps."""
    first = _snap(
        T0,
        BridgeFigures(
            rate_by_source_status={
                "oura/accepted": 2.0,
                "whoop/accepted": 1.0,
                "oura/duplicate": 0.5,
                "whoop/forbidden": 0.25,
                "healthkit/invalid": 9.0,  # charted nowhere
            },
            p50_seconds=0.004,
            p95_seconds=0.02,
            outbox_backlog=3.0,
            circuit_state="closed",
        ),
        _service("bridge", ContainerInfo("running", cpu_percent=12.5, mem_bytes=1000)),
        _service("redis", None),  # no container: no container series
        _service("worker", ContainerInfo("running", restart_count=1, cpu_percent=0.5)),
    )
    failed = _snap(
        T0 + 10,
        BridgeFigures(source="none", error="prometheus: connection refused"),
        _service("bridge", ContainerInfo("running", cpu_percent=None, mem_bytes=2000)),
        _service("worker", ContainerInfo("missing")),
    )
    gaps = _snap(
        T0 + 20,
        BridgeFigures(
            rate_by_source_status={"oura/accepted": 0.0, "healthkit/accepted": 4.0},
            p95_seconds=0.05,  # an old recording: no p50
            outbox_backlog=None,
            circuit_state="open",
        ),
        _service("bridge", ContainerInfo("restarting", restart_count=2, cpu_percent=80.0)),
        _service("worker", ContainerInfo("running", restart_count=3, mem_bytes=50)),
    )
    none = _snap(T0 + 30, None)  # a refresh with no bridge panel at all
    return [gaps, first, none, failed]  # out of order: sorted by time


def _points(chart: Chart | None) -> dict[str, tuple[tuple[float, float], ...]]:
    assert chart is not None
    return {s.label: s.points for s in chart.series}


def test_recorder_charts_every_key_with_gaps_not_zeros() -> None:
    charts = {c.key: c for c in recorder_charts(_recording())}
    assert tuple(charts) == CHART_KEYS
    assert all(c.source == "recorder" for c in charts.values())
    assert _points(charts["accepted"]) == {
        "healthkit": ((T0 + 20, 4.0),),
        "oura": ((T0, 2.0), (T0 + 20, 0.0)),  # a real zero stays a zero
        "whoop": ((T0, 1.0),),
    }
    assert list(_points(charts["accepted"])) == ["healthkit", "oura", "whoop"]
    assert _points(charts["duplicate"]) == {"oura": ((T0, 0.5),)}
    assert _points(charts["forbidden"]) == {"whoop": ((T0, 0.25),)}
    assert _points(charts["latency"]) == {
        "p50": ((T0, 4.0),),  # milliseconds
        "p95": ((T0, 20.0), (T0 + 20, 50.0)),
    }
    assert _points(charts["outbox"]) == {"backlog": ((T0, 3.0),)}
    assert _points(charts["circuit"]) == {"circuit": ((T0, 0.0), (T0 + 20, 2.0))}
    assert _points(charts["cpu"]) == {
        "bridge": ((T0, 12.5), (T0 + 20, 80.0)),
        "worker": ((T0, 0.5),),
    }
    assert list(_points(charts["cpu"])) == ["bridge", "worker"]  # the catalog's order
    assert _points(charts["memory"]) == {
        "bridge": ((T0, 1000.0), (T0 + 10, 2000.0)),
        "worker": ((T0 + 20, 50.0),),
    }
    # A missing container has no restart count (the 0 is a default, not Docker's).
    assert _points(charts["restarts"]) == {
        "bridge": ((T0, 0.0), (T0 + 10, 0.0), (T0 + 20, 2.0)),
        "worker": ((T0, 1.0), (T0 + 20, 3.0)),
    }
    assert {c.unit for c in charts.values()} >= {"/s", "ms", "events", "state", "%", "bytes"}


def test_recorder_charts_of_some_keys_and_of_nothing() -> None:
    charts = recorder_charts(_recording(), keys={"restarts", "accepted"})
    assert [c.key for c in charts] == ["accepted", "restarts"]  # CHART_KEYS order
    empty = recorder_charts([])
    assert [c.key for c in empty] == list(CHART_KEYS)
    assert all(c.series == () for c in empty)


def test_an_unknown_circuit_state_and_nan_are_gaps() -> None:
    snap = _snap(
        T0,
        BridgeFigures(circuit_state="state 7", p95_seconds=float("nan")),
        _service("bridge", ContainerInfo("running", cpu_percent=float("inf"))),
    )
    charts = recorder_charts([snap], keys={"circuit", "latency", "cpu", "restarts"})
    assert [(c.key, c.series) for c in charts[:3]] == [
        ("latency", ()),
        ("circuit", ()),
        ("cpu", ()),
    ]
    assert _points(charts[3]) == {"bridge": ((T0, 0.0),)}


def test_step_and_rate_window_of_each_window() -> None:
    # About 240 points a window, whole seconds; the rate window at least two steps and 60 s.
    assert [step_for(w) for w in WINDOWS] == [4.0, 15.0, 90.0, 360.0]
    assert [rate_window(step_for(w)) for w in WINDOWS] == [60.0, 60.0, 180.0, 720.0]
    for window in WINDOWS:
        assert 200 <= window / step_for(window) <= 300
    assert step_for(10) == 1.0
    assert aligned(1003.5, 1900.2, 4.0) == (1000.0, 1900.0)


def test_queries_carry_the_selector_everywhere() -> None:
    q = queries('job="biometric-bridge"', 90.0)
    assert list(q) == list(CHART_KEYS[:6])
    for promql in q.values():
        matchers = re.findall(r"(?:webhook|bridge)_[a-z_]+(\{[^}]*\})?", promql)
        assert matchers, promql
        assert all('job="biometric-bridge"' in m for m in matchers), promql
    assert q["forbidden"] == (
        'sum by (source) (rate(webhook_events_total{status="forbidden",job="biometric-bridge"}'
        "[180s]))"
    )
    assert "{" not in queries("", 4.0)["outbox"]


def test_build_history_without_prometheus_draws_the_recording(tmp_path: Path) -> None:
    audit = tmp_path / "audit.log"
    AuditLog(audit).write(
        at=datetime.fromtimestamp(T0 + 10, UTC).isoformat(timespec="milliseconds"),
        who="ops@laptop",
        profile="prod",
        action="restart",
        container="biometric-bridge",
        outcome="done",
    )
    history = build_history(
        since=T0 - 5,
        until=T0 + 15,  # the refresh at T0 + 20 is outside
        snapshots=_recording(),
        prometheus=None,
        audit_path=audit,
        profile="prod",
    )
    assert history.notes == (NO_PROMETHEUS,)
    assert NO_PROMETHEUS == (
        "no Prometheus in this profile: bridge charts from this workstation's recording"
    )
    assert [c.key for c in history.charts] == list(CHART_KEYS)
    assert all(c.source == "recorder" and c.note == RECORDING for c in history.charts)
    assert _points(history.chart("accepted")) == {"oura": ((T0, 2.0),), "whoop": ((T0, 1.0),)}
    assert [m.text for m in history.markers] == ["restart of biometric-bridge: done"]
    assert history.markers[0].at == T0 + 10


def test_build_history_notes_an_unreadable_audit_log(tmp_path: Path) -> None:
    history = build_history(
        since=T0, until=T0 + 60, snapshots=[], prometheus=None, audit_path=tmp_path,
        profile="prod",
    )  # fmt: skip
    assert history.markers == ()
    assert history.notes[1] == f"audit log {tmp_path}: is a directory; no markers"
    no_log = build_history(
        since=T0, until=T0 + 60, snapshots=[], prometheus=None, audit_path=None, profile="prod"
    )
    assert no_log.notes == (NO_PROMETHEUS,)
