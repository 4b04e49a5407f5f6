"""Unknown host key: show the SHA256 fingerprint, let the operator decide."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class TrustHostDialog(ModalScreen[bool]):
    """Dismisses with True to trust the key (written to known_hosts), False to refuse."""

    DEFAULT_CSS = """
    TrustHostDialog { align: center middle; }
    TrustHostDialog > Vertical {
        width: 76; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    TrustHostDialog #fingerprint { color: $accent; text-style: bold; margin: 1 0; }
    TrustHostDialog Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    TrustHostDialog Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "refuse", "Refuse"),
        Binding("n", "refuse", "Refuse", show=False),
    ]

    def __init__(
        self,
        host: str,
        port: int,
        key_type: str,
        fingerprint: str,
        known_hosts: str,
        role: str = "",
    ) -> None:
        super().__init__()
        self.host, self.port, self.role = host, port, role
        self.key_type, self.fingerprint = key_type, fingerprint
        self.known_hosts = known_hosts

    def compose(self) -> ComposeResult:
        with Vertical():
            # role: "" for the server, "jump host NAME" for a hop on the way to it.
            whose = f"the {self.role}" if self.role else "the server"
            yield Label(f"[b]Unknown host key[/b] of {whose}: {self.host}:{self.port}", id="whose")
            yield Static(
                f"The key of {whose} is not in your known_hosts. Compare the fingerprint "
                "with the one your administrator published before trusting it."
            )
            yield Static(f"{self.key_type}  {self.fingerprint}", id="fingerprint")
            yield Static(f"Trusting adds it to {self.known_hosts}.", classes="dim")
            with Horizontal():
                yield Button("Refuse", id="refuse", variant="default")
                yield Button("Trust this key", id="trust", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()  # the safe choice has the focus

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "trust")

    def action_refuse(self) -> None:
        self.dismiss(False)
