"""The live-screen kit (auren_tui/kit/): the row filter rule, the filter box, the
poller and the worker-failure reporter, on a small screen of their own (no server)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

import pytest
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable

from auren_tui.core.filtering import row_filter
from auren_tui.kit import filter_box
from auren_tui.kit.failures import WorkerFailed
from auren_tui.kit.filter_box import CLEAR_FILTER, DEBOUNCE_SECONDS, OPEN_FILTER, FilterBox
from auren_tui.kit.live_screen import LiveScreen

ROW = {"name": "auren-redis", "health": "unhealthy", "state": "restarting"}


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def test_the_row_filter_rule() -> None:
    assert row_filter("  ") is None
    for text, hit in [
        ("REDIS", True),  # text: case-insensitive substring of the fields
        ("redis unhealthy", True),  # ... joined by spaces
        ("kafka", False),
        ("health=unhealthy", True),
        ("health=UNHEALTHY", True),  # the tables ignore case
        ("health=healthy", False),  # a field is equal, not containing
        ("health!=healthy", True),
        ("state!=restarting", False),
        ("image=redis", False),  # a field the row lacks: never equal
        ("image!=redis", True),
    ]:
        match = row_filter(text)
        assert match is not None
        assert match(ROW) is hit, text


class Probe(LiveScreen):
    """A live screen with a filter box, a poller of a slow refresh and a failing worker."""

    ERROR_TITLE = "Probe"
    BINDINGS: ClassVar[list[BindingType]] = [OPEN_FILTER, CLEAR_FILTER]

    def __init__(self, seconds: float = 0.03) -> None:
        super().__init__()
        self.applied: list[str] = []
        self.running = 0
        self.overlapped = False
        self.refreshes = 0
        self.failures: list[str] = []
        self.poller = self.poll_every(seconds, self._refresh)

    def compose(self) -> ComposeResult:
        yield FilterBox("filter", home="#table")
        yield DataTable(id="table")
        yield DataTable(id="other")

    @on(FilterBox.Applied)
    def _applied(self, message: FilterBox.Applied) -> None:
        self.applied.append(message.text)

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def _refresh(self) -> None:
        self.running += 1
        self.overlapped |= self.running > 1
        threading.Event().wait(0.05)  # slower than the interval: must not pile up
        self.running -= 1
        self.refreshes += 1

    @work(thread=True, group="boom", exit_on_error=False)
    def fail(self) -> None:
        raise RuntimeError("the broker went away\n  (a second line)")

    @on(WorkerFailed)
    def _failed(self, failed: WorkerFailed) -> None:
        self.failures.append(failed.group)


class ProbeApp(App[None]):
    AUTO_FOCUS = None

    def __init__(self) -> None:
        super().__init__()
        self.probe = Probe()
        self.reported: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        self.push_screen(self.probe)

    @on(WorkerFailed)
    def _report(self, failed: WorkerFailed) -> None:
        self.reported.append((failed.title, failed.text))


async def test_the_filter_box_opens_debounces_applies_and_gives_the_keys_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = ProbeApp()
    async with app.run_test() as pilot:
        probe = app.probe
        box = probe.query_one(FilterBox)
        assert not box.display
        probe.query_one("#other").focus()
        await pilot.press("slash")
        assert box.display
        assert app.focused is box
        # Typing that never pauses as long as the debounce (a loaded machine's
        # pilot can pause between keys longer than the real 0.15 s): nothing applied.
        monkeypatch.setattr(filter_box, "DEBOUNCE_SECONDS", 3600)
        await pilot.press(*"redi")
        await pilot.pause()
        assert probe.applied == []
        # The last key restarts the wait with the real debounce: applied once, whole.
        monkeypatch.setattr(filter_box, "DEBOUNCE_SECONDS", DEBOUNCE_SECONDS)
        await pilot.press("s")
        await wait_for(lambda: probe.applied)
        assert probe.applied == ["redis"]
        await pilot.press("enter")
        assert app.focused is probe.query_one("#other")  # back where it came from
        assert box.display  # still shows what filters
        await pilot.press("escape")  # the screen's Escape: the box is not focused
        await wait_for(lambda: probe.applied[-1] == "")
        assert not box.display
        assert box.value == ""
        assert app.focused is probe.query_one("#table")  # its home
        count = len(probe.applied)
        await pilot.press("escape")  # nothing applied: nothing to clear
        await pilot.pause(0.2)
        assert len(probe.applied) == count


async def test_the_poller_never_overlaps_and_skips_a_hidden_screen() -> None:
    app = ProbeApp()
    async with app.run_test() as pilot:
        probe = app.probe
        probe.poller.start()
        await wait_for(lambda: probe.refreshes >= 4)
        assert not probe.overlapped
        await app.push_screen(Screen())  # hidden: what is in flight lands, nothing more
        await wait_for(lambda: not probe.poller.in_flight)
        before = probe.refreshes
        await pilot.pause(0.3)
        assert probe.refreshes == before
        app.pop_screen()  # shown again: a refresh at once
        await wait_for(lambda: probe.refreshes > before)
        probe.poller.pause(True)
        await wait_for(lambda: not probe.poller.in_flight)
        before = probe.refreshes
        await pilot.pause(0.2)
        assert probe.refreshes == before
        probe.poller.stop()


async def test_a_failed_worker_reaches_the_screen_then_the_app_as_one_line() -> None:
    app = ProbeApp()
    async with app.run_test():
        app.probe.fail()
        await wait_for(lambda: app.reported)
        assert app.probe.failures == ["boom"]
        assert app.reported == [("Probe", "the broker went away (a second line)")]
