"""The Containers screen's table: one row per container, updated in place."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from auren_tui.core.api import ContainerRow
from auren_tui.core.filtering import Fields
from auren_tui.core.format import duration

COLUMNS = ("name", "service", "state", "health", "restarts", "image", "uptime")
HEALTH_STYLE = {"healthy": "green", "unhealthy": "bold red", "starting": "yellow"}
STATE_STYLE = {"running": "green", "restarting": "bold red", "exited": "red", "dead": "red"}


class ContainerTable(DataTable[str | Text]):
    """Rows keyed by container name; ``show`` keeps the selection across refreshes."""

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.clock = clock
        self.names: list[str] = []

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column, key=column)

    @staticmethod
    def filter_fields(row: ContainerRow) -> Fields:
        """What `/` filters on (``kit.row_filter``)."""
        return {
            "name": row.name,
            "service": row.service or "",
            "state": row.state,
            "health": row.health,
            "image": row.image,
        }

    def cells(self, row: ContainerRow) -> list[str | Text]:
        uptime = duration(self.clock() - row.started_at) if row.started_at else "-"
        return [
            row.name,
            row.service or "",
            Text(row.state, style=STATE_STYLE.get(row.state, "")),
            Text(row.health or "-", style=HEALTH_STYLE.get(row.health, "dim")),
            Text(str(row.restarts), style="bold red" if row.restarts else ""),
            row.image,
            uptime,
        ]

    def show(self, rows: Sequence[ContainerRow], selected: str | None) -> str | None:
        """Draw ``rows`` (in place when the same containers); the cursor on ``selected``
        when still there, else the first row. Returns the name under the cursor."""
        names = [r.name for r in rows]
        if names == self.names:
            for row in rows:
                for column, cell in zip(COLUMNS, self.cells(row), strict=True):
                    self.update_cell(row.name, column, cell)
        else:
            self.clear()
            for row in rows:
                self.add_row(*self.cells(row), key=row.name)
            self.names = names
        if not names:
            return None
        at = names.index(selected) if selected in names else 0
        self.move_cursor(row=at)
        return names[at]
