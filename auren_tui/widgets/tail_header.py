"""The Tail screen's header: one fixed line of figures, repainted without a layout."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

FAULTS = ("broker unreachable", "topic deleted", "stopped")
"""States the header shows as a fault."""


class TailHeader(Static):
    """``show`` repaints only when the line changed and never lays the screen out
    (a Static's update otherwise does: the compositor's whole height, 4 times a second)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self._line = Text()

    def show(self, parts: list[str], state: str, detail: str, paused: bool) -> None:
        """``parts`` joined by dots, then ``detail`` (italic) unless the tail is live."""
        line = Text(" · ".join(parts))
        if detail and state != "live":
            line.append(f"  {detail}", style="italic")
        if line != self._line:
            self._line = line
            self.update(line, layout=False)
        self.set_class(state in FAULTS, "fault")
        self.set_class(paused, "paused")
