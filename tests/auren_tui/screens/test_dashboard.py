"""Pilot tests of the dashboard on recorded data (no server needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.command import CommandPalette
from textual.screen import Screen
from textual.widgets import Markdown

from auren_tui.app import build_app
from auren_tui.core.backend.live import ConnInfo
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.core.config import UiPrefs
from auren_tui.screens.dashboard import DashboardScreen
from auren_tui.screens.help import HelpScreen
from auren_tui.widgets.service_table import ServiceTable
from auren_tui.widgets.status_bar import StatusBar
from tests.auren_tui.data import NOW, stack


async def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def row_keys(table: ServiceTable) -> list[str]:
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


async def test_rows_show_every_service_with_faults_first() -> None:
    backend = ReplayBackend([stack(redis_down=True)])
    app = build_app(backend, clock=lambda: NOW + 1)
    async with app.run_test(size=(160, 40)) as pilot:
        dash = app.dashboard
        await wait_for(lambda: dash.polls >= 1)
        table = app.screen.query_one(ServiceTable)
        keys = row_keys(table)
        assert keys[0] == "redis"
        assert sorted(keys) == sorted(
            ["neuros", "biometric", "bridge", "postgres", "redis", "kafka", "prometheus", "grafana"]
        )
        first = [str(c) for c in table.get_row_at(0)]
        assert first[1] == "UNHEALTHY"
        assert "restarting" in first[2]
        assert first[4] == "4"
        assert "connection refused" in first[5]
        bridge = [str(c) for c in table.get_row("bridge")]
        assert "circuit=closed" in bridge[-1]
        assert bridge[3] == "3h2m"  # uptime from the fixed clock
        await pilot.press("q")


async def test_next_poll_starts_only_after_the_last_finished() -> None:
    backend = ReplayBackend([stack()])
    prefs = UiPrefs(refresh_seconds=0.05)
    app = build_app(backend, prefs=prefs)
    async with app.run_test(size=(120, 40)):
        await wait_for(lambda: app.dashboard.polls >= 5)
        # One collect per poll shown: none ran while another was in flight.
        assert backend.collects - app.dashboard.polls <= 1


async def test_hidden_dashboard_does_not_poll() -> None:
    backend = ReplayBackend([stack()])
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.dashboard.polls >= 2)
        await app.push_screen(Screen())  # a full screen on top: the dashboard is hidden
        await wait_for(lambda: not app.dashboard.poller.in_flight)  # an in-flight poll lands
        before = backend.collects
        await asyncio.sleep(0.4)
        assert backend.collects == before
        await pilot.press("1")
        assert isinstance(app.screen, DashboardScreen)
        await wait_for(lambda: backend.collects > before)


async def test_help_lists_the_keys() -> None:
    app = build_app(ReplayBackend([stack()]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.query_one(Markdown).source
        for key in ("`/`", "`r`", "`q`", "`:` or `ctrl+p`", "`t`"):
            assert key in text
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_pause_stops_polling_and_says_so() -> None:
    backend = ReplayBackend([stack()])
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=0.05))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.dashboard.polls >= 1)
        await pilot.press("p")
        await wait_for(lambda: not app.dashboard.poller.in_flight)
        before = backend.collects
        await asyncio.sleep(0.3)
        assert backend.collects == before
        assert "PAUSED" in str(app.screen.query_one(StatusBar).render())
        await pilot.press("p")
        await wait_for(lambda: backend.collects > before)


async def test_filter_narrows_rows_and_escape_clears() -> None:
    app = build_app(ReplayBackend([stack(redis_down=True)]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.dashboard.polls >= 1)
        await pilot.press("slash")
        await pilot.press(*"unhealthy")
        table = app.screen.query_one(ServiceTable)
        await wait_for(lambda: table.row_count == 1)
        assert row_keys(table) == ["redis"]
        await pilot.press("escape")
        await wait_for(lambda: table.row_count == 8)


async def test_colon_opens_the_command_palette() -> None:
    app = build_app(ReplayBackend([stack()]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("colon")
        await wait_for(lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"next theme")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(lambda: app.theme != "auren-dark")


async def test_theme_switch_is_live_and_remembered(tmp_path: Path) -> None:
    saved: list[UiPrefs] = []
    app = build_app(ReplayBackend([stack()]), prefs=UiPrefs(), save_prefs=saved.append)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == "auren-dark"
        await pilot.press("t")
        assert app.theme != "auren-dark"
        await wait_for(lambda: bool(saved))
        assert saved[-1].theme == app.theme
    assert {"auren-dark", "auren-light", "auren-high-contrast"} <= set(app.theme_names)


async def test_read_only_is_visible() -> None:
    app = build_app(ReplayBackend([stack()], read_only=True))
    async with app.run_test(size=(120, 40)):
        await wait_for(lambda: app.dashboard.polls >= 1)
        assert "READ-ONLY" in str(app.screen.query_one(StatusBar).render())
        assert app.read_only


async def test_reconnecting_greys_the_last_data_and_counts_attempts() -> None:
    backend = ReplayBackend([stack()])
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=0.1))
    async with app.run_test(size=(120, 40)):
        await wait_for(lambda: app.dashboard.polls >= 1)
        backend.conn = ConnInfo("reconnecting", 3, "connection reset")
        bar = app.screen.query_one(StatusBar)
        await wait_for(lambda: "reconnecting (attempt 3)" in str(bar.render()))
        table = app.screen.query_one(ServiceTable)
        assert table.has_class("stale")
        assert table.row_count == 8  # the last data stays on screen
        backend.conn = ConnInfo("connected")
        await wait_for(lambda: not table.has_class("stale"))


async def test_number_one_returns_to_the_dashboard() -> None:
    app = build_app(ReplayBackend([stack()]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("1")
        assert isinstance(app.screen, DashboardScreen)


class Unreachable(ReplayBackend):
    def start(self) -> None:
        raise OSError("cannot reach [10.0.0.9]:22:\n  connection timed out")


async def test_a_failed_connect_is_one_line_in_the_status_bar_and_a_notification() -> None:
    app = build_app(Unreachable([stack()]))
    async with app.run_test(size=(120, 40), notifications=True):
        bar = app.screen.query_one(StatusBar)
        line = "cannot reach [10.0.0.9]:22: connection timed out"
        await wait_for(lambda: line in str(bar.render()))
        await wait_for(lambda: bool(app._notifications))
        (note,) = app._notifications
        assert (note.title, note.message, note.severity) == ("Cannot connect", line, "error")
        assert not app.dashboard.connected
