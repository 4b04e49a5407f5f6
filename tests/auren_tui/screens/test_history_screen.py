"""The History screen (`5`), the Dashboard's steps back in time, and its alerts.

Driven through the app with a replay backend whose flight recorder is a real
SQLite store in a temp dir, filled with an hour of recorded refreshes
(``data.past_hour``); the audit log is written by the real ``AuditLog``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from auren_tui.app import AurenApp, build_app
from auren_tui.core.backend.history import Recording
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.core.config import AlertRules, UiPrefs
from auren_tui.core.history.store import FlightRecorder
from auren_tui.core.model import Snapshot
from auren_tui.core.restore.audit import AuditLog
from auren_tui.screens.dashboard import DashboardScreen
from auren_tui.screens.history import HistoryScreen
from auren_tui.widgets.events_panel import EventsPanel
from auren_tui.widgets.history_chart import HistoryChart
from auren_tui.widgets.service_table import ServiceTable
from auren_tui.widgets.status_bar import StatusBar
from tests.auren_tui.data import NOW, past_hour, stack


async def until(
    pilot: Pilot[Any], what: str, check: Callable[[], bool], timeout: float = 10
) -> None:
    """Wait for ``check`` while the app runs (the pilot's pauses let messages land)."""
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await pilot.pause(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def poll_again(pilot: Pilot[Any], dash: DashboardScreen) -> None:
    """One more refresh, asked for once the last one's worker has ended (``r``
    while one is in flight is ignored: it would pile up)."""
    await until(pilot, "the last poll's end", lambda: not dash.poller.in_flight)
    polls = dash.polls
    dash.action_refresh_now()
    await until(pilot, f"poll {polls + 1}", lambda: dash.polls > polls)


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[FlightRecorder]:
    store = FlightRecorder(tmp_path / "history" / "prod.sqlite", clock=lambda: NOW)
    store.append_many(past_hour(until=NOW - 30))
    yield store
    store.close()


def write_audit(path: Path, at: float, profile: str = "prod", **entry: Any) -> None:
    """One audit line at ``at`` (the real writer stamps the time of writing)."""
    AuditLog(path).write(who="op@laptop", profile=profile, **entry)
    lines = path.read_text().splitlines()
    last = json.loads(lines[-1])
    from datetime import UTC, datetime

    last["at"] = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    path.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")


def app_with(
    recorder: FlightRecorder | None,
    snapshots: list[Snapshot] | None = None,
    audit: Path | None = None,
    alerts: AlertRules | None = None,
    loop: bool = True,
) -> AurenApp:
    recording = Recording(recorder, "prod", audit, clock=lambda: NOW)
    backend = ReplayBackend(
        snapshots or [stack(at=NOW)], profile_name="prod", loop=loop,
        recording=recording, clock=lambda: NOW,
    )  # fmt: skip
    prefs = UiPrefs(refresh_seconds=3600)
    return build_app(backend, prefs=prefs, clock=lambda: NOW, alerts=alerts)


# ---- the History screen ---------------------------------------------------------------------


async def test_history_plots_the_recording_and_changes_windows(
    recorder: FlightRecorder, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.log"
    write_audit(audit, NOW - 1500, container="aupex-redis", step="start", state="done")
    write_audit(audit, NOW - 1200, action="restart", container="biometric-bridge", outcome="done")
    write_audit(audit, NOW - 900, profile="staging", action="stop", container="x", outcome="done")
    app = app_with(recorder, audit=audit)
    async with app.run_test(size=(150, 40)) as pilot:
        await until(pilot, "the first poll", lambda: app.dashboard.polls >= 1)
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await until(pilot, "the history", lambda: screen.loads >= 1)
        history = screen.history
        assert history is not None
        assert history.until == NOW
        assert history.since == NOW - 3600
        in_window = [s for s in past_hour(until=NOW - 30) if s.taken_at >= NOW - 3600] + [
            stack(at=NOW)
        ]
        accepted = screen.query_one("#chart-accepted", HistoryChart)
        # A point per provider with an accepted rate, at every refresh of the window.
        expected = sum(
            k.endswith("/accepted")
            for snap in in_window
            for k in snap.bridge.rate_by_source_status  # type: ignore[union-attr]
        )
        assert accepted.points == expected > 3 * 100
        oura = next(s for s in history.chart("accepted").series if s.label == "oura")  # type: ignore[union-attr]
        assert (
            [v for _, v in oura.points][:2]
            == [
                s.bridge.rate_by_source_status["oura/accepted"]  # type: ignore[union-attr]
                for s in in_window[:2]
            ]
        )
        assert any("no Prometheus in this profile" in n for n in history.notes)
        # The two changes of this profile, not the other profile's stop.
        assert [m.kind for m in history.markers] == ["restore", "restart"]
        assert "restart" in str(screen.query_one("#timeline").render())

        await pilot.press("left_square_bracket")
        await until(pilot, "the 15 min window", lambda: screen.loads >= 2)
        assert screen.window == 15 * 60
        assert 0 < accepted.points < expected / 2
        assert screen.history is not None
        assert not screen.history.markers
        bells: list[int] = []
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        await pilot.press("left_square_bracket")  # already the shortest
        assert bells == [1]
        assert screen.window == 15 * 60
        for expected in (3600, 6 * 3600, 24 * 3600):
            loads = screen.loads
            await pilot.press("right_square_bracket")
            await until(pilot, "a longer window", lambda loads=loads: screen.loads > loads)
            assert screen.window == expected


async def test_history_without_a_recording_says_so(tmp_path: Path) -> None:
    app = app_with(None)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await until(pilot, "the history", lambda: screen.loads >= 1)
        for chart in screen.query(HistoryChart):
            assert chart.points == 0
        assert "no server changes" in str(screen.query_one("#timeline").render())


# ---- the Dashboard, back in time ------------------------------------------------------------


async def test_dashboard_steps_back_and_forth_through_the_recording(tmp_path: Path) -> None:
    recorded = past_hour(until=NOW - 30, every=120.0)
    recorder = FlightRecorder(tmp_path / "prod.sqlite", clock=lambda: NOW)
    recorder.append_many(recorded)
    app = app_with(recorder)
    async with app.run_test(size=(150, 40)) as pilot:
        dash = app.dashboard
        await until(pilot, "the first poll", lambda: dash.polls >= 1)
        bar = dash.query_one(StatusBar)

        async def step(key: str) -> None:
            steps = dash.steps
            await pilot.press(key)
            await until(pilot, f"the step of {key}", lambda: dash.steps > steps)

        # The live refresh (recorded at NOW) is the newest: one step back is the one before.
        await step("left")
        assert dash.viewing is not None
        assert dash.viewing.taken_at == recorded[-1].taken_at
        assert bar.as_of == recorded[-1].taken_at
        await step("left")
        assert dash.viewing is not None
        assert dash.viewing.taken_at == recorded[-2].taken_at
        # A poll underneath does not take the view away.
        await poll_again(pilot, dash)
        assert dash.viewing is not None
        assert dash.viewing.taken_at == recorded[-2].taken_at
        await step("right")
        assert dash.viewing is not None
        assert dash.viewing.taken_at == recorded[-1].taken_at
        await step("home")
        assert dash.viewing is not None
        assert dash.viewing.taken_at == recorded[0].taken_at
        # Redis was down at -40 min: stepping there shows it as it was.
        await step("left")  # nothing older: stays, rings
        assert dash.viewing.taken_at == recorded[0].taken_at
        down = next(s for s in recorded if s.services[4].health == "unhealthy")
        while dash.viewing is not None and dash.viewing.taken_at < down.taken_at:
            await step("right")
        table = dash.query_one(ServiceTable)
        assert "UNHEALTHY" in str(table.get_row_at(0))
        await step("right")
        await pilot.press("end")
        await pilot.pause()
        assert dash.viewing is None
        assert bar.as_of is None
        assert "UNHEALTHY" not in str(table.get_row_at(0))


async def test_arrow_keys_still_edit_the_filter(recorder: FlightRecorder) -> None:
    app = app_with(recorder)
    async with app.run_test(size=(150, 40)) as pilot:
        dash = app.dashboard
        await until(pilot, "the first poll", lambda: dash.polls >= 1)
        await pilot.press("slash", "r", "e", "d", "left", "left", "x")
        await pilot.pause()
        assert dash.viewing is None
        assert dash.steps == 0
        from textual.widgets import Input

        assert dash.query_one(Input).value == "rxed"


# ---- alerts -------------------------------------------------------------------------------


async def test_each_transition_alerts_once(tmp_path: Path) -> None:
    """healthy, redis down for three refreshes, healthy: the restart and the outage
    alert once (one bell), the recovery once (no bell); each is a toast and a line."""
    sequence = [stack(at=NOW), *[stack(redis_down=True, at=NOW)] * 3, stack(at=NOW), stack(at=NOW)]
    app = app_with(None, sequence, alerts=AlertRules(), loop=False)
    bells: list[int] = []
    async with app.run_test(size=(150, 40)) as pilot:
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        dash = app.dashboard
        await until(pilot, "poll 1", lambda: dash.polls >= 1)
        for _ in sequence[1:]:
            await poll_again(pilot, dash)
        events = dash.query_one(EventsPanel)
        assert [(a.rule, a.subject) for a in events.events] == [
            ("restart", "redis"),
            ("unhealthy", "redis"),
            ("recovered", "redis"),
        ]
        assert events.display
        assert bells == [1]
        toasts = [n.message for n in app._notifications]
        assert [t for t in toasts if "redis" in t] == [a.text for a in events.events]


async def test_alerts_off_for_the_profile(tmp_path: Path) -> None:
    sequence = [stack(at=NOW), stack(redis_down=True, at=NOW)]
    app = app_with(None, sequence, alerts=AlertRules(enabled=False), loop=False)
    async with app.run_test(size=(150, 40)) as pilot:
        dash = app.dashboard
        await until(pilot, "poll 1", lambda: dash.polls >= 1)
        await poll_again(pilot, dash)
        events = dash.query_one(EventsPanel)
        assert not events.events
        assert not events.display
        assert isinstance(app.screen, DashboardScreen)
