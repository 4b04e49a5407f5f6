"""Screen 2: Kafka records as they arrive, bounded and smooth.

The tail runs on its own thread (``Backend.open_tail``). Its callbacks only
append to a locked buffer; a UI timer takes the buffer every
``FLUSH_SECONDS`` into a ring of at most ``ring_size`` records and hands the
matching ones to the ``RecordLog``, which draws only the rows on screen: a
burst costs one repaint of the log's region per flush, whatever its size.
Records the buffer had to drop before a flush took them are counted as "not
drawn".
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header

from auren_tui.core.api import (
    Backend,
    Matcher,
    OnRecords,
    OnStatus,
    RecordError,
    Start,
    TailBuffer,
    TailHandle,
    TailRecord,
    TailStatus,
    TopicInfo,
    parse_filter,
    rate,
    save_lines,
)
from auren_tui.dialogs.topic_picker import TopicPicker
from auren_tui.kit.failures import WorkerFailed
from auren_tui.kit.filter_box import CLEAR_FILTER, OPEN_FILTER, FilterBox
from auren_tui.kit.live_screen import LiveScreen
from auren_tui.widgets.record_detail import RecordDetail
from auren_tui.widgets.record_log import RecordLog
from auren_tui.widgets.tail_header import TailHeader

DEFAULT_TOPICS = ("biometric-events", "terra-biometric-events")
FLUSH_SECONDS = 0.25
"""Each flush repaints the log's region: the compositor's cost is per flush, not per record."""
REFRESH_SECONDS = 1.0
"""How often, following a busy topic, the header's figures and the detail pane are redrawn."""
BUSY_PER_FLUSH = 25
"""Records in one flush (100 a second) above which a topic is busy."""


@dataclass(eq=False)
class TopicsListed(Message):
    topics: list[TopicInfo]


@dataclass(eq=False)
class Redrawn(Message):
    token: int
    records: list[TailRecord]
    """The ring's records matching the filter."""


@dataclass(eq=False)
class Saved(Message):
    path: Path | None
    count: int


class TailScreen(LiveScreen):
    """Tails ``topics`` from ``start`` (the default topics present when none given)."""

    CSS_PATH = "tail.tcss"
    ERROR_TITLE = "Kafka"
    BINDINGS: ClassVar[list[BindingType]] = [
        OPEN_FILTER,
        Binding("p,space", "toggle_pause", "Pause"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("s", "save", "Save"),
        Binding("c", "copy", "Copy"),
        Binding("o", "choose", "Topics"),
        CLEAR_FILTER,
    ]

    def __init__(
        self,
        backend: Backend,
        data_dir: Path,
        topics: Sequence[str] = (),
        start: Start | None = None,
        ring_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        filter_text: str = "",
    ) -> None:
        """``filter_text``: a filter already applied (``parse_filter``'s grammar)."""
        super().__init__()
        self.backend = backend
        self.data_dir = data_dir
        self.topics = list(topics)
        self.start = start or Start()
        self.ring_size = ring_size
        self.clock = clock
        self.ring: deque[TailRecord] = deque(maxlen=ring_size)
        self.status = TailStatus("connecting")
        self.total = 0
        self.not_drawn = 0
        self.held = 0  # arrived while paused
        self.paused = False
        self.follow = True
        self.filter_text = filter_text.strip()
        self.matcher: Matcher | None = parse_filter(filter_text)
        self.buffer = TailBuffer(ring_size)  # the only state shared with the tail's thread
        self._samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._redraw_token = 0
        self._redraw_from: int | None = None  # ``total`` when a pending redraw began
        self._detail_at = -1.0
        self._header_at = -1.0
        self._detail_stale = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield TailHeader(id="tail-status")
        yield FilterBox(
            "filter: field=value, field!=value or text", home="#records", value=self.filter_text
        )
        with Horizontal(id="tail-body"):
            yield RecordLog(self.ring_size, id="records")
            with VerticalScroll(id="detail-pane"):
                yield RecordDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RecordLog).focus()
        self.set_interval(FLUSH_SECONDS, self._flush)
        if self.topics:
            self._open(self.topics, self.start)
        else:
            self._discover()
        self._show_header()

    def on_unmount(self) -> None:
        self._close_tail()

    # -- starting and stopping ---------------------------------------------------------

    def _open(self, topics: Sequence[str], start: Start) -> None:
        self._close_tail()
        generation, on_records, on_status = self.buffer.begin()
        self.topics, self.start = list(topics), start
        self.ring.clear()
        self.total = self.not_drawn = self.held = 0
        self._redraw_token += 1  # a redraw of the old ring is no longer wanted
        self._redraw_from = None
        self._samples.clear()
        self.query_one(RecordLog).reset([])
        self._open_tail(generation, list(topics), start, on_records, on_status)

    @work(thread=True, group="tail-open", exit_on_error=False)
    def _open_tail(
        self,
        generation: int,
        topics: list[str],
        start: Start,
        on_records: OnRecords,
        on_status: OnStatus,
    ) -> None:
        handle = self.backend.open_tail(topics, start, on_records, on_status)
        if not self.buffer.adopt(generation, handle):
            handle.stop()  # the screen closed or the topics changed meanwhile

    @property
    def handle(self) -> TailHandle | None:
        return self.buffer.handle

    def _close_tail(self) -> None:
        handle = self.buffer.release()  # late callbacks and late opens are ignored
        if handle is not None:
            _stop_in_background(handle)

    @work(thread=True, group="topics", exclusive=True, exit_on_error=False)
    def _discover(self) -> None:
        self.post_message(TopicsListed(self.backend.list_topics()))

    @on(TopicsListed)
    def _listed(self, message: TopicsListed) -> None:
        present = {t.name for t in message.topics}
        defaults = [t for t in DEFAULT_TOPICS if t in present]
        if defaults:
            self._open(defaults, self.start)
        else:
            self.status = TailStatus("stopped", "no default topic: press o to choose")
            self.action_choose()

    @on(WorkerFailed)
    def _failed(self, failed: WorkerFailed) -> None:
        """No topics listed or no tail opened: the header says so (the app notifies)."""
        if failed.group in ("topics", "tail-open"):
            self.status = TailStatus("stopped", failed.text)
            self._show_header()

    # -- drawing ---------------------------------------------------------------------

    def _flush(self) -> None:
        new, dropped, status = self.buffer.take()
        if status is not None:
            self.status = status
        self.total += len(new) + dropped
        self._samples.append((self.clock(), self.total))
        if new or dropped:
            self.ring.extend(new)
            if self.holding:
                self.held += len(new) + dropped
            elif self._redraw_from is None:  # else the redraw adds them when it lands
                self._draw(new, dropped)
        # Following a busy topic, the detail pane (the newest record) and the header's
        # figures are redrawn once a second: a repaint of them with the log's costs the
        # compositor the whole screen's height. A change of state, or a quiet topic's
        # few records, are shown at once.
        now = time.monotonic()
        busy = len(new) + dropped > BUSY_PER_FLUSH
        if self._detail_stale and (not busy or now - self._detail_at >= REFRESH_SECONDS):
            self._show_detail(self.query_one(RecordLog).selected)
        if status is not None or not busy or now - self._header_at >= REFRESH_SECONDS:
            self._show_header()

    def _draw(self, new: list[TailRecord], dropped: int) -> None:
        fresh = new[-self.ring_size :]  # older ones have already left the ring
        self.not_drawn += dropped + len(new) - len(fresh)
        matched = fresh if self.matcher is None else [r for r in fresh if self.matcher(r)]
        if matched:
            log = self.query_one(RecordLog)
            log.add(matched)
            self._detail_stale = log.cursor is None

    @property
    def holding(self) -> bool:
        """Paused, or follow off: the log holds still and what arrives is only kept."""
        return self.paused or not self.follow

    def _redraw(self) -> None:
        """Show the ring again, filtered (after a filter change or a resume). Without a
        filter at once; with one, matched in a thread (up to 200 ms for a full ring
        and a text filter)."""
        self._redraw_token += 1
        if self.matcher is None:
            self._redraw_from = None
            self._show_ring(self.ring)
            return
        self._redraw_from = self.total
        self._match_ring(self._redraw_token, list(self.ring), self.matcher)

    @work(thread=True, exclusive=True, group="redraw", exit_on_error=False)
    def _match_ring(self, token: int, ring: list[TailRecord], match: Matcher | None) -> None:
        self.post_message(Redrawn(token, self._matching(ring, match)))

    @on(Redrawn)
    def _redrawn(self, message: Redrawn) -> None:
        if message.token != self._redraw_token or self._redraw_from is None:
            return
        arrived, self._redraw_from = min(self.total - self._redraw_from, len(self.ring)), None
        self._show_ring(message.records, list(self.ring)[-arrived:] if arrived else [])

    def _show_ring(
        self, records: Iterable[TailRecord], arrived: list[TailRecord] | None = None
    ) -> None:
        """The log shows ``records`` (the ring, filtered), then what ``arrived`` meanwhile."""
        log = self.query_one(RecordLog)
        log.reset(records)
        if arrived and not self.holding:
            self._draw(arrived, 0)
        self._show_detail(log.selected)
        self._show_header()

    @staticmethod
    def _matching(ring: list[TailRecord], match: Matcher | None) -> list[TailRecord]:
        return ring if match is None else [r for r in ring if match(r)]

    def _show_header(self) -> None:
        self._header_at = time.monotonic()
        state = self.status.state
        if state == "stopped" and "deleted" in self.status.detail:
            state = "topic deleted"
        parts = [
            ", ".join(self.topics) or "no topic",
            f"from {self.start.describe()}",
            state,
            f"{rate(list(self._samples), now=self.clock()):,.0f}/s",
            f"{self.total:,} records",
            f"ring {len(self.ring):,}/{self.ring_size:,}",
            f"not drawn {self.not_drawn:,}",
            "follow" if self.follow else "follow off",
        ]
        if self.paused:
            parts.append(f"PAUSED ({self.held:,} new)")
        elif not self.follow:
            parts.append(f"{self.held:,} new below")
        if self.filter_text:
            parts.append(f"filter {self.filter_text}")
        self.query_one(TailHeader).show(parts, state, self.status.detail, self.paused)

    def _show_detail(self, record: TailRecord | None) -> None:
        self._detail_at, self._detail_stale = time.monotonic(), False
        self.query_one(RecordDetail).show(record)

    @on(RecordLog.Selected)
    def _selected(self, message: RecordLog.Selected) -> None:
        self._show_detail(message.record or self.query_one(RecordLog).selected)

    # -- keys ------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        holding = self.holding
        self.paused = not self.paused
        self._hold_changed(holding)

    def action_toggle_follow(self) -> None:
        holding = self.holding
        self.follow = not self.follow
        log = self.query_one(RecordLog)
        log.auto_scroll = self.follow
        self._hold_changed(holding)
        if self.follow:
            log.action_newest()

    def _hold_changed(self, was_holding: bool) -> None:
        """Holding keeps the log as it is (every record of the ring is in it, nothing to
        draw); ending it catches up with what arrived meanwhile."""
        if self.holding != was_holding:
            self.held = 0
        if was_holding and not self.holding:
            self._redraw()
        self._show_header()

    @on(FilterBox.Applied)
    def _filtered(self, message: FilterBox.Applied) -> None:
        self._set_filter(message.text)

    def _set_filter(self, text: str) -> None:
        if text.strip() == self.filter_text:
            return
        try:
            matcher = parse_filter(text)
        except RecordError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.filter_text, self.matcher = text.strip(), matcher
        self._redraw()

    def action_save(self) -> None:
        self._save(list(self.ring), self.matcher)

    @work(thread=True, group="save", exit_on_error=False)
    def _save(self, ring: list[TailRecord], match: Matcher | None) -> None:
        """What is shown: the ring as filtered (also what the draw limit left out)."""
        records = self._matching(ring, match)
        if not records:
            self.post_message(Saved(None, 0))
            return
        path = save_lines(self.data_dir, "tail", (r.json_line() for r in records))
        self.post_message(Saved(path, len(records)))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        if message.path is None:
            self.notify("Nothing to save yet.", severity="warning")
            return
        self.notify(f"{message.count:,} records saved to {message.path}", title="Saved")

    def action_copy(self) -> None:
        record = self.query_one(RecordLog).selected
        if record is None:
            self.notify("No record to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(record.json_line())
        self.notify(f"Copied {record.where} as JSON")

    def action_choose(self) -> None:
        def chosen(choice: tuple[list[str], Start] | None) -> None:
            if choice:
                self._open(*choice)
                self._show_header()

        picker = TopicPicker(self.backend, self.topics or list(DEFAULT_TOPICS), self.start)
        self.app.push_screen(picker, chosen)


def _stop_in_background(handle: TailHandle) -> None:
    """Stopping joins the tail's thread: not on the UI loop. Not a daemon, so the
    process waits for it at exit and no tail outlives the app."""
    threading.Thread(target=handle.stop, name="kafka-tail-stop").start()
