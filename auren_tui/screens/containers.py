"""Screen 4: every container of the server's Docker Engine (lazydocker habits).

The table is listed in a thread by a ``Poller`` (``kit/poller.py``): the next
listing after the last one landed, none while the screen is hidden. The selected
container's logs are followed on their own thread into a ``LineBuffer`` a UI
timer drains into the log; its CPU and memory are sampled the same way as
the table. Leaving the screen stops the follow.
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
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Log, Static
from textual.worker import Worker

from auren_tui.core.api import (
    Action,
    Backend,
    ContainerRow,
    Containers,
    LineBuffer,
    NoDocker,
    NotConnected,
    OnEnd,
    OnLines,
    Stats,
)
from auren_tui.core.filtering import RowMatcher, row_filter
from auren_tui.core.format import one_line, size
from auren_tui.dialogs.break_lock import BreakLockDialog
from auren_tui.dialogs.confirm import ConfirmDialog
from auren_tui.dialogs.restore import RestoreDialog
from auren_tui.kit.filter_box import CLEAR_FILTER, OPEN_FILTER, FilterBox
from auren_tui.kit.live_screen import LiveScreen
from auren_tui.widgets.container_table import ContainerTable

REFRESH_SECONDS = 2.0
FLUSH_SECONDS = 0.1
LOG_LINES = 5_000
VERBS: dict[Action, str] = {"restart": "Restart", "stop": "Stop", "start": "Start"}


@dataclass(eq=False)
class Listed(Message):
    rows: list[ContainerRow]


@dataclass(eq=False)
class DockerMissing(Message):
    text: str
    connecting: bool = False  # not the engine's fault: the connection is not up yet


@dataclass(eq=False)
class Sampled(Message):
    name: str
    stats: Stats | None
    error: str = ""


@dataclass(eq=False)
class Acted(Message):
    name: str
    action: Action
    error: str = ""


@dataclass(eq=False)
class FollowFailed(Message):
    generation: int
    error: str


class ContainersScreen(LiveScreen):
    """Containers, the selected one's logs and stats; restart/stop/start and restore."""

    CSS_PATH = "containers.tcss"
    ERROR_TITLE = "Containers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "act('restart')", "Restart"),
        Binding("s", "act('stop')", "Stop"),
        Binding("S", "act('start')", "Start"),
        Binding("R", "restore", "Restore"),
        Binding("B", "break_lock", "Break lock", show=False),
        OPEN_FILTER,
        Binding("l", "toggle_follow", "Follow logs"),
        CLEAR_FILTER,
    ]

    def __init__(self, backend: Backend, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.backend = backend
        self.containers: Containers = backend.containers()
        self.clock = clock
        self.rows: list[ContainerRow] = []
        self.shown: list[ContainerRow] = []
        self.selected: str | None = None
        self.filter_text = ""
        self.matcher: RowMatcher | None = None
        self.follow = True
        self.missing: str | None = None
        self.stats: Stats | None = None
        self.notice = ""
        self.lists = 0
        self.buffer = LineBuffer(LOG_LINES)  # the only state shared with the follow's thread
        self.listing = self.poll_every(REFRESH_SECONDS, self._list)
        self.sampling = self.poll_every(REFRESH_SECONDS, self._sample_selected)
        self._switch: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="containers-status")
        yield FilterBox("filter: name, service, state, health or image", home="#containers")
        yield Static("", id="no-docker")
        with Vertical(id="containers-body"):
            yield ContainerTable(clock=self.clock, id="containers")
            yield Static("", id="stats")
            yield Log(max_lines=LOG_LINES, id="logs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no-docker", Static).display = False
        self.query_one(ContainerTable).focus()
        self.set_interval(FLUSH_SECONDS, self._flush)
        self.listing.start()
        self._show_status()

    def on_unmount(self) -> None:
        self._stop_follow()

    # -- the table ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="containers-list", exit_on_error=False)
    def _list(self) -> None:
        try:
            self.post_message(Listed(self.containers.list()))
        except NoDocker as exc:
            self.post_message(DockerMissing(str(exc)))
        except NotConnected as exc:  # opened before the connection: the next listing tells
            self.post_message(DockerMissing(str(exc), connecting=True))
        except Exception as exc:  # the connection, mostly: shown, and tried again
            self.post_message(DockerMissing(one_line(exc)))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        self.lists += 1
        self.rows = sorted(message.rows, key=lambda r: (r.service is None, r.name))
        self._set_missing(None)
        self._fill()

    @on(DockerMissing)
    def _docker_missing(self, message: DockerMissing) -> None:
        self.lists += 1
        self.rows = []
        self._set_missing(message.text, message.connecting)

    def _set_missing(self, text: str | None, connecting: bool = False) -> None:
        self.missing = text
        box = self.query_one("#no-docker", Static)
        box.display = text is not None
        self.query_one("#containers-body").display = text is None
        if text is not None:
            title = "Connecting…" if connecting else "No Docker Engine"
            box.update(Text.assemble((f"{title}\n\n", "bold"), text))
            self._stop_follow()
            self.selected = None
        self._show_status()

    def _fill(self) -> None:
        match, fields = self.matcher, ContainerTable.filter_fields
        self.shown = [r for r in self.rows if match is None or match(fields(r))]
        self._select(self.query_one(ContainerTable).show(self.shown, self.selected))
        self._show_status()

    @on(DataTable.RowHighlighted, "#containers")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value if event.row_key is not None else None
        if name == self.selected:
            return
        # Arrowing through the table must not open a stream per row passed.
        if self._switch is not None:
            self._switch.stop()
        self._switch = self.set_timer(0.25, lambda: self._select(name))

    def _select(self, name: str | None) -> None:
        if name == self.selected:
            return
        self.selected, self.stats = name, None
        self.query_one("#logs", Log).clear()
        self._show_stats()
        self._stop_follow()
        if name is None:
            self.sampling.stop()
        else:
            if self.follow:
                self._start_follow(name)
            self.sampling.start()

    # -- logs ------------------------------------------------------------------------

    def _start_follow(self, name: str) -> None:
        generation, on_lines, on_end = self.buffer.begin()
        self._open_follow(generation, name, on_lines, on_end)

    @work(thread=True, group="containers-logs", exit_on_error=False)
    def _open_follow(self, generation: int, name: str, on_lines: OnLines, on_end: OnEnd) -> None:
        try:
            handle = self.containers.follow_logs(name, on_lines, on_end)
        except Exception as exc:
            self.post_message(FollowFailed(generation, one_line(exc)))
            return
        if not self.buffer.adopt(generation, handle):
            handle.stop()  # the selection changed or the screen closed meanwhile

    @on(FollowFailed)
    def _follow_failed(self, message: FollowFailed) -> None:
        if message.generation == self.buffer.generation:
            self.query_one("#logs", Log).write_line(f"[cannot follow the logs: {message.error}]")

    def _stop_follow(self) -> None:
        handle = self.buffer.drop()
        if handle is not None:
            handle.stop()  # closes its stream: does not block

    def _flush(self) -> None:
        lines, ended = self.buffer.take()
        log = self.query_one("#logs", Log)
        if lines:
            log.write_lines(lines)
        if ended is not None:
            log.write_line(f"[{ended}]")

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        if self.follow and self.selected is not None:
            self.query_one("#logs", Log).clear()
            self._start_follow(self.selected)
        elif not self.follow:
            self._stop_follow()
        self._show_status()

    # -- stats -----------------------------------------------------------------------

    def _sample_selected(self) -> Worker[None] | None:
        return None if self.selected is None else self._sample(self.selected)

    @work(thread=True, exclusive=True, group="containers-stats", exit_on_error=False)
    def _sample(self, name: str) -> None:
        try:
            self.post_message(Sampled(name, self.containers.stats(name)))
        except Exception as exc:
            self.post_message(Sampled(name, None, one_line(exc)))

    @on(Sampled)
    def _sampled(self, message: Sampled) -> None:
        if message.name != self.selected:
            return
        self.stats = message.stats
        self._show_stats(message.error)

    def _show_stats(self, error: str = "") -> None:
        line = Text(self.selected or "no container selected", style="bold")
        if self.stats is not None:
            s = self.stats
            limit = f" / {size(s.memory_limit)}" if s.memory_limit else ""
            line.append(f"   CPU {s.cpu_percent:.1f} %   memory {size(s.memory)}{limit}")
        elif error:
            line.append(f"   stats: {error}", style="italic")
        self.query_one("#stats", Static).update(line)

    def _show_status(self) -> None:
        parts = [f"profile {self.backend.profile_name}"]
        if self.missing is None:
            parts.append(f"{len(self.shown)} of {len(self.rows)} containers")
        parts.append("logs follow" if self.follow else "logs paused (l)")
        if self.filter_text:
            parts.append(f"filter {self.filter_text}")
        if self.backend.read_only:
            parts.append("READ-ONLY")
        line = Text(" · ".join(parts))
        if self.notice:
            line.append(f"   {self.notice}", style="italic")
        self.query_one("#containers-status", Static).update(line)

    def _say(self, text: str, severity: str = "information") -> None:
        self.notice = text
        self._show_status()
        self.notify(text, severity=severity)  # type: ignore[arg-type]

    # -- actions ---------------------------------------------------------------------

    def _current(self) -> ContainerRow | None:
        return next((r for r in self.shown if r.name == self.selected), None)

    def action_act(self, action: Action) -> None:
        row = self._current()
        if row is None:
            self._say("No container selected.", "warning")
            return
        if self.backend.read_only:
            self._say(f"read-only: {action} of {row.name} refused", "warning")
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self._say(f"{action} {row.name}…")
                self._act(row.name, action)

        what = f"{VERBS[action]} {row.name} ({row.state})?"
        self.app.push_screen(ConfirmDialog(what, _consequence(action), VERBS[action]), decided)

    @work(thread=True, group="containers-act", exit_on_error=False)
    def _act(self, name: str, action: Action) -> None:
        try:
            self.containers.act(name, action)
        except Exception as exc:
            self.post_message(Acted(name, action, one_line(exc)))
            return
        self.post_message(Acted(name, action))

    @on(Acted)
    def _acted(self, message: Acted) -> None:
        if message.error:
            self._say(f"{message.action} {message.name} failed: {message.error}", "error")
        else:
            self._say(f"{message.action} {message.name}: done")
            self._refollow(message.name)
        self.listing.start()

    def _refollow(self, name: str) -> None:
        """Follow ``name`` afresh: its old stream ended with the container it followed."""
        if name == self.selected and self.follow:
            self.selected = None
            self._select(name)

    def action_restore(self) -> None:
        row = self._current()
        if row is None:
            self._say("No container selected.", "warning")
            return
        if row.service is None:
            self._say(
                f"{row.name} is no catalog service's container: restore works on those",
                "warning",
            )
            return
        dialog = RestoreDialog(self.containers, row.service, row.name, self.backend.read_only)

        def closed(ran: bool | None) -> None:
            if ran:
                self._refollow(row.name)  # the container under that name is a new one
            self.listing.start()

        self.app.push_screen(dialog, closed)

    def action_break_lock(self) -> None:
        row = self._current()
        if row is None:
            self._say("No container selected.", "warning")
            return
        if row.service is None:
            self._say(f"{row.name} is no catalog service's container: it has no restore lock")
            return
        dialog = BreakLockDialog(self.containers, row.service, row.name, self.backend.read_only)

        def closed(broken: bool | None) -> None:
            self.listing.start()

        self.app.push_screen(dialog, closed)

    @on(FilterBox.Applied)
    def _filtered(self, message: FilterBox.Applied) -> None:
        self.filter_text, self.matcher = message.text, row_filter(message.text)
        self._fill()


def _consequence(action: Action) -> str:
    if action == "stop":
        return "Docker sends SIGTERM, then SIGKILL after 10 s. It stays stopped until started."
    if action == "restart":
        return "Docker stops it (SIGTERM, SIGKILL after 10 s) and starts it again."
    return "Docker starts it with the configuration it has."
