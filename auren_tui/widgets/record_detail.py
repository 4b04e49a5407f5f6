"""The tail's detail pane: one record, its value pretty-printed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.visual import visualize
from textual.widgets import Static

from auren_tui.core.api import TailRecord, render_bytes


class RecordDetail(Static):
    """Where the record is, when, its key and headers, then its value (JSON indented)."""

    def show(self, record: TailRecord | None) -> None:
        if record is None:
            self.update("")
            return
        text = Text()
        text.append(f"{record.where}\n", style="bold")
        text.append(f"time     {record.time.isoformat(timespec='milliseconds')}\n")
        text.append(f"key      {render_bytes(record.key)}\n")
        for name, value in record.headers:
            text.append(f"header   {name}={render_bytes(value)}\n")
        text.append("\n")
        text.append(record.value_text(pretty=True))
        # A new height lays the whole screen out again (a full repaint, 15-25 ms), so
        # the pane never shrinks while showing records (blank rows below a shorter one):
        # following, records of a few shapes soon stop changing it.
        width, shown = self.content_region.width, self.content_region.height
        styles: Any = self.styles  # what Widget.get_content_height passes (typed RulesMap)
        height = visualize(self, text).get_height(styles, width) if width else -1
        if 0 < height < shown:
            text.append("\n" * (shown - height))
        self.update(text, layout=height > shown or height < 0)
