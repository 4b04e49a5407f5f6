"""The line under the header: profile, connection state, refresh age, read-only."""

from __future__ import annotations

import time

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from auren_tui.core.format import duration

STATE_STYLE = {
    "connected": "$success",
    "local": "$success",
    "connecting": "$warning",
    "reconnecting": "$warning",
    "failed": "$error",
}


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; padding: 0 1; }
    """

    profile: reactive[str] = reactive("")
    state: reactive[str] = reactive("connecting")
    attempt: reactive[int] = reactive(0)
    error: reactive[str | None] = reactive(None)
    age: reactive[float | None] = reactive(None)
    read_only: reactive[bool] = reactive(False)
    paused: reactive[bool] = reactive(False)
    as_of: reactive[float | None] = reactive(None)
    """The time of a recorded refresh shown instead of live data (stepped back)."""

    def render(self) -> Text:
        var = self.app.get_css_variables().get
        text = Text()
        text.append(" ")
        text.append(self.profile or "-", style="bold")
        text.append("  ")
        label = self.state
        if self.state == "reconnecting":
            label = f"reconnecting (attempt {self.attempt})"
        text.append(f"● {label}", style=var(STATE_STYLE.get(self.state, "")[1:], ""))
        if self.error and self.state in ("reconnecting", "failed"):
            text.append(f"  {self.error}", style="dim")
        if self.as_of is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.as_of))
            text.append(f"  ◀ AS OF {stamp} ", style=f"bold reverse {var('accent', '')}")
            text.append(f" {duration(self.age)} ago · → newer · end: live", style="bold")
        else:
            text.append("  refreshed ")
            text.append("never" if self.age is None else f"{duration(self.age)} ago")
        if self.paused:
            text.append("  PAUSED", style=f"bold {var('warning', '')}")
        if self.read_only:
            text.append("  READ-ONLY", style=f"bold reverse {var('warning', '')}")
        return text
