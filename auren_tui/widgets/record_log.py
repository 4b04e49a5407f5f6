"""The tail's records: a ``Log`` that knows which record each line is, with a cursor."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Log

from auren_tui.core.records import TailRecord


class RecordLog(Log):
    """One line per record drawn (records render to one line: ``TailRecord.line``).

    ``up``/``down`` select a record; ``end`` goes back to the newest. Selecting
    posts ``Selected``; ``None`` there means "the newest record".
    """

    DEFAULT_CSS = """
    RecordLog > .record-log--cursor { background: $accent 40%; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"record-log--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-20)", show=False),
        Binding("pagedown", "cursor(20)", show=False),
        Binding("end", "newest", show=False),
    ]

    @dataclass(eq=False)
    class Selected(Message):
        record: TailRecord | None

    def __init__(self, max_lines: int, *, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, id=id)
        self.records: deque[TailRecord] = deque(maxlen=max_lines)
        self.cursor: int | None = None

    def add(self, records: Sequence[TailRecord], lines: Sequence[str] | None = None) -> None:
        """Draw ``records`` below the others (the oldest go beyond ``max_lines``);
        ``lines``: their lines, when already rendered (off the UI thread)."""
        if not records:
            return
        assert self.max_lines is not None
        overflow = max(0, len(self.records) + len(records) - self.max_lines)
        self.records.extend(records)
        if self.cursor is not None and overflow:
            self.cursor -= overflow
            if self.cursor < 0:
                self.cursor = None
                self.post_message(self.Selected(None))
        if lines is None:
            lines = [r.line() for r in records[-self.max_lines :]]
        self.write_lines(lines[-self.max_lines :])

    def reset(self, records: Sequence[TailRecord], lines: Sequence[str] | None = None) -> None:
        """Draw exactly ``records`` (after a filter change or a resume)."""
        self.clear()
        self.records.clear()
        if self.cursor is not None:
            self.cursor = None
            self.post_message(self.Selected(None))
        self.add(records, lines)

    @property
    def selected(self) -> TailRecord | None:
        if self.cursor is not None and 0 <= self.cursor < len(self.records):
            return self.records[self.cursor]
        return self.records[-1] if self.records else None

    def action_cursor(self, step: int) -> None:
        if not self.records:
            return
        at = len(self.records) - 1 if self.cursor is None else self.cursor
        self.cursor = min(max(0, at + step), len(self.records) - 1)
        self.scroll_to(y=max(0, self.cursor - self.size.height // 2), animate=False)
        self.refresh()
        self.post_message(self.Selected(self.records[self.cursor]))

    def action_newest(self) -> None:
        self.cursor = None
        self.scroll_end(animate=False)
        self.refresh()
        self.post_message(self.Selected(None))

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        strip = super()._render_line(y, scroll_x, width)
        if y == self.cursor:
            style: Style = self.get_component_rich_style("record-log--cursor")
            # After the line's own styles (the Log's background would hide a base style).
            strip = Strip(Segment.apply_style(strip, post_style=style), strip.cell_length)
        return strip
