"""First run (no profiles yet): offer the demo and the steps to add a server."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

Choice = Literal["demo", "local"]

STEPS = """To watch a real server:

  auren-tui profile add prod --host HOST --user USER --key-file ~/.ssh/KEY
  auren-tui profile trust prod           # check the SHA256 fingerprint
  auren-tui secret set prod oura         # webhook secrets, in the OS keyring
  auren-tui --profile prod"""


class WelcomeDialog(ModalScreen[Choice]):
    """Dismisses with ``demo`` (start the local demo) or ``local`` (carry on)."""

    DEFAULT_CSS = """
    WelcomeDialog { align: center middle; }
    WelcomeDialog > Vertical {
        width: 84; height: auto; border: thick $accent; background: $surface; padding: 1 2;
    }
    WelcomeDialog #steps { color: $text-muted; margin: 1 0; }
    WelcomeDialog Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    WelcomeDialog Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "choose('demo')", "Demo"),
        Binding("escape", "choose('local')", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Welcome to auren-tui[/b]")
            yield Static(
                "No server is configured yet. The demo starts a local AUREN stack (the "
                "bridge, Kafka, signed webhook traffic) so every screen has live data; "
                "it stops when you quit."
            )
            yield Static(STEPS, id="steps")
            with Horizontal():
                yield Button("Carry on (this machine)", id="local")
                yield Button("Start the demo", id="demo", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#demo", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss("demo" if event.button.id == "demo" else "local")

    def action_choose(self, choice: Choice) -> None:
        self.dismiss(choice)
