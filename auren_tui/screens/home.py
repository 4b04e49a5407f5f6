"""The first screen. Until the dashboard exists it says what the tool will do."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

WELCOME = """\
[b]auren-tui[/b] — the AUREN operators' workstation

  • health of every service       (coming: dashboard)
  • Kafka topic tails             (coming: tail)
  • signed webhook test forms     (coming: webhooks)
  • one-key container restore     (coming: containers)
"""


class HomeScreen(Screen[None]):
    """Skeleton home screen."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Vertical(id="welcome"):
            yield Static(WELCOME, id="welcome-text")
        yield Footer()
