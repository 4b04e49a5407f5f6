"""`?`: the keys, in one place."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# auren-tui keys

| key | does |
|---|---|
| `1` | Dashboard: health of every service |
| `?` | this help |
| `:` or `ctrl+p` | command palette (themes, refresh, screens) |
| `/` | filter rows; `escape` clears |
| `r` | refresh now |
| `p` | pause / resume live refresh |
| `t` | next theme (remembered) |
| `q` | quit |

The header line shows the profile, the connection (and reconnect attempts),
and how long ago the data was refreshed. Data from before a lost connection
stays on screen, greyed, until the connection is back.

**Read-only** (`--read-only`, or `read_only = true` in a profile) disables
every action that changes the server; the header says READ-ONLY.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
