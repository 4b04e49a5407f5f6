"""Break a restore lock: who holds it, and the container's name typed back to confirm.

A lock is only ever broken by hand: it names a restore that may still be
running somewhere (another operator, another machine). Every Docker call
runs in a thread worker; the outcome is audited by the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from auren_tui.core.api import Containers
from auren_tui.core.format import one_line


@dataclass(eq=False)
class HolderRead(Message):
    holder: str | None
    error: str = ""


@dataclass(eq=False)
class LockBroken(Message):
    holder: str | None
    error: str = ""


class BreakLockDialog(ModalScreen[bool]):
    """Dismisses with True when a lock was broken."""

    DEFAULT_CSS = """
    BreakLockDialog { align: center middle; }
    BreakLockDialog > Vertical {
        width: 76; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    BreakLockDialog Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    BreakLockDialog Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, containers: Containers, service: str, container: str, read_only: bool):
        super().__init__()
        self.containers = containers
        self.service, self.container, self.read_only = service, container, read_only
        self.holder: str | None = None
        self.broken = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Break the restore lock of {self.container}[/b]")
            yield Static("", id="lock-text")
            yield Input(placeholder=f"type {self.container} to enable Break", id="lock-confirm")
            with Horizontal():
                yield Button("Close", id="close")
                yield Button("Break lock", id="break", variant="error", disabled=True)

    def on_mount(self) -> None:
        box = self.query_one("#lock-confirm", Input)
        box.disabled = True
        self.query_one("#close", Button).focus()
        if self.read_only:
            self._text(Text("read-only: breaking a lock changes the server; refused.", "bold"))
            box.display = False
            self.query_one("#break", Button).display = False
            return
        self._text(Text(f"reading the lock of {self.container}…", style="italic"))
        self._read()

    def _text(self, text: Text) -> None:
        self.query_one("#lock-text", Static).update(text)

    @work(thread=True, exclusive=True, group="lock-read", exit_on_error=False)
    def _read(self) -> None:
        try:
            self.post_message(HolderRead(self.containers.lock_holder(self.service)))
        except Exception as exc:
            self.post_message(HolderRead(None, one_line(exc)))

    @on(HolderRead)
    def _holder_read(self, message: HolderRead) -> None:
        if message.error:
            self._text(Text(message.error, style="bold red"))
            return
        if message.holder is None:
            self._text(Text(f"{self.container} has no restore lock: nothing to break."))
            return
        self.holder = message.holder
        text = Text("held by ")
        text.append(message.holder, style="bold")
        text.append(
            "\n\nBreak it only if that restore is not running any more: two restores "
            "at the same time can leave the service stopped."
        )
        self._text(text)
        box = self.query_one("#lock-confirm", Input)
        box.disabled = False
        box.focus()

    @on(Input.Changed, "#lock-confirm")
    def _typed(self, event: Input.Changed) -> None:
        ready = self.holder is not None and not self.broken
        self.query_one("#break", Button).disabled = not (ready and event.value == self.container)

    @on(Input.Submitted, "#lock-confirm")
    def _submitted(self) -> None:
        if not self.query_one("#break", Button).disabled:
            self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "close":
            self.action_close()
        elif event.button.id == "break":
            self._start()

    def _start(self) -> None:
        if self.read_only or self.broken:
            return
        self.query_one("#break", Button).disabled = True
        self.query_one("#lock-confirm", Input).disabled = True
        self._break()

    @work(thread=True, exclusive=True, group="lock-break", exit_on_error=False)
    def _break(self) -> None:
        try:
            self.post_message(LockBroken(self.containers.break_lock(self.service)))
        except Exception as exc:
            self.post_message(LockBroken(None, one_line(exc)))

    @on(LockBroken)
    def _done(self, message: LockBroken) -> None:
        if message.error:
            self._text(Text(f"not broken: {message.error}", style="bold red"))
        elif message.holder is None:
            self._text(Text("the lock was released meanwhile: nothing broken"))
        else:
            self.broken = True
            self._text(Text(f"broke the lock held by {message.holder}", style="bold green"))
        self.query_one("#close", Button).focus()

    def action_close(self) -> None:
        self.dismiss(self.broken)
