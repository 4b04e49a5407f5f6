"""Screen 5: what happened while nobody was looking, plotted over a window.

Every chart of ``CHART_KEYS`` for the window (``[``/``]``: 15 min, 1 h, 6 h,
24 h): the bridge's from Prometheus range queries when the profile has one,
else from this workstation's own recording (the flight recorder), which the
head line says; the containers' always from the recording. Server changes of
the audit log (restores, restarts, stops, broken locks) are vertical lines on
every chart and a line each in the timeline below. The history is built in a
thread worker (range queries go through the SSH connection).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static

from auren_tui.core.api import CHART_KEYS, WINDOWS, Backend, History, window_label
from auren_tui.kit.live_screen import LiveScreen
from auren_tui.widgets.history_chart import HistoryChart, clock_label

RELOAD_SECONDS = 15.0
"""How often the shown window is built again (the newest points move in)."""


@dataclass(eq=False)
class Loaded(Message):
    """A history was built for ``window``."""

    history: History
    window: float


class HistoryScreen(LiveScreen):
    CSS_PATH = "history.tcss"
    ERROR_TITLE = "History unavailable"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "window(-1)", "Shorter"),
        Binding("right_square_bracket", "window(1)", "Longer"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(
        self,
        backend: Backend,
        window: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.window = window if window in WINDOWS else 3600.0
        self.history: History | None = None
        self.loads = 0
        self.poller = self.poll_every(RELOAD_SECONDS, self._load)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="history-head")
        with VerticalScroll(id="charts"), Grid(id="grid"):
            for key in CHART_KEYS:
                yield HistoryChart(key, id=f"chart-{key}")
        yield Static("", id="timeline")
        yield Footer()

    def on_mount(self) -> None:
        self._head("loading…")
        self.poller.start()

    # -- loading ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self) -> None:
        window = self.window
        self.post_message(Loaded(self.backend.history(window), window))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.window != self.window:
            return  # the operator chose another window meanwhile: its load is on its way
        self.loads += 1
        history = self.history = message.history
        for key in CHART_KEYS:
            chart = self.query_one(f"#chart-{key}", HistoryChart)
            chart.show(history.chart(key), history.markers, history.since, history.until)
        self._head()
        self._timeline(history)

    # -- keys -------------------------------------------------------------------

    def action_window(self, step: int) -> None:
        index = WINDOWS.index(self.window) + step
        if not 0 <= index < len(WINDOWS):
            self.app.bell()
            return
        self.window = WINDOWS[index]
        self._head("loading…")
        self.poller.start()

    def action_reload(self) -> None:
        self.poller.now()

    # -- text -------------------------------------------------------------------

    def _head(self, state: str = "") -> None:
        text = Text()
        text.append(" History ", style="bold reverse")
        text.append(f"  {self.backend.profile_name}  last {window_label(self.window)}")
        history = self.history
        if history is not None and not state:
            span = history.until - history.since
            text.append(
                f" ({clock_label(history.since, span)} → {clock_label(history.until, span)})"
            )
            sources = {c.source for c in history.charts if c.series}
            text.append("  from " + (" and ".join(sorted(sources)) or "nothing yet"), style="dim")
            for note in history.notes:
                text.append(f"\n note: {note}", style="italic")
        if state:
            text.append(f"  {state}", style="dim")
        text.append("   [ ] window · r reload", style="dim")
        self.query_one("#history-head", Static).update(text)

    def _timeline(self, history: History) -> None:
        timeline = self.query_one("#timeline", Static)
        if not history.markers:
            timeline.update(Text(" no server changes in this window (audit log)", style="dim"))
            return
        span = history.until - history.since
        lines = Text()
        for i, marker in enumerate(history.markers[-6:]):
            if i:
                lines.append("\n")
            lines.append(f" │ {clock_label(marker.at, span)} ", style="bold #ff8700")
            lines.append(marker.text)
        timeline.update(lines)
