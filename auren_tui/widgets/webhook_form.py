"""The Webhooks screen's form: provider, template and negative preset; the body."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Select, Static, TextArea

from auren_tui.core.api import (
    DEFAULT_TEMPLATE,
    PRESETS,
    PROVIDERS,
    TEMPLATES,
    NegativeKind,
    Provider,
)

TITLES: dict[Provider, str] = {"oura": "Oura", "whoop": "WHOOP", "healthkit": "HealthKit"}
SETTLE_SECONDS = 0.15
"""The body is checked and signed again once typing pauses this long."""


def _templates(provider: Provider) -> list[tuple[str, str]]:
    return [(name, name) for name in TEMPLATES[provider]]


class RequestControls(Horizontal):
    """Three selectors; a new provider offers its own templates."""

    @dataclass(eq=False)
    class Changed(Message):
        provider: Provider
        template: str | None
        kind: NegativeKind
        new_body: bool
        """The provider or the template changed: the body should be rendered afresh."""

    def __init__(self, provider: Provider, template: str | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.provider = provider
        self.template = template
        self.kind: NegativeKind = "valid"

    def compose(self) -> ComposeResult:
        providers = [(TITLES[p], p) for p in PROVIDERS]
        yield Select(providers, value=self.provider, allow_blank=False, id="provider")
        yield Select(_templates(self.provider), value=self.template, id="template")
        yield Select([(k, k) for k in PRESETS], value="valid", allow_blank=False, id="negative")

    def select(self, provider: Provider, template: str | None, kind: NegativeKind) -> None:
        """Show these (a loaded request) without announcing a change."""
        self.provider, self.template, self.kind = provider, template, kind
        with self.prevent(Select.Changed):
            self.query_one("#provider", Select).value = provider
            box = self.query_one("#template", Select)
            box.set_options(_templates(provider))
            box.value = template if template in TEMPLATES[provider] else Select.BLANK
            self.query_one("#negative", Select).value = kind

    def _announce(self, new_body: bool) -> None:
        self.post_message(self.Changed(self.provider, self.template, self.kind, new_body))

    @on(Select.Changed, "#provider")
    def _provider(self, event: Select.Changed) -> None:
        event.stop()
        chosen = next((p for p in PROVIDERS if p == event.value), None)
        if chosen is None or chosen == self.provider:
            return
        self.provider, self.template = chosen, DEFAULT_TEMPLATE[chosen]
        with self.prevent(Select.Changed):
            box = self.query_one("#template", Select)
            box.set_options(_templates(chosen))
            box.value = self.template
        self._announce(True)

    @on(Select.Changed, "#template")
    def _template(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self.template:
            self.template = event.value
            self._announce(True)

    @on(Select.Changed, "#negative")
    def _negative(self, event: Select.Changed) -> None:
        event.stop()
        kind = next((k for k in PRESETS if k == event.value), None)
        if kind is not None and kind != self.kind:
            self.kind = kind
            self._announce(False)


class BodyEditor(Vertical):
    """The JSON body and a one-line error under it while it is not valid JSON."""

    class Edited(Message):
        """Typing paused: check and preview again."""

    def __init__(self, text: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._initial = text
        self._settle: Timer | None = None

    def compose(self) -> ComposeResult:
        yield TextArea(self._initial, language="json", id="body")
        yield Static("", id="body-error")
        yield Static(Text("e edits the body", style="dim"), id="body-mode")

    def on_descendant_focus(self) -> None:
        # Say so while the editor has the keyboard: the screen's keys are typed.
        self.query_one("#body-mode", Static).update(
            Text("editing the body: escape gives the keys back", style="italic")
        )

    def on_descendant_blur(self) -> None:
        self.query_one("#body-mode", Static).update(Text("e edits the body", style="dim"))

    @property
    def text(self) -> str:
        return self.query_one(TextArea).text

    def load(self, text: str) -> None:
        self.query_one(TextArea).load_text(text)

    def check(self) -> bool:
        """Whether the body is JSON; the error line says why not."""
        error = self.query_one("#body-error", Static)
        try:
            json.loads(self.text)
        except ValueError as exc:
            error.update(Text(f"not valid JSON: {exc}", style="bold"))
            return False
        error.update("")
        return True

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(SETTLE_SECONDS, lambda: self.post_message(self.Edited()))
