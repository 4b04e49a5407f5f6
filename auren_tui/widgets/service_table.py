"""The dashboard's service table: one row per service, faults first."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from auren_tui.core.filtering import Fields, RowMatcher, row_filter
from auren_tui.core.format import duration, millis, size, sparkline
from auren_tui.core.model import ServiceStatus, Snapshot, sorted_services

HEALTH_STYLE = {
    "healthy": "bold $success",
    "degraded": "bold $warning",
    "unhealthy": "bold $error",
    "unknown": "$text-muted",
}
COLUMNS = (
    "Service",
    "Health",
    "Container",
    "Up",
    "Restarts",
    "Check",
    "Latency",
    "Trend",
    "CPU",
    "Mem",
    "Details",
)


class ServiceTable(DataTable[Text]):
    """Rows are keyed by service name; the table keeps a latency history per service."""

    DEFAULT_CSS = """
    ServiceTable { height: auto; max-height: 100%; }
    ServiceTable.stale { opacity: 60%; }
    """

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.matcher: RowMatcher | None = None
        self._history: dict[str, deque[float | None]] = defaultdict(lambda: deque(maxlen=24))
        self._last: Snapshot | None = None
        self._live = True

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name.lower())

    def show(self, snapshot: Snapshot, *, live: bool = True, remember: bool = True) -> None:
        """Render a fresh snapshot (and remember each service's latency), or with
        ``live=False`` a recorded one: its uptimes as they were then, and the
        latency history left to the live refreshes."""
        if live and remember:
            self.remember(snapshot)
        self._last, self._live = snapshot, live
        self._refill()

    def remember(self, snapshot: Snapshot) -> None:
        """Add a live refresh's latencies to the history (shown or not)."""
        for s in snapshot.services:
            self._history[s.name].append(s.check.latency_ms if s.check else None)

    def set_filter(self, text: str) -> None:
        """Show only the services ``text`` matches (``kit.row_filter``) on the
        fields ``filter_fields`` names."""
        self.matcher = row_filter(text)
        self._refill()

    @staticmethod
    def filter_fields(s: ServiceStatus) -> Fields:
        return {
            "name": s.name,
            "title": s.title,
            "health": s.health,
            "state": s.container.state if s.container else "",
        }

    def _refill(self) -> None:
        if self._last is None:
            return
        cursor_key = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            cursor_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        self.clear()
        now = self.clock() if self._live else self._last.taken_at
        # Generating the theme's variables takes milliseconds: once per refill, not per cell.
        colours = self.app.get_css_variables()
        for s in sorted_services(self._last):
            if self.matcher is None or self.matcher(self.filter_fields(s)):
                self.add_row(*self._cells(s, now, colours), key=s.name)
        if cursor_key is not None and cursor_key in {k.value for k in self.rows}:
            self.move_cursor(row=self.get_row_index(cursor_key))

    def _cells(self, s: ServiceStatus, now: float, colours: Mapping[str, str]) -> list[Text]:
        health = Text(s.health.upper(), style=_style(s.health, colours))
        c = s.container
        container = Text(c.state if c else "-", style=_state_style(c.state if c else None, colours))
        if c and c.health:
            container.append(f" ({c.health})", style="dim")
        up = duration(now - c.started_at) if c and c.started_at and c.state == "running" else "-"
        restarts = Text(str(c.restart_count) if c else "-")
        if c and c.restart_count:
            restarts.stylize(_resolve("$warning", colours))
        check = Text(s.check.detail if s.check else "-")
        if s.check and not s.check.ok:
            check.stylize(_resolve("$error", colours))
        latency = millis(s.check.latency_ms if s.check else None)
        trend = sparkline(list(self._history[s.name]))
        cpu = f"{c.cpu_percent:.1f}%" if c and c.cpu_percent is not None else "-"
        mem = size(c.mem_bytes) if c else "-"
        details = ", ".join(f"{k}={v}" for k, v in s.components.items())
        return [
            Text(s.title, style="bold"),
            health,
            container,
            Text(up),
            restarts,
            check,
            Text(latency),
            Text(trend, style=_resolve("$accent", colours)),
            Text(cpu),
            Text(mem),
            Text(details, overflow="ellipsis"),
        ]


def _resolve(token: str, colours: Mapping[str, str]) -> str:
    """Theme variable (``$error``) → a concrete colour for Rich text."""
    bold = token.startswith("bold ")
    name = token.removeprefix("bold ").removeprefix("$")
    value = colours.get(name, "")
    return f"bold {value}" if bold and value else value


def _style(health: str, colours: Mapping[str, str]) -> str:
    return _resolve(HEALTH_STYLE.get(health, ""), colours)


def _state_style(state: str | None, colours: Mapping[str, str]) -> str:
    if state == "running":
        return _resolve("$success", colours)
    if state in (None, "missing"):
        return _resolve("$error", colours)
    return _resolve("$warning", colours)
