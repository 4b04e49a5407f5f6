"""The Dashboard's events: one line per alert of this session, newest last.

Hidden until the first alert, so a quiet stack keeps the screen it had. The
last ``SHOWN`` lines are on screen; ``KEPT`` are kept for the session.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from auren_tui.core.api import Alert

SHOWN = 5
KEPT = 200
MARK = {"error": ("✖", "$error"), "warning": ("▲", "$warning"), "information": ("●", "$success")}


class EventsPanel(Static):
    DEFAULT_CSS = """
    EventsPanel { height: auto; border: round $secondary; padding: 0 1; display: none; }
    EventsPanel.-some { display: block; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.border_title = "Events"
        self.events: deque[Alert] = deque(maxlen=KEPT)

    def add(self, alerts: Iterable[Alert]) -> None:
        self.events.extend(alerts)
        self.set_class(bool(self.events), "-some")
        self.border_subtitle = f"{len(self.events)} this session" if self.events else ""
        var = self.app.get_css_variables().get
        text = Text()
        for i, alert in enumerate(list(self.events)[-SHOWN:]):
            mark, colour = MARK.get(alert.severity, MARK["warning"])
            if i:
                text.append("\n")
            text.append(time.strftime("%H:%M:%S ", time.localtime(alert.at)), style="dim")
            text.append(f"{mark} ", style=var(colour[1:], ""))
            text.append(alert.text)
        self.update(text)
