"""The tail's records: every record kept, drawn only where it is on screen.

Not a ``Log``: a ``Log`` renders each line it is given and grows its virtual
size with every write, and a virtual size that changes lays out the whole
screen again (15-25 ms of compositor each time on the 2-core machine). This
widget keeps the records themselves (references into the screen's ring, no
copies), never changes size, and renders the rows on screen, from a small
cache, when the compositor asks for them: a new batch costs one repaint of
its own region, whatever the batch's size.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from auren_tui.core.api import TailRecord

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SCROLL_STEP = 3
"""Rows a mouse wheel notch moves."""
PAN_STEP = 8
"""Columns ``left``/``right`` move."""


def _cut_cells(line: str, start: int, width: int) -> str:
    """The cells ``start`` to ``start + width`` of ``line`` (wide characters split
    at an edge become spaces)."""
    out: list[str] = []
    at = 0
    for char in line:
        cells = cell_len(char)
        if at >= start and at + cells <= start + width:
            out.append(char)
        elif at < start < at + cells or at < start + width < at + cells:
            out.append(" " * (min(at + cells, start + width) - max(at, start)))
        at += cells
        if at >= start + width:
            break
    return "".join(out)


def _printable(line: str) -> str:
    """No control characters reach the terminal (a value may hold any)."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", line.expandtabs())


class RecordLog(Widget, can_focus=True):
    """One row per record (``TailRecord.line``), newest at the bottom.

    Following (``auto_scroll``), the view stays on the newest records. ``up``/
    ``down``/``pageup``/``pagedown``/``home`` select a record (the view keeps
    it in sight), the wheel scrolls, ``left``/``right`` pan long lines, ``end``
    goes back to the newest. Selecting posts ``Selected``; ``None`` there means
    "the newest record".
    """

    DEFAULT_CSS = """
    RecordLog { background: $surface; color: $foreground; }
    RecordLog > .record-log--cursor { background: $accent 40%; }
    RecordLog > .record-log--track { color: $panel; }
    RecordLog > .record-log--thumb { color: $primary; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "record-log--cursor",
        "record-log--track",
        "record-log--thumb",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-20)", show=False),
        Binding("pagedown", "cursor(20)", show=False),
        Binding("home", "oldest", show=False),
        Binding("end", "newest", show=False),
        Binding("left", "pan(-1)", show=False),
        Binding("right", "pan(1)", show=False),
    ]

    @dataclass(eq=False)
    class Selected(Message):
        record: TailRecord | None

    def __init__(self, max_lines: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.records: deque[TailRecord] = deque(maxlen=max_lines)
        self.cursor: int | None = None
        self.auto_scroll = True
        self._top: int | None = None
        """Index of the first row shown; None: the view is on the newest records."""
        self._x = 0
        self._first = 0
        """How many records have left the front of ``records`` since the last reset:
        the cache's keys are positions counted from the first record ever added."""
        self._rows: dict[tuple[int, int], str] = {}
        """(position, width) -> the row's text, cut or padded to exactly ``width`` cells."""

    # -- content -------------------------------------------------------------------

    def add(self, records: Sequence[TailRecord]) -> None:
        """Put ``records`` below the others (the oldest leave beyond ``max_lines``)."""
        if not records:
            return
        overflow = max(0, len(self.records) + len(records) - self.max_lines)
        self.records.extend(records)
        self._shift(overflow)
        self.refresh()

    def reset(self, records: Iterable[TailRecord]) -> None:
        """Show exactly ``records`` (after a filter change, a resume, a new tail)."""
        self.records = deque(records, maxlen=self.max_lines)
        self._first = 0
        self._rows.clear()
        self._top = None
        if self.cursor is not None:
            self.cursor = None
            self.post_message(self.Selected(None))
        self.refresh()

    def _shift(self, overflow: int) -> None:
        """``overflow`` records left the front: keep the same records in view."""
        if not overflow:
            return
        self._first += overflow
        if self._top is not None:
            self._top = max(0, self._top - overflow)
        if self.cursor is not None:
            self.cursor -= overflow
            if self.cursor < 0:
                self.cursor = None
                self.post_message(self.Selected(None))
        if len(self._rows) > 4 * max(self.size.height, 25):
            self._rows.clear()

    @property
    def line_count(self) -> int:
        return len(self.records)

    def line(self, index: int) -> str:
        """Row ``index`` as drawn (control characters replaced)."""
        return _printable(self.records[index].line())

    @property
    def selected(self) -> TailRecord | None:
        if self.cursor is not None and 0 <= self.cursor < len(self.records):
            return self.records[self.cursor]
        return self.records[-1] if self.records else None

    @property
    def top(self) -> int:
        """Index of the first record in view."""
        if self._top is None:
            return max(0, len(self.records) - self.size.height)
        return min(self._top, max(0, len(self.records) - self.size.height))

    # -- keys and mouse ------------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        if not self.records:
            return
        at = len(self.records) - 1 if self.cursor is None else self.cursor
        self.cursor = min(max(0, at + step), len(self.records) - 1)
        self._show(self.cursor)
        self.post_message(self.Selected(self.records[self.cursor]))

    def action_oldest(self) -> None:
        if self.records:
            self.action_cursor(-len(self.records))

    def action_newest(self) -> None:
        self.cursor = None
        self._top = None
        self.refresh()
        self.post_message(self.Selected(None))

    def action_pan(self, step: int) -> None:
        self._x = max(0, self._x + step * PAN_STEP)
        self._rows.clear()
        self.refresh()

    def _show(self, index: int) -> None:
        """Scroll so that row ``index`` is in view (centred when it was not); the view
        then stays there until ``end``."""
        height = max(1, self.size.height)
        top = self.top
        if not top <= index < top + height:
            top = max(0, index - height // 2)
        self._top = top
        self.refresh()

    def _scroll(self, rows: int) -> None:
        height = max(1, self.size.height)
        bottom = max(0, len(self.records) - height)
        top = min(max(0, self.top + rows), bottom)
        at_end = top >= bottom and self.cursor is None and self.auto_scroll
        self._top = None if at_end else top
        self.refresh()

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self._scroll(SCROLL_STEP)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self._scroll(-SCROLL_STEP)

    # -- drawing -------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rows.clear()
        self._styles = None

    def on_resize(self) -> None:
        self._rows.clear()

    _styles: tuple[Style, Style, Style, Style] | None = None

    def _resolved_styles(self) -> tuple[Style, Style, Style, Style]:
        """Base, cursor, track and thumb styles: resolving one walks the DOM (0.1 ms),
        so once per style change, not once per row."""
        if self._styles is None:
            self._styles = (
                self.rich_style,
                self.get_component_rich_style("record-log--cursor"),
                self.get_component_rich_style("record-log--track"),
                self.get_component_rich_style("record-log--thumb"),
            )
        return self._styles

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        count = len(self.records)
        base, cursor, track, thumb = self._resolved_styles()
        bar = count > height and width > 1
        text_width = width - 1 if bar else width
        top = self.top
        index = top + y
        if index < count:
            text = self._row_text(index, text_width)
            row = Segment(text, base + cursor if index == self.cursor else base)
        else:
            row = Segment(" " * text_width, base)
        if not bar:
            return Strip([row], width)
        # Where the view is in the records: a thumb on a one-column track. One Strip per
        # row and frame: each Strip is garbage with cycles for the collector afterwards.
        size = max(1, height * height // count)
        start = min(height - size, top * height // count)
        cell = Segment("▐", thumb) if start <= y < start + size else Segment("│", track)
        return Strip([row, cell], width)

    def _row_text(self, index: int, width: int) -> str:
        """Record ``index``'s line cut (or padded) to ``width`` cells, from the cache."""
        key = (self._first + index, width)  # the width changes when the scroll bar appears
        text = self._rows.get(key)
        if text is None:
            line = self.line(index)
            if line.isascii():  # one cell per character: cut it as a string
                text = line[self._x : self._x + width]
            else:
                text = _cut_cells(line, self._x, width)
            text += " " * (width - cell_len(text))
            self._rows[key] = text
        return text
