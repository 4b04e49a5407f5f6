"""Screen 1: the health of every service, live."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from auren_tui.core.backend.live import Backend
from auren_tui.core.model import Snapshot
from auren_tui.messages import Polled, PollFailed
from auren_tui.widgets.bridge_panel import BridgePanel
from auren_tui.widgets.service_table import ServiceTable
from auren_tui.widgets.status_bar import StatusBar

LOST = ("reconnecting", "failed")  # connection states in which the data shown is stale


class DashboardScreen(Screen[None]):
    """Polls the backend in a thread; the next poll starts after the last one finished."""

    CSS_PATH = "dashboard.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_now", "Refresh"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
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
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.connected = False
        self.paused = False
        self.last: Snapshot | None = None
        self.polls = 0
        self._polling = False
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status")
        with Vertical(id="body"):
            yield Input(placeholder="filter: name, health or state", id="filter")
            yield ServiceTable(clock=self.clock, id="services")
            yield BridgePanel(id="bridge")
            yield Static("", id="errors")
        yield Footer()

    def on_mount(self) -> None:
        bar = self.query_one(StatusBar)
        bar.profile = self.backend.profile_name
        bar.read_only = self.backend.read_only
        self.query_one("#filter", Input).display = False
        self.query_one(ServiceTable).focus()
        self.set_interval(1.0, self._tick)

    # -- polling -----------------------------------------------------------

    @property
    def visible_to_operator(self) -> bool:
        """On top, or only under a dialog (which leaves it in view)."""
        top = self.app.screen
        return top is self or (isinstance(top, ModalScreen) and self in self.app.screen_stack)

    def start_polling(self) -> None:
        """Called by the app once the backend is connected."""
        self.connected = True
        self.action_refresh_now()

    def action_refresh_now(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._polling or not self.connected:
            return
        if not self.visible_to_operator:
            return  # hidden screens do not poll; resuming the screen polls again
        self._polling = True
        self._poll()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll(self) -> None:
        before = self.backend.conn_info()
        snapshot = self.backend.collect()
        after = self.backend.conn_info()
        # A refresh that overlapped an outage is reported with the outage's state.
        self.post_message(Polled(snapshot, before if before.state in LOST else after))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "poll" and event.state is WorkerState.ERROR:
            error = event.worker.error
            self.post_message(PollFailed(f"refresh failed: {type(error).__name__}: {error}"))

    def _schedule(self) -> None:
        self._polling = False
        if not self.paused:
            self._timer = self.set_timer(self.refresh_seconds, self.action_refresh_now)

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
        self._apply_conn(message.conn.state, message.conn.attempt, message.conn.error)
        self._tick()
        self._schedule()

    @on(PollFailed)
    def _failed(self, message: PollFailed) -> None:
        self.notify(message.error.splitlines()[0], severity="error", timeout=4)
        self._schedule()

    def on_screen_resume(self) -> None:
        if self.connected and not self._polling and self._timer is None:
            self.action_refresh_now()

    # -- the status line -----------------------------------------------------

    def _apply_conn(self, state: str, attempt: int, error: str | None) -> None:
        bar = self.query_one(StatusBar)
        bar.state, bar.attempt, bar.error = state, attempt, error
        stale = state in LOST
        self.query_one(ServiceTable).set_class(stale, "stale")
        self.query_one(BridgePanel).set_class(stale, "stale")

    def _tick(self) -> None:
        info = self.backend.conn_info()  # attribute reads only: no I/O on this loop
        if self.connected:
            self._apply_conn(info.state, info.attempt, info.error)
        bar = self.query_one(StatusBar)
        bar.age = None if self.last is None else max(0.0, self.clock() - self.last.taken_at)
        bar.paused = self.paused

    # -- keys ----------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._timer is not None:
            self._timer.stop()
            self._timer = None
        elif not self.paused:
            self.action_refresh_now()
        self._tick()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one(ServiceTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(ServiceTable).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(ServiceTable).focus()
