"""`o` on the tail screen: which topics, from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, SelectionList, Static
from textual.worker import Worker

from auren_tui.core.api import Backend, RecordError, Start, TopicInfo, parse_start
from auren_tui.kit.failures import WorkerFailed

Choice = tuple[list[str], Start]


def start_text(start: Start) -> str:
    """``start`` as ``parse_start`` reads it back."""
    if start.kind in ("end", "beginning"):
        return start.kind
    if start.kind == "offset":
        return str(start.value)
    if start.kind == "back":
        return f"-{start.value}"
    return f"@{start.value}"


class TopicPicker(ModalScreen[Choice | None]):
    """Lists the broker's topics (in a thread) with partitions and end offsets."""

    DEFAULT_CSS = """
    TopicPicker { align: center middle; }
    TopicPicker > Vertical {
        width: 90; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    TopicPicker SelectionList { height: auto; max-height: 20; }
    TopicPicker #picker-error { color: $error; height: auto; }
    TopicPicker Horizontal { height: auto; align-horizontal: right; }
    TopicPicker Button { margin-left: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Close")]

    @dataclass(eq=False)
    class Listed(Message):
        topics: list[TopicInfo]

    def __init__(self, backend: Backend, selected: list[str], start: Start) -> None:
        super().__init__()
        self.backend = backend
        self.selected = selected
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Topics (space selects)")
            yield SelectionList[str](id="topics")
            yield Label("Start at: end, beginning, N, -N, ISO time, @EPOCH_MS or 10m")
            yield Input(start_text(self.start), id="start")
            yield Static("", id="picker-error")
            with Horizontal():
                yield Button("Tail", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        topics = self.query_one(SelectionList)
        topics.loading = True
        topics.focus()
        self._list()

    @work(thread=True, exclusive=True, group="picker", exit_on_error=False)
    def _list(self) -> None:
        self.post_message(self.Listed(self.backend.list_topics()))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        topics = self.query_one(SelectionList)
        topics.loading = False
        width = max([10, *(len(t.name) for t in message.topics)])
        for t in message.topics:
            ends = ",".join(f"{p}:{end}" for p, (_, end) in sorted(t.partitions.items()))
            label = f"{t.name.ljust(width)}  {len(t.partitions):>3} partitions  end {ends}"
            topics.add_option((label, t.name, t.name in self.selected))
        if not message.topics:
            self._error("the broker has no topics")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Shown in the dialog, where the operator is choosing: no notification too.
        failed = WorkerFailed.of(event)
        if failed is not None:
            self.query_one(SelectionList).loading = False
            self._error(failed.text)

    def _error(self, text: str) -> None:
        self.query_one("#picker-error", Static).update(text)

    @on(Button.Pressed, "#ok")
    @on(Input.Submitted, "#start")
    def _submit(self) -> None:
        chosen = list(self.query_one(SelectionList).selected)
        if not chosen:
            self._error("choose at least one topic (space selects)")
            return
        try:
            start = parse_start(self.query_one("#start", Input).value)
        except RecordError as exc:
            self._error(str(exc))
            return
        self.dismiss((chosen, start))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
