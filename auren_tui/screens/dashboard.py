"""Screen 1: the health of every service, live, and as it was (the flight recorder).

``←``/``→`` step back and forth through the recorded refreshes, ``home`` to the
oldest kept, ``end`` back to live: a stepped-back view is marked with its
time and age in the status line, and polling goes on underneath (it is
still recorded). Each live refresh is fed to the alert rules in the worker
thread; their transitions land in the events panel and go to the app
(``AlertsRaised``: bell, toast, desktop notification).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static

from auren_tui.core.api import LOST, Alert, AlertWatch, Backend, ConnInfo
from auren_tui.core.config import AlertRules
from auren_tui.core.model import Snapshot
from auren_tui.kit.filter_box import CLEAR_FILTER, OPEN_FILTER, FilterBox
from auren_tui.kit.live_screen import LiveScreen
from auren_tui.widgets.bridge_panel import BridgePanel
from auren_tui.widgets.events_panel import EventsPanel
from auren_tui.widgets.service_table import ServiceTable
from auren_tui.widgets.status_bar import StatusBar


@dataclass(eq=False)
class Polled(Message):
    """A refresh finished."""

    snapshot: Snapshot
    conn: ConnInfo
    alerts: tuple[Alert, ...] = ()


@dataclass(eq=False)
class Stepped(Message):
    """A recorded refresh to show (None: nothing further that way)."""

    snapshot: Snapshot | None
    toward_live: bool


@dataclass(eq=False)
class AlertsRaised(Message):
    """Transitions of this refresh worth the operator's attention (the app rings)."""

    alerts: tuple[Alert, ...]


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
        # Priority: the table would take them for its cursor (``back`` gives them to
        # an input box that has the keyboard).
        Binding("left", "back", "Back", priority=True),
        Binding("right", "forward", "Newer", show=False, priority=True),
        Binding("home", "oldest", "Oldest", show=False, priority=True),
        Binding("end", "live", "Live", show=False, priority=True),
    ]

    def __init__(
        self,
        backend: Backend,
        refresh_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
        alerts: AlertRules | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.last: Snapshot | None = None
        self.viewing: Snapshot | None = None
        """The recorded refresh shown instead of the live one (stepped back)."""
        self.polls = 0
        self.steps = 0
        self.alert_watch = AlertWatch(alerts) if alerts is not None and alerts.enabled else None
        self.poller = self.poll_every(refresh_seconds, self._poll)

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status")
        with Vertical(id="body"):
            yield FilterBox("filter: name, health or state; field=value", home="#services")
            yield ServiceTable(clock=self.clock, id="services")
            yield BridgePanel(id="bridge")
            yield EventsPanel(id="events")
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
        conn = before if before.state in LOST else after
        alerts: tuple[Alert, ...] = ()
        if self.alert_watch is not None and conn.state not in LOST:
            alerts = tuple(self.alert_watch.feed(snapshot))
        self.post_message(Polled(snapshot, conn, alerts))

    @on(Polled)
    def _show(self, message: Polled) -> None:
        self.polls += 1
        if message.conn.state not in LOST or self.last is None:
            # While the connection is down every check fails for that reason, not the
            # services': the last data stays on screen (greyed) instead.
            self.last = message.snapshot
            if self.viewing is None:
                self._display(message.snapshot)
            else:
                self.query_one(ServiceTable).remember(message.snapshot)
        if message.alerts:
            self.query_one(EventsPanel).add(message.alerts)
            self.post_message(AlertsRaised(message.alerts))
        self.apply_conn(message.conn.state, message.conn.attempt, message.conn.error)
        self._tick()

    def _display(self, snapshot: Snapshot, live: bool = True, remember: bool = True) -> None:
        self.query_one(ServiceTable).show(snapshot, live=live, remember=remember)
        self.query_one(BridgePanel).show(snapshot.bridge)
        errors = self.query_one("#errors", Static)
        errors.update("\n".join(f"⚠ {e}" for e in snapshot.errors))

    # -- stepping through the recording ------------------------------------------

    def _typing(self) -> bool:
        return isinstance(self.focused, Input)

    def action_back(self) -> None:
        if self._typing():
            raise SkipAction()
        shown = self.viewing or self.last  # before the first refresh: the newest recorded
        self._step(None if shown is None else shown.taken_at, -1)

    def action_forward(self) -> None:
        if self._typing():
            raise SkipAction()
        if self.viewing is None:
            self.app.bell()  # live is the newest there is
            return
        self._step(self.viewing.taken_at, 1)

    def action_oldest(self) -> None:
        if self._typing():
            raise SkipAction()
        self._step(None, 0)

    def action_live(self) -> None:
        if self._typing():
            raise SkipAction()
        self._go_live()

    @work(thread=True, exclusive=True, group="step", exit_on_error=False)
    def _step(self, taken_at: float | None, delta: int) -> None:
        if delta == 0:
            found = self.backend.first_recorded()
        else:
            found = self.backend.recorded(taken_at, delta)
        self.post_message(Stepped(found, toward_live=delta > 0))

    @on(Stepped)
    def _stepped(self, message: Stepped) -> None:
        self.steps += 1
        if message.snapshot is None:
            if message.toward_live:
                self._go_live()
            else:
                self.app.bell()
                self.notify("Nothing older is recorded.", timeout=2)
            return
        if self.last is not None and message.snapshot.taken_at >= self.last.taken_at:
            self._go_live()  # stepped onto the refresh shown live
            return
        self.viewing = message.snapshot
        self._display(message.snapshot, live=False)
        self.set_class(True, "-past")
        self._tick()

    def _go_live(self) -> None:
        self.viewing = None
        self.set_class(False, "-past")
        if self.last is not None:
            self._display(self.last, remember=False)  # its latencies are remembered already
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
        shown = self.viewing or self.last
        bar.age = None if shown is None else max(0.0, self.clock() - shown.taken_at)
        bar.as_of = None if self.viewing is None else self.viewing.taken_at
        bar.paused = self.paused

    # -- keys ----------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.poller.pause(not self.poller.paused)
        self._tick()

    @on(FilterBox.Applied)
    def _filtered(self, message: FilterBox.Applied) -> None:
        self.query_one(ServiceTable).set_filter(message.text)
