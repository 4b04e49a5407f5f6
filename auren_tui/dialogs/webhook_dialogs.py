"""Dialogs of the Webhooks screen: confirm a load test, name a request, pick one."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; height: auto; border: round $warning; background: $surface; padding: 0 1;
}}
{name} Horizontal {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 1; }}
{name} OptionList {{ height: auto; max-height: 16; }}
"""


class ConfirmLoad(ModalScreen[bool]):
    """A load test writes N real events to the live bridge: say so, ask first."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmLoad")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, requests: int, provider: str, target: str, profile: str) -> None:
        super().__init__()
        self.text = (
            f"Send {requests:,} signed {provider} webhooks to the bridge at {target} "
            f"(profile {profile})?\n\nEach is a genuine event: the bridge stores "
            f"{requests:,} events and writes them to Kafka."
        )

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.text, id="confirm-text")
            with Horizontal():
                yield Button("Send them", variant="warning", id="yes")
                yield Button("Cancel", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_cancel(self) -> None:
        self.dismiss(False)


class NameRequest(ModalScreen[str | None]):
    """The name to save the form under (a file name in the config dir)."""

    # Opened to type a name: the box takes the keyboard (the app auto-focuses nothing).
    AUTO_FOCUS = "#name"

    DEFAULT_CSS = DIALOG_CSS.format(name="NameRequest")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, suggested: str = "") -> None:
        super().__init__()
        self.suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save the request as (letters, digits, - and _):")
            yield Input(self.suggested, id="name")
            with Horizontal():
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        name = self.query_one(Input).value.strip()
        self.dismiss(name or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PickRequest(ModalScreen[str | None]):
    """One of the saved requests (``saved.names()``), listed by the screen."""

    AUTO_FOCUS = "#saved, #cancel"

    DEFAULT_CSS = DIALOG_CSS.format(name="PickRequest")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, names: list[str], where: str) -> None:
        super().__init__()
        self.names = names
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.names:
                yield Label(f"Saved requests in {self.where}:")
                yield OptionList(*self.names, id="saved")
            else:
                yield Label(f"No saved requests in {self.where} yet: ctrl+b saves the form.")
            with Horizontal():
                yield Button("Cancel", id="cancel")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.names[event.option_index])

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
