"""Snapshot tests at a fixed terminal size, from recorded data and a fixed clock.

Review changes with `pytest --snapshot-update` only after looking at the report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from auren_tui.app import build_app
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.core.config import UiPrefs
from auren_tui.dialogs.trust_host import TrustHostDialog
from auren_tui.screens.tail import TailScreen
from auren_tui.screens.webhooks import WebhooksScreen
from auren_tui.widgets.record_log import RecordLog
from auren_tui.widgets.webhook_request import ResponseView
from tests.auren_tui.data import NOW, stack
from tests.auren_tui.screens.test_tail_screen import replay_records

SIZE = (150, 36)


async def first_poll(pilot: Pilot[Any]) -> None:
    app = pilot.app
    async with asyncio.timeout(10):
        while app.dashboard.polls < 1:  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)
    await pilot.pause()


def app_for(snapshot: Any, theme: str = "auren-dark", read_only: bool = False) -> Any:
    prefs = UiPrefs(theme=theme, refresh_seconds=3600)
    backend = ReplayBackend([snapshot], profile_name="prod", read_only=read_only)
    return build_app(backend, prefs=prefs, clock=lambda: NOW)


def test_dashboard_healthy(snap_compare: Any) -> None:
    assert snap_compare(app_for(stack(at=NOW)), terminal_size=SIZE, run_before=first_poll)


def test_dashboard_fault_sorted_first_read_only(snap_compare: Any) -> None:
    app = app_for(stack(redis_down=True, bridge_health="degraded", at=NOW), read_only=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=first_poll)


def test_dashboard_light_theme(snap_compare: Any) -> None:
    app = app_for(stack(redis_down=True, at=NOW), theme="auren-light")
    assert snap_compare(app, terminal_size=SIZE, run_before=first_poll)


def test_dashboard_high_contrast(snap_compare: Any) -> None:
    app = app_for(stack(redis_down=True, at=NOW), theme="auren-high-contrast")
    assert snap_compare(app, terminal_size=SIZE, run_before=first_poll)


def test_trust_host_dialog(snap_compare: Any) -> None:
    async def ask(pilot: Pilot[Any]) -> None:
        await first_poll(pilot)
        pilot.app.push_screen(
            TrustHostDialog(
                "auren.example.net",
                22,
                "ssh-ed25519",
                "SHA256:8Jm1m2V3w4Xc5Yd6Ze7Af8Bg9Ch0Di1Ej2Fk3Gl4Hm",
                known_hosts="~/.ssh/known_hosts",
            )
        )
        await pilot.pause()

    assert snap_compare(app_for(stack(at=NOW)), terminal_size=SIZE, run_before=ask)


def test_tail_screen_with_a_selected_record(snap_compare: Any) -> None:
    async def tail(pilot: Pilot[Any]) -> None:
        await first_poll(pilot)
        await pilot.press("2")
        async with asyncio.timeout(10):
            while not (
                isinstance(pilot.app.screen, TailScreen)
                and len(pilot.app.screen.query_one(RecordLog).records) == 12
            ):
                await asyncio.sleep(0.02)
        await pilot.press("up", "up")
        await pilot.pause()

    backend = ReplayBackend([stack(at=NOW)], profile_name="prod", records=replay_records())
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=3600), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=SIZE, run_before=tail)


WEBHOOK_BODY = """{
  "event_type": "create",
  "data_type": "sleep",
  "object_id": "3f1c9a52-0d6e-4b8a-9f3e-7c2d1b0a9e84",
  "event_time": "2026-11-18T07:42:00+00:00",
  "user_id": "oura-user-007"
}"""


def test_webhooks_screen_after_a_traced_send(snap_compare: Any) -> None:
    async def send(pilot: Pilot[Any]) -> None:
        await first_poll(pilot)
        await pilot.press("3")
        screen = pilot.app.screen
        assert isinstance(screen, WebhooksScreen)
        async with asyncio.timeout(10):
            while "oura" not in screen.secrets:
                await asyncio.sleep(0.02)
        screen.set_body(WEBHOOK_BODY)
        await pilot.press("ctrl+s")
        async with asyncio.timeout(10):
            while "in Kafka after" not in str(screen.query_one(ResponseView).render()):
                await asyncio.sleep(0.02)
        screen.set_focus(None)  # no blinking cursor in the picture
        await pilot.pause()

    backend = ReplayBackend([stack(at=NOW)], profile_name="prod")
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=3600), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=SIZE, run_before=send)


def test_containers_screen_with_logs_and_stats(snap_compare: Any) -> None:
    from auren_tui.screens.containers import ContainersScreen
    from tests.auren_tui.screens.test_containers_screen import replay_containers

    async def containers(pilot: Pilot[Any]) -> None:
        await first_poll(pilot)
        await pilot.press("4")
        async with asyncio.timeout(10):
            while not (
                isinstance(pilot.app.screen, ContainersScreen)
                and pilot.app.screen.selected == "auren-redis"
            ):
                await asyncio.sleep(0.02)
        await pilot.press("down", "down")
        async with asyncio.timeout(10):
            while not (
                pilot.app.screen.selected == "biometric-production"  # type: ignore[attr-defined]
                and pilot.app.screen.stats is not None  # type: ignore[attr-defined]
            ):
                await asyncio.sleep(0.02)
        await pilot.pause()

    backend = ReplayBackend([stack(at=NOW)], profile_name="prod", containers=replay_containers())
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=3600), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=SIZE, run_before=containers)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clock labels are local time: the snapshots are drawn in UTC wherever they run."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _recorded_app(tmp_path: Path, every: float = 30.0) -> Any:
    """An hour of recorded refreshes (``data.past_hour``), a restore and a restart in
    the audit log, the live refresh at NOW."""
    from auren_tui.core.backend.history import Recording
    from auren_tui.core.history.store import FlightRecorder
    from tests.auren_tui.data import past_hour
    from tests.auren_tui.screens.test_history_screen import write_audit

    recorder = FlightRecorder(tmp_path / "prod.sqlite", clock=lambda: NOW)
    recorder.append_many(past_hour(until=NOW - 30, every=every))
    audit = tmp_path / "audit.log"
    write_audit(audit, NOW - 2400, container="aupex-redis", step="start", state="done")
    write_audit(audit, NOW - 960, action="restart", container="biometric-bridge", outcome="done")
    recording = Recording(recorder, "prod", audit, clock=lambda: NOW)
    backend = ReplayBackend(
        [stack(at=NOW)], profile_name="prod", recording=recording, clock=lambda: NOW
    )
    return build_app(backend, prefs=UiPrefs(refresh_seconds=3600), clock=lambda: NOW)


def test_history_screen(snap_compare: Any, tmp_path: Path, utc: None) -> None:
    from auren_tui.screens.history import HistoryScreen

    async def history(pilot: Pilot[Any]) -> None:
        await first_poll(pilot)
        await pilot.press("5")
        async with asyncio.timeout(10):
            while not (isinstance(pilot.app.screen, HistoryScreen) and pilot.app.screen.loads):
                await asyncio.sleep(0.02)
        await pilot.pause()

    app = _recorded_app(tmp_path)
    assert snap_compare(app, terminal_size=(150, 48), run_before=history)


def test_dashboard_stepped_back(snap_compare: Any, tmp_path: Path, utc: None) -> None:
    """Forty minutes back: redis down and restarting, the status line says AS OF."""

    async def back(pilot: Pilot[Any]) -> None:
        await first_poll(pilot)
        dash = pilot.app.dashboard  # type: ignore[attr-defined]
        await pilot.press("home")
        for _ in range(10):  # -60 min, every 2 min: the 11th refresh is at -40 min
            steps = dash.steps
            await pilot.press("right")
            async with asyncio.timeout(10):
                while dash.steps == steps:
                    await asyncio.sleep(0.02)
        await pilot.pause()

    app = _recorded_app(tmp_path, every=120.0)
    assert snap_compare(app, terminal_size=SIZE, run_before=back)
