"""The tail's detail pane: one record, its value pretty-printed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from auren_tui.core.records import TailRecord, render_bytes


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
        self.update(text)
