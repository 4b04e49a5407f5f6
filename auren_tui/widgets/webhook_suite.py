"""The negative suite: one row per preset, expected answer, what came back."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from auren_tui.core.api import PRESETS, SUITE_ORDER, CheckResult


def got(result: CheckResult) -> str:
    r = result.response
    return r.answer if r.error else f"{r.answer} in {r.latency_ms:.0f} ms"


class SuiteTable(DataTable[Text]):
    """Rows keyed by preset kind; green when as expected, red otherwise."""

    def on_mount(self) -> None:
        self.cursor_type = "none"  # a cursor row would hide its green or red
        self.add_column("check", key="check", width=16)
        self.add_column("sends", key="title", width=50)
        self.add_column("expected", key="expected", width=14)
        self.add_column("got", key="got", width=40)
        for kind in SUITE_ORDER:
            preset = PRESETS[kind]
            self.add_row(Text(kind), Text(preset.title), Text(preset.expected), Text("-"), key=kind)

    def running(self) -> None:
        for kind in SUITE_ORDER:
            self._paint(kind, "running…", "")

    def show(self, results: list[CheckResult]) -> None:
        for result in results:
            self._paint(result.preset.kind, got(result), "good" if result.ok else "bad")

    def failed(self, line: str) -> None:
        for kind in SUITE_ORDER:
            self._paint(kind, line, "bad")

    def outcome(self, kind: str) -> str:
        """``good``, ``bad`` or ``""`` for a row (tests)."""
        return self._outcomes.get(kind, "")

    _outcomes: dict[str, str]

    def _paint(self, kind: str, answer: str, outcome: str) -> None:
        if not hasattr(self, "_outcomes"):
            self._outcomes = {}
        self._outcomes[kind] = outcome
        style = {"good": "bold green", "bad": "bold red"}.get(outcome, "")
        preset = PRESETS[kind]  # type: ignore[index]
        cells = (kind, preset.title, preset.expected, answer)
        for column, value in zip(("check", "title", "expected", "got"), cells, strict=True):
            self.update_cell(kind, column, Text(value, style=style))
