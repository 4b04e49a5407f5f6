"""Screen 1: the health of every service, live."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Static

from auren_tui.core.api import Backend, ConnInfo
from auren_tui.core.model import Snapshot
from auren_tui.kit.filter_box import CLEAR_FILTER, OPEN_FILTER, FilterBox
from auren_tui.kit.live_screen import LiveScreen
from auren_tui.widgets.bridge_panel import BridgePanel
from auren_tui.widgets.service_table import ServiceTable
from auren_tui.widgets.status_bar import StatusBar

LOST = ("reconnecting", "failed")  # connection states in which the data shown is stale


@dataclass(eq=False)
class Polled(Message):
    """A refresh finished."""

    snapshot: Snapshot
    conn: ConnInfo


class DashboardScreen(LiveScreen):
    """Polls the backend in a thread; the next poll starts after the last one finished."""

    CSS_PATH = "dashboard.tcss"
    ERROR_TITLE = "Refresh failed"
    ERROR_SECONDS = 4.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_now", "Refresh"),
        OPEN_FILTER,
        CLEAR_FILTER,
        Binding("p", "toggle_pause", "Pause"),
    ]

    def __init__(
        self,
        backend: Backend,
        refresh_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.last: Snapshot | None = None
        self.polls = 0
        self.poller = self.poll_every(refresh_seconds, self._poll)

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status")
        with Vertical(id="body"):
            yield FilterBox("filter: name, health or state; field=value", home="#services")
            yield ServiceTable(clock=self.clock, id="services")
            yield BridgePanel(id="bridge")
            yield Static("", id="errors")
        yield Footer()

    def on_mount(self) -> None:
        bar = self.query_one(StatusBar)
        bar.profile = self.backend.profile_name
        bar.read_only = self.backend.read_only
        self.query_one(ServiceTable).focus()
        self.set_interval(1.0, self._tick)

    # -- polling -----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.poller.active

    @property
    def paused(self) -> bool:
        return self.poller.paused

    def start_polling(self) -> None:
        """Called by the app once the backend is connected."""
        self.poller.start()

    def action_refresh_now(self) -> None:
        self.poller.now()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll(self) -> None:
        before = self.backend.conn_info()
        snapshot = self.backend.collect()
        after = self.backend.conn_info()
        # A refresh that overlapped an outage is reported with the outage's state.
        self.post_message(Polled(snapshot, before if before.state in LOST else after))

    @on(Polled)
    def _show(self, message: Polled) -> None:
        self.polls += 1
        if message.conn.state not in LOST or self.last is None:
            # While the connection is down every check fails for that reason, not the
            # services': the last data stays on screen (greyed) instead.
            self.last = message.snapshot
            self.query_one(ServiceTable).show(message.snapshot)
            self.query_one(BridgePanel).show(message.snapshot.bridge)
            errors = self.query_one("#errors", Static)
            errors.update("\n".join(f"⚠ {e}" for e in message.snapshot.errors))
        self.apply_conn(message.conn.state, message.conn.attempt, message.conn.error)
        self._tick()

    # -- the status line -----------------------------------------------------

    def apply_conn(self, state: str, attempt: int, error: str | None) -> None:
        bar = self.query_one(StatusBar)
        bar.state, bar.attempt, bar.error = state, attempt, error
        stale = state in LOST
        self.query_one(ServiceTable).set_class(stale, "stale")
        self.query_one(BridgePanel).set_class(stale, "stale")

    def _tick(self) -> None:
        info = self.backend.conn_info()  # attribute reads only: no I/O on this loop
        if self.connected:
            self.apply_conn(info.state, info.attempt, info.error)
        bar = self.query_one(StatusBar)
        bar.age = None if self.last is None else max(0.0, self.clock() - self.last.taken_at)
        bar.paused = self.paused

    # -- keys ----------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.poller.pause(not self.poller.paused)
        self._tick()

    @on(FilterBox.Applied)
    def _filtered(self, message: FilterBox.Applied) -> None:
        self.query_one(ServiceTable).set_filter(message.text)
