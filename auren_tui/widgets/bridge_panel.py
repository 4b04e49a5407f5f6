"""The bridge panel: webhook rates, p50 and p95, active tasks, outbox backlog, circuit."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from auren_tui.core.model import BridgeFigures

CIRCUIT_STYLE = {"closed": "$success", "half_open": "$warning", "open": "$error"}


class BridgePanel(Static):
    DEFAULT_CSS = """
    BridgePanel { height: auto; border: round $primary; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("bridge: waiting for the first refresh", **kwargs)  # type: ignore[arg-type]
        self.border_title = "Bridge"

    def show(self, figures: BridgeFigures | None) -> None:
        if figures is None:
            self.update("bridge: no bridge in this profile's catalog")
            return
        self.border_subtitle = f"from {figures.source}"
        if figures.error and not figures.rate_by_source_status:
            self.update(Text(f"bridge figures unavailable: {figures.error}", style="dim"))
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="left")
        grid.add_column(justify="left")
        rates = Table.grid(padding=(0, 1))
        rates.add_column()
        rates.add_column(justify="right")
        for key in sorted(figures.rate_by_source_status):
            rate = figures.rate_by_source_status[key]
            rates.add_row(key, f"{rate:.2f}/s")
        if not figures.rate_by_source_status:
            rates.add_row("webhooks", "0/s")
        circuit = figures.circuit_state or "-"
        colour = self.app.get_css_variables().get(CIRCUIT_STYLE.get(circuit, "")[1:], "")
        facts = Table.grid(padding=(0, 1))
        facts.add_column()
        facts.add_column(justify="right")
        p95 = f"{figures.p95_seconds * 1000:.1f} ms" if figures.p95_seconds is not None else "-"
        if figures.p50_seconds is not None:
            facts.add_row("p50 / p95 processing", f"{figures.p50_seconds * 1000:.1f} / {p95}")
        else:
            facts.add_row("p95 processing", p95)
        facts.add_row("active tasks", _num(figures.active_tasks))
        facts.add_row("outbox backlog", _num(figures.outbox_backlog))
        facts.add_row("circuit", Text(circuit, style=f"bold {colour}" if colour else "bold"))
        grid.add_row(rates, facts)
        self.update(grid)


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"
