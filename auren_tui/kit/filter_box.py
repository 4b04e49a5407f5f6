"""The `/` filter box every live screen shares.

Hidden until `/` opens it; what is typed is applied once typing pauses
(``DEBOUNCE_SECONDS``: a Tail ring is up to 10,000 records), Enter applies it
at once and gives the keyboard back, Escape clears it, hides it and gives the
keyboard back. The screen only hears ``FilterBox.Applied`` and decides what
matches, with the one grammar of ``core/filtering.py`` (``field=value``,
``field!=value``, else a case-insensitive substring): the tables by its
``row_filter``, the Tail by ``core.kafka.filters.parse_filter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input

DEBOUNCE_SECONDS = 0.15

OPEN_FILTER = Binding("slash", "filter", "Filter")
"""A live screen's `/` (``LiveScreen.action_filter``): listed where its footer shows it."""
CLEAR_FILTER = Binding("escape", "clear_filter", "Clear filter", show=False)
"""A live screen's Escape, also when the box is closed but a filter applies."""


class FilterBox(Input):
    """A hidden ``Input`` (id ``filter``) that posts ``Applied`` with the stripped text."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear", show=False)]

    @dataclass(eq=False)
    class Applied(Message):
        """The filter changed: ``text`` (stripped; empty: no filter)."""

        text: str

    def __init__(self, placeholder: str, *, home: str, value: str = "") -> None:
        """``home``: the selector of the widget that gets the keyboard back when
        nothing else had it before the box opened (the screen's table or log)."""
        super().__init__(value, placeholder=placeholder, id="filter")
        self.home = home
        self.applied = value.strip()
        """The text last applied."""
        self._came_from: Widget | None = None
        self._settle: Timer | None = None

    def on_mount(self) -> None:
        self.display = False

    def open(self) -> None:
        """Show the box and give it the keyboard."""
        focused = self.screen.focused
        if focused is not self:
            self._came_from = focused
        self.display = True
        self.focus()

    def action_clear(self) -> None:
        """Empty the box, apply that at once, hide it, give the keyboard back."""
        self.display = False  # before the value: a hidden box's changes are not typing
        if self.value:
            self.value = ""
        if self.applied or self._settle is not None:
            self._apply("")
        self._give_back()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if not self.display:
            return  # cleared (already applied) or preset: nobody typed it
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(DEBOUNCE_SECONDS, lambda: self._apply(event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply(event.value)
        self._give_back()

    def _apply(self, text: str) -> None:
        if self._settle is not None:
            self._settle.stop()
            self._settle = None
        self.applied = text.strip()
        self.post_message(self.Applied(self.applied))

    def _give_back(self) -> None:
        target = self._came_from
        self._came_from = None
        if target is None or not target.is_attached or not target.focusable:
            target = self.screen.query_one(self.home)
        target.focus()
