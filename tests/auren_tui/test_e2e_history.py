"""History over SSH, end to end: the server's Prometheus, reachable only inside the
server namespace, scrapes the bridge under signed load sent through the same SSH
connection; the History screen's charts must equal what a range query run inside
the server returns, a container restarted from the workstation must be a marker
on them, and the Dashboard must have alerted the restart once.

The server is the session's shared stack (tests/auren_tui/server_stack.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest

from auren_tui.app import build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.config import AlertRules, UiPrefs
from auren_tui.core.health.recording import snapshot_to_json
from auren_tui.core.history.store import FlightRecorder
from auren_tui.core.webhooks.load import LoadSpec
from auren_tui.screens.history import HistoryScreen
from auren_tui.widgets.events_panel import EventsPanel
from auren_tui.widgets.history_chart import HistoryChart
from tests.auren_tui.server_stack import (
    ServerStack,
    all_healthy,
    locations,
    wait_for,
)
from tests.bridge_service.signing import SECRETS

pytestmark = pytest.mark.services

LAG = 3.0
"""The History's "now" trails the clock: its last step has every scrape in."""
STEP = 4.0  # the 15 min window's step: 900 s / 240 points, rounded
RATE = "60s"  # its rate window: max(2 steps, 60 s)


def _points(values: list[list[Any]], scale: float = 1.0) -> list[tuple[float, float]]:
    out = []
    for at, text in values:
        value = float(text)
        if math.isfinite(value):
            out.append((float(at), value * scale))
    return out


async def test_history_over_ssh_is_what_the_servers_prometheus_says(
    stack: ServerStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for provider, secret in SECRETS.items():
        monkeypatch.setenv(f"AUREN_TUI_{provider.upper()}_SECRET", secret)
    profile = stack.profile("e2e-history", stack.known_hosts(tmp_path / "known_hosts"))
    backend = LiveBackend(profile, locations(tmp_path), clock=lambda: time.time() - LAG)
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=1.0), alerts=AlertRules())
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            dash = app.dashboard
            await wait_for(lambda: all_healthy(app), 90, "the whole stack healthy")

            # Signed load through the one SSH connection, every provider, over a few of
            # Prometheus's 1 s scrapes (a counter's first sample is no increase: a burst
            # inside one scrape of a provider never seen before would chart as 0).
            for provider in ("oura", "whoop", "healthkit"):
                spec = LoadSpec(provider, requests=40, concurrency=4, rate=16)  # type: ignore[arg-type]
                stats = await asyncio.to_thread(backend.webhook_load, spec)
                assert stats.statuses[202] == 40, (provider, stats.statuses, stats.errors)
            # A change to the server, made from the workstation: audited, so a marker.
            containers = backend.containers()
            await asyncio.to_thread(containers.act, "biometric-production", "restart")
            restarted = time.time()
            await wait_for(
                lambda: any(a.rule == "restart" for a in dash.query_one(EventsPanel).events),
                30,
                "the restart's alert",
            )
            await wait_for(lambda: all_healthy(app), 60, "healthy again after the restart")
            # The window's last step must hold the load and the restart: wait for the clock.
            await wait_for(lambda: time.time() - LAG > restarted + 2 * STEP, 30, "the clock")

            await pilot.press("5")
            screen = app.screen
            assert isinstance(screen, HistoryScreen)
            await wait_for(lambda: screen.loads >= 1, 30, "the 1 h history")
            await pilot.press("left_square_bracket")
            await wait_for(lambda: screen.window == 900 and screen.loads >= 2, 30, "15 min")
            history = screen.history
            assert history is not None
            assert not history.notes, history.notes  # Prometheus answered: no fallback
            start = math.floor(history.since / STEP) * STEP
            end = math.floor(history.until / STEP) * STEP

            def direct(promql: str) -> list[dict[str, Any]]:
                return stack.prometheus.query_range(promql, start, end, STEP)

            for status in ("accepted", "duplicate", "forbidden"):
                chart = history.chart(status)
                assert chart is not None
                assert chart.source == "prometheus"
                promql = (
                    f'sum by (source) (rate(webhook_events_total{{status="{status}"}}[{RATE}]))'
                )
                want = {r["metric"]["source"]: _points(r["values"]) for r in direct(promql)}
                got = {s.label: list(s.points) for s in chart.series}
                assert sorted(got) == sorted(want), status
                for label, points in want.items():
                    assert [t for t, _ in got[label]] == [t for t, _ in points], (status, label)
                    for (_, g), (_, w) in zip(got[label], points, strict=True):
                        assert math.isclose(g, w, rel_tol=1e-9), (status, label, g, w)
            accepted = history.chart("accepted")
            assert accepted is not None
            assert {s.label for s in accepted.series} >= {"oura", "whoop", "healthkit"}
            for series in accepted.series:
                if series.label in SECRETS:
                    assert max(v for _, v in series.points) > 0, series.label
            buckets = f"sum by (le) (rate(webhook_process_duration_seconds_bucket[{RATE}]))"
            (p95,) = direct(f"histogram_quantile(0.95, {buckets})")
            latency = history.chart("latency")
            assert latency is not None
            got_p95 = next(s for s in latency.series if s.label == "p95")
            want_p95 = _points(p95["values"], 1000.0)
            assert len(want_p95) >= 3
            assert [t for t, _ in got_p95.points] == [t for t, _ in want_p95]
            for (_, g), (_, w) in zip(got_p95.points, want_p95, strict=True):
                assert math.isclose(g, w, rel_tol=1e-9)
            # What the screen drew is those series, within the window.
            drawn = screen.query_one("#chart-accepted", HistoryChart)
            assert drawn.points == sum(len(s.points) for s in accepted.series)
            # The restart is a marker on every chart, at its time.
            (marker,) = [m for m in history.markers if m.kind == "restart"]
            assert marker.subject == "biometric-production"
            assert abs(marker.at - restarted) < 10
            # Containers' figures come from this workstation's recording of the refreshes.
            restarts = history.chart("restarts")
            assert restarts is not None
            assert restarts.source == "recorder"
            assert any(s.label == "biometric" for s in restarts.series)
            # The restart alerted once, however many refreshes saw it.
            alerts = [a for a in dash.query_one(EventsPanel).events if a.rule == "restart"]
            assert len(alerts) == 1, alerts
    finally:
        await asyncio.to_thread(backend.close)
    # The recording of that session, and the audit log, hold none of the webhook
    # secrets it signed with (what they do hold is checked, so an empty read fails).
    path = FlightRecorder.path_for(locations(tmp_path), profile.name)
    with FlightRecorder(path, read_only=True) as reader:
        recorded = "\n".join(snapshot_to_json(s) for s in reader.between(0, time.time()))
    audit = (locations(tmp_path).state_dir / "audit.log").read_text()
    assert '"name":"biometric"' in recorded
    assert "biometric-production" in audit
    for secret in SECRETS.values():
        assert secret not in recorded
        assert secret not in audit
